/** A validated read request, as the core takes it, and the batching defaults. */
import type { MessageId } from '../pulsar/message-id.ts';
import type { Position } from './resume-token.ts';

/**
 * Latest publish time a request or token may name: the end of year 9999, the last instant
 * of a protobuf Timestamp (ms). Pulsar's publish times are ms since the epoch in a uint64:
 * a time past this (seconds = 9e18 made an 11-byte varint in SEEK) names no message.
 */
export const maxPublishTimeMs = 253_402_300_799_999;

/** Where the stream starts. */
export type Start =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'publishTime'; ms: number }
  | { kind: 'messageId'; id: MessageId }
  | { kind: 'resumeToken'; token: Buffer }
  /** One position per partition, keyed by partition index (-1 when not partitioned). */
  | { kind: 'positions'; positions: ReadonlyMap<number, Position> };

/** When the stream ends. */
export type End =
  | { kind: 'follow' }
  | { kind: 'atOpen' }
  | { kind: 'publishTime'; ms: number }
  | {
      kind: 'positions';
      /**
       * The last message of each partition named, inclusive (earliest = nothing); the
       * partitions not named end at their last message at open.
       */
      last: ReadonlyMap<number, MessageId>;
      /** Also stop before the first message with this publish time or later (ms). */
      beforePublishTimeMs?: number | undefined;
    };

/** The publish time (ms) before which the stream ends, if its end has one. */
export function endPublishTime(end: End): number | undefined {
  if (end.kind === 'publishTime') return end.ms;
  if (end.kind === 'positions') return end.beforePublishTimeMs;
  return undefined;
}

/** Batch limits; every field has a default. */
export interface BatchLimits {
  /** Rows per batch at most. */
  maxRows: number;
  /** Arrow bytes per batch at most (estimated while building). */
  maxBytes: number;
  /** How long the tail holds rows before sending them, ms. */
  maxLatencyMs: number;
  /** How often an idle tail sends a heartbeat, ms. */
  heartbeatMs: number;
}

export const defaultBatchLimits: BatchLimits = {
  maxRows: 65_536,
  maxBytes: 3 * 1024 * 1024, // 3 MiB: a response then stays under gRPC's default 4 MiB limit
  maxLatencyMs: 10, // 10 ms
  heartbeatMs: 1_000, // 1 s
};

/** Largest accepted limits: beyond them a batch cannot be sent in one gRPC message anyway. */
export const batchLimitCeilings: BatchLimits = {
  maxRows: 1_048_576,
  // 16 MiB, for clients that raise their receive limit: 4x the default, and a caller's 64
  // streams then build at most 1 GiB at once (was 64 MiB: 4 GiB), counted in the budget.
  maxBytes: 16 * 1024 * 1024,
  maxLatencyMs: 60_000, // 1 min
  heartbeatMs: 300_000, // 5 min
};

/** What to read. */
export interface ReadRequest {
  topic: string;
  start: Start;
  end: End;
  /** Column names; empty = all. */
  columns: string[];
  batching: BatchLimits;
  /**
   * Read with this version of the topic's Pulsar schema instead of the latest: a Flight
   * ticket's, so that DoGet sends the schema GetFlightInfo announced. A version the schema
   * registry no longer has is FAILED_PRECONDITION.
   */
  schemaVersion?: Buffer | undefined;
}
