/** Start and end modes by publish time, faults during a stream, and vanishing clients. */
import test from 'ava';
import { allRows, collect, idOf, useGateway } from './support/gateway.ts';
import { adminPut, freshTopic, produce, readOfficial, topicPath } from './support/pulsar.ts';

const gw = useGateway(test);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const timestamp = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

test('start_publish_time and end_publish_time select exactly the messages in between', async (t) => {
  const topic = freshTopic('rs-time');
  for (let i = 0; i < 4; i++) {
    await produce(topic, { count: 50, size: 10 });
    await sleep(30);
  }
  const official = await readOfficial(topic);
  const from = official[60]?.publish_time as number;
  const to = official[160]?.publish_time as number;
  const expected = official.filter((m) => m.publish_time >= from && m.publish_time < to);
  t.true(expected.length > 0 && expected.length < 200);
  const result = await collect(gw, {
    topic,
    start_publish_time: timestamp(from),
    end_publish_time: timestamp(to),
  });
  t.is(result.status.code, 0, result.status.details);
  t.deepEqual(
    allRows(result).map(idOf),
    expected.map((m) => m.message_id.serialized_b64),
  );
});

test('a start time after every message: no history, the seam at once, then the tail', async (t) => {
  const topic = freshTopic('rs-time-future');
  await produce(topic, { count: 20 });
  const result = await collect(
    gw,
    { topic, start_publish_time: timestamp(Date.now() + 1000) },
    { stopWhen: (r) => r.seamAt !== undefined, timeoutMs: 10_000 },
  );
  t.is(result.seamAt, 0);
  t.is(allRows(result).length, 0);
});

test('an end time in the future waits in the tail, then ends with OK', async (t) => {
  const topic = freshTopic('rs-time-wait');
  await produce(topic, { count: 10 });
  // The end leaves room for the official producer to start even on a busy machine.
  const end = Date.now() + 6000;
  const late = sleep(500).then(() => produce(topic, { count: 5 }));
  const result = await collect(
    gw,
    { topic, end_publish_time: timestamp(end) },
    { timeoutMs: 20_000 },
  );
  await late;
  t.is(result.status.code, 0, result.status.details);
  t.is(allRows(result).length, 15);
  t.true(Date.now() >= end);
});

test('topic unloads during history and tail: no gap, no duplicate', async (t) => {
  const topic = freshTopic('rs-unload');
  const unload = () => adminPut(`${topicPath(topic)}/unload`);
  const history = await produce(topic, { count: 3000, batchMaxMessages: 10, size: 20 });
  let historyUnloads = 0;
  // In the tail: produce, unload while the stream waits, three times. (Unloads stay out of
  // the producer's way: the official Python client can abort when unloaded mid-close.)
  let tail: Promise<string[]> | undefined;
  const tailScript = async () => {
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      ids.push(
        ...(await produce(topic, { count: 100, batching: false, size: 20 })).map(
          (id) => id.serialized_b64,
        ),
      );
      await unload();
    }
    return ids;
  };
  const result = await collect(
    gw,
    { topic, batching: { max_rows: 200, max_latency: { nanos: 5_000_000 } } },
    {
      onBatch: (b) => {
        if (b.phase === 'PHASE_HISTORY' && historyUnloads < 4 && Math.random() < 0.4) {
          historyUnloads++;
          void unload();
        }
      },
      stopWhen: (r) => {
        if (r.seamAt !== undefined) tail ??= tailScript();
        return allRows(r).length >= 3300;
      },
      timeoutMs: 60_000,
    },
  );
  const tailIds = (await tail) ?? [];
  t.true(historyUnloads > 0, `${historyUnloads} unloads during history`);
  const got = allRows(result).map(idOf);
  const expected = [...history.map((id) => id.serialized_b64), ...tailIds];
  const firstDiff = got.findIndex((id, i) => id !== expected[i]);
  t.is(firstDiff, -1, `first difference at row ${firstDiff}`);
  t.is(got.length, expected.length);
});

test.serial(
  'a client that vanishes mid-stream frees its stream; the gateway keeps serving',
  async (t) => {
    const topic = freshTopic('rs-vanish');
    await produce(topic, { count: 5000, size: 200 });
    for (let i = 0; i < 5; i++) {
      const cut = await collect(
        gw,
        { topic, batching: { max_rows: 100 } },
        { stopWhen: (r) => r.batches.length >= 2 },
      );
      t.is(cut.status.code, 1);
    }
    for (let i = 0; i < 50 && gw.gateway.activeStreams > 0; i++) await sleep(50);
    t.is(gw.gateway.activeStreams, 0, 'cancelled streams are released');
    const whole = await collect(gw, { topic, at_open: {} });
    t.is(allRows(whole).length, 5000);
  },
);
