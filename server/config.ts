/**
 * The gateway's configuration: defaults, overridden by an optional JSON file, then by
 * environment variables, then by command-line flags; validated once, at start-up.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { defaultHistoryBudgetBytes, defaultHistoryParallelism } from './core/segmented-history.ts';
import type { GatewayOptions } from './grpc/server.ts';
import { logLevels } from './telemetry/log.ts';

const port = z.coerce.number().int().min(0).max(65_535);
const positive = z.coerce.number().int().positive();

/** Every setting, its default and its unit. */
export const configSchema = z.strictObject({
  /** Pulsar binary protocol URL (`pulsar://` or `pulsar+ssl://`). */
  pulsarUrl: z
    .string()
    .regex(/^pulsar(\+ssl)?:\/\//, 'must start with pulsar:// or pulsar+ssl://')
    .default('pulsar://127.0.0.1:6650'),
  /** Pulsar admin REST URL, for segment metadata. */
  pulsarAdminUrl: z.url().default('http://127.0.0.1:8080'),
  /** Token (JWT) Seam authenticates to Pulsar with; none by default. */
  pulsarToken: z.string().min(1).optional(),
  /** CA certificate file (PEM) to trust for pulsar+ssl://. */
  pulsarTlsCa: z.string().min(1).optional(),
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
  /** Segments (ledgers) of history a stream reads at once; 1 = one reader per partition. */
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
  host: 'SEAM_HOST',
  port: 'SEAM_PORT',
  maxConcurrentStreams: 'SEAM_MAX_CONCURRENT_STREAMS',
  maxRequestBytes: 'SEAM_MAX_REQUEST_BYTES',
  keepaliveTimeMs: 'SEAM_KEEPALIVE_TIME_MS',
  keepaliveTimeoutMs: 'SEAM_KEEPALIVE_TIMEOUT_MS',
  shutdownGraceMs: 'SEAM_SHUTDOWN_GRACE_MS',
  maxBufferedBytes: 'SEAM_MAX_BUFFERED_BYTES',
  receiverQueueSize: 'SEAM_RECEIVER_QUEUE_SIZE',
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

/** The gRPC server's part of the configuration. */
export function gatewayOptions(config: Config): GatewayOptions {
  return {
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

/** Defaults with `overrides` (flag-style strings), ignoring the environment: for tests and demos. */
export function configWith(overrides: Partial<Record<keyof Config, string>>): Config {
  return loadConfig({ env: {}, flags: overrides });
}
