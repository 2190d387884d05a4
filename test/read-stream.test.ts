/**
 * ReadStream end to end: the real gateway on a free port, a real Pulsar, data from the
 * official producer, and every row compared with what the official reader returns.
 */
import test from 'ava';
import { allRows, collect, idOf, startGateway, useGateway } from './support/gateway.ts';
import { freshTopic, type MessageSpec, produce, readOfficial } from './support/pulsar.ts';

const gw = useGateway(test);

const grpcCode = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  DATA_LOSS: 15,
};

function messages(count: number): MessageSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    value_text: `row ${i}`,
    ...(i % 2 ? { key: `k${i % 5}` } : {}),
    ...(i % 3 ? { properties: { n: String(i) } } : {}),
    ...(i % 4 ? { event_time: 1_700_000_000_000 + i } : {}),
  }));
}

test('at_open: exactly what the topic held, every column equal to the official reader', async (t) => {
  const topic = freshTopic('rs-at-open');
  await produce(topic, { messages: messages(700), batchMaxMessages: 64 });
  const official = await readOfficial(topic);
  const result = await collect(gw, { topic, at_open: {} });
  t.is(result.status.code, grpcCode.OK, result.status.details);
  t.is(result.seamAt, result.batches.length, 'the seam comes after every history batch');
  t.true(result.batches.every((b) => b.phase === 'PHASE_HISTORY'));
  const rows = allRows(result);
  t.is(rows.length, official.length);
  rows.forEach((row, i) => {
    const m = official[i];
    if (!m) return;
    t.is(idOf(row), m.message_id.serialized_b64);
    t.is(Buffer.from(row.value as Uint8Array).toString('base64'), m.value_b64);
    t.is(row.__key, m.key);
    t.is(row.__topic, m.topic);
    t.is(row.__publishTime, m.publish_time);
    t.is(row.__eventTime, m.event_time);
    t.deepEqual(row.__messageProperties, m.properties);
  });
  t.deepEqual(
    result.schema?.fields.map((f) => f.name),
    [
      'value',
      '__key',
      '__topic',
      '__messageId',
      '__publishTime',
      '__eventTime',
      '__messageProperties',
    ],
  );
});

test('follow: history, the seam, then live rows as they are published', async (t) => {
  const topic = freshTopic('rs-follow');
  const before = await produce(topic, { count: 300, size: 20 });
  let produced: Promise<unknown> | undefined;
  const result = await collect(
    gw,
    { topic, batching: { max_latency: { nanos: 5_000_000 } } },
    {
      stopWhen: (r) => {
        if (r.seamAt !== undefined && !produced)
          produced = produce(topic, { count: 50, size: 20, batching: false });
        return allRows(r).length >= 350;
      },
      timeoutMs: 30_000,
    },
  );
  const after = await produced;
  t.is(result.status.code, grpcCode.CANCELLED, result.status.details);
  const rows = allRows(result);
  const expected = [...before, ...(after as typeof before)].map((id) => id.serialized_b64);
  t.deepEqual(rows.map(idOf), expected);
  const seamAt = result.seamAt ?? -1;
  t.true(result.batches.slice(0, seamAt).every((b) => b.phase === 'PHASE_HISTORY'));
  t.true(result.batches.slice(seamAt).every((b) => b.phase === 'PHASE_TAIL'));
  t.is(
    result.batches.slice(0, seamAt).reduce((n, b) => n + b.rows.length, 0),
    300,
  );
});

test('an idle tail sends heartbeats with a resume token', async (t) => {
  const topic = freshTopic('rs-heartbeat');
  await produce(topic, { count: 5 });
  const result = await collect(
    gw,
    { topic, batching: { heartbeat_interval: { nanos: 200_000_000 } } },
    { stopWhen: (r) => r.heartbeats.length >= 2, timeoutMs: 10_000 },
  );
  t.is(result.heartbeats.length, 2);
  t.true(((result.heartbeats[0]?.resume_token as Buffer | undefined)?.length ?? 0) > 0);
  t.is(allRows(result).length, 5);
});

test('resume: cut anywhere and resumed with the last token, the union is the topic exactly', async (t) => {
  const topic = freshTopic('rs-resume');
  const ids = (await produce(topic, { count: 2000, batchMaxMessages: 37, size: 10 })).map(
    (id) => id.serialized_b64,
  );
  const seen: string[] = [];
  let token: Buffer | undefined;
  for (let round = 0; round < 30 && seen.length < ids.length; round++) {
    const cutAfter = 1 + Math.floor(Math.random() * 4);
    const request = {
      topic,
      at_open: {},
      batching: { max_rows: 50 + Math.floor(Math.random() * 150) },
      ...(token ? { resume_token: token } : {}),
    };
    const result = await collect(gw, request, { stopWhen: (r) => r.batches.length >= cutAfter });
    for (const b of result.batches) seen.push(...b.rows.map(idOf));
    token = result.batches.at(-1)?.resumeToken ?? token;
  }
  t.deepEqual(seen, ids);
});

