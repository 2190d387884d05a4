/**
 * Arrow Flight's endpoints from a read's plan: the history of each partition cut into one
 * range per segment (ledger), in Pulsar order, plus a tail range per partition when the
 * read does not end with its history. Every range is a ticket's content (TicketRange);
 * DoGet reads it through the ordinary stream (`rangeRequest`), so a range yields exactly
 * the rows ReadStream yields for those messages. No gRPC here.
 *
 * Why the ranges cover the history exactly once: the history of a partition is the
 * messages after its start up to and including its boundary B (the last message at open,
 * or the read's end when that comes first). `historySegments` lists the entries holding
 * them, one segment per ledger, in order and without overlap; a range starts where its
 * segment starts (the read's own start for the first) and ends with its segment's last
 * entry, whole (B for the last). Consecutive ranges therefore meet at a ledger change.
 */
import type * as arrow from 'apache-arrow';
import { apiType } from '../api.ts';
import type { Ledger } from '../pulsar/admin.ts';
import { MessageId } from '../pulsar/message-id.ts';
import { historySegments, publishTimes, type Segment, segmentEntries } from '../pulsar/segments.ts';
import { SeamError } from './errors.ts';
import {
  type CoreAdmin,
  type CoreClient,
  checkPosition,
  openPlan,
  type Partition,
  prunedSegments,
  readerOpener,
  type StreamDeps,
  type StreamInfo,
} from './plan.ts';
import { firstEntry, isAfter, startsAfter } from './positions.ts';
import { endPublishTime, type ReadRequest } from './request.ts';
import { type Position, positionFields } from './resume-token.ts';
import { InvalidTicketError, type TicketRange } from './ticket.ts';

/** One range of a partition's history: what one endpoint reads. */
export interface HistoryRange {
  start: Position;
  /** The range's last message, inclusive (a whole entry without batch index). */
  last: MessageId;
  /** The ledger's entries the range covers, with their stored size. */
  segment: Segment;
}

/**
 * Cuts a partition's history into one range per segment. `segments` are the history's
 * (`historySegments`, possibly pruned by publish time), `start` the partition's start and
 * `boundary` its last history message. The first range starts at `start` (from earliest:
 * at its segment's first entry), later ones at their segment's first entry; each ends with
 * its segment's last entry, the boundary's segment at `boundary`. Ranges with nothing in them (a
 * start right after its segment's last message) are left out. Pure.
 */
export function segmentRanges(
  segments: readonly Segment[],
  start: Position,
  boundary: MessageId,
): HistoryRange[] {
  const ranges: HistoryRange[] = [];
  for (const [i, segment] of segments.entries()) {
    const entry = new MessageId(segment.ledgerId, segment.firstEntry);
    const from: Position = i === 0 && start.kind !== 'earliest' ? start : { kind: 'at', id: entry };
    // The boundary's own segment ends at it (an end time may have cut later ones off).
    const last =
      segment.ledgerId === boundary.ledgerId
        ? boundary
        : new MessageId(segment.ledgerId, segment.lastEntry);
    if (startsAfter(from, last, undefined)) continue;
    ranges.push({ start: from, last, segment });
  }
  return ranges;
}

/**
 * The ranges of a partition's history from its ledgers (as `PulsarAdmin.ledgers` lists
 * them), its start, its boundary, and the cursor's mark-delete position after a seek by
 * publish time (where such a start lands). Pure; see `segmentRanges`.
 */
export function historyRanges(
  ledgers: Ledger[],
  start: Position,
  boundary: MessageId,
  markDelete?: MessageId,
): HistoryRange[] {
  if (startsAfter(start, boundary, markDelete)) return [];
  const segments = historySegments(ledgers, firstEntry(start, markDelete), boundary);
  return segmentRanges(segments, start, boundary);
}

/** What an endpoint's metadata (seam.v1.EndpointInfo) says about its range. */
export interface EndpointInfo {
  topic: string;
  partition: number;
  /** The ledger; undefined for a tail range. */
  ledgerId: number | undefined;
  firstEntry: number;
  lastEntry: number;
  /** Stored bytes of the range's entries, estimated from the ledger metadata. */
  storedBytes: number;
}

/** One endpoint: its ticket's range and its metadata. */
export interface PlannedEndpoint {
  range: TicketRange;
  info: EndpointInfo;
}

