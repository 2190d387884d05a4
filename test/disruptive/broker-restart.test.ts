/** Seam's reader survives a broker restart mid-read: it reconnects and resumes exactly. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { readThroughFaults } from '../support/faults.ts';
import { ensurePulsar, freshTopic, produce } from '../support/pulsar.ts';
import { testClient } from '../support/seam-reader.ts';

const run = promisify(execFile);
const pulsarSh = fileURLToPath(new URL('../../pulsar/pulsar.sh', import.meta.url));
const client = testClient();
test.before(ensurePulsar);
test.after.always(() => client.close());

test('reading a backlog across a broker restart: complete, in order, no duplicate', async (t) => {
  const topic = freshTopic('restart');
  const count = 8000;
  const ids = await produce(topic, { count, batchMaxMessages: 20, size: 30 });
  let restarts = 0;
  const { messages, reconnects } = await readThroughFaults(
    client,
    topic,
    count,
    3000,
    async (readSoFar) => {
      if (restarts > 0) return;
      restarts++;
      t.log(`restarting Pulsar after ${readSoFar} messages`);
      await run('bash', [pulsarSh, 'restart'], { timeout: 240_000 });
    },
  );
  t.is(restarts, 1);
  t.true(reconnects >= 1);
  t.deepEqual(
    messages.map((m) => m.messageId.serialize().toString('base64')),
    ids.map((id) => id.serialized_b64),
  );
});
