/** Turns a wire ReadStreamRequest into the core's ReadRequest, or INVALID_ARGUMENT. */
import { SeamError } from '../core/errors.ts';
import {
  type BatchLimits,
  batchLimitCeilings,
  defaultBatchLimits,
  maxPublishTimeMs,
  type ReadRequest,
} from '../core/request.ts';
import { maxTokenBytes, maxTokenPositions, type Position } from '../core/resume-token.ts';
import { MessageId } from '../pulsar/message-id.ts';
import type { EndPositions__Output } from './generated/seam/v1/EndPositions.ts';
import type { ReadStreamRequest__Output } from './generated/seam/v1/ReadStreamRequest.ts';
import type { StartPositions__Output } from './generated/seam/v1/StartPositions.ts';

interface Timestamp {
  seconds?: number | string | null;
  nanos?: number | null;
}

/** Milliseconds since the epoch of a protobuf Timestamp or Duration. */
function millis(t: Timestamp | null | undefined, what: string): number {
  const seconds = Number(t?.seconds ?? 0);
  const nanos = t?.nanos ?? 0;
  if (!Number.isFinite(seconds) || nanos < 0 || nanos > 999_999_999) {
    throw new SeamError('INVALID_ARGUMENT', `${what} is not a valid timestamp or duration`);
  }
  return seconds * 1000 + Math.floor(nanos / 1e6);
}

/** Milliseconds since the epoch of a publish time: 1970-01-01 up to the end of 9999. */
function publishTime(t: Timestamp | null | undefined, what: string): number {
  const ms = millis(t, what);
  if (!(ms >= 0 && ms <= maxPublishTimeMs)) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `${what} (${t?.seconds ?? 0} s) is outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999Z: Pulsar publish times are milliseconds since the epoch`,
    );
  }
  return ms;
}

/** Longest topic or column name accepted. */
const maxNameLength = 1024;
/** Most columns a request may name. */
const maxColumns = 1000;

/** Carries why a request message did not decode (see `lenientDeserializer`). */
const undecodable = Symbol('undecodable');

/**
 * Wraps the request deserializer so bytes that are not a ReadStreamRequest reach the
 * handler, which answers INVALID_ARGUMENT: the caller's mistake, not grpc-js's INTERNAL.
 */
export function lenientDeserializer(
  deserialize: (bytes: Buffer) => ReadStreamRequest__Output,
): (bytes: Buffer) => ReadStreamRequest__Output {
  return (bytes) => {
    try {
      return deserialize(bytes);
    } catch (error) {
      return { [undecodable]: (error as Error).message } as unknown as ReadStreamRequest__Output;
    }
  };
}

/** Validates and fills defaults. */
export function toReadRequest(wire: ReadStreamRequest__Output): ReadRequest {
  const failure = (wire as { [undecodable]?: string })[undecodable];
  if (failure !== undefined) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `the request is not a seam.v1.ReadStreamRequest (${failure}): check the client's proto`,
    );
  }
  const topic = (wire.topic ?? '').trim();
  if (!topic)
    throw new SeamError(
      'INVALID_ARGUMENT',
      'topic is required (e.g. persistent://public/default/orders)',
    );
  if (topic.length > maxNameLength) {
    throw new SeamError('INVALID_ARGUMENT', `topic names are ${maxNameLength} characters at most`);
  }
  const columns = wire.columns ?? [];
  if (columns.length > maxColumns)
    throw new SeamError('INVALID_ARGUMENT', `${maxColumns} columns at most`);
  if (columns.some((c) => c.length > maxNameLength)) {
    throw new SeamError('INVALID_ARGUMENT', `column names are ${maxNameLength} characters at most`);
  }
  const request: ReadRequest = {
    topic,
    start: { kind: 'earliest' },
    end: { kind: 'follow' },
    columns: [...columns],
    batching: batching(wire.batching),
  };
  switch (wire.start) {
    case 'latest':
      request.start = { kind: 'latest' };
      break;
    case 'start_publish_time':
      request.start = {
        kind: 'publishTime',
        ms: publishTime(wire.start_publish_time, 'start_publish_time'),
      };
      break;
    case 'message_id':
      request.start = { kind: 'messageId', id: messageId(wire.message_id) };
      break;
    case 'resume_token':
      if (!wire.resume_token?.length)
        throw new SeamError('INVALID_ARGUMENT', 'resume_token is empty');
      // The partition count is known only once the topic is looked up: the largest token
      // any topic can have, here; the topic's own bound when the token is decoded.
      if (wire.resume_token.length > maxTokenBytes(maxTokenPositions))
        throw new SeamError(
          'INVALID_ARGUMENT',
          `resume_token of ${wire.resume_token.length} bytes is larger than any Seam token`,
        );
      request.start = { kind: 'resumeToken', token: Buffer.from(wire.resume_token) };
      break;
    case 'start_positions':
      request.start = { kind: 'positions', positions: startPositions(wire.start_positions) };
      break;
    default:
      break;
  }
  switch (wire.end) {
    case 'at_open':
      request.end = { kind: 'atOpen' };
      break;
    case 'end_publish_time':
      request.end = {
        kind: 'publishTime',
        ms: publishTime(wire.end_publish_time, 'end_publish_time'),
      };
      break;
    case 'end_positions':
      request.end = { kind: 'positions', last: endPositions(wire.end_positions) };
      break;
    default:
      break;
  }
  if (
    request.start.kind === 'publishTime' &&
    request.end.kind === 'publishTime' &&
    request.end.ms <= request.start.ms
  ) {
    throw new SeamError('INVALID_ARGUMENT', 'end_publish_time must be after start_publish_time');
  }
  return request;
}