/** A read planned for Arrow Flight (GetFlightInfo). */
export interface FlightPlan {
  /** Exactly the Arrow schema ReadStream sends for the request. */
  schema: arrow.Schema;
  /** What ReadStream sends with the schema. */
  info: StreamInfo;
  /** Partition by partition, in Pulsar order within each. */
  endpoints: PlannedEndpoint[];
  /** Stored bytes of the history ranges, estimated. */
  storedBytes: number;
  /**
   * Where each partition starts, by partition index: the request's start resolved (`latest`
   * pinned right after the partition's last message), before any range.
   */
  starts: ReadonlyMap<number, Position>;
}

/**
 * Plans `request` as ReadStream would (the same plan, with no segment reader started) and
 * cuts it into endpoints. Every reader the plan opened is closed before this returns, so no
 * subscription outlives the call. Needs the admin API (the ledgers).
 */
export async function planFlight(
  deps: StreamDeps<CoreClient, CoreAdmin>,
  request: ReadRequest,
  signal: AbortSignal,
): Promise<FlightPlan> {
  const { admin } = deps;
  if (!admin) {
    throw new SeamError('FAILED_PRECONDITION', 'Flight needs the Pulsar admin API (the ledgers)');
  }
  // The readers only tell positions: no prefetch to speak of.
  // Many executors plan one topic at once: they share a ledger list per partition.
  const plan = await openPlan({ ...deps, receiverQueueSize: 1 }, request, signal, {
    segmentReaders: false,
    recentLedgers: true,
  });
  try {
    const issuedAtMs = Date.now();
    const endMs = endPublishTime(request.end);
    const base = {
      columns: request.columns,
      batching: request.batching,
      schemaVersion: plan.info.schemaVersion,
      endPublishTimeMs: endMs,
      issuedAtMs,
    };
    const endpoints: PlannedEndpoint[] = [];
    for (const p of plan.partitions) {
      const segments = await historyOf(deps, admin, p, request);
      const ranges = p.boundary ? segmentRanges(segments, p.position, p.boundary) : [];
      for (const { start, last, segment } of ranges) {
        endpoints.push({
          range: {
            ...base,
            topic: p.topic,
            partition: p.partition,
            start,
            lastMessageId: last,
            ledgerId: segment.ledgerId,
          },
          info: {
            topic: p.topic,
            partition: p.partition,
            ledgerId: segment.ledgerId,
            firstEntry: segment.firstEntry,
            lastEntry: segment.lastEntry,
            storedBytes: Math.round(segment.entryBytes * segmentEntries(segment)),
          },
        });
      }
      // After the ranges, the tail continues right after the boundary; without any (no
      // history, or none left in a time window), where the partition starts.
      const tailStart: Position =
        p.boundary && ranges.length > 0 ? { kind: 'after', id: p.boundary } : p.position;
      const tail = tailRange(p, request, issuedAtMs, tailStart);
      if (tail) {
        endpoints.push({
          range: { ...base, topic: p.topic, partition: p.partition, ledgerId: undefined, ...tail },
          info: {
            topic: p.topic,
            partition: p.partition,
            ledgerId: undefined,
            firstEntry: 0,
            lastEntry: 0,
            storedBytes: 0,
          },
        });
      }
    }
    return {
      schema: plan.schema.schema,
      info: plan.info,
      endpoints,
      storedBytes: endpoints.reduce((sum, e) => sum + e.info.storedBytes, 0),
      starts: new Map(plan.partitions.map((p) => [p.partition, p.position])),
    };
  } finally {
    await Promise.all(plan.partitions.map((p) => p.reader.close()));
  }
}

/**
 * The segments of a partition's history, pruned to the read's publish-time window. Without
 * publish times the segments stay whole (every range filters by the end time anyway), except
 * with a start time: a later range would then hand out messages before it, so that is an
 * error. A segment whose first entry is at or past the end time holds nothing to read.
 */
async function historyOf(
  deps: StreamDeps<CoreClient, CoreAdmin>,
  admin: CoreAdmin,
  p: Partition,
  request: ReadRequest,
): Promise<Segment[]> {
  if (p.historyDone || p.finished || !p.boundary) return [];
  if (p.segments.length === 0) {
    // The plan could not list the ledgers: say why (the call's own error), or retry.
    await admin.ledgers(p.topic).catch((error: unknown) => {
      throw SeamError.from(error);
    });
    throw new SeamError('UNAVAILABLE', `${p.topic}: its ledgers could not be listed; retry`);
  }
  const endMs = endPublishTime(request.end);
  if (p.position.kind !== 'publishTime' && endMs === undefined) return p.segments;
  let kept: Segment[];
  try {
    ({ kept } = await prunedSegments(deps, admin, p, request.end));
  } catch (error) {
    if (p.position.kind === 'publishTime') throw SeamError.from(error);
    return p.segments;
  }
  const last = kept.at(-1);
  if (endMs !== undefined && last) {
    const firstTime = await (deps.publishTimes ?? publishTimes)
      .entry(admin, p.topic, last.ledgerId, last.firstEntry)
      .catch(() => undefined);
    if (firstTime !== undefined && firstTime >= endMs) kept.pop();
  }
  return kept;
}

