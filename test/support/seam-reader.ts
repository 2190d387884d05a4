/**
 * Reads with Seam's own Pulsar reader and puts messages in the official client's shape,
 * so tests compare the two field by field.
 */
import { PulsarClient } from '../../server/pulsar/client.ts';
import type { Message } from '../../server/pulsar/message.ts';
import type { MessageId } from '../../server/pulsar/message-id.ts';
import { Reader, type ReaderOptions } from '../../server/pulsar/reader.ts';
import { type OfficialMessage, pulsar } from './pulsar.ts';

/** A client for the test standalone; close it in an after hook. */
export function testClient(): PulsarClient {
  return new PulsarClient({ serviceUrl: pulsar.serviceUrl, operationTimeoutMs: 20_000 });
}

/** Reads exactly `count` messages (waiting at most `timeoutMs`), then closes the reader. */
export async function readCount(
  client: PulsarClient,
  options: ReaderOptions,
  count: number,
  timeoutMs = 60_000,
): Promise<Message[]> {
  const reader = await Reader.open(client, options);
  const signal = AbortSignal.timeout(timeoutMs);
  const out: Message[] = [];
  try {
    while (out.length < count) out.push(...(await reader.receive(signal)));
  } finally {
    await reader.close();
  }
  return out;
}

/** A Seam message in official.py's JSON shape. */
export function asOfficial(m: Message): OfficialMessage {
  return {
    message_id: officialId(m.messageId),
    topic: m.topic,
    key: m.key ?? null,
    properties: m.properties,
    publish_time: m.publishTime,
    event_time: m.eventTime ?? null,
    value_b64: m.payload.toString('base64'),
  };
}

function officialId(id: MessageId): OfficialMessage['message_id'] {
  return {
    ledger: id.ledgerId,
    entry: id.entryId,
    partition: id.partition,
    batch_index: id.batchIndex,
    serialized_b64: id.serialize().toString('base64'),
  };
}
