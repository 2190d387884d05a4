/**
 * Arrow Flight tickets: one range of one partition, as GetFlightInfo planned it, handed to a
 * client that redeems it with DoGet, possibly at another gateway of the fleet. Opaque bytes:
 *
 *   "T1" | key id (u8) | tag | seam.v1.FlightTicket
 *
 * Key id 0 (no configuration): the tag is CRC32C (u32 BE) of the body, as resume tokens are,
 * so a fleet needs no shared secret; damage and foreign bytes are refused, and an edited range
 * still has to pass the ledger check at DoGet. Key id k > 0: the tag is HMAC-SHA256 of the
 * body with key k, truncated to 16 bytes, so tickets cannot be made by hand. With a key ring,
 * unsigned (key id 0) tickets are refused. Pure: no gRPC, no Pulsar.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { apiType } from '../api.ts';
import { MessageId } from '../pulsar/message-id.ts';
import { crc32c } from '../pulsar/protocol/checksum.ts';
import { SeamError } from './errors.ts';
import type { BatchLimits } from './request.ts';
import { type Position, type PositionFields, positionFields, positionOf } from './resume-token.ts';

/** One range of one partition: what a ticket names. */
export interface TicketRange {
  /** The partition's fully qualified topic. */
  topic: string;
  /** Partition index, -1 when the topic is not partitioned. */
  partition: number;
  start: Position;
  /** The last message of the range, inclusive; undefined = no end (the tail). */
  lastMessageId: MessageId | undefined;
  /** Stop before the first message with this publish time or later (ms). */
  endPublishTimeMs: number | undefined;
  /** Column names; empty = all. */
  columns: string[];
  batching: BatchLimits;
  /** The Pulsar schema version of the announced schema; undefined = no schema. */
  schemaVersion: Buffer | undefined;
  /** The ledger the range lies in; undefined for a tail range. */
  ledgerId: number | undefined;
  /** When the ticket was issued (ms since the epoch). */
  issuedAtMs: number;
}

/** Why a ticket was refused. */
export type TicketFault = 'size' | 'envelope' | 'key' | 'content';

/**
 * A ticket this gateway will not read. INVALID_ARGUMENT, as every SeamError maps: the client
 * sent bytes that are not (or no longer) a ticket of this Seam.
 */
export class InvalidTicketError extends SeamError {
  override name = 'InvalidTicketError';
  readonly fault: TicketFault;

  constructor(fault: TicketFault, message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
    this.fault = fault;
  }
}

/** A ticket key file that cannot be used. */
export class TicketKeyError extends Error {
  override name = 'TicketKeyError';
}

/** HMAC keys by key id: the first signs, all verify, so keys rotate with no downtime. */
export interface TicketKeyRing {
  signing: { kid: number; key: Buffer };
  keys: ReadonlyMap<number, Buffer>;
}

/** Tickets are ~60-150 bytes (columns add their names); anything larger is refused unread. */
export const maxTicketBytes = 16 * 1024;
/** Shortest HMAC key accepted, bytes (128 bits). */
export const minTicketKeyBytes = 16;

const FlightTicket = apiType('FlightTicket');
const magic = Buffer.from('T1');
const ticketVersion = 1;
const crcTagBytes = 4;
const hmacTagBytes = 16;
const foreign = 'not a ticket of this Seam: damaged, edited or foreign';

interface TicketMessage {
  version: number;
  topic: string;
  start?: { partition?: number } & PositionFields;
  last_message_id?: Uint8Array;
  end_publish_time_ms?: number;
  columns?: string[];
  batching?: {
    max_rows?: number;
    max_bytes?: number;
    max_latency?: Duration;
    heartbeat_interval?: Duration;
  };
  pulsar_schema_version?: Uint8Array;
  ledger_id?: number;
  issued_at_ms?: number;
}

interface Duration {
  seconds?: number;
  nanos?: number;
}

/** Encodes `range` as a ticket: HMAC-signed with the ring's signing key, else CRC32C. */
export function encodeTicket(range: TicketRange, keys?: TicketKeyRing): Buffer {
  const message: TicketMessage = {
    version: ticketVersion,
    topic: range.topic,
    start: { partition: range.partition, ...positionFields(range.start) },
    last_message_id: range.lastMessageId?.serialize(),
    end_publish_time_ms: range.endPublishTimeMs,
    columns: range.columns,
    batching: {
      max_rows: range.batching.maxRows,
      max_bytes: range.batching.maxBytes,
      max_latency: duration(range.batching.maxLatencyMs),
      heartbeat_interval: duration(range.batching.heartbeatMs),
    },
    pulsar_schema_version: range.schemaVersion,
    ledger_id: range.ledgerId,
    issued_at_ms: range.issuedAtMs,
  };
  const body = Buffer.from(FlightTicket.encode(FlightTicket.fromObject(message)).finish());
  const kid = keys?.signing.kid ?? 0;
  const tag = keys ? hmacTag(keys.signing.key, body) : crcTag(body);
  const ticket = Buffer.concat([magic, Buffer.of(kid), tag, body]);
  if (ticket.length > maxTicketBytes) {
    // Issuing what DoGet would refuse helps nobody: say so when planning.
    throw new SeamError(
      'INVALID_ARGUMENT',
      `the ticket for this request would be ${ticket.length} bytes, over ${maxTicketBytes}: ask for fewer columns`,
    );
  }
  return ticket;
}

/**
 * Decodes a ticket, checking its envelope first. Throws InvalidTicketError when it is
 * oversized, damaged, edited, foreign, signed with a key this ring lacks, or unsigned while
 * keys are configured.
 */
