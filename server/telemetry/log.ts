/**
 * Structured logs: JSON lines (pino) carrying the active span's trace id, so a stream's
 * log lines join its trace. Secrets are redacted by key wherever they appear.
 */
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Levels, quietest last. */
export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Keys whose values never reach a log line. */
const secretKeys = ['authorization', 'token', 'pulsarToken', 'password', 'key'];

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
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...secretKeys, ...secretKeys.map((k) => `*.${k}`)], censor: '[redacted]' },
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
