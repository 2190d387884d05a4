/**
 * The plan of a read, made when the stream opens: the topic's partitions, each one's start
 * and boundary (the last message it held at open) with its reader subscribed, the history
 * by segment, the stream's Arrow schema and how to read other schema versions. Positions
 * are checked here, before any row: a position in a ledger that retention deleted is
 * DATA_LOSS, one in another topic's ledger INVALID_ARGUMENT.
 */
import { StreamSchema } from '../arrow/batch-builder.ts';
import { topicSchema } from '../arrow/topic-schema.ts';
import type { MemoryPool } from '../memory-pool.ts';
import type { Ledger, PulsarAdmin } from '../pulsar/admin.ts';
import { PulsarClient } from '../pulsar/client.ts';
import { defaultReceiverQueueSize } from '../pulsar/flow-control.ts';
import type { Message } from '../pulsar/message.ts';
import { MessageId } from '../pulsar/message-id.ts';
import { Reader } from '../pulsar/reader.ts';
import {
  historySegments,
  type PublishTimes,
  publishTimes,
  type Segment,
  segmentEntries,
} from '../pulsar/segments.ts';
import { parseTopicName, partitionTopic, type TopicName } from '../pulsar/topic-name.ts';
import type { Taken } from './continuity.ts';
import { SeamError } from './errors.ts';
import { entryBefore, firstEntry, isAfter, readerStart, startsAfter } from './positions.ts';
import { type End, endPublishTime, type ReadRequest } from './request.ts';
import { decodeResumeToken, type Position } from './resume-token.ts';
import { SchemaVersions } from './schema-versions.ts';
import {
  defaultHistoryBudgetBytes,
  defaultHistoryParallelism,
  type OpenReader,
  type PartitionReader,
  prunedByTime,
  SegmentedHistory,
  SegmentGate,
  type SegmentRead,
} from './segmented-history.ts';

/** What the core asks of the Pulsar client itself (readers aside). */
export type CoreClient = Pick<PulsarClient, 'partitions' | 'schema'>;

/** What the core asks of the admin API. */
export type CoreAdmin = Pick<PulsarAdmin, 'ledgers' | 'ledgerEntries' | 'entryPublishTime'>;

/**
 * What the stream needs from outside: a Pulsar client, whose readers it opens with
 * `Reader.open` unless `openReader` is given (a fake in tests, with a fake client).
 */
export interface StreamDeps<
  Client extends CoreClient = PulsarClient,
  Admin extends CoreAdmin = PulsarAdmin,
> {
  client: Client;
  /** Opens a partition's reader; `Reader.open` on `client` (a PulsarClient) by default. */
  openReader?: OpenReader | undefined;
  /** For segment metadata (history estimates, retention checks); optional. */
  admin?: Admin | undefined;
  /** Messages each partition's reader may prefetch. */
  receiverQueueSize?: number;
  /** Bytes each partition's reader may hold queued and prefetched. */
  receiverQueueBytes?: number;
  /** The gateway's memory, that readers, segment buffers and unsent responses draw from. */
  memory?: MemoryPool | undefined;
  /**
   * Segment readers a stream may have open at once, shared by its partitions, each
   * reading one later segment (ledger) of history while the partition's own reader reads
   * the first. 1 reads each partition with its one reader, in order. Needs `admin`.
   */
  historyParallelism?: number;
  /** Bytes a stream's segment readers may buffer and prefetch ahead of its client. */
  historyBudgetBytes?: number;
  /** Called as each segment reader closes: for tests and benchmarks. */
  onSegmentRead?: (read: SegmentRead) => void;
  /** Where segments' publish times are cached: the process's cache by default. */
  publishTimes?: PublishTimes;
}

/** One partition as the stream sees it at open. */
export interface PartitionPlan {
  partition: number;
  topic: string;
  /**
   * Last message of history: the last message at open, or the partition's end
   * (`end_positions`) when that comes first; undefined when the partition was empty.
   */
  boundary: MessageId | undefined;
}

/** Known when the stream opens; sent with the schema. */
export interface StreamInfo {
  topic: string;
  partitions: PartitionPlan[];
  estimatedHistoryBytes: number;
  estimatedHistoryEntries: number;
  schemaType: string;
  schemaVersion: Buffer | undefined;
}

