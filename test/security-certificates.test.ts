/**
 * Callers known only by an mTLS client certificate: Seam names the certificate's common
 * name as the original principal, with no credential of the caller's to forward. Brokers
 * that take a proxy role's word for its callers (`authenticateOriginalAuthData=false`,
 * pulsar.sh's trusted-proxy profile) authorize that role; brokers that authenticate
 * forwarded credentials (the secure profile) cannot, and the caller is told so.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { createLogger } from '../server/telemetry/log.ts';
import { makeCertificates, type TestCertificates } from './support/certificates.ts';
import { allRows, collect, type TestGateway } from './support/gateway.ts';
import { freshTopic } from './support/pulsar.ts';
import {
  type AuthenticatedPulsar,
  type ServedGateway,
  securePulsar,
  trustedProxyPulsar,
} from './support/secure-pulsar.ts';

const topicA = freshTopic('cert-a');
const topicB = freshTopic('cert-b');
const rowsA = 250;
let certificates: TestCertificates;
let trusting: ServedGateway;

/** A gateway over `pulsar` requiring client certificates signed by the test CA. */
const mtlsGateway = (pulsar: AuthenticatedPulsar) =>
  pulsar.startGateway({
    ...certificates.serverSettings(),
    tlsClientCa: certificates.file('ca.pem'),
    tokenSecretKey: pulsar.secretKeyFile,
  });

/** A bounded read of `topic` by the holder of client certificate `identity`. */
const readAs = (served: ServedGateway, identity: string, topic: string) =>
  collect(
    served.as(undefined, certificates.channel('ca', identity)) as TestGateway,
    { topic, at_open: {} },
    { timeoutMs: 60_000 },
  );

test.before(async () => {
  [certificates] = await Promise.all([
    makeCertificates({
      reader: { cn: 'cert-reader', ca: 'ca' },
      nobody: { cn: 'cert-nobody', ca: 'ca' },
    }),
    trustedProxyPulsar.ensure(),
    securePulsar.ensure(),
  ]);
  await Promise.all([
    trustedProxyPulsar.produce(topicA, rowsA),
    trustedProxyPulsar.produce(topicB, 20),
    securePulsar.produce(topicA, 20),
  ]);
  await Promise.all([
    trustedProxyPulsar.grant(topicA, 'cert-reader', ['consume']),
    securePulsar.grant(topicA, 'cert-reader', ['consume']),
  ]);
  trusting = await mtlsGateway(trustedProxyPulsar);
});

test.after.always(async () => {
  await trusting?.close();
  certificates?.remove();
});

test.serial(
  "brokers trusting Seam's role: the certificate's role reads A fully; B and a role without grants get PERMISSION_DENIED",
  async (t) => {
    const a = await readAs(trusting, 'reader', topicA);
    t.is(a.status.code, grpc.status.OK, a.status.details);
    t.is(allRows(a).length, rowsA);
    const b = await readAs(trusting, 'reader', topicB);
    t.is(b.status.code, grpc.status.PERMISSION_DENIED, b.status.details);
    t.is(b.schema, undefined, 'not even the schema of B');
    t.is(b.batches.length, 0);
    const nobody = await readAs(trusting, 'nobody', topicA);
    t.is(nobody.status.code, grpc.status.PERMISSION_DENIED, nobody.status.details);
    t.is(nobody.batches.length, 0);
  },
);

test.serial(
  'brokers authenticating forwarded credentials refuse a certificate caller: UNAUTHENTICATED, saying why',
  async (t) => {
    const served = await mtlsGateway(securePulsar);
    try {
      const result = await readAs(served, 'reader', topicA);
      t.is(result.status.code, grpc.status.UNAUTHENTICATED, result.status.details);
      t.is(result.batches.length, 0);
      t.regex(result.status.details, /Failed to authenticate: .*\("cert-reader"\) has none/);
      t.regex(result.status.details, /authenticateOriginalAuthData=false/);
    } finally {
      await served.close();
    }
  },
);

test.serial(
  'in front of brokers that take its word, Seam checks tokens itself: a forged one is refused, a good one reads',
  async (t) => {
    // These brokers do not authenticate a forwarded token (measured: with no key, Seam
    // forwarded a token signed with a random key and the brokers let it read as its role).
    const forged = trustedProxyPulsar.signToken('cert-reader', { key: randomBytes(32) });
    const refused = await collect(
      trusting.as(`Bearer ${forged}`, certificates.channel('ca', 'nobody')),
      { topic: topicA, at_open: {} },
    );
    t.is(refused.status.code, grpc.status.UNAUTHENTICATED, refused.status.details);
    t.is(refused.batches.length, 0);
    const good = await collect(
      trusting.as(
        `Bearer ${trustedProxyPulsar.signToken('cert-reader')}`,
        certificates.channel('ca', 'nobody'),
      ),
      { topic: topicA, at_open: {} },
    );
    t.is(good.status.code, grpc.status.OK, good.status.details);
    t.is(allRows(good).length, rowsA, "the token's role, not the certificate's, is read as");
  },
);

test.serial(
  'a gateway forwarding callers without a token key (--trust-unverified-tokens) warns at start-up',
  async (t) => {
    const lines: string[] = [];
    const served = await trustedProxyPulsar.startGateway(
      { trustUnverifiedTokens: 'true' },
      createLogger('info', { write: (line: string) => lines.push(line) }),
    );
    await served.close();
    const warning = lines
      .map((line) => JSON.parse(line))
      .find((l) => l.event === 'tokens.unchecked');
    t.truthy(warning, lines.join(''));
    t.regex(warning.msg, /--token-secret-key or --token-public-key/);
  },
);
