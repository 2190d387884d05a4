/**
 * History by segment: a partition's history read several ledgers at a time and handed
 * out in Pulsar order, so the stream sees exactly the messages one reader would return.
 *
 * The partition's own reader (opened at the stream's start, as in the sequential path)
 * reads the segment the start falls in; a reader per later segment, started at its
 * ledger's entry 0, reads it concurrently and stops at its last entry. Once the last
 * history segment is handed out, a reader started right after the boundary takes the tail.
 * Segment readers per stream are limited by a gate shared by its partitions, and the rows
 * they buffer ahead of the stream by a byte budget: a stream that is not pulled (a slow
 * client) stops taking messages, so its readers stop granting the broker permits.
 */
import type { MemoryPool } from '../memory-pool.ts';
import type { PulsarAdmin } from '../pulsar/admin.ts';
import { defaultReceiverQueueBytes } from '../pulsar/flow-control.ts';
import { type Message, messageBytes } from '../pulsar/message.ts';
import { MessageId } from '../pulsar/message-id.ts';
import type { Reader, ReaderOptions } from '../pulsar/reader.ts';
import { firstWhere, type PublishTimes, type Segment, segmentEntries } from '../pulsar/segments.ts';
import { SeamError } from './errors.ts';
import { isLast, isPast, startsIn } from './positions.ts';

/** Segments of history read at once per stream, by default (see bench/read-segments.ts). */
export const defaultHistoryParallelism = 4;
/** Bytes (`messageBytes`) a stream's segment readers may buffer and prefetch, by default. */
export const defaultHistoryBudgetBytes = 8 * 1024 * 1024;

/** Smallest prefetch window of a segment reader, messages. */
const minWindow = 32;

/** What the stream needs of a partition's reader. */
export type PartitionReader = Pick<Reader, 'receive' | 'positions' | 'close'>;

/** Opens a partition's reader: `Reader.open` on the stream's client, or a fake in tests. */
export type OpenReader = (options: ReaderOptions) => Promise<PartitionReader>;

/** What one segment reader did, reported when it closes: for tests and benchmarks. */
export interface SegmentRead {
  topic: string;
  ledgerId: number;
  firstEntry: number;
  lastEntry: number;
  /** Messages the reader received, including any past the segment that it dropped. */
  messages: number;
}

/** Limits of segment reading for one stream, shared by its partitions. */
export class SegmentGate {
  /** Segment readers that may be open at once. */
  readonly slots: number;
  /** Bytes of messages (`messageBytes`) that segment readers may buffer and prefetch. */
  readonly budgetBytes: number;
  private used = 0;
  private readonly queue: (() => void)[] = [];
  /** Bytes of messages buffered ahead of the stream. */
  buffered = 0;
  private change = Promise.withResolvers<void>();

  constructor(slots: number, budgetBytes: number) {
    this.slots = Math.max(1, slots);
    this.budgetBytes = budgetBytes;
  }

  /** Half the budget is for buffers; the rest for what open readers prefetch. */
  get hasRoom(): boolean {
    return this.buffered < this.budgetBytes / 2;
  }

  /** Messages a segment reader may prefetch, given its entries' average size. */
  permits(entryBytes: number, cap: number): number {
    const share = this.budgetBytes / 2 / this.slots;
    return Math.max(1, Math.min(cap, Math.floor(share / Math.max(1, entryBytes))));
  }

  /** Waits for a free slot; first come, first served (so partitions take turns). */
  async acquire(): Promise<void> {
    if (this.used < this.slots) {
      this.used++;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.used--;
  }

  /** Resolves at the next `notify()`. */
  changed(): Promise<void> {
    return this.change.promise;
  }

  /** Wakes everyone waiting on `changed()`: buffers, heads or closings changed. */
  notify(): void {
    this.change.resolve();
    this.change = Promise.withResolvers<void>();
  }
}

/** A segment being read ahead. */
interface Ahead extends Segment {
  buffer: Message[];
  bufferedBytes: number;
  done: boolean;
  failure: unknown;
}

/** Where a segmented history reads from. */
export interface SegmentedHistoryOptions {
  openReader: OpenReader;
  admin: Pick<PulsarAdmin, 'ledgers'>;
  topic: string;
  /** The partition's reader, at the stream's start. */
  main: PartitionReader;
  /** The segment `main` starts in; it hands out only that segment's messages. */
  first: Segment;
  /** The later segments, in order; the last ends at the boundary. */
  later: Segment[];
  /** The partition's last message at open: the tail starts after it. */
  boundary: MessageId;
  gate: SegmentGate;
  receiverQueueSize: number;
  receiverQueueBytes: number | undefined;
  /** The gateway's memory: segment buffers and readers draw from it. */
  memory: MemoryPool | undefined;
  onSegmentRead: ((read: SegmentRead) => void) | undefined;
}

/** A partition's reader that reads its history by segment; see the module comment. */
export class SegmentedHistory implements PartitionReader {
  private readonly options: SegmentedHistoryOptions;
  private readonly ahead: Ahead[];
  /** -1 while `main` hands out the first segment; `ahead.length` once in the tail. */
  private head = -1;
  private tail: PartitionReader | undefined;
  /** The tail reader being opened (`main` is closed once it is open). */
  private tailOpening: Promise<PartitionReader> | undefined;
  private readonly readers = new Set<PartitionReader>();
  /** Segment reads holding a slot. */
  private readonly reading = new Set<Promise<void>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Ends the waits of segment readers when the partition closes. */
  private readonly abort = new AbortController();

