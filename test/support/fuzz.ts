/**
 * Fuzzing Seam's Pulsar decoder: real byte streams that brokers sent Seam's connections
 * (entries written by the official producer, committed in test/fixtures/), and mutations of
 * them. Decoding must either succeed or fail with one of the protocol's typed errors;
 * anything else is a crash. Shared by the fuzz tests (a bounded slice) and bench/fuzz.ts
 * (a million cases).
 */
import fc from 'fast-check';
import { apiType } from '../../server/api.ts';
import { InvalidMessageIdError } from '../../server/pulsar/message-id.ts';
import { crc32c } from '../../server/pulsar/protocol/checksum.ts';
import { decodeCommand } from '../../server/pulsar/protocol/commands.ts';
import { DecompressionError } from '../../server/pulsar/protocol/compression.ts';
import { decodeEntry } from '../../server/pulsar/protocol/entry.ts';
import { FrameDecoder, FrameError } from '../../server/pulsar/protocol/frame.ts';
import { ProtoDecodeError } from '../../server/pulsar/protocol/wire.ts';

/** The errors a decoder may throw on bad bytes. */
export const typedErrors = [
  FrameError,
  ProtoDecodeError,
  DecompressionError,
  InvalidMessageIdError,
] as const;

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
        out.messages += entry.messages.count;
        for (const m of entry.messages) out.digest.push(m.payload.toString('base64'));
      } else if (entry.kind === 'chunk') {
        out.digest.push(`chunk:${entry.chunk.length}`);
      }
    }
    pos += size;
  }
  return out;
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
        if (out.length >= 4)
          out.writeUInt32BE(
            value >>> 0,
            Math.min(out.length - 4, Math.floor(at * (out.length - 3))),
          );
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

// Requests.

const anyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 2 ** 53, Number.MAX_SAFE_INTEGER, -(2 ** 63)),
  fc.string({ maxLength: 8 }),
);
const timestamp = fc.record(
  { seconds: anyNumber, nanos: fc.oneof(fc.integer(), fc.constantFrom(-1, 1e9)) },
  { requiredKeys: [] },
);
const topicName = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ minLength: 1000, maxLength: 1100 }),
  fc.constantFrom(
    'persistent://',
    'persistent://a/b',
    'non-persistent://public/default/x',
    'a//b',
    ' ',
  ),
  fc.string({ maxLength: 20 }).map((s) => `persistent://public/default/${s}`),
);

/** Requests as the wire gives them to the service, with every field random. */
export const wireRequest = fc.record(
  {
    topic: topicName,
    start: fc.constantFrom(
      'earliest',
      'latest',
      'start_publish_time',
      'message_id',
      'resume_token',
    ),
    start_publish_time: timestamp,
    message_id: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    resume_token: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    end: fc.constantFrom('follow', 'at_open', 'end_publish_time'),
    end_publish_time: timestamp,
    columns: fc.array(fc.string({ maxLength: 1100 }), { maxLength: 3 }),
    batching: fc.record(
      {
        max_rows: anyNumber,
        max_bytes: anyNumber,
        max_latency: timestamp,
        heartbeat_interval: timestamp,
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['topic'] },
);

/** A token envelope (magic, correct CRC32C) around `body`: damage that passes the checksum. */
export function tokenEnvelope(body: Uint8Array): Buffer {
  const header = Buffer.from([0x53, 0x31, 0, 0, 0, 0]);
  header.writeUInt32BE(crc32c(Buffer.from(body)), 2);
  return Buffer.concat([header, body]);
}

const ResumeToken = apiType('ResumeToken');

/** Resume tokens for `topic`: random bytes, random bytes in a valid envelope, random fields. */
export function resumeToken(topic: string): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
    fc.uint8Array({ maxLength: 80 }).map(tokenEnvelope),
    fc
      .record({
        version: fc.oneof(fc.constant(1), fc.integer()),
        topic: fc.oneof(fc.constant(topic), fc.string()),
        positions: fc.array(
          fc.record({
            partition: fc.integer(),
            message_id: fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)),
          }),
          { maxLength: 4 },
        ),
      })
      .map((m) => tokenEnvelope(ResumeToken.encode(ResumeToken.fromObject(m)).finish())),
  );
}
