/**
 * Entries (the bytes after a MESSAGE command) built field by field, so tests and fuzz
 * targets can make every count and size say what they like: a MessageMetadata from
 * `fields`, then the payload, optionally behind a CRC32C checksum and broker entry metadata.
 */
import { crc32c } from '../../server/pulsar/protocol/checksum.ts';
import { ProtoWriter } from '../../server/pulsar/protocol/wire.ts';

/** MessageMetadata fields by number (PulsarApi.proto), as signed 64-bit varints. */
export type MetadataFields = Partial<Record<number, number | bigint>>;

/** Field numbers of MessageMetadata that carry counts and sizes. */
export const MetadataField = {
  compression: 8,
  uncompressedSize: 9,
  numMessagesInBatch: 11,
  numChunksFromMsg: 27,
  totalChunkMsgSize: 28,
  chunkId: 29,
} as const;

/** An entry with a MessageMetadata of `fields` (producer, sequence id, publish time set). */
export function entry(
  fields: MetadataFields,
  payload: Buffer,
  options: { checksum?: boolean; brokerIndex?: bigint } = {},
): Buffer {
  const w = new ProtoWriter().string(1, 'producer').uint(2, 0).uint(3, 1_767_000_000_000);
  for (const [field, value] of Object.entries(fields)) {
    if (value !== undefined) w.bigint(Number(field), BigInt(value));
  }
  if (fields[MetadataField.chunkId] !== undefined) w.string(26, 'uuid');
  const metadata = w.finish();
  const covered = Buffer.alloc(4 + metadata.length + payload.length);
  covered.writeUInt32BE(metadata.length, 0);
  covered.set(metadata, 4);
  covered.set(payload, 4 + metadata.length);
  const parts: Buffer[] = [];
  if (options.brokerIndex !== undefined) {
    const broker = new ProtoWriter().uint(1, 1).bigint(2, options.brokerIndex).finish();
    const head = Buffer.alloc(6);
    head.writeUInt16BE(0x0e02, 0);
    head.writeUInt32BE(broker.length, 2);
    parts.push(head, Buffer.from(broker));
  }
  if (options.checksum) {
    const head = Buffer.alloc(6);
    head.writeUInt16BE(0x0e01, 0);
    head.writeUInt32BE(crc32c(covered), 2);
    parts.push(head);
  }
  parts.push(covered);
  return Buffer.concat(parts);
}

/**
 * A batch payload of `count` messages `[u32 size][SingleMessageMetadata][value]`, each
 * metadata from `single` (field number → varint) with `payload_size` set to the value's.
 */
export function batch(
  values: Buffer[],
  single: (index: number) => MetadataFields = () => ({}),
): Buffer {
  const parts: Buffer[] = [];
  values.forEach((value, i) => {
    const w = new ProtoWriter();
    const fields = { 3: value.length, ...single(i) };
    for (const [field, v] of Object.entries(fields)) {
      if (v !== undefined) w.bigint(Number(field), BigInt(v));
    }
    const metadata = w.finish();
    const size = Buffer.alloc(4);
    size.writeUInt32BE(metadata.length);
    parts.push(size, Buffer.from(metadata), value);
  });
  return Buffer.concat(parts);
}
