/**
 * Pulsar's payload codecs. The producer compresses a whole entry's payload (one message,
 * or a batch of them); MessageMetadata names the codec and the uncompressed size.
 */

import { inflateSync, zstdDecompressSync } from 'node:zlib';
import { uncompressSync as lz4Uncompress } from 'lz4-napi';
import { uncompressSync as snappyUncompress } from 'snappy';

/** `CompressionType` of PulsarApi.proto. */
export const CompressionType = {
  NONE: 0,
  LZ4: 1,
  ZLIB: 2,
  ZSTD: 3,
  SNAPPY: 4,
} as const;

const names = ['NONE', 'LZ4', 'ZLIB', 'ZSTD', 'SNAPPY'];

/**
 * Largest uncompressed entry accepted (256 MiB): a bound on what a corrupt or hostile size
 * field can make Seam allocate. Far above Pulsar's 5 MiB default message size, and above
 * the chunked messages seen in practice.
 */
export const maxUncompressedBytes = 256 * 1024 * 1024;

/**
 * Most output bytes per input byte of the codecs that allocate the declared size up front:
 * an LZ4 block's lengths grow by 255 per extra byte (measured: 255.0 on 16 MB of zeros), a
 * Snappy copy gives at most 64 bytes for 3 (measured: 21.3).
 */
const maxExpansion: Partial<Record<number, number>> = {
  [CompressionType.LZ4]: 256,
  [CompressionType.SNAPPY]: 24,
};

/** A payload that does not decompress to the size its metadata declares. */
export class DecompressionError extends Error {
  override name = 'DecompressionError';
}

/** Decompresses an entry payload; returns `data` itself when it is not compressed. */
export function decompress(type: number, data: Buffer, uncompressedSize: number): Buffer {
  if (type === CompressionType.NONE) return data;
  if (uncompressedSize > maxUncompressedBytes) {
    throw new DecompressionError(
      `metadata declares ${uncompressedSize} uncompressed bytes, over Seam's limit of ${maxUncompressedBytes}`,
    );
  }
  // LZ4 and Snappy allocate the declared size before decoding: it must be one the codec
  // can reach from these bytes (an LZ4 entry of 1,000 bytes declaring 256 MiB took 860 ms).
  const maxRatio = maxExpansion[type];
  if (maxRatio !== undefined && uncompressedSize > maxRatio * data.length + 64) {
    throw new DecompressionError(
      `metadata declares ${uncompressedSize} uncompressed bytes, more than ${names[type]} can expand ${data.length} bytes to`,
    );
  }
  // Decoders never produce more than the declared size (+1 to notice a longer payload).
  const maxOutputLength = uncompressedSize + 1;
  let out: Buffer;
  try {
    switch (type) {
      case CompressionType.LZ4: {
        // Pulsar writes a raw LZ4 block (its size is in the metadata); lz4-napi reads a
        // block prefixed with its size as u32 little-endian.
        const prefixed = Buffer.allocUnsafe(data.length + 4);
        prefixed.writeUInt32LE(uncompressedSize, 0);
        prefixed.set(data, 4);
        out = lz4Uncompress(prefixed);
        break;
      }
      case CompressionType.ZLIB:
        out = inflateSync(data, { maxOutputLength });
        break;
      case CompressionType.ZSTD:
        out = zstdDecompressSync(data, { maxOutputLength });
        break;
      case CompressionType.SNAPPY:
        // Snappy allocates what its header declares: check that before it does.
        if (snappyDeclaredLength(data) !== uncompressedSize)
          throw new DecompressionError(
            `SNAPPY header declares ${snappyDeclaredLength(data)} bytes, metadata says ${uncompressedSize}`,
          );
        out = snappyUncompress(data) as Buffer;
        break;
      default:
        throw new DecompressionError(`unknown compression type ${type}`);
    }
  } catch (error) {
    if (error instanceof DecompressionError) throw error;
    throw new DecompressionError(`corrupt ${names[type]} payload: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (out.length !== uncompressedSize) {
    throw new DecompressionError(
      `${names[type]} payload decompressed to ${out.length} bytes, metadata says ${uncompressedSize}`,
    );
  }
  return out;
}

/** The uncompressed length a Snappy block starts with (a varint), or -1 if it has none. */
function snappyDeclaredLength(data: Buffer): number {
  let value = 0;
  for (let i = 0; i < Math.min(data.length, 5); i++) {
    const byte = data[i] as number;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return value;
  }
  return -1;
}
