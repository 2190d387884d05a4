/**
 * Start and end positions per partition (`start_positions`, `end_positions`): what the
 * request validation refuses, and what the plan refuses once the topic's partitions are
 * known. No broker: a fake client and readers.
 */
import test from 'ava';
import { SeamError, type StatusName } from '../../server/core/errors.ts';
import { openPlan } from '../../server/core/plan.ts';
import type { ReadRequest } from '../../server/core/request.ts';
import { defaultBatchLimits } from '../../server/core/request.ts';
import type { ReadStreamRequest__Output } from '../../server/grpc/generated/seam/v1/ReadStreamRequest.ts';
import { toReadRequest } from '../../server/grpc/request.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';

const topic = 'persistent://public/default/positions';
const id = (ledger: number, entry: number, batch = -1) =>
  new MessageId(ledger, entry, batch).serialize();

const wire = (fields: Record<string, unknown>) =>
  toReadRequest({ topic, ...fields } as ReadStreamRequest__Output);

function refused(
  t: import('ava').ExecutionContext,
  fn: () => unknown,
  code: StatusName,
  message: RegExp,
): void {
  const error = t.throws(fn, { instanceOf: SeamError, message });
  t.is(error?.code, code);
}

test('start_positions become one position per partition', (t) => {
  const request = wire({
    start: 'start_positions',
    start_positions: {
      positions: [
        { partition: 0, position: 'after_message_id', after_message_id: id(7, 3) },
        { partition: 1, position: 'at_message_id', at_message_id: id(8, 0, 2) },
        { partition: 2, position: 'from_publish_time_ms', from_publish_time_ms: 1234 },
        { partition: 3, position: 'from_earliest', from_earliest: true },
        { partition: 4 },
      ],
    },
  });
  t.is(request.start.kind, 'positions');
  if (request.start.kind !== 'positions') return;
  const p = request.start.positions;
  t.deepEqual([...p.keys()], [0, 1, 2, 3, 4]);
  t.like(p.get(0), { kind: 'after', id: { ledgerId: 7, entryId: 3, batchIndex: -1 } });
  t.like(p.get(1), { kind: 'at', id: { ledgerId: 8, entryId: 0, batchIndex: 2 } });
  t.deepEqual(p.get(2), { kind: 'publishTime', ms: 1234 });
  t.deepEqual(p.get(3), { kind: 'earliest' });
  t.deepEqual(p.get(4), { kind: 'earliest' });
});

test('end_positions: inclusive last ids; an empty id reads nothing from its partition', (t) => {
  const request = wire({
    end: 'end_positions',
    end_positions: {
      ends: [
        { partition: 0, last_message_id: id(7, 3, 4) },
        { partition: 2, last_message_id: Buffer.alloc(0) },
      ],
    },
  });
  t.is(request.end.kind, 'positions');
  if (request.end.kind !== 'positions') return;
  t.deepEqual([...request.end.last.keys()], [0, 2]);
  t.like(request.end.last.get(0), { ledgerId: 7, entryId: 3, batchIndex: 4 });
  t.true(request.end.last.get(2)?.isSentinel);
  t.is(request.end.beforePublishTimeMs, undefined);
});

