/** The flow-control arithmetic of flow-control.ts: permits granted in each case, no broker. */
import test from 'ava';
import { MemoryPool } from '../../server/memory-pool.ts';
import {
  FlowControl,
  type FlowState,
  MemoryHold,
  permitsToGrant,
} from '../../server/pulsar/flow-control.ts';

const kib = 1024;
/** A reader well into its read: 100 entries seen, 1 KiB each, nothing queued or asked. */
const base: FlowState = {
  receiverQueueSize: 1000,
  receiverQueueBytes: 8 * 1024 * kib,
  queuedMessages: 0,
  queuedBytes: 0,
  permitsInFlight: 0,
  entryBytes: kib,
  entriesSeen: 100,
  memoryFree: undefined,
};

test('slow start: one permit before the first entry, then twice the entries seen', (t) => {
  t.is(permitsToGrant({ ...base, entryBytes: undefined, entriesSeen: 0 }).permits, 1);
  t.is(permitsToGrant({ ...base, entriesSeen: 3 }).permits, 6);
  t.is(permitsToGrant({ ...base, entriesSeen: 40 }).permits, 80);
});

test('the message bound: the queue plus the permits in flight stay under receiverQueueSize', (t) => {
  t.is(permitsToGrant(base).permits, 200); // slow start: 2 × 100 entries seen
  t.is(permitsToGrant({ ...base, entriesSeen: 10_000 }).permits, 1000);
  t.is(permitsToGrant({ ...base, entriesSeen: 10_000, queuedMessages: 400 }).permits, 600);
  // Under half the window free: wait for the stream to take messages.
  t.deepEqual(permitsToGrant({ ...base, entriesSeen: 10_000, queuedMessages: 600 }), {
    permits: 0,
    waitForMemory: false,
  });
});

test('the byte bound: permits × entry size fit in what receiverQueueBytes leaves', (t) => {
  const big = { ...base, entriesSeen: 10_000, entryBytes: 64 * kib };
  t.is(permitsToGrant(big).permits, 128); // 8 MiB / 64 KiB
  t.is(permitsToGrant({ ...big, queuedBytes: 4 * 1024 * kib }).permits, 64);
  t.is(permitsToGrant({ ...big, queuedBytes: 4 * 1024 * kib, permitsInFlight: 10 }).permits, 0);
});

test('a reader with nothing queued and nothing asked always gets one permit', (t) => {
  // An entry larger than the whole byte budget, and no memory free: still one.
  const huge = { ...base, entryBytes: 64 * 1024 * kib, memoryFree: 0 };
  t.deepEqual(permitsToGrant(huge), { permits: 1, waitForMemory: false });
  // Not idle: nothing, and no use waiting for memory while the queue is over its bound.
  t.deepEqual(permitsToGrant({ ...huge, queuedMessages: 1, queuedBytes: 64 * 1024 * kib }), {
    permits: 0,
    waitForMemory: false,
  });
});

test('the memory budget: permits fit in what it has free, else wait for a release', (t) => {
  t.is(permitsToGrant({ ...base, memoryFree: 150 * kib }).permits, 150);
  t.deepEqual(permitsToGrant({ ...base, queuedMessages: 5, memoryFree: 10 * kib }), {
    permits: 0,
    waitForMemory: true,
  });
});

test('a memory hold takes and gives back the difference, and wakes a waiter on release', (t) => {
  const pool = new MemoryPool(100);
  const hold = new MemoryHold(pool);
  hold.set(80);
  t.is(pool.used, 80);
  let woken = 0;
  hold.waitForRelease(() => woken++);
  hold.set(30);
  t.is(pool.used, 30);
  t.is(woken, 1);
  hold.stopWaiting();
  hold.handOff(30);
  hold.set(0);
  t.is(pool.used, 30, 'bytes handed off are released by their new holder');
  t.is(woken, 1);
});

test("a reader's flow control: permits granted, a batch past them paid back, memory held for both", (t) => {
  const pool = new MemoryPool(100 * kib);
  const flow = new FlowControl({
    receiverQueueSize: 1000,
    receiverQueueBytes: 64 * kib,
    memory: pool,
  });
  const empty = { messages: 0, bytes: 0 };
  let retries = 0;
  const retry = () => retries++;
  // Before the first entry: one permit, to learn the entry size.
  t.is(flow.grant(empty, retry), 1);
  t.is(flow.permitsInFlight, 1);
  // That permit brought a batch of 10 messages, 1 KiB in all: 9 past the permit.
  flow.received(10, kib);
  t.is(flow.permitsInFlight, 0);
  flow.settle(kib);
  t.is(pool.used, kib, 'what is queued, nothing in flight');
  // Slow start: 2 permits (twice the entries seen), plus the 9 the broker sent past them.
  t.is(flow.grant({ messages: 10, bytes: kib }, retry), 2 + 9);
  t.is(flow.permitsInFlight, 2);
  flow.settle(kib);
  t.is(pool.used, kib + 2 * kib, 'the queue and an entry per permit in flight');
  // A new consumer has no permits; a closed reader holds nothing.
  flow.resetPermits();
  t.is(flow.permitsInFlight, 0);
  flow.settle(undefined);
  t.is(pool.used, 0);
  t.is(retries, 0);
});

test('a flow control out of memory grants nothing and retries when memory is released', (t) => {
  const pool = new MemoryPool(4 * kib);
  const flow = new FlowControl({
    receiverQueueSize: 1000,
    receiverQueueBytes: 64 * kib,
    memory: pool,
  });
  t.is(
    flow.grant({ messages: 0, bytes: 0 }, () => {}),
    1,
  );
  flow.received(1, kib);
  pool.force(4 * kib);
  let retries = 0;
  t.is(
    flow.grant({ messages: 1, bytes: kib }, () => retries++),
    0,
  );
  pool.release(4 * kib);
  t.is(retries, 1);
});
