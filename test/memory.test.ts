/**
 * Memory bounded per reader and in total, against the real standalone: a reader of large
 * messages keeps its queue under its byte bound; streams sharing a small memory budget all
 * read every row, in order, while what they hold stays within the budget (and the same
 * streams without a budget hold far more, so the budget is what bounds them).
 */
import test from 'ava';
import { defaultBatchLimits } from '../server/core/request.ts';
import { readStream, type StreamDeps } from '../server/core/stream.ts';
import { MemoryPool } from '../server/memory-pool.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { messageOverheadBytes } from '../server/pulsar/flow-control.ts';
import { MessageId } from '../server/pulsar/message-id.ts';
import { Reader, readerStats } from '../server/pulsar/reader.ts';
import { startGateway } from './support/gateway.ts';
import { pausedStream } from './support/gateway-process.ts';
import {
  ensurePulsar,
  freshTopic,
  type OfficialMessageId,
  produce,
  pulsar,
} from './support/pulsar.ts';
import { testClient } from './support/seam-reader.ts';

const client = testClient();
const admin = new PulsarAdmin({ webServiceUrl: pulsar.webUrl });
test.before(ensurePulsar);
test.after.always(() => client.close());

const KiB = 1024;
const MiB = 1024 * KiB;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const idOf = (id: { ledgerId: number; entryId: number; batchIndex: number }) =>
  `${id.ledgerId}:${id.entryId}:${id.batchIndex}`;
const officialId = (id: OfficialMessageId) => `${id.ledger}:${id.entry}:${id.batch_index}`;

test('a reader of 200 KiB messages queues no more than its byte bound (and one message)', async (t) => {
  const topic = freshTopic('large-messages');
  const size = 200 * KiB;
  const produced = await produce(topic, { count: 40, size, batching: false }); // 8 MB
  const bound = 1 * MiB;
  const reader = await Reader.open(client, {
    topic,
    receiverQueueSize: 1000,
    receiverQueueBytes: bound,
  });
  try {
    // Nobody takes messages: the reader fills up to its bound and stops.
    let before = -1;
    while (reader.queuedBytes !== before) {
      before = reader.queuedBytes;
      await sleep(500);
    }
    const one = size + messageOverheadBytes;
    t.log(
      `${reader.queuedMessages} messages (${reader.queuedBytes} B) queued for a ${bound} B bound`,
    );
    t.true(reader.queuedMessages > 0);
    t.true(
      reader.queuedBytesHighWater <= bound + one,
      `${reader.queuedBytesHighWater} B queued at most`,
    );
    t.true(reader.permitsInFlight * one + reader.queuedBytes <= bound + one);
    // Then every message, in order.
    const got: string[] = [];
    const signal = AbortSignal.timeout(30_000);
    while (got.length < produced.length) {
      for (const m of await reader.receive(signal)) got.push(idOf(m.messageId));
      t.true(reader.queuedBytesHighWater <= bound + one);
    }
    t.deepEqual(got, produced.map(officialId));
  } finally {
    await reader.close();
  }
});

/** Reads `topic` to its end (at open), slowly: message ids in order, and what was held. */
async function readSlowly(deps: StreamDeps, topic: string): Promise<string[]> {
  const request = {
    topic,
    start: { kind: 'earliest' as const },
    end: { kind: 'atOpen' as const },
    columns: ['__messageId'],
    batching: { ...defaultBatchLimits, maxRows: 250 },
  };
  const ids: string[] = [];
  for await (const event of readStream(deps, request, AbortSignal.timeout(120_000))) {
    if (event.kind !== 'batch') continue;
    const column = event.batch.getChild('__messageId');
    for (let i = 0; i < event.batch.numRows; i++) {
      ids.push(idOf(MessageId.deserialize(Buffer.from(column?.get(i) as Uint8Array))));
    }
    await sleep(5); // a client slower than Pulsar: buffers fill if nothing bounds them
  }
  return ids;
}

