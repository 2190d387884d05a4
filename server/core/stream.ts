/**
 * The seam. A stream plans the read (partitions, each one's start and its boundary: the
 * last message it held when the stream opened), reads every partition's history up to
 * its boundary, marks the seam, then follows the live tail, as Arrow record batches with
 * a resume token after each. It knows nothing of gRPC: it is an async generator of events
 * that the transport writes out, pulling only as fast as its client reads.
 */
import type * as arrow from 'apache-arrow';
import { type BatchBuilder, StreamSchema } from '../arrow/batch-builder.ts';
import { topicSchema } from '../arrow/topic-schema.ts';
import type { Translate } from '../arrow/value-schema.ts';
import type { MemoryPool } from '../memory-pool.ts';
import type { Ledger, PulsarAdmin } from '../pulsar/admin.ts';
import type { PulsarClient } from '../pulsar/client.ts';
import { MessageId } from '../pulsar/message-id.ts';
import { type Message, Reader } from '../pulsar/reader.ts';
import {
  historySegments,
  type PublishTimes,
  publishTimes,
  type Segment,
  segmentEntries,
} from '../pulsar/segments.ts';
import { parseTopicName, partitionTopic } from '../pulsar/topic-name.ts';
import { confirmLedgerChange, lostBefore, stalled, type Taken, taken } from './continuity.ts';
import { SeamError } from './errors.ts';
import {
  entryBefore,
  firstEntry,
  isAfter,
  isBoundary,
  readerStart,
  startsAfter,
} from './positions.ts';
import type { ReadRequest } from './request.ts';
import { decodeResumeToken, encodeResumeToken, type Position } from './resume-token.ts';
import { SchemaVersions } from './schema-versions.ts';
import {
  defaultHistoryBudgetBytes,
  defaultHistoryParallelism,
  type PartitionReader,
  prunedByTime,
  SegmentedHistory,
  SegmentGate,
  type SegmentRead,
} from './segmented-history.ts';

/** What the stream needs from outside. */
export interface StreamDeps {
  client: PulsarClient;
  /** For segment metadata (history estimates, retention checks); optional. */
  admin?: PulsarAdmin | undefined;
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
  /** Last message at open; undefined when the partition was empty. */
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

/** History progress. */
export interface Progress {
  historyRows: number;
  historyBytesRead: number;
  historyBytesExpected: number;
}

/** What a stream emits, in order: start, batches, seam, batches and heartbeats. */
export type StreamEvent =
  | { kind: 'start'; schema: arrow.Schema; info: StreamInfo }
  | {
      kind: 'batch';
      batch: arrow.RecordBatch;
      phase: 'history' | 'tail';
      resumeToken: Buffer;
      progress: Progress;
      /** Publish time (ms) of each row, in order: for lag measurements at send time. */
      publishTimes: number[];
    }
  | { kind: 'seam'; resumeToken: Buffer; historyRows: number }
  | {
      kind: 'heartbeat';
      resumeToken: Buffer;
      lastPublishTime: number | undefined;
      caughtUpAt: number;
    };

/** A partition being read. */
interface Partition extends PartitionPlan {
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
  /** The end (publish time) was reached: nothing more from this partition. */
  finished: boolean;
}

/** Flush history when no partition has had new messages for this long, ms. */
const historyIdleFlushMs = 50;
/**
 * A partition's history that waits this long with nothing arriving is checked for deleted
 * ledgers, and again as often while it waits, ms: an admin call each time.
 */
const stallCheckMs = 2_000;
/** With the gateway's memory used up, batches go out from this size on, bytes (256 KiB). */
const pressureFlushBytes = 256 * 1024;

/** Reads a topic as events. Throws SeamError; after the first batch, with a resume token. */
export async function* readStream(
  deps: StreamDeps,
  request: ReadRequest,
  signal: AbortSignal,
): AsyncGenerator<StreamEvent> {
  const stream = new Stream(deps, request, signal);
  try {
    yield await stream.open();
    yield* stream.history();
    if (request.end.kind !== 'atOpen' && !stream.allFinished()) yield* stream.tail();
  } catch (error) {
    const failure = SeamError.from(signal.aborted ? (signal.reason ?? error) : error);
    // The token of the last event out: rows appended since were never sent.
    failure.resumeToken ??= stream.lastToken;
    throw failure;
  } finally {
    await stream.close();
  }
}

class Stream {
  private readonly deps: StreamDeps;
  private readonly request: ReadRequest;
  private readonly signal: AbortSignal;
  private topic = '';
  private partitions: Partition[] = [];
  private schema: StreamSchema | undefined;
  private builder: BatchBuilder | undefined;
  /** How to read messages written with other schema versions; set at open. */
  private versions: SchemaVersions | undefined;
  private historyRows = 0;
  private historyBytesRead = 0;
  private historyBytesExpected = 0;
  private lastPublishTime: number | undefined;
  private batchPublishTimes: number[] = [];
  /** The current batch's messages, each with how it was read: to build the batch again. */
  private batchMessages: { message: Message; translate: Translate | undefined }[] = [];
  /** When the batch being built got its first row. */
  private batchStartedAt = 0;
  /** The resume token of the last batch, seam or heartbeat emitted. */
  lastToken: Buffer | undefined;
  /** Bytes of the batch being built, counted in the gateway's memory. */
  private batchHeld = 0;

