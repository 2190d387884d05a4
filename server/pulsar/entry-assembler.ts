/**
 * Entry assembly for a reader: each entry the broker sends is decoded (protocol/entry.ts),
 * filtered by the start position, and turned into `Message`s, chunked messages assembled
 * (bounded, as the Java client). Messages are made one at a time as the reader's queue has
 * room (`next`), so a batch of many small messages is counted before it is made and never
 * costs more than the reader's byte budget at once.
 */
import { PulsarError } from './errors.ts';
import { messageOverheadBytes } from './flow-control.ts';
import type { Message } from './message.ts';
import { compareMessageIds, MessageId } from './message-id.ts';
import { decompress, maxUncompressedBytes } from './protocol/compression.ts';
import { decodeEntry, type EntryMessages } from './protocol/entry.ts';
import { type MessageMetadata, noProperties } from './protocol/metadata.ts';

/** What the broker stamped on an entry (or on one of its messages). */
type BrokerStamp = Pick<Message, 'brokerTimestamp' | 'brokerIndex'>;

/** The position messages must be after (or at, when inclusive) to be returned. */
export interface StartFilter {
  id: MessageId;
  inclusive: boolean;
}

/**
 * An entry decoded and not yet wholly queued: its messages become `Message`s only as the
 * queue has room, so a batch of many small messages never costs more than the reader's
 * byte budget at once.
 */
interface OpenEntry {
  id: MessageId;
  metadata: MessageMetadata;
  brokerTimestamp: number | undefined;
  brokerIndex: number | undefined;
  /** The batch size its ids carry (0: not a batch). */
  count: number;
  /** Its messages not queued yet: from the cursor's when `atFirst`, else after it. */
  messages: EntryMessages;
  /** The cursor is at a message not queued yet (moved there to check the start filter). */
  atFirst: boolean;
}

/** The memory a message holds (`messageBytes` of message.ts). */
function messageBytes(message: Message): number {
  return message.payload.length + messageOverheadBytes;
}

/** Limits of chunked-message assembly. */
export interface ChunkLimits {
  maxPending: number;
  expiryMs: number;
}

/** Turns a reader's entries into messages, in order. */
export class EntryAssembler {
  /** Messages before it are dropped; set at each subscribe, cleared once passed. */
  startFilter: StartFilter | undefined;
  /** What the messages not made yet will cost (`messageBytes`), and how many. */
  unqueuedBytes = 0;
  unqueuedMessages = 0;
  /** Entries whose messages are not all made yet (or chunked messages), in order. */
  private openEntries: (OpenEntry | Message)[] = [];
  private readonly chunks: ChunkedMessages;
  private readonly topic: string;
  private readonly partition: number;

  constructor(topic: string, partition: number, limits: ChunkLimits) {
    this.topic = topic;
    this.partition = partition;
    this.chunks = new ChunkedMessages(topic, limits);
  }

  /** Bytes of the chunks held for incomplete chunked messages. */
  get chunkBytes(): number {
    return this.chunks.bytes;
  }

