/**
 * The gateway's memory budget: bytes that every stream's buffers draw from (readers'
 * prefetch and queues, segment buffers, responses written and not yet sent), so that N
 * streams together stay within one bound. Nothing here allocates; holders count what they
 * keep. A holder that cannot get memory waits for a release (backpressure), except for the
 * minimum that keeps its stream moving, which it takes even past the budget (`force`): so
 * `used` can exceed the budget by at most one such minimum per holder.
 */

/** The gateway's memory budget, by default (64 MiB). */
export const defaultMemoryBudgetBytes = 64 * 1024 * 1024;

/** A gateway-wide count of bytes held, against a budget. */
export class MemoryPool {
  /** Bytes the holders may take together (the minimums aside). */
  readonly budgetBytes: number;
  /** Bytes held now. */
  used = 0;
  /** The most bytes held at once since the pool was made (or `resetHighWater()`). */
  highWater = 0;
  /** Holders waiting for memory, called at each release. */
  private readonly waiters = new Set<() => void>();

  constructor(budgetBytes: number) {
    this.budgetBytes = budgetBytes;
  }

  /** Bytes free under the budget. */
  get free(): number {
    return Math.max(0, this.budgetBytes - this.used);
  }

  /** Takes up to `bytes`, as much as is free; returns what it took. */
  take(bytes: number): number {
    const taken = Math.max(0, Math.min(bytes, this.free));
    this.add(taken);
    return taken;
  }

  /** Takes `bytes` whatever is free: the minimum that keeps a stream moving. */
  force(bytes: number): void {
    this.add(Math.max(0, bytes));
  }

  /** Gives back bytes taken; wakes the holders waiting for memory. */
  release(bytes: number): void {
    if (bytes <= 0) return;
    this.used = Math.max(0, this.used - bytes);
    for (const wake of [...this.waiters]) {
      if (this.free <= 0) break;
      wake();
    }
  }

  /** Calls `wake` after each release while registered; returns the call that unregisters. */
  onRelease(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => this.waiters.delete(wake);
  }

  /** Resolves once at least `bytes` are free (or `signal` aborts: rejects with its reason). */
  async room(bytes: number, signal?: AbortSignal): Promise<void> {
    while (this.free < bytes) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          stop();
          signal?.removeEventListener('abort', onAbort);
        };
        const stop = this.onRelease(() => {
          done();
          resolve();
        });
        const onAbort = () => {
          done();
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** Starts the high-water mark again from what is held now: for tests and benchmarks. */
  resetHighWater(): void {
    this.highWater = this.used;
  }

  private add(bytes: number): void {
    this.used += bytes;
    if (this.used > this.highWater) this.highWater = this.used;
  }
}

/** A pool with no budget to speak of: holders count, nobody waits. */
export function unboundedPool(): MemoryPool {
  return new MemoryPool(Number.MAX_SAFE_INTEGER);
}