test('streams sharing a small memory budget all read every row, in order, within the budget', async (t) => {
  const topic = freshTopic('memory-budget');
  // 3000 unbatched 2 KiB messages: three ledgers (the standalone rolls every 1000 entries),
  // so each stream reads by segment, with up to 4 readers.
  const produced = (await produce(topic, { count: 3000, size: 2 * KiB, batching: false })).map(
    officialId,
  );
  const streams = 12;
  const budget = 4 * MiB;
  const run = async (memory: MemoryPool) => {
    const deps: StreamDeps = { client, admin, memory, historyParallelism: 4 };
    const reads = await Promise.all(Array.from({ length: streams }, () => readSlowly(deps, topic)));
    for (const ids of reads) t.deepEqual(ids, produced);
    t.is(memory.used, 0, 'every byte taken is given back when the streams end');
    return memory.highWater;
  };
  // The same streams counted but not bounded: what they would hold.
  const unbounded = await run(new MemoryPool(Number.MAX_SAFE_INTEGER));
  const bounded = await run(new MemoryPool(budget));
  // Past the budget: at most one entry per reader (a stream's minimum to move on), and the
  // row each stream's batch is writing (a batch is taken past the budget too: core/batch.ts).
  const minimums = streams * 6 * (2 * KiB + messageOverheadBytes);
  t.log(
    `${streams} streams held at most ${(unbounded / MiB).toFixed(1)} MiB without a budget, ${(bounded / MiB).toFixed(2)} MiB with a ${budget / MiB} MiB budget`,
  );
  t.true(unbounded > 2 * budget, 'without a budget the streams hold more than twice it');
  t.true(bounded <= budget + minimums, `${bounded} B held at most`);
});

test.serial(
  'one receive of 200 K messages (a whole prefetch) goes through the stream',
  async (t) => {
    const topic = freshTopic('large-receive');
    await produce(topic, { count: 200_000, size: 10, batchMaxMessages: 1000 });
    const deps: StreamDeps = {
      client,
      admin,
      historyParallelism: 1,
      receiverQueueSize: 300_000,
      receiverQueueBytes: 1024 * MiB,
    };
    const request = {
      topic,
      start: { kind: 'earliest' as const },
      end: { kind: 'atOpen' as const },
      columns: ['__messageId'],
      batching: { ...defaultBatchLimits, maxRows: 1000 },
    };
    // Watches how many messages one receive hands the stream (this test runs alone, first).
    const receive = Reader.prototype.receive;
    let largest = 0;
    Reader.prototype.receive = async function (this: Reader, signal?: AbortSignal) {
      const messages = await receive.call(this, signal);
      largest = Math.max(largest, messages.length);
      return messages;
    };
    let rows = 0;
    try {
      for await (const event of readStream(deps, request, AbortSignal.timeout(120_000))) {
        if (event.kind !== 'batch') continue;
        // Paused after the first batch, the reader queues the rest: a receive then hands it
        // all back at once (a spread `push(...messages)` overflowed the stack here).
        if (rows === 0) {
          for (let last = -1; readerStats().queuedMessages !== last; await sleep(1000)) {
            last = readerStats().queuedMessages;
          }
        }
        rows += event.batch.numRows;
      }
    } finally {
      Reader.prototype.receive = receive;
    }
    t.log(`${largest} messages handed out by one receive`);
    t.true(largest >= 100_000);
    t.is(rows, 200_000);
  },
);

test('a paused client holds the budget and its minimum; cancelled, it gives every byte back', async (t) => {
  const topic = freshTopic('memory-paused');
  await produce(topic, { count: 400, size: 50 * KiB, batching: false }); // 20 MiB
  const budget = 8 * MiB;
  const memory = new MemoryPool(budget);
  const gw = await startGateway({ memory });
  try {
    const stream = await pausedStream(`127.0.0.1:${gw.gateway.port}`, topic);
    await sleep(2000);
    const held = memory.used;
    stream.close();
    // Unsent responses of a cancelled call may never call back: the stream's end releases them.
    for (let i = 0; i < 50 && memory.used > 0; i++) await sleep(100);
    t.log(
      `paused: ${(held / MiB).toFixed(1)} MiB held (high-water ${(memory.highWater / MiB).toFixed(1)} MiB) of ${budget / MiB} MiB; after cancelling: ${memory.used} B`,
    );
    t.true(held > budget / 2, 'the paused stream filled its share');
    // Past the budget: one response set (a batch, under 3 MiB) and one entry.
    t.true(memory.highWater <= budget + 3 * MiB + 51 * KiB, `${memory.highWater} B at most`);
    t.is(memory.used, 0);
  } finally {
    await gw.close();
  }
});

