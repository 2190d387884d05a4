/** A message as Seam's Pulsar client hands it out, and the memory it is counted for. */
import { messageOverheadBytes } from './flow-control.ts';
import type { MessageId } from './message-id.ts';

/** One message as Pulsar stored it. */
export interface Message {
  /** The partition's topic name (or the topic's, when not partitioned). */
  topic: string;
  messageId: MessageId;
  /** The message's value bytes, decompressed; a view into the entry where possible. */
  payload: Buffer;
  /** The message key, as the producer set it (base64 of the bytes when `keyIsBase64`). */
  key: string | undefined;
  keyIsBase64: boolean;
  orderingKey: Buffer | undefined;
  properties: Record<string, string>;
  /** Publish time, ms since the epoch, set by the producer's client. */
  publishTime: number;
  /** Event time, ms since the epoch; undefined when the producer did not set it. */
  eventTime: number | undefined;
  /** The schema version the producer wrote with. */
  schemaVersion: Buffer | undefined;
  producerName: string;
  sequenceId: number;
  /** True when the producer sent a null value (a tombstone). */
  nullValue: boolean;
  /** When the broker stored the entry, if the broker adds broker entry metadata. */
  brokerTimestamp: number | undefined;
  /**
   * The message's index in its partition over the topic's whole life, counted from 0, if
   * the broker adds it (AppendIndexMetadataInterceptor).
   */
  brokerIndex: number | undefined;
}

/** The memory a received message holds, as readers and buffers count it (see flow-control.ts). */
export function messageBytes(message: Message): number {
  return message.payload.length + messageOverheadBytes;
}