  /**
   * Decodes an entry; its messages wait until `next` makes them. Returns the messages the
   * broker counted for it (permits) and what the messages will cost (`messageBytes`),
   * counted before any of them is made.
   */
  add(id: MessageId, entry: Buffer): { permitsUsed: number; bytes: number } {
    const decoded = decodeEntry(entry);
    const { metadata, brokerTimestamp, brokerIndex } = decoded;
    const permitsUsed = metadata.numMessagesInBatch;
    const time = brokerTimestamp ?? metadata.publishTime;
    this.chunks.observe(metadata.producerName, metadata.uuid, time);
    switch (decoded.kind) {
      case 'marker':
        return { permitsUsed, bytes: 0 };
      case 'encrypted':
        throw new PulsarError(
          'UnreadableMessage',
          `entry ${id.ledgerId}:${id.entryId} of ${this.topic} is encrypted; Seam cannot decrypt messages`,
          { retriable: false },
        );
      case 'chunk': {
        const chunkId = new MessageId(id.ledgerId, id.entryId, -1, this.partition);
        const first = metadata.chunkId === 0 && this.passesStart(chunkId);
        const assembled = this.chunks.add(chunkId, metadata, decoded.chunk, time, first);
        if (!assembled) return { permitsUsed, bytes: 0 };
        const payload = decompress(
          metadata.compression,
          assembled.whole,
          metadata.uncompressedSize,
        );
        const messageId = new MessageId(
          id.ledgerId,
          id.entryId,
          -1,
          this.partition,
          0,
          assembled.firstChunk,
        );
        const whole = unbatchedMessage(this.topic, messageId, metadata, payload, {
          brokerTimestamp,
          brokerIndex,
        });
        // Behind the entries still open, to keep the order.
        this.openEntries.push(whole);
        this.unqueuedBytes += messageBytes(whole);
        this.unqueuedMessages++;
        return { permitsUsed, bytes: messageBytes(whole) };
      }
    }
    const { messages } = decoded;
    const count = metadata.isBatch ? metadata.numMessagesInBatch : 0;
    // The start filter applies in arrival order (a chunked message behind may pass it).
    let bytes = messages.payloadBytes;
    let more = messages.advance();
    while (
      this.startFilter &&
      more &&
      !this.passesStart(this.idOf(id, messages.batchIndex, count))
    ) {
      bytes -= messages.payloadLength;
      more = messages.advance();
    }
    if (!more) return { permitsUsed, bytes: 0 };
    const waiting = messages.remaining + 1;
    bytes += waiting * messageOverheadBytes;
    this.openEntries.push({
      id,
      metadata,
      brokerTimestamp,
      brokerIndex,
      count,
      messages,
      atFirst: true,
    });
    this.unqueuedBytes += bytes;
    this.unqueuedMessages += waiting;
    return { permitsUsed, bytes };
  }

  private idOf(entry: MessageId, batchIndex: number, count: number): MessageId {
    return new MessageId(entry.ledgerId, entry.entryId, batchIndex, this.partition, count);
  }

  /** Whether messages wait to be made. */
  get hasMessages(): boolean {
    return this.openEntries.length > 0;
  }

  /**
   * Makes the next waiting message, in order; undefined when there is none or it was
   * compacted out (see `hasMessages`).
   */
  next(): Message | undefined {
    const open = this.openEntries[0];
    if (!open) return undefined;
    if (!('messages' in open)) {
      // A chunked message, reassembled (its first chunk passed the start filter).
      this.openEntries.shift();
      this.unqueuedBytes -= messageBytes(open);
      this.unqueuedMessages--;
      return open;
    }
    const { messages } = open;
    if (open.atFirst) open.atFirst = false;
    else messages.advance();
    if (messages.remaining === 0) this.openEntries.shift();
    this.unqueuedBytes -= messages.payloadLength + messageOverheadBytes;
    this.unqueuedMessages--;
    return this.entryMessage(open);
  }

  /** The message at `open`'s cursor, or undefined when it is compacted out. */
  private entryMessage(open: OpenEntry): Message | undefined {
    const { id, metadata, messages, count } = open;
    const payload = messages.payload.subarray(messages.payloadStart, messages.payloadEnd);
    if (!messages.batched) {
      return unbatchedMessage(this.topic, this.idOf(id, -1, 0), metadata, payload, open);
    }
    const { single, batchIndex } = messages;
    if (single?.compactedOut) return undefined;
    const { brokerIndex } = open;
    return makeMessage(
      this.topic,
      this.idOf(id, batchIndex, count),
      payload,
      single?.partitionKey,
      single?.partitionKeyB64Encoded ?? false,
      single?.orderingKey,
      single?.properties ?? noProperties,
      metadata.publishTime,
      messages.eventTime || undefined,
      metadata.schemaVersion,
      metadata.producerName,
      messages.sequenceId ?? metadata.sequenceId + batchIndex,
      single?.nullValue ?? false,
      open.brokerTimestamp,
      // The entry's index is its last message's.
      brokerIndex === undefined ? undefined : brokerIndex - (count - 1) + batchIndex,
    );
  }

  /** Forgets the messages not made yet, and incomplete chunked messages: a new consumer sends them again. */
  clear(): void {
    this.chunks.clear();
    this.openEntries = [];
    this.unqueuedBytes = 0;
    this.unqueuedMessages = 0;
  }

