/** Unit tests of the wire format, frames and message ids: no broker needed. */
import test from 'ava';
import fc from 'fast-check';
import {
  MessageId,
  MessageIdSerializer,
  writeMessageIdData,
} from '../../server/pulsar/message-id.ts';
import { crc32c } from '../../server/pulsar/protocol/checksum.ts';
import { FrameDecoder, FrameError, splitEntry } from '../../server/pulsar/protocol/frame.ts';
import { decodeSingleMessageMetadata } from '../../server/pulsar/protocol/metadata.ts';
import { ProtoDecodeError, ProtoReader, ProtoWriter } from '../../server/pulsar/protocol/wire.ts';

test('varints round-trip across the 28-bit and 53-bit boundaries', (t) => {
  const values = [
    0,
    1,
    127,
    128,
    300,
    2 ** 28 - 1,
    2 ** 28,
    2 ** 31,
    2 ** 32 + 5,
    1_795_586_544_149,
    2 ** 53 - 1,
  ];
  const w = new ProtoWriter(4);
  values.forEach((v, i) => {
    w.uint(i + 1, v);
  });
  const r = new ProtoReader(w.finish());
  const read: number[] = [];
  for (let f = r.next(); f !== 0; f = r.next()) read.push(r.varint());
  t.deepEqual(read, values);
});

test('negative int32 takes ten bytes and reads back', (t) => {
  const bytes = new ProtoWriter().int(3, -1).finish();
  t.is(bytes.length, 11);
  const r = new ProtoReader(bytes);
  t.is(r.next(), 3);
  t.is(r.int(), -1);
});

test('message ids serialize byte for byte as the official C++ client does', (t) => {
  // Bytes printed by the official Python client's MessageId.serialize() (see official.py).
  t.is(new MessageId(5, 0, 0, -1, 5).serialize().toString('base64'), 'CAUQACAAMAU=');
  t.is(new MessageId(10, 9, 999, -1, 1000).serialize().toString('base64'), 'CAoQCSDnBzDoBw==');
  const id = MessageId.deserialize(Buffer.from('CAoQCSDnBzDoBw==', 'base64'));
  t.deepEqual(
    [id.ledgerId, id.entryId, id.batchIndex, id.partition, id.batchSize],
    [10, 9, 999, -1, 1000],
  );
});

test('ids written by the Java and Go clients read back to the same position', (t) => {
  // From the clients' serialization rules: Java always writes batch_size (0 unbatched);
  // Go writes partition -1, and batch index 0 / size 1 for an unbatched message.
  const java = MessageId.deserialize(Buffer.from('080a10053000', 'hex'));
  t.deepEqual([java.ledgerId, java.entryId, java.batchIndex, java.partition], [10, 5, -1, -1]);
  const go = MessageId.deserialize(Buffer.from(`080a100518${'ff'.repeat(9)}0120023003`, 'hex'));
  t.deepEqual(
    [go.ledgerId, go.entryId, go.batchIndex, go.partition, go.batchSize],
    [10, 5, 2, -1, 3],
  );
  t.is(new MessageId(10, 5).serialize().toString('hex'), '080a1005');
});

test('earliest and latest encode as Java does and read back as sentinels', (t) => {
  const earliest = MessageId.deserialize(MessageId.earliest.serialize());
  const latest = MessageId.deserialize(MessageId.latest.serialize());
  t.true(earliest.isSentinel && earliest.ledgerId === -1);
  t.true(latest.isSentinel && latest.ledgerId === MessageId.latest.ledgerId);
  // ledgerId = Long.MAX_VALUE as a varint: 0xff x8 then 0x7f.
  t.is(MessageId.latest.serialize().subarray(1, 10).toString('hex'), 'ffffffffffffffff7f');
});

test('garbage message ids are refused with a typed error', (t) => {
  for (const bytes of [
    Buffer.from([0xff]),
    Buffer.from('hello'),
    Buffer.alloc(0),
    Buffer.from([0x08, 0x80]),
  ]) {
    t.throws(() => MessageId.deserialize(bytes), { name: 'InvalidMessageIdError' });
  }
});

/** A MESSAGE-like frame tail: checksum section, metadata and payload. */
function entryBytes(metadata: Buffer, payload: Buffer): Buffer {
  const body = Buffer.concat([Buffer.alloc(4), metadata, payload]);
  body.writeUInt32BE(metadata.length, 0);
  const head = Buffer.alloc(6);
  head.writeUInt16BE(0x0e01, 0);
  head.writeUInt32BE(crc32c(body), 2);
  return Buffer.concat([head, body]);
}

