/**
 * Authorization by Pulsar, through Seam, against a real standalone with authentication
 * and authorization on (JWT with a secret key, a superuser, Seam's proxy role, roles
 * granted `consume` on one topic only): the caller's grants decide what Seam reads, bad
 * tokens are refused, Seam's own role reads nothing alone, expired tokens and revoked
 * grants end open streams, and limits apply per caller.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { tokenAuth } from '../server/pulsar/auth.ts';
import { callerCredentials, PulsarClient } from '../server/pulsar/client.ts';
import { MessageId } from '../server/pulsar/message-id.ts';
import { Reader } from '../server/pulsar/reader.ts';
import { createLogger } from '../server/telemetry/log.ts';
import { allRows, collect, type TestGateway } from './support/gateway.ts';
import { freshTopic } from './support/pulsar.ts';
import { type ServedGateway, securePulsar } from './support/secure-pulsar.ts';

const topicA = freshTopic('sec-a');
const topicB = freshTopic('sec-b');
const role = `reader-${randomBytes(3).toString('hex')}`;
const rowsA = 300;
const logLines: string[] = [];
let seam: ServedGateway;

test.before(async () => {
  await securePulsar.ensure();
  await Promise.all([securePulsar.produce(topicA, rowsA), securePulsar.produce(topicB, 50)]);
  await securePulsar.grant(topicA, role, ['consume']);
  // The key lets Seam refuse bad tokens itself; the brokers check them again regardless.
  seam = await securePulsar.startGateway(
    { tokenSecretKey: securePulsar.secretKeyFile, accessCheckIntervalMs: '1000' },
    createLogger('info', { write: (line: string) => logLines.push(line) }),
  );
});

test.after.always(async () => {
  await seam?.close();
});

const bounded = { topic: '', at_open: {} };
const read = (client: TestGateway, topic: string) =>
  collect(client, { ...bounded, topic }, { timeoutMs: 60_000 });

test.serial(
  'a role with consume on A reads all of A; on B it gets PERMISSION_DENIED and no row',
  async (t) => {
    const token = securePulsar.signToken(role);
    const a = await read(seam.as(`Bearer ${token}`), topicA);
    t.is(a.status.code, grpc.status.OK, a.status.details);
    t.is(allRows(a).length, rowsA);
    const b = await read(seam.as(`Bearer ${token}`), topicB);
    t.is(b.status.code, grpc.status.PERMISSION_DENIED, b.status.details);
    t.is(b.batches.length, 0);
    t.is(b.schema, undefined, 'not even the schema of B');
    t.regex(b.status.details, /not authorized/i);
  },
);

test.serial(
  'no token, an expired, forged or alg:none token: UNAUTHENTICATED, nothing read',
  async (t) => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string | undefined][] = [
      ['no token', undefined],
      ['expired', `Bearer ${securePulsar.signToken(role, { claims: { exp: now - 60 } })}`],
      ['not yet valid', `Bearer ${securePulsar.signToken(role, { claims: { nbf: now + 600 } })}`],
      ['forged', `Bearer ${securePulsar.signToken(role, { key: randomBytes(32) })}`],
      ['alg none', `Bearer ${securePulsar.signToken(role, { alg: 'none' })}`],
      ['not a bearer', `Basic ${Buffer.from('u:p').toString('base64')}`],
    ];
    for (const [what, authorization] of cases) {
      const result = await read(seam.as(authorization), topicA);
      t.is(result.status.code, grpc.status.UNAUTHENTICATED, `${what}: ${result.status.details}`);
      t.is(result.batches.length, 0, what);
    }
  },
);

test.serial(
  'without the key Seam forwards the token, and the broker refuses a forged one',
  async (t) => {
    const keyless = await securePulsar.startGateway({ trustUnverifiedTokens: 'true' });
    try {
      const forged = await read(
        keyless.as(`Bearer ${securePulsar.signToken(role, { key: randomBytes(32) })}`),
        topicA,
      );
      t.is(forged.status.code, grpc.status.UNAUTHENTICATED, forged.status.details);
      t.is(forged.batches.length, 0);
      // A role claim the token does not carry cannot be claimed: the broker authorizes the
      // role of the token it authenticated.
      const good = await read(keyless.as(`Bearer ${securePulsar.signToken(role)}`), topicA);
      t.is(allRows(good).length, rowsA);
    } finally {
      await keyless.close();
    }
  },
);

test.serial(
  "Seam's proxy role alone reads nothing: the broker and the admin API refuse it",
  async (t) => {
    const own = new PulsarClient({
      serviceUrl: securePulsar.serviceUrl,
      auth: tokenAuth(securePulsar.roleToken('seam-proxy')),
    });
    try {
      const error = await t.throwsAsync(own.partitions(topicA));
      t.regex(error.message, /AuthorizationError|Invalid roles/);
    } finally {
      await own.close();
    }
    const admin = new PulsarAdmin({
      webServiceUrl: securePulsar.webUrl,
      authorization: () => `Bearer ${securePulsar.roleToken('seam-proxy')}`,
    });
    for (const call of [
      () => admin.lastMessageId(topicA),
      () => admin.ledgers(topicA),
      () => admin.partitions(topicA),
    ]) {
      await t.throwsAsync(call(), { message: /401/ });
    }
    // As the caller (its own token), the same calls Seam's planning makes succeed.
    const asCaller = admin.forCaller({ principal: role, token: securePulsar.signToken(role) });
    t.true((await asCaller.ledgers(topicA)).length > 0);
    t.true((await asCaller.lastMessageId(topicA)).entryId >= 0);
    await t.throwsAsync(asCaller.lastMessageId(topicB), { message: /401/ });
  },
);

test.serial(
  'a token that expires during a stream ends it with UNAUTHENTICATED and a resume token',
  async (t) => {
    const exp = Math.floor(Date.now() / 1000) + 6;
    const client = seam.as(`Bearer ${securePulsar.signToken(role, { claims: { exp } })}`);
    const result = await collect(client, { topic: topicA }, { timeoutMs: 30_000 });
    t.is(result.status.code, grpc.status.UNAUTHENTICATED, result.status.details);
    t.regex(result.status.details, /expired/);
    t.is(allRows(result).length, rowsA, 'everything before the expiry arrived');
    t.truthy(result.status.resumeToken, 'the last resume token is in the trailers');
    t.true(Date.now() >= exp * 1000 - 5_000);
    // A new token continues exactly after: nothing new, nothing repeated.
    const resumed = await collect(
      seam.as(`Bearer ${securePulsar.signToken(role)}`),
      { topic: topicA, resume_token: result.status.resumeToken, at_open: {} },
      { timeoutMs: 30_000 },
    );
    t.is(resumed.status.code, grpc.status.OK, resumed.status.details);
    t.is(allRows(resumed).length, 0);
  },
);

test.serial(
  'revoking the grant ends an open stream with PERMISSION_DENIED within the check interval',
  async (t) => {
    const topic = freshTopic('sec-revoke');
    await securePulsar.produce(topic, 20);
    await securePulsar.grant(topic, role, ['consume']);
    let revokedAt = 0;
    const result = await collect(
      seam.as(`Bearer ${securePulsar.signToken(role)}`),
      { topic },
      {
        timeoutMs: 60_000,
        stopWhen: (r) => {
          if (r.seamAt !== undefined && revokedAt === 0) {
            revokedAt = -1;
            void securePulsar.revoke(topic, role).then(() => {
              revokedAt = Date.now();
            });
          }
          return false;
        },
      },
    );
    const endedAfterMs = Date.now() - revokedAt;
    t.is(result.status.code, grpc.status.PERMISSION_DENIED, result.status.details);
    t.is(allRows(result).length, 20);
    t.truthy(result.status.resumeToken);
    // The interval is 1 s here; a check takes a lookup and an admin call.
    t.log(`ended ${endedAfterMs} ms after the revocation`);
    t.true(endedAfterMs < 1_000 + 5_000, `ended ${endedAfterMs} ms after the revocation`);
  },
);

test.serial(
  'limits per caller: streams at once and streams per second → RESOURCE_EXHAUSTED',
  async (t) => {
    const limited = await securePulsar.startGateway({
      trustUnverifiedTokens: 'true',
      principalMaxStreams: '1',
      principalRequestsPerSecond: '3',
    });
    try {
      const token = `Bearer ${securePulsar.signToken(role)}`;
      const first = collect(limited.as(token), { topic: topicA }, { timeoutMs: 5_000 });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const second = await read(limited.as(token), topicA);
      t.is(second.status.code, grpc.status.RESOURCE_EXHAUSTED, second.status.details);
      t.regex(second.status.details, /1 streams open/);
      // Another caller is not affected by this one's streams.
      const other = `other-${randomBytes(3).toString('hex')}`;
      await securePulsar.grant(topicA, other, ['consume']);
      const third = await read(limited.as(`Bearer ${securePulsar.signToken(other)}`), topicA);
      t.is(third.status.code, grpc.status.OK, third.status.details);
      await first;
      // The rate: 3 per second, a burst of 3: five at once cannot all pass.
      const burst = await Promise.all(
        [1, 2, 3, 4, 5].map(() =>
          read(limited.as(`Bearer ${securePulsar.signToken(other)}`), topicA),
        ),
      );
      t.true(
        burst.some((r) => r.status.code === grpc.status.RESOURCE_EXHAUSTED),
        burst.map((r) => r.status.details).join('; '),
      );
    } finally {
      await limited.close();
    }
  },
);

test.serial('a resume token from topic A used on topic B: INVALID_ARGUMENT, no row', async (t) => {
  const both = `both-${randomBytes(3).toString('hex')}`;
  await Promise.all([
    securePulsar.grant(topicA, both, ['consume']),
    securePulsar.grant(topicB, both, ['consume']),
  ]);
  const client = seam.as(`Bearer ${securePulsar.signToken(both)}`);
  const last = (await read(client, topicA)).batches.at(-1);
  if (!last) return t.fail('topic A read no rows');
  t.is((await read(client, topicB)).status.code, grpc.status.OK, 'this role may read B');
  const result = await collect(client, { topic: topicB, resume_token: last.resumeToken });
  t.is(result.status.code, grpc.status.INVALID_ARGUMENT, result.status.details);
  t.is(result.batches.length, 0);
});

test.serial('connections are pooled per caller credential; idle ones are closed', async (t) => {
  const own = new PulsarClient({
    serviceUrl: securePulsar.serviceUrl,
    auth: tokenAuth(securePulsar.roleToken('seam-proxy')),
    callerConnectionSweepMs: 200,
  });
  try {
    const token = securePulsar.signToken(role);
    const first = await own.forCaller(callerCredentials(role, token)).serviceConnection();
    const same = await own.forCaller(callerCredentials(role, token)).serviceConnection();
    t.is(same, first, 'the same token shares a connection');
    const other = securePulsar.signToken(role, {
      claims: { exp: Math.floor(Date.now() / 1000) + 3600 },
    });
    const second = await own.forCaller(callerCredentials(role, other)).serviceConnection();
    t.not(second, first, 'another token of the same role gets its own');
    // A reader keeps its connection busy; idle ones go after two sweeps.
    const asOther = own.forCaller(callerCredentials(role, other));
    const reader = await Reader.open(asOther, {
      topic: topicA,
      start: MessageId.earliest,
      receiverQueueSize: 10,
    });
    const { connection: readerConnection } = await asOther.lookup(topicA);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    t.true(first.closed);
    t.false(readerConnection.closed);
    t.true((await reader.receive()).length > 0, 'the reader still reads');
    await reader.close();
  } finally {
    await own.close();
  }
});

test.serial('a role that may only produce to A reads none of it', async (t) => {
  const writer = `writer-${randomBytes(3).toString('hex')}`;
  await securePulsar.grant(topicA, writer, ['produce']);
  const result = await read(seam.as(`Bearer ${securePulsar.signToken(writer)}`), topicA);
  t.is(result.status.code, grpc.status.PERMISSION_DENIED, result.status.details);
  t.is(result.batches.length, 0);
});

test.serial(
  "Seam's role is no superuser: where it may not consume, its callers read nothing through it",
  async (t) => {
    // pulsar.sh grants Seam's role `consume` on public/default only; the broker authorizes
    // the proxy role and the caller together.
    await securePulsar.admin('PUT', 'namespaces/public/seam-closed').catch((error: Error) => {
      if (!/409/.test(error.message)) throw error;
    });
    const topic = `persistent://public/seam-closed/${randomBytes(4).toString('hex')}`;
    await securePulsar.produce(topic, 10);
    const reader = `closed-${randomBytes(3).toString('hex')}`;
    await securePulsar.grant(topic, reader, ['consume']);
    const result = await read(seam.as(`Bearer ${securePulsar.signToken(reader)}`), topic);
    t.is(result.status.code, grpc.status.PERMISSION_DENIED, result.status.details);
    t.is(result.batches.length, 0);
    // The control: the caller itself may read it.
    const direct = new PulsarClient({
      serviceUrl: securePulsar.serviceUrl,
      auth: tokenAuth(securePulsar.signToken(reader)),
    });
    try {
      const own = await Reader.open(direct, { topic, receiverQueueSize: 100 });
      let received = 0;
      while (received < 10) received += (await own.receive()).length;
      t.is(received, 10);
      await own.close();
    } finally {
      await direct.close();
    }
  },
);

test.serial(
  "Seam's own connections answer auth challenges: a rotated token keeps them",
  async (t) => {
    // Not a proxy role: a connection of Seam's own (callers anonymous) on a cluster with
    // authentication. Its token expires in 4 s; the broker re-checks every 5 s and
    // challenges; Seam answers with the token it has now.
    const own = `own-${randomBytes(3).toString('hex')}`;
    const topic = freshTopic('sec-rotate');
    await securePulsar.produce(topic, 5);
    await securePulsar.grant(topic, own, ['consume']);
    const expiresAt = Date.now() + 4_000;
    let handedOut = 0;
    const client = new PulsarClient({
      serviceUrl: securePulsar.serviceUrl,
      auth: tokenAuth(() => {
        handedOut += 1;
        const exp = Math.floor(
          (Date.now() < expiresAt ? expiresAt : Date.now() + 3_600_000) / 1000,
        );
        return securePulsar.signToken(own, { claims: { exp } });
      }),
    });
    // The control: the same expiring token, never renewed.
    const control = new PulsarClient({
      serviceUrl: securePulsar.serviceUrl,
      auth: tokenAuth(
        securePulsar.signToken(own, { claims: { exp: Math.floor(expiresAt / 1000) } }),
      ),
    });
    try {
      const reader = await Reader.open(client, { topic, receiverQueueSize: 100 });
      const { connection } = await client.lookup(topic);
      const { connection: controlConnection } = await control.lookup(topic);
      let received = 0;
      while (received < 5) received += (await reader.receive()).length;
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      t.true(controlConnection.closed, 'the broker closed the connection whose token expired');
      t.false(connection.closed, 'the connection survived its first token');
      t.true(handedOut >= 2, `the token was asked for again (${handedOut} times)`);
      await securePulsar.produce(topic, 3);
      while (received < 8) received += (await reader.receive(AbortSignal.timeout(10_000))).length;
      t.is(received, 8);
      await reader.close();
    } finally {
      await Promise.all([client.close(), control.close()]);
    }
  },
);

test.serial('tokens reach no log line and no status message', (t) => {
  const token = securePulsar.signToken(role);
  const [, , signature] = token.split('.') as [string, string, string];
  t.true(logLines.length > 0);
  for (const line of logLines) {
    t.false(line.includes(signature), line);
    t.false(/eyJ[\w-]{10,}\.eyJ/.test(line), `a JWT in: ${line}`);
  }
  // Who read: the caller's role on its streams' lines; refused callers get a line too.
  const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
  t.true(entries.some((e) => e.event === 'stream.close' && e.principal === role));
  t.true(entries.some((e) => e.event === 'stream.refused' && e.status === 'UNAUTHENTICATED'));
});

test.serial(
  'without the key (--trust-unverified-tokens), forged tokens naming a role do not spend its limits',
  async (t) => {
    const keyless = await securePulsar.startGateway({
      trustUnverifiedTokens: 'true',
      principalRequestsPerSecond: '5',
    });
    try {
      // Twenty tokens that say `sub: role`, signed with keys the brokers do not know.
      const forged = await Promise.all(
        Array.from({ length: 20 }, () =>
          read(
            keyless.as(`Bearer ${securePulsar.signToken(role, { key: randomBytes(32) })}`),
            topicA,
          ),
        ),
      );
      for (const f of forged) {
        t.is(f.status.code, grpc.status.UNAUTHENTICATED, f.status.details);
        t.is(f.batches.length, 0);
      }
      const real = await read(keyless.as(`Bearer ${securePulsar.signToken(role)}`), topicA);
      t.is(real.status.code, grpc.status.OK, real.status.details);
      t.is(allRows(real).length, rowsA);
    } finally {
      await keyless.close();
    }
  },
);

test.serial(
  "callers' broker connections are capped: idle ones make room, busy ones refuse",
  async (t) => {
    const own = new PulsarClient({
      serviceUrl: securePulsar.serviceUrl,
      auth: tokenAuth(securePulsar.roleToken('seam-proxy')),
      maxCallerConnections: 2,
    });
    const readers: Reader[] = [];
    try {
      const as = (n: number) =>
        own.forCaller(
          callerCredentials(
            role,
            securePulsar.signToken(role, {
              claims: { jti: `${n}-${randomBytes(3).toString('hex')}` },
            }),
          ),
        );
      // Two callers, each with a reader keeping its connection busy.
      for (const n of [1, 2])
        readers.push(await Reader.open(as(n), { topic: topicA, receiverQueueSize: 10 }));
      const refused = await t.throwsAsync(as(3).serviceConnection());
      t.regex(refused?.message ?? '', /2 connections to Pulsar for its callers/);
      // One reader ends: its idle connection is closed to make room for the next caller.
      await readers.shift()?.close();
      const third = await as(3).serviceConnection();
      t.false(third.closed);
    } finally {
      for (const reader of readers) await reader.close();
      await own.close();
    }
  },
);
