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
  decodeSingleMessageMetadataInto,
  emptySingleMessageMetadata,
  isPlainSingleMessageMetadata,
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
 * Batches of at most this many messages keep what the check decodes of each message (the
 * usual case: Pulsar producers batch up to 1,000); larger ones decode each message again as
 * it is taken. Kept, a message costs 24 B in typed arrays (its value's span, sequence id and
 * event time), plus its metadata object when it carries more (properties, keys, flags).
 */
export const keptBatchMessages = 4096;

/**
 * An entry's messages, handed out in order. The whole batch is checked when it is decoded
 * (every message's framing and metadata, so a bad batch still fails at once, before any of
 * its messages is used); a batch of more than `keptBatchMessages` keeps nothing per message
 * and decodes each again as it is taken. Split into an array up front, a valid batch of 1 M
 * 6-byte messages (a 600-byte ZSTD entry) held 313 MiB, and 5 M of them ran a 1 GiB heap
 * out of memory.
 *
 * The reader takes messages with `advance`, which moves a cursor (`batchIndex`,
 * `payloadStart`/`payloadEnd`, `sequenceId`, `eventTime`, `single`) and allocates nothing for
 * a message whose metadata holds no more than its size, sequence id and event time: an
 * object per message (its metadata, its properties, its entry in an array) was most of the
 * reader's garbage. `next` and iteration hand out `EntryMessage` objects.
 */
export class EntryMessages implements Iterable<EntryMessage> {
  /** How many messages the entry holds. */
  readonly count: number;
  /** The value bytes of all of them. */
  readonly payloadBytes: number;
  /** Whether the entry is a batch (else its payload is its one message's value). */
  readonly batched: boolean;
  /** The decompressed payload the messages' values are in. */
  readonly payload: Buffer;
  /** What the check kept of each message, when the batch is small enough. */
  private kept: KeptMessages | undefined;
  private index = 0;
  private pos = 0;

  // The message `advance` moved to.
  /** Its index in the batch; -1 for an entry that is not a batch. */
  batchIndex = -1;
  /** Where its value is in `payload`. */
  payloadStart = 0;
  payloadEnd = 0;
  /** Its `sequence_id`, if it has one. */
  sequenceId: number | undefined = undefined;
  /** Its `event_time`; 0 when unset. */
  eventTime = 0;
  /**
   * Its whole metadata when it carries more than size, sequence id and event time
   * (properties, keys, compacted out, null value); else undefined.
   */
  single: SingleMessageMetadata | undefined = undefined;

  /** `count` messages in a batch payload; -1: the payload is one unbatched message's. */
  constructor(payload: Buffer, count: number) {
    this.payload = payload;
    this.batched = count >= 0;
    if (count < 0) {
      this.count = 1;
      this.payloadBytes = payload.length;
      this.kept = undefined;
      return;
    }
    this.count = count;
    // An empty batch takes none: its cursor never reaches a last message to give them back.
    const kept = count > 0 && count <= keptBatchMessages ? KeptMessages.take(count) : undefined;
    const m = emptySingleMessageMetadata();
    let bytes = 0;
    for (let pos = 0, index = 0; index < count; index++) {
      const start = readBatchMessage(m, payload, pos, index, count);
      pos = start + m.payloadSize;
      bytes += m.payloadSize;
      kept?.set(index, start, m);
    }
    this.payloadBytes = bytes;
    this.kept = kept;
  }

  /** How many messages are not taken yet. */
  get remaining(): number {
    return this.count - this.index;
  }

  /** Its value's bytes, of the message `advance` moved to. */
  get payloadLength(): number {
    return this.payloadEnd - this.payloadStart;
  }

  /** Moves to the next message (see the cursor's fields); false after the last. */
  advance(): boolean {
    const index = this.index;
    if (index >= this.count) return false;
    this.index++;
    if (!this.batched) {
      this.payloadStart = 0;
      this.payloadEnd = this.payload.length;
      return true;
    }
    this.batchIndex = index;
    const kept = this.kept;
    if (kept) {
      const start = kept.starts[index] as number;
      this.payloadStart = start;
      this.payloadEnd = start + (kept.sizes[index] as number);
      const sequenceId = kept.sequenceIds[index] as number;
      this.sequenceId = sequenceId < 0 ? undefined : sequenceId;
      this.eventTime = kept.eventTimes[index] as number;
      this.single = kept.singles?.[index];
      // The last message read: nothing reads the arrays again.
      if (this.index === this.count) {
        this.kept = undefined;
        kept.release();
      }
      return true;
    }
    // Checked whole by the constructor: the same bytes decode the same way again. A fresh
    // object each time: the message keeps its properties.
    const m = emptySingleMessageMetadata();
    const start = readBatchMessage(m, this.payload, this.pos, index, this.count);
    this.pos = start + m.payloadSize;
    this.payloadStart = start;
    this.payloadEnd = this.pos;
    this.sequenceId = m.sequenceId;
    this.eventTime = m.eventTime;
    this.single = isPlainSingleMessageMetadata(m) ? undefined : m;
    return true;
  }

