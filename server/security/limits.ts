/**
 * Limits per caller: streams open at once, and streams opened per second (a token
 * bucket whose burst equals the rate). Beyond either, RESOURCE_EXHAUSTED. Callers are
 * told apart by a key the caller cannot mint (a verified role; for an unverified token,
 * the token itself): see `Caller.limitKey`.
 */
import { SeamError } from '../core/errors.ts';

/** The limits; each applies to one principal. */
export interface PrincipalLimitOptions {
  maxStreams: number;
  /** Streams opened per second, sustained; the same number may open at once. */
  requestsPerSecond: number;
}

interface Usage {
  streams: number;
  /** Requests the bucket holds now (fractional while refilling). */
  tokens: number;
  refilledAt: number;
}

/** Counts each principal's streams and request rate. */
export class PrincipalLimits {
  private readonly options: PrincipalLimitOptions;
  private readonly usage = new Map<string, Usage>();

  constructor(options: PrincipalLimitOptions) {
    this.options = options;
  }

  /**
   * Admits one stream of the caller `principal` (its limit key), or throws RESOURCE_EXHAUSTED. The returned function
   * ends the stream's share; call it exactly once.
   */
  admit(principal: string, now = Date.now()): () => void {
    const { maxStreams, requestsPerSecond } = this.options;
    const usage = this.usage.get(principal) ?? {
      streams: 0,
      tokens: requestsPerSecond,
      refilledAt: now,
    };
    usage.tokens = Math.min(
      requestsPerSecond,
      usage.tokens + ((now - usage.refilledAt) / 1000) * requestsPerSecond,
    );
    usage.refilledAt = now;
    if (usage.streams >= maxStreams) {
      throw new SeamError(
        'RESOURCE_EXHAUSTED',
        `this caller has ${maxStreams} streams open, its limit: close one, or retry later`,
      );
    }
    if (usage.tokens < 1) {
      throw new SeamError(
        'RESOURCE_EXHAUSTED',
        `this caller opens more than ${requestsPerSecond} streams per second, its limit: retry later`,
      );
    }
    usage.tokens -= 1;
    usage.streams += 1;
    this.usage.set(principal, usage);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      usage.streams -= 1;
      // Forget idle principals once their bucket would be full again anyway.
      if (usage.streams === 0) {
        const refill = ((1 - usage.tokens / requestsPerSecond) * 1000) | 0;
        setTimeout(() => {
          if (usage.streams === 0 && this.usage.get(principal) === usage) {
            this.usage.delete(principal);
          }
        }, refill + 1).unref();
      }
    };
  }
}
