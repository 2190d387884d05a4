/**
 * Pulsar's JWT tokens as a caller presents them: the role (a claim, `sub` by default),
 * expiry, and, when Seam holds the brokers' key, the signature. Brokers check every token
 * again (they authenticate the original auth data Seam forwards), so this is a first gate
 * that turns bad tokens away early with a clear status, never the only one.
 */
import {
  createHmac,
  createPublicKey,
  createSecretKey,
  type KeyObject,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SeamError } from '../core/errors.ts';

/** What Seam learnt from a token it accepted. */
export interface TokenClaims {
  /** The role the brokers will see. */
  role: string;
  /** When the token stops being valid, ms since the epoch; undefined when it never does. */
  expiresAt: number | undefined;
}

/** How tokens are checked. */
export interface TokenCheck {
  /** The brokers' HMAC secret key (Pulsar's `tokenSecretKey`), or their public key. */
  key?: KeyObject | undefined;
  /** The claim holding the role (Pulsar's `tokenAuthClaim`). */
  roleClaim: string;
  /** Leeway for `exp` and `nbf`, ms: clocks differ a little between machines. */
  clockSkewMs?: number;
}

type SignatureKind = 'hmac' | 'rsa' | 'pss' | 'ecdsa';

/** Signature algorithms by JWT name (HS256 ... ES512): digest, and the signature's layout. */
const algorithms = new Map<string, { digest: string; kind: SignatureKind }>(
  (
    [
      ['HS', 'hmac'],
      ['RS', 'rsa'],
      ['PS', 'pss'],
      ['ES', 'ecdsa'],
    ] as const
  ).flatMap(([prefix, kind]) =>
    [256, 384, 512].map((bits) => [`${prefix}${bits}`, { digest: `sha${bits}`, kind }]),
  ),
);

/** Longest token accepted, characters: far above any real JWT, well below a request. */
const maxTokenLength = 16 * 1024;

function refuse(reason: string): SeamError {
  return new SeamError('UNAUTHENTICATED', `the bearer token is refused: ${reason}`);
}

function jsonPart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw refuse(`its ${what} is not base64url JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw refuse(`its ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Checks a token and returns its role and expiry; throws UNAUTHENTICATED. Always: the
 * shape, `alg` (never `none`), `exp`, `nbf` and the role claim; with a key, the signature.
 * Error messages never contain the token.
 */
export function checkToken(token: string, check: TokenCheck, now = Date.now()): TokenClaims {
  if (token.length > maxTokenLength) throw refuse(`longer than ${maxTokenLength} characters`);
  const parts = token.split('.');
  if (parts.length !== 3) throw refuse('not a JWT (three dot-separated parts)');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = jsonPart(headerPart, 'header');
  const payload = jsonPart(payloadPart, 'payload');
  const alg = typeof header.alg === 'string' ? header.alg : '';
  const algorithm = algorithms.get(alg);
  // `none` (any case) and unknown algorithms are refused whether or not Seam has a key.
  if (!algorithm) throw refuse(`algorithm ${JSON.stringify(alg).slice(0, 40)} is not accepted`);
  if (check.key)
    verifySignature(`${headerPart}.${payloadPart}`, signaturePart, algorithm, check.key);
  const skew = check.clockSkewMs ?? 0;
  const exp = payload.exp;
  if (exp !== undefined && typeof exp !== 'number') throw refuse('exp is not a number');
  if (typeof exp === 'number' && exp * 1000 + skew <= now) throw refuse('it has expired');
  const nbf = payload.nbf;
  if (nbf !== undefined && typeof nbf !== 'number') throw refuse('nbf is not a number');
  if (typeof nbf === 'number' && nbf * 1000 - skew > now) throw refuse('it is not valid yet (nbf)');
  const role = payload[check.roleClaim];
  if (typeof role !== 'string' || role === '') {
    throw refuse(`it has no role in its ${JSON.stringify(check.roleClaim)} claim`);
  }
  return { role, expiresAt: typeof exp === 'number' ? exp * 1000 : undefined };
}

function verifySignature(
  signed: string,
  signaturePart: string,
  algorithm: { digest: string; kind: SignatureKind },
  key: KeyObject,
): void {
  const signature = Buffer.from(signaturePart, 'base64url');
  const symmetric = key.type === 'secret';
  if (symmetric !== (algorithm.kind === 'hmac')) {
    throw refuse(`its algorithm does not match the configured ${key.type} key`);
  }
  let valid: boolean;
  if (algorithm.kind === 'hmac') {
    const expected = createHmac(algorithm.digest, key).update(signed).digest();
    valid = expected.length === signature.length && timingSafeEqual(expected, signature);
  } else {
    try {
      valid = verify(
        algorithm.digest,
        Buffer.from(signed),
        {
          key,
          ...(algorithm.kind === 'pss' ? { padding: 6, saltLength: -1 } : {}), // RSA_PKCS1_PSS_PADDING, digest-length salt
          ...(algorithm.kind === 'ecdsa' ? { dsaEncoding: 'ieee-p1363' as const } : {}),
        },
        signature,
      );
    } catch {
      valid = false;
    }
  }
  if (!valid) throw refuse('its signature does not verify with the configured key');
}

/**
 * Reads the brokers' key as Pulsar's broker settings name it: `tokenSecretKey` (raw bytes
 * in a file, or `data:;base64,...`) or `tokenPublicKey` (PEM or DER, in a file or `data:`).
 * `file://` prefixes are accepted as Pulsar writes them.
 */
export function loadTokenKey(options: {
  secretKey?: string | undefined;
  publicKey?: string | undefined;
}): KeyObject | undefined {
  if (options.secretKey) return createSecretKey(keyBytes(options.secretKey));
  if (!options.publicKey) return undefined;
  const bytes = keyBytes(options.publicKey);
  return bytes.subarray(0, 10).toString('latin1').startsWith('-----BEGIN')
    ? createPublicKey(bytes)
    : createPublicKey({ key: bytes, format: 'der', type: 'spki' });
}

function keyBytes(source: string): Buffer {
  const data = /^data:[^,]*;base64,(.*)$/s.exec(source);
  if (data) return Buffer.from(data[1] as string, 'base64');
  return readFileSync(source.replace(/^file:\/\//, ''));
}
