/**
 * Reading while things break: reads a whole topic slowly with Seam's reader and runs a
 * fault (an unload, a broker restart) at chosen points, returning every message read.
 */
import type { PulsarClient } from '../../server/pulsar/client.ts';
import type { Message } from '../../server/pulsar/message.ts';
import { Reader } from '../../server/pulsar/reader.ts';

/**
 * Reads `count` messages with a small prefetch, calling `fault` whenever `every` more
 * messages have been read since the last one.
 */
export async function readThroughFaults(
  client: PulsarClient,
  topic: string,
  count: number,
  every: number,
  fault: (readSoFar: number) => Promise<void>,
): Promise<{ messages: Message[]; reconnects: number }> {
  // A small queue keeps most of the backlog on the broker, so faults hit mid-read.
  const reader = await Reader.open(client, { topic, receiverQueueSize: 50 });
  const messages: Message[] = [];
  let nextFault = every;
  const signal = AbortSignal.timeout(120_000);
  try {
    while (messages.length < count) {
      messages.push(...(await reader.receive(signal)));
      if (messages.length >= nextFault && messages.length < count) {
        nextFault = messages.length + every;
        await fault(messages.length);
      }
    }
    return { messages, reconnects: reader.reconnects };
  } finally {
    await reader.close();
  }
}