  /** The next message, undefined after the last. */
  next(): EntryMessage | undefined {
    if (!this.advance()) return undefined;
    const payload = this.payload.subarray(this.payloadStart, this.payloadEnd);
    if (!this.batched) return { batchIndex: -1, single: undefined, payload };
    const single = this.single ?? {
      ...emptySingleMessageMetadata(),
      payloadSize: payload.length,
      sequenceId: this.sequenceId,
      eventTime: this.eventTime,
    };
    return { batchIndex: this.batchIndex, single, payload };
  }

  *[Symbol.iterator](): Iterator<EntryMessage> {
    for (let m = this.next(); m; m = this.next()) yield m;
  }
}

/** KeptMessages whose batch was read to its end, for the next batches. */
const spareKept: KeptMessages[] = [];
/** How many are kept spare: a few batches are open at once per reader. */
const maxSpareKept = 8;

/**
 * What a kept batch holds of each message: typed arrays, and the rare full metadata. The
 * arrays are reused from batch to batch (`take`, `release`): four new typed arrays an entry
 * are four off-heap allocations, which cost more than decoding the entry's small messages
 * (2 % of a 100 B read's profile) and count towards V8's next full collection.
 */
class KeptMessages {
  readonly starts: Int32Array;
  readonly sizes: Int32Array;
  /** -1: unset (`sequence_id` is a uint64: never negative). */
  readonly sequenceIds: Float64Array;
  readonly eventTimes: Float64Array;
  /** The metadata of messages that carry more than the arrays hold; made at the first. */
  singles: (SingleMessageMetadata | undefined)[] | undefined;

  private constructor(capacity: number) {
    this.starts = new Int32Array(capacity);
    this.sizes = new Int32Array(capacity);
    this.sequenceIds = new Float64Array(capacity);
    this.eventTimes = new Float64Array(capacity);
  }

  /** Room for `count` messages: spare arrays if large enough (they are set before read). */
  static take(count: number): KeptMessages {
    for (let i = spareKept.length - 1; i >= 0; i--) {
      const spare = spareKept[i] as KeptMessages;
      if (spare.starts.length >= count) {
        spareKept.splice(i, 1);
        return spare;
      }
    }
    return new KeptMessages(count);
  }

  /** Its batch was read to the end: the arrays may serve another. */
  release(): void {
    this.singles = undefined;
    if (spareKept.length < maxSpareKept) spareKept.push(this);
  }

  set(index: number, start: number, m: SingleMessageMetadata): void {
    this.starts[index] = start;
    this.sizes[index] = m.payloadSize;
    this.sequenceIds[index] = m.sequenceId ?? -1;
    this.eventTimes[index] = m.eventTime;
    if (isPlainSingleMessageMetadata(m)) return;
    this.singles ??= [];
    this.singles[index] = { ...m };
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
 * Decodes the message at `pos` of a batch payload, `[size u32][SingleMessageMetadata][value]`,
 * into `m`; returns where its value starts (it ends `m.payloadSize` bytes later, where the
 * next message starts).
 */
function readBatchMessage(
  m: SingleMessageMetadata,
  payload: Buffer,
  pos: number,
  index: number,
  count: number,
): number {
  if (pos + 4 > payload.length)
    throw new FrameError(`batch ends after ${index} of ${count} messages`);
  const metadataEnd = pos + 4 + payload.readUInt32BE(pos);
  if (metadataEnd > payload.length)
    throw new FrameError(`metadata of message ${index} of ${count} overruns its batch`);
  decodeSingleMessageMetadataInto(m, payload, pos + 4, metadataEnd);
  if (metadataEnd + m.payloadSize > payload.length)
    throw new FrameError(`message ${index} of ${count} overruns its batch`);
  return metadataEnd;
}
