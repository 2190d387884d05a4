/**
 * Decoders for the metadata an entry carries: `MessageMetadata` (one per entry),
 * `SingleMessageMetadata` (one per message inside a batch) and `BrokerEntryMetadata`.
 */
import { readKeyValue } from './commands.ts';
import { maxUncompressedBytes } from './compression.ts';
import { ProtoDecodeError, ProtoReader } from './wire.ts';

/** Largest int32 (Pulsar's counts and sizes are int32 fields). */
const maxInt32 = 0x7fffffff;

/**
 * The properties of a message that has none: one frozen object shared by all of them
 * (most messages carry no properties; an object each was a per-message allocation).
 */
export const noProperties: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Throws unless `value` is an integer in `min..max`: count and size fields the broker
 * passes on from producers are checked here, so no arithmetic downstream sees a negative
 * or absurd one (a negative `num_messages_in_batch` once pushed a shared permit count to
 * 3.4e10).
 */
function checkRange(what: string, value: number, min: number, max: number): void {
  if (!(Number.isSafeInteger(value) && value >= min && value <= max))
    throw new ProtoDecodeError(`${what} ${value} is outside ${min}..${max}`);
}

/** `MessageMetadata`, the fields a reader uses. */
export interface MessageMetadata {
  producerName: string;
  sequenceId: number;
  publishTime: number;
  properties: Record<string, string>;
  /** Key; base64 of the bytes when `partitionKeyB64Encoded`. */
  partitionKey: string | undefined;
  partitionKeyB64Encoded: boolean;
  orderingKey: Buffer | undefined;
  compression: number;
  uncompressedSize: number;
  /** Messages in the entry: 1 unless it is a batch. Set explicitly by batching producers. */
  numMessagesInBatch: number;
  /** Whether the producer sent `num_messages_in_batch`, i.e. the payload is a batch. */
  isBatch: boolean;
  /** 0 when unset. */
  eventTime: number;
  /**
   * A copy of its bytes, not a view into the frame: a stream keeps the last version it
   * saw (server/core/schema-versions.ts), which must not keep a frame alive.
   */
  schemaVersion: Buffer | undefined;
  /** Encrypted payloads cannot be read without the key: Seam reports them. */
  encrypted: boolean;
  nullValue: boolean;
  /** Broker-internal marker messages (replication, transactions) carry a marker type. */
  markerType: number | undefined;
  /** Chunked message: uuid shared by its chunks, chunk index, chunk count, total size. */
  uuid: string | undefined;
  chunkId: number;
  numChunksFromMsg: number;
  totalChunkMsgSize: number;
}

/** Decodes `MessageMetadata`. */
export function decodeMessageMetadata(buf: Buffer): MessageMetadata {
  const m: MessageMetadata = {
    producerName: '',
    sequenceId: 0,
    publishTime: 0,
    properties: noProperties,
    partitionKey: undefined,
    partitionKeyB64Encoded: false,
    orderingKey: undefined,
    compression: 0,
    uncompressedSize: 0,
    numMessagesInBatch: 1,
    isBatch: false,
    eventTime: 0,
    schemaVersion: undefined,
    encrypted: false,
    nullValue: false,
    markerType: undefined,
    uuid: undefined,
    chunkId: 0,
    numChunksFromMsg: 0,
    totalChunkMsgSize: 0,
  };
  const r = new ProtoReader(buf);
  for (let f = r.next(); f !== 0; f = r.next()) {
    switch (f) {
      case 1:
        m.producerName = r.string();
        break;
      case 2:
        m.sequenceId = r.varint();
        break;
      case 3:
        m.publishTime = r.varint();
        break;
      case 4: {
        const [key, value] = readKeyValue(r.message());
        if (m.properties === noProperties) m.properties = {};
        m.properties[key] = value;
        break;
      }
      case 6:
        m.partitionKey = r.string();
        break;
      case 8:
        m.compression = r.varint();
        break;
      case 9:
        m.uncompressedSize = r.varint();
        break;
      case 11:
        m.numMessagesInBatch = r.int();
        m.isBatch = true;
        break;
      case 12:
        m.eventTime = r.varint();
        break;
      case 13:
        m.encrypted = true;
        r.skip();
        break;
      case 16:
        m.schemaVersion = Buffer.from(r.bytes());
        break;
      case 17:
        m.partitionKeyB64Encoded = r.bool();
        break;
      case 18:
        m.orderingKey = r.bytes();
        break;
      case 20:
        m.markerType = r.int();
        break;
      case 25:
        m.nullValue = r.bool();
        break;
      case 26:
        m.uuid = r.string();
        break;
      case 27:
        m.numChunksFromMsg = r.int();
        break;
      case 28:
        m.totalChunkMsgSize = r.int();
        break;
      case 29:
        m.chunkId = r.int();
        break;
      default:
        r.skip();
    }
  }
  checkMessageMetadata(m);
  return m;
}

function checkMessageMetadata(m: MessageMetadata): void {
  // Its real bound (bytes a message) is checked with the entry's size (entry.ts).
  checkRange('num_messages_in_batch', m.numMessagesInBatch, 0, maxInt32);
  checkRange('uncompressed_size', m.uncompressedSize, 0, maxUncompressedBytes);
  checkRange('num_chunks_from_msg', m.numChunksFromMsg, 0, maxInt32);
  if (m.numChunksFromMsg > 1) {
    // Every chunk carries at least one byte of the message.
    checkRange(
      'total_chunk_msg_size',
      m.totalChunkMsgSize,
      m.numChunksFromMsg,
      maxUncompressedBytes,
    );
    checkRange('chunk_id', m.chunkId, 0, m.numChunksFromMsg - 1);
  }
}

