/**
 * Seam's Pulsar reader against the official client: for topics the official producer
 * wrote in every way a producer can, Seam returns the same messages, field by field and
 * byte for byte, with the same message ids.
 */
import test from 'ava';
import { MessageId } from '../server/pulsar/message-id.ts';
import { Reader, readerStats } from '../server/pulsar/reader.ts';
import {
  adminPut,
  ensurePulsar,
  freshTopic,
  type MessageSpec,
  type ProduceOptions,
  produce,
  readOfficial,
  topicPath,
} from './support/pulsar.ts';
import { asOfficial, readCount, testClient } from './support/seam-reader.ts';

const client = testClient();
test.before(ensurePulsar);
test.after.always(() => client.close());

/** Messages with keys, properties and event times on some, and payloads of varied size. */
function variedMessages(count: number): MessageSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    value_b64: Buffer.from(`message ${i} `.repeat(1 + (i % 13))).toString('base64'),
    ...(i % 3 === 0 ? {} : { key: `key-${i % 17}` }),
    ...(i % 4 === 0 ? { properties: { i: String(i), kind: i % 8 === 0 ? 'eight' : 'four' } } : {}),
    ...(i % 5 === 0 ? {} : { event_time: 1_700_000_000_000 + i }),
  }));
}

async function assertSameAsOfficial(
  t: import('ava').ExecutionContext,
  label: string,
  options: ProduceOptions,
  count: number,
) {
  const topic = freshTopic(label);
  await produce(topic, options);
  const official = await readOfficial(topic);
  t.is(official.length, count, 'the official reader sees every message');
  const seam = await readCount(client, { topic }, count);
  t.deepEqual(seam.map(asOfficial), official);
  // The standalone adds broker entry metadata; Seam reads past it (and keeps the time).
  t.true(seam.every((m) => m.brokerTimestamp !== undefined && m.brokerTimestamp >= m.publishTime));
  // And each message's index in the topic, counted from 0 (batches included).
  t.deepEqual(
    seam.map((m) => m.brokerIndex),
    seam.map((_, i) => i),
  );
}

const layouts: [string, ProduceOptions][] = [
  ['unbatched', { batching: false }],
  ['batched', { batching: true, batchMaxMessages: 50 }],
  ['key-based batches', { batching: true, keyBasedBatching: true }],
  ['LZ4', { compression: 'LZ4' }],
  ['ZLIB', { compression: 'ZLIB' }],
  ['ZSTD', { compression: 'ZSTD' }],
  ['SNAPPY', { compression: 'SNAPPY' }],
  ['LZ4 unbatched', { compression: 'LZ4', batching: false }],
];

for (const [name, options] of layouts) {
  test(`${name}: every message equals the official reader's`, async (t) => {
    await assertSameAsOfficial(
      t,
      name.replace(/\W+/g, '-').toLowerCase(),
      { ...options, messages: variedMessages(400) },
      400,
    );
  });
}

test('chunked messages larger than maxMessageSize are reassembled, ids included', async (t) => {
  const big = (n: number, fill: string) => Buffer.alloc(n, fill).toString('base64');
  const messages: MessageSpec[] = [
    { value_b64: big(10, 'a'), key: 'small' },
    { value_b64: big(2_500_000, 'b'), key: 'big', properties: { p: '1' } },
    { value_b64: big(20, 'c') },
    { value_b64: big(1_200_000, 'd'), event_time: 1_700_000_000_123 },
  ];
  await assertSameAsOfficial(
    t,
    'chunked',
    { chunking: true, messages, compression: 'LZ4' },
    messages.length,
  );
});

test('a partitioned topic: each partition equals the official reader on it', async (t) => {
  const topic = freshTopic('partitioned');
  await adminPut(`${topicPath(topic)}/partitions`, 4);
  await produce(topic, { count: 2000, keys: 50, size: 40 });
  t.is(await client.partitions(topic), 4);
  let total = 0;
  for (let p = 0; p < 4; p++) {
    const partition = `${topic}-partition-${p}`;
    const official = await readOfficial(partition);
    const seam = await readCount(client, { topic: partition }, official.length);
    t.deepEqual(seam.map(asOfficial), official);
    t.true(seam.every((m) => m.messageId.partition === p));
    total += seam.length;
  }
  t.is(total, 2000);
});

test('start positions inside a batch, inclusive and exclusive, match the official reader', async (t) => {
  const topic = freshTopic('start');
  const ids = await produce(topic, { count: 300, batchMaxMessages: 100, size: 10 });
  for (const index of [0, 1, 57, 99, 100, 299]) {
    const start = ids[index]?.serialized_b64 as string;
    for (const inclusive of [true, false]) {
      const official = await readOfficial(topic, { start, inclusive });
      const seam = await readCount(
        client,
        {
          topic,
          start: MessageId.deserialize(Buffer.from(start, 'base64')),
          startInclusive: inclusive,
        },
        official.length,
      );
      t.deepEqual(
        seam.map(asOfficial),
        official,
        `start at message ${index}, inclusive ${inclusive}`,
      );
      t.is(official.length, 300 - index - (inclusive ? 0 : 1));
    }
  }
});

test('start positions on unbatched messages, inclusive and exclusive', async (t) => {
  const topic = freshTopic('start-unbatched');
  const ids = await produce(topic, { count: 50, batching: false });
  for (const index of [0, 10, 49]) {
    for (const inclusive of [true, false]) {
      const start = MessageId.deserialize(
        Buffer.from(ids[index]?.serialized_b64 as string, 'base64'),
      );
      const expected = 50 - index - (inclusive ? 0 : 1);
      const seam =
        expected === 0
          ? []
          : await readCount(client, { topic, start, startInclusive: inclusive }, expected);
      t.is(seam.length, expected);
      t.deepEqual(
        seam.map((m) => m.messageId.entryId),
        ids.slice(inclusive ? index : index + 1).map((id) => id.entry),
      );
    }
  }
});

