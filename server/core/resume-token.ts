/**
 * Resume tokens: where every partition of a stream continues. Opaque bytes to clients:
 * `S1` + CRC32C (u32 BE) + a seam.v1.ResumeToken message, so a damaged or foreign token is
 * refused instead of read as some other position.
 */
import { apiType } from '../api.ts';
import { MessageId } from '../pulsar/message-id.ts';
import { crc32c } from '../pulsar/protocol/checksum.ts';
import { SeamError } from './errors.ts';

/** Where one partition continues. */
export type Position =
  | { kind: 'earliest' }
  | { kind: 'after'; id: MessageId }
  | { kind: 'at'; id: MessageId }
  | { kind: 'publishTime'; ms: number };

const ResumeToken = apiType('ResumeToken');
const magic = Buffer.from('S1');
const tokenVersion = 1;

/** The position fields of a seam.v1.PartitionPosition, as protobufjs reads and writes them. */
export interface PositionFields {
  after_message_id?: Uint8Array;
  at_message_id?: Uint8Array;
  from_earliest?: boolean;
  from_publish_time_ms?: number;
}

interface TokenMessage {
  version: number;
  topic: string;
  positions: ({ partition: number } & PositionFields)[];
}

/** Encodes the positions of every partition of `topic`. */
export function encodeResumeToken(topic: string, positions: Map<number, Position>): Buffer {
  const message: TokenMessage = {
    version: tokenVersion,
    topic,
    positions: [...positions].map(([partition, p]) => ({ partition, ...positionFields(p) })),
  };
  const body = Buffer.from(ResumeToken.encode(ResumeToken.fromObject(message)).finish());
  const head = Buffer.alloc(6);
  magic.copy(head, 0);
  head.writeUInt32BE(crc32c(body), 2);
  return Buffer.concat([head, body]);
}

/** The seam.v1.PartitionPosition fields of a position (without its partition). */
export function positionFields(p: Position): PositionFields {
  switch (p.kind) {
    case 'earliest':
      return { from_earliest: true };
    case 'after':
      return { after_message_id: p.id.serialize() };
    case 'at':
      return { at_message_id: p.id.serialize() };
    case 'publishTime':
      return { from_publish_time_ms: p.ms };
  }
}

/** Decodes a token for `topic`; INVALID_ARGUMENT when it is damaged or from another topic. */
export function decodeResumeToken(topic: string, token: Uint8Array): Map<number, Position> {
  const bytes = Buffer.from(token);
  if (
    bytes.length < 6 ||
    !bytes.subarray(0, 2).equals(magic) ||
    crc32c(bytes.subarray(6)) !== bytes.readUInt32BE(2)
  ) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      'resume_token is not a Seam resume token (damaged or truncated)',
    );
  }
  let message: TokenMessage;
  try {
    message = ResumeToken.toObject(ResumeToken.decode(bytes.subarray(6)), {
      longs: Number,
    }) as TokenMessage;
  } catch (error) {
    throw new SeamError('INVALID_ARGUMENT', 'resume_token does not decode', { cause: error });
  }
  if (message.version !== tokenVersion) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `resume_token has version ${message.version}; this gateway reads ${tokenVersion}`,
    );
  }
  if (message.topic !== topic) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `resume_token belongs to ${message.topic}, not ${topic}: resume a stream on the topic it came from`,
    );
  }
  const positions = new Map<number, Position>();
  for (const p of message.positions ?? []) positions.set(p.partition ?? 0, positionOf(p));
  return positions;
}

/** The position a seam.v1.PartitionPosition names; none set = earliest. */
export function positionOf(p: PositionFields): Position {
  if (p.after_message_id) return { kind: 'after', id: MessageId.deserialize(p.after_message_id) };
  if (p.at_message_id) return { kind: 'at', id: MessageId.deserialize(p.at_message_id) };
  if (p.from_publish_time_ms !== undefined)
    return { kind: 'publishTime', ms: p.from_publish_time_ms };
  return { kind: 'earliest' };
}
