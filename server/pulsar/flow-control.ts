/**
 * A reader's flow control: how many permits (messages the broker may push) to grant, and
 * the bytes it holds from the gateway's memory budget. `permitsToGrant` is the arithmetic,
 * pure; `MemoryHold` keeps the budget's count and the wait for memory released elsewhere;
 * `FlowControl` keeps a reader's side of it (permits at the broker, entry sizes seen).
 */
import type { MemoryPool } from '../memory-pool.ts';

/** Messages a reader may have queued and asked for, by default (as the official clients). */
export const defaultReceiverQueueSize = 1000;
/** Bytes a reader may hold queued and prefetched, by default (2 MiB: bench/README.md, Memory). */
export const defaultReceiverQueueBytes = 2 * 1024 * 1024;

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

/** What a reader has queued, for `FlowControl`: made messages and those still in entries. */
export interface Queued {
  messages: number;
  /** Their bytes (`messageBytes`), with chunks held for incomplete chunked messages. */
  bytes: number;
}

/**
 * One reader's flow control: the permits its consumer has at the broker, the size of the
 * entries they bring, and the memory held for both and for what is queued.
 */
export class FlowControl {
  readonly receiverQueueSize: number;
  readonly receiverQueueBytes: number;
  /** Bytes held from the gateway's memory: what is queued plus what the permits may bring. */
  readonly hold: MemoryHold;
  /**
   * Permits granted to the current consumer minus messages it delivered. Negative after
   * the broker sent a batch larger than the permits left: the next FLOW pays that back.
   */
  private brokerPermits = 0;
  /** Bytes an entry brought, recent entries weighing most; undefined before the first. */
  private entryBytes: number | undefined;
  /** Entries received since the reader opened: permits grow with them (a slow start). */
  private entriesSeen = 0;

  constructor(options: {
    receiverQueueSize: number;
    receiverQueueBytes: number;
    memory: MemoryPool | undefined;
  }) {
    this.receiverQueueSize = options.receiverQueueSize;
    this.receiverQueueBytes = options.receiverQueueBytes;
    this.hold = new MemoryHold(options.memory);
  }

  /** Permits granted to the current consumer that the broker has not used yet. */
  get permitsInFlight(): number {
    return Math.max(0, this.brokerPermits);
  }

  /** A new consumer (or none): it has no permits at the broker. */
  resetPermits(): void {
    this.brokerPermits = 0;
  }

  /**
   * An entry arrived: it used `permitsUsed` permits (a batch's messages all count) and
   * costs `bytes` in memory.
   */
  received(permitsUsed: number, bytes: number): void {
    // The broker counts permits in messages, a batch's all of them, and may go below
    // zero; what it sent past them is paid back by the next FLOW.
    this.brokerPermits -= permitsUsed;
    this.entriesSeen++;
    this.entryBytes =
      this.entryBytes === undefined ? bytes : Math.max(bytes, (this.entryBytes + bytes) / 2);
  }

  /**
   * The permits to send in a FLOW now, what the broker sent past the last ones included
   * (0: none); counted as granted. Without room, `retry` is called when memory is released,
   * if memory is what is missing.
   */
  grant(queued: Queued, retry: () => void): number {
    const inFlight = this.permitsInFlight;
    const { permits, waitForMemory } = permitsToGrant({
      receiverQueueSize: this.receiverQueueSize,
      receiverQueueBytes: this.receiverQueueBytes,
      queuedMessages: queued.messages,
      queuedBytes: queued.bytes,
      permitsInFlight: inFlight,
      entryBytes: this.entryBytes,
      entriesSeen: this.entriesSeen,
      memoryFree: this.hold.free,
    });
    if (permits === 0) {
      if (waitForMemory) this.hold.waitForRelease(retry);
      return 0;
    }
    this.hold.stopWaiting();
    const flow = permits - Math.min(0, this.brokerPermits);
    this.brokerPermits = inFlight + permits;
    return flow;
  }

  /**
   * Holds from the gateway's memory the `queuedBytes` and what the permits in flight may
   * bring; a closed reader (`undefined`) holds nothing and stops waiting for memory.
   */
  settle(queuedBytes: number | undefined): void {
    if (queuedBytes === undefined) {
      this.hold.set(0);
      this.hold.stopWaiting();
      return;
    }
    this.hold.set(queuedBytes + this.permitsInFlight * (this.entryBytes ?? 0));
  }
}
