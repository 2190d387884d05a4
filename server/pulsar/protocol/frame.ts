/**
 * Pulsar's framing. Every frame is `[totalSize u32][commandSize u32][BaseCommand]`; a
 * MESSAGE frame goes on with the entry it carries:
 *
 *   [0x0e02 u16][size u32][BrokerEntryMetadata]        only when the broker adds it
 *   [0x0e01 u16][crc32c u32]                           checksum of everything after it
 *   [metadataSize u32][MessageMetadata][payload]
 *
 * All integers big-endian. The payload is one message, or a batch of them, possibly
 * compressed as a whole.
 */
import { crc32c } from './checksum.ts';

const checksumMagic = 0x0e01;
const brokerEntryMetadataMagic = 0x0e02;

/** Largest frame accepted by default: Pulsar's 5 MiB max message size plus headroom. */
export const defaultMaxFrameSize = 5 * 1024 * 1024 + 10 * 1024; // 5 MiB + 10 KiB

/** Bytes that cannot be a Pulsar frame: the connection carrying them cannot be trusted. */
export class FrameError extends Error {
  override name = 'FrameError';
}

/** A frame split into its command and, for MESSAGE frames, the entry that follows. */
export interface Frame {
  /** The serialized BaseCommand. */
  command: Buffer;
  /** Everything after the command (empty for simple commands). */
  rest: Buffer;
}

/** An entry's parts, from the bytes after a MESSAGE command. Views, not copies. */
export interface EntryParts {
  /** Serialized BrokerEntryMetadata, if the broker added it. */
  brokerEntryMetadata: Buffer | undefined;
  /** Serialized MessageMetadata. */
  metadata: Buffer;
  /** The payload as sent by the producer (still compressed, if it was). */
  payload: Buffer;
}

/** Encodes a simple command frame from a serialized BaseCommand. */
export function encodeFrame(command: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(8 + command.length);
  frame.writeUInt32BE(4 + command.length, 0);
  frame.writeUInt32BE(command.length, 4);
  frame.set(command, 8);
  return frame;
}

/**
 * Splits the bytes after a MESSAGE command into broker entry metadata, message metadata and
 * payload, verifying the CRC32C checksum when the producer sent one.
 */
