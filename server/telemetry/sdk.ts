/**
 * OpenTelemetry for the `seam serve` process: the Node SDK with the standard gRPC
 * instrumentation, metrics served for Prometheus, traces exported as the standard
 * OTEL_* environment variables say (none unless OTEL_TRACES_EXPORTER is set).
 *
 * Only the entry point uses this file: it must run before anything imports
 * `@grpc/grpc-js`, so the instrumentation can wrap it, and shut down last. Library code
 * records through `@opentelemetry/api` alone.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** Where metrics are served, and test hooks. */
export interface TelemetryOptions {
  serviceVersion: string;
  /** Address of the Prometheus endpoint (`/metrics`). */
  metricsHost: string;
  /** Port of the Prometheus endpoint; 0 picks a free one. */
  metricsPort: number;
  /** Span processors instead of the ones OTEL_TRACES_EXPORTER names (tests pass in-memory ones). */
  spanProcessors?: SpanProcessor[];
}

/** A started SDK. */
export interface Telemetry {
  /** The Prometheus endpoint's port. */
  metricsPort: number;
  /** Flushes and stops; call last. */
  shutdown(): Promise<void>;
}

/** Starts the SDK and the metrics endpoint. Call before importing the gateway. */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  // No collector is assumed: logs and traces are exported only when the operator names an
  // exporter. Spans exist regardless, so log lines carry trace ids and `traceparent` propagates.
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  const exportTraces = (process.env.OTEL_TRACES_EXPORTER ?? 'none') !== 'none';
  const [
    { NodeSDK },
    { GrpcInstrumentation },
    { PrometheusExporter },
    resources,
    { NoopSpanProcessor },
  ] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-grpc'),
    import('@opentelemetry/exporter-prometheus'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const spanProcessors =
    options.spanProcessors ?? (exportTraces ? undefined : [new NoopSpanProcessor()]);
  const sdk = new NodeSDK({
    resource: resources.resourceFromAttributes({
      'service.name': process.env.OTEL_SERVICE_NAME ?? 'seam',
      'service.version': options.serviceVersion,
    }),
    // Not the process detector: it would publish the command line, which may hold a token.
    resourceDetectors: [
      resources.envDetector,
      resources.hostDetector,
      resources.osDetector,
      resources.serviceInstanceIdDetector,
    ],
    instrumentations: [new GrpcInstrumentation()],
    metricReaders: [prometheus],
    ...(spanProcessors ? { spanProcessors } : {}),
  });
  sdk.start();
  // The instrumentation patches @grpc/grpc-js (CommonJS) as `require` loads it; the gateway's
  // ESM imports of it later get that same, patched module from the require cache. Not the
  // ESM loader hook (`module.register`): it runs loaders on a thread of their own, a second
  // V8 isolate that cost the gateway ~19 MiB RSS at rest (docs/operations.md, Memory).
  createRequire(import.meta.url)('@grpc/grpc-js');

  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === '/metrics') {
      prometheus.getMetricsRequestHandler(request, response);
    } else {
      response.writeHead(404).end('Seam serves metrics at /metrics\n');
    }
  });
  try {
    await listen(server, options.metricsHost, options.metricsPort);
  } catch (error) {
    await sdk.shutdown();
    throw new Error(
      `cannot serve metrics on ${options.metricsHost}:${options.metricsPort} (${(error as Error).message}): choose another --metrics-port (0 picks a free one)`,
    );
  }
  return {
    metricsPort: (server.address() as AddressInfo).port,
    async shutdown() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sdk.shutdown();
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