test('streams on 1000-message batches keep within the budget and a window each', async (t) => {
  const topic = freshTopic('memory-batched');
  // A small first entry, as a producer's first batch often is: sized from it alone, a
  // reader's permits would bring up to 100 of the large ones at once.
  const first = await produce(topic, { count: 1, size: 100, batching: false });
  const rest = await produce(topic, { count: 20_000, size: 100, batchMaxMessages: 1000 });
  const produced = [...first, ...rest].map(officialId);
  const streams = 24;
  const budget = 8 * MiB;
  const memory = new MemoryPool(budget);
  const window = 2 * MiB;
  const deps: StreamDeps = { client, admin, memory, receiverQueueBytes: window };
  const reads = await Promise.all(Array.from({ length: streams }, () => readSlowly(deps, topic)));
  for (const ids of reads) t.deepEqual(ids, produced);
  t.is(memory.used, 0);
  // Past the budget: per reader, one entry (1000 messages, its minimum) and a burst the
  // broker read before the count saw it (up to its window: docs/operations.md, Memory, known gap).
  const entry = 1000 * (100 + messageOverheadBytes);
  t.log(
    `${streams} streams held at most ${(memory.highWater / MiB).toFixed(1)} MiB with a ${budget / MiB} MiB budget`,
  );
  t.true(
    memory.highWater <= budget + streams * (window + entry),
    `${memory.highWater} B held at most`,
  );
});

test('the batch being built is counted in the memory budget, and goes out early when memory is used up', async (t) => {
  // 1,500 messages of 10 KiB, read by one reader with a 512 KiB queue into batches of up
  // to 16 MiB: a batch larger than the queue is held by the batch being built.
  const topic = freshTopic('batch-counted');
  await produce(topic, { count: 1500, size: 10 * KiB, batching: false });
  const queue = 512 * KiB;
  const read = async (budget: number) => {
    const memory = new MemoryPool(budget);
    const deps: StreamDeps = {
      client,
      admin,
      memory,
      receiverQueueBytes: queue,
      historyParallelism: 1,
    };
    const request = {
      topic,
      start: { kind: 'earliest' } as const,
      end: { kind: 'atOpen' } as const,
      columns: [],
      batching: { ...defaultBatchLimits, maxRows: 1_000_000, maxBytes: 16 * MiB },
    };
    let largest = 0;
    let rows = 0;
    /** The least share of a large batch's bytes that memory held while it was built. */
    let counted = Number.POSITIVE_INFINITY;
    for await (const event of readStream(deps, request, new AbortController().signal)) {
      if (event.kind !== 'batch') continue;
      const bytes = event.batch.data.byteLength;
      rows += event.batch.numRows;
      largest = Math.max(largest, bytes);
      if (bytes > 4 * queue) counted = Math.min(counted, memory.highWater / bytes);
      memory.resetHighWater();
    }
    return { largest, rows, counted, used: memory.used };
  };
  const roomy = await read(256 * MiB);
  t.log(`budget 256 MiB: largest batch ${roomy.largest} B, held ${roomy.counted} of it`);
  t.is(roomy.rows, 1500);
  t.true(roomy.largest > 4 * queue, 'batches larger than the reader queue were built');
  t.true(roomy.counted >= 0.8, 'the batch being built was counted');
  t.is(roomy.used, 0, 'all given back at the end');
  const tight = await read(2 * MiB);
  t.log(`budget 2 MiB: largest batch ${tight.largest} B`);
  t.is(tight.rows, 1500);
  // About the budget (the batch is counted in it), far below the 16 MiB limit.
  t.true(tight.largest < 3 * MiB, 'with the memory used up, batches went out early');
});
