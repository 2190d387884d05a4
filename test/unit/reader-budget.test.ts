/**
 * The reader's byte budget against entries that hold more than it: a batch of many small
 * messages, and chunked messages that never complete. A fake broker sends crafted entries;
 * no Pulsar needed.
 */
import test from 'ava';
import { MemoryPool } from '../../server/memory-pool.ts';
import { PulsarClient } from '../../server/pulsar/client.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
import { type Message, messageOverheadBytes, Reader } from '../../server/pulsar/reader.ts';
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