test('a Go-style id (batch index 0 on an unbatched message) starts at that message', async (t) => {
  const topic = freshTopic('start-go-id');
  const ids = await produce(topic, { count: 20, batching: false });
  const at = ids[7] as (typeof ids)[number];
  const goStyle = new MessageId(at.ledger, at.entry, 0, -1, 1);
  for (const inclusive of [true, false]) {
    const expected = ids.slice(inclusive ? 7 : 8).map((id) => id.entry);
    const seam = await readCount(
      client,
      { topic, start: goStyle, startInclusive: inclusive },
      expected.length,
    );
    t.deepEqual(
      seam.map((m) => m.messageId.entryId),
      expected,
      `inclusive ${inclusive}`,
    );
  }
});

test('the last message id is the last message the official producer wrote', async (t) => {
  const topic = freshTopic('last');
  const ids = await produce(topic, { count: 250, batchMaxMessages: 100 });
  const reader = await Reader.open(client, { topic });
  try {
    const last = await reader.lastMessageId();
    const expected = ids.at(-1);
    t.deepEqual(
      [last.ledgerId, last.entryId, last.batchIndex],
      [expected?.ledger, expected?.entry, expected?.batch_index],
    );
  } finally {
    await reader.close();
  }
});

test('latest: only messages published after the reader opened', async (t) => {
  const topic = freshTopic('latest');
  await produce(topic, { count: 10 });
  const reader = await Reader.open(client, { topic, start: MessageId.latest });
  try {
    const ids = await produce(topic, { count: 5, size: 8 });
    const got = [];
    const signal = AbortSignal.timeout(20_000);
    while (got.length < 5) got.push(...(await reader.receive(signal)));
    t.deepEqual(
      got.map((m) => m.messageId.serialize().toString('base64')),
      ids.map((id) => id.serialized_b64),
    );
  } finally {
    await reader.close();
  }
});

test('seek by message id, exclusive and inclusive, inside a batch and back in time', async (t) => {
  const topic = freshTopic('seek-id');
  const ids = await produce(topic, { count: 500, batchMaxMessages: 64, size: 12 });
  const serialized = ids.map((id) => id.serialized_b64);
  const reader = await Reader.open(client, { topic });
  const signal = AbortSignal.timeout(30_000);
  const readN = async (n: number) => {
    const got: string[] = [];
    while (got.length < n)
      got.push(
        ...(await reader.receive(signal)).map((m) => m.messageId.serialize().toString('base64')),
      );
    return got;
  };
  try {
    await readN(400);
    for (const [index, inclusive] of [
      [70, false],
      [70, true],
      [3, true],
      [499, false],
      [250, false],
    ] as const) {
      await reader.seek({
        messageId: MessageId.deserialize(Buffer.from(serialized[index] as string, 'base64')),
        inclusive,
      });
      const from = inclusive ? index : index + 1;
      const expected = serialized.slice(from, from + 20);
      if (expected.length === 0) continue;
      t.deepEqual(
        (await readN(expected.length)).slice(0, expected.length),
        expected,
        `seek to ${index}, inclusive ${inclusive}`,
      );
    }
  } finally {
    await reader.close();
  }
});

test('seek by publish time: the first message published at or after it', async (t) => {
  const topic = freshTopic('seek-time');
  await produce(topic, { count: 100, size: 10 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  await produce(topic, { count: 100, size: 10 });
  const official = await readOfficial(topic);
  const time = official[150]?.publish_time as number;
  const expected = official.filter((m) => m.publish_time >= time);
  t.true(
    expected.length >= 50 && expected.length < 200,
    `${expected.length} messages at or after the seek time`,
  );
  const reader = await Reader.open(client, { topic, start: MessageId.latest });
  try {
    await reader.seek({ publishTime: time });
    const got = [];
    const signal = AbortSignal.timeout(30_000);
    while (got.length < expected.length) got.push(...(await reader.receive(signal)));
    t.deepEqual(got.map(asOfficial), expected);
  } finally {
    await reader.close();
  }
});

test('flow control: prefetch stops at the receiver queue; permits return in chunks of half', async (t) => {
  const topic = freshTopic('permits');
  await produce(topic, { count: 30, batching: false, size: 8 });
  const reader = await Reader.open(client, { topic, receiverQueueSize: 20 });
  try {
    // The broker may push 20 messages and no more until permits come back.
    while (reader.queuedMessages < 20) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.is(reader.queuedMessages, 20);
    t.is(reader.permitsInFlight, 0);
    t.true(readerStats().readers >= 1);
    // Taking 20 returns 20 permits; the last 10 messages use 10 of them.
    t.is((await reader.receive()).length, 20);
    while (reader.queuedMessages < 10) await new Promise((resolve) => setTimeout(resolve, 10));
    t.is(reader.permitsInFlight, 10);
    // Taking those returns 10 more (half the queue): 20 granted, nothing left to send. The
    // FLOW goes out once the event loop has read what the socket holds (setImmediate).
    t.is((await reader.receive()).length, 10);
    t.is(reader.permitsInFlight, 10, 'not granted before the socket is read');
    await new Promise((resolve) => setImmediate(resolve));
    t.is(reader.permitsInFlight, 20);
  } finally {
    await reader.close();
  }
});
