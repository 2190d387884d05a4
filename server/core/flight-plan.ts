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
 *
 * Except inside a chunked message (a message over the broker's size limit, written as
 * several entries) whose chunks straddle a ledger boundary: the range before would end
 * before its last chunk (its reader drops the incomplete message) and the next would start
 * after its first (its reader drops the orphan chunks). So each boundary is checked
 * (`boundaryCut`: the entries either side, cached) and, inside a chunked message, steps back
 * before its first chunk as a poll's cut does (`chunkSafeCut`); the next range starts right
 * after, in the ledger before its own (`wholeMessageRanges`). A message belongs to the range
 * holding its last chunk, as in ReadStream's order.
 */
import type * as arrow from 'apache-arrow';
import { apiType } from '../api.ts';
import type { EntryChunk, Ledger, PulsarAdmin } from '../pulsar/admin.ts';
import { compareMessageIds, MessageId } from '../pulsar/message-id.ts';
import {
  entryChunks,
  historySegments,
  publishTimes,
  type Segment,
  segmentEntries,
} from '../pulsar/segments.ts';
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
import { entryBefore, firstEntry, isAfter, startsAfter } from './positions.ts';
import { endPublishTime, type ReadRequest } from './request.ts';
import { type Position, positionFields } from './resume-token.ts';
import { InvalidTicketError, type TicketRange } from './ticket.ts';

