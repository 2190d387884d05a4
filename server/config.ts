/**
 * The gateway's configuration: defaults, overridden by an optional JSON file, then by
 * environment variables, then by command-line flags; validated once, at start-up.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { defaultHistoryBudgetBytes, defaultHistoryParallelism } from './core/segmented-history.ts';
import type { StreamDeps } from './core/stream.ts';
import type { GatewayOptions } from './grpc/server.ts';
import { defaultMemoryBudgetBytes, MemoryPool } from './memory-pool.ts';
import { defaultReceiverQueueBytes } from './pulsar/flow-control.ts';
import { loadTokenKey } from './security/jwt.ts';
import { logLevels } from './telemetry/log.ts';

const port = z.coerce.number().int().min(0).max(65_535);
const positive = z.coerce.number().int().positive();
/** A switch: true/false in a file, `--flag` on the command line, "true"/"false" in the environment. */
const flag = z.union([z.boolean(), z.stringbool()]).default(false);

/** Every setting, its default and its unit. */
export const configSchema = z.strictObject({
  /** Pulsar binary protocol URL (`pulsar://` or `pulsar+ssl://`). */
  pulsarUrl: z
    .string()
    .regex(/^pulsar(\+ssl)?:\/\//, 'must start with pulsar:// or pulsar+ssl://')
    .default('pulsar://127.0.0.1:6650'),
  /** Pulsar admin REST URL, for segment metadata. */
  pulsarAdminUrl: z.url().default('http://127.0.0.1:8080'),
  /** Token (JWT) Seam authenticates to Pulsar with, or `file:///path` (re-read at each use). */
  pulsarToken: z.string().min(1).optional(),
  /** CA certificate file (PEM) to trust for pulsar+ssl://. */
  pulsarTlsCa: z.string().min(1).optional(),
  /** TLS certificate chain (PEM file) of the gRPC port. */
  tlsCert: z.string().min(1).optional(),
  /** TLS private key (PEM file) of the gRPC port. */
  tlsKey: z.string().min(1).optional(),
  /** CA (PEM file) whose client certificates are required: mTLS, the role from the CN. */
  tlsClientCa: z.string().min(1).optional(),
  /** Serve the gRPC port without TLS; must be asked for when no certificate is set. */
  plaintext: flag,
  /** Development only: accept call credentials (tokens) over plaintext. */
  allowInsecureCredentials: flag,
  /** `none`: callers are anonymous, Seam reads as itself; `forward`: Seam reads as each caller. */
  callerAuth: z.enum(['none', 'forward']).default('none'),
  /** The brokers' token secret key (file, or `data:;base64,...`): Seam checks signatures too. */
  tokenSecretKey: z.string().min(1).optional(),
  /** The brokers' token public key (PEM or DER file), instead of a secret key. */
  tokenPublicKey: z.string().min(1).optional(),
  /** The token claim holding the role, as the brokers' `tokenAuthClaim`. */
  tokenAuthClaim: z.string().min(1).default('sub'),
  /** Streams one caller may have open at once; more get RESOURCE_EXHAUSTED. */
  principalMaxStreams: positive.default(64),
  /** Streams one caller may open per second (and at once in a burst). */
  principalRequestsPerSecond: positive.default(20),
  /** How often an open stream re-checks its caller's access with the brokers, ms. */
  accessCheckIntervalMs: positive.default(30_000),
  /** Address the gRPC server listens on. */
  host: z.string().min(1).default('127.0.0.1'),
  /** gRPC port; 0 picks a free one. */
  port: port.default(50051),
  /** Streams served at once; more get RESOURCE_EXHAUSTED. */
  maxConcurrentStreams: positive.default(256),
  /** Largest request accepted, bytes (4 MiB, gRPC's default). Fields have their own limits. */
  maxRequestBytes: positive.default(4 * 1024 * 1024),
  /** gRPC keepalive ping interval, ms. */
  keepaliveTimeMs: positive.default(30_000),
  /** gRPC keepalive ping timeout, ms. */
  keepaliveTimeoutMs: positive.default(10_000),
  /** How long shutdown waits for streams to end, ms. */
  shutdownGraceMs: positive.default(10_000),
  /** Response bytes a stream may have written that its client has not taken (8 MiB). */
  maxBufferedBytes: positive.default(8 * 1024 * 1024),
  /** Messages each partition's reader prefetches from Pulsar. */
  receiverQueueSize: positive.default(1000),
  /** Bytes each reader may hold queued and prefetched (8 MiB; a message counts its payload + ~400 B). */
  receiverQueueBytes: positive.default(defaultReceiverQueueBytes),
  /** Bytes all streams' buffers draw from together: queues, prefetch, segment buffers, unsent responses (256 MiB). */
  memoryBudgetBytes: positive.default(defaultMemoryBudgetBytes),
  /** Segment readers (ledgers of history) a stream may have open at once; 1 = one reader per partition. */
  historyParallelism: positive.default(defaultHistoryParallelism),
  /** Bytes (as stored) a stream's segment readers may buffer and prefetch (64 MiB). */
  historyBudgetBytes: positive.default(defaultHistoryBudgetBytes),
  /** Address of the Prometheus endpoint (`GET /metrics`). */
  metricsHost: z.string().min(1).default('127.0.0.1'),
  /** Port of the Prometheus endpoint (OpenTelemetry's conventional 9464); 0 picks a free one. */
  metricsPort: port.default(9464),
  /** Least severe log level written (JSON lines on stdout). */
  logLevel: z.enum(logLevels).default('info'),
});

/** The validated configuration. */
export type Config = z.infer<typeof configSchema>;

/** Environment variable names, by setting. */
export const envNames: Record<keyof Config, string> = {
  pulsarUrl: 'SEAM_PULSAR_URL',
  pulsarAdminUrl: 'SEAM_PULSAR_ADMIN_URL',
  pulsarToken: 'SEAM_PULSAR_TOKEN',
  pulsarTlsCa: 'SEAM_PULSAR_TLS_CA',
  tlsCert: 'SEAM_TLS_CERT',
  tlsKey: 'SEAM_TLS_KEY',
  tlsClientCa: 'SEAM_TLS_CLIENT_CA',
  plaintext: 'SEAM_PLAINTEXT',
  allowInsecureCredentials: 'SEAM_ALLOW_INSECURE_CREDENTIALS',
  callerAuth: 'SEAM_CALLER_AUTH',
  tokenSecretKey: 'SEAM_TOKEN_SECRET_KEY',
  tokenPublicKey: 'SEAM_TOKEN_PUBLIC_KEY',
  tokenAuthClaim: 'SEAM_TOKEN_AUTH_CLAIM',
  principalMaxStreams: 'SEAM_PRINCIPAL_MAX_STREAMS',
  principalRequestsPerSecond: 'SEAM_PRINCIPAL_REQUESTS_PER_SECOND',
  accessCheckIntervalMs: 'SEAM_ACCESS_CHECK_INTERVAL_MS',
  host: 'SEAM_HOST',
  port: 'SEAM_PORT',
  maxConcurrentStreams: 'SEAM_MAX_CONCURRENT_STREAMS',
  maxRequestBytes: 'SEAM_MAX_REQUEST_BYTES',
  keepaliveTimeMs: 'SEAM_KEEPALIVE_TIME_MS',
  keepaliveTimeoutMs: 'SEAM_KEEPALIVE_TIMEOUT_MS',
  shutdownGraceMs: 'SEAM_SHUTDOWN_GRACE_MS',
  maxBufferedBytes: 'SEAM_MAX_BUFFERED_BYTES',
  receiverQueueSize: 'SEAM_RECEIVER_QUEUE_SIZE',
  receiverQueueBytes: 'SEAM_RECEIVER_QUEUE_BYTES',
  memoryBudgetBytes: 'SEAM_MEMORY_BUDGET_BYTES',
  historyParallelism: 'SEAM_HISTORY_PARALLELISM',
  historyBudgetBytes: 'SEAM_HISTORY_BUDGET_BYTES',
  metricsHost: 'SEAM_METRICS_HOST',
  metricsPort: 'SEAM_METRICS_PORT',
  logLevel: 'SEAM_LOG_LEVEL',
};

/** A configuration that cannot be used; the message lists every problem. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Flag name (`--max-concurrent-streams`) of a setting. */
export function flagName(key: keyof Config): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
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
  for (const [key, name] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const parsed = configSchema.safeParse({ ...fromFile, ...fromEnv, ...options.flags });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = issue.path[0] as keyof Config | undefined;
      const where =
        key && key in envNames
          ? `${key} (--${flagName(key)}, ${envNames[key]})`
          : (key ?? 'config');
      return `  ${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  }
  return parsed.data;
}

/** Settings that are switches: `--plaintext` rather than `--plaintext true`. */
export const switchSettings: readonly (keyof Config)[] = ['plaintext', 'allowInsecureCredentials'];

/** Reads a file named by a setting, or stops start-up naming the setting. */
function readSetting(key: keyof Config, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(
      `${key} (--${flagName(key)}, ${envNames[key]}): cannot read ${path}: ${(error as Error).message}`,
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
      token: { key, roleClaim: config.tokenAuthClaim, clockSkewMs: 5_000 },
    },
    principalLimits: {
      maxStreams: config.principalMaxStreams,
      requestsPerSecond: config.principalRequestsPerSecond,
    },
    accessCheckIntervalMs: config.accessCheckIntervalMs,
  };
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
  };
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
