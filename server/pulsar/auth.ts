/** Credentials for Pulsar connections. */
import type { AuthProvider } from './connection.ts';

/**
 * Pulsar's `token` authentication (a JWT). `token` may be a function, called at every
 * connect and auth challenge, so a rotated token is picked up without reconnecting.
 */
export function tokenAuth(token: string | (() => string | Promise<string>)): AuthProvider {
  return {
    method: 'token',
    async authData() {
      return Buffer.from(typeof token === 'string' ? token : await token(), 'utf8');
    },
  };
}
