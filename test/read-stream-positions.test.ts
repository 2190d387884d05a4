/**
 * Start and end positions per partition (`start_positions`, `end_positions`) against the
 * real standalone, compared with what the official client's reader returns: a read from
 * id X to id Y is exactly the official reader's slice, ending inside a batch, at a whole
 * entry, at a chunked message, on one partition or four; start positions read what the
 * equivalent resume token reads; resume tokens keep working with an end.
 */
import test from 'ava';
import { decodeResumeToken, positionFields } from '../server/core/resume-token.ts';
import { MessageId } from '../server/pulsar/message-id.ts';
import { allRows, collect, idOf, useGateway } from './support/gateway.ts';
import {
  adminPut,
  freshTopic,
  type MessageSpec,
  type OfficialMessage,
  produce,
  readOfficial,
  topicPath,
} from './support/pulsar.ts';

const gw = useGateway(test);

const bytesOf = (b64: string) => Buffer.from(b64, 'base64');
const ids = (messages: OfficialMessage[]) => messages.map((m) => m.message_id.serialized_b64);
const endAt = (partition: number, last: Buffer) => ({
  end_positions: { ends: [{ partition, last_message_id: last }] },
});
/** The id of a message's whole entry: no batch index. */
const entryOf = (m: OfficialMessage) =>
  new MessageId(m.message_id.ledger, m.message_id.entry).serialize();

/** Reads `request` to its end (it must end by itself) and returns the row ids. */
async function idsRead(t: import('ava').ExecutionContext, request: Record<string, unknown>) {
  const result = await collect(gw, request, { timeoutMs: 30_000 });
  t.is(result.status.code, 0, result.status.details);
  return allRows(result).map(idOf);
}

for (const batching of [true, false]) {
  test(`from id X to id Y equals the official reader's slice (${batching ? 'batched' : 'unbatched'})`, async (t) => {
    const topic = freshTopic(`rs-pos-${batching ? 'batched' : 'single'}`);
    await produce(topic, { count: 300, size: 20, batching, batchMaxMessages: 10 });
    const official = await readOfficial(topic);
    t.is(official.length, 300);
    // Batched: messages inside a batch, neither its first nor its last (batches may be cut
    // short by the producer's delay on a busy machine).
    const sameEntry = (a: OfficialMessage | undefined, b: OfficialMessage | undefined) =>
      a?.message_id.ledger === b?.message_id.ledger && a?.message_id.entry === b?.message_id.entry;
    const pickAfter = (after: number) =>
      batching
        ? official.findIndex(
            (m, i) => i > after && m.message_id.batch_index > 0 && sameEntry(m, official[i + 1]),
          )
        : after + 1;
    const [first, end] = [pickAfter(20), pickAfter(250)];
    t.true(first > 0 && end > 0 && end < 290);
    const from = official[first] as OfficialMessage;
    const to = official[end] as OfficialMessage;
    const slice = await idsRead(t, {
      topic,
      message_id: bytesOf(from.message_id.serialized_b64),
      ...endAt(-1, bytesOf(to.message_id.serialized_b64)),
    });
    t.deepEqual(slice, ids(official.slice(first, end + 1)));

    // An end without batch index covers its whole entry.
    const whole = official.filter(
      (m) =>
        m.message_id.ledger < to.message_id.ledger ||
        (m.message_id.ledger === to.message_id.ledger && m.message_id.entry <= to.message_id.entry),
    );
    if (batching) t.true(whole.length > end + 1);
    t.deepEqual(await idsRead(t, { topic, ...endAt(-1, entryOf(to)) }), ids(whole));

    // After a message inside a batch, up to its whole entry: the rest of that batch.
    const fromEntry = official.filter((m) => sameEntry(m, from));
    t.deepEqual(
      await idsRead(t, {
        topic,
        start_positions: {
          positions: [{ partition: -1, after_message_id: bytesOf(from.message_id.serialized_b64) }],
        },
        ...endAt(-1, entryOf(from)),
      }),
      ids(fromEntry.filter((m) => m.message_id.batch_index > from.message_id.batch_index)),
    );
    if (batching) t.true(fromEntry.length > from.message_id.batch_index + 1);

    // The last message at open: the stream ends there without waiting for another.
    const last = official.at(-1) as OfficialMessage;
    t.deepEqual(
      await idsRead(t, { topic, ...endAt(-1, bytesOf(last.message_id.serialized_b64)) }),
      ids(official),
    );
    // An end before the start: nothing, and OK.
    t.deepEqual(
      await idsRead(t, {
        topic,
        message_id: bytesOf(to.message_id.serialized_b64),
        ...endAt(-1, bytesOf(from.message_id.serialized_b64)),
      }),
      [],
    );
  });
}

