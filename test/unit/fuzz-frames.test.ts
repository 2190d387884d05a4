/**
 * Property-based tests of the Pulsar frame and entry decoder, on byte streams a real
 * broker sent Seam (entries the official producers wrote, committed in test/fixtures/),
 * then mutated: truncated, bits flipped, length fields set to extremes, bytes inserted and
 * deleted. The decoder returns messages or throws a typed error; never anything else.
 * SEAM_FUZZ_RUNS sets the cases per property (default 1500 here; bench/fuzz.ts runs a
 * million). No broker: the corpus is read from disk.
 */
import test from 'ava';
import fc from 'fast-check';
import { decodeCommand } from '../../server/pulsar/protocol/commands.ts';
import {
  CompressionType,
  DecompressionError,
  decompress,
  maxUncompressedBytes,
} from '../../server/pulsar/protocol/compression.ts';
import { decodeEntry } from '../../server/pulsar/protocol/entry.ts';
import { FrameDecoder, FrameError } from '../../server/pulsar/protocol/frame.ts';
import { loadFixtures } from '../support/fixtures.ts';
import {
  chunking,
  decodeStream,
  mutateUnderChecksums,
  mutation,
  typedName,
} from '../support/fuzz.ts';

const runs = Number(process.env.SEAM_FUZZ_RUNS ?? 1500);
const fixtures = loadFixtures();
const corpus = fixtures.map((f) => f.bytes);

/**
 * Every message of a stream's entries, payloads decompressed, chunked messages joined and
 * decompressed whole (as a reader assembles them; here in order, nothing interleaved).
 */
function payloads(
  stream: Buffer,
): { ledger: number; entry: number; batch: number; value: string }[] {
  const out: { ledger: number; entry: number; batch: number; value: string }[] = [];
  const chunks: Buffer[] = [];
  for (const frame of new FrameDecoder().push(stream)) {
    const command = decodeCommand(frame.command);
    if (command.type !== 'MESSAGE') continue;
    const { ledgerId: ledger, entryId: entry } = command.messageId;
    const decoded = decodeEntry(frame.rest);
    if (decoded.kind === 'chunk') {
      chunks.push(decoded.chunk);
      const m = decoded.metadata;
      if (m.chunkId < m.numChunksFromMsg - 1) continue;
      const whole = decompress(m.compression, Buffer.concat(chunks), m.uncompressedSize);
      chunks.length = 0;
      out.push({ ledger, entry, batch: -1, value: whole.toString('base64') });
    } else if (decoded.kind === 'messages') {
      for (const m of decoded.messages)
        out.push({ ledger, entry, batch: m.batchIndex, value: m.payload.toString('base64') });
    }
  }
  return out;
}

test('the committed streams decode to the messages the official client read', (t) => {
  t.deepEqual(
    fixtures.map((f) => f.file),
    [
      'batched-lz4.bin',
      'batched-zstd.bin',
      'batched-zlib.bin',
      'batched-snappy.bin',
      'unbatched.bin',
      'avro.bin',
      'chunked.bin',
    ],
  );
  for (const fixture of fixtures) {
    t.deepEqual(
      payloads(fixture.bytes),
      fixture.messages.map((m) => ({
        ledger: m.ledger,
        // A chunked message's id is its last chunk's.
        entry: m.entry,
        batch: m.batch_index,
        value: m.value_b64,
      })),
      fixture.file,
    );
  }
});

test('a stream decodes the same however it is cut into socket reads', (t) => {
  const whole = corpus.map((stream) => decodeStream(stream));
  fc.assert(
    fc.property(fc.nat(corpus.length - 1), chunking, (i, sizes) => {
      t.deepEqual(decodeStream(corpus[i] as Buffer, sizes), whole[i]);
    }),
    { numRuns: Math.ceil(runs / 5) },
  );
  t.pass();
});

