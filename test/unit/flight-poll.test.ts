/**
 * PollFlightInfo's pure parts: where a cut stands when it lands inside chunked messages
 * (`cleanCut`, checked against every cut of random interleaved logs, and `chunkSafeCut` over
 * a fake admin API: one call for an ordinary entry, the scan across ledgers, the floor), when a
 * partition is done, where the next poll starts, and the next descriptor in the form it came.
 */
import type * as grpc from '@grpc/grpc-js';
import test from 'ava';
import fc from 'fast-check';
import {
  boundaryCut,
  chunkSafeCut,
  chunkSafeRanges,
  cleanCut,
  maxCutScanEntries,
  segmentRanges,
  wholeMessageRanges,
} from '../../server/core/flight-plan.ts';
import { nextStarts, partitionCut } from '../../server/core/flight-poll.ts';
import type { Position } from '../../server/core/resume-token.ts';
import { descriptorRequest } from '../../server/flight/descriptor.ts';
import { nextDescriptor, pollRequest } from '../../server/flight/poll.ts';
import type { FlightDescriptor__Output } from '../../server/grpc/generated/arrow/flight/protocol/FlightDescriptor.ts';
import type { ReadStreamRequest__Output } from '../../server/grpc/generated/seam/v1/ReadStreamRequest.ts';
import { lenientDeserializer } from '../../server/grpc/request.ts';
import { loadDefinition } from '../../server/grpc/server.ts';
import type { EntryChunk, Ledger } from '../../server/pulsar/admin.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
import { historySegments } from '../../server/pulsar/segments.ts';

const chunk = (uuid: string, chunkId: number, chunks: number): EntryChunk => ({
  uuid,
  chunkId,
  chunks,
});

test('cleanCut: a cut on an ordinary entry or a last chunk stands', (t) => {
  t.is(cleanCut([undefined, undefined]), 1);
  t.is(cleanCut([chunk('a', 0, 2), chunk('a', 1, 2)]), 1);
});

test('cleanCut: inside a chunked message, the cut steps back before its first chunk', (t) => {
  // m, a0, a1 | a2 later
  t.is(cleanCut([undefined, chunk('a', 0, 3), chunk('a', 1, 3)]), 0);
  // Its first chunk is the window's first entry: clean before the window.
  t.is(cleanCut([chunk('a', 0, 3), chunk('a', 1, 3)]), -1);
  // Its first chunk is not in the window yet: the window must grow.
  t.is(cleanCut([undefined, chunk('a', 1, 3)]), undefined);
});

test('cleanCut: interleaved messages, one complete at the cut but begun before another', (t) => {
  // c0, a0, c1 (c complete), m | a1 later: before a0 is inside c, so before c0.
  t.is(cleanCut([chunk('c', 0, 2), chunk('a', 0, 2), chunk('c', 1, 2), undefined]), -1);
  t.is(cleanCut([undefined, chunk('c', 0, 2), chunk('a', 0, 2), chunk('c', 1, 2), undefined]), 0);
  // a0, b0, a1 (a complete), b1 (b complete): the cut stands.
  t.is(cleanCut([chunk('a', 0, 2), chunk('b', 0, 2), chunk('a', 1, 2), chunk('b', 1, 2)]), 3);
});

/** A log of entries: ordinary messages and interleaved chunked messages, each entry's chunk. */
const logs = fc
  .array(fc.oneof(fc.constant(0), fc.integer({ min: 2, max: 4 })), { minLength: 1, maxLength: 8 })
  .chain((sizes) =>
    fc
      .shuffledSubarray(
        sizes.flatMap((size, m) =>
          size === 0
            ? [{ m, k: 0, size: 0 }]
            : Array.from({ length: size }, (_, k) => ({ m, k, size })),
        ),
        { minLength: sizes.reduce((n, s) => n + Math.max(1, s), 0) },
      )
      .map((entries) => {
        // Chunks of one message keep their order: renumber them by position.
        const seen = new Map<number, number>();
        return entries.map(({ m, size }) => {
          const k = seen.get(m) ?? 0;
          seen.set(m, k + 1);
          return size === 0 ? undefined : chunk(`m${m}`, k, size);
        });
      }),
  );

