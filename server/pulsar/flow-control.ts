/**
 * A reader's flow control: how many permits (messages the broker may push) to grant, and
 * the bytes it holds from the gateway's memory budget. `permitsToGrant` is the arithmetic,
 * pure; `MemoryHold` keeps the budget's count and the wait for memory released elsewhere.
 */
import type { MemoryPool } from '../memory-pool.ts';

/** Messages a reader may have queued and asked for, by default (as the official clients). */
export const defaultReceiverQueueSize = 1000;
/** Bytes a reader may hold queued and prefetched, by default (8 MiB). */
export const defaultReceiverQueueBytes = 8 * 1024 * 1024;

/**
 * What a received message costs beyond its payload, bytes: the JS objects that carry it
 * (message, id, payload view, properties). Measured in a heap snapshot of a gateway reading
 * small AVRO records: ~400 B a message.
 */
export const messageOverheadBytes = 400;

/** What a grant decision depends on. */
export interface FlowState {
  receiverQueueSize: number;
  receiverQueueBytes: number;
  /** Messages received and not handed out (queued, or still to be made from an entry). */
  queuedMessages: number;
  /** Their bytes, with chunks held for incomplete chunked messages. */
  queuedBytes: number;
  /** Permits granted that the broker has not used yet. */
  permitsInFlight: number;
  /** Bytes an entry brings, recent entries weighing most; undefined before the first. */
  entryBytes: number | undefined;
  /** Entries received since the reader opened. */
  entriesSeen: number;
  /** Bytes free in the gateway's memory budget; undefined without one. */
  memoryFree: number | undefined;
}

/** Permits to grant now (0: none), and whether to grant again when memory is released. */
export interface FlowDecision {
  permits: number;
  waitForMemory: boolean;
}

/**
 * Permits to grant while the queue and what the permits in flight may bring stay under
 * `receiverQueueSize` messages and `receiverQueueBytes` bytes, and under what the gateway's
 * memory has free; in chunks of at least half the window, as the official clients refill.
 * A permit may bring a whole entry (a batch of many messages: the broker reads an entry per
 * permit), so bytes are counted per entry. A reader with nothing queued and nothing asked
 * for always gets one permit: it never stalls.
 */
export function permitsToGrant(s: FlowState): FlowDecision {
  // Before the first entry, its size is unknown: one permit finds it out.
  const perPermit = s.entryBytes ?? s.receiverQueueBytes;
  const inFlight = s.permitsInFlight;
  const byMessages = s.receiverQueueSize - s.queuedMessages - inFlight;
  const byBytes = Math.floor((s.receiverQueueBytes - s.queuedBytes) / perPermit) - inFlight;
  // The broker reads an entry per permit, of whatever size: sized from a few (small)
  // entries, a large window could bring a burst of large ones. So the window grows with
  // the entries seen, doubling, as the size estimate firms up (measured without it: a
  // reader's permits, sized from a small first entry, held 1000 entries of 515 KB).
  const slowStart = Math.max(1, 2 * s.entriesSeen);
  let permits = Math.min(byMessages, byBytes, slowStart);
  const window = Math.max(
    1,
    Math.min(s.receiverQueueSize, Math.floor(s.receiverQueueBytes / perPermit), slowStart),
  );
  if (s.memoryFree !== undefined) permits = Math.min(permits, Math.floor(s.memoryFree / perPermit));
  const idle = s.queuedMessages === 0 && inFlight === 0;
  if (idle) permits = Math.max(1, permits);
  if (permits < Math.max(1, window >> 1) && !idle) {
    // Too little room: wait for the stream to take messages, or for the gateway's memory
    // to be released by other streams.
    const waitForMemory = s.memoryFree !== undefined && byMessages > 0 && byBytes > 0;
    return { permits: 0, waitForMemory };
  }
  return { permits, waitForMemory: false };
}

/**
 * The bytes a reader holds from the gateway's memory (what is queued plus what the permits
 * in flight may bring), taken even past the budget: the messages are here or asked for
 * already; `permitsToGrant` keeps asking within it.
 */
export class MemoryHold {
  /** Bytes held now. */
  held = 0;
  private readonly memory: MemoryPool | undefined;
  /** Unregisters the wait for memory to be released. */
  private waiting: (() => void) | undefined;

  constructor(memory: MemoryPool | undefined) {
    this.memory = memory;
  }

  /** The budget's free bytes; undefined without a budget. */
  get free(): number | undefined {
    return this.memory?.free;
  }

  /** Holds `target` bytes: takes or releases the difference. */
  set(target: number): void {
    if (!this.memory) return;
    const change = target - this.held;
    // Set first: a release wakes readers waiting for memory, this one among them.
    this.held = target;
    if (change > 0) this.memory.force(change);
    else this.memory.release(-change);
  }

  /** `bytes` now belong to someone else (who releases them): no longer held here. */
  handOff(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }

  /** Calls `retry` at each release of memory until `stopWaiting`. */
  waitForRelease(retry: () => void): void {
    this.waiting ??= this.memory?.onRelease(retry);
  }

  stopWaiting(): void {
    this.waiting?.();
    this.waiting = undefined;
  }
}