test('mutated streams decode or fail with a typed error, nothing else', (t) => {
  const outcomes = new Map<string, number>();
  fc.assert(
    fc.property(fc.nat(corpus.length - 1), mutation(), chunking, (i, mutate, sizes) => {
      let outcome = 'decoded';
      try {
        decodeStream(mutate(corpus[i] as Buffer), sizes);
      } catch (error) {
        const name = typedName(error);
        if (!name) throw error; // a crash: fast-check shrinks it and reports the case
        outcome = name;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }),
    { numRuns: runs },
  );
  t.log(Object.fromEntries(outcomes));
  t.is(
    [...outcomes.values()].reduce((a, b) => a + b, 0),
    runs,
  );
  // The mutations reach past the framing into commands, metadata and payloads.
  t.true((outcomes.get('FrameError') ?? 0) > 0);
  t.true((outcomes.get('ProtoDecodeError') ?? 0) > 0);
});

test('damage under a recomputed checksum reaches metadata, codecs and batches: typed errors only', (t) => {
  const outcomes = new Map<string, number>();
  fc.assert(
    fc.property(fc.nat(corpus.length - 1), mutation(), (i, mutate) => {
      let outcome = 'decoded';
      try {
        decodeStream(mutateUnderChecksums(corpus[i] as Buffer, mutate));
      } catch (error) {
        const name = typedName(error);
        if (!name) throw error;
        outcome = name;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }),
    { numRuns: runs },
  );
  t.log(Object.fromEntries(outcomes));
  for (const name of ['FrameError', 'ProtoDecodeError', 'DecompressionError'])
    t.true((outcomes.get(name) ?? 0) > 0, `some cases end in ${name}`);
});

/** MESSAGE frames' entries, and where their checksummed part starts. */
function checksummedEntries(): { entry: Buffer; covered: number }[] {
  const entries: { entry: Buffer; covered: number }[] = [];
  for (const stream of corpus) {
    for (const frame of new FrameDecoder().push(stream)) {
      if (decodeCommand(frame.command).type !== 'MESSAGE') continue;
      const entry = Buffer.from(frame.rest);
      // Broker entry metadata (0x0e02) comes first and is not checksummed.
      let pos = entry.readUInt16BE(0) === 0x0e02 ? 6 + entry.readUInt32BE(2) : 0;
      if (entry.readUInt16BE(pos) === 0x0e01) pos += 6;
      else continue;
      entries.push({ entry, covered: pos });
    }
  }
  return entries;
}

test('any byte changed under an entry checksum is caught as a checksum mismatch', (t) => {
  const entries = checksummedEntries();
  t.true(entries.length > 20, 'the official producer checksums its entries');
  fc.assert(
    fc.property(
      fc.nat(entries.length - 1),
      fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      fc.integer({ min: 1, max: 255 }),
      (i, at, mask) => {
        const { entry, covered } = entries[i] as { entry: Buffer; covered: number };
        const damaged = Buffer.from(entry);
        const index = covered + Math.floor(at * (entry.length - covered));
        damaged[index] = (damaged[index] as number) ^ mask;
        t.throws(() => decodeEntry(damaged), {
          instanceOf: FrameError,
          message: /checksum mismatch/,
        });
      },
    ),
    { numRuns: Math.ceil(runs / 5) },
  );
});

test('length fields are checked before anything is allocated from them', (t) => {
  // A frame claiming 4 GiB is refused at once, not buffered for.
  const decoder = new FrameDecoder();
  const huge = Buffer.alloc(12);
  huge.writeUInt32BE(0xffffffff, 0);
  t.throws(() => decoder.push(huge), { instanceOf: FrameError, message: /outside 4\.\./ });
  // An entry declaring more uncompressed bytes than Seam accepts fails before decoding.
  for (const codec of [
    CompressionType.LZ4,
    CompressionType.ZLIB,
    CompressionType.ZSTD,
    CompressionType.SNAPPY,
  ]) {
    t.throws(() => decompress(codec, Buffer.from([1, 2, 3]), maxUncompressedBytes + 1), {
      instanceOf: DecompressionError,
    });
  }
  // A zlib bomb stops at the declared size instead of inflating.
  const { deflateSync } = process.getBuiltinModule('node:zlib');
  const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024));
  t.throws(() => decompress(CompressionType.ZLIB, bomb, 1000), { instanceOf: DecompressionError });
});
