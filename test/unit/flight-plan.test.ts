/**
 * Flight's endpoint cut as a pure function: for random ledgers (batched and unbatched
 * entries, empty ledgers, the open one last), starts and boundaries, the ranges are in
 * order, disjoint, and together exactly the partition's history; and a ticket's range as
 * the ReadRequest DoGet streams.
 */
import test from 'ava';
import fc from 'fast-check';
import { apiType } from '../../server/api.ts';
import {
  checkRange,
  encodeEndpointInfo,
  historyRanges,
  rangeRequest,
  segmentRanges,
} from '../../server/core/flight-plan.ts';
import { isAfter } from '../../server/core/positions.ts';
import { defaultBatchLimits } from '../../server/core/request.ts';
import type { Position } from '../../server/core/resume-token.ts';
import { InvalidTicketError, type TicketRange } from '../../server/core/ticket.ts';
import type { Ledger } from '../../server/pulsar/admin.ts';
import { compareMessageIds, MessageId } from '../../server/pulsar/message-id.ts';

/** A partition's log: ledgers of entries, each a single message (0) or a batch of n. */
const logs = fc
  .array(
    fc.record({
      gap: fc.integer({ min: 1, max: 3 }),
      entries: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 6 }),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((ledgers) => {
    let ledgerId = 10;
    return ledgers.map(({ gap, entries }) => {
      ledgerId += gap;
      return { ledgerId, entries };
    });
  });

type Log = { ledgerId: number; entries: number[] }[];

/** Every message of the log, in order, with ids as the reader hands them out. */
function messages(log: Log): MessageId[] {
  return log.flatMap(({ ledgerId, entries }) =>
    entries.flatMap((size, entryId) =>
      size === 0
        ? [new MessageId(ledgerId, entryId)]
        : Array.from({ length: size }, (_, i) => new MessageId(ledgerId, entryId, i, -1, size)),
    ),
  );
}

function ledgersOf(log: Log): Ledger[] {
  return log.map(({ ledgerId, entries }, i) => ({
    ledgerId,
    entries: entries.length,
    size: entries.length * 100,
    offloaded: false,
    closedAt: undefined,
    open: i === log.length - 1,
  }));
}

/** Picks a message by index (modulo), or its whole entry. */
function pick(all: MessageId[], index: number, whole: boolean): MessageId {
  const id = all[index % all.length] as MessageId;
  return whole ? new MessageId(id.ledgerId, id.entryId) : id;
}

/** Whether message `m` is after a start (the seek of a publish time lands after `seek`). */
function afterStart(m: MessageId, start: Position, seek: MessageId | undefined): boolean {
  switch (start.kind) {
    case 'earliest':
      return true;
    case 'at':
      return compareMessageIds(m, start.id) >= 0;
    case 'after':
      return isAfter(m, start.id);
    case 'publishTime':
      return seek === undefined || compareMessageIds(m.entry, (seek as MessageId).entry) > 0;
  }
}

const cases = logs
  .filter((log) => messages(log).length > 0)
  .chain((log) =>
    fc.record({
      log: fc.constant(log),
      startKind: fc.constantFrom('earliest', 'at', 'after', 'publishTime'),
      startIndex: fc.nat(),
      startWhole: fc.boolean(),
      boundaryIndex: fc.nat(),
      boundaryWhole: fc.boolean(),
    }),
  );

test('the ranges are ordered, disjoint, and together exactly the history', (t) => {
  fc.assert(
    fc.property(cases, (c) => {
      const all = messages(c.log);
      const boundary = pick(all, c.boundaryIndex, c.boundaryWhole);
      const id = pick(all, c.startIndex, c.startWhole);
      // A seek by publish time leaves the cursor's mark-delete just before an entry.
      const seek = c.startKind === 'publishTime' ? id.entry : undefined;
      const start: Position =
        c.startKind === 'earliest'
          ? { kind: 'earliest' }
          : c.startKind === 'publishTime'
            ? { kind: 'publishTime', ms: 1 }
            : { kind: c.startKind, id };
      const ranges = historyRanges(ledgersOf(c.log), start, boundary, seek);
      const history = all.filter((m) => afterStart(m, start, seek) && !isAfter(m, boundary));
      const owners = all.map((m) =>
        ranges.flatMap((r, i) => (afterStart(m, r.start, seek) && !isAfter(m, r.last) ? [i] : [])),
      );
      for (const [i, m] of all.entries()) {
        const inHistory = history.includes(m);
        const owner = owners[i] as number[];
        if (owner.length !== (inHistory ? 1 : 0)) {
          t.log({ message: m.toString(), owner, inHistory, ranges: ranges.map(show) });
          return false;
        }
      }
      // In order: each range's messages come before the next one's; none is empty.
      const firsts = ranges.map((_, r) => owners.findIndex((o) => o.includes(r)));
      const lasts = ranges.map((_, r) => owners.findLastIndex((o) => o.includes(r)));
      return firsts.every((f, r) => f >= 0 && (r === 0 || f > (lasts[r - 1] as number)));
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

const show = (r: { start: Position; last: MessageId }) =>
  `${r.start.kind}${'id' in r.start ? ` ${r.start.id}` : ''} .. ${r.last}`;

test('one range per ledger: the first from the start, the others from their first entry', (t) => {
  const log: Log = [
    { ledgerId: 3, entries: [0, 0, 0] },
    { ledgerId: 5, entries: [] },
    { ledgerId: 8, entries: [4, 4] },
    { ledgerId: 9, entries: [0, 3, 0] },
  ];
  const start: Position = { kind: 'after', id: new MessageId(3, 0) };
  const ranges = historyRanges(ledgersOf(log), start, new MessageId(9, 1, 1, -1, 3));
  t.deepEqual(ranges.map(show), [
    'after 3:0:-1:-1 .. 3:2:-1:-1',
    'at 8:0:-1:-1 .. 8:1:-1:-1',
    'at 9:0:-1:-1 .. 9:1:1:-1',
  ]);
  t.deepEqual(
    ranges.map((r) => [r.segment.ledgerId, r.segment.firstEntry, r.segment.lastEntry]),
    [
      [3, 0, 2],
      [8, 0, 1],
      [9, 0, 1],
    ],
  );
  // After a ledger's last message, its range holds nothing: left out.
  const fromEnd = historyRanges(
    ledgersOf(log),
    { kind: 'after', id: new MessageId(3, 2) },
    new MessageId(8, 1),
  );
  t.deepEqual(fromEnd.map(show), ['at 8:0:-1:-1 .. 8:1:-1:-1']);
  // From earliest: at the first entry of the first ledger with entries.
  t.deepEqual(historyRanges(ledgersOf(log), { kind: 'earliest' }, new MessageId(3, 1)).map(show), [
    'at 3:0:-1:-1 .. 3:1:-1:-1',
  ]);
});

test('segments cut off by an end time: the last range ends with its ledger, not the boundary', (t) => {
  const segment = (ledgerId: number, lastEntry: number) => ({
    ledgerId,
    firstEntry: 0,
    lastEntry,
    entryBytes: 100,
    offloaded: false,
  });
  const ranges = segmentRanges(
    [segment(3, 9), segment(4, 9)],
    { kind: 'publishTime', ms: 5 },
    new MessageId(7, 4),
  );
  t.deepEqual(ranges.map(show), ['publishTime .. 3:9:-1:-1', 'at 4:0:-1:-1 .. 4:9:-1:-1']);
});

test("a ticket's range reads through the stream from its start to its last message", (t) => {
  const range: TicketRange = {
    topic: 'persistent://public/default/orders-partition-2',
    partition: 2,
    start: { kind: 'at', id: new MessageId(8, 0) },
    lastMessageId: new MessageId(8, 41, 3, 2, 10),
    endPublishTimeMs: 1_700_000_000_000,
    columns: ['amount'],
    batching: defaultBatchLimits,
    schemaVersion: undefined,
    ledgerId: 8,
    issuedAtMs: 1,
  };
  const request = rangeRequest(range);
  t.is(request.topic, range.topic);
  t.deepEqual(request.start, { kind: 'positions', positions: new Map([[2, range.start]]) });
  t.deepEqual(request.end, {
    kind: 'positions',
    last: new Map([[2, range.lastMessageId as MessageId]]),
    beforePublishTimeMs: 1_700_000_000_000,
  });
  t.deepEqual(request.columns, ['amount']);
  // A tail range: no last message.
  t.deepEqual(
    rangeRequest({ ...range, lastMessageId: undefined, endPublishTimeMs: undefined }).end,
    {
      kind: 'follow',
    },
  );
  t.deepEqual(rangeRequest({ ...range, lastMessageId: undefined }).end, {
    kind: 'publishTime',
    ms: 1_700_000_000_000,
  });
});

/** A sealed range of ledger 8 of partition 1. */
const partitionOneRange: TicketRange = {
  topic: 'persistent://public/default/orders-partition-1',
  partition: 1,
  start: { kind: 'after', id: new MessageId(8, 3, 2, 1, 10) },
  lastMessageId: new MessageId(8, 41),
  endPublishTimeMs: undefined,
  columns: [],
  batching: defaultBatchLimits,
  schemaVersion: undefined,
  ledgerId: 8,
  issuedAtMs: 1,
};

test("an endpoint's app_metadata is a seam.v1.EndpointInfo of its range", (t) => {
  const EndpointInfo = apiType('EndpointInfo');
  const range = partitionOneRange;
  const info = {
    topic: range.topic,
    partition: 1,
    ledgerId: 8,
    firstEntry: 3,
    lastEntry: 41,
    storedBytes: 3900,
  };
  const decoded = EndpointInfo.toObject(EndpointInfo.decode(encodeEndpointInfo({ range, info })), {
    longs: Number,
    bytes: Buffer,
  });
  t.like(decoded, {
    topic: range.topic,
    partition: 1,
    ledger_id: 8,
    first_entry: 3,
    last_entry: 41,
    stored_bytes: 3900,
    start: { partition: 1 },
  });
  t.true(MessageId.deserialize(decoded.start.after_message_id).equals(new MessageId(8, 3, 2, 1)));
  t.true(MessageId.deserialize(decoded.last_message_id).equals(new MessageId(8, 41)));
  t.is(decoded.end_publish_time_ms, undefined);
  // A tail range: no ledger, no last message.
  const tail = EndpointInfo.toObject(
    EndpointInfo.decode(
      encodeEndpointInfo({
        range: { ...range, lastMessageId: undefined, ledgerId: undefined },
        info: { ...info, ledgerId: undefined, firstEntry: 0, lastEntry: 0, storedBytes: 0 },
      }),
    ),
  );
  t.is(tail.ledger_id, undefined);
  t.is(tail.last_message_id, undefined);
});

test("DoGet's shape check: a range may start in an earlier ledger (a chunked message), not a later one", async (t) => {
  const range: TicketRange = {
    ...partitionOneRange,
    start: { kind: 'after', id: new MessageId(7, 998) },
  };
  // No admin API: nothing to check the ledgers against, and no reader is opened.
  const deps = {
    client: { partitions: async () => 0, schema: async () => undefined },
    openReader: () => Promise.reject(new Error('no reader')),
  };
  const signal = AbortSignal.timeout(1000);
  await t.notThrowsAsync(checkRange(deps, range, signal));
  for (const start of [new MessageId(9, 0), new MessageId(8, 42)]) {
    await t.throwsAsync(checkRange(deps, { ...range, start: { kind: 'at', id: start } }, signal), {
      instanceOf: InvalidTicketError,
    });
  }
});
