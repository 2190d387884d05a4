/**
 * A second real Pulsar standalone with JWT authentication and authorization on
 * (pulsar.sh with SEAM_PULSAR_AUTH=token, its own ports and data), for the security
 * tests: tokens signed with its secret key, grants and topics through its admin REST API
 * as the superuser, the official producer with a token, and a gateway that reads as its
 * callers. Started once (reused when healthy) and left running for other test files;
 * scripts/test.sh stops it at the end.
 */
import { execFile, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { configWith, gatewayOptions } from '../../server/config.ts';
import { Gateway, loadDefinition } from '../../server/grpc/server.ts';
import { PulsarAdmin } from '../../server/pulsar/admin.ts';
import { tokenAuth } from '../../server/pulsar/auth.ts';
import { PulsarClient } from '../../server/pulsar/client.ts';
import type { Logger } from '../../server/telemetry/log.ts';
import type { TestGateway } from './gateway.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/** pulsar.sh's profile for the secure standalone (ports 6660/8090, data in .data-auth). */
const secureEnv = { SEAM_PULSAR_PROFILE: 'secure' };

const authDir = `${root}pulsar/.data-auth/auth`;

/** Where the secure standalone listens (the profile's ports). */
export const securePulsar = {
  serviceUrl: 'pulsar://127.0.0.1:6660',
  webUrl: 'http://127.0.0.1:8090',
  /** The brokers' token secret key file (Pulsar's `tokenSecretKey`). */
  secretKeyFile: `${authDir}/secret.key`,
};

let started: Promise<void> | undefined;

/** Starts the secure standalone unless it is already healthy. */
export function ensureSecurePulsar(): Promise<void> {
  started ??= run('bash', [`${root}pulsar/pulsar.sh`, 'start'], {
    timeout: 300_000,
    env: { ...process.env, ...secureEnv },
  }).then(() => undefined);
  return started;
}

/** The token pulsar.sh made for the superuser or Seam's proxy role. */
export function roleToken(role: 'admin' | 'seam-proxy'): string {
  return readFileSync(`${authDir}/${role}.token`, 'utf8').trim();
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * A JWT for `role` signed HS256 with the brokers' secret key (what `pulsar tokens create`
 * makes), with extra claims (`exp`, `nbf` in seconds); `alg` and `key` make bad ones.
 */
export function signToken(
  role: string,
  options: { claims?: Record<string, unknown>; alg?: string; key?: Buffer } = {},
): string {
  const signed = `${base64url({ alg: options.alg ?? 'HS256' })}.${base64url({ sub: role, ...options.claims })}`;
  if (options.alg === 'none') return `${signed}.`;
  const key = options.key ?? readFileSync(securePulsar.secretKeyFile);
  return `${signed}.${createHmac('sha256', key).update(signed).digest('base64url')}`;
}

/** A call on the admin REST API as the superuser; throws on a non-2xx answer. */
export async function secureAdmin(method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${securePulsar.webUrl}/admin/v2/${path}`, {
    method,
    headers: {
      authorization: `Bearer ${roleToken('admin')}`,
      'content-type': 'application/json',
    },
    body: body === undefined ? null : JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  }
}

/** Grants `role` the actions (e.g. `consume`) on one topic. */
export function grant(topic: string, role: string, actions: string[]): Promise<void> {
  return secureAdmin('POST', `${topic.replace('://', '/')}/permissions/${role}`, actions);
}

/** Withdraws every action `role` had on `topic`. */
export function revoke(topic: string, role: string): Promise<void> {
  return secureAdmin('DELETE', `${topic.replace('://', '/')}/permissions/${role}`);
}

/** Produces `count` generated messages as the superuser with the official client. */
export async function produceSecure(topic: string, count: number): Promise<void> {
  const args = [
    `${root}test/support/official.py`,
    '--url',
    securePulsar.serviceUrl,
    '--token',
    roleToken('admin'),
    'produce',
    topic,
    '--count',
    String(count),
    '--quiet',
  ];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(`${root}.venv/bin/python`, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`official.py produce exited ${code}: ${stderr}`)),
    );
  });
}

/** A gateway reading the secure standalone as its callers, and how to call it. */
export interface SecureGateway {
  gateway: Gateway;
  port: number;
  /** A client of the gateway whose calls carry `metadata` (e.g. a bearer token). */
  as(authorization?: string, channel?: grpc.ChannelCredentials): TestGateway;
  close(): Promise<void>;
}

/**
 * Starts a gateway in `forward` mode against the secure standalone: Seam connects with
 * its proxy role's token. `settings` are config settings as flag strings (TLS files,
 * limits, the token key...); plaintext with credentials allowed unless TLS is given.
 */
export async function startSecureGateway(
  settings: Record<string, string> = {},
  logger?: Logger,
): Promise<SecureGateway> {
  const proxyToken = roleToken('seam-proxy');
  const client = new PulsarClient({
    serviceUrl: securePulsar.serviceUrl,
    auth: tokenAuth(proxyToken),
    operationTimeoutMs: 20_000,
  });
  const admin = new PulsarAdmin({
    webServiceUrl: securePulsar.webUrl,
    authorization: () => `Bearer ${proxyToken}`,
  });
  const tls = settings.tlsCert !== undefined;
  const gateway = await Gateway.start(
    { client, admin },
    {
      ...gatewayOptions(
        configWith({
          port: '0',
          callerAuth: 'forward',
          shutdownGraceMs: '1000',
          ...(tls ? {} : { plaintext: 'true', allowInsecureCredentials: 'true' }),
          ...settings,
        }),
      ),
      ...(logger ? { logger } : {}),
    },
  );
  const clients: TestGateway[] = [];
  return {
    gateway,
    port: gateway.port,
    as(authorization, channel = grpc.credentials.createInsecure()) {
      const caller = callerClient(`127.0.0.1:${gateway.port}`, channel, authorization);
      clients.push(caller);
      return caller;
    },
    async close() {
      for (const c of clients) await c.close();
      await gateway.shutdown();
      await client.close();
    },
  };
}

/**
 * A ReadStream client of the gateway at `address` over `channel` whose every call carries
 * `authorization` metadata when given, shaped for support/gateway.ts `collect`.
 */
export function callerClient(
  address: string,
  channel: grpc.ChannelCredentials,
  authorization?: string,
): TestGateway {
  const Service = (
    grpc.loadPackageDefinition(loadDefinition()) as unknown as {
      seam: { v1: { SeamService: grpc.ServiceClientConstructor } };
    }
  ).seam.v1.SeamService;
  const raw = new Service(address, channel) as unknown as grpc.Client & {
    ReadStream: (request: unknown, metadata: grpc.Metadata) => unknown;
  };
  const metadata = new grpc.Metadata();
  if (authorization !== undefined) metadata.set('authorization', authorization);
  return {
    client: { ReadStream: (request: unknown) => raw.ReadStream(request, metadata) },
    async close() {
      raw.close();
    },
  } as unknown as TestGateway;
}
