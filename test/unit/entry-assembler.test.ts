/** Entry assembly over entries built field by field: no broker. */
import test from 'ava';
import { EntryAssembler } from '../../server/pulsar/entry-assembler.ts';
import type { Message } from '../../server/pulsar/message.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
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
