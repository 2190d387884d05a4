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

/** A payload that does not decompress to the size its metadata declares. */
export class DecompressionError extends Error {
  override name = 'DecompressionError';
}

/** Decompresses an entry payload; returns `data` itself when it is not compressed. */
export function decompress(type: number, data: Buffer, uncompressedSize: number): Buffer {
  if (type === CompressionType.NONE) return data;
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
        out = inflateSync(data);
        break;
      case CompressionType.ZSTD:
        out = zstdDecompressSync(data);
        break;
      case CompressionType.SNAPPY:
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
