/** Credentials for Pulsar connections. */
import { readFileSync } from 'node:fs';
import type { AuthProvider } from './connection.ts';

/**
 * A token as Pulsar's clients take it: the token itself, or `file:///path` to a file
 * holding it, read again at every use, so a token rotated in the file is picked up at the
 * next connect or auth challenge without restarting.
 */
export function tokenSource(setting: string): () => string {
  if (!setting.startsWith('file://')) return () => setting;
  const path = setting.slice('file://'.length);
  return () => readFileSync(path, 'utf8').trim();
}

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
