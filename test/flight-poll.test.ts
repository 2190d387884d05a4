/**
 * PollFlightInfo against the real standalone. A poll whose cut lands inside a chunked message
 * (made deterministic by polling at the moment its second chunk was the partition's last
 * entry: the admin API's last message id is capped there, the entries are the producer's)
 * steps back before the message, and the next poll reads it whole, once. Through a gateway, a
 * grpc-js client calls PollFlightInfo itself: a serialized command gets a serialized next
 * descriptor, progress is unset while following, and a bounded read completes with a
 * PollInfo without descriptor. (pyarrow polls, under load and unloads, in
 * clients/python/tests/test_flight_poll.py.)
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { apiType } from '../server/api.ts';
import { rangeRequest } from '../server/core/flight-plan.ts';
import { type PollAdmin, pollFlight } from '../server/core/flight-poll.ts';
import { defaultBatchLimits, type ReadRequest } from '../server/core/request.ts';
import { readStream, type StreamDeps } from '../server/core/stream.ts';
import { decodeTicket, encodeTicket } from '../server/core/ticket.ts';
import { flightMissing, loadFlightDefinition } from '../server/flight/service.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import { MessageId } from '../server/pulsar/message-id.ts';
import { startGateway } from './support/gateway.ts';
import {
  ensurePulsar,
  freshTopic,
  type OfficialMessageId,
  produce,
  pulsar,
  readOfficial,
} from './support/pulsar.ts';

const client = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
const admin = new PulsarAdmin({ webServiceUrl: pulsar.webUrl });

test.before(ensurePulsar);
test.after.always(() => client.close());

const signal = () => AbortSignal.timeout(60_000);
const idOf = (id: OfficialMessageId) =>
  MessageId.deserialize(Buffer.from(id.serialized_b64, 'base64'));

/** Every range of a poll read through its ticket, in order: message id (base64) and value size. */
async function readPoll(
  deps: StreamDeps<PulsarClient, PollAdmin>,
  poll: Awaited<ReturnType<typeof pollFlight>>,
) {
  const out: { id: string; bytes: number }[] = [];
  for (const endpoint of poll.plan.endpoints) {
    const range = decodeTicket(encodeTicket(endpoint.range));
    for await (const event of readStream(deps, rangeRequest(range), signal())) {
      if (event.kind !== 'batch') continue;
      const ids = event.batch.getChild('__messageId');
      const values = event.batch.getChild('value');
      for (let i = 0; i < event.batch.numRows; i++) {
        out.push({
          id: Buffer.from(ids?.get(i)).toString('base64'),
          bytes: (values?.get(i) as Uint8Array | undefined)?.length ?? -1,
        });
      }
    }
  }
  return out;
}

test('a cut inside a chunked message steps back before it; the next poll reads it whole, once', async (t) => {
  const topic = freshTopic('poll-chunk-cut');
  const big = 2_500_000; // three chunks of the standalone's 1 MiB limit
  const ids = await produce(topic, {
    chunking: true,
    messages: [
      { value_text: 'before' },
      { value_b64: Buffer.alloc(big, 7).toString('base64') },
      { value_text: 'after' },
    ],
  });
  const chunked = ids[1] as OfficialMessageId;
  // The message's id is its last chunk's: its second chunk is the entry before.
  const secondChunk = new MessageId(chunked.ledger, chunked.entry - 1);
  t.deepEqual(await admin.entryChunk(topic, secondChunk.ledgerId, secondChunk.entryId), {
    uuid: (await admin.entryChunk(topic, chunked.ledger, chunked.entry))?.uuid ?? '',
    chunkId: 1,
    chunks: 3,
  });
  // Polled while the second chunk was the last entry written.
  const midway: PollAdmin = Object.assign(Object.create(admin) as PulsarAdmin, {
    lastMessageId: async () => secondChunk,
  });
  const request: ReadRequest = {
    topic,
    start: { kind: 'earliest' },
    end: { kind: 'follow' },
    columns: [],
    batching: defaultBatchLimits,
  };
  const first = await pollFlight({ client, admin: midway }, request, signal());
  const [cut] = first.cuts;
  // Before the first chunk: the entry of "before".
  t.is(cut?.cut.toString(), idOf(ids[0] as OfficialMessageId).entry.toString());
  t.false(cut?.done);
  const next = first.next?.get(-1);
  t.is(next?.kind, 'after');
  const second = await pollFlight(
    { client, admin },
    { ...request, start: { kind: 'positions', positions: first.next ?? new Map() } },
    signal(),
  );
  const read = [
    ...(await readPoll({ client, admin: midway }, first)),
    ...(await readPoll({ client, admin }, second)),
  ];
  const official = await readOfficial(topic);
  t.deepEqual(
    read.map((r) => r.id),
    official.map((m) => m.message_id.serialized_b64),
  );
  t.deepEqual(
    read.map((r) => r.bytes),
    [6, big, 5],
  );
});

