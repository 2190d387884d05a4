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
import { PrincipalLimits } from '../../server/security/limits.ts';

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

const refused = async (run: () => Promise<unknown>, reason: RegExp) => {
  try {
    await run();
  } catch (error) {
    return (
      error instanceof SeamError && error.code === 'UNAUTHENTICATED' && reason.test(error.message)
    );
  }
  return false;
};

test('HS256 with the secret key: the role and expiry; a wrong key or a changed payload is refused', async (t) => {
  const secret = randomBytes(32);
  const key = loadTokenKey({ secretKey: `data:;base64,${secret.toString('base64')}` });
  const token = hs256({ sub: 'reader-a', exp: now / 1000 + 60 }, secret);
  t.deepEqual(await checkToken(token, { key, roleClaim: 'sub' }, now), {
    role: 'reader-a',
    expiresAt: now + 60_000,
    verified: true,
  });
  t.true(
    await refused(
      () => checkToken(hs256({ sub: 'x' }, randomBytes(32)), { key, roleClaim: 'sub' }, now),
      /signature/,
    ),
  );
  const [h, , s] = token.split('.');
  const tampered = `${h}.${part({ sub: 'admin' })}.${s}`;
  t.true(await refused(() => checkToken(tampered, { key, roleClaim: 'sub' }, now), /signature/));
});

