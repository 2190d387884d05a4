/**
 * The seam under load: an official producer publishes continuously to a 4-partition topic
 * while streams open at random moments and read from earliest into the tail. For every
 * stream and partition, the rows are exactly the partition's messages from the first on,
 * with no gap and no duplicate across the seam.
 */
import test from 'ava';
import { allRows, collect, idOf, useGateway } from './support/gateway.ts';
import { adminPut, freshTopic, produce, readOfficial, topicPath } from './support/pulsar.ts';

const gw = useGateway(test);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('streams opened at random moments while producing: contiguous per partition across the seam', async (t) => {
  const topic = freshTopic('rs-load');
  await adminPut(`${topicPath(topic)}/partitions`, 4);
  await produce(topic, { count: 2000, keys: 40, size: 30 });
  // 8000 more over ~8 s while the streams run.
  const producing = produce(topic, {
    count: 8000,
    keys: 40,
    size: 30,
    rate: 1000,
    batchMaxMessages: 20,
  });
  const streams = Array.from({ length: 8 }, async (_, i) => {
    await sleep(Math.random() * 5000);
    const readFor = 500 + Math.random() * 2500;
    let seamSeenAt = 0;
    const result = await collect(
      gw,
      { topic, batching: { max_latency: { nanos: 5_000_000 } } },
      {
        stopWhen: (r) => {
          if (r.seamAt !== undefined && !seamSeenAt) seamSeenAt = Date.now();
          return seamSeenAt > 0 && Date.now() - seamSeenAt > readFor;
        },
        timeoutMs: 60_000,
      },
    );
    return { i, result };
  });
  const results = await Promise.all(streams);
  await producing;
  const official = await readOfficial(topic);
  t.is(official.length, 10_000);
  const byPartition = new Map<string, string[]>();
  for (const m of official)
    byPartition.set(m.topic, [...(byPartition.get(m.topic) ?? []), m.message_id.serialized_b64]);
  let tailStreams = 0;
  for (const { i, result } of results) {
    t.not(result.seamAt, undefined, `stream ${i} reached the seam`);
    const read = new Map<string, string[]>();
    for (const row of allRows(result))
      read.set(row.__topic as string, [...(read.get(row.__topic as string) ?? []), idOf(row)]);
    for (const [partition, ids] of read) {
      const expected = (byPartition.get(partition) ?? []).slice(0, ids.length);
      t.deepEqual(
        ids,
        expected,
        `stream ${i}, ${partition}: ${ids.length} rows, contiguous from the first`,
      );
    }
    const seamAt = result.seamAt ?? 0;
    t.true(
      result.batches.slice(0, seamAt).every((b) => b.phase === 'PHASE_HISTORY'),
      `stream ${i}: history before the seam`,
    );
    t.true(
      result.batches.slice(seamAt).every((b) => b.phase === 'PHASE_TAIL'),
      `stream ${i}: tail after the seam`,
    );
    if (result.batches.length > seamAt) tailStreams++;
  }
  // The producer runs ~8 s and streams open within 5 s, so most see live rows.
  t.true(tailStreams >= 4, `${tailStreams} of 8 streams read tail rows`);
});
