/**
 * The client against peers that are not there or answer wrongly: fake brokers on free
 * loopback ports, no Pulsar needed.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import test from 'ava';
import { PulsarClient } from '../../server/pulsar/client.ts';
import type { PulsarError } from '../../server/pulsar/errors.ts';
import { makeCertificates } from '../support/certificates.ts';
import { startFakeBroker } from './support/fake-broker.ts';

/** A loopback URL where nothing listens. */
async function deadUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `pulsar://127.0.0.1:${port}`;
}

test('nothing listening: retried within the operation timeout, then ConnectionClosed, retriable, without the broker address', async (t) => {
  const url = await deadUrl();
  const lonely = new PulsarClient({ serviceUrl: url, operationTimeoutMs: 500 });
  const started = Date.now();
  const error = (await t.throwsAsync(lonely.partitions('x'))) as PulsarError;
  t.true(Date.now() - started >= 300, 'it retried');
  t.is(error.kind, 'ConnectionClosed');
  t.true(error.retriable);
  t.regex(
    error.message,
    /did not answer within the operation timeout: connection to the broker failed: ECONNREFUSED/,
  );
  // What callers see names no internal address; the logs get it from `broker`.
  t.false(error.message.includes(new URL(url).port), error.message);
  t.is((error.cause as PulsarError).broker, url);
  await lonely.close();
});

test('an aborted signal stops the retries at once', async (t) => {
  const lonely = new PulsarClient({ serviceUrl: await deadUrl() });
  const started = Date.now();
  const error = (await t.throwsAsync(
    lonely.partitions('x', { signal: AbortSignal.timeout(300) }),
  )) as PulsarError;
  t.is(error.kind, 'Aborted');
  t.true(Date.now() - started < 5_000);
  await lonely.close();
});

test('a lookup that redirects a TLS client to plain text is refused: TLS is never downgraded', async (t) => {
  const certificates = await makeCertificates({});
  const broker = await startFakeBroker({
    tls: {
      cert: readFileSync(certificates.file('server.pem')),
      key: readFileSync(certificates.file('server.key')),
    },
    lookup: () => ({ brokerServiceUrlTls: 'pulsar://127.0.0.1:1' }),
  });
  const client = new PulsarClient({
    serviceUrl: broker.url,
    tls: { ca: readFileSync(certificates.file('ca.pem')) },
  });
  try {
    const error = (await t.throwsAsync(
      client.lookup('persistent://public/default/x'),
    )) as PulsarError;
    t.regex(
      error.message,
      /without TLS while the service URL uses pulsar\+ssl:\/\/; Seam never downgrades TLS/,
    );
    t.false(error.retriable);
  } finally {
    await client.close();
    await broker.close();
    certificates.remove();
  }
});