function messageId(bytes: Buffer | null | undefined, what = 'message_id'): MessageId {
  if (!bytes?.length) throw new SeamError('INVALID_ARGUMENT', `${what} is empty`);
  let id: MessageId;
  try {
    id = MessageId.deserialize(bytes);
  } catch (error) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `${what} is not a serialized Pulsar MessageId: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (id.isSentinel || id.ledgerId < 0 || id.entryId < 0) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `${what} must name a message; use earliest or latest for the ends`,
    );
  }
  return id;
}

/**
 * The partition index of a position or end: -1 (not partitioned) up to the most
 * partitions a stream reads; named once. Whether the topic has it is known at open.
 */
function partitionIndex(partition: number | undefined, seen: Set<number>, what: string): number {
  const index = partition ?? 0;
  if (!(Number.isInteger(index) && index >= -1 && index < maxTokenPositions)) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `${what}: partition ${index} is not a partition index (-1 for a non-partitioned topic, else 0..N-1)`,
    );
  }
  if (seen.has(index))
    throw new SeamError('INVALID_ARGUMENT', `${what}: partition ${index} is named twice`);
  seen.add(index);
  return index;
}

function startPositions(wire: StartPositions__Output | undefined): Map<number, Position> {
  const list = wire?.positions ?? [];
  if (list.length === 0) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      'start_positions names no partition: give one position per partition',
    );
  }
  if (list.length > maxTokenPositions) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `start_positions: ${maxTokenPositions} partitions at most`,
    );
  }
  const seen = new Set<number>();
  const positions = new Map<number, Position>();
  for (const [i, p] of list.entries()) {
    const what = `start_positions.positions[${i}]`;
    const partition = partitionIndex(p.partition, seen, what);
    let position: Position;
    switch (p.position) {
      case 'after_message_id':
        position = { kind: 'after', id: messageId(p.after_message_id, `${what}.after_message_id`) };
        break;
      case 'at_message_id':
        position = { kind: 'at', id: messageId(p.at_message_id, `${what}.at_message_id`) };
        break;
      case 'from_publish_time_ms': {
        const ms = Number(p.from_publish_time_ms);
        if (!(Number.isSafeInteger(ms) && ms >= 0 && ms <= maxPublishTimeMs)) {
          throw new SeamError(
            'INVALID_ARGUMENT',
            `${what}.from_publish_time_ms (${p.from_publish_time_ms}) is outside 0..${maxPublishTimeMs} (ms since the epoch)`,
          );
        }
        position = { kind: 'publishTime', ms };
        break;
      }
      default:
        position = { kind: 'earliest' };
    }
    positions.set(partition, position);
  }
  return positions;
}

function endPositions(wire: EndPositions__Output | undefined): Map<number, MessageId> {
  const list = wire?.ends ?? [];
  if (list.length > maxTokenPositions) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `end_positions: ${maxTokenPositions} partitions at most`,
    );
  }
  const seen = new Set<number>();
  const ends = new Map<number, MessageId>();
  for (const [i, e] of list.entries()) {
    const what = `end_positions.ends[${i}]`;
    const partition = partitionIndex(e.partition, seen, what);
    // Empty: nothing from this partition; earliest is before every message.
    ends.set(
      partition,
      e.last_message_id?.length
        ? messageId(e.last_message_id, `${what}.last_message_id`)
        : MessageId.earliest,
    );
  }
  return ends;
}

function batching(wire: ReadStreamRequest__Output['batching']): BatchLimits {
  const limits = { ...defaultBatchLimits };
  if (!wire) return limits;
  if (wire.max_rows) limits.maxRows = wire.max_rows;
  if (wire.max_bytes) limits.maxBytes = Number(wire.max_bytes);
  if (wire.max_latency) limits.maxLatencyMs = millis(wire.max_latency, 'batching.max_latency');
  if (wire.heartbeat_interval)
    limits.heartbeatMs = millis(wire.heartbeat_interval, 'batching.heartbeat_interval');
  for (const key of Object.keys(limits) as (keyof BatchLimits)[]) {
    if (limits[key] > batchLimitCeilings[key] || limits[key] <= 0) {
      throw new SeamError(
        'INVALID_ARGUMENT',
        `batching ${key} = ${limits[key]} is outside 1..${batchLimitCeilings[key]}`,
      );
    }
  }
  return limits;
}