  constructor(deps: StreamDeps, request: ReadRequest, signal: AbortSignal) {
    this.deps = deps;
    this.request = request;
    this.signal = signal;
  }

  /** Plans the read and opens one reader per partition. */
  async open(): Promise<StreamEvent> {
    const name = parseTopicName(this.request.topic);
    this.topic = name.full;
    const { client } = this.deps;
    const count = name.partition >= 0 ? 0 : await client.partitions(this.topic);
    const plans =
      count === 0
        ? [{ partition: name.partition, topic: this.topic }]
        : Array.from({ length: count }, (_, i) => ({
            partition: i,
            topic: partitionTopic(this.topic, i),
          }));
    const starts = this.startPositions(plans.map((p) => p.partition));

    const schemaTopic =
      name.partition >= 0 ? this.topic.replace(/-partition-\d+$/, '') : this.topic;
    const schema = await client.schema(schemaTopic);
    const value = topicSchema(schema?.schema);
    this.schema = new StreamSchema(value, this.request.columns);
    this.builder = this.schema.builder();
    this.versions = new SchemaVersions(client, schemaTopic, value, schema?.version);

    const opened = await Promise.allSettled(
      plans.map((plan) => this.openPartition(plan, starts.get(plan.partition))),
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
    this.historyBytesExpected = estimate.bytes;
    for (const p of partitions) this.historyBytesRead += coveredAtStart(p);
    await this.readBySegment();
    return {
      kind: 'start',
      schema: this.schema.schema,
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
        const positions = decodeResumeToken(this.topic, start.token);
        const known = [...positions.keys()].sort((a, b) => a - b).join(',');
        if (known !== partitions.join(',')) {
          throw new SeamError(
            'FAILED_PRECONDITION',
            `the resume token covers partitions [${known}] but ${this.topic} now has [${partitions.join(',')}]: the topic was repartitioned`,
          );
        }
        return positions;
      }
    }
  }

  private async openPartition(
    plan: { partition: number; topic: string },
    start: Position | 'latest' | undefined,
  ): Promise<Partition> {
    const { receiverQueueBytes, memory } = this.deps;
    const options = {
      topic: plan.topic,
      receiverQueueSize: this.deps.receiverQueueSize ?? 1000,
      ...(receiverQueueBytes === undefined ? {} : { receiverQueueBytes }),
      memory,
    };
    let reader: Reader;
    let position: Position;
    if (start === 'latest') {
      reader = await Reader.open(this.deps.client, { ...options, start: MessageId.latest });
      position = { kind: 'earliest' };
    } else {
      position = start ?? { kind: 'earliest' };
      reader = await Reader.open(this.deps.client, readerStart(options, position));
    }
    let boundary: MessageId | undefined;
    let historyDone: boolean;
    let segments: Segment[] = [];
    const entryBytes = new Map<number, number>();
    try {
      const { lastMessageId, markDeletePosition } = await reader.positions();
      boundary = lastMessageId.entryId >= 0 ? lastMessageId : undefined;
      if (start === 'latest') {
        // Everything after "latest" is tail; pin the position to the boundary so a resume
        // continues exactly here rather than at a later "latest".
        historyDone = true;
        position = boundary ? { kind: 'after', id: boundary } : { kind: 'earliest' };
      } else {
        historyDone = !boundary || startsAfter(position, boundary, markDeletePosition);
      }
      const ledgers = await this.deps.admin?.ledgers(plan.topic).catch(() => undefined);
      // Before any row: a position in no ledger of the topic's is lost data or a foreign id.
      await this.checkPosition(plan.topic, position, ledgers);
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
      finished: false,
    };
  }

