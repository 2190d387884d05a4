/**
 * The seam. A stream plans the read (partitions, each one's start and its boundary: the
 * last message it held when the stream opened), reads every partition's history up to
 * its boundary, marks the seam, then follows the live tail, as Arrow record batches with
 * a resume token after each. It knows nothing of gRPC: it is an async generator of events
 * that the transport writes out, pulling only as fast as its client reads.
 */
import type * as arrow from 'apache-arrow';
import type { Message } from '../pulsar/message.ts';
import { Batch } from './batch.ts';
import { checkReceived, dataLoss, stalledLoss } from './continuity.ts';
import { SeamError } from './errors.ts';
import {
  type CoreAdmin,
  type CoreClient,
  finishCaughtUp,
  openPlan,
  type Partition,
  type Plan,
  type StreamDeps,
  type StreamInfo,
  storedBytes,
} from './plan.ts';
import { isAfter, isBoundary } from './positions.ts';
import { endPublishTime, type ReadRequest } from './request.ts';
import { encodeResumeToken } from './resume-token.ts';
import type { SchemaVersions } from './schema-versions.ts';

export type { CoreAdmin, CoreClient, PartitionPlan, StreamDeps, StreamInfo } from './plan.ts';

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
      /** Tail only: the publish time (ms) of each row, in order, for lag at send time. */
      publishTimes: number[];
    }
  | { kind: 'seam'; resumeToken: Buffer; historyRows: number }
  | {
      kind: 'heartbeat';
      resumeToken: Buffer;
      lastPublishTime: number | undefined;
      caughtUpAt: number;
    };

/** Flush history when no partition has had new messages for this long, ms. */
const historyIdleFlushMs = 50;
/** Reads a topic as events. Throws SeamError; after the first batch, with a resume token. */
export async function* readStream(
  deps: StreamDeps<CoreClient, CoreAdmin>,
  request: ReadRequest,
  signal: AbortSignal,
): AsyncGenerator<StreamEvent> {
  let stream: Stream | undefined;
  try {
    const plan = await openPlan(deps, request, signal);
    stream = new Stream(deps, request, signal, plan);
    yield { kind: 'start', schema: plan.schema.schema, info: plan.info };
    yield* stream.history();
    if (request.end.kind !== 'atOpen' && !stream.allFinished()) yield* stream.tail();
  } catch (error) {
    const failure = SeamError.from(signal.aborted ? (signal.reason ?? error) : error);
    // The token of the last event out: rows appended since were never sent.
    failure.resumeToken ??= stream?.lastToken;
    throw failure;
  } finally {
    await stream?.close();
  }
}

class Stream {
  private readonly deps: StreamDeps<CoreClient, CoreAdmin>;
  private readonly request: ReadRequest;
  private readonly signal: AbortSignal;
  private readonly topic: string;
  private readonly partitions: Partition[];
  private readonly batch: Batch;
  /** How to read messages written with other schema versions. */
  private readonly versions: SchemaVersions;
  private historyRows = 0;
  private historyBytesRead: number;
  private readonly historyBytesExpected: number;
  private lastPublishTime: number | undefined;
  /** The resume token of the last batch, seam or heartbeat emitted. */
  lastToken: Buffer | undefined;

  constructor(
    deps: StreamDeps<CoreClient, CoreAdmin>,
    request: ReadRequest,
    signal: AbortSignal,
    plan: Plan,
  ) {
    this.deps = deps;
    this.request = request;
    this.signal = signal;
    this.topic = plan.topic;
    this.partitions = plan.partitions;
    this.batch = new Batch(plan.schema, deps.memory);
    this.versions = plan.versions;
    this.historyBytesRead = plan.historyBytesRead;
    this.historyBytesExpected = plan.info.estimatedHistoryBytes;
  }

  /** History: every partition up to its boundary, then the seam. */
  async *history(): AsyncGenerator<StreamEvent> {
    while (this.partitions.some((p) => !p.historyDone && !p.finished)) {
      const active = this.partitions.filter((p) => !p.historyDone && !p.finished);
      const arrived = await this.receive(active, historyIdleFlushMs);
      if (arrived) {
        yield* this.drain('history');
      } else if (this.batch.rows > 0) {
        yield this.flush('history');
      }
      const lost = await stalledLoss(this.deps.admin, active);
      if (lost) {
        if (this.batch.rows > 0) yield this.flush('history');
        throw lost;
      }
    }
    yield* this.drain('history');
    if (this.batch.rows > 0) yield this.flush('history');
    this.lastToken = this.token();
    yield { kind: 'seam', resumeToken: this.lastToken, historyRows: this.historyRows };
  }

