/** Retention, limits, health and graceful shutdown, through a real gateway. */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { allRows, collect, startGateway } from './support/gateway.ts';
import { adminPost, ensurePulsar, freshTopic, produce, topicPath } from './support/pulsar.ts';

test.before(ensurePulsar);

test('resuming into segments that retention deleted is DATA_LOSS, not a silent skip', async (t) => {
  const gw = await startGateway();
  try {
    const topic = freshTopic('ops-retention');
    await produce(topic, { count: 2500, batching: false, size: 10 });
    const first = await collect(
      gw,
      { topic, at_open: {}, batching: { max_rows: 100 } },
      { stopWhen: (r) => r.batches.length >= 1 },
    );
    const token = first.batches[0]?.resumeToken;
    t.truthy(token);
    // Keep nothing, then trim: the closed ledgers go.
    await adminPost(`${topicPath(topic)}/retention`, {
      retentionTimeInMinutes: 0,
      retentionSizeInMB: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await adminPost(`${topicPath(topic)}/trim`);
    const resumed = await collect(gw, { topic, resume_token: token, at_open: {} });
    t.is(resumed.status.code, grpc.status.DATA_LOSS, resumed.status.details);
    t.regex(resumed.status.details, /retention has deleted/);
    const fromEarliest = await collect(gw, { topic, at_open: {} });
    t.is(fromEarliest.status.code, 0, 'reading what remains still works');
    t.is(allRows(fromEarliest).length, 500);
  } finally {
    await gw.close();
  }
});

test('streams beyond the limit get RESOURCE_EXHAUSTED', async (t) => {
  const gw = await startGateway({ maxConcurrentStreams: 2 });
  try {
    const topic = freshTopic('ops-limit');
    await produce(topic, { count: 10 });
    const open = [1, 2].map(() =>
      collect(gw, { topic }, { stopWhen: (r) => r.heartbeats.length >= 2, timeoutMs: 10_000 }),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const third = await collect(gw, { topic, at_open: {} });
    t.is(third.status.code, grpc.status.RESOURCE_EXHAUSTED);
    t.regex(third.status.details, /2 streams at most/);
    await Promise.all(open);
  } finally {
    await gw.close();
  }
});

test('health answers SERVING; on shutdown, open tails end with OK and a resume token', async (t) => {
  const gw = await startGateway();
  const topic = freshTopic('ops-shutdown');
  await produce(topic, { count: 20 });
  const health = new grpc.Client(`127.0.0.1:${gw.gateway.port}`, grpc.credentials.createInsecure());
  const check = () =>
    new Promise<number>((resolve, reject) => {
      health.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (arg: Buffer) => arg,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0x00]), // HealthCheckRequest { service: "" }
        (error, response) => (error ? reject(error) : resolve(response?.[1] ?? -1)), // status field value
      );
    });
  t.is(await check(), 1, 'SERVING');
  // Shut down once the history is out and the stream waits in the tail (not after a fixed
  // sleep, which a loaded machine can outlast).
  let received = 0;
  let inTail: () => void = () => {};
  const tailReached = new Promise<void>((resolve) => {
    inTail = resolve;
  });
  const tail = collect(
    gw,
    { topic },
    {
      timeoutMs: 20_000,
      onBatch: (batch) => {
        received += batch.rows.length;
        if (received >= 20) inTail();
      },
    },
  );
  await tailReached;
  await gw.close();
  const result = await tail;
  t.is(result.status.code, grpc.status.OK, result.status.details);
  t.truthy(result.status.resumeToken, 'the trailer carries where to resume');
  t.is(allRows(result).length, 20);
  health.close();
});
