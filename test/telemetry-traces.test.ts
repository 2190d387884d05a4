/**
 * Traces and logs of a stream, with the SDK the entry point uses and an in-memory span
 * exporter: the stream's span is a child of the standard gRPC server span, carries the
 * seam and a reconnect as events, and the stream's log lines carry its trace id.
 */
import { SpanKind } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import test from 'ava';
import { createLogger } from '../server/telemetry/log.ts';
import { startTelemetry } from '../server/telemetry/sdk.ts';

const spans = new tracing.InMemorySpanExporter();
const telemetry = await startTelemetry({
  serviceVersion: 'test',
  metricsHost: '127.0.0.1',
  metricsPort: 0,
  spanProcessors: [new tracing.SimpleSpanProcessor(spans)],
});
// Imported after the SDK started, so its gRPC instrumentation wraps @grpc/grpc-js.
const { collect, startGateway } = await import('./support/gateway.ts');
const { adminPut, ensurePulsar, freshTopic, produce, topicPath } = await import(
  './support/pulsar.ts'
);

const logLines: Record<string, unknown>[] = [];
const logger = createLogger('info', {
  write: (line: string) => {
    logLines.push(JSON.parse(line) as Record<string, unknown>);
  },
});

test.after.always(() => telemetry.shutdown());

test('a stream span under the gRPC server span, with seam and reconnect events; logs carry its trace id', async (t) => {
  await ensurePulsar();
  const gateway = await startGateway({ logger });
  try {
    const topic = freshTopic('traces');
    await produce(topic, { count: 500, batchMaxMessages: 100, size: 16 });
    let unloaded = false;
    const result = collect(
      gateway,
      { topic },
      {
        stopWhen: (r) =>
          r.batches
            .filter((b) => b.phase === 'PHASE_TAIL')
            .reduce((n, b) => n + b.rows.length, 0) >= 100,
      },
    );
    // After the seam, unload the topic (the reader reconnects), then produce live rows.
    while (logLines.every((l) => l.event !== 'stream.open'))
      await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await adminPut(`${topicPath(topic)}/unload`);
    unloaded = true;
    await produce(topic, { count: 100, batchMaxMessages: 20, size: 16 });
    const read = await result;
    t.true(unloaded);
    t.is(read.seamAt !== undefined, true);

    let stream: tracing.ReadableSpan | undefined;
    for (let i = 0; i < 100 && !stream; i++) {
      stream = spans.getFinishedSpans().find((s) => s.name === 'seam.stream');
      if (!stream) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!stream) return t.fail('no seam.stream span was exported');
    t.like(stream.attributes, {
      'messaging.system': 'pulsar',
      'messaging.destination.name': topic,
      'seam.partitions': 1,
      'seam.start': 'earliest',
      'seam.end': 'follow',
    });
    const seam = stream.events.find((e) => e.name === 'seam');
    t.is(seam?.attributes?.['seam.history_rows'], 500);
    t.true(stream.events.some((e) => e.name === 'pulsar.reconnect'));

    // The gRPC server span ends once the cancelled call is done.
    const parentId = stream.parentSpanContext?.spanId;
    let server: tracing.ReadableSpan | undefined;
    for (let i = 0; i < 100 && !server; i++) {
      server = spans.getFinishedSpans().find((s) => s.spanContext().spanId === parentId);
      if (!server) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    t.is(server?.name, 'grpc.seam.v1.SeamService/ReadStream');
    t.is(server?.kind, SpanKind.SERVER);

    const traceId = stream.spanContext().traceId;
    const lines = logLines.filter((l) => l.topic === topic);
    t.deepEqual(
      lines.map((l) => [l.event, l.trace_id]),
      [
        ['stream.open', traceId],
        ['stream.close', traceId],
      ],
    );
  } finally {
    await gateway.close();
  }
});