test('the next poll starts after the whole batch the cut ended with: none of it twice', async (t) => {
  const topic = freshTopic('poll-batches');
  const request: ReadRequest = {
    topic,
    start: { kind: 'earliest' },
    end: { kind: 'follow' },
    columns: [],
    batching: defaultBatchLimits,
  };
  const deps = { client, admin };
  await produce(topic, { count: 50, batchMaxMessages: 10 });
  const first = await pollFlight(deps, request, signal());
  // The cut is an entry without batch index: the whole last batch.
  t.is(first.cuts[0]?.cut.batchIndex, -1);
  await produce(topic, { count: 15, batchMaxMessages: 10 });
  const second = await pollFlight(
    deps,
    { ...request, start: { kind: 'positions', positions: first.next ?? new Map() } },
    signal(),
  );
  const read = [...(await readPoll(deps, first)), ...(await readPoll(deps, second))];
  t.deepEqual(
    read.map((r) => r.id),
    (await readOfficial(topic)).map((m) => m.message_id.serialized_b64),
  );
});

// Setup extracts Flight.proto (with Maven); without it these tests fail, saying so.
const flightDefinition = loadFlightDefinition();
if (!flightDefinition) throw new Error(flightMissing);
const FlightService = (
  grpc.loadPackageDefinition(flightDefinition) as unknown as {
    arrow: { flight: { protocol: { FlightService: grpc.ServiceClientConstructor } } };
  }
).arrow.flight.protocol.FlightService;

interface Descriptor {
  type: 'CMD' | 'PATH';
  cmd?: Buffer;
  path?: string[];
}
interface PollInfo {
  /** Unset when empty (the loader's options fill no defaults). */
  info: { endpoint?: { ticket: { ticket: Buffer } }[] };
  flight_descriptor?: Descriptor | null;
  progress?: number;
  expiration_time?: unknown;
}
type FlightClient = grpc.Client & {
  PollFlightInfo(
    descriptor: Descriptor,
    callback: (error: grpc.ServiceError | null, info?: PollInfo) => void,
  ): void;
};

const ReadStreamRequest = apiType('ReadStreamRequest');

test('PollFlightInfo: a serialized command continues serialized, until a bounded read is complete', async (t) => {
  const topic = freshTopic('poll-grpc');
  await produce(topic, { count: 40, batchMaxMessages: 10 });
  const gateway = await startGateway();
  const flight = new FlightService(
    `127.0.0.1:${gateway.gateway.port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as FlightClient;
  const poll = (descriptor: Descriptor) =>
    new Promise<PollInfo>((resolve, reject) =>
      flight.PollFlightInfo(descriptor, (error, info) =>
        error || !info ? reject(error) : resolve(info),
      ),
    );
  const command = (request: object) =>
    Buffer.from(ReadStreamRequest.encode(ReadStreamRequest.fromObject(request)).finish());
  try {
    // Following: no progress, always a next descriptor, serialized (not JSON) as it came.
    const following = await poll({ type: 'CMD', cmd: command({ topic, follow: {} }) });
    t.is(following.progress, undefined);
    t.falsy(following.expiration_time);
    t.true((following.info.endpoint ?? []).length > 0);
    const next = following.flight_descriptor;
    t.is(next?.type, 'CMD');
    t.not(next?.cmd?.[0], 0x7b);
    const decoded = ReadStreamRequest.toObject(
      ReadStreamRequest.decode(next?.cmd ?? Buffer.alloc(0)),
      {
        oneofs: true,
      },
    );
    t.is(decoded.start, 'start_positions');
    t.is(decoded.end, 'follow');
    // Nothing new: the same descriptor again, and no endpoint.
    const idle = await poll(next as Descriptor);
    t.is((idle.info.endpoint ?? []).length, 0);
    t.deepEqual(idle.flight_descriptor?.cmd, next?.cmd);

    // Bounded with an end in the past: complete at the first poll, no descriptor, progress 1.
    const past = await poll({
      type: 'CMD',
      cmd: Buffer.from(
        JSON.stringify({ topic, endPublishTime: new Date(Date.now() - 1).toISOString() }),
      ),
    });
    t.falsy(past.flight_descriptor);
    t.is(past.progress, 1);
    t.true((past.info.endpoint ?? []).length > 0);
    // A bounded end not written yet: a descriptor (with the end pinned), progress 0 of 1.
    const [last] = await produce(topic, { count: 1 });
    const ahead = idOf(last as OfficialMessageId);
    const later = new MessageId(ahead.ledgerId, ahead.entryId + 5);
    const pending = await poll({
      type: 'CMD',
      cmd: Buffer.from(
        JSON.stringify({
          topic,
          endPositions: {
            ends: [{ partition: -1, lastMessageId: later.serialize().toString('base64') }],
          },
        }),
      ),
    });
    t.is(pending.progress, 0);
    const text = pending.flight_descriptor?.cmd?.toString('utf8') ?? '';
    t.regex(text, /"startPositions"/);
    t.regex(text, /"endPositions"/);
  } finally {
    flight.close();
    await gateway.close();
  }
});
