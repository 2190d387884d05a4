/** Seam's reader keeps its place when the broker unloads the topic under it. */
import test from 'ava';
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