  /**
   * DATA_LOSS when a position points into a ledger that retention already deleted;
   * INVALID_ARGUMENT when it names a ledger this topic never had (ledger ids are unique in
   * a cluster, so the id came from another topic). An older ledger than the topic's oldest
   * is another topic's too when the topic still holds its first message ever; otherwise it
   * cannot be told from one retention deleted: DATA_LOSS. Either way, no row.
   */
  private async checkPosition(
    topic: string,
    position: Position,
    ledgers: Ledger[] | undefined,
  ): Promise<void> {
    if (position.kind !== 'after' && position.kind !== 'at') return;
    const first = ledgers?.[0];
    if (!first) return;
    const { ledgerId } = position.id;
    const foreign = new SeamError(
      'INVALID_ARGUMENT',
      `${topic} has no ledger ${ledgerId}: the message id comes from another topic (or partition); use an id read from this one`,
    );
    if (ledgerId >= first.ledgerId) {
      if (ledgers.some((l) => l.ledgerId === ledgerId)) return;
      throw foreign;
    }
    if (await this.holdsFirstMessageEver(topic)) throw foreign;
    throw new SeamError(
      'DATA_LOSS',
      `${topic}: position ${position.id.ledgerId}:${position.id.entryId} is in a segment retention has deleted (the oldest left is ledger ${first.ledgerId}); messages after it are lost. Start from earliest to read what remains. (A message id taken from another, older topic looks the same when the brokers add no message index.)`,
    );
  }

  /**
   * Whether the topic still holds the first message it ever had (broker index 0): then
   * retention deleted nothing, and an older ledger was never its. Unknown (false) when the
   * brokers do not add message indexes (AppendIndexMetadataInterceptor).
   */
  private async holdsFirstMessageEver(topic: string): Promise<boolean> {
    const reader = await Reader.open(this.deps.client, { topic, receiverQueueSize: 1 });
    try {
      const [first] = await reader.receive(
        AbortSignal.any([this.signal, AbortSignal.timeout(5000)]),
      );
      return first?.brokerIndex === 0;
    } catch {
      return false;
    } finally {
      await reader.close();
    }
  }

