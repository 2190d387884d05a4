/**
 * Bad input against the real standalone: each ends in a typed PulsarError that says what
 * happened, and the process goes on. (Misbehaving peers: test/unit/pulsar-errors.test.ts.)
 */
import test from 'ava';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { Reader } from '../server/pulsar/reader.ts';
import { adminGet, ensurePulsar, freshTopic, produce, pulsar } from './support/pulsar.ts';
import { testClient } from './support/seam-reader.ts';

const client = testClient();
test.before(ensurePulsar);
test.after.always(() => client.close());

test('reading a topic that does not exist fails with TopicNotFound and does not create it', async (t) => {
  const topic = freshTopic('missing');
  const error = await t.throwsAsync(Reader.open(client, { topic }));
  t.is((error as { kind?: string }).kind, 'TopicNotFound');
  const metadataError = await t.throwsAsync(client.partitions(topic));
  t.regex(
    metadataError?.message ?? '',
    /^partition metadata of persistent:\/\/public\/default\/missing-\S+: TopicNotFound/,
  );
  const topics = await adminGet<string[]>('persistent/public/default');
  t.false(topics.includes(topic), 'the read did not create the topic');
});

test('malformed topic names are refused before anything is sent', async (t) => {
  for (const topic of ['', 'a/b', 'kafka://x/y/z', 'persistent://public/default/has space']) {
    await t.throwsAsync(Reader.open(client, { topic }), { name: 'InvalidTopicNameError' }, topic);
  }
});

test('the admin client lists ledgers with entries, sizes and close times', async (t) => {
  const topic = freshTopic('admin-ledgers');
  await produce(topic, { count: 2300, batching: false, size: 10 });
  const admin = new PulsarAdmin({ webServiceUrl: pulsar.webUrl });
  const ledgers = await admin.ledgers(topic);
  t.deepEqual(
    ledgers.map((l) => [l.entries, l.open]),
    [
      [1000, false],
      [1000, false],
      [300, true],
    ],
  );
  t.true(ledgers.every((l) => l.size > 0));
  t.true(ledgers.slice(0, 2).every((l) => typeof l.closedAt === 'number' && l.closedAt > 1.7e12));
  const last = await admin.lastMessageId(topic);
  t.deepEqual([last.ledgerId, last.entryId], [ledgers[2]?.ledgerId, 299]);
});
