/**
 * The reader's byte budget against entries that hold more than it: a batch of many small
 * messages, and chunked messages that never complete. A fake broker sends crafted entries;
 * no Pulsar needed.
 */
import test from 'ava';
import { MemoryPool } from '../../server/memory-pool.ts';
import { PulsarClient } from '../../server/pulsar/client.ts';
import { messageOverheadBytes } from '../../server/pulsar/flow-control.ts';
import type { Message } from '../../server/pulsar/message.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
import { CommandType } from '../../server/pulsar/protocol/commands.ts';
import { Reader } from '../../server/pulsar/reader.ts';
import { batchPayload, entryBytes, messageFrame, startFakeBroker } from './support/fake-broker.ts';

const topic = 'persistent://public/default/crafted';

test('a batch of 50,000 messages is queued within the reader’s byte budget, every message in order', async (t) => {
  const broker = await startFakeBroker();
  const client = new PulsarClient({ serviceUrl: broker.url });
  const memory = new MemoryPool(64 * 1024 * 1024);
  const receiverQueueBytes = 1024 * 1024; // 1 MiB
  try {
    const reader = await Reader.open(client, { topic, receiverQueueBytes, memory });
    const consumerId = await broker.subscribed();
    const count = 50_000;
    const values = Array.from({ length: count }, (_, i) => Buffer.from([i % 256]));
    const entry = entryBytes({ numMessagesInBatch: count }, batchPayload(values));
    broker.send(messageFrame(consumerId, new MessageId(7, 0), entry));
    const got: Message[] = [];
    const signal = AbortSignal.timeout(20_000);
    while (got.length < count) got.push(...(await reader.receive(signal)));
    t.is(got.length, count);
    t.deepEqual(
      got.slice(0, 3).map((m) => m.messageId.batchIndex),
      [0, 1, 2],
    );
    t.true(got.every((m, i) => m.messageId.batchIndex === i && m.payload[0] === i % 256));
    // Materialised in slices of the budget, never the whole batch at once (50,000 × ~400 B).
    const oneMessage = 1 + messageOverheadBytes;
    t.true(
      reader.queuedBytesHighWater <= receiverQueueBytes + oneMessage,
      `queued at most ${reader.queuedBytesHighWater} bytes`,
    );
    // The batch's messages were counted before they were made: no permit asked while it lasted.
    t.is(broker.permits, 1);
    await reader.close();
    t.is(memory.used, 0);
  } finally {
    await client.close();
    await broker.close();
  }
});

/** A reader on a fake broker, and a way to send it entries at increasing positions. */
async function craftedReader(options: { memory?: MemoryPool } = {}) {
  const broker = await startFakeBroker();
  const client = new PulsarClient({ serviceUrl: broker.url });
  const reader = await Reader.open(client, { topic, ...options });
  const consumerId = await broker.subscribed();
  let entryId = 0;
  return {
    reader,
    /** Sends an entry; returns its id. */
    send(entry: Buffer): MessageId {
      const id = new MessageId(7, entryId++);
      broker.send(messageFrame(consumerId, id, entry));
      return id;
    },
    async close() {
      await reader.close();
      await client.close();
      await broker.close();
    },
  };
}

