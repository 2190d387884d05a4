/**
 * Arrow Flight's PollFlightInfo: a table that grows, read exactly once. A poll plans the
 * range of each partition from the descriptor's position up to a **cut**, the partition's
 * last message when polled (a whole entry: a batch is never split), as GetFlightInfo plans
 * a bounded read: one endpoint per ledger, the open ledger's up to the cut. The next
 * descriptor starts right after each cut, so successive polls meet with no gap and no
 * overlap: poll k covers (Pₖ, Cₖ], and Pₖ₊₁ = Cₖ.
 *
 * One hole is closed here: a chunked message (a message over the broker's size limit, written
 * as several entries) whose chunks straddle a cut would be split, and the next poll, starting
 * after its first chunks, could never assemble it. So a cut that lands inside a chunked
 * message steps back before the first chunk of every message still incomplete there
 * (`chunkSafeCut`, which planning also applies at every ledger boundary), read from the
 * entries' metadata through the admin API; the message then comes whole in a later poll.
 * No gRPC here.
 */
import type { PulsarAdmin } from '../pulsar/admin.ts';
import { MessageId } from '../pulsar/message-id.ts';
import { parseTopicName } from '../pulsar/topic-name.ts';
import { SeamError } from './errors.ts';
import {
  cachedChunks,
  chunkSafeCut,
  type FlightAdmin,
  type FlightPlan,
  planFlight,
} from './flight-plan.ts';
import { type CoreClient, type StreamDeps, topicPartitions } from './plan.ts';
import { isAfter } from './positions.ts';
import { endPublishTime, type ReadRequest } from './request.ts';
import type { Position } from './resume-token.ts';

/** What a poll asks of the admin API, beyond planning: last message ids and entry metadata. */
export type PollAdmin = FlightAdmin & Pick<PulsarAdmin, 'lastMessageId'>;

/** A partition's cut in one poll. */
export interface PartitionCut {
  partition: number;
  topic: string;
  /** The last message this poll covers (inclusive); earliest = nothing (no advance). */
  cut: MessageId;
  /**
   * The partition's end, for a bounded read (`at_open` pinned to its last message at the
   * first poll, `end_positions`); undefined for `follow` and an end time.
   */
  end: MessageId | undefined;
  /** The partition has reached its end: no later poll reads anything more from it. */
  done: boolean;
}

/**
 * The cut of one partition: its last entry now, stepped back out of a chunked message
 * (never past the read's own end, which ends the partition as ReadStream ends it); done
 * when it reaches its end position, or when an end time is past and nothing was held back.
 * Pure but for `safe` (chunkSafeCut).
 */
export async function partitionCut(
  last: MessageId | undefined,
  end: MessageId | undefined,
  endMs: number | undefined,
  pollMs: number,
  safe: (last: MessageId) => Promise<MessageId | undefined>,
): Promise<{ cut: MessageId; done: boolean }> {
  // The end, once written: the partition ends there, as a ReadStream with that end would.
  if (end && (end.isSentinel || (last && !isAfter(end, last)))) return { cut: end, done: true };
  if (!last) return { cut: MessageId.earliest, done: endMs !== undefined && endMs <= pollMs };
  const cut = await safe(last);
  const held = cut === undefined || !cut.equals(last);
  return {
    cut: cut ?? MessageId.earliest,
    done: !held && endMs !== undefined && endMs <= pollMs,
  };
}

/** One poll: the endpoints of its ranges, and where the next poll starts. */
export interface FlightPoll {
  plan: FlightPlan;
  cuts: PartitionCut[];
  /** Where the next poll starts, by partition; undefined when the read is complete. */
  next: Map<number, Position> | undefined;
  /**
   * The end of each partition for the next poll's descriptor, when the read is bounded by
   * position (`at_open` and `end_positions` both become this); undefined otherwise.
   */
  ends: Map<number, MessageId> | undefined;
  /** Fraction of the partitions that reached their end; undefined for `follow`. */
  progress: number | undefined;
}

/**
 * Polls `request`: cuts every partition (see `partitionCut`), plans the ranges from the
 * request's start to the cuts as GetFlightInfo plans a bounded read, and says where the
 * next poll starts: right after the cut for a partition this poll covered messages of, where
 * it started for the others. Needs the admin API.
 */
export async function pollFlight(
  deps: StreamDeps<CoreClient, PollAdmin>,
  request: ReadRequest,
  signal: AbortSignal,
): Promise<FlightPoll> {
  const { admin } = deps;
  if (!admin) {
    throw new SeamError(
      'FAILED_PRECONDITION',
      'PollFlightInfo needs the Pulsar admin API (last message ids, ledgers)',
    );
  }
  const pollMs = Date.now();
  const endMs = endPublishTime(request.end);
  const partitions = await topicPartitions(deps.client, parseTopicName(request.topic), signal);
  const starts = request.start.kind === 'positions' ? request.start.positions : undefined;
  const cuts = await Promise.all(
    partitions.map(async ({ partition, topic }): Promise<PartitionCut> => {
      const id = await admin.lastMessageId(topic).catch((error: unknown) => {
        throw SeamError.from(error);
      });
      // Entry level: the whole last entry (a batch is never split). (-1, -1) = empty.
      const last = id.ledgerId >= 0 && id.entryId >= 0 ? id.entry : undefined;
      let end: MessageId | undefined;
      if (request.end.kind === 'atOpen') end = last ?? MessageId.earliest;
      if (request.end.kind === 'positions') {
        end = request.end.last.get(partition) ?? last ?? MessageId.earliest;
      }
      const start = starts?.get(partition);
      const floor = start?.kind === 'after' || start?.kind === 'at' ? start.id : undefined;
      const { cut, done } = await partitionCut(last, end, endMs, pollMs, (l) =>
        chunkSafeCut(
          cachedChunks(admin),
          topic,
          l,
          floor && { ledgerId: floor.ledgerId, entryId: floor.entryId },
        ),
      );
      return { partition, topic, cut, end, done };
    }),
  );
  const plan = await planFlight(
    deps,
    {
      ...request,
      end: {
        kind: 'positions',
        last: new Map(cuts.map((c) => [c.partition, c.cut])),
        beforePublishTimeMs: endMs,
      },
    },
    signal,
  );
  const complete = cuts.every((c) => c.done);
  const covered = new Set(plan.endpoints.map((e) => e.range.partition));
  const next = complete ? undefined : nextStarts(cuts, plan.starts, covered);
  const bounded = request.end.kind === 'atOpen' || request.end.kind === 'positions';
  return {
    plan,
    cuts,
    next,
    ends: bounded
      ? new Map(cuts.map((c) => [c.partition, c.end ?? MessageId.earliest]))
      : undefined,
    progress:
      request.end.kind === 'follow'
        ? undefined
        : cuts.filter((c) => c.done).length / Math.max(1, cuts.length),
  };
}

/**
 * Where each partition starts in the next poll: right after its cut when this poll has a
 * range of it (`covered`), else where it started this time (nothing was covered: no
 * message, or only an incomplete chunked message held back). Pure.
 */
export function nextStarts(
  cuts: readonly Pick<PartitionCut, 'partition' | 'cut'>[],
  starts: ReadonlyMap<number, Position>,
  covered: ReadonlySet<number>,
): Map<number, Position> {
  return new Map(
    cuts.map(({ partition, cut }): [number, Position] => [
      partition,
      covered.has(partition) && !cut.isSentinel
        ? { kind: 'after', id: cut }
        : (starts.get(partition) ?? { kind: 'earliest' }),
    ]),
  );
}