  /**
   * With parallelism above 1, the partitions whose history spans several segments read
   * it by segment (see segmented-history.ts); the others keep their one reader.
   */
  private async readBySegment(): Promise<void> {
    const { admin, client, onSegmentRead } = this.deps;
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
        const pruned = await prunedByTime(
          { admin, topic: p.topic, times: this.deps.publishTimes ?? publishTimes },
          p.segments,
          {
            startMs: p.position.kind === 'publishTime' ? p.position.ms : undefined,
            endMs: end.kind === 'publishTime' ? end.ms : undefined,
          },
        ).catch(() => undefined);
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
          client,
          admin,
          topic: p.topic,
          main: p.reader as Reader,
          first,
          later,
          boundary: p.boundary,
          gate,
          receiverQueueSize: this.deps.receiverQueueSize ?? 1000,
          receiverQueueBytes: this.deps.receiverQueueBytes,
          memory: this.deps.memory,
          onSegmentRead,
        });
      }),
    );
  }

  /** History: every partition up to its boundary, then the seam. */
  async *history(): AsyncGenerator<StreamEvent> {
    while (this.partitions.some((p) => !p.historyDone && !p.finished)) {
      const active = this.partitions.filter((p) => !p.historyDone && !p.finished);
      const arrived = await this.receive(active, historyIdleFlushMs);
      if (arrived) {
        yield* this.drain('history');
      } else if ((this.builder as BatchBuilder).rows > 0) {
        yield this.flush('history');
      }
      const lost = await this.stalledLoss(active);
      if (lost) {
        if ((this.builder as BatchBuilder).rows > 0) yield this.flush('history');
        throw lost;
      }
    }
    yield* this.drain('history');
    if ((this.builder as BatchBuilder).rows > 0) yield this.flush('history');
    this.lastToken = this.token();
    yield { kind: 'seam', resumeToken: this.lastToken, historyRows: this.historyRows };
  }

  /** The live tail: batches by size or latency, heartbeats while idle. */
  async *tail(): AsyncGenerator<StreamEvent> {
    const { maxLatencyMs, heartbeatMs } = this.request.batching;
    const end = this.request.end;
    const builder = this.builder as BatchBuilder;
    let lastSentAt = Date.now();
    // Tail rows that arrived with the last history entries go first.
    yield* this.drain('tail');
    while (!this.allFinished()) {
      const now = Date.now();
      const pastEnd = end.kind === 'publishTime' && now >= end.ms;
      let wait =
        builder.rows > 0
          ? this.batchStartedAt + maxLatencyMs - now
          : lastSentAt + heartbeatMs - now;
      // Past the end time, look every 100 ms for partitions with nothing left.
      if (end.kind === 'publishTime') wait = Math.min(wait, pastEnd ? 100 : end.ms - now);
      if (
        await this.receive(
          this.partitions.filter((p) => !p.finished),
          Math.max(0, wait),
        )
      ) {
        for (const event of this.drain('tail')) {
          lastSentAt = Date.now();
          yield event;
        }
        continue;
      }
      if (builder.rows > 0 && Date.now() >= this.batchStartedAt + maxLatencyMs) {
        yield this.flush('tail');
        lastSentAt = Date.now();
        continue;
      }
      if (pastEnd) await this.finishCaughtUp();
      if (builder.rows === 0 && Date.now() >= lastSentAt + heartbeatMs) {
        lastSentAt = Date.now();
        this.lastToken = this.token();
        yield {
          kind: 'heartbeat',
          resumeToken: this.lastToken,
          lastPublishTime: this.lastPublishTime,
          caughtUpAt: lastSentAt,
        };
      }
    }
    if (builder.rows > 0) yield this.flush('tail');
  }

  /** Past an end publish time: a partition with nothing left to read is finished. */
  private async finishCaughtUp(): Promise<void> {
    for (const p of this.partitions) {
      if (p.finished || p.next < p.pending.length) continue;
      const { lastMessageId } = await p.reader.positions();
      const delivered = p.position.kind === 'after' ? p.position.id : undefined;
      if (lastMessageId.entryId < 0 || (delivered && !isAfter(lastMessageId, delivered)))
        p.finished = true;
    }
  }

  /**
   * DATA_LOSS for a partition whose history waited `stallCheckMs` with nothing arriving
   * because the ledger it waits for was deleted (the broker moved its reader past the end).
   */
  private async stalledLoss(active: Partition[]): Promise<SeamError | undefined> {
    const { admin } = this.deps;
    if (!admin) return undefined;
    const now = Date.now();
    for (const p of active) {
      if (p.loss || p.inflight === undefined || p.next < p.pending.length) continue;
      if (now - Math.max(p.waitingSince, p.checkedAt) < stallCheckMs) continue;
      p.checkedAt = now;
      const plan = { segments: p.segments, fromPublishTime: p.position.kind === 'publishTime' };
      const reason = await stalled(admin, p.topic, plan, p.last);
      if (reason) return dataLoss(p.topic, reason);
    }
    return undefined;
  }

  allFinished(): boolean {
    return this.partitions.every((p) => p.finished);
  }

  /**
   * Waits until some partition in `from` has new messages (true) or `timeoutMs` passes
   * (false). Receives stay in flight across calls, so no message is lost to a timeout.
   */
  private async receive(from: Partition[], timeoutMs: number): Promise<boolean> {
    this.signal.throwIfAborted();
    if (from.some((p) => p.next < p.pending.length)) return true;
    let arrived = false;
    const waits = from.map((p) => {
      // After a gap, nothing more: the stream ends at it.
      if (p.loss)
        return Promise.resolve().then(() => {
          arrived = true;
        });
      if (p.inflight === undefined) p.waitingSince = Date.now();
      p.inflight ??= p.reader.receive(this.signal).then(async (messages) => {
        await this.versions?.learn(messages);
        const received = await this.checkContinuity(p, messages);
        p.inflight = undefined;
        // One by one: a receive can hand back the whole prefetch (receiver queue × batch
        // size, a million small messages), too many for spread arguments.
        for (let i = 0; i < received; i++) p.pending.push(messages[i] as Message);
      });
      return p.inflight.then(() => {
        arrived = true;
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    try {
      await Promise.race([...waits, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return arrived;
  }

  /**
   * Checks `messages` for a gap before each (continuity.ts); records the first gap in
   * `p.loss`. Returns how many of them to keep: up to and including the one after the gap.
   */
  private async checkContinuity(p: Partition, messages: Message[]): Promise<number> {
    const plan = { segments: p.segments, fromPublishTime: p.position.kind === 'publishTime' };
    for (const [i, message] of messages.entries()) {
      const previous = p.last;
      p.last = taken(message);
      const verdict = lostBefore(plan, previous, message);
      const reason =
        verdict === 'confirm' && previous
          ? await confirmLedgerChange(this.deps.admin, p.topic, previous, message)
          : verdict === 'confirm'
            ? undefined
            : verdict?.lost;
      if (reason) {
        p.loss = { at: message, reason };
        return i + 1;
      }
    }
    return messages.length;
  }

  /**
   * Moves pending messages of the phase into the builder, yielding full batches. In the
   * history phase only messages up to each boundary move; the rest wait for the tail.
   * Receives may append to `pending` while this is suspended at a yield.
   */
  private *drain(phase: 'history' | 'tail'): Generator<StreamEvent> {
    const { maxRows, maxBytes } = this.request.batching;
    const builder = this.builder as BatchBuilder;
    const end = this.request.end;
    for (const p of this.partitions) {
      while (p.next < p.pending.length && !p.finished && !(phase === 'history' && p.historyDone)) {
        const message = p.pending[p.next] as Message;
        if (p.loss?.at === message) {
          if (builder.rows > 0) yield this.flush(phase);
          throw dataLoss(p.topic, p.loss.reason);
        }
        if (phase === 'history' && p.boundary && isAfter(message.messageId, p.boundary)) {
          p.historyDone = true;
          break;
        }
        if (p.position.kind === 'publishTime' && message.publishTime < p.position.ms) {
          // The broker seeks by time with the entries' broker timestamps when it adds them,
          // later than the producers' publish times: the stream starts at the first message
          // published at or after the start.
          p.next++;
          if (phase === 'history') {
            this.historyBytesRead += storedBytes(p, message);
            if (p.boundary && isBoundary(message.messageId, p.boundary)) p.historyDone = true;
          }
          continue;
        }
        if (end.kind === 'publishTime' && message.publishTime >= end.ms) {
          p.finished = true;
          break;
        }
        const unreadable = this.versions?.unreadable(message);
        if (unreadable) {
          // Deliver the rows before it, then end the stream right after them.
          if (builder.rows > 0) yield this.flush(phase);
          throw unreadable;
        }
        p.next++;
        try {
          this.append(message);
        } catch (error) {
          // A payload that does not decode: the rows before it go out, then the error, so
          // a client resuming with the token reads on up to that message.
          if (this.rebuildBatch() > 0) yield this.flush(phase);
          throw error;
        }
        p.position = { kind: 'after', id: message.messageId };
        if (phase === 'history') {
          this.historyRows++;
          this.historyBytesRead += storedBytes(p, message);
          if (p.boundary && isBoundary(message.messageId, p.boundary)) p.historyDone = true;
        }
        if (builder.rows >= maxRows || builder.bytes >= maxBytes || this.memoryTight(builder))
          yield this.flush(phase);
      }
      if (p.finished) {
        p.pending = [];
        p.next = 0;
        void p.reader.close();
      } else if (p.next === p.pending.length) {
        p.pending = [];
        p.next = 0;
      }
    }
  }

  private append(message: Message): void {
    const decode = this.versions?.decoderOf(message);
    if (decode instanceof SeamError) throw decode;
    const builder = this.builder as BatchBuilder;
    if (builder.rows === 0) this.batchStartedAt = Date.now();
    builder.append(message, decode);
    this.holdBatch(builder.bytes);
    this.batchMessages.push({ message, translate: decode });
    this.batchPublishTimes.push(message.publishTime);
    this.lastPublishTime = message.publishTime;
  }

  /**
   * Builds the current batch again from its messages in a new builder: the one a payload
   * failed in holds a half-written row. Returns its rows.
   */
  private rebuildBatch(): number {
    const builder = (this.schema as StreamSchema).builder();
    for (const { message, translate } of this.batchMessages) builder.append(message, translate);
    this.builder = builder;
    this.holdBatch(builder.bytes);
    return builder.rows;
  }

  /**
   * Counts the batch being built (`bytes`, as the builder estimates them) in the gateway's
   * memory: up to `maxBytes` per stream, 64 streams per caller, it is no small part of it.
   * Taken even past the budget, as the reader's minimum is: the rows are here already.
   */
  private holdBatch(bytes: number): void {
    const { memory } = this.deps;
    if (!memory) return;
    if (bytes > this.batchHeld) memory.force(bytes - this.batchHeld);
    else memory.release(this.batchHeld - bytes);
    this.batchHeld = bytes;
  }

  /**
   * With the gateway's memory used up, a batch of some size goes out rather than growing:
   * sent, it waits in the write window (counted too) while this stream reads no more.
   */
  private memoryTight(builder: BatchBuilder): boolean {
    const { memory } = this.deps;
    return memory !== undefined && memory.free === 0 && builder.bytes >= pressureFlushBytes;
  }

  private flush(phase: 'history' | 'tail'): StreamEvent {
    const batch = (this.builder as BatchBuilder).flush();
    // The response is counted from here by whatever holds it (the gRPC write window).
    this.holdBatch(0);
    this.batchMessages = [];
    const publishTimes = this.batchPublishTimes;
    this.batchPublishTimes = [];
    this.lastToken = this.token();
    return {
      kind: 'batch',
      batch,
      phase,
      publishTimes,
      resumeToken: this.lastToken,
      progress: {
        historyRows: this.historyRows,
        historyBytesRead: Math.round(this.historyBytesRead),
        historyBytesExpected: this.historyBytesExpected,
      },
    };
  }

  /** A resume token for the current position of every partition. */
  token(): Buffer {
    return encodeResumeToken(
      this.topic,
      new Map(this.partitions.map((p) => [p.partition, p.position])),
    );
  }

  async close(): Promise<void> {
    this.holdBatch(0);
    await Promise.all(this.partitions.map((p) => p.reader.close()));
  }
}

/** The error a gap in a partition ends the stream with, after the rows before it. */
function dataLoss(topic: string, reason: string): SeamError {
  return new SeamError(
    'DATA_LOSS',
    `${topic}: messages were deleted (by retention, truncation or offload deletion) before they could be read: ${reason}. The rows sent are complete up to the resume token; start from earliest or a publish time to read what remains.`,
  );
}

/**
 * The stored bytes a history message stands for: its share of its entry's average size
 * in the segment metadata (its payload size without metadata).
 */
function storedBytes(p: Partition, message: Message): number {
  const entry = p.entryBytes.get(message.messageId.ledgerId);
  return entry === undefined
    ? message.payload.length
    : entry / Math.max(1, message.messageId.batchSize);
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