  constructor(options: SegmentedHistoryOptions) {
    this.options = options;
    this.ahead = options.later.map((s) => ({
      ...s,
      buffer: [],
      bufferedBytes: 0,
      done: false,
      failure: undefined,
    }));
    this.readAhead(0);
  }

  /** The next messages in Pulsar order, waiting for at least one. */
  async receive(signal?: AbortSignal): Promise<Message[]> {
    const { main, first, gate } = this.options;
    for (;;) {
      if (this.head < 0) {
        const messages = await main.receive(signal);
        const inFirst = messages.filter((m) => startsIn(m, first));
        const last = messages.at(-1)?.messageId;
        if (last && (isPast(last, first) || isLast(last, first))) this.advance();
        if (inFirst.length > 0) return inFirst;
        continue;
      }
      const segment = this.ahead[this.head];
      if (!segment) {
        this.tailOpening ??= this.openTail();
        this.tail ??= await this.tailOpening;
        return this.tail.receive(signal);
      }
      while (segment.buffer.length === 0 && !segment.done) await changeOrAbort(gate, signal);
      if (segment.failure) throw segment.failure;
      if (segment.buffer.length > 0) {
        const messages = segment.buffer;
        gate.buffered -= segment.bufferedBytes;
        this.options.memory?.release(segment.bufferedBytes);
        segment.buffer = [];
        segment.bufferedBytes = 0;
        gate.notify();
        return messages;
      }
      this.advance();
    }
  }

  /**
   * The partition's last message id and cursor (from the tail's reader once there: while it
   * opens, `main` may be closed already).
   */
  async positions(signal?: AbortSignal): ReturnType<PartitionReader['positions']> {
    const reader = this.tail ?? (await this.tailOpening) ?? this.options.main;
    return reader.positions(signal);
  }

  /** Closes every reader; resolves once the segment reads under way have ended. */
  close(): Promise<void> {
    this.closing ??= this.release();
    return this.closing;
  }

  private async release(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    const { gate } = this.options;
    for (const segment of this.ahead) {
      gate.buffered -= segment.bufferedBytes;
      this.options.memory?.release(segment.bufferedBytes);
      segment.bufferedBytes = 0;
    }
    gate.notify();
    await Promise.all([
      this.options.main.close(),
      this.tail?.close(),
      ...[...this.readers].map((r) => r.close()),
      ...this.reading,
    ]);
  }

  private advance(): void {
    this.head++;
    this.options.gate.notify();
  }

  /** After the history: a reader from right after the boundary, instead of `main`. */
  private async openTail(): Promise<PartitionReader> {
    const { openReader, topic, boundary, main, receiverQueueSize, receiverQueueBytes, memory } =
      this.options;
    const tail = await openReader({
      topic,
      start: boundary,
      startInclusive: false,
      receiverQueueSize,
      ...(receiverQueueBytes === undefined ? {} : { receiverQueueBytes }),
      memory,
    });
    if (this.closed) await tail.close();
    await main.close();
    return tail;
  }

  /**
   * Reads segment `index` ahead once a slot is free, and starts on the next one as soon as
   * it has its slot, so that the stream's partitions take turns at the gate.
   */
  private readAhead(index: number): void {
    const segment = this.ahead[index];
    if (!segment) return;
    const { gate } = this.options;
    void gate.acquire().then(() => {
      this.readAhead(index + 1);
      const read: Promise<void> = this.readSegment(segment, index)
        .catch((error: unknown) => {
          if (!this.closed) segment.failure = error;
        })
        .finally(() => {
          segment.done = true;
          this.reading.delete(read);
          gate.release();
          gate.notify();
        });
      this.reading.add(read);
    });
  }

