/** Entry assembly over entries built field by field: no broker. */
import test from 'ava';
import { EntryAssembler } from '../../server/pulsar/entry-assembler.ts';
import type { Message } from '../../server/pulsar/message.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
import { ProtoWriter } from '../../server/pulsar/protocol/wire.ts';
import { batchPayload, entryBytes } from './support/fake-broker.ts';

const topic = 'persistent://public/default/t-partition-2';
const limits = { maxPending: 2, expiryMs: 60_000 };

function drain(assembler: EntryAssembler): Message[] {
  const out: Message[] = [];
  while (assembler.hasMessages) {
    const m = assembler.next();
    if (m) out.push(m);
  }
  return out;
}

const batch = (n: number) =>
  entryBytes(
    { numMessagesInBatch: n, sequenceId: 100 },
    batchPayload(Array.from({ length: n }, (_, i) => Buffer.from(`m${i}`))),
  );

test('a batch: counted before it is made, then one message per batch index', (t) => {
  const a = new EntryAssembler(topic, 2, limits);
  const { permitsUsed, bytes } = a.add(new MessageId(3, 4), batch(5));
  t.is(permitsUsed, 5);
  t.is(a.unqueuedMessages, 5);
  t.is(bytes, a.unqueuedBytes);
  const got = drain(a);
  t.deepEqual(
    got.map((m) => [m.messageId.toString(), m.payload.toString(), m.sequenceId]),
    [0, 1, 2, 3, 4].map((i) => [`3:4:${i}:2`, `m${i}`, 100 + i]),
  );
  t.is(a.unqueuedBytes, 0);
});

test('an unbatched message keeps batch index -1', (t) => {
  const a = new EntryAssembler(topic, 2, limits);
  t.is(a.add(new MessageId(3, 5), entryBytes({}, Buffer.from('one'))).permitsUsed, 1);
  const [m] = drain(a);
  t.is(m?.messageId.toString(), '3:5:-1:2');
  t.is(m?.payload.toString(), 'one');
});

test('the start filter drops the messages before it inside a batch, inclusive or not', (t) => {
  for (const inclusive of [true, false]) {
    const a = new EntryAssembler(topic, 2, limits);
    a.startFilter = { id: new MessageId(3, 4, 2), inclusive };
    a.add(new MessageId(3, 4), batch(5));
    t.deepEqual(
      drain(a).map((m) => m.messageId.batchIndex),
      inclusive ? [2, 3, 4] : [3, 4],
    );
    t.true(a.startFilter === undefined, 'passed once, the filter is gone');
  }
});

const chunk = (uuid: string, chunkId: number, producer = 'p', at = 1_700_000_000_000) =>
  entryBytes(
    {
      producerName: producer,
      uuid,
      chunkId,
      numChunksFromMsg: 2,
      totalChunkMsgSize: 4,
    },
    Buffer.from(chunkId === 0 ? 'ab' : 'cd'),
    { brokerTimestamp: at },
  );

test('chunks in order, interleaved by producers, become whole messages with their first chunk', (t) => {
  const a = new EntryAssembler(topic, 2, limits);
  a.add(new MessageId(3, 1), chunk('x', 0, 'p'));
  a.add(new MessageId(3, 2), chunk('y', 0, 'q'));
  t.is(a.chunkBytes, 4);
  a.add(new MessageId(3, 3), chunk('y', 1, 'q'));
  a.add(new MessageId(3, 4), chunk('x', 1, 'p'));
  const got = drain(a);
  t.deepEqual(
    got.map((m) => [m.payload.toString(), m.messageId.firstChunk?.entryId, m.messageId.entryId]),
    [
      ['abcd', 2, 3],
      ['abcd', 1, 4],
    ],
  );
  t.is(a.chunkBytes, 0);
});

