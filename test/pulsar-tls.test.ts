/** Reading over TLS (pulsar+ssl://) from the standalone's TLS port, with its test CA. */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { PulsarClient } from '../server/pulsar/client.ts';
import { Reader } from '../server/pulsar/reader.ts';
import { ensurePulsar, freshTopic, produce, pulsar } from './support/pulsar.ts';
import { readCount } from './support/seam-reader.ts';

test.before(ensurePulsar);

test('a reader over TLS reads what the official producer wrote', async (t) => {
  const topic = freshTopic('tls');
  const ids = await produce(topic, { count: 300, keys: 3 });
  const client = new PulsarClient({
    serviceUrl: pulsar.tlsServiceUrl,
    tls: { ca: readFileSync(pulsar.caFile) },
  });
  try {
    const messages = await readCount(client, { topic }, 300);
    t.deepEqual(
      messages.map((m) => m.messageId.serialize().toString('base64')),
      ids.map((id) => id.serialized_b64),
    );
  } finally {
    await client.close();
  }
});

test('a client that does not trust the CA is refused, without retrying', async (t) => {
  const client = new PulsarClient({ serviceUrl: pulsar.tlsServiceUrl });
  try {
    const error = await t.throwsAsync(Reader.open(client, { topic: freshTopic('tls-untrusted') }));
    t.is((error as { kind?: string }).kind, 'ConnectionClosed');
    t.false((error as { retriable?: boolean }).retriable);
    t.regex(error?.message ?? '', /certificate/);
  } finally {
    await client.close();
  }
});