test('cleanCut: over a whole prefix, the largest cut no message straddles', (t) => {
  fc.assert(
    fc.property(logs, fc.nat(), (log, at) => {
      const cut = at % log.length;
      // From full knowledge: message spans (first chunk, last chunk) in the whole log.
      const spans = new Map<string, [number, number]>();
      log.forEach((c, i) => {
        if (!c) return;
        const [first, last] = spans.get(c.uuid) ?? [i, i];
        spans.set(c.uuid, [Math.min(first, i), Math.max(last, i)]);
      });
      let expected = -1;
      for (let i = cut; i >= 0; i--) {
        if ([...spans.values()].every(([first, last]) => !(first <= i && i < last))) {
          expected = i;
          break;
        }
      }
      t.is(cleanCut(log.slice(0, cut + 1)), expected);
    }),
  );
});

/** A fake admin API over a log of ledgers, counting entry calls. */
function fakeAdmin(ledgers: { ledgerId: number; entries: (EntryChunk | undefined)[] }[]) {
  const calls: string[] = [];
  return {
    calls,
    entryChunk: async (_topic: string, ledgerId: number, entryId: number) => {
      calls.push(`${ledgerId}:${entryId}`);
      return ledgers.find((l) => l.ledgerId === ledgerId)?.entries[entryId];
    },
    ledgers: async (): Promise<Ledger[]> =>
      ledgers.map((l, i) => ({
        ledgerId: l.ledgerId,
        entries: l.entries.length,
        size: l.entries.length * 100,
        offloaded: false,
        closedAt: undefined,
        open: i === ledgers.length - 1,
      })),
  };
}

test('chunkSafeCut: an ordinary last entry costs one call and stands', async (t) => {
  const admin = fakeAdmin([{ ledgerId: 5, entries: [undefined, undefined, undefined] }]);
  const last = new MessageId(5, 2, -1, 3);
  t.is(await chunkSafeCut(admin, 't', last, undefined), last);
  t.deepEqual(admin.calls, ['5:2']);
});

test('chunkSafeCut: steps back across a ledger to before the first chunk', async (t) => {
  const admin = fakeAdmin([
    { ledgerId: 5, entries: [undefined, undefined, chunk('a', 0, 4)] },
    { ledgerId: 8, entries: [] },
    { ledgerId: 9, entries: [chunk('a', 1, 4), chunk('a', 2, 4)] },
  ]);
  const cut = await chunkSafeCut(admin, 't', new MessageId(9, 1, -1, 0), undefined);
  t.is(cut?.toString(), '5:1:-1:0');
});

test('chunkSafeCut: before the partition begins, nothing; past the floor, no advance', async (t) => {
  const admin = fakeAdmin([{ ledgerId: 5, entries: [chunk('a', 0, 3), chunk('a', 1, 3)] }]);
  t.true((await chunkSafeCut(admin, 't', new MessageId(5, 1), undefined))?.isSentinel);
  // The descriptor's position is after 5:0, inside the message: no clean cut after it.
  const floor = { ledgerId: 5, entryId: 0 };
  t.true((await chunkSafeCut(admin, 't', new MessageId(5, 1), floor))?.isSentinel);
  // Nothing new since the floor: no call at all.
  admin.calls.length = 0;
  t.is((await chunkSafeCut(admin, 't', new MessageId(5, 0), floor))?.toString(), '5:0:-1:-1');
  t.deepEqual(admin.calls, []);
});

test('chunkSafeCut: a message longer than the scan bound holds the partition back', async (t) => {
  const chunks = maxCutScanEntries + 10;
  const entries = Array.from({ length: chunks - 1 }, (_, k) => chunk('big', k, chunks));
  const admin = fakeAdmin([{ ledgerId: 5, entries }]);
  t.is(await chunkSafeCut(admin, 't', new MessageId(5, chunks - 2), undefined), undefined);
  t.is(admin.calls.length, maxCutScanEntries);
});

/** A log cut into ledgers (ids 1, 2, ...) at up to four random places. */
const ledgeredLogs = logs.chain((log) =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: Math.max(1, log.length - 1) }), { maxLength: 4 })
    .map((splits) => {
      const at = [0, ...splits.filter((s) => s < log.length).sort((a, b) => a - b), log.length];
      return at.slice(1).map((end, i) => ({ ledgerId: i + 1, entries: log.slice(at[i], end) }));
    }),
);

