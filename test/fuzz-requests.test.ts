/**
 * Property-based tests of request handling: random requests, random bytes as message ids
 * and resume tokens, and undecodable request messages. Each gets INVALID_ARGUMENT (or, for a
 * well-formed request on a topic that does not exist, NOT_FOUND) and the gateway keeps
 * serving. SEAM_FUZZ_RUNS sets the in-process cases per property (default 1500).
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import fc from 'fast-check';
import { apiType } from '../server/api.ts';
import { SeamError } from '../server/core/errors.ts';
import { decodeResumeToken } from '../server/core/resume-token.ts';
import type { ReadStreamRequest__Output } from '../server/grpc/generated/seam/v1/ReadStreamRequest.ts';
import { toReadRequest } from '../server/grpc/request.ts';
import { InvalidMessageIdError, MessageId } from '../server/pulsar/message-id.ts';
import { crc32c } from '../server/pulsar/protocol/checksum.ts';
import { collect, useGateway } from './support/gateway.ts';
import { freshTopic, produce } from './support/pulsar.ts';

const runs = Number(process.env.SEAM_FUZZ_RUNS ?? 1500);
const gateway = useGateway(test);
const ReadStreamRequest = apiType('ReadStreamRequest');
const ResumeToken = apiType('ResumeToken');

const anyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 2 ** 53, Number.MAX_SAFE_INTEGER, -(2 ** 63)),
  fc.string({ maxLength: 8 }),
);
const timestamp = fc.record(
  { seconds: anyNumber, nanos: fc.oneof(fc.integer(), fc.constantFrom(-1, 1e9)) },
  { requiredKeys: [] },
);
const topicName = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ minLength: 1000, maxLength: 1100 }),
  fc.constantFrom(
    'persistent://',
    'persistent://a/b',
    'non-persistent://public/default/x',
    'a//b',
    ' ',
  ),
  fc.string({ maxLength: 20 }).map((s) => `persistent://public/default/${s}`),
);

/** Requests as the wire gives them to the service, with every field random. */
const wireRequest = fc.record(
  {
    topic: topicName,
    start: fc.constantFrom(
      'earliest',
      'latest',
      'start_publish_time',
      'message_id',
      'resume_token',
    ),
    start_publish_time: timestamp,
    message_id: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    resume_token: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    end: fc.constantFrom('follow', 'at_open', 'end_publish_time'),
    end_publish_time: timestamp,
    columns: fc.array(fc.string({ maxLength: 1100 }), { maxLength: 3 }),
    batching: fc.record(
      {
        max_rows: anyNumber,
        max_bytes: anyNumber,
        max_latency: timestamp,
        heartbeat_interval: timestamp,
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['topic'] },
);

test('random requests validate or get INVALID_ARGUMENT, nothing else', (t) => {
  let valid = 0;
  fc.assert(
    fc.property(wireRequest, (wire) => {
      try {
        toReadRequest(wire as unknown as ReadStreamRequest__Output);
        valid++;
      } catch (error) {
        if (!(error instanceof SeamError) || error.code !== 'INVALID_ARGUMENT') throw error;
      }
    }),
    { numRuns: runs },
  );
  t.log(`${valid} of ${runs} random requests were valid`);
  t.true(valid > 0 && valid < runs);
});

test('random bytes as message ids deserialize or fail typed', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      try {
        MessageId.deserialize(bytes);
      } catch (error) {
        if (!(error instanceof InvalidMessageIdError)) throw error;
      }
    }),
    { numRuns: runs },
  );
  t.pass();
});

/** A token envelope (magic, correct CRC32C) around `body`: damage that passes the checksum. */
function envelope(body: Uint8Array): Buffer {
  const header = Buffer.from([0x53, 0x31, 0, 0, 0, 0]);
  header.writeUInt32BE(crc32c(Buffer.from(body)), 2);
  return Buffer.concat([header, body]);
}

test('random resume tokens, damaged or well-enveloped, get INVALID_ARGUMENT', (t) => {
  const topic = 'persistent://public/default/t';
  const token = fc.oneof(
    fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
    fc.uint8Array({ maxLength: 80 }).map(envelope),
    fc
      .record({
        version: fc.oneof(fc.constant(1), fc.integer()),
        topic: fc.oneof(fc.constant(topic), fc.string()),
        positions: fc.array(
          fc.record({
            partition: fc.integer(),
            message_id: fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)),
          }),
          { maxLength: 4 },
        ),
      })
      .map((m) => envelope(ResumeToken.encode(ResumeToken.fromObject(m)).finish())),
  );
  fc.assert(
    fc.property(token, (bytes) => {
      try {
        decodeResumeToken(topic, bytes);
      } catch (error) {
        if (!(error instanceof SeamError) || error.code !== 'INVALID_ARGUMENT') throw error;
      }
    }),
    { numRuns: runs },
  );
  t.pass();
});

test('through the gateway: random and undecodable requests get a clear status; it keeps serving', async (t) => {
  const allowed = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND]);
  const samples = fc.sample(wireRequest, { numRuns: 40, seed: 7 });
  for (const wire of samples) {
    // Protobuf cannot carry every random value (e.g. a string in a number field): skip those.
    let message: Record<string, unknown>;
    try {
      const { start, end, ...fields } = wire as Record<string, unknown>;
      message = ReadStreamRequest.toObject(
        ReadStreamRequest.decode(
          ReadStreamRequest.encode(ReadStreamRequest.fromObject(fields)).finish(),
        ),
      );
      if (typeof start === 'string' && start !== 'earliest' && start in fields)
        message[start] = (fields as never)[start];
      if (typeof end === 'string' && end !== 'follow' && end in fields)
        message[end] = (fields as never)[end];
    } catch {
      continue;
    }
    const result = await collect(gateway, message, { timeoutMs: 20_000 });
    t.true(
      allowed.has(result.status.code),
      `${JSON.stringify(message).slice(0, 200)} → ${result.status.code} ${result.status.details}`,
    );
    t.true(result.status.details.length > 0);
  }

  // Bytes that are not a ReadStreamRequest at all.
  for (const bytes of fc.sample(fc.uint8Array({ minLength: 1, maxLength: 200 }), {
    numRuns: 20,
    seed: 11,
  })) {
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = gateway.client.makeServerStreamRequest(
        '/seam.v1.SeamService/ReadStream',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(bytes),
      );
      call.on('data', () => {});
      call.on('error', () => {});
      call.on('status', resolve);
    });
    // Most random bytes are no protobuf; some decode by chance into a request with odd fields.
    t.true(allowed.has(status.code), `random request bytes → ${status.code} ${status.details}`);
  }

  // Still serving: a real read works.
  const topic = freshTopic('after-fuzz');
  await produce(topic, { count: 10 });
  const read = await collect(gateway, { topic, at_open: {} });
  t.is(read.status.code, 0);
  t.is(
    read.batches.reduce((n, b) => n + b.rows.length, 0),
    10,
  );
});
