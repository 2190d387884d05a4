/**
 * What the gateway tells operators about its streams: a span per stream (a child of the
 * gRPC server span), metrics, and one log line when a stream opens and one when it closes.
 * Records through `@opentelemetry/api` only; without an SDK every call is a no-op.
 */
import {
  type Attributes,
  type Counter,
  context,
  type Histogram,
  metrics,
  type ObservableCallback,
  type ObservableGauge,
  type Span,
  SpanStatusCode,
  trace,
  type UpDownCounter,
} from '@opentelemetry/api';
import type { ReadRequest } from '../core/request.ts';
import type { StreamEvent } from '../core/stream.ts';
import type { Logger } from '../telemetry/log.ts';

const tracer = trace.getTracer('seam');

/** Buckets of the tail-lag histogram, ms: from a millisecond to minutes behind. */
const lagBucketsMs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 60_000];

/** Least time between two `stream.refused` lines of one status, ms. */
const refusalLogIntervalMs = 1_000;

/** A gateway's instruments; created when it starts, after the SDK did. */
export class GatewayTelemetry {
  readonly logger: Logger;
  readonly active: UpDownCounter;
  readonly ended: Counter;
  readonly rows: Counter;
  readonly bytes: Counter;
  readonly batches: Counter;
  readonly historyBytesRead: Counter;
  readonly historyBytesExpected: Counter;
  readonly tailLag: Histogram;
  readonly calls: Counter;
  private readonly buffered: ObservableGauge;
  private readonly observeBuffered: ObservableCallback;

  /** `bufferedBytes` reports the response bytes written to gRPC and not yet sent. */
  constructor(logger: Logger, bufferedBytes: () => number) {
    this.logger = logger;
    const meter = metrics.getMeter('seam');
    const counter = (name: string, description: string, unit: string) =>
      meter.createCounter(name, { description, unit });
    this.active = meter.createUpDownCounter('seam.streams.active', {
      description: 'ReadStream calls being served',
      unit: '{stream}',
    });
    this.ended = counter(
      'seam.streams.ended',
      'ReadStream calls ended, by gRPC status (errors by code)',
      '{stream}',
    );
    this.rows = counter('seam.rows.sent', 'Rows sent to clients, by phase', '{row}');
    this.bytes = counter('seam.bytes.sent', 'Response bytes handed to gRPC, by phase', 'By');
    this.batches = counter('seam.batches.sent', 'Record batches sent, by phase', '{batch}');
    this.historyBytesRead = counter(
      'seam.history.read',
      'Stored bytes of history entries read (progress = read / expected)',
      'By',
    );
    this.historyBytesExpected = counter(
      'seam.history.expected',
      'Stored bytes of history the opened streams expect, from segment metadata',
      'By',
    );
    this.tailLag = meter.createHistogram('seam.tail.lag', {
      description: 'Publish time to send time of tail rows',
      unit: 'ms',
      advice: { explicitBucketBoundaries: lagBucketsMs },
    });
    this.calls = counter(
      'seam.calls',
      'Calls answered that read metadata, not rows (Flight planning, schemas, listings, actions), by method and gRPC status',
      '{call}',
    );
    this.buffered = meter.createObservableGauge('seam.write.buffered', {
      description: 'Response bytes written to gRPC that HTTP/2 has not sent yet',
      unit: 'By',
    });
    this.observeBuffered = (result) => result.observe(bufferedBytes());
    this.buffered.addCallback(this.observeBuffered);
  }

