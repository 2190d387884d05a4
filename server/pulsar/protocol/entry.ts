/**
 * An entry (the bytes after a MESSAGE command) decoded into its messages: metadata,
 * checksum, decompression and batch splitting. Pure: positions and start filters are the
 * reader's business. Every failure is a FrameError, ProtoDecodeError or DecompressionError,
 * and nothing is allocated from a size field before that size is checked.
 */
import { CompressionType, decompress } from './compression.ts';
import { FrameError, splitEntry } from './frame.ts';
import {
  decodeBrokerEntryMetadata,
  decodeMessageMetadata,
  decodeSingleMessageMetadata,
  type MessageMetadata,
  type SingleMessageMetadata,
} from './metadata.ts';

/** One message of an entry. */
export interface EntryMessage {
  /** Index in the batch; -1 for an entry that is not a batch. */
  batchIndex: number;
  /** Metadata of a message inside a batch. */
  single: SingleMessageMetadata | undefined;
  /** The value bytes (views into the decompressed payload). */
  payload: Buffer;
}

/**
 * Batches of at most this many messages keep their messages as the check decodes them (the
 * usual case: Pulsar producers batch up to 1,000); larger ones decode each message again as
 * it is taken. Kept, a message costs ~300 B: this bounds an entry's at ~1.2 MiB.
 */
export const keptBatchMessages = 4096;

/** Where a message read by `readBatchMessage` from `batch` ends in it. */
const endOf = (batch: Buffer, message: EntryMessage) =>
  message.payload.byteOffset - batch.byteOffset + message.payload.length;

/**
 * An entry's messages, handed out in order (`next`, or iteration). The whole batch is
 * checked when it is decoded (every message's framing and metadata, so a bad batch still
 * fails at once, before any of its messages is used); a batch of more than
 * `keptBatchMessages` keeps nothing per message and decodes each again as it is taken. Split
 * into an array up front, a valid batch of 1 M 6-byte messages (a 600-byte ZSTD entry) held
 * 313 MiB, and 5 M of them ran a 1 GiB heap out of memory. Decoding small batches once keeps
 * the reader's speed (decoding twice took batches of 1,000 from 7.3 to 3.9 M msg/s).
 */
export class EntryMessages implements Iterable<EntryMessage> {
  /** How many messages the entry holds. */
  readonly count: number;
  /** The value bytes of all of them. */
  readonly payloadBytes: number;
  private readonly payload: Buffer;
  /** -1 for an entry that is not a batch: its payload is its one message's value. */
  private readonly batchCount: number;
  /** The messages, when the batch is small enough to keep them. */
  private readonly kept: EntryMessage[] | undefined;
  private index = 0;
  private pos = 0;

  /** `count` messages in a batch payload; -1: the payload is one unbatched message's. */
  constructor(payload: Buffer, count: number) {
    this.payload = payload;
    this.batchCount = count;
    if (count < 0) {
      this.count = 1;
      this.payloadBytes = payload.length;
      this.kept = [{ batchIndex: -1, single: undefined, payload }];
      return;
    }
    this.count = count;
    const kept: EntryMessage[] | undefined = count <= keptBatchMessages ? [] : undefined;
    let bytes = 0;
    for (let pos = 0, index = 0; index < count; index++) {
      const message = readBatchMessage(payload, pos, index, count);
      bytes += message.payload.length;
      pos = endOf(payload, message);
      kept?.push(message);
    }
    this.payloadBytes = bytes;
    this.kept = kept;
  }

  /** How many messages are not taken yet. */
  get remaining(): number {
    return this.count - this.index;
  }

  /** The next message, undefined after the last. */
  next(): EntryMessage | undefined {
    if (this.index >= this.count) return undefined;
    if (this.kept) return this.kept[this.index++];
    // Checked whole by the constructor: the same bytes decode the same way again.
    const message = readBatchMessage(this.payload, this.pos, this.index++, this.batchCount);
    this.pos = endOf(this.payload, message);
    return message;
  }

  *[Symbol.iterator](): Iterator<EntryMessage> {
    for (let m = this.next(); m; m = this.next()) yield m;
  }
}

