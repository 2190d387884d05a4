/**
 * Transport security of the gRPC port, against the test standalone: TLS from certificate
 * files, mTLS with a client CA, plaintext only when asked for, credentials over plaintext
 * refused unless the development switch is on, and a start-up that says what to set.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { gatewayCredentials, SeamClient, type SeamStreamError } from '@pulsar-seam/client';
import test from 'ava';
import { ConfigError, configWith, gatewayOptions } from '../server/config.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import { makeCertificates, type TestCertificates } from './support/certificates.ts';
import { allRows, collect, type TestGateway } from './support/gateway.ts';
import { ensurePulsar, freshTopic, produce, pulsar } from './support/pulsar.ts';
import { callerClient, securePulsar, startTestGateway } from './support/secure-pulsar.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const topic = freshTopic('tls');
const rows = 40;

const serve = (settings: Record<string, string>) =>
  startTestGateway({ client: new PulsarClient({ serviceUrl: pulsar.serviceUrl }) }, settings);

let certificates: TestCertificates;
const file = (name: string) => certificates.file(name);
const tlsFiles = () => certificates.serverSettings();
const trusting = (ca: string, identity?: string) => certificates.channel(ca, identity);
const bounded = (t: TestGateway) => collect(t, { topic, at_open: {} }, { timeoutMs: 20_000 });

test.before(async () => {
  const [made] = await Promise.all([
    makeCertificates({
      client: { cn: 'reader-a', ca: 'ca' },
      stranger: { cn: 'reader-a', ca: 'other-ca' },
    }),
    ensurePulsar(),
  ]);
  certificates = made;
  await produce(topic, { count: rows });
});

test.after.always(() => certificates?.remove());

test('TLS: a client trusting the CA reads; one that does not trust it fails', async (t) => {
  const served = await serve(tlsFiles());
  try {
    const trusted = await bounded(served.as(undefined, trusting('ca')));
    t.is(trusted.status.code, grpc.status.OK, trusted.status.details);
    t.is(allRows(trusted).length, rows);
    const untrusted = await bounded(served.as(undefined, trusting('other-ca')));
    t.is(untrusted.status.code, grpc.status.UNAVAILABLE, untrusted.status.details);
    t.is(untrusted.batches.length, 0);
    const plain = await bounded(served.as(undefined, grpc.credentials.createInsecure()));
    t.is(plain.status.code, grpc.status.UNAVAILABLE, plain.status.details);
  } finally {
    await served.close();
  }
});

test('mTLS: no client certificate or one from another CA fails; the right one reads', async (t) => {
  const served = await serve({ ...tlsFiles(), tlsClientCa: file('ca.pem') });
  try {
    for (const [what, channel] of [
      ['no certificate', trusting('ca')],
      ['a certificate from another CA', trusting('ca', 'stranger')],
    ] as const) {
      const refused = await bounded(served.as(undefined, channel));
      t.is(refused.status.code, grpc.status.UNAVAILABLE, `${what}: ${refused.status.details}`);
      t.is(refused.batches.length, 0, what);
    }
    const ok = await bounded(served.as(undefined, trusting('ca', 'client')));
    t.is(ok.status.code, grpc.status.OK, ok.status.details);
    t.is(allRows(ok).length, rows);
  } finally {
    await served.close();
  }
});

test('a credential over plaintext is refused unless the development switch is on', async (t) => {
  const strict = await serve({ plaintext: 'true' });
  const lax = await serve({ plaintext: 'true', allowInsecureCredentials: 'true' });
  try {
    const insecure = grpc.credentials.createInsecure();
    const refused = await bounded(strict.as('Bearer abc.def.ghi', insecure));
    t.is(refused.status.code, grpc.status.UNAUTHENTICATED);
    t.regex(refused.status.details, /plaintext/);
    t.false(refused.status.details.includes('abc.def.ghi'));
    t.is(
      (await bounded(strict.as(undefined, insecure))).status.code,
      grpc.status.OK,
      'no credential: fine',
    );
    // Callers are anonymous in this gateway (caller auth none): the token is not used.
    const allowed = await bounded(lax.as('Bearer abc.def.ghi', insecure));
    t.is(allowed.status.code, grpc.status.OK, allowed.status.details);
  } finally {
    await Promise.all([strict.close(), lax.close()]);
  }
});

test('without TLS files or --plaintext, start-up stops and says what to set', async (t) => {
  const error = t.throws(() => gatewayOptions(configWith({})), { instanceOf: ConfigError });
  t.regex(error.message, /--tls-cert and --tls-key .*--plaintext/);
  t.throws(() => gatewayOptions(configWith({ tlsCert: file('server.pem') })), {
    message: /both --tls-cert and --tls-key/,
  });
  t.throws(() => gatewayOptions(configWith({ plaintext: 'true', callerAuth: 'forward' })), {
    message: /caller-auth forward needs TLS/,
  });
  const serve = await run(process.execPath, [`${root}server/cli.ts`, 'serve', '--port', '0'], {
    env: { PATH: process.env.PATH ?? '' },
  }).then(
    () => undefined,
    (failure: { code: number; stderr: string }) => failure,
  );
  t.is(serve?.code, 1);
  t.regex(serve?.stderr ?? '', /needs TLS: set --tls-cert and --tls-key .* --plaintext/);
});

test("the container health check speaks TLS, and mTLS with the gateway's own certificate", async (t) => {
  for (const mtls of [false, true]) {
    const clientCa: Record<string, string> = mtls ? { tlsClientCa: file('ca.pem') } : {};
    const served = await serve({ ...tlsFiles(), ...clientCa });
    try {
      const { stdout } = await run(process.execPath, [`${root}server/healthcheck.ts`], {
        env: {
          PATH: process.env.PATH ?? '',
          SEAM_PORT: String(served.port),
          SEAM_TLS_CERT: file('server.pem'),
          SEAM_TLS_KEY: file('server.key'),
          ...(mtls ? { SEAM_TLS_CLIENT_CA: file('ca.pem') } : {}),
        },
      });
      t.is(stdout.trim(), 'SERVING', mtls ? 'mTLS' : 'TLS');
    } finally {
      await served.close();
    }
  }
});

test('seam serve end to end: TLS, callers forwarded, its own token from a file', async (t) => {
  await securePulsar.ensure();
  const secureTopic = freshTopic('serve-secure');
  await securePulsar.produce(secureTopic, 25);
  await securePulsar.grant(secureTopic, 'serve-reader', ['consume']);
  const server = spawn(
    process.execPath,
    [
      `${root}server/cli.ts`,
      'serve',
      '--port',
      '0',
      '--metrics-port',
      '0',
      '--caller-auth',
      'forward',
      '--tls-cert',
      file('server.pem'),
      '--tls-key',
      file('server.key'),
      '--token-secret-key',
      securePulsar.secretKeyFile,
      '--pulsar-token',
      `file://${root}pulsar/.data-auth/auth/seam-proxy.token`,
      '--pulsar-url',
      securePulsar.serviceUrl,
      '--pulsar-admin-url',
      securePulsar.webUrl,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const output: string[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      server.stdout.on('data', (chunk: Buffer) => {
        output.push(chunk.toString());
        const match = /on [\d.]+:(\d+)/.exec(output.join(''));
        if (match) resolve(Number(match[1]));
      });
      server.once('exit', (code) => reject(new Error(`seam serve exited with ${code}`)));
    });
    t.regex(output.join(''), /"transport":"tls","callerAuth":"forward"/);
    const callers: TestGateway[] = [];
    const as = (token?: string) => {
      const caller = callerClient(
        `127.0.0.1:${port}`,
        trusting('ca'),
        token ? `Bearer ${token}` : undefined,
      );
      callers.push(caller);
      return caller;
    };
    const read = (token?: string) =>
      collect(as(token), { topic: secureTopic, at_open: {} }, { timeoutMs: 20_000 });
    const ok = await read(securePulsar.signToken('serve-reader'));
    t.is(ok.status.code, grpc.status.OK, ok.status.details);
    t.is(allRows(ok).length, 25);
    t.is((await read()).status.code, grpc.status.UNAUTHENTICATED);
    t.is(
      (await read(securePulsar.signToken('someone-else'))).status.code,
      grpc.status.PERMISSION_DENIED,
    );
    for (const c of callers) await c.close();
    // No token, neither the callers' nor Seam's own, in its logs or its metrics.
    const metricsUrl = /"metrics":"([^"]+)"/.exec(output.join(''))?.[1] ?? '';
    const metrics = await (await fetch(metricsUrl)).text();
    t.regex(metrics, /seam_streams_ended_total\{status="PERMISSION_DENIED"/);
    for (const text of [output.join(''), metrics]) {
      t.false(/eyJ[\w-]{10,}\.eyJ/.test(text), 'a JWT in the logs or metrics');
      t.false(text.includes(securePulsar.roleToken('seam-proxy')));
    }
  } finally {
    server.kill('SIGTERM');
  }
});

test("the TS SDK's gatewayCredentials: the CA, a token asked for at every call, a client certificate", async (t) => {
  await securePulsar.ensure();
  const secureTopic = freshTopic('sdk-credentials');
  await securePulsar.produce(secureTopic, 30);
  await securePulsar.grant(secureTopic, 'sdk-reader', ['consume']);
  const served = await securePulsar.startGateway({
    ...tlsFiles(),
    tlsClientCa: file('ca.pem'),
    tokenSecretKey: securePulsar.secretKeyFile,
  });
  const address = `127.0.0.1:${served.port}`;
  const ca = readFileSync(file('ca.pem'));
  const identity = {
    cert: readFileSync(file('client.pem')),
    key: readFileSync(file('client.key')),
  };
  let asked = 0;
  const token = () => {
    asked += 1;
    return securePulsar.signToken('sdk-reader');
  };
  const reader = new SeamClient(address, gatewayCredentials({ ca, ...identity, token }));
  const stranger = new SeamClient(
    address,
    gatewayCredentials({ ca, ...identity, token: securePulsar.signToken('sdk-stranger') }),
  );
  const anonymous = new SeamClient(address, gatewayCredentials({ ca, ...identity }));
  try {
    for (let i = 0; i < 2; i++) t.is((await reader.readAll({ topic: secureTopic })).numRows, 30);
    t.is(asked, 2);
    const denied = await t.throwsAsync(stranger.readAll({ topic: secureTopic }));
    t.is((denied as SeamStreamError).code, grpc.status.PERMISSION_DENIED);
    // The certificate's role (reader-a) has no grant: the token, when sent, is who reads.
    const byCertificate = await t.throwsAsync(anonymous.readAll({ topic: secureTopic }));
    t.is((byCertificate as SeamStreamError).code, grpc.status.UNAUTHENTICATED);
    t.throws(() => gatewayCredentials({ ca, cert: identity.cert }), { instanceOf: TypeError });
  } finally {
    for (const client of [reader, stranger, anonymous]) client.close();
    await served.close();
  }
});

test('seam read over mTLS: with the CA and a client certificate it reads; without, it fails', async (t) => {
  const served = await serve({ ...tlsFiles(), tlsClientCa: file('ca.pem') });
  const cli = `${root}server/cli.ts`;
  const read = (...flags: string[]) =>
    run(
      process.execPath,
      [cli, 'read', topic, '--end', 'at_open', '--address', `127.0.0.1:${served.port}`, ...flags],
      { env: { ...process.env, SEAM_TOKEN: '' } },
    );
  try {
    const { stdout } = await read(
      '--tls-ca',
      file('ca.pem'),
      '--tls-cert',
      file('client.pem'),
      '--tls-key',
      file('client.key'),
    );
    t.is(stdout.trim().split('\n').length, rows);
    const refused = await t.throwsAsync(read('--tls-ca', file('ca.pem')));
    t.regex(String((refused as { stderr?: string }).stderr), /UNAVAILABLE/);
    const plaintextToken = await t.throwsAsync(
      run(process.execPath, [cli, 'read', topic, '--address', '127.0.0.1:1'], {
        env: { ...process.env, SEAM_TOKEN: 'x.y.z' },
      }),
    );
    t.regex(String((plaintextToken as { stderr?: string }).stderr), /only sent over TLS/);
  } finally {
    await served.close();
  }
});
