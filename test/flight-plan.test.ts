/**
 * Flight's endpoints against the real standalone: a topic of several ledgers (unloads roll
 * them) gives one endpoint per ledger, and reading every endpoint's range through the
 * stream, one after the other, is ReadStream earliest → at_open row for row (and the
 * official reader's); a publish-time window keeps only the ledgers it overlaps; `follow`
 * adds a tail range per partition; a ticket's ledger is checked at DoGet; no subscription
 * outlives planning.
 */
import test from 'ava';
import type { SeamError } from '../server/core/errors.ts';
import {
  checkRange,
  type FlightPlan,
  planFlight,
  rangeRequest,
} from '../server/core/flight-plan.ts';
import {
  defaultBatchLimits,
  type End,
  type ReadRequest,
  type Start,
} from '../server/core/request.ts';
import { readStream, type StreamDeps } from '../server/core/stream.ts';
import { decodeTicket, encodeTicket } from '../server/core/ticket.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import { MessageId } from '../server/pulsar/message-id.ts';
import {
  adminGet,
  adminPut,
  ensurePulsar,
  freshTopic,
  type OfficialMessage,
  produce,
  pulsar,
  readOfficial,
  topicPath,
} from './support/pulsar.ts';

const client = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
const admin = new PulsarAdmin({ webServiceUrl: pulsar.webUrl });
const deps: StreamDeps = { client, admin };