  /**
   * A call refused before it became a stream (authentication, limits, shutdown): counted,
   * and logged so operators see refused callers.
   */
  refused(status: string, peer: string, message: string): void {
    this.ended.add(1, { status });
    // One line per status per second at most: a client retrying without credentials (or
    // a flood of them) must not write a warning per call. The count goes in the next line.
    const now = Date.now();
    const last = this.refusalLines.get(status);
    if (last && now - last.at < refusalLogIntervalMs) {
      last.suppressed += 1;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.refusalLines.set(status, { at: now, suppressed: 0 });
    this.logger.warn(
      { event: 'stream.refused', peer, status, message, ...(suppressed > 0 ? { suppressed } : {}) },
      'stream refused',
    );
  }

  /**
   * A call that reads metadata, not rows, was answered with `status`: counted, and logged
   * (debug when OK, a warning otherwise, so refused callers show as streams' do).
   */
  answered(
    method: string,
    peer: string,
    principal: string | undefined,
    status: string,
    startedAt: number,
    message?: string,
  ): void {
    this.calls.add(1, { method, status });
    const line = {
      event: 'call',
      method,
      peer,
      ...(principal ? { principal } : {}),
      status,
      ...(message ? { message } : {}),
      durationMs: Math.round(performance.now() - startedAt),
    };
    if (status === 'OK') this.logger.debug(line, 'call answered');
    else this.logger.warn(line, 'call failed');
  }

  /** When a refusal line was last written per status, and how many were not written since. */
  private readonly refusalLines = new Map<string, { at: number; suppressed: number }>();

  /**
   * Starts observing one stream: its span becomes the active context of `run`. `principal`
   * is the authenticated caller's role, if any (never a credential).
   */
  observe<T>(
    peer: string,
    principal: string | undefined,
    run: (stream: StreamObservation) => Promise<T>,
  ): Promise<T> {
    const span = tracer.startSpan('seam.stream', {
      attributes: { 'client.address': peer, ...(principal ? { 'enduser.id': principal } : {}) },
    });
    const observation = new StreamObservation(this, span, peer, principal);
    return context.with(trace.setSpan(context.active(), span), () => run(observation));
  }

  /** Stops observing gauges (the gateway stopped). */
  close(): void {
    this.buffered.removeCallback(this.observeBuffered);
  }
}

/** One stream's span, figures and log lines. */
export class StreamObservation {
  private readonly telemetry: GatewayTelemetry;
  private readonly span: Span;
  private readonly peer: string;
  private readonly principal: string | undefined;
  private readonly startedAt = performance.now();
  private attributes: Attributes = {};
  private rows = 0;
  private bytes = 0;
  private batches = 0;
  private historyRows = 0;
  private historyBytesRead = 0;

  constructor(
    telemetry: GatewayTelemetry,
    span: Span,
    peer: string,
    principal: string | undefined,
  ) {
    this.telemetry = telemetry;
    this.span = span;
    this.peer = peer;
    this.principal = principal;
    telemetry.active.add(1);
  }

  /** The request was valid. */
  request(request: ReadRequest): void {
    this.attributes = {
      'messaging.system': 'pulsar',
      'messaging.destination.name': request.topic,
      'seam.start': request.start.kind,
      'seam.end': request.end.kind,
    };
    this.span.setAttributes(this.attributes);
  }

  /** `event` went out as `bytes` of responses. */
  sent(event: StreamEvent, bytes: number): void {
    const t = this.telemetry;
    switch (event.kind) {
      case 'start': {
        const partitions = event.info.partitions.length;
        this.span.setAttribute('seam.partitions', partitions);
        this.bytes += bytes;
        t.historyBytesExpected.add(event.info.estimatedHistoryBytes);
        t.bytes.add(bytes, { phase: 'history' });
        t.logger.info(
          {
            event: 'stream.open',
            peer: this.peer,
            ...(this.principal ? { principal: this.principal } : {}),
            topic: event.info.topic,
            partitions,
            start: this.attributes['seam.start'],
            end: this.attributes['seam.end'],
            estimatedHistoryBytes: event.info.estimatedHistoryBytes,
          },
          'stream open',
        );
        return;
      }
      case 'batch': {
        const phase = { phase: event.phase };
        const rows = event.batch.numRows;
        this.rows += rows;
        this.bytes += bytes;
        this.batches++;
        t.rows.add(rows, phase);
        t.bytes.add(bytes, phase);
        t.batches.add(1, phase);
        if (event.phase === 'history') {
          this.historyRows += rows;
          t.historyBytesRead.add(event.progress.historyBytesRead - this.historyBytesRead);
          this.historyBytesRead = event.progress.historyBytesRead;
        } else {
          const now = Date.now();
          for (const publishTime of event.publishTimes) t.tailLag.record(now - publishTime);
        }
        return;
      }
      case 'seam':
        this.span.addEvent('seam', { 'seam.history_rows': event.historyRows });
        this.bytes += bytes;
        t.bytes.add(bytes, { phase: 'history' });
        return;
      case 'heartbeat':
        this.bytes += bytes;
        t.bytes.add(bytes, { phase: 'tail' });
        return;
    }
  }

  /** The stream ended with `status` (a gRPC status name). */
  end(status: string, message?: string): void {
    const t = this.telemetry;
    t.active.add(-1);
    t.ended.add(1, { status });
    const failed = status !== 'OK' && status !== 'CANCELLED';
    if (failed)
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: `${status}: ${message}` });
    this.span.setAttributes({
      'rpc.grpc.status_code': status,
      'seam.rows': this.rows,
      'seam.batches': this.batches,
    });
    t.logger[failed ? 'warn' : 'info'](
      {
        event: 'stream.close',
        peer: this.peer,
        ...(this.principal ? { principal: this.principal } : {}),
        topic: this.attributes['messaging.destination.name'],
        status,
        ...(message ? { message } : {}),
        rows: this.rows,
        historyRows: this.historyRows,
        batches: this.batches,
        bytes: this.bytes,
        durationMs: Math.round(performance.now() - this.startedAt),
      },
      'stream closed',
    );
    this.span.end();
  }
}