/**
 * The tail range of a partition, when the read goes on past its history: from right after
 * the boundary (or the start, without history) up to the end position, the end time, or
 * for ever.
 */
function tailRange(
  p: Partition,
  request: ReadRequest,
  nowMs: number,
  start: Position,
): Pick<TicketRange, 'start' | 'lastMessageId'> | undefined {
  if (p.finished) return undefined;
  const { end } = request;
  switch (end.kind) {
    case 'atOpen':
      return undefined;
    case 'follow':
      return { start, lastMessageId: undefined };
    case 'publishTime':
      return end.ms > nowMs ? { start, lastMessageId: undefined } : undefined;
    case 'positions':
      // An end beyond what the partition held at open: the rest comes from the tail.
      if (!p.end || (p.boundary && !isAfter(p.end, p.boundary))) return undefined;
      return { start, lastMessageId: p.end };
  }
}

/**
 * The read a ticket's range stands for: its partition topic from its start to its last
 * message (inclusive) and end time, through the ordinary stream.
 */
export function rangeRequest(range: TicketRange): ReadRequest {
  const { partition, lastMessageId, endPublishTimeMs } = range;
  let end: ReadRequest['end'];
  if (lastMessageId) {
    end = {
      kind: 'positions',
      last: new Map([[partition, lastMessageId]]),
      beforePublishTimeMs: endPublishTimeMs,
    };
  } else if (endPublishTimeMs !== undefined) {
    end = { kind: 'publishTime', ms: endPublishTimeMs };
  } else {
    end = { kind: 'follow' };
  }
  return {
    topic: range.topic,
    start: { kind: 'positions', positions: new Map([[partition, range.start]]) },
    end,
    columns: [...range.columns],
    batching: { ...range.batching },
    schemaVersion: range.schemaVersion,
  };
}

/**
 * Before a ticket's DoGet: its range lies in its ledger, and the ledger is still the
 * partition's. A ledger retention deleted is DATA_LOSS; one the partition never had is
 * INVALID_ARGUMENT (a ticket of another topic). Tail ranges name no ledger.
 */
export async function checkRange(
  deps: StreamDeps<CoreClient, CoreAdmin>,
  range: TicketRange,
  signal: AbortSignal,
): Promise<void> {
  const { ledgerId } = range;
  if (ledgerId === undefined) return;
  const startId =
    range.start.kind === 'at' || range.start.kind === 'after' ? range.start.id : undefined;
  // (A chunked message may start in the ledger before the one it ends in.)
  const inLedger = (id: MessageId | undefined) =>
    id === undefined || id.ledgerId === ledgerId || id.firstChunk?.ledgerId === ledgerId;
  if (
    !range.lastMessageId ||
    !inLedger(range.lastMessageId) ||
    !inLedger(startId) ||
    startsAfter(range.start, range.lastMessageId, undefined)
  ) {
    throw new InvalidTicketError(
      'content',
      `not a ticket of this Seam: its range does not lie in ledger ${ledgerId}`,
    );
  }
  const ledgers = await deps.admin?.ledgers(range.topic).catch((error: unknown) => {
    throw SeamError.from(error);
  });
  const position: Position = { kind: 'at', id: new MessageId(ledgerId, 0) };
  await checkPosition(readerOpener(deps), signal, range.topic, position, ledgers, 'ticket');
}

const EndpointInfoType = apiType('EndpointInfo');

/** An endpoint's `app_metadata`: a serialized seam.v1.EndpointInfo. */
export function encodeEndpointInfo(endpoint: PlannedEndpoint): Buffer {
  const { info, range } = endpoint;
  const message = {
    topic: info.topic,
    partition: info.partition,
    ledger_id: info.ledgerId,
    first_entry: info.firstEntry,
    last_entry: info.lastEntry,
    stored_bytes: info.storedBytes,
    start: { partition: range.partition, ...positionFields(range.start) },
    last_message_id: range.lastMessageId?.serialize(),
    end_publish_time_ms: range.endPublishTimeMs,
  };
  return Buffer.from(EndpointInfoType.encode(EndpointInfoType.fromObject(message)).finish());
}
