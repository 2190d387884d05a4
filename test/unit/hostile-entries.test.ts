/**
 * Entries whose counts and sizes lie: every count and size field from the broker is checked
 * when the metadata is decoded, and a batch's count against its bytes, before anything is
 * decompressed or allocated per message. Typed errors only (FrameError, ProtoDecodeError,
 * DecompressionError). No broker: entries built field by field.
 */
import { zstdCompressSync } from 'node:zlib';
import test from 'ava';
import { compressSync as lz4Compress } from 'lz4-napi';
import { compressSync as snappyCompress } from 'snappy';
import {
  CompressionType,
  DecompressionError,
  maxUncompressedBytes,
} from '../../server/pulsar/protocol/compression.ts';
import {
  decodeEntry,
  type EntryMessages,
  keptBatchMessages,
  minBatchMessageBytes,
} from '../../server/pulsar/protocol/entry.ts';
import { FrameError } from '../../server/pulsar/protocol/frame.ts';
import { ProtoDecodeError } from '../../server/pulsar/protocol/wire.ts';
import { batch, entry, MetadataField as F } from '../support/entries.ts';

test('a ZSTD entry of a few hundred bytes declaring 1 M batched messages fails before splitting', (t) => {
  // 1 M messages of 4 bytes (a size of 0, no metadata): 4 MB that ZSTD packs into ~165 bytes.
  const unpacked = Buffer.alloc(4_000_000);
  const bomb = entry(
    {
      [F.compression]: CompressionType.ZSTD,
      [F.uncompressedSize]: unpacked.length,
      [F.numMessagesInBatch]: 1_000_000,
    },
    zstdCompressSync(unpacked),
  );
  const started = performance.now();
  const heap = process.memoryUsage().heapUsed;
  t.throws(() => decodeEntry(bomb), {
    instanceOf: FrameError,
    message: /a batch of 1000000 messages cannot fit in 4000000 bytes/,
  });
  t.log(
    `${bomb.length}-byte entry failed in ${(performance.now() - started).toFixed(1)} ms, heap +${((process.memoryUsage().heapUsed - heap) / 2 ** 20).toFixed(1)} MiB`,
  );
  // Uncompressed, the bytes present bound the count the same way.
  const plain = batch([Buffer.from('a'), Buffer.from('b')]);
  t.is(
    (decodeEntry(entry({ [F.numMessagesInBatch]: 2 }, plain)) as { messages: EntryMessages })
      .messages.count,
    2,
  );
  const most = Math.floor(plain.length / minBatchMessageBytes);
  t.throws(() => decodeEntry(entry({ [F.numMessagesInBatch]: most + 1 }, plain)), {
    instanceOf: FrameError,
    message: /cannot fit/,
  });
});

test('a valid batch of 1 M messages in a 600-byte entry holds no memory per message until each is taken', (t) => {
  // Each message: a metadata size of 2, then payload_size 0 (field 3): 6 bytes, the least.
  const count = 1_000_000;
  const unpacked = Buffer.alloc(count * minBatchMessageBytes);
  for (let i = 0; i < count; i++) unpacked.set([0, 0, 0, 2, 0x18, 0], i * minBatchMessageBytes);
  const packed = entry(
    {
      [F.compression]: CompressionType.ZSTD,
      [F.uncompressedSize]: unpacked.length,
      [F.numMessagesInBatch]: count,
    },
    zstdCompressSync(unpacked),
  );
  const heap = process.memoryUsage().heapUsed;
  const started = performance.now();
  const decoded = decodeEntry(packed) as { messages: EntryMessages };
  const grew = (process.memoryUsage().heapUsed - heap) / 2 ** 20;
  t.log(
    `${packed.length}-byte entry of ${count} messages decoded in ${(performance.now() - started).toFixed(0)} ms, heap +${grew.toFixed(1)} MiB`,
  );
  // Split into an array up front, these messages held 313 MiB (5 M ran a 1 GiB heap out).
  t.true(grew < 64, `heap grew ${grew.toFixed(1)} MiB`);
  t.is(decoded.messages.count, count);
  t.is(decoded.messages.payloadBytes, 0);
  let taken = 0;
  let last = -1;
  for (const m of decoded.messages) {
    taken++;
    last = m.batchIndex;
  }
  t.deepEqual([taken, last, decoded.messages.remaining], [count, count - 1, 0]);
});

