/** CRC32C (Castagnoli), as Pulsar computes it over each message frame's metadata and payload. */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `data`, as an unsigned 32-bit integer. */
export function crc32c(data: Buffer): number {
  return nativeCrc32c(data) >>> 0;
}
