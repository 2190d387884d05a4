/** Seam's reader keeps its place when the broker unloads the topic under it. */
import test from 'ava';
import { Reader, readerStats } from '../server/pulsar/reader.ts';
import { readThroughFaults } from './support/faults.ts';
import { adminPut, ensurePulsar, freshTopic, produce, topicPath } from './support/pulsar.ts';
import { testClient } from './support/seam-reader.ts';

const client = testClient();
test.before(ensurePulsar);
test.after.always(() => client.close());

for (const batching of [true, false]) {
  test(`reading a backlog across topic unloads (batching ${batching}): complete, in order, no duplicate`, async (t) => {
    const topic = freshTopic('unloads');
    const count = 10_000;
    const ids = await produce(topic, { count, batching, batchMaxMessages: 10, size: 20 });
    let unloads = 0;
    const { messages, reconnects } = await readThroughFaults(
      client,
      topic,
      count,
      850,
      async () => {
        await adminPut(`${topicPath(topic)}/unload`);
        unloads++;
      },
    );
    t.true(unloads >= 5, `${unloads} unloads`);
    t.true(
      reconnects >= unloads - 1,
      `the reader resubscribed ${reconnects} times for ${unloads} unloads`,
    );
    t.is(messages.length, count);
    t.deepEqual(
      messages.map((m) => m.messageId.serialize().toString('base64')),
      ids.map((id) => id.serialized_b64),
    );
  });
}

test('closing its client ends a reader: receive rejects, and it stops resubscribing', async (t) => {
  const topic = freshTopic('client-closed');
  await produce(topic, { count: 5 });
  const own = testClient();
  const reader = await Reader.open(own, { topic });
  t.is((await reader.receive()).length, 5);
  const before = readerStats().readers;
  const waiting = reader.receive();
  await own.close();
  const stillWaiting = new Promise((_, reject) =>
    setTimeout(() => reject(new Error('receive still waiting 5 s after the close')), 5_000),
  );
  const error = await t.throwsAsync(Promise.race([waiting, stillWaiting]));
  t.regex(error?.message ?? '', /client is closed/);
  // A reader still resubscribing would stay open, retrying with back-off for good.
  const deadline = Date.now() + 5_000;
  while (readerStats().readers >= before && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.is(readerStats().readers, before - 1);
});