test('batches kept whole and batches decoded as taken give the same messages', (t) => {
  for (const count of [1, keptBatchMessages, keptBatchMessages + 1]) {
    const values = Array.from({ length: count }, (_, i) => Buffer.from(`v${i}`));
    const decoded = decodeEntry(
      entry(
        { [F.numMessagesInBatch]: count },
        batch(values, (i) => ({ 8: i })),
      ),
    ) as { messages: EntryMessages };
    const taken = [...decoded.messages];
    t.deepEqual(
      taken.map((m) => [m.batchIndex, m.single?.sequenceId, m.payload.toString()]),
      values.map((v, i) => [i, i, v.toString()]),
      `${count} messages`,
    );
    t.is(decoded.messages.payloadBytes, Buffer.concat(values).length);
  }
});

test('batches open at once, and batches decoded after others were read to the end, give their own messages', (t) => {
  // A batch read to its end hands its arrays to the next one decoded: none may see another's.
  const decode = (tag: string, count: number) =>
    (
      decodeEntry(
        entry(
          { [F.numMessagesInBatch]: count },
          batch(
            Array.from({ length: count }, (_, i) => Buffer.from(`${tag}${i}`)),
            // sequence_id, event_time, and compacted_out on the second (full metadata kept).
            (i) => ({ 8: 100 * tag.charCodeAt(0) + i, 5: 1000 + i, ...(i === 1 ? { 4: 1 } : {}) }),
          ),
        ),
      ) as { messages: EntryMessages }
    ).messages;
  const take = (messages: EntryMessages, n: number) =>
    Array.from({ length: n }, () => {
      const m = messages.next();
      return `${m?.payload} ${m?.single?.sequenceId} ${m?.single?.eventTime} ${m?.single?.compactedOut ?? false}`;
    });
  const expected = (tag: string, from: number, to: number) =>
    Array.from({ length: to - from }, (_, k) => {
      const i = from + k;
      return `${tag}${i} ${100 * tag.charCodeAt(0) + i} ${1000 + i} ${i === 1}`;
    });
  const a = decode('a', 3);
  const b = decode('b', 2);
  t.deepEqual(take(a, 1), expected('a', 0, 1));
  t.deepEqual(take(b, 2), expected('b', 0, 2)); // b's arrays are spare from here
  const c = decode('c', 2);
  t.deepEqual(take(a, 2), expected('a', 1, 3));
  const d = decode('d', 1); // a's or b's arrays: larger than it needs
  t.deepEqual(take(c, 2), expected('c', 0, 2));
  t.deepEqual(take(d, 1), expected('d', 0, 1));
  t.is(a.next(), undefined);
});

test("a caller may cap a batch's messages before it is decompressed or split", (t) => {
  const values = Array.from({ length: 10 }, (_, i) => Buffer.from([i]));
  const ten = entry({ [F.numMessagesInBatch]: 10 }, batch(values));
  t.is(
    (decodeEntry(ten, { maxBatchMessages: 10 }) as { messages: EntryMessages }).messages.count,
    10,
  );
  t.throws(() => decodeEntry(ten, { maxBatchMessages: 9 }), {
    instanceOf: FrameError,
    message: /a batch of 10 messages is over the limit of 9/,
  });
});