  private async readSegment(segment: Ahead, index: number): Promise<void> {
    const { openReader, topic, gate, receiverQueueSize, memory, onSegmentRead } = this.options;
    // A segment reads while there is room in the stream's budget and in the gateway's
    // memory; the one handed out next also whenever its buffer is empty, so the stream
    // moves. (Without a bound it would buffer as fast as Pulsar sends while the client is
    // slower: a whole ledger, measured 148 K messages.)
    const mayRead = () =>
      this.closed ||
      (this.head >= index && segment.buffer.length === 0) ||
      (gate.hasRoom && (memory?.free ?? 1) > 0);
    while (!mayRead()) await roomOrChange(gate, memory);
    if (this.closed) return;
    // The broker pushes as many messages as it has permits for, past the segment's end
    // too, into what the next segment's reader reads: a window of an eighth of the
    // segment keeps that overrun small.
    const window = Math.max(minWindow, Math.ceil(segmentEntries(segment) / 8));
    const reader = await openReader({
      topic,
      start: new MessageId(segment.ledgerId, segment.firstEntry),
      startInclusive: true,
      receiverQueueSize: gate.permits(segment.entryBytes, Math.min(receiverQueueSize, window)),
      // The budget's prefetch half, shared by the segment readers.
      receiverQueueBytes: Math.min(
        this.options.receiverQueueBytes ?? defaultReceiverQueueBytes,
        Math.max(1, Math.floor(gate.budgetBytes / 2 / gate.slots)),
      ),
      memory,
      // What it hands out stays counted in the buffer, without a gap for others to take.
      handOffMemory: true,
    });
    this.readers.add(reader);
    let received = 0;
    try {
      while (!this.closed) {
        while (!mayRead()) await roomOrChange(gate, memory);
        const messages = await reader.receive(this.abort.signal);
        let handedOff = 0;
        let bytes = 0;
        let outside = 0;
        for (const m of messages) {
          const size = messageBytes(m);
          handedOff += size;
          if (startsIn(m, segment)) bytes += size;
          else outside++;
        }
        if (this.closed) {
          memory?.release(handedOff); // its buffers are released already
          return;
        }
        received += messages.length;
        const inside = outside === 0 ? messages : messages.filter((m) => startsIn(m, segment));
        // Counted as held in memory, taken from the gateway's memory by the reader already;
        // what is past the segment is dropped and released (before anything can throw).
        memory?.release(handedOff - bytes);
        // Nothing of the segment before what follows it: is the ledger still there?
        if (received === messages.length && inside.length === 0) {
          await this.checkSegmentExists(segment);
        }
        if (segment.buffer.length === 0) segment.buffer = inside;
        // One by one: a receive can hand back the whole prefetch (receiver queue × batch
        // size, a million small messages), too many for spread arguments.
        else for (const m of inside) segment.buffer.push(m);
        segment.bufferedBytes += bytes;
        gate.buffered += bytes;
        gate.notify();
        const last = messages.at(-1)?.messageId;
        if (last && (isPast(last, segment) || isLast(last, segment))) return;
      }
    } catch (error) {
      if (!this.closed) throw error;
    } finally {
      this.readers.delete(reader);
      await reader.close();
      onSegmentRead?.({
        topic,
        ledgerId: segment.ledgerId,
        firstEntry: segment.firstEntry,
        lastEntry: segment.lastEntry,
        messages: received,
      });
    }
  }

  /**
   * A segment whose reader starts past it: retention deleted the ledger (DATA_LOSS), or
   * it holds no readable message (only markers), which is no error.
   */
  private async checkSegmentExists(segment: Segment): Promise<void> {
    const { admin, topic } = this.options;
    const ledgers = await admin.ledgers(topic);
    if (ledgers.some((l) => l.ledgerId === segment.ledgerId)) return;
    throw new SeamError(
      'DATA_LOSS',
      `${topic}: segment ${segment.ledgerId} was deleted by retention while the stream read the history; its messages are lost. Start from earliest to read what remains.`,
    );
  }
}

/** Resolves at the gate's next change, or when the gateway's memory is released. */
async function roomOrChange(gate: SegmentGate, memory: MemoryPool | undefined): Promise<void> {
  const stop = memory?.onRelease(() => gate.notify());
  try {
    await gate.changed();
  } finally {
    stop?.();
  }
}

/** Resolves at the gate's next change; rejects if `signal` aborts first. */
function changeOrAbort(gate: SegmentGate, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    void gate.changed().then(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/**
 * Cuts a partition's history segments to a publish-time range: `before`, the segments
 * before the first whose last entry is at or after the start; `kept`, those from there up
 * to the first segment whose first entry is at or past the end, which is kept to that
 * entry (its message ends the partition as it would in one reader). Assumes publish times
 * that do not decrease along the partition (see docs/pulsar-read-path.md, "History by segment").
 */
export async function prunedByTime(
  at: { admin: Pick<PulsarAdmin, 'entryPublishTime'>; topic: string; times: PublishTimes },
  segments: Segment[],
  range: { startMs: number | undefined; endMs: number | undefined },
): Promise<{ before: Segment[]; kept: Segment[] }> {
  const { admin, topic, times } = at;
  const { startMs, endMs } = range;
  const from =
    startMs === undefined
      ? 0
      : await firstWhere(segments.length, async (i) => {
          const s = segments[i] as Segment;
          return (await times.entry(admin, topic, s.ledgerId, s.lastEntry)) >= startMs;
        });
  const kept = segments.slice(from);
  if (endMs !== undefined) {
    const to = await firstWhere(kept.length, async (i) => {
      const s = kept[i] as Segment;
      return (await times.entry(admin, topic, s.ledgerId, s.firstEntry)) >= endMs;
    });
    const last = kept[to];
    kept.splice(to, kept.length - to, ...(last ? [{ ...last, lastEntry: last.firstEntry }] : []));
  }
  return { before: segments.slice(0, from), kept };
}
