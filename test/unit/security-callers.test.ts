/**
 * Seam's own check of callers' tokens (server/security/jwt.ts), as a pure function:
 * HMAC and public-key signatures (RSA, RSA-PSS, ECDSA), `alg: none` and unknown
 * algorithms, `exp` and `nbf` with leeway, the role claim, and keys read the ways Pulsar
 * names them; and how a call's caller is found (token, certificate, plaintext rule). The
 * brokers' own check is tested in security-auth.test.ts.
 */
import {
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SeamError } from '../../server/core/errors.ts';
import { authenticate, type CallerAuthOptions } from '../../server/security/authenticate.ts';
import { checkToken, loadTokenKey } from '../../server/security/jwt.ts';

const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = 1_800_000_000_000;

function hs256(payload: Record<string, unknown>, secret: Buffer, alg = 'HS256'): string {
  const signed = `${part({ alg })}.${part(payload)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

function signed(alg: string, payload: Record<string, unknown>, key: KeyObject): string {
  const data = `${part({ alg })}.${part(payload)}`;
  const digest = `sha${alg.slice(2)}`;
  const signature = sign(digest, Buffer.from(data), {
    key,
    ...(alg.startsWith('PS') ? { padding: 6, saltLength: -1 } : {}),
    ...(alg.startsWith('ES') ? { dsaEncoding: 'ieee-p1363' as const } : {}),
  });
  return `${data}.${signature.toString('base64url')}`;
}

const refused = (run: () => unknown, reason: RegExp) => {
  try {
    run();
  } catch (error) {
    return (
      error instanceof SeamError && error.code === 'UNAUTHENTICATED' && reason.test(error.message)
    );
  }
  return false;
};

test('HS256 with the secret key: the role and expiry; a wrong key or a changed payload is refused', (t) => {
  const secret = randomBytes(32);
  const key = loadTokenKey({ secretKey: `data:;base64,${secret.toString('base64')}` });
  const token = hs256({ sub: 'reader-a', exp: now / 1000 + 60 }, secret);
  t.deepEqual(checkToken(token, { key, roleClaim: 'sub' }, now), {
    role: 'reader-a',
    expiresAt: now + 60_000,
  });
  t.true(
    refused(
      () => checkToken(hs256({ sub: 'x' }, randomBytes(32)), { key, roleClaim: 'sub' }, now),
      /signature/,
    ),
  );
  const [h, , s] = token.split('.');
  const tampered = `${h}.${part({ sub: 'admin' })}.${s}`;
  t.true(refused(() => checkToken(tampered, { key, roleClaim: 'sub' }, now), /signature/));
});

test('alg none, unknown or inherited names, and a public-key algorithm against a secret key are refused', (t) => {
  const key = loadTokenKey({ secretKey: `data:;base64,${randomBytes(32).toString('base64')}` });
  for (const alg of ['none', 'NONE', 'constructor', 'toString', 'HS1', '']) {
    const token = `${part({ alg })}.${part({ sub: 'x' })}.`;
    t.true(
      refused(() => checkToken(token, { roleClaim: 'sub' }, now), /algorithm/),
      alg,
    );
    t.true(
      refused(() => checkToken(token, { key, roleClaim: 'sub' }, now), /algorithm/),
      alg,
    );
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  t.true(
    refused(
      () => checkToken(signed('RS256', { sub: 'x' }, privateKey), { key, roleClaim: 'sub' }, now),
      /does not match/,
    ),
  );
});

test('exp and nbf, with the leeway; the role claim is required and configurable', (t) => {
  const secret = randomBytes(32);
  const key = loadTokenKey({ secretKey: `data:;base64,${secret.toString('base64')}` });
  const check = { key, roleClaim: 'sub', clockSkewMs: 5_000 };
  t.true(
    refused(
      () => checkToken(hs256({ sub: 'x', exp: now / 1000 - 10 }, secret), check, now),
      /expired/,
    ),
  );
  t.notThrows(() => checkToken(hs256({ sub: 'x', exp: now / 1000 - 2 }, secret), check, now));
  t.true(
    refused(
      () => checkToken(hs256({ sub: 'x', nbf: now / 1000 + 60 }, secret), check, now),
      /not valid yet/,
    ),
  );
  t.true(refused(() => checkToken(hs256({ sub: 'x', exp: 'soon' }, secret), check, now), /exp/));
  t.true(refused(() => checkToken(hs256({ name: 'x' }, secret), check, now), /role/));
  t.is(checkToken(hs256({ role: 'r' }, secret), { ...check, roleClaim: 'role' }, now).role, 'r');
  for (const bad of ['', 'a.b', 'a.b.c.d', `${'x'.repeat(20_000)}.a.b`, '!!.??.##']) {
    t.throws(() => checkToken(bad, check, now), { instanceOf: SeamError });
  }
});

test('public keys (PEM or DER files): RS256, PS256 and ES256 verify; another key does not', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'seam-jwt-'));
  try {
    const pairs = [
      ['RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })],
      ['PS256', generateKeyPairSync('rsa', { modulusLength: 2048 })],
      ['ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ] as const;
    for (const [alg, pair] of pairs) {
      const der = join(dir, `${alg}.der`);
      const pem = join(dir, `${alg}.pem`);
      writeFileSync(der, pair.publicKey.export({ format: 'der', type: 'spki' }));
      writeFileSync(pem, pair.publicKey.export({ format: 'pem', type: 'spki' }));
      const token = signed(
        alg,
        { sub: 'reader-a' },
        createPrivateKey(pair.privateKey.export({ format: 'pem', type: 'pkcs8' })),
      );
      for (const file of [der, `file://${pem}`]) {
        const key = loadTokenKey({ publicKey: file });
        t.is(checkToken(token, { key, roleClaim: 'sub' }, now).role, 'reader-a', `${alg} ${file}`);
      }
      // A key pair of the same kind that did not sign the token.
      const stranger =
        alg === 'ES256'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
      t.true(
        refused(
          () => checkToken(token, { key: stranger.publicKey, roleClaim: 'sub' }, now),
          /signature/,
        ),
        alg,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('callers: a bearer token or a certificate role; plaintext credentials refused unless allowed', (t) => {
  const secret = randomBytes(32);
  const options: CallerAuthOptions = {
    mode: 'forward',
    tls: true,
    allowInsecureCredentials: false,
    token: {
      key: loadTokenKey({ secretKey: `data:;base64,${secret.toString('base64')}` }),
      roleClaim: 'sub',
    },
  };
  const token = hs256({ sub: 'reader-a', exp: now / 1000 + 60 }, secret);
  const bearer = { authorization: [`Bearer ${token}`], certificateRole: undefined };
  t.deepEqual(authenticate(bearer, options, now), {
    principal: 'reader-a',
    token,
    expiresAt: now + 60_000,
  });
  // A token wins over the certificate; the certificate alone names the role.
  t.is(
    authenticate({ ...bearer, certificateRole: 'cn-role' }, options, now)?.principal,
    'reader-a',
  );
  t.deepEqual(authenticate({ authorization: [], certificateRole: 'cn-role' }, options, now), {
    principal: 'cn-role',
    token: undefined,
    expiresAt: undefined,
  });
  const unauthenticated = (presented: typeof bearer, o = options) => {
    const error = t.throws(() => authenticate(presented, o, now), { instanceOf: SeamError });
    t.is(error.code, 'UNAUTHENTICATED');
    t.false(error.message.includes(token), 'the message never quotes the token');
    return error.message;
  };
  t.regex(unauthenticated({ authorization: [], certificateRole: undefined }), /Bearer/);
  t.regex(
    unauthenticated({
      authorization: [`Bearer ${token}`, `Bearer ${token}`],
      certificateRole: undefined,
    }),
    /one authorization/,
  );
  t.regex(
    unauthenticated({ authorization: [token], certificateRole: undefined }),
    /Bearer <token>/,
  );
  t.regex(unauthenticated(bearer, { ...options, tls: false }), /plaintext/);
  t.is(
    authenticate(bearer, { ...options, tls: false, allowInsecureCredentials: true }, now)
      ?.principal,
    'reader-a',
  );
  // Anonymous callers: no identity, and still no credential over plaintext.
  t.is(authenticate(bearer, { ...options, mode: 'none' }, now), undefined);
  t.regex(unauthenticated(bearer, { ...options, mode: 'none', tls: false }), /plaintext/);
});
