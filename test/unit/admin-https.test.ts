/**
 * The admin client over https:// with the CA --pulsar-tls-ca names, against a local
 * https server presenting a certificate that the test CA signed; and its cap on response
 * bodies. No broker needed.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { PulsarAdmin } from '../../server/pulsar/admin.ts';
import { PulsarError } from '../../server/pulsar/errors.ts';
import { makeCertificates, type TestCertificates } from '../support/certificates.ts';

let certificates: TestCertificates;
let server: Server;
let url: string;
const seen: string[] = [];

test.before(async () => {
  certificates = await makeCertificates({});
  server = createServer(
    {
      cert: readFileSync(certificates.file('server.pem')),
      key: readFileSync(certificates.file('server.key')),
    },
    (request, response) => {
      seen.push(`${request.url} ${request.headers.authorization ?? ''}`);
      if (request.url?.includes('/huge/')) {
        // Chunked, no length announced: the cap must hold while reading.
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        response.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < 20; i++) response.write(chunk);
        response.end('{}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"partitions":3}');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.always(() => {
  server?.close();
  certificates?.remove();
});

test('https:// with the CA reads; without it the certificate is refused', async (t) => {
  const ca = readFileSync(certificates.file('ca.pem'));
  const admin = new PulsarAdmin({ webServiceUrl: url, ca, authorization: () => 'Bearer t0k' });
  t.is(await admin.partitions('persistent://public/default/x'), 3);
  t.true(seen.includes('/admin/v2/persistent/public/default/x/partitions Bearer t0k'));
  const untrusting = new PulsarAdmin({ webServiceUrl: url });
  const error = await t.throwsAsync(untrusting.partitions('persistent://public/default/x'), {
    instanceOf: PulsarError,
  });
  t.regex(error?.message ?? '', /certificate/);
});

test('a response body over the cap is refused, not buffered', async (t) => {
  const admin = new PulsarAdmin({
    webServiceUrl: url,
    ca: readFileSync(certificates.file('ca.pem')),
    maxResponseBytes: 4 * 1024 * 1024,
  });
  const error = await t.throwsAsync(admin.partitions('persistent://public/huge/x'), {
    instanceOf: PulsarError,
  });
  t.regex(error?.message ?? '', /larger than 4194304 bytes/);
  t.false(error?.retriable);
});