/** A partition being read. */
export interface Partition extends PartitionPlan {
  reader: PartitionReader;
  /** The history still to read, by segment (empty without segment metadata). */
  segments: Segment[];
  /** Average stored bytes of an entry, by ledger: what a message adds to the progress. */
  entryBytes: Map<number, number>;
  /** Where the partition continues: what the next resume token says. */
  position: Position;
  /**
   * The entry of the last message received (a chunked message's last), or just before the
   * start; undefined before the first message from earliest or a publish time. For the
   * continuity checks (continuity.ts).
   */
  last: Taken | undefined;
  /** The first message received after a gap, and what was lost: the stream ends there. */
  loss: { at: Message; reason: string } | undefined;
  /** When the receive in flight was asked for, ms; and when the history was last checked. */
  waitingSince: number;
  checkedAt: number;
  /** Received messages; those from `next` on are not yet in a batch. */
  pending: Message[];
  next: number;
  inflight: Promise<void> | undefined;
  historyDone: boolean;
  /**
   * The last message to read, inclusive (`end_positions`; the last message at open for a
   * partition they leave out); undefined when the end is not by position.
   */
  end: MessageId | undefined;
  /** The end (publish time or position) was reached: nothing more from this partition. */
  finished: boolean;
}

/** A read planned and its readers open: what a stream runs. */
export interface Plan {
  readonly topic: string;
  /** The partitions, with their readers; their reading state changes as the stream runs. */
  readonly partitions: Partition[];
  readonly schema: StreamSchema;
  readonly versions: SchemaVersions;
  /** Sent with the schema. */
  readonly info: StreamInfo;
  /** Stored bytes of history covered before the first read (skipped before the start). */
  readonly historyBytesRead: number;
}

/**
 * Plans a read: opens one reader per partition (closing them all if any step fails). With
 * `segmentReaders: false`, the history is planned by segment but no segment reader starts
 * (for planning alone, as Flight's GetFlightInfo does). With `recentLedgers`, a ledger list
 * fetched a moment ago that reaches each partition's boundary will do (`PulsarAdmin.ledgers`):
 * for planning alone too, never for a read, whose checks of lost data need the list as it is.
 */
export function openPlan(
  deps: StreamDeps<CoreClient, CoreAdmin>,
  request: ReadRequest,
  signal: AbortSignal,
  options: { segmentReaders?: boolean; recentLedgers?: boolean } = {},
): Promise<Plan> {
  const planner = new Planner(deps, request, signal, options.recentLedgers ?? false);
  return planner.open(options.segmentReaders ?? true);
}

/** The stream's way to open readers: `openReader`, or `Reader.open` on its client. */
export function readerOpener(deps: StreamDeps<CoreClient, CoreAdmin>): OpenReader {
  if (deps.openReader !== undefined) return deps.openReader;
  const { client } = deps;
  if (!(client instanceof PulsarClient)) {
    throw new TypeError('a stream over a client that is not a PulsarClient needs openReader');
  }
  return (options) => Reader.open(client, options);
}

class Planner {
  private readonly deps: StreamDeps<CoreClient, CoreAdmin>;
  private readonly request: ReadRequest;
  private readonly signal: AbortSignal;
  private topic = '';
  private partitions: Partition[] = [];
  private historyBytesRead = 0;
  private readonly openReader: OpenReader;
  private readonly recentLedgers: boolean;

  constructor(
    deps: StreamDeps<CoreClient, CoreAdmin>,
    request: ReadRequest,
    signal: AbortSignal,
    recentLedgers: boolean,
  ) {
    this.deps = deps;
    this.recentLedgers = recentLedgers;
    this.openReader = readerOpener(deps);
    this.request = request;
    this.signal = signal;
  }

