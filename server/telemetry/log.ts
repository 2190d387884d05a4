/**
 * Structured logs: JSON lines (pino) carrying the active span's trace id, so a stream's
 * log lines join its trace. Secrets are redacted by key wherever they appear in a line's
 * fields: at any depth, keys compared without case (a child logger's bindings: at the top
 * level or one below, by pino's own redaction; Seam makes no child loggers).
 */
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Levels, quietest last. */
export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Keys whose values never reach a log line, lower case. */
const secretKeys = new Set(['authorization', 'token', 'pulsartoken', 'password', 'key', 'secret']);

const censor = '[redacted]';

/** `secretKeys` as pino's redact paths take them (exact case). */
const secretPaths = [
  'authorization',
  'Authorization',
  'token',
  'pulsarToken',
  'password',
  'key',
  'secret',
];

/** Deepest level of a log field that is walked; deeper values are replaced whole. */
const maxDepth = 8;

/**
 * A copy of `value` with every secret key's value censored, at any depth (pino's own
 * `redact` takes fixed paths, one `*` level each). Objects seen twice (cycles) and levels
 * past `maxDepth` are cut, so no field can make a log line unbounded.
 */
export function redactSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= maxDepth || seen.has(value)) return '[cut]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1, seen));
  const copy: Record<string, unknown> = {};
  // An Error's message and stack are not enumerable: keep them, as pino's serializer does.
  if (value instanceof Error) {
    copy.type = value.name;
    copy.message = value.message;
    copy.stack = value.stack;
  }
  for (const [key, item] of Object.entries(value)) {
    copy[key] = secretKeys.has(key.toLowerCase()) ? censor : redactSecrets(item, depth + 1, seen);
  }
  return copy;
}

const redactFields = (fields: Record<string, unknown>) =>
  redactSecrets(fields) as Record<string, unknown>;

/** A logger writing JSON lines to `destination` (stdout by default). */
export function createLogger(
  level: (typeof logLevels)[number],
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service: 'seam' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        bindings: redactFields,
        log: redactFields,
      },
      // pino resets the bindings formatter for child loggers: their bindings are redacted
      // by these paths instead (a key, or a key one level down).
      redact: { paths: [...secretPaths, ...secretPaths.map((k) => `*.${k}`)], censor },
      mixin() {
        const context = trace.getActiveSpan()?.spanContext();
        return context && isSpanContextValid(context)
          ? { trace_id: context.traceId, span_id: context.spanId }
          : {};
      },
    },
    destination,
  );
}

/** A logger that writes nothing: the default for gateways embedded in tests and demos. */
export const silentLogger: Logger = createLogger('silent');
