/**
 * Requests and resume tokens a caller may forge: oversized tokens and tokens with more
 * positions than the topic has partitions are refused before their positions are decoded;
 * publish times no Pulsar message can have are refused with a clear INVALID_ARGUMENT.
 */
import test from 'ava';
import { apiType } from '../../server/api.ts';
import { SeamError } from '../../server/core/errors.ts';
import { maxPublishTimeMs } from '../../server/core/request.ts';
import {
  decodeResumeToken,
  encodeResumeToken,
  maxTokenBytes,
  type Position,
} from '../../server/core/resume-token.ts';
import type { ReadStreamRequest__Output } from '../../server/grpc/generated/seam/v1/ReadStreamRequest.ts';
import { toReadRequest } from '../../server/grpc/request.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
import { tokenEnvelope } from '../support/fuzz.ts';

const ResumeToken = apiType('ResumeToken');
const topic = 'persistent://public/default/tokens';

function forged(positions: Record<string, unknown>[]): Buffer {
  return tokenEnvelope(
    ResumeToken.encode(ResumeToken.fromObject({ version: 1, topic, positions })).finish(),
  );
}

const invalid = (message: RegExp) => ({
  instanceOf: SeamError,
  message,
});

test('a forged token of 500 K positions is refused before they are decoded', (t) => {
  const token = forged(
    Array.from({ length: 500_000 }, (_, partition) => ({ partition, from_earliest: true })),
  );
  const started = performance.now();
  const error = t.throws(
    () => decodeResumeToken(topic, token, 4),
    invalid(/larger than a token for 4 partition/),
  );
  t.is(error?.code, 'INVALID_ARGUMENT');
  t.log(
    `${(token.length / 2 ** 20).toFixed(1)} MiB token refused in ${(performance.now() - started).toFixed(1)} ms`,
  );
  // Without a partition count, the absolute bound applies.
  t.throws(
    () => decodeResumeToken(topic, token),
    invalid(/larger than a token for 10000 partition/),
  );
});

test('a token with more positions than the topic has partitions is refused', (t) => {
  const token = forged(
    Array.from({ length: 5 }, (_, partition) => ({ partition, from_earliest: true })),
  );
  t.true(token.length <= maxTokenBytes(4));
  t.throws(
    () => decodeResumeToken(topic, token, 4),
    invalid(/holds 5 positions; .* has 4 partition/),
  );
  t.is(decodeResumeToken(topic, token, 5).size, 5);
});

test('tokens Seam writes decode as before, up to the partition count', (t) => {
  const positions = new Map<number, Position>([
    [0, { kind: 'after', id: new MessageId(7, 3, 2, 0, 10) }],
    [1, { kind: 'earliest' }],
    [2, { kind: 'publishTime', ms: 1_767_000_000_000 }],
    [3, { kind: 'at', id: new MessageId(9, 1, -1, 3) }],
  ]);
  t.deepEqual(decodeResumeToken(topic, encodeResumeToken(topic, positions), 4), positions);
});

test('a damaged message id or publish time inside a well-enveloped token is INVALID_ARGUMENT', (t) => {
  for (const position of [
    { partition: 0, after_message_id: Buffer.from([0xff, 0xff]) },
    { partition: 0, at_message_id: Buffer.from([0x08]) },
    { partition: 0, from_publish_time_ms: -5 },
    { partition: 0, from_publish_time_ms: maxPublishTimeMs + 1 },
  ]) {
    const error = t.throws(() => decodeResumeToken(topic, forged([position]), 1), {
      instanceOf: SeamError,
    });
    t.is(error?.code, 'INVALID_ARGUMENT', JSON.stringify(position));
  }
});

const request = (fields: Record<string, unknown>) =>
  toReadRequest({ topic, ...fields } as unknown as ReadStreamRequest__Output);

test('publish times outside 1970..9999 are INVALID_ARGUMENT, saying which field and why', (t) => {
  for (const [field, oneof] of [
    ['start_publish_time', 'start'],
    ['end_publish_time', 'end'],
  ] as const) {
    for (const seconds of [9e18, '9000000000000000000', 253_402_300_800, -1]) {
      const error = t.throws(() => request({ [oneof]: field, [field]: { seconds } }), {
        instanceOf: SeamError,
        message: new RegExp(
          `${field} \\(${seconds} s\\) is outside 1970-01-01T00:00:00Z\\.\\.9999`,
        ),
      });
      t.is(error?.code, 'INVALID_ARGUMENT');
    }
  }
  // The last instant of 9999 and the epoch are fine.
  const last = request({
    start: 'start_publish_time',
    start_publish_time: { seconds: 0 },
    end: 'end_publish_time',
    end_publish_time: { seconds: 253_402_300_799, nanos: 999_999_999 },
  });
  t.deepEqual(
    [last.start, last.end],
    [
      { kind: 'publishTime', ms: 0 },
      { kind: 'publishTime', ms: maxPublishTimeMs },
    ],
  );
});

test('a resume token larger than any Seam token is refused with the request', (t) => {
  const error = t.throws(
    () => request({ start: 'resume_token', resume_token: Buffer.alloc(maxTokenBytes(10_000) + 1) }),
    invalid(/larger than any Seam token/),
  );
  t.is(error?.code, 'INVALID_ARGUMENT');
});

test('batching.max_bytes is at most 16 MiB: a caller cannot ask for batches the budget cannot hold', (t) => {
  const mib16 = 16 * 1024 * 1024;
  t.is(request({ batching: { max_bytes: mib16 } }).batching.maxBytes, mib16);
  const error = t.throws(() => request({ batching: { max_bytes: mib16 + 1 } }), {
    instanceOf: SeamError,
    message: /maxBytes = 16777217 is outside 1\.\.16777216/,
  });
  t.is(error?.code, 'INVALID_ARGUMENT');
});
