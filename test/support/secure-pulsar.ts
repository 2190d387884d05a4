/**
 * Real Pulsar standalones with JWT authentication and authorization on (pulsar.sh's
 * `secure` and `trusted-proxy` profiles: their own ports and data), for the security
 * tests, and gateways started for a test. Each is started once (reused when healthy) and
 * left running for other test files; scripts/test.sh stops them at the end.
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

/** pulsar.sh's token-authenticated profiles and where each listens. */
const profiles = {
  /** Brokers authenticate the caller's forwarded token (authenticateOriginalAuthData). */
  secure: { brokerPort: 6660, webPort: 8090, data: 'pulsar/.data-auth' },
  /** Brokers take Seam's word for the caller (callers known by a client certificate). */
  'trusted-proxy': { brokerPort: 6670, webPort: 8100, data: 'pulsar/.data-trust' },
};

/**
 * A standalone pulsar.sh runs with JWT authentication and authorization on: its tokens,
 * grants and topics (through its admin REST API as the superuser), the official producer
 * with a token, and gateways that read as their callers.
 */
export class AuthenticatedPulsar {
  readonly profile: keyof typeof profiles;
  readonly serviceUrl: string;
  readonly webUrl: string;
  /** The brokers' token secret key file (Pulsar's `tokenSecretKey`). */
  readonly secretKeyFile: string;
  private readonly authDir: string;
  private started: Promise<void> | undefined;

  constructor(profile: keyof typeof profiles) {
    const { brokerPort, webPort, data } = profiles[profile];
    this.profile = profile;
    this.serviceUrl = `pulsar://127.0.0.1:${brokerPort}`;
    this.webUrl = `http://127.0.0.1:${webPort}`;
    this.authDir = `${root}${data}/auth`;
    this.secretKeyFile = `${this.authDir}/secret.key`;
  }

  /** Starts the standalone unless it is already healthy. */
  ensure(): Promise<void> {
    this.started ??= run('bash', [`${root}pulsar/pulsar.sh`, 'start'], {
      timeout: 300_000,
      env: { ...process.env, SEAM_PULSAR_PROFILE: this.profile },
    }).then(() => undefined);
    return this.started;
  }

  /** The token pulsar.sh made for the superuser or Seam's proxy role. */
  roleToken(role: 'admin' | 'seam-proxy'): string {
    return readFileSync(`${this.authDir}/${role}.token`, 'utf8').trim();
  }

  /**
   * A JWT for `role` signed HS256 with the brokers' secret key (what `pulsar tokens create`
   * makes), with extra claims (`exp`, `nbf` in seconds); `alg` and `key` make bad ones.
   */
  signToken(
    role: string,
    options: { claims?: Record<string, unknown>; alg?: string; key?: Buffer } = {},
  ): string {
    const signed = `${base64url({ alg: options.alg ?? 'HS256' })}.${base64url({ sub: role, ...options.claims })}`;
    if (options.alg === 'none') return `${signed}.`;
    const key = options.key ?? readFileSync(this.secretKeyFile);
    return `${signed}.${createHmac('sha256', key).update(signed).digest('base64url')}`;
  }

  /** A call on the admin REST API as the superuser; throws on a non-2xx answer. */
  async admin(method: string, path: string, body?: unknown): Promise<void> {
    const response = await fetch(`${this.webUrl}/admin/v2/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.roleToken('admin')}`,
        'content-type': 'application/json',
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    }
  }

  /** Grants `role` the actions (e.g. `consume`) on one topic. */
  grant(topic: string, role: string, actions: string[]): Promise<void> {
    return this.admin('POST', `${topic.replace('://', '/')}/permissions/${role}`, actions);
  }

  /** Withdraws every action `role` had on `topic`. */
  revoke(topic: string, role: string): Promise<void> {
    return this.admin('DELETE', `${topic.replace('://', '/')}/permissions/${role}`);
  }

  /** Produces `count` generated messages as the superuser with the official client. */
  async produce(topic: string, count: number): Promise<void> {
    const args = [
      `${root}test/support/official.py`,
      '--url',
      this.serviceUrl,
      '--token',
      this.roleToken('admin'),
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

  /** Seam's client and admin for this standalone, with the proxy role's token. */
  proxyConnections(): { client: PulsarClient; admin: PulsarAdmin } {
    const proxyToken = this.roleToken('seam-proxy');
    return {
      client: new PulsarClient({
        serviceUrl: this.serviceUrl,
        auth: tokenAuth(proxyToken),
        operationTimeoutMs: 20_000,
      }),
      admin: new PulsarAdmin({
        webServiceUrl: this.webUrl,
        authorization: () => `Bearer ${proxyToken}`,
      }),
    };
  }

  /**
   * Starts a gateway in `forward` mode against this standalone: Seam connects with its
   * proxy role's token. `settings` are config settings as flag strings (TLS files, limits,
   * the token key...); plaintext with credentials allowed unless TLS is given.
   */
  async startGateway(
    settings: Record<string, string> = {},
    logger?: Logger,
  ): Promise<ServedGateway> {
    const { client, admin } = this.proxyConnections();
    const tls = settings.tlsCert !== undefined;
    return startTestGateway(
      { client, admin },
      {
        callerAuth: 'forward',
        ...(tls ? {} : { plaintext: 'true', allowInsecureCredentials: 'true' }),
        ...settings,
      },
      logger,
    );
  }
}

/** The security tests' standalone: brokers authenticate forwarded tokens. */
export const securePulsar = new AuthenticatedPulsar('secure');
/** A standalone whose brokers trust Seam's word for its callers (mTLS callers). */
export const trustedProxyPulsar = new AuthenticatedPulsar('trusted-proxy');

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A gateway started for a test, and how to call it. */
export interface ServedGateway {
  gateway: Gateway;
  port: number;
  /** A client of the gateway whose calls carry `authorization` metadata when given. */
  as(authorization?: string, channel?: grpc.ChannelCredentials): TestGateway;
  close(): Promise<void>;
}

/**
 * Starts a gateway on a free port over `pulsar` (closed with it) with config `settings`
 * as flag strings, on top of a 1 s shutdown grace.
 */
export async function startTestGateway(
  pulsar: { client: PulsarClient; admin?: PulsarAdmin },
  settings: Record<string, string>,
  logger?: Logger,
): Promise<ServedGateway> {
  const gateway = await Gateway.start(pulsar, {
    ...gatewayOptions(configWith({ port: '0', shutdownGraceMs: '1000', ...settings })),
    ...(logger ? { logger } : {}),
  });
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
      await pulsar.client.close();
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