test('chunks out of order, expired, or over the cap are errors, not silent drops', (t) => {
  const outOfOrder = new EntryAssembler(topic, 2, { maxPending: 2, expiryMs: 60_000 });
  outOfOrder.add(
    new MessageId(3, 1),
    entryBytes(
      { producerName: 'p', uuid: 'z', chunkId: 0, numChunksFromMsg: 3, totalChunkMsgSize: 6 },
      Buffer.from('ab'),
    ),
  );
  t.throws(
    () =>
      outOfOrder.add(
        new MessageId(3, 2),
        entryBytes(
          { producerName: 'p', uuid: 'z', chunkId: 2, numChunksFromMsg: 3, totalChunkMsgSize: 6 },
          Buffer.from('ef'),
        ),
      ),
    { message: /chunk 1 is missing/ },
  );

  const expiring = new EntryAssembler(topic, 2, limits);
  expiring.add(new MessageId(3, 1), chunk('x', 0, 'p', 0));
  expiring.add(new MessageId(3, 2), chunk('y', 0, 'q', 60_001)); // "x" expires
  t.is(expiring.chunkBytes, 2);
  t.throws(() => expiring.add(new MessageId(3, 3), chunk('x', 1, 'p', 60_002)), {
    message: /dropped the message incomplete: it was incomplete 60000 ms/,
  });

  const capped = new EntryAssembler(topic, 2, limits);
  capped.add(new MessageId(3, 1), chunk('x', 0, 'p'));
  capped.add(new MessageId(3, 2), chunk('y', 0, 'q'));
  t.throws(() => capped.add(new MessageId(3, 3), chunk('z', 0, 'r')), {
    message: /more than 2 chunked messages are incomplete at once/,
  });
});

test('a batch mixing plain messages and messages with properties, keys and flags: each gets its own', (t) => {
  // Message i: 0 plain; 1 properties and a key; 2 compacted out; 3 event time and sequence
  // id; 4 a null value and an ordering key; 5 plain.
  const single = (i: number, size: number) => {
    const w = new ProtoWriter();
    if (i === 1) {
      w.message(1, (kv) => kv.string(1, 'k').string(2, 'v'));
      w.message(1, (kv) => kv.string(1, 'k2').string(2, 'v2'));
      w.string(2, 'key-1');
    }
    w.uint(3, size);
    if (i === 2) w.bool(4, true);
    if (i === 3) w.uint(5, 1_767_000_000_123).uint(8, 42);
    if (i === 4) w.bool(9, true).bytes(7, Buffer.from('ok'));
    return w.finish();
  };
  const parts = Array.from({ length: 6 }, (_, i) => {
    const value = Buffer.from(`m${i}`);
    const metadata = single(i, value.length);
    const size = Buffer.alloc(4);
    size.writeUInt32BE(metadata.length);
    return Buffer.concat([size, metadata, value]);
  });
  const a = new EntryAssembler(topic, 2, limits);
  a.add(
    new MessageId(3, 4),
    entryBytes({ numMessagesInBatch: 6, sequenceId: 100 }, Buffer.concat(parts)),
  );
  const got = drain(a);
  t.deepEqual(
    got.map((m) => [
      m.messageId.batchIndex,
      m.payload.toString(),
      { ...m.properties },
      m.key,
      m.eventTime,
      m.sequenceId,
      m.nullValue,
      m.orderingKey?.toString(),
    ]),
    [
      [0, 'm0', {}, undefined, undefined, 100, false, undefined],
      [1, 'm1', { k: 'v', k2: 'v2' }, 'key-1', undefined, 101, false, undefined],
      [3, 'm3', {}, undefined, 1_767_000_000_123, 42, false, undefined],
      [4, 'm4', {}, undefined, undefined, 104, true, 'ok'],
      [5, 'm5', {}, undefined, undefined, 105, false, undefined],
    ],
  );
  // Messages without properties share one frozen object: none allocated per message.
  t.is(got[0]?.properties, got[4]?.properties);
  t.true(Object.isFrozen(got[0]?.properties));
  t.false(Object.isFrozen(got[1]?.properties));
});