export function splitEntry(rest: Buffer): EntryParts {
  let pos = 0;
  let brokerEntryMetadata: Buffer | undefined;
  if (rest.length >= 6 && rest.readUInt16BE(0) === brokerEntryMetadataMagic) {
    const size = rest.readUInt32BE(2);
    pos = 6 + size;
    if (pos > rest.length)
      throw new FrameError(`broker entry metadata of ${size} bytes overruns its frame`);
    brokerEntryMetadata = rest.subarray(6, pos);
  }
  if (rest.length >= pos + 6 && rest.readUInt16BE(pos) === checksumMagic) {
    const expected = rest.readUInt32BE(pos + 2);
    pos += 6;
    const actual = crc32c(rest.subarray(pos));
    if (actual !== expected) {
      throw new FrameError(
        `checksum mismatch: frame says ${hex(expected)}, content has ${hex(actual)} (corrupted in transit)`,
      );
    }
  }
  if (rest.length < pos + 4) throw new FrameError('message frame ends before its metadata size');
  const metadataSize = rest.readUInt32BE(pos);
  const metadataEnd = pos + 4 + metadataSize;
  if (metadataEnd > rest.length) {
    throw new FrameError(`message metadata of ${metadataSize} bytes overruns its frame`);
  }
  return {
    brokerEntryMetadata,
    metadata: rest.subarray(pos + 4, metadataEnd),
    payload: rest.subarray(metadataEnd),
  };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * Frames of at least this many bytes whose start has arrived are read into a buffer of their
 * own (`readBuffer`): an entry of a batch of 1000 small messages (~115 KB) or a 100 KB
 * message spans two or more socket reads, and was copied out of them whole.
 */
export const ownBufferFrameBytes = 16 * 1024;
/** Bytes a socket read may take when no frame is read into its own buffer (Node's default). */
const readChunkBytes = 64 * 1024;
/**
 * A read of fewer bytes is copied out of the read buffer (which the next read reuses), so a
 * small read does not keep 64 KiB alive through the frames that are views of it.
 */
const keepReadBytes = readChunkBytes / 4;

/**
 * Cuts a byte stream into frames. Chunks are kept as they arrive; a frame inside one chunk
 * is a view of it, and only frames that straddle chunks are copied.
 *
 * Fed by `push` (chunks from 'data' events), or by `readBuffer` and `pushRead` (a socket's
 * `onread`: the decoder chooses where each read lands). Then a large frame whose start has
 * arrived is read straight into a buffer of its size, so its bytes land where they stay,
 * with no copy after the socket's.
 */
export class FrameDecoder {
  private readonly maxFrameSize: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** The frame being read into its own buffer, and how much of it has arrived. */
  private frame: Buffer | undefined;
  private frameFilled = 0;
  /** The buffer `readBuffer` handed out for the next read, and one to reuse. */
  private target: Buffer | undefined;
  private spare: Buffer | undefined;
  /** The last frame was read into its own buffer: read the next one's size alone. */
  private afterLargeFrame = false;
  private readonly sizeBuffer = Buffer.allocUnsafe(4);

  constructor(maxFrameSize = defaultMaxFrameSize) {
    this.maxFrameSize = maxFrameSize;
  }

  /**
   * Where the next socket read should land: the rest of a large frame whose start has
   * arrived (see `ownBufferFrameBytes`), else a read buffer. Then `pushRead`.
   */
  readBuffer(): Buffer {
    if (!this.frame && this.buffered >= 4) {
      const totalSize = this.peekUInt32();
      // `push` checked the size of the frame under way (it throws on a bad one).
      const size = 4 + totalSize;
      if (size >= ownBufferFrameBytes && totalSize <= this.maxFrameSize && this.buffered < size) {
        const frame = Buffer.allocUnsafe(size);
        let filled = 0;
        for (const chunk of this.chunks) {
          chunk.copy(frame, filled);
          filled += chunk.length;
        }
        this.chunks = [];
        this.buffered = 0;
        this.frame = frame;
        this.frameFilled = filled;
      }
    }
    if (this.frame) this.target = this.frame.subarray(this.frameFilled);
    else if (this.afterLargeFrame && this.buffered === 0) {
      // Large frames come in runs (a backlog of batches, of large messages): the next
      // frame's size is read alone, then the frame straight into its own buffer. Read with
      // the end of the frame before, its start would be copied.
      this.target = this.sizeBuffer;
    } else {
      this.target = this.spare ?? Buffer.allocUnsafe(readChunkBytes);
      this.spare = undefined;
    }
    return this.target;
  }

  /** `n` bytes were read into the buffer `readBuffer` returned last; the frames now complete. */
  pushRead(n: number): Frame[] {
    const target = this.target;
    this.target = undefined;
    if (!target || n > target.length) throw new FrameError(`read of ${n} bytes into no buffer`);
    const frame = this.frame;
    if (frame) {
      this.frameFilled += n;
      if (this.frameFilled < frame.length) return [];
      this.frame = undefined;
      this.afterLargeFrame = true;
      return [parseFrame(frame)];
    }
    if (target === this.sizeBuffer) return this.push(Buffer.from(target.subarray(0, n)));
    let frames: Frame[];
    if (n >= keepReadBytes) frames = this.push(target.subarray(0, n));
    else {
      // Copied: the read buffer serves the next read.
      this.spare = target;
      frames = this.push(Buffer.from(target.subarray(0, n)));
    }
    if (frames.length > 0) this.afterLargeFrame = false;
    return frames;
  }

  /** Adds bytes from the socket; returns the frames now complete, in order. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    while (this.buffered >= 4) {
      const totalSize = this.peekUInt32();
      if (totalSize > this.maxFrameSize || totalSize < 4) {
        throw new FrameError(
          `frame of ${totalSize} bytes is outside 4..${this.maxFrameSize}: not a Pulsar frame, or corrupt`,
        );
      }
      if (this.buffered < 4 + totalSize) break;
      frames.push(parseFrame(this.take(4 + totalSize)));
    }
    return frames;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.buffered + (this.frame ? this.frameFilled : 0);
  }

  private peekUInt32(): number {
    const first = this.chunks[0] as Buffer;
    if (first.length >= 4) return first.readUInt32BE(0);
    return this.take(4, true).readUInt32BE(0);
  }

  /** The next `n` bytes, removed from the queue unless `peek`. */
  private take(n: number, peek = false): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) {
      if (peek) return first;
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let index = 0;
    while (filled < n) {
      const chunk = this.chunks[index] as Buffer;
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (peek) {
        index++;
        continue;
      }
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    if (!peek) this.buffered -= n;
    return out;
  }
}

function parseFrame(frame: Buffer): Frame {
  const commandSize = frame.readUInt32BE(4);
  if (8 + commandSize > frame.length) {
    throw new FrameError(
      `command of ${commandSize} bytes overruns its ${frame.length - 4}-byte frame`,
    );
  }
  return { command: frame.subarray(8, 8 + commandSize), rest: frame.subarray(8 + commandSize) };
}