test.before(ensurePulsar);
test.after.always(() => client.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const signal = () => AbortSignal.timeout(60_000);

const request = (topic: string, start: Start, end: End): ReadRequest => ({
  topic,
  start,
  end,
  columns: [],
  batching: { ...defaultBatchLimits, maxRows: 37 },
});

/** Row ids (`topic|message id base64`) a read yields, in order; it must end by itself. */
async function rows(read: ReadRequest): Promise<string[]> {
  const out: string[] = [];
  for await (const event of readStream(deps, read, signal())) {
    if (event.kind !== 'batch') continue;
    const ids = event.batch.getChild('__messageId');
    const topics = event.batch.getChild('__topic');
    for (let i = 0; i < event.batch.numRows; i++) {
      out.push(`${topics?.get(i)}|${Buffer.from(ids?.get(i)).toString('base64')}`);
    }
  }
  return out;
}

const rowOf = (m: OfficialMessage) => `${m.topic}|${m.message_id.serialized_b64}`;

/** Every endpoint read through its ticket (encoded, decoded, checked), one after the other. */
async function readEndpoints(plan: FlightPlan): Promise<string[]> {
  const out: string[] = [];
  for (const endpoint of plan.endpoints) {
    const range = decodeTicket(encodeTicket(endpoint.range));
    await checkRange(deps, range, signal());
    out.push(...(await rows(rangeRequest(range))));
  }
  return out;
}

/** A topic written in `rounds` rounds, unloaded after each: one ledger per round. */
async function ledgered(label: string, rounds: number, pauseMs = 0) {
  const topic = freshTopic(label);
  const written: string[][] = [];
  for (let round = 0; round < rounds; round++) {
    const ids = await produce(topic, { count: 60, size: 20, batchMaxMessages: 10 });
    written.push(ids.map((id) => `${topic}|${id.serialized_b64}`));
    await adminPut(`${topicPath(topic)}/unload`);
    await sleep(pauseMs);
  }
  return { topic, written };
}

/** The topic's (partition's) subscriptions, by name. */
async function subscriptions(topic: string): Promise<string[]> {
  const stats = await adminGet<{ subscriptions: Record<string, unknown> }>(
    `${topicPath(topic)}/stats`,
  );
  return Object.keys(stats.subscriptions);
}

test('one endpoint per ledger; the ranges read one after the other are ReadStream, row for row', async (t) => {
  const { topic, written } = await ledgered('fp-ledgers', 6);
  const ledgers = (await admin.ledgers(topic)).filter((l) => l.entries > 0);
  t.true(ledgers.length >= 5, `${ledgers.length} ledgers with entries`);
  const plan = await planFlight(
    deps,
    request(topic, { kind: 'earliest' }, { kind: 'atOpen' }),
    signal(),
  );
  t.deepEqual(
    plan.endpoints.map((e) => e.info.ledgerId),
    ledgers.map((l) => l.ledgerId),
  );
  t.true(plan.endpoints.every((e) => e.info.storedBytes > 0 && e.range.partition === -1));
  t.is(plan.storedBytes, plan.info.estimatedHistoryBytes);
  t.deepEqual(await subscriptions(topic), [], 'planning leaves no subscription behind');

  const whole = await rows(request(topic, { kind: 'earliest' }, { kind: 'atOpen' }));
  t.deepEqual(whole, written.flat());
  t.deepEqual((await readOfficial(topic)).map(rowOf), whole);
  t.deepEqual(await readEndpoints(plan), whole);
});

test('from a position inside a batch to an end inside a batch: the ranges are the same slice', async (t) => {
  const { topic, written } = await ledgered('fp-slice', 5);
  const official = await readOfficial(topic);
  // A message inside a batch in round 1, another in round 3.
  const inBatch = (after: number) =>
    official.findIndex((m, i) => i > after && m.message_id.batch_index > 0);
  const [first, last] = [inBatch(65), inBatch(185)];
  const from = official[first] as OfficialMessage;
  const to = official[last] as OfficialMessage;
  t.true(last < 240);
  const read = request(
    topic,
    {
      kind: 'messageId',
      id: MessageId.deserialize(Buffer.from(from.message_id.serialized_b64, 'base64')),
    },
    {
      kind: 'positions',
      last: new Map([
        [-1, MessageId.deserialize(Buffer.from(to.message_id.serialized_b64, 'base64'))],
      ]),
    },
  );
  const plan = await planFlight(deps, read, signal());
  t.is(plan.endpoints.length, 3);
  const expected = written.flat().slice(first, last + 1);
  t.deepEqual(await rows(read), expected);
  t.deepEqual(await readEndpoints(plan), expected);
});

test('a publish-time window keeps only the ledgers it overlaps', async (t) => {
  const { topic, written } = await ledgered('fp-window', 6, 300);
  const official = await readOfficial(topic);
  const ledgerOf = (m: OfficialMessage) => m.message_id.ledger;
  // From the middle of round 1 into round 3. The end is just past round 3's first publish
  // time: batches share their publish time, and a producer can stamp a whole round within
  // one millisecond, so an end taken from a later message may exclude all of round 3.
  const startMs = (official[90] as OfficialMessage).publish_time;
  const endMs = (official[180] as OfficialMessage).publish_time + 1;
  const inWindow = official.filter((m) => m.publish_time >= startMs && m.publish_time < endMs);
  const read = request(
    topic,
    { kind: 'publishTime', ms: startMs },
    { kind: 'publishTime', ms: endMs },
  );
  const plan = await planFlight(deps, read, signal());
  t.deepEqual(
    plan.endpoints.map((e) => e.info.ledgerId),
    [...new Set(inWindow.map(ledgerOf))],
  );
  t.is(plan.endpoints.length, 3);
  t.true(plan.endpoints.every((e) => e.range.endPublishTimeMs === endMs));
  const expected = inWindow.map(rowOf);
  t.deepEqual(await rows(read), expected);
  t.deepEqual(await readEndpoints(plan), expected);
  t.true(expected.length > 0 && expected.length < written.flat().length);
});

test('follow: history ranges per partition in order, then one tail range per partition', async (t) => {
  const topic = freshTopic('fp-follow');
  await adminPut(`${topicPath(topic)}/partitions`, 2);
  await produce(topic, { count: 200, keys: 10, size: 20, batchMaxMessages: 10 });
  for (let p = 0; p < 2; p++) await adminPut(`${topicPath(`${topic}-partition-${p}`)}/unload`);
  await produce(topic, { count: 200, keys: 10, size: 20, batchMaxMessages: 10 });
  const plan = await planFlight(
    deps,
    request(topic, { kind: 'earliest' }, { kind: 'follow' }),
    signal(),
  );
  const shape = plan.endpoints.map((e) => [
    e.range.partition,
    e.range.ledgerId === undefined ? 'tail' : 'ledger',
  ]);
  t.deepEqual(shape, [
    [0, 'ledger'],
    [0, 'ledger'],
    [0, 'tail'],
    [1, 'ledger'],
    [1, 'ledger'],
    [1, 'tail'],
  ]);
  for (const [p, info] of plan.info.partitions.entries()) {
    const tail = plan.endpoints.filter((e) => e.range.partition === p).at(-1)?.range;
    t.like(tail, { start: { kind: 'after', id: info.boundary }, lastMessageId: undefined });
    t.deepEqual(await subscriptions(`${topic}-partition-${p}`), []);
  }
  // The history ranges read as ReadStream's history, partition by partition.
  const history = (
    await readEndpoints({
      ...plan,
      endpoints: plan.endpoints.filter((e) => e.range.ledgerId !== undefined),
    })
  ).sort();
  const whole = (await rows(request(topic, { kind: 'earliest' }, { kind: 'atOpen' }))).sort();
  t.is(history.length, 400);
  t.deepEqual(history, whole);
});

test("DoGet's check: another topic's ticket is INVALID_ARGUMENT, a deleted ledger's DATA_LOSS", async (t) => {
  const other = freshTopic('fp-other');
  await produce(other, { count: 20, batching: false });
  const { topic } = await ledgered('fp-check', 2);
  await adminPut(`${topicPath(other)}/unload`);
  await produce(other, { count: 20, batching: false });
  const plan = await planFlight(
    deps,
    request(topic, { kind: 'earliest' }, { kind: 'atOpen' }),
    signal(),
  );
  const range = plan.endpoints[0]?.range;
  if (!range) throw new Error('no endpoint');
  await checkRange(deps, range, signal());

  const foreign = await t.throwsAsync<SeamError>(
    checkRange(deps, { ...range, topic: other }, signal()),
  );
  t.is(foreign?.code, 'INVALID_ARGUMENT');
  t.regex(foreign?.message ?? '', /a ticket of another topic/);

  const response = await fetch(`${pulsar.webUrl}/admin/v2/${topicPath(topic)}/truncate`, {
    method: 'DELETE',
  });
  t.is(response.status, 204);
  const lost = await t.throwsAsync<SeamError>(checkRange(deps, range, signal()));
  t.is(lost?.code, 'DATA_LOSS');
  // And the stream itself refuses the range before any row.
  const read = await t.throwsAsync<SeamError>(rows(rangeRequest(range)));
  t.is(read?.code, 'DATA_LOSS');
});

test("a ticket's range reads with the schema version GetFlightInfo announced", async (t) => {
  const topic = freshTopic('fp-schema');
  const v1 = { type: 'record', name: 'Reading', fields: [{ name: 'sensor', type: 'string' }] };
  const v2 = {
    ...v1,
    fields: [...v1.fields, { name: 'celsius', type: 'double', default: -273.15 }],
  };
  const readings = (schema: unknown, values: Record<string, unknown>[]) =>
    produce(topic, {
      schema: 'avro',
      schemaDefinition: schema,
      messages: values.map((value) => ({ value })),
    });
  await readings(v1, [{ sensor: 's0' }, { sensor: 's1' }, { sensor: 's2' }]);
  const plan = await planFlight(
    deps,
    request(topic, { kind: 'earliest' }, { kind: 'atOpen' }),
    signal(),
  );
  // The topic's schema moves on after planning.
  await readings(v2, [{ sensor: 's3', celsius: 1 }]);
  const range = plan.endpoints[0]?.range;
  if (!range) throw new Error('no endpoint');
  t.truthy(range.schemaVersion);
  const fields = (schema: { fields: { toString(): string }[] }) => schema.fields.map(String);
  const firstSchema = async (read: ReadRequest) => {
    for await (const event of readStream(deps, read, signal())) {
      if (event.kind === 'start') return event.schema;
    }
    throw new Error('no schema');
  };
  const pinned = await firstSchema(rangeRequest(range));
  t.deepEqual(fields(pinned), fields(plan.schema));
  t.false(fields(pinned).some((f) => f.startsWith('celsius')));
  // Unpinned, the stream takes the latest version.
  const latest = await firstSchema({ ...rangeRequest(range), schemaVersion: undefined });
  t.true(fields(latest).some((f) => f.startsWith('celsius')));
  t.is((await rows(rangeRequest(range))).length, 3);
  // A version the registry does not have.
  const gone = await t.throwsAsync<SeamError>(
    rows({ ...rangeRequest(range), schemaVersion: Buffer.from('0000000000000063', 'hex') }),
  );
  t.is(gone?.code, 'FAILED_PRECONDITION');
  t.regex(gone?.message ?? '', /schema changed: version 99 .* no longer in its schema registry/);
});
