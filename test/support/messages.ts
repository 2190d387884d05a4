/** Messages as the reader hands them to the batch builder, for tests without a broker. */

import type { Message } from '../../server/pulsar/message.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';

/** A message of `payload` on a test topic; `extra` overrides any field. */
export function testMessage(payload: Buffer, extra: Partial<Message> = {}): Message {
  return {
    topic: 'persistent://public/default/test',
    messageId: new MessageId(1, 0, -1),
    payload,
    key: undefined,
    keyIsBase64: false,
    orderingKey: undefined,
    properties: {},
    publishTime: 0,
    eventTime: undefined,
    schemaVersion: undefined,
    producerName: 'producer',
    sequenceId: 0,
    nullValue: false,
    brokerTimestamp: undefined,
    brokerIndex: undefined,
    ...extra,
  };
}