/** `SingleMessageMetadata`: one message inside a batch. */
export interface SingleMessageMetadata {
  properties: Record<string, string>;
  partitionKey: string | undefined;
  partitionKeyB64Encoded: boolean;
  orderingKey: Buffer | undefined;
  payloadSize: number;
  /** Removed by topic compaction: skip it. */
  compactedOut: boolean;
  /** 0 when unset. */
  eventTime: number;
  /** 0 when unset; the batch's sequence id plus the index otherwise. */
  sequenceId: number | undefined;
  nullValue: boolean;
}

/** A `SingleMessageMetadata` with every field unset. */
export function emptySingleMessageMetadata(): SingleMessageMetadata {
  return clearSingleMessageMetadata({} as SingleMessageMetadata);
}

/** Unsets every field of `m` (in one order: one object shape for all of them). */
function clearSingleMessageMetadata(m: SingleMessageMetadata): SingleMessageMetadata {
  m.properties = noProperties;
  m.partitionKey = undefined;
  m.partitionKeyB64Encoded = false;
  m.orderingKey = undefined;
  m.payloadSize = 0;
  m.compactedOut = false;
  m.eventTime = 0;
  m.sequenceId = undefined;
  m.nullValue = false;
  return m;
}

/**
 * Whether `m` carries nothing but its payload size, sequence id and event time (the usual
 * message in a batch): what a batch keeps of such a message fits in typed arrays.
 */
export function isPlainSingleMessageMetadata(m: SingleMessageMetadata): boolean {
  return (
    m.properties === noProperties &&
    m.partitionKey === undefined &&
    !m.partitionKeyB64Encoded &&
    m.orderingKey === undefined &&
    !m.compactedOut &&
    !m.nullValue
  );
}

/** The value `shortVarint` read last. */
let varintValue = 0;

/**
 * Reads a varint of 1 to 4 bytes (below 2^28) at `buf[pos]`, before `end`, into
 * `varintValue`; returns where it ends, or -1 when it is longer or cut off (then the general
 * reader decides).
 */
function shortVarint(buf: Buffer, pos: number, end: number): number {
  let value = 0;
  for (let shift = 0; shift < 28 && pos < end; shift += 7) {
    const byte = buf[pos++] as number;
    value |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      varintValue = value;
      return pos;
    }
  }
  return -1;
}

/** One reader for every `SingleMessageMetadata` (decoding is synchronous). */
const singleReader = new ProtoReader(Buffer.alloc(0));

/**
 * Decodes the `SingleMessageMetadata` at `buf[start, end)` of a batch payload, where each
 * message is `[size u32][SingleMessageMetadata][payload of payload_size bytes]`, into `m`
 * (every field is set: `m` may be reused from one message to the next). Allocates only
 * for the fields present that need it (properties, keys).
 */
export function decodeSingleMessageMetadataInto(
  m: SingleMessageMetadata,
  buf: Buffer,
  start: number,
  end: number,
): SingleMessageMetadata {
  clearSingleMessageMetadata(m);
  // The usual metadata, `payload_size` and perhaps `sequence_id`, each a one-byte tag and a
  // varint of at most 4 bytes, is read here; anything else by the reader below.
  if (start < end && buf[start] === 0x18) {
    const afterSize = shortVarint(buf, start + 1, end);
    if (afterSize > 0) {
      m.payloadSize = varintValue;
      if (afterSize === end) return m;
      if (buf[afterSize] === 0x40) {
        const afterSequence = shortVarint(buf, afterSize + 1, end);
        if (afterSequence === end) {
          m.sequenceId = varintValue;
          return m;
        }
      }
      m.payloadSize = 0;
    }
  }
  const r = singleReader.reset(buf, start, end);
  for (let f = r.next(); f !== 0; f = r.next()) {
    switch (f) {
      case 1: {
        const [key, value] = readKeyValue(r.message());
        if (m.properties === noProperties) m.properties = {};
        m.properties[key] = value;
        break;
      }
      case 2:
        m.partitionKey = r.string();
        break;
      case 3:
        m.payloadSize = r.int();
        break;
      case 4:
        m.compactedOut = r.bool();
        break;
      case 5:
        m.eventTime = r.varint();
        break;
      case 6:
        m.partitionKeyB64Encoded = r.bool();
        break;
      case 7:
        m.orderingKey = r.bytes();
        break;
      case 8:
        m.sequenceId = r.varint();
        break;
      case 9:
        m.nullValue = r.bool();
        break;
      default:
        r.skip();
    }
  }
  checkRange('payload_size', m.payloadSize, 0, maxInt32);
  return m;
}

/** Decodes the `SingleMessageMetadata` at `buf[start, end)` of a batch payload. */
export function decodeSingleMessageMetadata(
  buf: Buffer,
  start: number,
  end: number,
): SingleMessageMetadata {
  return decodeSingleMessageMetadataInto(emptySingleMessageMetadata(), buf, start, end);
}

/** `BrokerEntryMetadata`: what the broker stamped on the entry when it stored it. */
export interface BrokerEntryMetadata {
  brokerTimestamp: number | undefined;
  /** Index of the entry's last message in the topic partition, counted from 0. */
  index: number | undefined;
}

export function decodeBrokerEntryMetadata(buf: Buffer): BrokerEntryMetadata {
  const m: BrokerEntryMetadata = { brokerTimestamp: undefined, index: undefined };
  const r = new ProtoReader(buf);
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) m.brokerTimestamp = r.varint();
    else if (f === 2) m.index = r.varint();
    else r.skip();
  }
  if (m.index !== undefined) checkRange('broker entry index', m.index, 0, Number.MAX_SAFE_INTEGER);
  return m;
}