test('a partition named twice, a damaged id, a sentinel id: INVALID_ARGUMENT', (t) => {
  const start = (positions: unknown[]) => () =>
    wire({ start: 'start_positions', start_positions: { positions } });
  const end = (ends: unknown[]) => () => wire({ end: 'end_positions', end_positions: { ends } });
  refused(
    t,
    start([
      { partition: 1, from_earliest: true, position: 'from_earliest' },
      { partition: 1, from_earliest: true, position: 'from_earliest' },
    ]),
    'INVALID_ARGUMENT',
    /start_positions\.positions\[1\]: partition 1 is named twice/,
  );
  refused(
    t,
    end([
      { partition: 0, last_message_id: id(1, 1) },
      { partition: 0, last_message_id: id(1, 2) },
    ]),
    'INVALID_ARGUMENT',
    /end_positions\.ends\[1\]: partition 0 is named twice/,
  );
  refused(
    t,
    start([{ partition: 0, position: 'after_message_id', after_message_id: Buffer.from([0xff]) }]),
    'INVALID_ARGUMENT',
    /start_positions\.positions\[0\]\.after_message_id is not a serialized Pulsar MessageId/,
  );
  refused(
    t,
    end([{ partition: 0, last_message_id: Buffer.from([0x08]) }]),
    'INVALID_ARGUMENT',
    /end_positions\.ends\[0\]\.last_message_id is not a serialized Pulsar MessageId/,
  );
  refused(
    t,
    end([{ partition: 0, last_message_id: MessageId.latest.serialize() }]),
    'INVALID_ARGUMENT',
    /last_message_id must name a message/,
  );
  refused(
    t,
    start([{ partition: -2, from_earliest: true, position: 'from_earliest' }]),
    'INVALID_ARGUMENT',
    /partition -2 is not a partition index/,
  );
  refused(
    t,
    start([{ partition: 0, position: 'from_publish_time_ms', from_publish_time_ms: -1 }]),
    'INVALID_ARGUMENT',
    /from_publish_time_ms \(-1\) is outside/,
  );
  refused(t, start([]), 'INVALID_ARGUMENT', /start_positions names no partition/);
});

/** A reader over an empty partition: enough for the plan's checks. */
const emptyReader = {
  receive: () => new Promise<never>(() => {}),
  positions: async () => ({
    lastMessageId: new MessageId(-1, -1),
    markDeletePosition: undefined,
  }),
  close: async () => {},
};

function plan(partitions: number, request: Partial<ReadRequest>) {
  return openPlan(
    {
      client: { partitions: async () => partitions, schema: async () => undefined },
      openReader: async () => emptyReader,
    },
    {
      topic,
      start: { kind: 'earliest' },
      end: { kind: 'atOpen' },
      columns: [],
      batching: defaultBatchLimits,
      ...request,
    },
    new AbortController().signal,
  );
}

const earliestFor = (...partitions: number[]) =>
  new Map(partitions.map((p) => [p, { kind: 'earliest' as const }]));

test('start_positions name exactly the topic partitions', async (t) => {
  const unknown = await t.throwsAsync(
    plan(2, { start: { kind: 'positions', positions: earliestFor(0, 1, 5) } }),
    { instanceOf: SeamError, message: /names partition 5, but .* has partitions \[0,1\]/ },
  );
  t.is(unknown?.code, 'INVALID_ARGUMENT');
  const notPartitioned = await t.throwsAsync(
    plan(0, { start: { kind: 'positions', positions: earliestFor(0) } }),
    { instanceOf: SeamError, message: /has partitions \[-1\] \(-1: it is not partitioned\)/ },
  );
  t.is(notPartitioned?.code, 'INVALID_ARGUMENT');
  const repartitioned = await t.throwsAsync(
    plan(3, { start: { kind: 'positions', positions: earliestFor(0, 1) } }),
    { instanceOf: SeamError, message: /covers partitions \[0,1\] but .* now has \[0,1,2\]/ },
  );
  t.is(repartitioned?.code, 'FAILED_PRECONDITION');
  const ok = await plan(2, { start: { kind: 'positions', positions: earliestFor(1, 0) } });
  t.deepEqual(
    ok.partitions.map((p) => p.partition),
    [0, 1],
  );
  await Promise.all(ok.partitions.map((p) => p.reader.close()));
});

test('end_positions may name some partitions, but only the topic partitions', async (t) => {
  const unknown = await t.throwsAsync(
    plan(2, { end: { kind: 'positions', last: new Map([[2, new MessageId(1, 1)]]) } }),
    { instanceOf: SeamError, message: /end_positions names partition 2/ },
  );
  t.is(unknown?.code, 'INVALID_ARGUMENT');
  // On empty partitions: the one named waits for its end, the other ends at once (at open).
  const ok = await plan(2, {
    end: { kind: 'positions', last: new Map([[1, new MessageId(5, 0)]]) },
  });
  t.deepEqual(
    ok.partitions.map((p) => [p.partition, p.finished, p.end?.toString()]),
    [
      [0, true, '-1:-1:-1:-1'],
      [1, false, '5:0:-1:-1'],
    ],
  );
  await Promise.all(ok.partitions.map((p) => p.reader.close()));
});