/** Chunk `chunkId` of `chunks` of the message `uuid` by `producer`, each `size` bytes. */
function chunk(
  producer: string,
  uuid: string,
  chunkId: number,
  options: { chunks?: number; size?: number; at?: number } = {},
): Buffer {
  const { chunks = 2, size = 10, at = 1_700_000_000_000 } = options;
  return entryBytes(
    {
      producerName: producer,
      uuid,
      chunkId,
      numChunksFromMsg: chunks,
      totalChunkMsgSize: chunks * size,
      publishTime: at,
    },
    Buffer.alloc(size, chunkId + 1),
    { brokerTimestamp: at },
  );
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('incomplete chunked messages are counted in memory, and one more than the limit is an error, not a drop', async (t) => {
  const memory = new MemoryPool(256 * 1024 * 1024);
  const c = await craftedReader({ memory });
  try {
    const mib = 1024 * 1024;
    for (let p = 0; p < 10; p++) c.send(chunk(`producer-${p}`, `u${p}`, 0, { size: mib }));
    await until(() => memory.used >= 10 * mib, `10 MiB counted (${memory.used} B)`);
    c.send(chunk('producer-10', 'u10', 0, { size: mib }));
    const error = await t.throwsAsync(c.reader.receive(AbortSignal.timeout(10_000)));
    t.regex(error?.message ?? '', /more than 10 chunked messages are incomplete at once/);
    t.is((error as { kind?: string }).kind, 'UnreadableMessage');
    await until(() => memory.used === 0, 'the failed reader to release its memory');
  } finally {
    await c.close();
  }
});

test('an incomplete chunked message expires on the topic clock; a late chunk of it is an error', async (t) => {
  const memory = new MemoryPool(256 * 1024 * 1024);
  const c = await craftedReader({ memory });
  try {
    const t0 = 1_700_000_000_000;
    c.send(chunk('a', 'ua', 0, { size: 1000, at: t0 }));
    await until(() => memory.used >= 1000, 'the first chunk counted');
    // Another producer's message 61 s later by the broker's clock: "ua" is abandoned.
    c.send(
      entryBytes({ producerName: 'b', publishTime: t0 }, Buffer.from('b'), {
        brokerTimestamp: t0 + 61_000,
      }),
    );
    const [message] = await c.reader.receive(AbortSignal.timeout(10_000));
    t.is(message?.payload.toString(), 'b');
    c.send(chunk('a', 'ua', 1, { size: 1000, at: t0 + 62_000 }));
    const error = await t.throwsAsync(c.reader.receive(AbortSignal.timeout(10_000)));
    t.regex(
      error?.message ?? '',
      /chunked message ua .* arrived after Seam dropped the message incomplete: it was incomplete 60000 ms after its first chunk/,
    );
  } finally {
    await c.close();
  }
});

test('chunks: a message its producer abandoned is dropped, resent and repeated chunks are assembled once', async (t) => {
  const c = await craftedReader();
  try {
    c.send(chunk('a', 'abandoned', 0));
    c.send(chunk('a', 'next', 0)); // producer "a" moved on
    c.send(chunk('c', 'resent', 0, { chunks: 3 }));
    c.send(chunk('a', 'next', 1));
    c.send(chunk('c', 'resent', 0, { chunks: 3 })); // sent again after a reconnect
    const first = c.send(chunk('c', 'resent', 0, { chunks: 3 }));
    c.send(chunk('c', 'resent', 1, { chunks: 3 }));
    c.send(chunk('c', 'resent', 1, { chunks: 3 })); // a duplicate
    c.send(chunk('c', 'resent', 2, { chunks: 3 }));
    const got: Message[] = [];
    while (got.length < 2) got.push(...(await c.reader.receive(AbortSignal.timeout(10_000))));
    t.deepEqual(
      got.map((m) => [...m.payload]),
      [
        [...Buffer.alloc(10, 1), ...Buffer.alloc(10, 2)],
        [...Buffer.alloc(10, 1), ...Buffer.alloc(10, 2), ...Buffer.alloc(10, 3)],
      ],
    );
    t.is(got[1]?.messageId.firstChunk?.entryId, first.entryId);
    c.send(chunk('a', 'abandoned', 1));
    const error = await t.throwsAsync(c.reader.receive(AbortSignal.timeout(10_000)));
    t.regex(error?.message ?? '', /its producer a sent another message before its last chunk/);
  } finally {
    await c.close();
  }
});

test('a chunk missing from a chunked message is an error', async (t) => {
  const c = await craftedReader();
  try {
    c.send(chunk('a', 'gap', 0, { chunks: 3 }));
    c.send(chunk('a', 'gap', 2, { chunks: 3 }));
    const error = await t.throwsAsync(c.reader.receive(AbortSignal.timeout(10_000)));
    t.regex(error?.message ?? '', /chunk 1 is missing/);
  } finally {
    await c.close();
  }
});

test('a burst of batched entries read off the socket together is answered by fewer FLOWs than entries', async (t) => {
  const broker = await startFakeBroker();
  const client = new PulsarClient({ serviceUrl: broker.url });
  try {
    const reader = await Reader.open(client, { topic });
    const consumerId = await broker.subscribed();
    // 100 messages of 1000 B an entry, as a batching producer writes them.
    const values = Array.from({ length: 100 }, () => Buffer.alloc(1000, 7));
    const entry = entryBytes({ numMessagesInBatch: values.length }, batchPayload(values));
    const got: Message[] = [];
    const signal = AbortSignal.timeout(20_000);
    broker.send(messageFrame(consumerId, new MessageId(7, 0), entry));
    while (got.length < 100) got.push(...(await reader.receive(signal)));
    // 40 entries (4 MB) in one write: the reader takes each as it is complete.
    const entries = 40;
    const flows = () => broker.commands.filter((c) => c.type === CommandType.FLOW).length;
    const before = flows();
    broker.send(
      Buffer.concat(
        Array.from({ length: entries }, (_, i) =>
          messageFrame(consumerId, new MessageId(7, i + 1), entry),
        ),
      ),
    );
    while (got.length < 100 * (entries + 1)) got.push(...(await reader.receive(signal)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const sent = flows() - before;
    t.log(`${entries} entries, ${sent} FLOW commands`);
    t.true(sent >= 1, 'permits came back');
    // Each FLOW is a socket write. Granted at each take, the reader sent 61 for these 40
    // entries; granted once the socket's data at hand is read, 6 (19 on a loaded machine).
    t.true(sent < entries, `${sent} FLOW commands for ${entries} entries`);
    await reader.close();
  } finally {
    await client.close();
    await broker.close();
  }
});