  private passesStart(id: MessageId): boolean {
    const filter = this.startFilter;
    if (!filter) return true;
    // An unbatched message at the start entry is the start message, whatever batch index
    // the start id carries (Go ids give unbatched messages batch index 0); and a start id
    // without batch index stands for its whole entry, as ends and boundaries do: after it
    // comes none of the entry's batch (a poll's next start is such an id).
    const sameEntry = id.ledgerId === filter.id.ledgerId && id.entryId === filter.id.entryId;
    const order =
      sameEntry && (id.batchIndex < 0 || filter.id.batchIndex < 0)
        ? 0
        : compareMessageIds(id, filter.id);
    if (order > 0 || (order === 0 && filter.inclusive)) {
      this.startFilter = undefined;
      return true;
    }
    return false;
  }
}

/**
 * A `Message`, its fields always in the same order (one object shape for every message the
 * reader makes, batched or not).
 */
function makeMessage(
  topic: string,
  messageId: MessageId,
  payload: Buffer,
  key: string | undefined,
  keyIsBase64: boolean,
  orderingKey: Buffer | undefined,
  properties: Record<string, string>,
  publishTime: number,
  eventTime: number | undefined,
  schemaVersion: Buffer | undefined,
  producerName: string,
  sequenceId: number,
  nullValue: boolean,
  brokerTimestamp: number | undefined,
  brokerIndex: number | undefined,
): Message {
  return {
    topic,
    messageId,
    payload,
    key,
    keyIsBase64,
    orderingKey,
    properties,
    publishTime,
    eventTime,
    schemaVersion,
    producerName,
    sequenceId,
    nullValue,
    brokerTimestamp,
    brokerIndex,
  };
}

/** A message that is its entry's only one (unbatched, or a chunked message reassembled). */
function unbatchedMessage(
  topic: string,
  messageId: MessageId,
  metadata: MessageMetadata,
  payload: Buffer,
  broker: BrokerStamp,
): Message {
  return makeMessage(
    topic,
    messageId,
    payload,
    metadata.partitionKey,
    metadata.partitionKeyB64Encoded,
    metadata.orderingKey,
    metadata.properties,
    metadata.publishTime,
    metadata.eventTime || undefined,
    metadata.schemaVersion,
    metadata.producerName,
    metadata.sequenceId,
    metadata.nullValue,
    broker.brokerTimestamp,
    broker.brokerIndex,
  );
}

/** Chunked messages a reader assembles at once, by default (Java's `maxPendingChunkedMessage`). */
export const defaultMaxPendingChunkedMessages = 10;
/**
 * How far the topic's clock may move past an incomplete chunked message's first chunk
 * before it is dropped, by default: 60 s, as Java's `expireTimeOfIncompleteChunkedMessage`.
 */
export const defaultChunkedMessageExpiryMs = 60_000;
/** Chunked messages dropped incomplete that are remembered, to notice their late chunks. */
const droppedRemembered = 1000;

interface ChunkAssembly {
  parts: Buffer[];
  received: number;
  bytes: number;
  firstChunk: MessageId;
  producer: string;
  /** The topic's clock at the first chunk. */
  startedAt: number;
}

/** A chunked message's chunks, joined, and the id of its first chunk. */
interface AssembledChunks {
  whole: Buffer;
  firstChunk: MessageId;
}

/**
 * Assembles chunked messages (messages larger than the broker's limit, sent as several
 * entries, possibly interleaved with other producers' entries). Bounded, as the Java
 * client: at most `maxPending` at once, each dropped when its producer moves on to another
 * message or when the topic's clock passes `expiryMs` after its first chunk — such a message
 * was never completely written. A drop is never silent in effect: a chunk of a dropped
 * message that arrives after all ends the reader with an error, as does one chunked message
 * too many, a missing chunk, or chunks that overrun their declared size. The bytes held are
 * in `bytes`, for the reader's memory budget.
 */
class ChunkedMessages {
  /** Bytes of the chunks held. */
  bytes = 0;
  private readonly pending = new Map<string, ChunkAssembly>();
  /** Why each recently dropped message was dropped, by uuid (insertion order: oldest first). */
  private readonly dropped = new Map<string, string>();
  private readonly topic: string;
  private readonly limits: ChunkLimits;

  constructor(topic: string, limits: ChunkLimits) {
    this.topic = topic;
    this.limits = limits;
  }

