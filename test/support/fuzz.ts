/**
 * Fuzzing Seam's Pulsar decoder: real byte streams that brokers sent Seam's connections
 * (entries written by the official producer), and mutations of them. Decoding must
 * either succeed or fail with one of the protocol's typed errors; anything else is a crash.
 * Shared by test/fuzz-*.test.ts (a bounded slice) and bench/fuzz.ts (a million cases).
 */
import fc from 'fast-check';
import { PulsarClient } from '../../server/pulsar/client.ts';
import { crc32c } from '../../server/pulsar/protocol/checksum.ts';
import { decodeCommand } from '../../server/pulsar/protocol/commands.ts';
import { DecompressionError } from '../../server/pulsar/protocol/compression.ts';
import { decodeEntry } from '../../server/pulsar/protocol/entry.ts';
import { FrameDecoder, FrameError } from '../../server/pulsar/protocol/frame.ts';
import { ProtoDecodeError } from '../../server/pulsar/protocol/wire.ts';
import { Reader } from '../../server/pulsar/reader.ts';
import { freshTopic, type ProduceOptions, produce, pulsar } from './pulsar.ts';

/** The errors a decoder may throw on bad bytes. */
export const typedErrors = [FrameError, ProtoDecodeError, DecompressionError] as const;

/** Which typed error, or undefined when `error` is none of them (a crash). */
export function typedName(error: unknown): string | undefined {
  return typedErrors.find((type) => error instanceof type)?.name;
}

/** What decoding a byte stream gave. */
export interface Decoded {
  frames: number;
  messages: number;
  /** Payload bytes of every message, in order (to compare decodings). */
  digest: string[];
}

/**
 * Decodes a stream as a connection does: frames (fed in `chunkSizes` pieces, cycled),
 * commands, and the entries of MESSAGE frames. Throws what the decoders throw.
 */
export function decodeStream(bytes: Buffer, chunkSizes: number[] = [bytes.length]): Decoded {
  const decoder = new FrameDecoder();
  const out: Decoded = { frames: 0, messages: 0, digest: [] };
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const size = Math.max(1, chunkSizes[i % chunkSizes.length] as number);
    for (const frame of decoder.push(bytes.subarray(pos, pos + size))) {
      out.frames++;
      const command = decodeCommand(frame.command);
      if (command.type !== 'MESSAGE') continue;
      const entry = decodeEntry(frame.rest);
      if (entry.kind === 'messages') {
        out.messages += entry.messages.length;
        for (const m of entry.messages) out.digest.push(m.payload.toString('base64'));
      } else if (entry.kind === 'chunk') {
        out.digest.push(`chunk:${entry.chunk.length}`);
      }
    }
    pos += size;
  }
  return out;
}

/** Entry layouts the corpus covers: codecs, batching, keys and properties, chunks. */
const corpusLayouts: [string, ProduceOptions][] = [
  ['batched-lz4', { count: 40, keys: 5, batchMaxMessages: 10, compression: 'LZ4', size: 30 }],
  ['batched-zstd', { count: 30, batchMaxMessages: 10, compression: 'ZSTD', size: 30 }],
  ['batched-zlib', { count: 30, batchMaxMessages: 10, compression: 'ZLIB', size: 30 }],
  ['batched-snappy', { count: 30, batchMaxMessages: 10, compression: 'SNAPPY', size: 30 }],
  ['unbatched', { count: 20, batching: false, keys: 3, size: 50 }],
];

/**
 * Real broker → Seam byte streams, one per layout: each layout is produced by the official
 * client and read by Seam's reader while the bytes its connection receives are recorded.
 */
