/**
 * Gaps in a partition's sequence of messages. Retention, truncation and offload deletion
 * remove whole ledgers, also under a reader, and the broker then moves a non-durable
 * reader on to the next ledger that exists without a word — or, when none is left, leaves
 * it waiting for messages that will never come. So a stream checks, per partition, what
 * its reader returns:
 * - where the planned history changes ledger, the ledger left must have been read to its
 *   planned end and the one entered must be the next planned one (`lostBefore`);
 * - where the tail changes ledger (or the history leaves its last planned ledger, which
 *   may have grown since the open), the left ledger's last entry is confirmed: by the
 *   broker's message index when both messages carry one, else by one admin call;
 * - when the history has waited for a while with nothing arriving, the ledger it waits for
 *   must still exist (`stalled`).
 * Within a ledger, entries may be skipped legitimately (the broker filters markers out).
 */
import type { PulsarAdmin } from '../pulsar/admin.ts';
import type { Message } from '../pulsar/message.ts';
import type { Segment } from '../pulsar/segments.ts';
import { SeamError } from './errors.ts';
import type { Position } from './resume-token.ts';

/** The entry of the message received last (a chunked message's last chunk). */
export interface Taken {
  ledgerId: number;
  entryId: number;
  /** The message's index in its partition, when the broker adds one. */
  brokerIndex?: number | undefined;
}

/** What the admin API tells about ledgers: one call. */
export type LedgerEntries = Pick<PulsarAdmin, 'ledgerEntries'>;

/** The verdict on one message: fine, lost data before it, or a tail ledger change to confirm. */
export type Verdict = undefined | { lost: string } | 'confirm';

/** A partition's planned history, as the continuity checks see it. */
export interface PlannedHistory {
  /** The segments of history still to read, in order; empty without segment metadata. */
  segments: readonly Segment[];
  /** The start was a publish time: the first message is wherever the broker's seek lands. */
  fromPublishTime: boolean;
}

/**
 * What was lost between `previous` (the message received last, or the entry just before
 * the start) and `message`, judged against the planned history. A chunked message counts
 * from its first chunk. 'confirm' where the tail changes ledger: see `confirmLedgerChange`.
 */
export function lostBefore(
  plan: PlannedHistory,
  previous: Taken | undefined,
  message: Message,
): Verdict {
  const first = message.messageId.firstChunk ?? message.messageId;
  const { segments } = plan;
  if (previous === undefined) {
    // From earliest the first planned ledger comes first; a start by publish time begins
    // wherever the broker's seek lands.
    const planned = segments[0];
    return planned && !plan.fromPublishTime && first.ledgerId > planned.ledgerId
      ? {
          lost: `the first message read is in ledger ${first.ledgerId}, after ledger ${planned.ledgerId}`,
        }
      : undefined;
  }
  if (first.ledgerId === previous.ledgerId) return undefined;
  const at = segments.findIndex((s) => s.ledgerId === previous.ledgerId);
  if (at < 0) return 'confirm'; // a ledger after the history: the tail's
  const left = segments[at] as Segment;
  if (previous.entryId < left.lastEntry) {
    return {
      lost: `ledger ${left.ledgerId} ended at entry ${previous.entryId}, not ${left.lastEntry}`,
    };
  }
  const next = segments[at + 1];
  if (!next) return 'confirm'; // the last planned ledger may have grown since the open
  return first.ledgerId > next.ledgerId
    ? {
        lost: `ledger ${next.ledgerId} was skipped: the next message read is in ledger ${first.ledgerId}`,
      }
    : undefined;
}

/**
 * Confirms a ledger change outside the planned history: the ledger left was read to its
 * last entry and no ledger with entries lies between. With the broker's message index on
 * both messages (AppendIndexMetadataInterceptor), consecutive indexes settle it without a
 * call. Otherwise one admin call: when the ledger left is gone already, whether it held
 * more cannot be told; that counts as a loss (as a resume token into a deleted ledger
 * does), since a silent gap is the worse mistake. An admin call that fails confirms
 * nothing and ends nothing.
 */
export async function confirmLedgerChange(
  admin: LedgerEntries | undefined,
  topic: string,
  previous: Taken,
  message: Message,
): Promise<string | undefined> {
  const next = message.messageId;
  const first = next.firstChunk ?? next;
  // A chunked message's index is its last chunk's: its first chunk's is unknown.
  if (
    previous.brokerIndex !== undefined &&
    message.brokerIndex !== undefined &&
    next.firstChunk === undefined &&
    message.brokerIndex === previous.brokerIndex + 1
  ) {
    return undefined;
  }
  const ledgers = await admin?.ledgerEntries(topic).catch(() => undefined);
  if (!ledgers) return undefined;
  const left = ledgers.find((l) => l.ledgerId === previous.ledgerId);
  if (!left) {
    const missing =
      previous.brokerIndex !== undefined && message.brokerIndex !== undefined
        ? ` (by the broker's message index, ${message.brokerIndex - previous.brokerIndex - 1} messages or markers are missing)`
        : ', if any,';
    return `ledger ${previous.ledgerId} was deleted after entry ${previous.entryId} was read: its entries after it${missing} are lost`;
  }
  if (previous.entryId < left.entries - 1) {
    return `ledger ${left.ledgerId} ended at entry ${previous.entryId}, not ${left.entries - 1}`;
  }
  const skipped = ledgers.find(
    (l) => l.ledgerId > previous.ledgerId && l.ledgerId < first.ledgerId && l.entries > 0,
  );
  return skipped
    ? `ledger ${skipped.ledgerId} was skipped: the next message read is in ledger ${first.ledgerId}`
    : undefined;
}