test('an entry with a valid checksum splits into metadata and payload', (t) => {
  const parts = splitEntry(entryBytes(Buffer.from('meta'), Buffer.from('payload')));
  t.is(parts.metadata.toString(), 'meta');
  t.is(parts.payload.toString(), 'payload');
});

test('a corrupted byte fails the checksum', (t) => {
  const entry = entryBytes(Buffer.from('meta'), Buffer.from('payload'));
  entry.writeUInt8((entry.at(-1) ?? 0) ^ 1, entry.length - 1);
  t.throws(() => splitEntry(entry), { instanceOf: FrameError, message: /checksum mismatch/ });
});

test('the frame decoder reassembles frames split at every byte', (t) => {
  const frames = [Buffer.from('first command'), Buffer.from('second')].map((c) => {
    const f = Buffer.alloc(8 + c.length);
    f.writeUInt32BE(4 + c.length, 0);
    f.writeUInt32BE(c.length, 4);
    c.copy(f, 8);
    return f;
  });
  const stream = Buffer.concat(frames);
  const decoder = new FrameDecoder();
  const out: string[] = [];
  for (let i = 0; i < stream.length; i++) {
    for (const frame of decoder.push(stream.subarray(i, i + 1))) out.push(frame.command.toString());
  }
  t.deepEqual(out, ['first command', 'second']);
  t.is(decoder.pendingBytes, 0);
});

test('reads landing where the decoder chooses give the same frames, a large one read into its own buffer', (t) => {
  const frame = (size: number, fill: number) => {
    const f = Buffer.alloc(8 + 4 + size, fill);
    f.writeUInt32BE(4 + 4 + size, 0);
    f.writeUInt32BE(4, 4); // a 4-byte command, then `size` bytes of entry
    return f;
  };
  const sizes = [10, 100_000, 20, 16_000, 300_000, 5, 70_000, 70_000, 1];
  const stream = Buffer.concat(sizes.map((size, i) => frame(size, i + 1)));
  const expected = new FrameDecoder().push(stream).map((f) => [f.command, f.rest]);
  // Reads of every size from 1 byte to more than a read buffer, as a socket gives them.
  for (const readSize of [1, 7, 1000, 16_384, 65_536, 200_000]) {
    const decoder = new FrameDecoder();
    const got: Buffer[][] = [];
    let pos = 0;
    while (pos < stream.length) {
      const target = decoder.readBuffer();
      const n = Math.min(readSize, target.length, stream.length - pos);
      stream.copy(target, 0, pos, pos + n);
      pos += n;
      for (const f of decoder.pushRead(n)) got.push([f.command, f.rest]);
    }
    t.deepEqual(got, expected, `reads of ${readSize} bytes`);
    t.is(decoder.pendingBytes, 0);
  }
  // Once its first bytes are in, the rest of a 100 KB frame is read into its own buffer:
  // the next read is offered exactly the bytes it lacks.
  const decoder = new FrameDecoder();
  const large = frame(100_000, 9);
  const first = decoder.readBuffer();
  large.copy(first, 0, 0, 1000);
  t.deepEqual(decoder.pushRead(1000), []);
  const rest = decoder.readBuffer();
  t.is(rest.length, large.length - 1000);
  large.copy(rest, 0, 1000);
  const [whole] = decoder.pushRead(rest.length);
  t.deepEqual(whole?.rest, large.subarray(12));
  t.is(whole?.rest.buffer, rest.buffer, 'the frame is the buffer the read landed in');
  // A small read is copied out: the read buffer is reused, not kept alive by the frame.
  const small = new FrameDecoder();
  const buffer = small.readBuffer();
  frame(10, 1).copy(buffer);
  const [tiny] = small.pushRead(22);
  t.not(tiny?.rest.buffer, buffer.buffer);
  t.is(small.readBuffer(), buffer);
});

test('an oversized or undersized frame length is refused before anything is allocated', (t) => {
  const huge = Buffer.from([0x7f, 0xff, 0xff, 0xff]);
  t.throws(() => new FrameDecoder().push(huge), { instanceOf: FrameError, message: /outside/ });
  t.throws(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 1, 0])), { instanceOf: FrameError });
});

