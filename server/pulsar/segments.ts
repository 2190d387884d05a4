/**
 * A partition's segments (Pulsar's ledgers) as history reads them: which entries of which
 * ledger, their stored size, and the publish times and chunk headers of entries, fetched
 * once through the admin API and cached (an entry never changes once written).
 */
import type { EntryChunk, Ledger, PulsarAdmin } from './admin.ts';
import type { MessageId } from './message-id.ts';

/** Entries `firstEntry..lastEntry` of one ledger. */
export interface Segment {
  ledgerId: number;
  firstEntry: number;
  lastEntry: number;
  /** Average stored bytes of an entry of the ledger (entry metadata and payload). */
  entryBytes: number;
  offloaded: boolean;
  /** The ledger the broker is still writing; undefined when not known. */
  open?: boolean;
}

/** Entries of the segment. */
export function segmentEntries(segment: Segment): number {
  return segment.lastEntry - segment.firstEntry + 1;
}

/**
 * The segments holding a partition's history: from entry `from` (ledger and entry) up to
 * and including the entry of `boundary`, skipping empty ledgers. Ledgers are as
 * `PulsarAdmin.ledgers` lists them (the open one with the entries written so far).
 */
export function historySegments(
  ledgers: Ledger[],
  from: { ledgerId: number; entryId: number },
  boundary: MessageId,
): Segment[] {
  const segments: Segment[] = [];
  for (const ledger of ledgers) {
    if (ledger.ledgerId < from.ledgerId || ledger.ledgerId > boundary.ledgerId) continue;
    const firstEntry = ledger.ledgerId === from.ledgerId ? Math.max(0, from.entryId) : 0;
    const lastEntry = ledger.ledgerId === boundary.ledgerId ? boundary.entryId : ledger.entries - 1;
    if (lastEntry < firstEntry) continue;
    segments.push({
      ledgerId: ledger.ledgerId,
      firstEntry,
      lastEntry,
      entryBytes: ledger.entries > 0 ? ledger.size / ledger.entries : 0,
      offloaded: ledger.offloaded,
      open: ledger.open,
    });
  }
  return segments;
}

/**
 * Something known of entries once written (an entry never changes), fetched with `admin`
 * through `fetchEntry`, by topic, ledger and entry; at most `capacity` kept, least recently
 * used out first. A failed fetch is not remembered: the next caller asks again.
 */
export class EntryCache<Admin, T> {
  private readonly fetchEntry: (
    admin: Admin,
    topic: string,
    ledgerId: number,
    entryId: number,
  ) => Promise<T>;
  private readonly capacity: number;
  /** Least recently used first. */
  private readonly cache = new Map<string, Promise<T>>();
  /** Entries fetched from the broker (cache misses), for tests and stats. */
  fetched = 0;

  constructor(
    fetchEntry: (admin: Admin, topic: string, ledgerId: number, entryId: number) => Promise<T>,
    capacity = 100_000,
  ) {
    this.fetchEntry = fetchEntry;
    this.capacity = capacity;
  }

  /** What is known of one entry. */
  entry(admin: Admin, topic: string, ledgerId: number, entryId: number): Promise<T> {
    const key = `${topic} ${ledgerId}:${entryId}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached;
    }
    this.fetched++;
    const value = this.fetchEntry(admin, topic, ledgerId, entryId);
    value.catch(() => this.cache.delete(key));
    this.cache.set(key, value);
    if (this.cache.size > this.capacity) {
      this.cache.delete(this.cache.keys().next().value as string);
    }
    return value;
  }
}

/**
 * Publish times of entries, ms (a batch's messages share their entry's). One cache serves
 * every admin client (callers' included): a stream looks publish times up only after its
 * reader's subscription was allowed.
 */
export class PublishTimes extends EntryCache<Pick<PulsarAdmin, 'entryPublishTime'>, number> {
  constructor(capacity = 100_000) {
    super(
      (admin, topic, ledgerId, entryId) => admin.entryPublishTime(topic, ledgerId, entryId),
      capacity,
    );
  }
}

/**
 * Entries' chunk headers (undefined: not a chunk), as Flight's planning reads them at ledger
 * boundaries. Shared like `PublishTimes`: planning looks them up only after its readers'
 * subscriptions were allowed.
 */
export const entryChunks = new EntryCache<Pick<PulsarAdmin, 'entryChunk'>, EntryChunk | undefined>(
  (admin, topic, ledgerId, entryId) => admin.entryChunk(topic, ledgerId, entryId),
);

/** The process's publish-time cache. */
export const publishTimes = new PublishTimes();

/**
 * The first index in `0..count` for which `holds` is true, given that it stays true from
 * there on (publish times non-decreasing along the partition); `count` when none. Reads
 * O(log count) segments' publish times instead of all of them.
 */
export async function firstWhere(
  count: number,
  holds: (index: number) => Promise<boolean>,
): Promise<number> {
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (await holds(middle)) high = middle;
    else low = middle + 1;
  }
  return low;
}