test('bad requests get a clear status and the gateway keeps serving', async (t) => {
  const cases: [Record<string, unknown>, number, RegExp][] = [
    [{ topic: '' }, grpcCode.INVALID_ARGUMENT, /topic is required/],
    [{ topic: 'kafka://a/b/c' }, grpcCode.INVALID_ARGUMENT, /persistent/],
    [{ topic: 'a/b' }, grpcCode.INVALID_ARGUMENT, /tenant\/namespace\/topic/],
    [{ topic: freshTopic('rs-missing') }, grpcCode.NOT_FOUND, /not ?found/i],
    [
      { topic: 'seam-hello', message_id: Buffer.from('nonsense') },
      grpcCode.INVALID_ARGUMENT,
      /message_id/,
    ],
    [
      { topic: 'seam-hello', resume_token: Buffer.from('garbage token') },
      grpcCode.INVALID_ARGUMENT,
      /resume token/,
    ],
    [
      { topic: 'seam-hello', columns: ['value', 'nope'] },
      grpcCode.INVALID_ARGUMENT,
      /unknown column.*nope/,
    ],
    [
      { topic: 'seam-hello', batching: { max_rows: 10_000_000 } },
      grpcCode.INVALID_ARGUMENT,
      /maxRows/,
    ],
    [
      { topic: 'seam-hello', columns: ['x'.repeat(100_000)] },
      grpcCode.INVALID_ARGUMENT,
      /column names are 1024 characters at most/,
    ],
    [
      { topic: 'seam-hello', columns: Array.from({ length: 5000 }, (_, i) => `c${i}`) },
      grpcCode.INVALID_ARGUMENT,
      /1000 columns at most/,
    ],
  ];
  await produce('persistent://public/default/seam-hello', { count: 1 });
  for (const [request, code, details] of cases) {
    const result = await collect(gw, request);
    t.is(result.status.code, code, `${JSON.stringify(request)} → ${result.status.details}`);
    t.regex(result.status.details, details);
  }
  const ok = await collect(gw, { topic: 'seam-hello', at_open: {} });
  t.is(ok.status.code, grpcCode.OK);
});

test('a request over the transport limit is refused; the gateway keeps serving', async (t) => {
  // A gateway of its own: grpc-js tears down the HTTP/2 session a too-large message came on,
  // and with it the other calls on that connection.
  const other = await startGateway();
  const topic = freshTopic('rs-oversized');
  await produce(topic, { count: 3 });
  try {
    const result = await collect(other, { topic: 'x'.repeat(5 * 1024 * 1024) });
    t.not(result.status.code, grpcCode.OK);
    t.regex(result.status.details, /larger than max|Protocol error|RST_STREAM/);
    // The same gateway serves the next call (the client reconnects).
    const ok = await collect(other, { topic, at_open: {} });
    t.is(ok.status.code, grpcCode.OK, ok.status.details);
    t.is(allRows(ok).length, 3);
  } finally {
    await other.close();
  }
});

test('a resume token from another topic is refused', async (t) => {
  const a = freshTopic('rs-token-a');
  const b = freshTopic('rs-token-b');
  await produce(a, { count: 10 });
  await produce(b, { count: 10 });
  const first = await collect(gw, { topic: a, at_open: {} });
  const token = first.batches.at(-1)?.resumeToken;
  t.truthy(token);
  const result = await collect(gw, { topic: b, resume_token: token });
  t.is(result.status.code, grpcCode.INVALID_ARGUMENT);
  t.regex(result.status.details, /belongs to .*rs-token-a/);
});

test('a message id from another topic is refused, with no row', async (t) => {
  // B's ledgers are older than A's: ledger ids grow across the cluster.
  const older = freshTopic('rs-id-older');
  const idsOlder = await produce(older, { count: 10 });
  const a = freshTopic('rs-id-a');
  const idsA = await produce(a, { count: 10 });
  const fromA = Buffer.from(idsA[3]?.serialized_b64 ?? '', 'base64');
  const ownId = await collect(gw, { topic: a, message_id: fromA, at_open: {} });
  t.is(allRows(ownId).length, 7, 'on its own topic the id starts the stream');
  const newerId = await collect(gw, { topic: older, message_id: fromA, at_open: {} });
  t.is(newerId.status.code, grpcCode.INVALID_ARGUMENT);
  t.regex(newerId.status.details, /has no ledger .*another topic/);
  t.is(newerId.batches.length, 0);
  // An id older than every ledger of the topic: the topic still holds its first message
  // ever (the standalone adds message indexes), so nothing was deleted: another topic's id.
  const fromOlder = Buffer.from(idsOlder[3]?.serialized_b64 ?? '', 'base64');
  const olderId = await collect(gw, { topic: a, message_id: fromOlder, at_open: {} });
  t.is(olderId.status.code, grpcCode.INVALID_ARGUMENT);
  t.regex(olderId.status.details, /has no ledger .*another topic/);
  t.is(olderId.batches.length, 0);
});

test('projection: only the asked columns, in the topic order', async (t) => {
  const topic = freshTopic('rs-columns');
  await produce(topic, { count: 10, keys: 2 });
  const result = await collect(gw, { topic, at_open: {}, columns: ['__key', 'value'] });
  t.deepEqual(
    result.schema?.fields.map((f) => f.name),
    ['value', '__key'],
  );
  t.is(allRows(result).length, 10);
});