test('truncated protobuf fields throw ProtoDecodeError', (t) => {
  const r = new ProtoReader(Buffer.from([0x0a, 0x05, 0x41]));
  t.is(r.next(), 1);
  t.throws(() => r.bytes(), { instanceOf: ProtoDecodeError });
});

test('the per-entry id serializer writes what writeMessageIdData writes, id after id', (t) => {
  const id = fc
    .record({
      // Mostly a few entries, so that ids of different entries follow each other.
      ledgerId: fc.oneof(
        fc.nat(1),
        fc.nat(1),
        fc.constantFrom(-1, Number.MAX_SAFE_INTEGER),
        fc.maxSafeNat(),
      ),
      entryId: fc.oneof(fc.nat(1), fc.nat(1), fc.maxSafeNat()),
      batchIndex: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
      partition: fc.integer({ min: -1, max: 3 }),
      batchSize: fc.oneof(fc.constantFrom(0, 1000), fc.nat(2000)),
      chunked: fc.boolean(),
    })
    .map(
      (f) =>
        new MessageId(
          f.ledgerId,
          f.entryId,
          f.batchIndex,
          f.partition,
          f.batchSize,
          f.chunked ? new MessageId(f.ledgerId, 0) : undefined,
        ),
    );
  fc.assert(
    fc.property(fc.array(id, { maxLength: 50 }), fc.nat(20), (ids, repeat) => {
      const serializer = new MessageIdSerializer();
      // Runs of one entry's messages, as batches arrive, and single ids between them.
      const run = ids.flatMap((m) =>
        Array.from(
          { length: 1 + (repeat % 5) },
          (_, i) =>
            new MessageId(
              m.ledgerId,
              m.entryId,
              m.batchIndex + i,
              m.partition,
              m.batchSize,
              m.firstChunk,
            ),
        ),
      );
      for (const m of run) {
        serializer.serialize(m);
        const expected = new ProtoWriter();
        writeMessageIdData(expected, m);
        t.deepEqual(
          Buffer.from(serializer.bytes.subarray(0, serializer.length)),
          Buffer.from(expected.finish()),
        );
      }
    }),
    { numRuns: 300 },
  );
});

test('SingleMessageMetadata: the usual short form and every other form decode alike', (t) => {
  const decode = (bytes: number[]) => {
    const buf = Buffer.from(bytes);
    const m = decodeSingleMessageMetadata(buf, 0, buf.length);
    return [m.payloadSize, m.sequenceId, m.eventTime, { ...m.properties }];
  };
  // payload_size (field 3, tag 0x18), then sequence_id (field 8, tag 0x40): the fast path.
  t.deepEqual(decode([0x18, 115]), [115, undefined, 0, {}]);
  t.deepEqual(decode([0x18, 0xf3, 0x01, 0x40, 0xe8, 0x07]), [243, 1000, 0, {}]);
  // Other orders, other fields, long varints, repeated fields: the general reader.
  t.deepEqual(decode([0x40, 0xe8, 0x07, 0x18, 115]), [115, 1000, 0, {}]);
  t.deepEqual(decode([0x18, 115, 0x40, 1, 0x28, 7]), [115, 1, 7, {}]);
  t.deepEqual(decode([0x18, 0x80, 0x80, 0x80, 0x80, 0x01]), [2 ** 28, undefined, 0, {}]);
  t.deepEqual(decode([0x18, 0x80, 0x80, 0x80, 0x80, 0x02, 0x40, 0x80, 0x80, 0x80, 0x80, 0x01]), [
    2 ** 29,
    2 ** 28,
    0,
    {},
  ]);
  t.deepEqual(decode([0x18, 1, 0x18, 2]), [2, undefined, 0, {}]);
  t.deepEqual(decode([0x18, 3, 0x0a, 5, 0x0a, 1, 0x6b, 0x12, 0]), [3, undefined, 0, { k: '' }]);
  // Cut off, or negative: refused by the general reader.
  t.throws(() => decode([0x18, 0x80]), { instanceOf: ProtoDecodeError });
  t.throws(() => decode([0x18, 3, 0x40, 0x80]), { instanceOf: ProtoDecodeError });
  t.throws(() => decode([0x18, ...Array(9).fill(0xff), 0x01]), { instanceOf: ProtoDecodeError });
});