  /**
   * Sees each entry before it is decoded further: drops the messages its producer left
   * incomplete (it sent something else) and those expired at `time` (the topic's clock).
   */
  observe(producer: string, uuid: string | undefined, time: number): void {
    if (this.pending.size === 0) return;
    for (const [key, assembly] of this.pending) {
      if (assembly.producer === producer && key !== uuid) {
        this.drop(key, `its producer ${producer} sent another message before its last chunk`);
      } else if (time - assembly.startedAt > this.limits.expiryMs) {
        this.drop(key, `it was incomplete ${this.limits.expiryMs} ms after its first chunk`);
      }
    }
  }

  /**
   * Adds a chunk (at `id`); returns the message's chunks joined once the last one is in.
   * `first`: the chunk starts a message at or after the reader's start.
   */
  add(
    id: MessageId,
    metadata: MessageMetadata,
    chunk: Buffer,
    time: number,
    first: boolean,
  ): AssembledChunks | undefined {
    const uuid = metadata.uuid ?? '';
    const where = `chunked message ${uuid} of ${this.topic} (chunk ${metadata.chunkId} at ${id.ledgerId}:${id.entryId})`;
    if (metadata.chunkId === 0) {
      // The producer sent it again (after a reconnect): start over.
      this.remove(uuid);
      if (!first) return undefined;
      if (metadata.totalChunkMsgSize > maxUncompressedBytes) {
        throw unreadable(
          `${where} declares ${metadata.totalChunkMsgSize} bytes, over Seam's limit of ${maxUncompressedBytes}`,
        );
      }
      if (this.pending.size >= this.limits.maxPending) {
        throw unreadable(
          `${where}: more than ${this.limits.maxPending} chunked messages are incomplete at once (producers interleave them); Seam assembles at most ${this.limits.maxPending} per partition`,
        );
      }
      this.dropped.delete(uuid);
      this.pending.set(uuid, {
        parts: [],
        received: 0,
        bytes: 0,
        firstChunk: id,
        producer: metadata.producerName,
        startedAt: time,
      });
    }
    const assembly = this.pending.get(uuid);
    if (!assembly) {
      const reason = this.dropped.get(uuid);
      if (reason !== undefined) {
        throw unreadable(`${where} arrived after Seam dropped the message incomplete: ${reason}`);
      }
      // Its first chunk was before the start: not the reader's.
      return undefined;
    }
    // A chunk sent twice (a producer's resend): the first copy stands.
    if (metadata.chunkId < assembly.received) return undefined;
    if (metadata.chunkId > assembly.received) {
      throw unreadable(`${where}: chunk ${assembly.received} is missing`);
    }
    // Chunk payloads are views into socket buffers: keep copies only until assembled.
    assembly.parts.push(Buffer.from(chunk));
    assembly.received++;
    assembly.bytes += chunk.length;
    this.bytes += chunk.length;
    if (assembly.bytes > metadata.totalChunkMsgSize) {
      throw new PulsarError(
        'ProtocolError',
        `${where}: chunks hold more than the ${metadata.totalChunkMsgSize} bytes the metadata declares`,
        { retriable: false },
      );
    }
    if (assembly.received < metadata.numChunksFromMsg) return undefined;
    this.remove(uuid);
    if (assembly.bytes !== metadata.totalChunkMsgSize) {
      throw new PulsarError(
        'ProtocolError',
        `${where}: chunks hold ${assembly.bytes} bytes, metadata says ${metadata.totalChunkMsgSize}`,
        { retriable: false },
      );
    }
    return {
      whole: Buffer.concat(assembly.parts, assembly.bytes),
      firstChunk: assembly.firstChunk,
    };
  }

  /** Forgets every incomplete message (a new consumer sends their chunks again). */
  clear(): void {
    this.pending.clear();
    this.bytes = 0;
  }

  private remove(uuid: string): void {
    const assembly = this.pending.get(uuid);
    if (!assembly) return;
    this.pending.delete(uuid);
    this.bytes -= assembly.bytes;
  }

  private drop(uuid: string, reason: string): void {
    this.remove(uuid);
    this.dropped.set(uuid, reason);
    if (this.dropped.size > droppedRemembered) {
      const oldest = this.dropped.keys().next().value;
      if (oldest !== undefined) this.dropped.delete(oldest);
    }
  }
}

function unreadable(message: string): PulsarError {
  return new PulsarError('UnreadableMessage', message, { retriable: false });
}
