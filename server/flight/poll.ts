/**
 * PollFlightInfo's descriptors and answers. A poll's FlightInfo is complete for the range its
 * descriptor names ("from these positions to now"); `PollInfo.flight_descriptor` is the same
 * request continuing right after it, in the form the client sent: a JSON command gets a JSON
 * command back, a serialized one a serialized one, and a PATH a JSON command (readable, and
 * what a person who typed a topic name can read back). Once every partition has passed the
 * read's end, the PollInfo has no descriptor: the read is complete.
 */
import {
  fromBinary,
  fromJson,
  fromJsonString,
  type JsonObject,
  type JsonValue,
  toBinary,
  toJson,
  toJsonString,
} from '@bufbuild/protobuf';
import type { FlightPoll } from '../core/flight-poll.ts';
import type { ReadRequest } from '../core/request.ts';
import type { Position } from '../core/resume-token.ts';
import type { TicketKeyRing } from '../core/ticket.ts';
import type {
  FlightDescriptor,
  FlightDescriptor__Output,
} from '../grpc/generated/arrow/flight/protocol/FlightDescriptor.ts';
import type { PollInfo } from '../grpc/generated/arrow/flight/protocol/PollInfo.ts';
import { toReadRequest } from '../grpc/request.ts';
import type { MessageId } from '../pulsar/message-id.ts';
import {
  descriptorRequest,
  isJsonCommand,
  type RequestDeserializer,
  requestDescriptor,
} from './descriptor.ts';
import { plannedFlight } from './info.ts';

/** The start and end fields of ReadStreamRequest, as proto3 JSON names them. */
const startKeys = [
  'earliest',
  'latest',
  'startPublishTime',
  'messageId',
  'resumeToken',
  'startPositions',
];
const endKeys = ['follow', 'atOpen', 'endPublishTime', 'endPositions'];

/**
 * The read a polled descriptor names: a PATH `[topic]` is the topic from earliest, growing
 * (`follow`: a poll's table never completes); a CMD is read as GetFlightInfo reads it.
 */
export function pollRequest(
  descriptor: FlightDescriptor__Output | null | undefined,
  deserialize: RequestDeserializer,
): ReadRequest {
  const request = descriptorRequest(descriptor, deserialize);
  if (descriptor?.type !== 'PATH') return request;
  return toReadRequest({ topic: request.topic, start: 'earliest', end: 'follow' });
}

/** A partition's position as seam.v1.PartitionPosition in proto3 JSON. */
export function positionJson(partition: number, position: Position): JsonObject {
  switch (position.kind) {
    case 'earliest':
      return { partition, fromEarliest: true };
    case 'after':
      return { partition, afterMessageId: position.id.serialize().toString('base64') };
    case 'at':
      return { partition, atMessageId: position.id.serialize().toString('base64') };
    case 'publishTime':
      return { partition, fromPublishTimeMs: String(position.ms) };
  }
}

/**
 * A ReadStreamRequest in proto3 JSON (an object) with its start replaced by `starts` and,
 * when given, its end by `ends` (empty bytes for an end that reads nothing). Pure.
 */
export function continuedRequest(
  request: JsonObject,
  starts: ReadonlyMap<number, Position>,
  ends: ReadonlyMap<number, MessageId> | undefined,
): JsonObject {
  const next: JsonObject = { ...request };
  for (const key of startKeys) delete next[key];
  next.startPositions = {
    positions: [...starts].map(([partition, position]) => positionJson(partition, position)),
  };
  if (ends) {
    for (const key of endKeys) delete next[key];
    next.endPositions = {
      ends: [...ends].map(([partition, id]) => ({
        partition,
        lastMessageId: id.isSentinel ? '' : id.serialize().toString('base64'),
      })),
    };
  }
  return next;
}

/** The descriptor that continues `descriptor` after a poll, in its form (PATH → JSON CMD). */
export function nextDescriptor(
  descriptor: FlightDescriptor__Output,
  starts: ReadonlyMap<number, Position>,
  ends: ReadonlyMap<number, MessageId> | undefined,
): FlightDescriptor {
  const schema = requestDescriptor();
  const cmd = descriptor.cmd ?? Buffer.alloc(0);
  let request: JsonValue;
  if (descriptor.type === 'PATH') request = { topic: descriptor.path?.[0] ?? '', follow: {} };
  else if (isJsonCommand(cmd))
    request = toJson(schema, fromJsonString(schema, cmd.toString('utf8')));
  else request = toJson(schema, fromBinary(schema, cmd));
  const continued = fromJson(schema, continuedRequest(asObject(request), starts, ends));
  const binary = descriptor.type === 'CMD' && !isJsonCommand(cmd);
  return {
    type: 'CMD',
    cmd: binary
      ? Buffer.from(toBinary(schema, continued))
      : Buffer.from(toJsonString(schema, continued)),
  };
}

function asObject(value: JsonValue): JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {};
}

/**
 * A poll's answer: the FlightInfo of its ranges (its descriptor the one polled), the
 * descriptor of the next poll unless the read is complete, and its progress (unset for a
 * read that follows the topic). No expiration: a position does not expire (retention
 * deleting what it points to is DATA_LOSS at the next poll or DoGet).
 */
export function pollInfo(
  descriptor: FlightDescriptor__Output,
  poll: FlightPoll,
  keys: TicketKeyRing | undefined,
): PollInfo {
  const info: PollInfo = { info: plannedFlight(descriptor, poll.plan, keys) };
  if (poll.next) info.flight_descriptor = nextDescriptor(descriptor, poll.next, poll.ends);
  if (poll.progress !== undefined) info.progress = poll.next ? poll.progress : 1;
  return info;
}
