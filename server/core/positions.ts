/**
 * Positions in a partition: where a start or a resume token puts a reader, where history
 * begins and ends (the boundary), and which segment a message belongs to. Pure functions.
 */

import type { Message } from '../pulsar/message.ts';
import { compareMessageIds, MessageId } from '../pulsar/message-id.ts';
import type { Segment } from '../pulsar/segments.ts';
import type { Position } from './resume-token.ts';

/** The entry just before a start at or after a message: where reading continues from. */
export function entryBefore(position: Position): { ledgerId: number; entryId: number } | undefined {
  if (position.kind === 'after') return position.id;
  if (position.kind !== 'at') return undefined;
  const id = position.id.firstChunk ?? position.id;
  return { ledgerId: id.ledgerId, entryId: id.entryId - 1 };
}

/** The entry a partition's history starts at (`markDelete`: the cursor's after a seek by time). */
export function firstEntry(
  position: Position,
  markDelete: MessageId | undefined,
): { ledgerId: number; entryId: number } {
  switch (position.kind) {
    case 'after':
    case 'at': {
      const id = position.id.firstChunk ?? position.id;
      return { ledgerId: id.ledgerId, entryId: id.entryId };
    }
    case 'publishTime':
      if (markDelete) return { ledgerId: markDelete.ledgerId, entryId: markDelete.entryId + 1 };
      return { ledgerId: -1, entryId: 0 };
    case 'earliest':
      return { ledgerId: -1, entryId: 0 };
  }
}

/** Reader options that start at `position`. */
export function readerStart<T extends { topic: string }>(options: T, position: Position) {
  switch (position.kind) {
    case 'earliest':
      return { ...options, start: MessageId.earliest };
    case 'after':
      return { ...options, start: position.id, startInclusive: false };
    case 'at':
      return { ...options, start: position.id, startInclusive: true };
    case 'publishTime':
      return { ...options, startPublishTime: position.ms };
  }
}

/** Whether `id` comes after `boundary`. A boundary without batch index covers its whole entry. */
export function isAfter(id: MessageId, boundary: MessageId): boolean {
  if (id.ledgerId !== boundary.ledgerId || id.entryId !== boundary.entryId)
    return compareMessageIds(id, boundary) > 0;
  return boundary.batchIndex >= 0 && id.batchIndex > boundary.batchIndex;
}

/** Whether `id` is the boundary message itself (the last of history). */
export function isBoundary(id: MessageId, boundary: MessageId): boolean {
  if (id.ledgerId !== boundary.ledgerId || id.entryId !== boundary.entryId) return false;
  if (boundary.batchIndex >= 0) return id.batchIndex === boundary.batchIndex;
  return id.batchIndex < 0 || id.batchIndex === id.batchSize - 1;
}

/** Whether a partition starting at `position` has no history before `boundary`. */
export function startsAfter(
  position: Position,
  boundary: MessageId,
  markDelete: MessageId | undefined,
): boolean {
  switch (position.kind) {
    case 'earliest':
      return false;
    case 'after': {
      const id = position.id;
      if (id.ledgerId !== boundary.ledgerId || id.entryId !== boundary.entryId)
        return compareMessageIds(id, boundary) > 0;
      // In the boundary's entry: after the whole entry, at or past the boundary's batch
      // index, or (a boundary that is the whole entry) after the batch's last message.
      if (id.batchIndex < 0) return true;
      return boundary.batchIndex >= 0
        ? id.batchIndex >= boundary.batchIndex
        : isBoundary(id, boundary);
    }
    case 'at':
      return isAfter(position.id, boundary);
    case 'publishTime':
      // After a seek by time, the cursor's mark-delete position is just before the first
      // message at or after the time: at or past the boundary entry, history is empty.
      return markDelete !== undefined && compareMessageIds(markDelete.entry, boundary.entry) >= 0;
  }
}

/** Whether `id` comes after the segment's last entry. (A reader never goes back.) */
export function isPast(id: MessageId, segment: Segment): boolean {
  return (
    id.ledgerId > segment.ledgerId ||
    (id.ledgerId === segment.ledgerId && id.entryId > segment.lastEntry)
  );
}

/**
 * Whether a message the reader returned belongs to the segment: it does not start past it.
 * (A chunked message belongs where its first chunk is, even when it ends further on.)
 */
export function startsIn(message: Message, segment: Segment): boolean {
  return !isPast(message.messageId.firstChunk ?? message.messageId, segment);
}

/** Whether `id` is in the segment's last entry. */
export function isLast(id: MessageId, segment: Segment): boolean {
  return id.ledgerId === segment.ledgerId && id.entryId === segment.lastEntry;
}