  /**
   * The live tail: a batch goes out when full, when the readers have nothing more queued,
   * or at `max_latency`; heartbeats while idle.
   */
  async *tail(): AsyncGenerator<StreamEvent> {
    const { maxLatencyMs, heartbeatMs } = this.request.batching;
    const endMs = endPublishTime(this.request.end);
    const batch = this.batch;
    let lastSentAt = Date.now();
    // Tail rows that arrived with the last history entries go first.
    yield* this.drain('tail');
    while (!this.allFinished()) {
      const now = Date.now();
      const pastEnd = endMs !== undefined && now >= endMs;
      let wait =
        batch.rows > 0 ? batch.startedAt + maxLatencyMs - now : lastSentAt + heartbeatMs - now;
      // Past the end time, look every 100 ms for partitions with nothing left.
      if (endMs !== undefined) wait = Math.min(wait, pastEnd ? 100 : endMs - now);
      if (await this.receive(this.unfinished(), Math.max(0, wait))) {
        for (const event of this.drain('tail')) {
          lastSentAt = Date.now();
          yield event;
        }
        // Nagle-like: once the readers have nothing more queued, the rows go out now rather
        // than at `max_latency`, which only caps the wait while rows keep coming. A burst
        // still makes one batch: what is queued is taken before the timer fires.
        if (batch.rows > 0 && !(await this.receive(this.unfinished(), 0))) {
          yield this.flush('tail');
          lastSentAt = Date.now();
        }
        continue;
      }
      if (batch.rows > 0 && Date.now() >= batch.startedAt + maxLatencyMs) {
        yield this.flush('tail');
        lastSentAt = Date.now();
        continue;
      }
      if (pastEnd) await finishCaughtUp(this.partitions, this.signal);
      if (batch.rows === 0 && Date.now() >= lastSentAt + heartbeatMs) {
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
    if (batch.rows > 0) yield this.flush('tail');
  }

  private unfinished(): Partition[] {
    return this.partitions.filter((p) => !p.finished);
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
        await this.versions.learn(messages);
        const received = await checkReceived(this.deps.admin, p, messages);
        p.inflight = undefined;
        if (p.pending.length === 0) {
          p.pending = received === messages.length ? messages : messages.slice(0, received);
        } else {
          // One by one: a receive can hand back the whole prefetch (receiver queue × batch
          // size, a million small messages), too many for spread arguments.
          for (let i = 0; i < received; i++) p.pending.push(messages[i] as Message);
        }
      });
      return p.inflight.then(() => {
        arrived = true;
      });
    });
    // No wait: only what is queued counts, so the race ends right after the receives'
    // promise callbacks, not at a timer (Node runs a 0 ms timer after 1 ms at the earliest:
    // a millisecond added to every tail batch that goes out because nothing more is queued).
    let cancel: () => void = () => {};
    const timeout = new Promise<void>((resolve) => {
      if (timeoutMs > 0) {
        const timer = setTimeout(resolve, timeoutMs);
        cancel = () => clearTimeout(timer);
      } else {
        const immediate = setImmediate(resolve);
        cancel = () => clearImmediate(immediate);
      }
    });
    try {
      await Promise.race([...waits, timeout]);
    } finally {
      cancel();
    }
    return arrived;
  }

  /**
   * Moves pending messages of the phase into the builder, yielding full batches. In the
   * history phase only messages up to each boundary move; the rest wait for the tail.
   * Receives may append to `pending` while this is suspended at a yield.
   */
  private *drain(phase: 'history' | 'tail'): Generator<StreamEvent> {
    const batch = this.batch;
    const endMs = endPublishTime(this.request.end);
    for (const p of this.partitions) {
      while (p.next < p.pending.length && !p.finished && !(phase === 'history' && p.historyDone)) {
        const message = p.pending[p.next];
        if (message === undefined) break;
        if (p.loss?.at === message) {
          if (batch.rows > 0) yield this.flush(phase);
          throw dataLoss(p.topic, p.loss.reason);
        }
        // Past the end (a message after it, when the end itself was not read: a batch
        // index past the batch, an entry the broker filtered out).
        if (p.end && isAfter(message.messageId, p.end)) {
          p.finished = true;
          break;
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
          if (p.end && isBoundary(message.messageId, p.end)) p.finished = true;
          continue;
        }
        if (endMs !== undefined && message.publishTime >= endMs) {
          p.finished = true;
          break;
        }
        const decode = this.versions.decoderOf(message);
        if (decode instanceof SeamError) {
          // Deliver the rows before it, then end the stream right after them.
          if (batch.rows > 0) yield this.flush(phase);
          throw decode;
        }
        p.next++;
        try {
          batch.append(message, decode);
          this.lastPublishTime = message.publishTime;
        } catch (error) {
          // A payload that does not decode: the rows before it go out, then the error, so
          // a client resuming with the token reads on up to that message.
          if (this.batch.rebuild() > 0) yield this.flush(phase);
          throw error;
        }
        p.position = { kind: 'after', id: message.messageId };
        if (phase === 'history') {
          this.historyRows++;
          this.historyBytesRead += storedBytes(p, message);
          if (p.boundary && isBoundary(message.messageId, p.boundary)) p.historyDone = true;
        }
        // The end message itself: finished now, not when a later message comes.
        if (p.end && isBoundary(message.messageId, p.end)) p.finished = true;
        if (batch.full(this.request.batching)) yield this.flush(phase);
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

  private flush(phase: 'history' | 'tail'): StreamEvent {
    const { batch, publishTimes } = this.batch.take(phase === 'tail');
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
    this.batch.release();
    await Promise.all(this.partitions.map((p) => p.reader.close()));
  }
}
