/**
 * The gateway's configuration: defaults, overridden by an optional JSON file, then by
 * environment variables, then by command-line flags; validated once, at start-up.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { defaultHistoryBudgetBytes, defaultHistoryParallelism } from './core/segmented-history.ts';
import type { StreamDeps } from './core/stream.ts';
import { loadTicketKeys, type TicketKeyRing } from './core/ticket.ts';
import { parseLocations, plaintextLocations } from './flight/locations.ts';
import type { GatewayOptions } from './grpc/server.ts';
import { defaultMemoryBudgetBytes, MemoryPool } from './memory-pool.ts';
import { defaultOperationTimeoutMs } from './pulsar/connection.ts';
import { defaultReceiverQueueBytes, defaultReceiverQueueSize } from './pulsar/flow-control.ts';
import { loadTokenKey } from './security/jwt.ts';
import { logLevels } from './telemetry/log.ts';

const port = z.coerce.number().int().min(0).max(65_535);
const positive = z.coerce.number().int().positive();
/** A switch: true/false in a file, `--flag` on the command line, "true"/"false" in the environment. */
const flag = z.union([z.boolean(), z.stringbool()]).default(false);

/**
 * Every setting with its default; its description (with its unit) is what `seam serve --help`
 * and docs/configuration.md show (scripts/gen-config-docs.ts).
 */