test('negative and absurd counts and sizes in MessageMetadata fail typed, before any arithmetic', (t) => {
  const cases: [string, Record<number, number | bigint>, RegExp][] = [
    [
      'negative batch count',
      { [F.numMessagesInBatch]: -5 },
      /num_messages_in_batch -5 is outside 0\.\./,
    ],
    [
      'batch count past int32',
      { [F.numMessagesInBatch]: 2n ** 40n },
      /num_messages_in_batch 1099511627776/,
    ],
    [
      'uncompressed size past the limit',
      { [F.uncompressedSize]: maxUncompressedBytes + 1 },
      /uncompressed_size/,
    ],
    ['negative chunk count', { [F.numChunksFromMsg]: -2 }, /num_chunks_from_msg -2/],
    [
      'chunk id past the chunk count',
      { [F.numChunksFromMsg]: 3, [F.totalChunkMsgSize]: 100, [F.chunkId]: 3 },
      /chunk_id 3 is outside 0\.\.2/,
    ],
    [
      'negative chunk id',
      { [F.numChunksFromMsg]: 3, [F.totalChunkMsgSize]: 100, [F.chunkId]: -1 },
      /chunk_id -1/,
    ],
    [
      'total chunk size under the chunk count',
      { [F.numChunksFromMsg]: 3, [F.totalChunkMsgSize]: 2, [F.chunkId]: 0 },
      /total_chunk_msg_size 2 is outside 3\.\./,
    ],
    [
      'negative total chunk size',
      { [F.numChunksFromMsg]: 3, [F.totalChunkMsgSize]: -100, [F.chunkId]: 0 },
      /total_chunk_msg_size -100/,
    ],
  ];
  for (const [label, fields, message] of cases) {
    t.throws(
      () => decodeEntry(entry(fields, Buffer.alloc(10))),
      { instanceOf: ProtoDecodeError, message },
      label,
    );
  }
  // A consistent chunk still decodes as a chunk.
  const chunk = decodeEntry(
    entry({ [F.numChunksFromMsg]: 3, [F.totalChunkMsgSize]: 30, [F.chunkId]: 2 }, Buffer.alloc(10)),
  );
  t.is(chunk.kind, 'chunk');
});

test('a negative payload_size inside a batch, or a negative broker index, fails typed', (t) => {
  const payload = batch([Buffer.from('x')], () => ({ 3: -1 }));
  t.throws(() => decodeEntry(entry({ [F.numMessagesInBatch]: 1 }, payload)), {
    instanceOf: ProtoDecodeError,
    message: /payload_size -1 is outside 0\.\./,
  });
  const indexed = entry({}, Buffer.from('x'), { brokerIndex: -1n });
  t.throws(() => decodeEntry(indexed), {
    instanceOf: ProtoDecodeError,
    message: /broker entry index/,
  });
  t.is(decodeEntry(entry({}, Buffer.from('x'), { brokerIndex: 41n })).brokerIndex, 41);
});

test('LZ4 and Snappy sizes their bytes cannot expand to fail before the codec allocates them', (t) => {
  const data = Buffer.alloc(1000, 7);
  const lz4 = lz4Compress(data).subarray(4); // Pulsar's LZ4: the raw block, no size prefix
  const snappy = snappyCompress(data) as Buffer;
  for (const [codec, bytes] of [
    [CompressionType.LZ4, lz4],
    [CompressionType.SNAPPY, snappy],
  ] as const) {
    const good = decodeEntry(entry({ [F.compression]: codec, [F.uncompressedSize]: 1000 }, bytes));
    t.deepEqual((good as { messages: EntryMessages }).messages.next()?.payload, data);
    const started = performance.now();
    t.throws(
      () =>
        decodeEntry(entry({ [F.compression]: codec, [F.uncompressedSize]: 256 * 2 ** 20 }, bytes)),
      { instanceOf: DecompressionError, message: /more than (LZ4|SNAPPY) can expand/ },
    );
    t.log(
      `codec ${codec}: 256 MiB declared for ${bytes.length} bytes failed in ${(performance.now() - started).toFixed(1)} ms`,
    );
  }
});
