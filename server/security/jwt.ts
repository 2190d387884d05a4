/**
 * Pulsar's JWT tokens as a caller presents them: the role (a claim, `sub` by default),
 * expiry, optional audience and issuer, and, when Seam holds the brokers' key, the
 * signature, verified by `jose` (the algorithm tied to the key's type and curve). Brokers
 * check every token again (they authenticate the original auth data Seam forwards), so
 * this is a first gate that turns bad tokens away early with a clear status; without a
 * key it is the only gate Seam has, and what it reads from the token is unverified.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeJwt, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import { SeamError } from '../core/errors.ts';

/** What Seam learnt from a token it accepted. */
export interface TokenClaims {
  /** The role the brokers will see. */
  role: string;
  /** When the token stops being valid, ms since the epoch; undefined when it never does. */
  expiresAt: number | undefined;
  /** True when Seam verified the signature: the role is then the brokers' word, not the caller's. */
  verified: boolean;
}

/** How tokens are checked. */
export interface TokenCheck {
  /** The brokers' HMAC secret key (Pulsar's `tokenSecretKey`), or their public key. */
  key?: KeyObject | undefined;
  /** The claim holding the role (Pulsar's `tokenAuthClaim`). */
  roleClaim: string;
  /** Leeway for `exp` and `nbf`, ms: clocks differ a little between machines. */
  clockSkewMs?: number;
  /** When set, the `aud` claim must name it (Pulsar's `tokenAudience`). */
  audience?: string | undefined;
  /** When set, the `iss` claim must equal it. */
  issuer?: string | undefined;
}

/** Longest token accepted, characters: far above any real JWT, well below a request. */
const maxTokenLength = 16 * 1024;

/**
 * Three base64url parts, unpadded, nothing else: padding, `+` `/`, spaces or trailing
 * bytes are refused before any decoding (jose's own decoder is lenient without
 * `Uint8Array.fromBase64`, which Node 24 lacks).
 */
const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The JWT algorithms a key of each type may verify: never one of another type or curve. */
function algorithmsFor(key: KeyObject): string[] {
  if (key.type === 'secret') return ['HS256', 'HS384', 'HS512'];
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const alg = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[curve ?? ''];
      return alg ? [alg] : [];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

/** Every algorithm name a signed token may carry; `none` is never one. */
const knownAlgorithms = new Set([
  ...['HS', 'RS', 'PS', 'ES'].flatMap((p) => [256, 384, 512].map((bits) => `${p}${bits}`)),
  'EdDSA',
  'Ed25519',
]);

function refuse(reason: string, cause?: unknown): SeamError {
  return new SeamError('UNAUTHENTICATED', `the bearer token is refused: ${reason}`, { cause });
}

/** jose's refusal, said in a caller's terms. */
function explain(error: unknown): SeamError {
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return refuse('its signature does not verify with the configured key', error);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return refuse('its algorithm does not match the configured key', error);
  }
  if (error instanceof errors.JOSEError) return refuse(error.message, error);
  return refuse('it cannot be read', error);
}

/** A NumericDate claim (seconds) as ms, or undefined when absent; refuses anything else. */
function numericDate(payload: JWTPayload, claim: 'exp' | 'nbf'): number | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  // A safe integer of seconds: a float, NaN-like or huge value would make `* 1000` and
  // timer arithmetic lie.
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw refuse(`${claim} is not a whole number of seconds`);
  }
  return value * 1000;
}

/**
 * Checks a token and returns its role and expiry; rejects with UNAUTHENTICATED. Always:
 * the compact form, `alg` (never `none`), `exp`, `nbf`, the role claim, and the audience
 * and issuer when configured; with a key, the signature (jose). Messages never contain
 * the token.
 */
export async function checkToken(
  token: string,
  check: TokenCheck,
  now = Date.now(),
): Promise<TokenClaims> {
  if (token.length > maxTokenLength) throw refuse(`longer than ${maxTokenLength} characters`);
  if (!compactJws.test(token)) {
    throw refuse('not a JWT (three dot-separated unpadded base64url parts)');
  }
  let alg: unknown;
  let payload: JWTPayload;
  try {
    alg = decodeProtectedHeader(token).alg;
    payload = decodeJwt(token);
  } catch (error) {
    throw refuse('its header or payload is not base64url JSON', error);
  }
  // `none` (any case) and unknown algorithms are refused whether or not Seam has a key.
  if (typeof alg !== 'string' || !knownAlgorithms.has(alg)) {
    throw refuse(`algorithm ${JSON.stringify(alg ?? '').slice(0, 40)} is not accepted`);
  }
  if (check.key) {
    const algorithms = algorithmsFor(check.key);
    if (!algorithms.includes(alg)) {
      throw refuse(`its algorithm does not match the configured ${check.key.type} key`);
    }
    try {
      // Claims are checked below, alike with and without a key; jose checks the
      // signature, the algorithm against the key, and the JWS's own rules (`crit`).
      await jwtVerify(token, check.key, {
        algorithms,
        currentDate: new Date(now),
        clockTolerance: Math.ceil((check.clockSkewMs ?? 0) / 1000),
      });
    } catch (error) {
      if (
        !(error instanceof errors.JWTExpired || error instanceof errors.JWTClaimValidationFailed)
      ) {
        throw explain(error);
      }
    }
  }
  const skew = check.clockSkewMs ?? 0;
  const exp = numericDate(payload, 'exp');
  if (exp !== undefined && exp + skew <= now) throw refuse('it has expired');
  const nbf = numericDate(payload, 'nbf');
  if (nbf !== undefined && nbf - skew > now) throw refuse('it is not valid yet (nbf)');
  if (check.audience !== undefined) {
    const aud = payload.aud;
    const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!audiences.includes(check.audience)) {
      throw refuse(`its audience (aud) does not name ${JSON.stringify(check.audience)}`);
    }
  }
  if (check.issuer !== undefined && payload.iss !== check.issuer) {
    throw refuse(`its issuer (iss) is not ${JSON.stringify(check.issuer)}`);
  }
  const role = payload[check.roleClaim];
  if (typeof role !== 'string' || role === '') {
    throw refuse(`it has no role in its ${JSON.stringify(check.roleClaim)} claim`);
  }
  return { role, expiresAt: exp, verified: check.key !== undefined };
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