test('a chunked message as the end: the stream ends after the whole message', async (t) => {
  const topic = freshTopic('rs-pos-chunked');
  const big = (n: number, fill: string) => Buffer.alloc(n, fill).toString('base64');
  const messages: MessageSpec[] = [
    { value_b64: big(10, 'a') },
    { value_b64: big(2_500_000, 'b') },
    { value_b64: big(20, 'c') },
    { value_b64: big(1_200_000, 'd') },
    { value_b64: big(30, 'e') },
  ];
  await produce(topic, { chunking: true, messages });
  const official = await readOfficial(topic);
  t.is(official.length, 5);
  for (const last of [1, 3]) {
    const end = official[last] as OfficialMessage;
    t.deepEqual(
      await idsRead(t, { topic, ...endAt(-1, bytesOf(end.message_id.serialized_b64)) }),
      ids(official.slice(0, last + 1)),
    );
  }
  // And from a chunked message (inclusive) to the next one.
  t.deepEqual(
    await idsRead(t, {
      topic,
      message_id: bytesOf((official[1] as OfficialMessage).message_id.serialized_b64),
      ...endAt(-1, bytesOf((official[3] as OfficialMessage).message_id.serialized_b64)),
    }),
    ids(official.slice(1, 4)),
  );
});

/** A 4-partition topic, batched, and each partition as the official reader reads it. */
async function partitioned(label: string) {
  const topic = freshTopic(label);
  await adminPut(`${topicPath(topic)}/partitions`, 4);
  await produce(topic, { count: 800, keys: 40, size: 20, batchMaxMessages: 10 });
  const official = await Promise.all(
    [0, 1, 2, 3].map((p) => readOfficial(`${topic}-partition-${p}`)),
  );
  return { topic, official };
}