  /** Plans the read and opens one reader per partition. */
  async open(segmentReaders: boolean): Promise<Plan> {
    const name = parseTopicName(this.request.topic);
    this.topic = name.full;
    const { client } = this.deps;
    // The call's signal bounds the retries (an open waits out a broker restart).
    const plans = await topicPartitions(client, name, this.signal);
    const starts = this.startPositions(plans.map((p) => p.partition));
    const ends = this.endPositions(plans.map((p) => p.partition));

    const schemaTopic =
      name.partition >= 0 ? this.topic.replace(/-partition-\d+$/, '') : this.topic;
    const schema = await this.schemaOf(schemaTopic);
    const value = topicSchema(schema?.schema);
    const streamSchema = new StreamSchema(value, this.request.columns);
    const versions = new SchemaVersions(client, schemaTopic, value, schema?.version);

    const opened = await Promise.allSettled(
      plans.map((plan) => this.openPartition(plan, starts.get(plan.partition), ends)),
    );
    const failed = opened.find((o) => o.status === 'rejected');
    const partitions = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    if (failed) {
      // Release the partitions that did open: their subscriptions would outlive the stream.
      await Promise.all(partitions.map((p) => p.reader.close()));
      throw failed.reason;
    }
    this.partitions = partitions;
    const segments = partitions.flatMap((p) => p.segments);
    const estimate = {
      bytes: Math.round(segments.reduce((sum, s) => sum + s.entryBytes * segmentEntries(s), 0)),
      entries: segments.reduce((sum, s) => sum + segmentEntries(s), 0),
    };
    for (const p of partitions) this.historyBytesRead += coveredAtStart(p);
    try {
      if (segmentReaders) await this.readBySegment();
    } catch (error) {
      await Promise.all(partitions.map((p) => p.reader.close()));
      throw error;
    }
    return {
      topic: this.topic,
      partitions,
      schema: streamSchema,
      versions,
      historyBytesRead: this.historyBytesRead,
      info: {
        topic: this.topic,
        partitions: this.partitions.map(({ partition, topic, boundary }) => ({
          partition,
          topic,
          boundary,
        })),
        estimatedHistoryBytes: estimate.bytes,
        estimatedHistoryEntries: estimate.entries,
        schemaType: value.typeName,
        schemaVersion: schema?.version,
      },
    };
  }

  /** The topic's schema: the latest, or the version the request pins. */
  private async schemaOf(topic: string): ReturnType<CoreClient['schema']> {
    const pinned = this.request.schemaVersion;
    // The call's signal bounds the retries (an open waits out a broker restart).
    const retry = { signal: this.signal };
    if (!pinned?.length) return this.deps.client.schema(topic, undefined, retry);
    // The broker answers a version it does not have as "no schema".
    const schema = await this.deps.client.schema(topic, pinned, retry);
    if (!schema) {
      throw new SeamError(
        'FAILED_PRECONDITION',
        `schema changed: version ${BigInt(`0x${pinned.toString('hex')}`)} of ${topic}'s schema is no longer in its schema registry; plan the read again (GetFlightInfo)`,
      );
    }
    return schema;
  }

  private startPositions(partitions: number[]): Map<number, Position | 'latest'> {
    const start = this.request.start;
    const all = (p: Position | 'latest') => new Map(partitions.map((i) => [i, p]));
    switch (start.kind) {
      case 'earliest':
        return all({ kind: 'earliest' });
      case 'latest':
        return all('latest');
      case 'publishTime':
        return all({ kind: 'publishTime', ms: start.ms });
      case 'messageId': {
        if (partitions.length !== 1) {
          throw new SeamError(
            'INVALID_ARGUMENT',
            `${this.topic} has ${partitions.length} partitions: start from a message id on one partition (${this.topic}-partition-N), or use start_publish_time or a resume token`,
          );
        }
        return all({ kind: 'at', id: start.id });
      }
      case 'resumeToken': {
        const positions = decodeResumeToken(this.topic, start.token, partitions.length);
        this.samePartitions('the resume token', positions, partitions);
        return positions;
      }
      case 'positions':
        this.knownPartitions('start_positions', start.positions, partitions);
        this.samePartitions('start_positions', start.positions, partitions);
        return new Map(start.positions);
    }
  }

  /** The end of each partition named by `end_positions`; empty for other ends. */
  private endPositions(partitions: number[]): ReadonlyMap<number, MessageId> {
    const end = this.request.end;
    if (end.kind !== 'positions') return new Map();
    this.knownPartitions('end_positions', end.last, partitions);
    return end.last;
  }