test('alg none, unknown or inherited names, and a public-key algorithm against a secret key are refused', async (t) => {
  const key = loadTokenKey({ secretKey: `data:;base64,${randomBytes(32).toString('base64')}` });
  for (const alg of ['none', 'NONE', 'constructor', 'toString', 'HS1', '']) {
    const token = `${part({ alg })}.${part({ sub: 'x' })}.`;
    t.true(await refused(() => checkToken(token, { roleClaim: 'sub' }, now), /algorithm/), alg);
    t.true(
      await refused(() => checkToken(token, { key, roleClaim: 'sub' }, now), /algorithm/),
      alg,
    );
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  t.true(
    await refused(
      () => checkToken(signed('RS256', { sub: 'x' }, privateKey), { key, roleClaim: 'sub' }, now),
      /does not match/,
    ),
  );
});

test('exp and nbf, with the leeway; the role claim is required and configurable', async (t) => {
  const secret = randomBytes(32);
  const key = loadTokenKey({ secretKey: `data:;base64,${secret.toString('base64')}` });
  const check = { key, roleClaim: 'sub', clockSkewMs: 5_000 };
  t.true(
    await refused(
      () => checkToken(hs256({ sub: 'x', exp: now / 1000 - 10 }, secret), check, now),
      /expired/,
    ),
  );
  await t.notThrowsAsync(checkToken(hs256({ sub: 'x', exp: now / 1000 - 2 }, secret), check, now));
  t.true(
    await refused(
      () => checkToken(hs256({ sub: 'x', nbf: now / 1000 + 60 }, secret), check, now),
      /not valid yet/,
    ),
  );
  t.true(
    await refused(() => checkToken(hs256({ sub: 'x', exp: 'soon' }, secret), check, now), /exp/),
  );
  t.true(await refused(() => checkToken(hs256({ name: 'x' }, secret), check, now), /role/));
  t.is(
    (await checkToken(hs256({ role: 'r' }, secret), { ...check, roleClaim: 'role' }, now)).role,
    'r',
  );
  for (const bad of ['', 'a.b', 'a.b.c.d', `${'x'.repeat(20_000)}.a.b`, '!!.??.##']) {
    await t.throwsAsync(checkToken(bad, check, now), { instanceOf: SeamError });
  }
});

test('public keys (PEM or DER files): RS256, PS256 and ES256 verify; another key does not', async (t) => {
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
        t.is(
          (await checkToken(token, { key, roleClaim: 'sub' }, now)).role,
          'reader-a',
          `${alg} ${file}`,
        );
      }
      // A key pair of the same kind that did not sign the token.
      const stranger =
        alg === 'ES256'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
      t.true(
        await refused(
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

test('callers: a bearer token or a certificate role; plaintext credentials refused unless allowed', async (t) => {
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
  t.deepEqual(await authenticate(bearer, options, now), {
    principal: 'reader-a',
    token,
    expiresAt: now + 60_000,
    limitKey: 'role reader-a',
  });
  // A token wins over the certificate; the certificate alone names the role.
  t.is(
    (await authenticate({ ...bearer, certificateRole: 'cn-role' }, options, now))?.principal,
    'reader-a',
  );
  t.deepEqual(await authenticate({ authorization: [], certificateRole: 'cn-role' }, options, now), {
    principal: 'cn-role',
    token: undefined,
    expiresAt: undefined,
    limitKey: 'role cn-role',
  });
  const unauthenticated = async (presented: typeof bearer, o = options) => {
    const error = await t.throwsAsync(authenticate(presented, o, now), { instanceOf: SeamError });
    t.is(error.code, 'UNAUTHENTICATED');
    t.false(error.message.includes(token), 'the message never quotes the token');
    return error.message;
  };
  t.regex(await unauthenticated({ authorization: [], certificateRole: undefined }), /Bearer/);
  t.regex(
    await unauthenticated({
      authorization: [`Bearer ${token}`, `Bearer ${token}`],
      certificateRole: undefined,
    }),
    /one authorization/,
  );
  t.regex(
    await unauthenticated({ authorization: [token], certificateRole: undefined }),
    /Bearer <token>/,
  );
  t.regex(await unauthenticated(bearer, { ...options, tls: false }), /plaintext/);
  t.is(
    (await authenticate(bearer, { ...options, tls: false, allowInsecureCredentials: true }, now))
      ?.principal,
    'reader-a',
  );
  // Anonymous callers: no identity, and still no credential over plaintext.
  t.is(await authenticate(bearer, { ...options, mode: 'none' }, now), undefined);
  t.regex(await unauthenticated(bearer, { ...options, mode: 'none', tls: false }), /plaintext/);
});

test('the algorithm is tied to the key: RS256 over an ECDSA signature and ES512 on a P-256 key are refused', async (t) => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const check = { key: pair.publicKey, roleClaim: 'sub' };
  // An ECDSA signature (DER, SHA-256) labelled RS256: a verifier that picks the digest from
  // `alg` and the scheme from the key accepts it.
  const data = `${part({ alg: 'RS256' })}.${part({ sub: 'x' })}`;
  const der = sign('sha256', Buffer.from(data), pair.privateKey).toString('base64url');
  t.true(await refused(() => checkToken(`${data}.${der}`, check, now), /does not match/));
  // ES512 is P-521's algorithm: a P-256 signature over SHA-512 is not one.
  t.true(
    await refused(
      () => checkToken(signed('ES512', { sub: 'x' }, pair.privateKey), check, now),
      /does not match/,
    ),
  );
  t.is((await checkToken(signed('ES256', { sub: 'x' }, pair.privateKey), check, now)).role, 'x');
});

test('strict base64url: padding, + and /, or trailing bytes are refused', async (t) => {
  const secret = randomBytes(32);
  const key = loadTokenKey({ secretKey: `data:;base64,${secret.toString('base64')}` });
  const check = { key, roleClaim: 'sub' };
  // A token whose signature has a - or _ to turn into + or /.
  let token = '';
  for (let i = 0; !/[-_]/.test(token.split('.')[2] ?? ''); i++)
    token = hs256({ sub: `r${i}` }, secret);
  await t.notThrowsAsync(checkToken(token, check, now));
  const standard = token.replaceAll('-', '+').replaceAll('_', '/');
  for (const [what, bad] of [
    ['padding', `${token}=`],
    ['+ and /', standard],
    ['trailing bytes', `${token}!!`],
  ] as const) {
    t.true(await refused(() => checkToken(bad, check, now), /not a JWT/), what);
  }
});

test('exp must be a whole number of seconds; audience and issuer when configured', async (t) => {
  const secret = randomBytes(32);
  const key = loadTokenKey({ secretKey: `data:;base64,${secret.toString('base64')}` });
  const check = { key, roleClaim: 'sub' };
  for (const exp of [2 ** 53 + 10, 1e300, now / 1000 + 60.5]) {
    t.true(
      await refused(() => checkToken(hs256({ sub: 'x', exp }, secret), check, now), /exp/),
      String(exp),
    );
  }
  const audience = { ...check, audience: 'seam', issuer: 'https://issuer' };
  const claims = { sub: 'x', iss: 'https://issuer' };
  t.is((await checkToken(hs256({ ...claims, aud: 'seam' }, secret), audience, now)).role, 'x');
  t.is(
    (await checkToken(hs256({ ...claims, aud: ['a', 'seam'] }, secret), audience, now)).role,
    'x',
  );
  t.true(await refused(() => checkToken(hs256(claims, secret), audience, now), /audience/));
  t.true(
    await refused(
      () => checkToken(hs256({ ...claims, aud: 'other' }, secret), audience, now),
      /audience/,
    ),
  );
  t.true(
    await refused(
      () => checkToken(hs256({ sub: 'x', aud: 'seam', iss: 'elsewhere' }, secret), audience, now),
      /issuer/,
    ),
  );
  // The same checks without a key (the brokers verify the signature).
  t.true(
    await refused(
      () => checkToken(hs256(claims, secret), { ...audience, key: undefined }, now),
      /audience/,
    ),
  );
});

test('limits count an unverified token apart from the role it claims: 20 forged "alice" tokens leave alice her limits', async (t) => {
  const secret = randomBytes(32);
  const options: CallerAuthOptions = {
    mode: 'forward',
    tls: true,
    allowInsecureCredentials: false,
    token: { roleClaim: 'sub' }, // no key: --trust-unverified-tokens
  };
  const limits = new PrincipalLimits({ maxStreams: 64, requestsPerSecond: 20 });
  const as = async (token: string) => {
    const caller = await authenticate(
      { authorization: [`Bearer ${token}`], certificateRole: undefined },
      options,
      now,
    );
    if (!caller) throw new Error('no caller');
    t.false(caller.limitKey.includes(token), 'the key is a digest, not the token');
    return limits.admit(caller.limitKey, now);
  };
  for (let i = 0; i < 20; i++) await as(hs256({ sub: 'alice', jti: i }, randomBytes(32)));
  await t.notThrowsAsync(as(hs256({ sub: 'alice' }, secret)));
  // With the key, the role is verified and is what limits count.
  const verified = await authenticate(
    { authorization: [`Bearer ${hs256({ sub: 'alice' }, secret)}`], certificateRole: undefined },
    {
      ...options,
      token: {
        roleClaim: 'sub',
        key: loadTokenKey({ secretKey: `data:;base64,${secret.toString('base64')}` }),
      },
    },
    now,
  );
  t.is(verified?.limitKey, 'role alice');
});