/**
 * For a history that has waited with nothing arriving: the planned segment it waits for
 * (the first with entries after `previous`), when its ledger no longer exists. The broker
 * moved the reader past it, to where nothing is left: without this check the stream
 * would wait for it for ever.
 */
export async function stalled(
  admin: LedgerEntries,
  topic: string,
  plan: PlannedHistory,
  previous: Taken | undefined,
): Promise<string | undefined> {
  const waited = plan.segments.find(
    (s) =>
      previous === undefined ||
      s.ledgerId > previous.ledgerId ||
      (s.ledgerId === previous.ledgerId && s.lastEntry > previous.entryId),
  );
  if (!waited) return undefined;
  const ledgers = await admin.ledgerEntries(topic).catch(() => undefined);
  if (!ledgers || ledgers.some((l) => l.ledgerId === waited.ledgerId)) return undefined;
  return `ledger ${waited.ledgerId} was deleted before it was read${previous ? ` (the last entry read is ${previous.ledgerId}:${previous.entryId})` : ''}`;
}

/** The entry of a message, as the checks remember it. */
export function taken(message: Message): Taken {
  const { ledgerId, entryId } = message.messageId;
  return { ledgerId, entryId, brokerIndex: message.brokerIndex };
}

/** What the checks keep and read of a partition being read (plan.ts `Partition`). */
export interface Watched {
  topic: string;
  segments: Segment[];
  position: Position;
  last: Taken | undefined;
  loss: { at: Message; reason: string } | undefined;
  /** Received messages; those from `next` on are not yet in a batch. */
  pending: Message[];
  next: number;
  inflight: Promise<void> | undefined;
  waitingSince: number;
  checkedAt: number;
}

/**
 * A partition's history that waits this long with nothing arriving is checked for deleted
 * ledgers, and again as often while it waits, ms: an admin call each time.
 */
const stallCheckMs = 2_000;

const planOf = (p: Watched): PlannedHistory => ({
  segments: p.segments,
  fromPublishTime: p.position.kind === 'publishTime',
});

/**
 * Checks received `messages` for a gap before each; records the first gap in `p.loss`.
 * Returns how many of them to keep: up to and including the one after the gap.
 */
export async function checkReceived(
  admin: LedgerEntries | undefined,
  p: Watched,
  messages: Message[],
): Promise<number> {
  const plan = planOf(p);
  // Within a ledger nothing can be missing between two messages (lostBefore's first rule):
  // the newest message of a run in one ledger becomes `p.last` once, not each of them.
  let newest: Message | undefined;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as Message;
    const previousLedger = newest ? newest.messageId.ledgerId : p.last?.ledgerId;
    if ((message.messageId.firstChunk ?? message.messageId).ledgerId === previousLedger) {
      newest = message;
      continue;
    }
    if (newest) p.last = taken(newest);
    newest = undefined;
    const previous = p.last;
    p.last = taken(message);
    const verdict = lostBefore(plan, previous, message);
    const reason =
      verdict === 'confirm'
        ? previous && (await confirmLedgerChange(admin, p.topic, previous, message))
        : verdict?.lost;
    if (reason) {
      p.loss = { at: message, reason };
      return i + 1;
    }
  }
  if (newest) p.last = taken(newest);
  return messages.length;
}

/**
 * DATA_LOSS for the first of `partitions` whose history waited `stallCheckMs` with nothing
 * arriving because the ledger it waits for was deleted (the broker moved its reader past
 * the end).
 */
export async function stalledLoss(
  admin: LedgerEntries | undefined,
  partitions: Watched[],
): Promise<SeamError | undefined> {
  if (!admin) return undefined;
  const now = Date.now();
  for (const p of partitions) {
    if (p.loss || p.inflight === undefined || p.next < p.pending.length) continue;
    if (now - Math.max(p.waitingSince, p.checkedAt) < stallCheckMs) continue;
    p.checkedAt = now;
    const reason = await stalled(admin, p.topic, planOf(p), p.last);
    if (reason) return dataLoss(p.topic, reason);
  }
  return undefined;
}

/** The error a gap in a partition ends the stream with, after the rows before it. */
export function dataLoss(topic: string, reason: string): SeamError {
  return new SeamError(
    'DATA_LOSS',
    `${topic}: messages were deleted (by retention, truncation or offload deletion) before they could be read: ${reason}. The rows sent are complete up to the resume token; start from earliest or a publish time to read what remains.`,
  );
}