  /** INVALID_ARGUMENT when `positions` name a partition the topic does not have. */
  private knownPartitions(
    what: string,
    positions: ReadonlyMap<number, unknown>,
    partitions: number[],
  ): void {
    const unknown = [...positions.keys()].filter((i) => !partitions.includes(i));
    if (unknown.length > 0) {
      throw new SeamError(
        'INVALID_ARGUMENT',
        `${what} names partition ${unknown.join(', ')}, but ${this.topic} has partitions [${partitions.join(',')}]${partitions[0] === -1 ? ' (-1: it is not partitioned)' : ''}`,
      );
    }
  }

  /** FAILED_PRECONDITION when `positions` do not cover exactly the topic's partitions. */
  private samePartitions(
    what: string,
    positions: ReadonlyMap<number, unknown>,
    partitions: number[],
  ): void {
    const known = [...positions.keys()].sort((a, b) => a - b).join(',');
    if (known !== partitions.join(',')) {
      throw new SeamError(
        'FAILED_PRECONDITION',
        `${what} covers partitions [${known}] but ${this.topic} now has [${partitions.join(',')}]: the topic was repartitioned`,
      );
    }
  }

  private async openPartition(
    plan: { partition: number; topic: string },
    start: Position | 'latest' | undefined,
    ends: ReadonlyMap<number, MessageId>,
  ): Promise<Partition> {
    const { receiverQueueBytes, memory } = this.deps;
    const options = {
      topic: plan.topic,
      receiverQueueSize: this.deps.receiverQueueSize ?? defaultReceiverQueueSize,
      ...(receiverQueueBytes === undefined ? {} : { receiverQueueBytes }),
      memory,
      signal: this.signal,
    };
    let reader: PartitionReader;
    let position: Position;
    if (start === 'latest') {
      reader = await this.openReader({ ...options, start: MessageId.latest });
      position = { kind: 'earliest' };
    } else {
      position = start ?? { kind: 'earliest' };
      reader = await this.openReader(readerStart(options, position));
    }
    let boundary: MessageId | undefined;
    let historyDone: boolean;
    let end: MessageId | undefined;
    let finished = false;
    let segments: Segment[] = [];
    const entryBytes = new Map<number, number>();
    try {
      const { lastMessageId, markDeletePosition } = await reader.positions(this.signal);
      boundary = lastMessageId.entryId >= 0 ? lastMessageId : undefined;
      if (start === 'latest') {
        // Everything after "latest" is tail; pin the position to the boundary so a resume
        // continues exactly here rather than at a later "latest".
        position = boundary ? { kind: 'after', id: boundary } : { kind: 'earliest' };
      }
      if (this.request.end.kind === 'positions') {
        // A partition left out ends where `at_open` would; an empty one has nothing then.
        end = ends.get(plan.partition) ?? boundary ?? MessageId.earliest;
        // History ends at the end when it comes before the last message at open.
        if (boundary && !isAfter(end, boundary)) boundary = end;
        finished = end.isSentinel || startsAfter(position, end, markDeletePosition);
      }
      historyDone =
        start === 'latest' ||
        finished ||
        !boundary ||
        startsAfter(position, boundary, markDeletePosition);
      const recent = this.recentLedgers ? { covering: boundary } : undefined;
      const ledgers = await this.deps.admin?.ledgers(plan.topic, recent).catch(() => undefined);
      // Before any row: a position in no ledger of the topic's is lost data or a foreign id.
      await checkPosition(this.openReader, this.signal, plan.topic, position, ledgers);
      // So is an end (read up to) that no ledger holds: what was before it is gone.
      if (end && !finished && !end.isSentinel) {
        await checkPosition(
          this.openReader,
          this.signal,
          plan.topic,
          { kind: 'at', id: end },
          ledgers,
          'end',
        );
      }
      for (const l of ledgers ?? [])
        if (l.entries > 0) entryBytes.set(l.ledgerId, l.size / l.entries);
      if (ledgers && boundary && !historyDone) {
        segments = historySegments(ledgers, firstEntry(position, markDeletePosition), boundary);
      }
    } catch (error) {
      await reader.close();
      throw error;
    }
    return {
      ...plan,
      reader,
      segments,
      entryBytes,
      boundary,
      position,
      last: entryBefore(position),
      loss: undefined,
      waitingSince: 0,
      checkedAt: 0,
      pending: [],
      next: 0,
      inflight: undefined,
      historyDone,
      end,
      finished,
    };
  }