/** One range of a partition's history: what one endpoint reads. */
export interface HistoryRange {
  start: Position;
  /** The range's last message, inclusive (a whole entry without batch index). */
  last: MessageId;
  /** The entries the range covers in the ledger it ends in, with their stored size. */
  segment: Segment;
  /**
   * Stored bytes of the range's entries in ledgers before its segment's (the chunks of a
   * message begun there, see `wholeMessageRanges`); none when it starts in its segment.
   */
  carriedBytes?: number;
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

/** What planning asks of the admin API: the plan's, and entries' chunk headers. */
export type FlightAdmin = CoreAdmin & Pick<PulsarAdmin, 'entryChunk'>;

/** `admin` with its chunk headers through the process's cache (an entry never changes). */
export function cachedChunks(
  admin: Pick<PulsarAdmin, 'entryChunk' | 'ledgers'>,
): Pick<PulsarAdmin, 'entryChunk' | 'ledgers'> {
  return {
    entryChunk: (topic, ledgerId, entryId) => entryChunks.entry(admin, topic, ledgerId, entryId),
    ledgers: (topic) => admin.ledgers(topic),
  };
}

/** Entries a cut may step back over, at most, looking for the first chunk of a message. */
export const maxCutScanEntries = 1_000;
/** Entry metadata fetched at once while stepping back. */
const scanParallelism = 8;

/** One entry of a partition, as the admin API names it. */
export interface EntryRef {
  ledgerId: number;
  entryId: number;
}

/**
 * The last clean cut in a window of consecutive entries (oldest first; the last is the
 * cut entry, unless `upTo` names an earlier one: the entries after it are known to follow
 * the cut): the largest index i <= upTo such that no chunked message seen in the window
 * spans it (its first chunk at or before i, its last after i). -1 means "before the
 * window", clean only when every message seen has its first chunk inside the window;
 * undefined when not even that holds (the window must grow further back). A message whose
 * last chunk is not in the window ends after the cut; one whose first chunk is not in it
 * began before the window. Pure.
 */
export function cleanCut(
  window: readonly (EntryChunk | undefined)[],
  upTo = window.length - 1,
): number | undefined {
  const spans = new Map<string, { first: number; last: number }>();
  window.forEach((chunk, i) => {
    if (!chunk) return;
    const span = spans.get(chunk.uuid) ?? {
      first: Number.NEGATIVE_INFINITY,
      last: Number.POSITIVE_INFINITY,
    };
    if (chunk.chunkId === 0) span.first = i;
    if (chunk.chunkId === chunk.chunks - 1) span.last = i;
    spans.set(chunk.uuid, span);
  });
  for (let i = upTo; i >= -1; i--) {
    let clean = true;
    for (const { first, last } of spans.values()) {
      if (first <= i && i < last) {
        clean = false;
        break;
      }
    }
    if (clean) return i;
  }
  return undefined;
}

/**
 * Where a range ending with entry `last` may end without splitting a chunked message (a
 * poll's cut: `last` is the partition's last entry now; a ledger boundary: its ledger's last
 * entry, with `following` the first entries of the next ledger): `last` unless that is
 * inside a chunked message still incomplete there (then the entry before the first chunk of
 * every such message, as far as `cleanCut` sees them). Earliest when that is before `floor`
 * (the entry the range starts after) or the partition's first entry; undefined when no clean
 * cut lies after `floor` within `maxCutScanEntries`. Costs one admin call when the last entry
 * is no chunk and nothing in `following` continues one.
 */
export async function chunkSafeCut(
  admin: Pick<PulsarAdmin, 'entryChunk' | 'ledgers'>,
  topic: string,
  last: MessageId,
  floor: EntryRef | undefined,
  following: readonly (EntryChunk | undefined)[] = [],
): Promise<MessageId | undefined> {
  // Nothing new since the descriptor's position: no range, whatever the entry holds.
  if (floor && compareEntries(last, floor) <= 0) return last;
  // Oldest first once reversed; entries are fetched from the cut backwards.
  const window: (EntryChunk | undefined)[] = [];
  const refs: EntryRef[] = [];
  let next: EntryRef | undefined = { ledgerId: last.ledgerId, entryId: last.entryId };
  let ledgers: Awaited<ReturnType<PulsarAdmin['ledgers']>> | undefined;
  /** The entry before `ref`, crossing into the previous ledger with entries. */
  const before = async (ref: EntryRef): Promise<EntryRef | undefined> => {
    if (ref.entryId > 0) return { ledgerId: ref.ledgerId, entryId: ref.entryId - 1 };
    ledgers ??= await admin.ledgers(topic);
    const previous = ledgers.filter((l) => l.ledgerId < ref.ledgerId && l.entries > 0).at(-1);
    return previous && { ledgerId: previous.ledgerId, entryId: previous.entries - 1 };
  };
  const atFloor = (ref: EntryRef) => floor !== undefined && compareEntries(ref, floor) <= 0;
  while (refs.length < maxCutScanEntries) {
    // The cut entry alone first: most cuts are no chunk, and that is one call.
    const batch: EntryRef[] = [];
    const size = refs.length === 0 ? 1 : Math.min(scanParallelism, maxCutScanEntries - refs.length);
    while (next && batch.length < size) {
      batch.push(next);
      next = atFloor(next) ? undefined : await before(next);
    }
    const chunks = await Promise.all(
      batch.map((ref) => admin.entryChunk(topic, ref.ledgerId, ref.entryId)),
    );
    refs.unshift(...batch.reverse());
    window.unshift(...chunks.reverse());
    const clean = cleanCut([...window, ...following], window.length - 1);
    if (clean !== undefined && clean >= 0) {
      const ref = refs[clean] as EntryRef;
      return clean === refs.length - 1
        ? last
        : new MessageId(ref.ledgerId, ref.entryId, -1, last.partition);
    }
    // Before the window: clean, and it is the partition's (or the floor's) beginning.
    if (clean === -1 || !next) {
      if (clean !== -1) return undefined;
      const first = refs[0] as EntryRef;
      const previous = atFloor(first) ? undefined : await before(first);
      return previous
        ? new MessageId(previous.ledgerId, previous.entryId, -1, last.partition)
        : MessageId.earliest;
    }
  }
  return undefined;
}

function compareEntries(a: EntryRef, b: EntryRef): number {
  return a.ledgerId - b.ledgerId || a.entryId - b.entryId;
}

/**
 * Where a range ending at a ledger boundary must end so that no chunked message straddles
 * it: `last` is its ledger's last entry in the plan, `next` the next range's first entry,
 * `floor` the entry the range starts after. The boundary stands (two admin calls, or none
 * from the cache) unless the entries either side show a message going on across it: `last`
 * a chunk but not a message's last, or `next` a chunk but not its first. Then it steps back
 * as a poll's cut does (`chunkSafeCut`), knowing what follows. A chunked message that
 * crosses with neither entry its chunk (interleaved with other producers' messages on both
 * sides) is not seen.
 */
export async function boundaryCut(
  admin: Pick<PulsarAdmin, 'entryChunk' | 'ledgers'>,
  topic: string,
  last: MessageId,
  next: EntryRef,
  floor: EntryRef | undefined,
): Promise<MessageId | undefined> {
  const [end, after] = await Promise.all([
    admin.entryChunk(topic, last.ledgerId, last.entryId),
    admin.entryChunk(topic, next.ledgerId, next.entryId),
  ]);
  const open = end !== undefined && end.chunkId < end.chunks - 1;
  const continued = after !== undefined && after.chunkId > 0;
  if (!open && !continued) return last;
  return chunkSafeCut(admin, topic, last, floor, [after]);
}

/**
 * The ranges with each one's end moved to its cut (`cuts[i]`: where range i must end, as
 * `boundaryCut` finds it at a ledger boundary; the last range's own last message unless a
 * tail range follows). A range whose cut steps back ends there, and what follows starts
 * right after it. A range left with nothing (no clean cut after its start, or one in an
 * earlier ledger), or one starting at a publish time whose end moved (what follows could not
 * start after a cut before that time), joins what follows, which then starts where it did.
 * `after`: where what follows the ranges (a tail range) starts, when the last range did not
 * end at its own last message. Pure.
 */
export function wholeMessageRanges(
  ranges: readonly HistoryRange[],
  cuts: readonly (MessageId | undefined)[],
): { ranges: HistoryRange[]; after: Position | undefined } {
  const out: HistoryRange[] = [];
  let carried: { start: Position; bytes: number } | undefined;
  for (const [i, range] of ranges.entries()) {
    const start = carried?.start ?? range.start;
    const carriedBytes = carried?.bytes ?? 0;
    const { segment } = range;
    const cut = cuts[i];
    if (cut && compareMessageIds(cut, range.last) === 0) {
      out.push({ ...range, start, ...(carried && { carriedBytes }) });
      carried = undefined;
      continue;
    }
    const bytes = segment.entryBytes * segmentEntries(segment);
    if (
      !cut ||
      cut.isSentinel ||
      cut.ledgerId !== segment.ledgerId ||
      start.kind === 'publishTime' ||
      startsAfter(start, cut, undefined)
    ) {
      carried = { start, bytes: carriedBytes + bytes };
      continue;
    }
    const kept = { ...segment, lastEntry: cut.entryId };
    out.push({ start, last: cut, segment: kept, ...(carried && { carriedBytes }) });
    carried = {
      start: { kind: 'after', id: cut },
      bytes: bytes - segment.entryBytes * segmentEntries(kept),
    };
  }
  return { ranges: out, after: carried?.start };
}

/** The entry a range starts after: where a cut's scan back stops. */
function floorOf({ start, segment }: HistoryRange): EntryRef {
  return entryBefore(start) ?? { ledgerId: segment.ledgerId, entryId: segment.firstEntry - 1 };
}

/**
 * A partition's ranges with no chunked message split at a ledger boundary: every boundary
 * checked (`boundaryCut`, a few at once), then the ranges rejoined (`wholeMessageRanges`).
 * When a tail range follows (`tailed`), the last range's end is a cut too: the boundary, the
 * last message at open, may be inside a chunked message still being written, so it steps
 * back as a poll's cut does (`chunkSafeCut`) and the tail range reads that message whole.
 */
export async function chunkSafeRanges(
  admin: Pick<PulsarAdmin, 'entryChunk' | 'ledgers'>,
  topic: string,
  ranges: readonly HistoryRange[],
  tailed: boolean,
): Promise<{ ranges: HistoryRange[]; after: Position | undefined }> {
  const cuts: (MessageId | undefined)[] = [];
  for (let i = 0; i < ranges.length - 1; i += scanParallelism) {
    const batch = ranges.slice(i, Math.min(i + scanParallelism, ranges.length - 1));
    cuts.push(
      ...(await Promise.all(
        batch.map((range, j) => {
          const next = (ranges[i + j + 1] as HistoryRange).segment;
          const entry = { ledgerId: next.ledgerId, entryId: next.firstEntry };
          return boundaryCut(admin, topic, range.last, entry, floorOf(range));
        }),
      )),
    );
  }
  const last = ranges.at(-1);
  if (last) {
    cuts.push(tailed ? await chunkSafeCut(admin, topic, last.last, floorOf(last)) : last.last);
  }
  return wholeMessageRanges(ranges, cuts);
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
  /** Whether the ledger is the one the broker is still writing (when known). */
  open?: boolean;
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
  deps: StreamDeps<CoreClient, FlightAdmin>,
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
      const tailed = tailRange(p, request, issuedAtMs, p.position) !== undefined;
      const { ranges, after } = p.boundary
        ? await chunkSafeRanges(
            cachedChunks(admin),
            p.topic,
            segmentRanges(segments, p.position, p.boundary),
            tailed,
          ).catch((error: unknown) => {
            throw SeamError.from(error);
          })
        : { ranges: [], after: undefined };
      for (const { start, last, segment, carriedBytes = 0 } of ranges) {
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
            storedBytes: Math.round(segment.entryBytes * segmentEntries(segment) + carriedBytes),
            open: segment.open,
          },
        });
      }
      // After the ranges, the tail continues right after the boundary, or where the ranges
      // stepped back to (a chunked message at the boundary); without any (no history, or
      // none left in a time window), where the partition starts.
      const tailStart: Position =
        after ?? (p.boundary && ranges.length > 0 ? { kind: 'after', id: p.boundary } : p.position);
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
  deps: StreamDeps<CoreClient, FlightAdmin>,
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
 * Before a ticket's DoGet: its range ends in its ledger and starts there or in an earlier
 * one (the chunks of a message begun before the ledger, see `wholeMessageRanges`), and the
 * ledgers are still the partition's. A ledger retention deleted is DATA_LOSS; one the
 * partition never had is INVALID_ARGUMENT (a ticket of another topic). Tail ranges name no
 * ledger.
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
  const inLedger = (id: MessageId) =>
    id.ledgerId === ledgerId || id.firstChunk?.ledgerId === ledgerId;
  const startLedger =
    startId && !startId.isSentinel ? (startId.firstChunk ?? startId).ledgerId : ledgerId;
  if (
    !range.lastMessageId ||
    !inLedger(range.lastMessageId) ||
    startLedger > ledgerId ||
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
  // The range's first ledger: the one it ends in, or the earlier one it starts in.
  const position: Position = { kind: 'at', id: new MessageId(startLedger, 0) };
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
