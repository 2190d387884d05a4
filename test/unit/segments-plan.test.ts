/**
 * Planning history by segment, as pure functions: which entries of which ledgers, the
 * publish-time pruning (with publish times given, not fetched), and the gate's limits.
 */
import test from 'ava';
import { prunedByTime, SegmentGate } from '../../server/core/segmented-history.ts';
import type { Ledger, PulsarAdmin } from '../../server/pulsar/admin.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
import {
  firstWhere,
  historySegments,
  type PublishTimes,
  type Segment,
} from '../../server/pulsar/segments.ts';

const ledger = (ledgerId: number, entries: number, size = entries * 100): Ledger => ({
  ledgerId,
  entries,
  size,
  offloaded: false,
  closedAt: undefined,
  open: false,
});

test('history segments run from the start entry to the boundary entry, skipping empty ledgers', (t) => {
  const ledgers = [ledger(3, 1000), ledger(7, 0), ledger(9, 1000, 50_000), ledger(12, 400)];
  const segments = historySegments(ledgers, { ledgerId: 3, entryId: 250 }, new MessageId(12, 99));
  t.deepEqual(
    segments.map((s) => [s.ledgerId, s.firstEntry, s.lastEntry, s.entryBytes]),
    [
      [3, 250, 999, 100],
      [9, 0, 999, 50],
      [12, 0, 99, 100],
    ],
  );
  // From earliest (-1): every ledger from its entry 0.
  t.is(historySegments(ledgers, { ledgerId: -1, entryId: 0 }, new MessageId(9, 5)).length, 2);
});

/** Publish times from a table: entry e of ledger l was published at times[l](e). */
function fakeTimes(times: Record<number, (entry: number) => number>): {
  times: PublishTimes;
  lookups: string[];
} {
  const lookups: string[] = [];
  const fake = {
    entry: async (_admin: unknown, _topic: string, ledgerId: number, entryId: number) => {
      lookups.push(`${ledgerId}:${entryId}`);
      return (times[ledgerId] as (entry: number) => number)(entryId);
    },
  };
  return { times: fake as unknown as PublishTimes, lookups };
}

/** Never asked: the fake publish times answer. */
const admin = {} as PulsarAdmin;

const segment = (ledgerId: number, lastEntry = 999): Segment => ({
  ledgerId,
  firstEntry: 0,
  lastEntry,
  entryBytes: 100,
  offloaded: false,
});

// Ten segments of 1000 entries, entry e of segment i published at i * 1000 + e.
const segments = Array.from({ length: 10 }, (_, i) => segment(i + 1));
const linear = Object.fromEntries(
  segments.map((s, i) => [s.ledgerId, (e: number) => i * 1000 + e]),
);

test('a start time skips the segments that end before it, in a few lookups', async (t) => {
  const { times, lookups } = fakeTimes(linear);
  const { before, kept } = await prunedByTime({ admin, topic: 'topic', times }, segments, {
    startMs: 6500,
    endMs: undefined,
  });
  t.deepEqual(
    before.map((s) => s.ledgerId),
    [1, 2, 3, 4, 5, 6],
  );
  t.deepEqual(
    kept.map((s) => s.ledgerId),
    [7, 8, 9, 10],
  );
  t.true(lookups.length <= 4, `${lookups.length} lookups`);
});

test('an end time keeps the segment starting at or after it to its first entry only', async (t) => {
  const { times } = fakeTimes(linear);
  const { before, kept } = await prunedByTime({ admin, topic: 'topic', times }, segments, {
    startMs: 1200,
    endMs: 4000,
  });
  t.deepEqual(
    before.map((s) => s.ledgerId),
    [1],
  );
  t.deepEqual(
    kept.map((s) => [s.ledgerId, s.firstEntry, s.lastEntry]),
    [
      [2, 0, 999],
      [3, 0, 999],
      [4, 0, 999],
      [5, 0, 0],
    ],
  );
  // An end before everything: the first segment's first entry ends the partition.
  const early = await prunedByTime({ admin, topic: 'topic', times }, segments, {
    startMs: undefined,
    endMs: -1,
  });
  t.deepEqual(
    early.kept.map((s) => [s.ledgerId, s.lastEntry]),
    [[1, 0]],
  );
});

test('firstWhere is a binary search over a monotonic predicate', async (t) => {
  for (const n of [0, 1, 2, 7, 100]) {
    for (let answer = 0; answer <= n; answer++) {
      t.is(await firstWhere(n, async (i) => i >= answer), answer);
    }
  }
});

test('the gate hands out slots first come, first served, and sizes prefetch from the budget', async (t) => {
  const gate = new SegmentGate(2, 64 * 1024);
  await gate.acquire();
  await gate.acquire();
  const order: number[] = [];
  const third = gate.acquire().then(() => order.push(3));
  const fourth = gate.acquire().then(() => order.push(4));
  gate.release();
  await third;
  gate.release();
  await fourth;
  t.deepEqual(order, [3, 4]);
  // Half the budget over two slots, 100-byte entries: 163 messages, within the cap.
  t.is(gate.permits(100, 1000), 163);
  t.is(gate.permits(100, 50), 50);
  t.is(gate.permits(1_000_000, 50), 1);
  gate.buffered = 32 * 1024;
  t.false(gate.hasRoom);
});