/** The planned ranges of a whole partition (earliest to its last entry), boundaries checked. */
async function plannedRanges(
  ledgers: { ledgerId: number; entries: (EntryChunk | undefined)[] }[],
  tailed = false,
) {
  const admin = fakeAdmin(ledgers);
  const last = ledgers.at(-1) as { ledgerId: number; entries: unknown[] };
  const boundary = new MessageId(last.ledgerId, last.entries.length - 1);
  const segments = historySegments(await admin.ledgers(), { ledgerId: -1, entryId: 0 }, boundary);
  const ranges = segmentRanges(segments, { kind: 'earliest' }, boundary);
  return { admin, ...(await chunkSafeRanges(admin, 't', ranges, tailed)) };
}

test('chunkSafeRanges: every message in one range, whole, when straddlers show at the boundary', async (t) => {
  await fc.assert(
    fc.asyncProperty(ledgeredLogs, async (ledgers) => {
      const flat = ledgers.flatMap((l) =>
        l.entries.map((chunk, entryId) => ({ ledgerId: l.ledgerId, entryId, chunk })),
      );
      const spans = new Map<string, [number, number]>();
      flat.forEach(({ chunk }, i) => {
        if (!chunk) return;
        const [first, last] = spans.get(chunk.uuid) ?? [i, i];
        spans.set(chunk.uuid, [Math.min(first, i), Math.max(last, i)]);
      });
      // What boundaryCut assumes: a message across a boundary has a chunk next to it.
      let b = -1;
      for (const l of ledgers.slice(0, -1)) {
        b += l.entries.length;
        for (const [uuid, [first, last]] of spans) {
          const shows = [flat[b], flat[b + 1]].some((e) => e?.chunk?.uuid === uuid);
          fc.pre(!(first <= b && b < last) || shows);
        }
      }
      const { ranges } = await plannedRanges(ledgers);
      const index = (id: MessageId) =>
        flat.findIndex((e) => e.ledgerId === id.ledgerId && e.entryId === id.entryId);
      // Each range as (from, to] over the whole log: together, the log in order, once.
      const cover = ranges.map(({ start, last }) => {
        if (start.kind !== 'at' && start.kind !== 'after') throw new Error(start.kind);
        return [index(start.id) - (start.kind === 'at' ? 1 : 0), index(last)] as const;
      });
      const contiguous = cover.every(
        ([from, to], i) => from < to && from === (i === 0 ? -1 : cover[i - 1]?.[1]),
      );
      const whole = [...spans.values()].every(([first, last]) =>
        cover.some(([from, to]) => from < first && last <= to),
      );
      if (!(contiguous && cover.at(-1)?.[1] === flat.length - 1 && whole)) {
        t.log({ ledgers: JSON.stringify(ledgers), cover });
        return false;
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('boundaryCut: two calls when neither entry is inside a message going on', async (t) => {
  const admin = fakeAdmin([
    { ledgerId: 5, entries: [undefined, chunk('a', 0, 2), chunk('a', 1, 2)] },
    { ledgerId: 6, entries: [chunk('b', 0, 2), chunk('b', 1, 2)] },
  ]);
  const last = new MessageId(5, 2);
  t.is(await boundaryCut(admin, 't', last, { ledgerId: 6, entryId: 0 }, undefined), last);
  t.deepEqual(admin.calls, ['5:2', '6:0']);
});

test('boundaryCut: an ordinary entry ends the ledger, the next opens with a chunk begun before it', async (t) => {
  // a0 (producer A), m (producer B) | a1: the boundary is inside a.
  const admin = fakeAdmin([
    { ledgerId: 5, entries: [undefined, chunk('a', 0, 2), undefined] },
    { ledgerId: 6, entries: [chunk('a', 1, 2), undefined] },
  ]);
  const cut = await boundaryCut(
    admin,
    't',
    new MessageId(5, 2),
    { ledgerId: 6, entryId: 0 },
    undefined,
  );
  t.is(cut?.toString(), '5:0:-1:-1');
});

test('wholeMessageRanges: a message over three ledgers joins the middle range to the next', async (t) => {
  const { ranges } = await plannedRanges([
    { ledgerId: 1, entries: [undefined, chunk('a', 0, 3)] },
    { ledgerId: 2, entries: [chunk('a', 1, 3)] },
    { ledgerId: 3, entries: [chunk('a', 2, 3), undefined] },
  ]);
  t.deepEqual(ranges.map(show), ['at 1:0:-1:-1 .. 1:0:-1:-1', 'after 1:0:-1:-1 .. 3:1:-1:-1']);
  // The last range carries the stored bytes of the entries it reads in earlier ledgers.
  t.deepEqual(
    ranges.map((r) => r.carriedBytes),
    [undefined, 100 + 100],
  );
});

test('chunkSafeRanges: before a tail, the last range steps back out of a message still written', async (t) => {
  // The boundary (the last entry at open) is the second of three chunks: the tail reads it.
  const written = { ledgerId: 1, entries: [undefined, chunk('a', 0, 3), chunk('a', 1, 3)] };
  const tailed = await plannedRanges([written], true);
  t.deepEqual(tailed.ranges.map(show), ['at 1:0:-1:-1 .. 1:0:-1:-1']);
  t.deepEqual(tailed.after, { kind: 'after', id: new MessageId(1, 0, -1, -1) });
  // Without a tail the range ends at the boundary, as ReadStream's history does.
  const bounded = await plannedRanges([written]);
  t.deepEqual(bounded.ranges.map(show), ['at 1:0:-1:-1 .. 1:2:-1:-1']);
  t.is(bounded.after, undefined);
  // Nothing whole before it: no range, and the tail starts where the range did.
  const only = await plannedRanges(
    [{ ledgerId: 1, entries: [chunk('a', 0, 3), chunk('a', 1, 3)] }],
    true,
  );
  t.deepEqual(only.ranges, []);
  t.deepEqual(only.after, { kind: 'at', id: new MessageId(1, 0) });
});

test('wholeMessageRanges: a range starting at a publish time whose end moves joins the next', (t) => {
  const segment = (ledgerId: number) => ({
    ledgerId,
    firstEntry: 0,
    lastEntry: 9,
    entryBytes: 10,
    offloaded: false,
  });
  const ranges = segmentRanges(
    [segment(3), segment(4)],
    { kind: 'publishTime', ms: 5 },
    new MessageId(4, 9),
  );
  const joined = wholeMessageRanges(ranges, [new MessageId(3, 6), new MessageId(4, 9)]).ranges;
  t.deepEqual(joined.map(show), ['publishTime .. 4:9:-1:-1']);
  t.is(joined[0]?.carriedBytes, 100);
  // A position start: cut there, the next range right after.
  const at = segmentRanges([segment(3), segment(4)], { kind: 'earliest' }, new MessageId(4, 9));
  const cut = wholeMessageRanges(at, [new MessageId(3, 6), new MessageId(4, 9)]).ranges;
  t.deepEqual(cut.map(show), ['at 3:0:-1:-1 .. 3:6:-1:-1', 'after 3:6:-1:-1 .. 4:9:-1:-1']);
  t.deepEqual(
    cut.map((r) => r.carriedBytes),
    [undefined, 30],
  );
});

const show = (r: { start: Position; last: MessageId }) =>
  `${r.start.kind}${'id' in r.start ? ` ${r.start.id}` : ''} .. ${r.last}`;

test('partitionCut: an end written is the cut and done; an end time past is done unless held back', async (t) => {
  const last = new MessageId(7, 10);
  const same = async (l: MessageId) => l;
  const end = new MessageId(7, 4, 2);
  t.deepEqual(await partitionCut(last, end, undefined, 0, same), { cut: end, done: true });
  // The end beyond the last message: up to the last, not done.
  const later = new MessageId(9, 0);
  t.deepEqual(await partitionCut(last, later, undefined, 0, same), { cut: last, done: false });
  // An empty end reads nothing and is done at once.
  const nothing = await partitionCut(last, MessageId.earliest, undefined, 0, same);
  t.true(nothing.done && nothing.cut.isSentinel);
  // End time: past and caught up = done; held back by a chunked message = not yet.
  t.deepEqual(await partitionCut(last, undefined, 100, 200, same), { cut: last, done: true });
  t.deepEqual(await partitionCut(last, undefined, 300, 200, same), { cut: last, done: false });
  const back = new MessageId(7, 6);
  t.deepEqual(await partitionCut(last, undefined, 100, 200, async () => back), {
    cut: back,
    done: false,
  });
  // An empty partition with an end time past: done, nothing read.
  t.true((await partitionCut(undefined, undefined, 100, 200, same)).done);
});

test('nextStarts: after the cut where a range was planned, the old position elsewhere', (t) => {
  const starts = new Map<number, Position>([
    [0, { kind: 'earliest' }],
    [1, { kind: 'after', id: new MessageId(3, 4) }],
    [2, { kind: 'publishTime', ms: 1000 }],
  ]);
  const cuts = [
    { partition: 0, cut: new MessageId(3, 9) },
    { partition: 1, cut: new MessageId(3, 4) },
    { partition: 2, cut: MessageId.earliest },
  ];
  const next = nextStarts(cuts, starts, new Set([0]));
  t.deepEqual(next.get(0), { kind: 'after', id: new MessageId(3, 9) });
  t.deepEqual(next.get(1), starts.get(1));
  t.deepEqual(next.get(2), starts.get(2));
});

const readStream = (
  loadDefinition()['seam.v1.SeamService'] as unknown as Record<
    string,
    grpc.MethodDefinition<unknown, unknown>
  >
).ReadStream;
const deserialize = lenientDeserializer(
  readStream?.requestDeserialize as (bytes: Buffer) => ReadStreamRequest__Output,
);
const serialize = readStream?.requestSerialize as (request: object) => Buffer;

const asOutput = (d: { type: 'CMD' | 'PATH'; cmd?: Buffer; path?: string[] }) =>
  ({ cmd: Buffer.alloc(0), path: [], ...d }) as FlightDescriptor__Output;

const starts = new Map<number, Position>([
  [0, { kind: 'after', id: new MessageId(12, 7) }],
  [1, { kind: 'earliest' }],
]);

test('the next descriptor of a JSON command is JSON, with every other option kept', (t) => {
  const command = {
    topic: 'orders',
    startPublishTime: '2026-11-05T00:00:00Z',
    endPublishTime: '2027-01-01T00:00:00Z',
    columns: ['value'],
    batching: { maxRows: 10 },
  };
  const polled = asOutput({ type: 'CMD', cmd: Buffer.from(JSON.stringify(command)) });
  const next = nextDescriptor(polled, starts, undefined);
  t.is(next.type, 'CMD');
  const text = Buffer.from(next.cmd as Buffer).toString('utf8');
  t.deepEqual(JSON.parse(text), {
    topic: 'orders',
    endPublishTime: '2027-01-01T00:00:00Z',
    columns: ['value'],
    batching: { maxRows: 10 },
    startPositions: {
      positions: [
        { afterMessageId: new MessageId(12, 7).serialize().toString('base64') },
        { partition: 1, fromEarliest: true },
      ],
    },
  });
  // It is a command GetFlightInfo and PollFlightInfo read: from those positions.
  const request = descriptorRequest(asOutput(next as { type: 'CMD'; cmd: Buffer }), deserialize);
  t.deepEqual(request.start, { kind: 'positions', positions: starts });
  t.deepEqual(request.end, { kind: 'publishTime', ms: Date.parse('2027-01-01T00:00:00Z') });
});

test('the next descriptor of a serialized command is serialized; at_open becomes end positions', (t) => {
  const polled = asOutput({
    type: 'CMD',
    cmd: serialize({ topic: 'orders', earliest: {}, at_open: {}, columns: ['__key'] }),
  });
  const ends = new Map([
    [0, new MessageId(12, 9)],
    [1, MessageId.earliest],
  ]);
  const next = nextDescriptor(polled, starts, ends);
  t.not((next.cmd as Buffer)[0], 0x7b);
  const request = descriptorRequest(asOutput(next as { type: 'CMD'; cmd: Buffer }), deserialize);
  t.deepEqual(request.start, { kind: 'positions', positions: starts });
  t.is(request.end.kind, 'positions');
  if (request.end.kind === 'positions') {
    t.is(request.end.last.get(0)?.toString(), '12:9:-1:-1');
    t.true(request.end.last.get(1)?.isSentinel);
  }
  t.deepEqual(request.columns, ['__key']);
});

test('a polled PATH follows the topic from earliest; its next descriptor is a JSON command', (t) => {
  const path = asOutput({ type: 'PATH', path: ['orders'] });
  const request = pollRequest(path, deserialize);
  t.deepEqual([request.start, request.end], [{ kind: 'earliest' }, { kind: 'follow' }]);
  const next = nextDescriptor(path, starts, undefined);
  const json = JSON.parse(Buffer.from(next.cmd as Buffer).toString('utf8'));
  t.is(json.topic, 'orders');
  t.deepEqual(json.follow, {});
  t.is(json.startPositions.positions.length, 2);
});
