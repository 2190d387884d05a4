/**
 * Test certificates made with openssl in a temporary directory: two CAs (`ca` trusted,
 * `other-ca` not), a server certificate for 127.0.0.1 and localhost, and client
 * certificates whose common names are the roles the tests need.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';

const run = promisify(execFile);

/** Certificates in one directory, by name: `<name>.pem` and `<name>.key`. */
export interface TestCertificates {
  dir: string;
  /** The path of a file in the directory, e.g. `ca.pem`. */
  file(name: string): string;
  /** The server's certificate and key as gateway settings. */
  serverSettings(): { tlsCert: string; tlsKey: string };
  /** Channel credentials trusting CA `ca`, presenting client certificate `identity`. */
  channel(ca: string, identity?: string): grpc.ChannelCredentials;
  remove(): void;
}

/**
 * Makes `ca`, `other-ca`, `server` (signed by `ca`) and one client certificate per entry
 * of `clients`: name → its common name and the CA that signs it.
 */
export async function makeCertificates(
  clients: Record<string, { cn: string; ca: 'ca' | 'other-ca' }>,
): Promise<TestCertificates> {
  const dir = mkdtempSync(join(tmpdir(), 'seam-certs-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const subject = (cn: string) => ['-nodes', '-subj', `/CN=${cn}`];
  for (const ca of ['ca', 'other-ca']) {
    await openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      ...subject(ca),
      '-days',
      '2',
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.pem`,
    );
  }
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const sign = async (name: string, cn: string, ca: string) => {
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      ...subject(cn),
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    await openssl(
      'x509',
      '-req',
      '-days',
      '2',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-extfile',
      'san.ext',
      '-out',
      `${name}.pem`,
    );
  };
  await sign('server', 'localhost', 'ca');
  for (const [name, { cn, ca }] of Object.entries(clients)) await sign(name, cn, ca);
  return {
    dir,
    file,
    serverSettings: () => ({ tlsCert: file('server.pem'), tlsKey: file('server.key') }),
    channel: (ca, identity) =>
      grpc.credentials.createSsl(
        readFileSync(file(`${ca}.pem`)),
        identity ? readFileSync(file(`${identity}.key`)) : null,
        identity ? readFileSync(file(`${identity}.pem`)) : null,
      ),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