export const configSchema = z.strictObject({
  pulsarUrl: z
    .string()
    .regex(/^pulsar(\+ssl)?:\/\//, 'must start with pulsar:// or pulsar+ssl://')
    .default('pulsar://127.0.0.1:6650')
    .describe('Pulsar binary protocol URL: `pulsar://`, or `pulsar+ssl://` for TLS.'),
  pulsarAdminUrl: z
    .url()
    .default('http://127.0.0.1:8080')
    .describe('Pulsar admin REST URL, for segment metadata (estimates, retention checks).'),
  pulsarToken: z
    .string()
    .min(1)
    .optional()
    .describe(
      'JWT Seam authenticates to Pulsar with, or `file:///path` to a file holding it, read again at each connect and auth challenge (so a rotated token is picked up).',
    ),
  pulsarTlsCa: z
    .string()
    .min(1)
    .optional()
    .describe('CA certificate (PEM file) trusted for `pulsar+ssl://`.'),
  pulsarOperationTimeoutMs: positive
    .default(defaultOperationTimeoutMs)
    .describe(
      'How long a Pulsar request waits for its answer, and how long an open (lookup, partitions, schema, subscribe) retries while the brokers are unavailable, e.g. restarting, ms; a call that gives up sooner ends it sooner. 30 s, as the official clients.',
    ),
  tlsCert: z.string().min(1).optional().describe('Certificate chain (PEM file) of the gRPC port.'),
  tlsKey: z
    .string()
    .min(1)
    .optional()
    .describe("Private key (PEM file) of the gRPC port's certificate."),
  tlsClientCa: z
    .string()
    .min(1)
    .optional()
    .describe(
      "CA (PEM file) whose client certificates are required: mTLS; the caller's role is the certificate's CN.",
    ),
  plaintext: flag.describe('Serve the gRPC port without TLS; required when no certificate is set.'),
  allowInsecureCredentials: flag.describe(
    'Development only: accept call credentials (tokens) over plaintext (refused otherwise).',
  ),
  callerAuth: z
    .enum(['none', 'forward'])
    .default('none')
    .describe(
      '`none`: callers are anonymous and Seam reads with its own Pulsar role; `forward`: each call needs a token or client certificate and Seam reads as that caller.',
    ),
  tokenSecretKey: z
    .string()
    .min(1)
    .optional()
    .describe(
      "The brokers' `tokenSecretKey` (file of raw bytes, or `data:;base64,...`): Seam checks token signatures too.",
    ),
  tokenPublicKey: z
    .string()
    .min(1)
    .optional()
    .describe("The brokers' `tokenPublicKey` (PEM or DER file), instead of a secret key."),
  tokenAuthClaim: z
    .string()
    .min(1)
    .default('sub')
    .describe("The token claim holding the role, as the brokers' `tokenAuthClaim`."),
  trustUnverifiedTokens: flag.describe(
    "With `--caller-auth forward` and no token key: accept callers' tokens unverified, because the brokers authenticate what Seam forwards (`authenticateOriginalAuthData=true`). Off by default: without a key or this switch, forward mode does not start. Limits then count each token apart.",
  ),
  tokenAudience: z
    .string()
    .min(1)
    .optional()
    .describe(
      "When set, callers' tokens must name it in their `aud` claim (as the brokers' `tokenAudience`). Unset by default: Pulsar's tokens carry no audience unless made with one.",
    ),
  tokenIssuer: z
    .string()
    .min(1)
    .optional()
    .describe(
      "When set, callers' tokens must carry it as their `iss` claim. Unset by default: Pulsar's token tool sets no issuer.",
    ),
  principalMaxStreams: positive
    .default(64)
    .describe(
      'Streams one authenticated caller may have open at once; more get RESOURCE_EXHAUSTED.',
    ),
  principalRequestsPerSecond: positive
    .default(20)
    .describe(
      'Streams one authenticated caller may open per second (and at once, in a burst); more get RESOURCE_EXHAUSTED.',
    ),
  accessCheckIntervalMs: positive
    .default(30_000)
    .describe("How often an open stream re-checks its caller's access with the brokers, ms."),
  maxCallerConnections: positive
    .default(512)
    .describe(
      'Broker connections the gateway may hold open for its callers at once (each caller credential has its own per broker); at the limit idle ones close, and a new caller gets RESOURCE_EXHAUSTED when none is idle.',
    ),
  flightTicketKeys: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Arrow Flight ticket keys: a file of lines `k:base64key` (k in 1..255, keys of 16 bytes or more: `openssl rand -base64 32`); the first line signs, every line verifies, so keys rotate with no downtime. Tickets are then HMAC-SHA256-signed and unsigned ones refused; give every gateway of a fleet the same file. Unset: tickets carry a CRC32C, which refuses damaged and foreign tickets but not hand-made ones (a ticket grants nothing: DoGet checks the caller as ReadStream does).',
    ),
  flightLocations: z
    .string()
    .optional()
    .superRefine((value, context) => {
      try {
        parseLocations(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
      }
    })
    .describe(
      'Arrow Flight locations of the gateways of a fleet, comma-separated: `grpc://host:port`, `grpc+tcp://…` or `grpc+tls://…` (a host name, IPv4 or [IPv6] address, and a port), this gateway included. Each endpoint of a FlightInfo names them all, rotated so that endpoint j starts at gateway (crc32c(topic) + j) mod n: clients taking the first location spread over the fleet, the rest are failover. Unset: endpoints name no location, which Flight clients read as "this gateway". A fleet with `--flight-ticket-keys` needs the same key file on every gateway.',
    ),
  host: z.string().min(1).default('127.0.0.1').describe('Address the gRPC server listens on.'),
  port: port.default(50051).describe('gRPC port; 0 picks a free one.'),
  maxConcurrentStreams: positive
    .default(256)
    .describe('Streams served at once, all callers together; more get RESOURCE_EXHAUSTED.'),
  maxRequestBytes: positive
    .default(4 * 1024 * 1024)
    .describe(
      "Largest request message accepted, bytes (gRPC's default); fields have their own limits.",
    ),
  keepaliveTimeMs: positive.default(30_000).describe('gRPC keepalive ping interval, ms.'),
  keepaliveTimeoutMs: positive.default(10_000).describe('gRPC keepalive ping timeout, ms.'),
  shutdownGraceMs: positive
    .default(10_000)
    .describe('How long shutdown waits for open streams to end before cutting them, ms.'),
  maxBufferedBytes: positive
    .default(2 * 1024 * 1024)
    .describe('Response bytes a stream may have written that its client has not taken.'),
  receiverQueueSize: positive
    .default(defaultReceiverQueueSize)
    .describe("Messages each partition's reader prefetches from Pulsar."),
  receiverQueueBytes: positive
    .default(defaultReceiverQueueBytes)
    .describe(
      'Bytes each reader may hold queued and prefetched (a message counts its payload + ~400 B; the broker may overshoot by one entry per permit).',
    ),
  memoryBudgetBytes: positive
    .default(defaultMemoryBudgetBytes)
    .describe(
      "Bytes all streams' buffers draw from together: reader queues and prefetch, segment buffers, unsent responses; a stream that finds it spent waits, keeping a minimum to move on. What bounds RSS beyond it: V8's heap (docs/operations.md, Memory).",
    ),
  historyParallelism: positive
    .default(defaultHistoryParallelism)
    .describe(
      'Segment readers (ledgers of history) a stream may have open at once; 1 = one reader per partition.',
    ),
  historyBudgetBytes: positive
    .default(defaultHistoryBudgetBytes)
    .describe(
      "Bytes (as held in memory: payload + ~400 B a message) a stream's segment readers may buffer and prefetch.",
    ),
  metricsHost: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Address of the Prometheus endpoint (`GET /metrics`).'),
  metricsPort: port
    .default(9464)
    .describe(
      "Port of the Prometheus endpoint (OpenTelemetry's conventional 9464); 0 picks a free one (the log's `serving` line says which).",
    ),
  logLevel: z
    .enum(logLevels)
    .default('info')
    .describe('Least severe log level written (JSON lines on stdout).'),
});

/** The validated configuration. */
export type Config = z.infer<typeof configSchema>;

/** A configuration that cannot be used; the message lists every problem. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every setting's name, in the schema's order. */
export const settingKeys: readonly (keyof Config)[] = configSchema.keyof().options;

/** Flag name (`--max-concurrent-streams`) of a setting. */
export function flagName(key: keyof Config): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Environment variable (`SEAM_MAX_CONCURRENT_STREAMS`) of a setting: its flag name in capitals. */
export function envName(key: keyof Config): string {
  return `SEAM_${flagName(key).replaceAll('-', '_').toUpperCase()}`;
}

/** Builds the configuration from a file, the environment and flags (later wins). */
export function loadConfig(options: {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  flags?: Partial<Record<keyof Config, string>>;
}): Config {
  let fromFile: Record<string, unknown> = {};
  if (options.file) {
    try {
      fromFile = JSON.parse(readFileSync(options.file, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(
        `cannot read the config file ${options.file}: ${(error as Error).message}`,
      );
    }
  }
  const fromEnv: Record<string, string> = {};
  const env = options.env ?? process.env;
  for (const key of settingKeys) {
    const value = env[envName(key)];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const parsed = configSchema.safeParse({ ...fromFile, ...fromEnv, ...options.flags });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = settingKeys.find((k) => k === issue.path[0]);
      const where = key
        ? `${key} (--${flagName(key)}, ${envName(key)})`
        : String(issue.path[0] ?? 'config');
      return `  ${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  }
  return parsed.data;
}

/** Settings that are switches: `--plaintext` rather than `--plaintext true`. */
export const switchSettings: readonly (keyof Config)[] = [
  'plaintext',
  'allowInsecureCredentials',
  'trustUnverifiedTokens',
];

/** Reads a file named by a setting, or stops start-up naming the setting. */
function readSetting(key: keyof Config, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(
      `${key} (--${flagName(key)}, ${envName(key)}): cannot read ${path}: ${(error as Error).message}`,
    );
  }
}

/** The gRPC port's transport and caller authentication, checked as a whole. */
function security(
  config: Config,
): Pick<
  GatewayOptions,
  'tls' | 'plaintext' | 'callerAuth' | 'principalLimits' | 'accessCheckIntervalMs'
> {
  const problems: string[] = [];
  if (!config.tlsCert !== !config.tlsKey) problems.push('set both --tls-cert and --tls-key');
  if (config.tlsClientCa && !config.tlsCert) {
    problems.push('--tls-client-ca (mTLS) needs --tls-cert and --tls-key');
  }
  if (!config.tlsCert && !config.plaintext) {
    problems.push(
      'the gRPC port needs TLS: set --tls-cert and --tls-key (SEAM_TLS_CERT, SEAM_TLS_KEY), or serve without TLS explicitly with --plaintext (SEAM_PLAINTEXT=true)',
    );
  }
  if (config.tlsCert && config.plaintext)
    problems.push('--plaintext and --tls-cert exclude each other');
  if (config.tokenSecretKey && config.tokenPublicKey) {
    problems.push('set --token-secret-key or --token-public-key, not both');
  }
  if (config.callerAuth === 'forward' && !config.tlsCert && !config.allowInsecureCredentials) {
    problems.push(
      '--caller-auth forward needs TLS (callers send tokens or certificates), or --allow-insecure-credentials for development',
    );
  }
  const keyGiven = config.tokenSecretKey !== undefined || config.tokenPublicKey !== undefined;
  if (config.callerAuth === 'forward' && !keyGiven && !config.trustUnverifiedTokens) {
    problems.push(
      "--caller-auth forward needs the brokers' token key (--token-secret-key or --token-public-key), so that a token's role is checked before Seam counts limits and opens connections for it; or --trust-unverified-tokens when the brokers authenticate what Seam forwards (authenticateOriginalAuthData=true)",
    );
  }
  if (
    config.callerAuth === 'forward' &&
    plainRemote(config.pulsarAdminUrl) &&
    !config.allowInsecureCredentials
  ) {
    problems.push(
      `--pulsar-admin-url ${config.pulsarAdminUrl} is plain http:// to another machine: with --caller-auth forward, callers' tokens would cross the network in clear text; use https:// (--pulsar-tls-ca trusts a private CA), or --allow-insecure-credentials for development`,
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
  const tls =
    config.tlsCert && config.tlsKey
      ? {
          cert: readSetting('tlsCert', config.tlsCert),
          key: readSetting('tlsKey', config.tlsKey),
          clientCa: config.tlsClientCa ? readSetting('tlsClientCa', config.tlsClientCa) : undefined,
        }
      : undefined;
  let key: KeyObject | undefined;
  try {
    key = loadTokenKey({ secretKey: config.tokenSecretKey, publicKey: config.tokenPublicKey });
  } catch (error) {
    throw new ConfigError(`the token key cannot be read: ${(error as Error).message}`);
  }
  return {
    tls,
    plaintext: config.plaintext,
    callerAuth: {
      mode: config.callerAuth,
      allowInsecureCredentials: config.allowInsecureCredentials,
      token: {
        key,
        roleClaim: config.tokenAuthClaim,
        clockSkewMs: 5_000,
        audience: config.tokenAudience,
        issuer: config.tokenIssuer,
      },
    },
    principalLimits: {
      maxStreams: config.principalMaxStreams,
      requestsPerSecond: config.principalRequestsPerSecond,
    },
    accessCheckIntervalMs: config.accessCheckIntervalMs,
  };
}

/** True for an `http://` URL whose host is not this machine. */
function plainRemote(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return protocol === 'http:' && !isLoopback(hostname);
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
}

/**
 * What a configuration allows but an operator should hear about at start-up: settings
 * that do less than they seem to, and credentials sent in clear text.
 */
export function startupWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.tlsClientCa && config.callerAuth === 'none') {
    warnings.push(
      "--tls-client-ca with --caller-auth none: only holders of a certificate from that CA connect, but the certificate's name is not used: every caller reads as Seam's own role. Set --caller-auth forward to read as each certificate's common name",
    );
  }
  const admin = new URL(config.pulsarAdminUrl);
  if (admin.protocol === 'http:') {
    const sends =
      config.callerAuth === 'forward'
        ? "callers' tokens"
        : config.pulsarToken
          ? "Seam's token"
          : undefined;
    const brokerTls = config.pulsarUrl.startsWith('pulsar+ssl:');
    if (sends && (brokerTls || !isLoopback(admin.hostname))) {
      warnings.push(
        `--pulsar-admin-url ${config.pulsarAdminUrl} is plain http://${brokerTls ? ' while the broker link is pulsar+ssl://' : ''}: ${sends} go to the admin API in clear text; use https:// (--pulsar-tls-ca trusts a private CA)`,
      );
    }
  }
  const plain = plaintextLocations(parseLocations(config.flightLocations), !!config.tlsCert);
  if (plain.length > 0) {
    warnings.push(
      `--flight-locations advertises ${plain.join(', ')} while this gateway serves TLS: Flight clients following ${plain.length === 1 ? 'that location' : 'those locations'} connect without TLS; write grpc+tls://`,
    );
  }
  return warnings;
}

/** The gRPC server's part of the configuration; ConfigError when it cannot serve. */
export function gatewayOptions(config: Config): GatewayOptions {
  return {
    ...security(config),
    host: config.host,
    port: config.port,
    maxConcurrentStreams: config.maxConcurrentStreams,
    maxRequestBytes: config.maxRequestBytes,
    keepaliveTimeMs: config.keepaliveTimeMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    shutdownGraceMs: config.shutdownGraceMs,
    maxBufferedBytes: config.maxBufferedBytes,
    ticketKeys: ticketKeys(config.flightTicketKeys),
    flightLocations: parseLocations(config.flightLocations),
  };
}

/** The Flight ticket key ring of `--flight-ticket-keys`; ConfigError when it is unusable. */
function ticketKeys(file: string | undefined): TicketKeyRing | undefined {
  if (file === undefined) return undefined;
  try {
    return loadTicketKeys(file);
  } catch (error) {
    throw new ConfigError(`--flight-ticket-keys: ${(error as Error).message}`);
  }
}

/**
 * The stream core's part of the configuration (the rest of StreamDeps is connections),
 * with the gateway's memory pool: call once per gateway.
 */
export function streamOptions(
  config: Config,
): Pick<
  StreamDeps,
  | 'receiverQueueSize'
  | 'receiverQueueBytes'
  | 'historyParallelism'
  | 'historyBudgetBytes'
  | 'memory'
> {
  return {
    receiverQueueSize: config.receiverQueueSize,
    receiverQueueBytes: config.receiverQueueBytes,
    historyParallelism: config.historyParallelism,
    historyBudgetBytes: config.historyBudgetBytes,
    memory: new MemoryPool(config.memoryBudgetBytes),
  };
}

/** Defaults with `overrides` (flag-style strings), ignoring the environment: for tests and demos. */
export function configWith(overrides: Partial<Record<keyof Config, string>>): Config {
  return loadConfig({ env: {}, flags: overrides });
}