  /**
   * With parallelism above 1, the partitions whose history spans several segments read
   * it by segment (see segmented-history.ts); the others keep their one reader.
   */
  private async readBySegment(): Promise<void> {
    const { admin, onSegmentRead } = this.deps;
    const parallelism = this.deps.historyParallelism ?? defaultHistoryParallelism;
    if (!admin || parallelism <= 1) return;
    const gate = new SegmentGate(
      parallelism,
      this.deps.historyBudgetBytes ?? defaultHistoryBudgetBytes,
    );
    const { end } = this.request;
    await Promise.all(
      this.partitions.map(async (p) => {
        if (p.historyDone || !p.boundary || p.segments.length < 2) return;
        // Without the publish times (the admin API refused or failed), one reader reads.
        const pruned = await prunedSegments(this.deps, admin, p, end).catch(() => undefined);
        if (!pruned) return;
        const { before, kept } = pruned;
        const main = p.segments[0] as Segment;
        // The partition's reader starts in the first segment; when that one is skipped, it
        // hands out nothing and the segment readers read all that is kept.
        const first =
          before.length === 0 ? (kept[0] as Segment) : { ...main, lastEntry: main.firstEntry - 1 };
        const later = before.length === 0 ? kept.slice(1) : kept;
        if (later.length === 0) return;
        // Skipped before the start: covered, as one reader skipping their messages counts them.
        for (const s of before) this.historyBytesRead += s.entryBytes * segmentEntries(s);
        p.reader = new SegmentedHistory({
          openReader: this.openReader,
          admin,
          topic: p.topic,
          main: p.reader,
          first,
          later,
          boundary: p.boundary,
          gate,
          receiverQueueSize: this.deps.receiverQueueSize ?? defaultReceiverQueueSize,
          receiverQueueBytes: this.deps.receiverQueueBytes,
          memory: this.deps.memory,
          onSegmentRead,
        });
      }),
    );
  }
}

/**
 * DATA_LOSS when a position points into a ledger that retention already deleted;
 * INVALID_ARGUMENT when it names a ledger this topic never had (ledger ids are unique in
 * a cluster, so the id came from another topic). An older ledger than the topic's oldest
 * is another topic's too when the topic still holds its first message ever; otherwise it
 * cannot be told from one retention deleted: DATA_LOSS. Either way, no row. `what` says
 * whether the position starts the read, ends it, or is a Flight ticket's ledger (what is
 * lost: after it, up to it, the ticket's range).
 * Nothing to check without `ledgers` (no admin API).
 */
export async function checkPosition(
  openReader: OpenReader,
  signal: AbortSignal,
  topic: string,
  position: Position,
  ledgers: Ledger[] | undefined,
  what: 'start' | 'end' | 'ticket' = 'start',
): Promise<void> {
  if (position.kind !== 'after' && position.kind !== 'at') return;
  const first = ledgers?.[0];
  if (!first) return;
  const { ledgerId } = position.id;
  const foreign = new SeamError(
    'INVALID_ARGUMENT',
    what === 'ticket'
      ? `${topic} has no ledger ${ledgerId}: a ticket of another topic (or partition)`
      : `${topic} has no ledger ${ledgerId}: the message id comes from another topic (or partition); use an id read from this one`,
  );
  if (ledgerId >= first.ledgerId) {
    if (ledgers.some((l) => l.ledgerId === ledgerId)) return;
    throw foreign;
  }
  if (await holdsFirstMessageEver(openReader, signal, topic)) throw foreign;
  const lost = {
    start: 'messages after it are lost. Start from earliest to read what remains.',
    end: 'messages up to it are lost. End later, or read what remains from earliest.',
    ticket: "the ticket's messages are lost. Call GetFlightInfo again to read what remains.",
  }[what];
  throw new SeamError(
    'DATA_LOSS',
    `${topic}: ${what} position ${position.id.ledgerId}:${position.id.entryId} is in a segment retention has deleted (the oldest left is ledger ${first.ledgerId}); ${lost} (A message id taken from another, older topic looks the same when the brokers add no message index.)`,
  );
}