/** What an entry holds. */
export type DecodedEntry = {
  metadata: MessageMetadata;
  brokerTimestamp: number | undefined;
  /** Index of the entry's last message in its partition, when the broker adds it. */
  brokerIndex: number | undefined;
} & (
  | { kind: 'messages'; messages: EntryMessages }
  /** One chunk of a chunked message, still compressed (the whole message is, not the chunk). */
  | { kind: 'chunk'; chunk: Buffer }
  /** A broker-internal marker: no messages for readers. */
  | { kind: 'marker' }
  /** Encrypted: unreadable without the producer's key. */
  | { kind: 'encrypted' }
);

/** Limits a caller sets on what decoding an entry may materialise. */
export interface EntryLimits {
  /**
   * Most messages a batch may hold: checked with the metadata alone, before the payload is
   * decompressed or split (a reader can derive it from its memory budget).
   */
  maxBatchMessages?: number;
}

/**
 * Decodes an entry. Batches yield every message, compacted-out ones included (flagged in
 * `single.compactedOut`), so the batch indexes stay those Pulsar assigned.
 */
export function decodeEntry(rest: Buffer, limits: EntryLimits = {}): DecodedEntry {
  const parts = splitEntry(rest);
  const metadata = decodeMessageMetadata(parts.metadata);
  const broker = parts.brokerEntryMetadata
    ? decodeBrokerEntryMetadata(parts.brokerEntryMetadata)
    : undefined;
  const base = { metadata, brokerTimestamp: broker?.brokerTimestamp, brokerIndex: broker?.index };
  if (metadata.markerType !== undefined) return { ...base, kind: 'marker' };
  if (metadata.encrypted) return { ...base, kind: 'encrypted' };
  if (metadata.numChunksFromMsg > 1) return { ...base, kind: 'chunk', chunk: parts.payload };
  if (metadata.isBatch) checkBatchCount(metadata, parts.payload, limits);
  const payload = decompress(metadata.compression, parts.payload, metadata.uncompressedSize);
  const count = metadata.isBatch ? metadata.numMessagesInBatch : -1;
  return { ...base, kind: 'messages', messages: new EntryMessages(payload, count) };
}

/**
 * Fewest bytes a message inside a batch takes: its u32 size and a SingleMessageMetadata
 * holding at least `payload_size` (a required field: tag and varint, two bytes).
 */
export const minBatchMessageBytes = 6;

/**
 * Throws unless the batch's uncompressed bytes can hold `num_messages_in_batch` messages:
 * checked before decompressing and before anything is allocated per message, so a count
 * that no batch of its size can carry (a 165-byte ZSTD entry declaring 1 M messages of 4
 * bytes took 960 ms and 307 MiB of heap to split) fails at once.
 */
function checkBatchCount(metadata: MessageMetadata, payload: Buffer, limits: EntryLimits): void {
  const bytes =
    metadata.compression === CompressionType.NONE ? payload.length : metadata.uncompressedSize;
  const count = metadata.numMessagesInBatch;
  const max = limits.maxBatchMessages;
  if (max !== undefined && count > max)
    throw new FrameError(`a batch of ${count} messages is over the limit of ${max}`);
  if (count * minBatchMessageBytes > bytes) {
    throw new FrameError(
      `a batch of ${count} messages cannot fit in ${bytes} bytes (${minBatchMessageBytes} bytes a message at least)`,
    );
  }
}

/**
 * The message at `pos` of a batch payload, `[size u32][SingleMessageMetadata][value]` (the
 * next one starts where its value ends: `end`).
 */
function readBatchMessage(
  payload: Buffer,
  pos: number,
  index: number,
  count: number,
): EntryMessage {
  if (pos + 4 > payload.length)
    throw new FrameError(`batch ends after ${index} of ${count} messages`);
  const metadataEnd = pos + 4 + payload.readUInt32BE(pos);
  if (metadataEnd > payload.length)
    throw new FrameError(`metadata of message ${index} of ${count} overruns its batch`);
  const single = decodeSingleMessageMetadata(payload, pos + 4, metadataEnd);
  const end = metadataEnd + single.payloadSize;
  if (end > payload.length) throw new FrameError(`message ${index} of ${count} overruns its batch`);
  return { batchIndex: index, single, payload: payload.subarray(metadataEnd, end) };
}