/** Row ids by partition topic, from rows in stream order. */
function byPartition(rows: Record<string, unknown>[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const row of rows) {
    const key = row.__topic as string;
    out.set(key, [...(out.get(key) ?? []), idOf(row)]);
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

test('4 partitions: start and end positions per partition read each official slice', async (t) => {
  const { topic, official } = await partitioned('rs-pos-4p');
  const cut = (p: number) => {
    const n = (official[p] as OfficialMessage[]).length;
    return { after: Math.floor(n / 5) + p, last: Math.floor((n * 4) / 5) - p };
  };
  const start_positions = {
    positions: official.map((messages, p) => ({
      partition: p,
      after_message_id: bytesOf(
        (messages[cut(p).after] as OfficialMessage).message_id.serialized_b64,
      ),
    })),
  };
  // Partition 3 left out of the ends: read to its last message at open.
  const end_positions = {
    ends: [0, 1, 2].map((p) => ({
      partition: p,
      last_message_id: bytesOf(
        ((official[p] as OfficialMessage[])[cut(p).last] as OfficialMessage).message_id
          .serialized_b64,
      ),
    })),
  };
  const result = await collect(
    gw,
    { topic, start_positions, end_positions },
    { timeoutMs: 30_000 },
  );
  t.is(result.status.code, 0, result.status.details);
  const got = byPartition(allRows(result));
  for (const [p, messages] of official.entries()) {
    const { after, last } = cut(p);
    const expected = messages.slice(after + 1, p === 3 ? messages.length : last + 1);
    t.true(expected.length > 0);
    t.deepEqual(got.get(`${topic}-partition-${p}`) ?? [], ids(expected), `partition ${p}`);
  }
});

test('start_positions read exactly what the equivalent resume token reads', async (t) => {
  const { topic, official } = await partitioned('rs-pos-token');
  const first = await collect(gw, { topic, at_open: {}, batching: { max_rows: 100 } });
  t.is(first.status.code, 0, first.status.details);
  const token = first.batches[3]?.resumeToken as Buffer;
  const positions = [...decodeResumeToken(topic, token)].map(([partition, p]) => ({
    partition,
    ...positionFields(p),
  }));
  t.is(positions.length, 4);
  const rows = async (request: Record<string, unknown>) => {
    const result = await collect(gw, { topic, at_open: {}, ...request });
    t.is(result.status.code, 0, result.status.details);
    return allRows(result);
  };
  const byToken = await rows({ resume_token: token });
  const byPositions = await rows({ start_positions: { positions } });
  t.true(byToken.length > 0);
  // Partitions interleave freely: the same rows in the same order per partition.
  t.deepEqual(byPartition(byPositions), byPartition(byToken));
  const total = official.reduce((n, m) => n + m.length, 0);
  // At most 100 rows a batch: fewer when the history's readers idle on a loaded machine.
  const before = first.batches.slice(0, 4).reduce((n, b) => n + b.rows.length, 0);
  t.is(byToken.length + before, total);
});

test('a resume token continues a stream with end positions up to the same end', async (t) => {
  const topic = freshTopic('rs-pos-resume');
  await produce(topic, { count: 500, size: 20, batchMaxMessages: 10 });
  const official = await readOfficial(topic);
  const end = endAt(-1, bytesOf((official[401] as OfficialMessage).message_id.serialized_b64));
  const cut = await collect(
    gw,
    { topic, ...end, batching: { max_rows: 70 } },
    { stopWhen: (r) => r.batches.length >= 2 },
  );
  const before = allRows(cut).map(idOf);
  // (History batches also go out when the reader idles: two are 140 rows at most.)
  t.true(before.length > 0 && before.length <= 140);
  const token = cut.batches.at(-1)?.resumeToken as Buffer;
  const after = await idsRead(t, { topic, resume_token: token, ...end });
  t.deepEqual([...before, ...after], ids(official.slice(0, 402)));
  // A token from after the end: nothing more.
  const whole = await collect(gw, { topic, ...end });
  const last = whole.batches.at(-1)?.resumeToken as Buffer;
  t.deepEqual(await idsRead(t, { topic, resume_token: last, ...end }), []);
});

test('an end not written yet waits in the tail, then ends with OK', async (t) => {
  const topic = freshTopic('rs-pos-wait');
  const written = await produce(topic, { count: 10, batching: false });
  const lastId = written.at(-1) as { ledger: number; entry: number };
  // Three entries on, in the same ledger: not written yet.
  const end = new MessageId(lastId.ledger, lastId.entry + 3).serialize();
  const late = new Promise((resolve) => setTimeout(resolve, 1000)).then(() =>
    produce(topic, { count: 5, batching: false }),
  );
  const result = await collect(gw, { topic, ...endAt(-1, end) }, { timeoutMs: 30_000 });
  const more = await late;
  t.is(result.status.code, 0, result.status.details);
  t.deepEqual(
    allRows(result).map(idOf),
    [...written, ...more.slice(0, 3)].map((id) => id.serialized_b64),
  );
  t.true(result.batches.some((b) => b.phase === 'PHASE_TAIL'));
});

test('an end position in another topic ledger: INVALID_ARGUMENT before any row', async (t) => {
  const topic = freshTopic('rs-pos-foreign');
  const other = freshTopic('rs-pos-other');
  await produce(topic, { count: 5, batching: false });
  const [foreignId] = await produce(other, { count: 5, batching: false });
  // The other topic's ledger is newer than this one's: another topic's, not retention's.
  await produce(topic, { count: 5, batching: false });
  await adminPut(`${topicPath(topic)}/unload`);
  await produce(topic, { count: 5, batching: false });
  const result = await collect(gw, {
    topic,
    ...endAt(-1, bytesOf((foreignId as { serialized_b64: string }).serialized_b64)),
  });
  t.is(result.status.code, 3, result.status.details); // INVALID_ARGUMENT
  t.regex(result.status.details, /has no ledger/);
  t.is(allRows(result).length, 0);
});