/**
 * Whether the topic still holds the first message it ever had (broker index 0): then
 * retention deleted nothing, and an older ledger was never its. Unknown (false) when the
 * brokers do not add message indexes (AppendIndexMetadataInterceptor).
 */
async function holdsFirstMessageEver(
  openReader: OpenReader,
  signal: AbortSignal,
  topic: string,
): Promise<boolean> {
  const reader = await openReader({ topic, receiverQueueSize: 1, signal });
  try {
    const [first] = await reader.receive(AbortSignal.any([signal, AbortSignal.timeout(5000)]));
    return first?.brokerIndex === 0;
  } catch {
    return false;
  } finally {
    await reader.close();
  }
}

/**
 * A partition's history segments cut to the read's publish-time window (see
 * `prunedByTime`): the start's, when it starts at a publish time, and the end's.
 */
export function prunedSegments(
  deps: Pick<StreamDeps<CoreClient, CoreAdmin>, 'publishTimes'>,
  admin: Pick<CoreAdmin, 'entryPublishTime'>,
  p: Pick<Partition, 'topic' | 'segments' | 'position'>,
  end: End,
): Promise<{ before: Segment[]; kept: Segment[] }> {
  return prunedByTime(
    { admin, topic: p.topic, times: deps.publishTimes ?? publishTimes },
    p.segments,
    {
      startMs: p.position.kind === 'publishTime' ? p.position.ms : undefined,
      endMs: endPublishTime(end),
    },
  );
}

/**
 * Stored bytes of the first history entry that lie before the start (a start inside a
 * batch, or after a message): covered without being read, as skipped messages are.
 */
function coveredAtStart(p: Partition): number {
  const first = p.segments[0];
  const position = p.position;
  if (!first || (position.kind !== 'at' && position.kind !== 'after')) return 0;
  const id = position.id;
  if (id.ledgerId !== first.ledgerId || id.entryId !== first.firstEntry) return 0;
  if (id.batchIndex < 0) return position.kind === 'after' ? first.entryBytes : 0;
  if (id.batchSize <= 0) return 0;
  const before = position.kind === 'after' ? id.batchIndex + 1 : id.batchIndex;
  return (first.entryBytes * before) / id.batchSize;
}

/**
 * The stored bytes a history message stands for: its share of its entry's average size
 * in the segment metadata (its payload size without metadata).
 */
export function storedBytes(p: Partition, message: Message): number {
  const entry = p.entryBytes.get(message.messageId.ledgerId);
  return entry === undefined
    ? message.payload.length
    : entry / Math.max(1, message.messageId.batchSize);
}

/** Past an end publish time: a partition with nothing left to read is finished. */
export async function finishCaughtUp(partitions: Partition[], signal?: AbortSignal): Promise<void> {
  for (const p of partitions) {
    if (p.finished || p.next < p.pending.length) continue;
    const { lastMessageId } = await p.reader.positions(signal);
    const delivered = p.position.kind === 'after' ? p.position.id : undefined;
    if (lastMessageId.entryId < 0 || (delivered && !isAfter(lastMessageId, delivered)))
      p.finished = true;
  }
}

/**
 * The partitions a read covers: each partition of a partitioned topic, or the topic (or
 * the one partition it names) alone, with its index (-1 when not partitioned).
 */
export async function topicPartitions(
  client: CoreClient,
  name: TopicName,
  signal?: AbortSignal,
): Promise<{ partition: number; topic: string }[]> {
  const count = name.partition >= 0 ? 0 : await client.partitions(name.full, { signal });
  return count === 0
    ? [{ partition: name.partition, topic: name.full }]
    : Array.from({ length: count }, (_, i) => ({
        partition: i,
        topic: partitionTopic(name.full, i),
      }));
}