export async function captureCorpus(): Promise<Buffer[]> {
  const streams: Buffer[] = [];
  const push = FrameDecoder.prototype.push;
  for (const [label, options] of corpusLayouts) {
    const topic = freshTopic(`fuzz-${label}`);
    await produce(topic, options);
    const chunks: Buffer[] = [];
    // A tap on what the connection's decoder is fed: exactly the bytes from the broker.
    FrameDecoder.prototype.push = function tapped(this: FrameDecoder, chunk: Buffer) {
      chunks.push(Buffer.from(chunk));
      return push.call(this, chunk);
    };
    const client = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
    try {
      const reader = await Reader.open(client, { topic });
      let received = 0;
      while (received < (options.count ?? 0)) received += (await reader.receive()).length;
      await reader.close();
    } finally {
      FrameDecoder.prototype.push = push;
      await client.close();
    }
    streams.push(Buffer.concat(chunks));
  }
  return streams;
}

/** Extreme values for u32 length fields. */
const extremeU32 = fc.constantFrom(0, 1, 3, 4, 5, 0x7fffffff, 0x80000000, 0xffffffff);

/** A mutation of a stream: truncation, bit flips, length fields, insertions, deletions. */
export function mutation(): fc.Arbitrary<(bytes: Buffer) => Buffer> {
  return fc.oneof(
    fc
      .double({ min: 0, max: 1, noNaN: true })
      .map((at) => (b: Buffer) => b.subarray(0, Math.floor(at * b.length))),
    fc
      .array(
        fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 255 })),
        {
          minLength: 1,
          maxLength: 8,
        },
      )
      .map((flips) => (b: Buffer) => {
        const out = Buffer.from(b);
        for (const [at, mask] of flips) {
          const i = Math.min(out.length - 1, Math.floor(at * out.length));
          out[i] = (out[i] as number) ^ mask;
        }
        return out;
      }),
    fc
      .tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.oneof(extremeU32, fc.nat()))
      .map(([at, value]) => (b: Buffer) => {
        const out = Buffer.from(b);
        if (out.length >= 4) out.writeUInt32BE(value >>> 0, Math.floor(at * (out.length - 3)));
        return out;
      }),
    fc
      .tuple(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
      )
      .map(([at, inserted]) => (b: Buffer) => {
        const i = Math.floor(at * b.length);
        return Buffer.concat([b.subarray(0, i), inserted, b.subarray(i)]);
      }),
    fc
      .tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 64 }))
      .map(([at, n]) => (b: Buffer) => {
        const i = Math.floor(at * b.length);
        return Buffer.concat([b.subarray(0, i), b.subarray(i + n)]);
      }),
  );
}

/** How a stream is cut into socket reads. */
export const chunking = fc.array(fc.integer({ min: 1, max: 2048 }), { minLength: 1, maxLength: 8 });

/**
 * Rewrites every checksummed MESSAGE entry of a stream with `mutate` applied to the part the
 * checksum covers (metadata and payload), then a correct checksum and frame size: damage
 * that gets past the checksum, into metadata decoding, decompression and batch splitting.
 */
export function mutateUnderChecksums(stream: Buffer, mutate: (covered: Buffer) => Buffer): Buffer {
  const out: Buffer[] = [];
  for (const frame of new FrameDecoder().push(stream)) {
    const rest = frame.rest;
    let pos = rest.length >= 6 && rest.readUInt16BE(0) === 0x0e02 ? 6 + rest.readUInt32BE(2) : 0;
    const checksummed =
      decodeCommand(frame.command).type === 'MESSAGE' &&
      rest.length >= pos + 6 &&
      rest.readUInt16BE(pos) === 0x0e01;
    let body = rest;
    if (checksummed) {
      const covered = mutate(rest.subarray(pos + 6));
      const header = Buffer.from(rest.subarray(0, pos + 6));
      header.writeUInt32BE(crc32c(covered), pos + 2);
      body = Buffer.concat([header, covered]);
      pos = 0;
    }
    const sizes = Buffer.alloc(8);
    sizes.writeUInt32BE(4 + frame.command.length + body.length, 0);
    sizes.writeUInt32BE(frame.command.length, 4);
    out.push(sizes, frame.command, body);
  }
  return Buffer.concat(out);
}
