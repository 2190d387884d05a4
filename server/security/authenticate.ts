/**
 * Who is calling: the role from an `authorization: Bearer <token>` header (a Pulsar JWT),
 * or from the client certificate's common name under mTLS. Credentials sent over plaintext
 * are refused unless the server was started for development with them allowed.
 */
import { createHash } from 'node:crypto';
import { SeamError } from '../core/errors.ts';
import { checkToken, type TokenCheck } from './jwt.ts';

/** A caller Seam reads for: brokers authorize `principal`. */
export interface Caller {
  principal: string;
  /** The caller's token, forwarded to Pulsar; undefined for a role from a certificate. */
  token: string | undefined;
  /** When the token expires, ms since the epoch; undefined when it does not. */
  expiresAt: number | undefined;
  /**
   * What per-caller limits count: the principal when Seam verified it (a token signed with
   * the configured key, a client certificate), else a digest of the token itself. An
   * unverified role is the caller's own claim: keyed on it, anyone could spend alice's
   * limits by minting tokens that say `sub: alice`.
   */
  limitKey: string;
}

/** How callers are authenticated. */
export interface CallerAuthOptions {
  /**
   * `none`: callers are anonymous and Seam reads with its own Pulsar credentials.
   * `forward`: every call must carry a token or a client certificate, and Seam reads as
   * that caller (Pulsar's original principal).
   */
  mode: 'none' | 'forward';
  /** The gRPC port's transport: credentials over plaintext are refused unless allowed. */
  tls: boolean;
  /** Development only: accept credentials over plaintext. */
  allowInsecureCredentials: boolean;
  token: TokenCheck;
}

/** What a call presents. */
export interface CallCredentials {
  /** Every `authorization` metadata value. */
  authorization: string[];
  /** The verified client certificate's subject common name, under mTLS. */
  certificateRole: string | undefined;
}

/** Authenticates a call: its caller, or undefined when callers are anonymous. */
export async function authenticate(
  presented: CallCredentials,
  options: CallerAuthOptions,
  now = Date.now(),
): Promise<Caller | undefined> {
  const { authorization } = presented;
  if (authorization.length > 0 && !options.tls && !options.allowInsecureCredentials) {
    throw new SeamError(
      'UNAUTHENTICATED',
      'a credential was sent over plaintext and is refused: connect with TLS (the server needs --tls-cert and --tls-key), or start the server with --allow-insecure-credentials for development',
    );
  }
  if (options.mode === 'none') return undefined;
  if (authorization.length > 1) {
    throw new SeamError('UNAUTHENTICATED', 'send one authorization header, not several');
  }
  const header = authorization[0];
  if (header !== undefined) {
    const bearer = /^Bearer +(\S+)$/i.exec(header.trim());
    if (!bearer) {
      throw new SeamError(
        'UNAUTHENTICATED',
        'the authorization header must be "Bearer <token>" with a Pulsar token (JWT)',
      );
    }
    const token = bearer[1] as string;
    const claims = await checkToken(token, options.token, now);
    return {
      principal: claims.role,
      token,
      expiresAt: claims.expiresAt,
      limitKey: claims.verified
        ? `role ${claims.role}`
        : `token ${createHash('sha256').update(token).digest('base64url')}`,
    };
  }
  if (presented.certificateRole) {
    const principal = presented.certificateRole;
    return { principal, token: undefined, expiresAt: undefined, limitKey: `role ${principal}` };
  }
  throw new SeamError(
    'UNAUTHENTICATED',
    'this gateway reads as its callers: send "authorization: Bearer <token>" metadata with a Pulsar token, or connect with a client certificate',
  );
}

/**
 * What a broker's refusal to authenticate means for a caller known only by its client
 * certificate: Seam has no credential of its to forward, so brokers that authenticate a
 * proxy's callers (`authenticateOriginalAuthData=true`) refuse it whatever its grants.
 * Says so and what to change; any other error is returned as it is.
 */
export function explainRefusal(error: unknown, caller: Caller | undefined): unknown {
  if (caller === undefined || caller.token !== undefined) return error;
  const failure = SeamError.from(error);
  if (failure.code !== 'UNAUTHENTICATED') return error;
  return new SeamError(
    'UNAUTHENTICATED',
    `${failure.message}: the brokers authenticate the credentials a proxy forwards for its callers, and a caller known by its client certificate ("${caller.principal}") has none: send "authorization: Bearer <token>" metadata with a Pulsar token, or have the brokers take Seam's role's word for its callers (authenticateOriginalAuthData=false)`,
    { cause: failure, resumeToken: failure.resumeToken },
  );
}