export function decodeTicket(ticket: Uint8Array, keys?: TicketKeyRing): TicketRange {
  if (ticket.length > maxTicketBytes) {
    throw new InvalidTicketError(
      'size',
      `${foreign} (${ticket.length} bytes, over ${maxTicketBytes})`,
    );
  }
  const bytes = Buffer.from(ticket.buffer, ticket.byteOffset, ticket.byteLength);
  if (bytes.length < magic.length + 1 || !bytes.subarray(0, magic.length).equals(magic)) {
    throw new InvalidTicketError('envelope', foreign);
  }
  const kid = bytes[magic.length] ?? 0;
  const body = verifiedBody(bytes, kid, keys);
  let message: TicketMessage;
  try {
    message = FlightTicket.toObject(FlightTicket.decode(body), { longs: Number }) as TicketMessage;
  } catch (error) {
    // Only a gateway with a key (or a CRC collision) gets here: the tag was right.
    throw new InvalidTicketError('content', `${foreign} (it does not decode)`, { cause: error });
  }
  if (message.version !== ticketVersion) {
    throw new InvalidTicketError(
      'content',
      `the ticket has version ${message.version}; this gateway reads ${ticketVersion}: call GetFlightInfo again`,
    );
  }
  return rangeOf(message);
}

/** The body of a ticket whose tag checks out for its key id. */
function verifiedBody(bytes: Buffer, kid: number, keys: TicketKeyRing | undefined): Buffer {
  const head = magic.length + 1;
  if (kid === 0) {
    if (keys) {
      throw new InvalidTicketError(
        'key',
        `${foreign} (unsigned, and this gateway only takes tickets signed with its keys)`,
      );
    }
    const body = bytes.subarray(head + crcTagBytes);
    if (
      bytes.length < head + crcTagBytes ||
      !crcTag(body).equals(bytes.subarray(head, head + crcTagBytes))
    ) {
      throw new InvalidTicketError('envelope', foreign);
    }
    return body;
  }
  const key = keys?.keys.get(kid);
  if (!key)
    throw new InvalidTicketError('key', `${foreign} (signed with key ${kid}, unknown here)`);
  const body = bytes.subarray(head + hmacTagBytes);
  if (
    bytes.length < head + hmacTagBytes ||
    !timingSafeEqual(hmacTag(key, body), bytes.subarray(head, head + hmacTagBytes))
  ) {
    throw new InvalidTicketError('envelope', foreign);
  }
  return body;
}

function rangeOf(m: TicketMessage): TicketRange {
  try {
    const b = m.batching ?? {};
    return {
      topic: m.topic,
      partition: m.start?.partition ?? 0,
      start: positionOf(m.start ?? {}),
      lastMessageId: m.last_message_id?.length
        ? MessageId.deserialize(m.last_message_id)
        : undefined,
      endPublishTimeMs: m.end_publish_time_ms,
      columns: m.columns ?? [],
      batching: {
        maxRows: b.max_rows ?? 0,
        maxBytes: b.max_bytes ?? 0,
        maxLatencyMs: millis(b.max_latency),
        heartbeatMs: millis(b.heartbeat_interval),
      },
      schemaVersion: m.pulsar_schema_version?.length
        ? Buffer.from(m.pulsar_schema_version)
        : undefined,
      ledgerId: m.ledger_id,
      issuedAtMs: m.issued_at_ms ?? 0,
    };
  } catch (error) {
    throw new InvalidTicketError('content', `${foreign} (a message id does not decode)`, {
      cause: error,
    });
  }
}

function crcTag(body: Buffer): Buffer {
  const tag = Buffer.alloc(crcTagBytes);
  tag.writeUInt32BE(crc32c(body));
  return tag;
}

function hmacTag(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(body).digest().subarray(0, hmacTagBytes);
}

function duration(ms: number): Duration {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

function millis(d: Duration | undefined): number {
  return (d?.seconds ?? 0) * 1000 + Math.round((d?.nanos ?? 0) / 1_000_000);
}

/**
 * Parses a ticket key file: lines `k:base64key` with k in 1..255, the first line signing and
 * every line verifying. Blank lines and lines starting with `#` are skipped. `source` names
 * the file in errors.
 */
export function parseTicketKeys(text: string, source: string): TicketKeyRing {
  const keys = new Map<number, Buffer>();
  let signing: TicketKeyRing['signing'] | undefined;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source}:${index + 1}`;
    const match = /^(\d{1,3}):([A-Za-z0-9+/]+={0,2})$/.exec(line);
    const kid = Number(match?.[1]);
    if (!match?.[2] || !(kid >= 1 && kid <= 255)) {
      throw new TicketKeyError(`${where}: expected 'k:base64key' with k in 1..255`);
    }
    const key = Buffer.from(match[2], 'base64');
    if (key.length < minTicketKeyBytes) {
      throw new TicketKeyError(
        `${where}: key ${kid} is ${key.length} bytes; use at least ${minTicketKeyBytes} (32 random bytes: openssl rand -base64 32)`,
      );
    }
    if (keys.has(kid)) throw new TicketKeyError(`${where}: key ${kid} is listed twice`);
    keys.set(kid, key);
    signing ??= { kid, key };
  }
  if (!signing) throw new TicketKeyError(`${source}: no keys (expected lines 'k:base64key')`);
  return { signing, keys };
}

/** Reads and parses a ticket key file (see parseTicketKeys). */
export function loadTicketKeys(file: string): TicketKeyRing {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new TicketKeyError(`cannot read ticket keys from ${file}: ${String(error)}`, {
      cause: error,
    });
  }
  return parseTicketKeys(text, file);
}
