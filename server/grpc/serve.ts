/**
 * The one serve path of every call on the gateway's port, whatever its service (SeamService,
 * Arrow Flight): refused while shutting down, authenticated, admitted by the per-caller
 * limits, observed, and its errors turned into statuses in one place. Streams of rows
 * (ReadStream, DoGet) also share the gateway's stream limit, the write loop with its window
 * on the memory budget, the caller watch and graceful shutdown.
 */
import * as grpc from '@grpc/grpc-js';
import { SeamError, type StatusName } from '../core/errors.ts';
import type { ReadRequest } from '../core/request.ts';
import type { StreamDeps, StreamEvent } from '../core/stream.ts';
import { depsForCaller, watchCaller } from '../security/access.ts';
import {
  authenticate,
  type Caller,
  type CallerAuthOptions,
  explainRefusal,
} from '../security/authenticate.ts';
import type { PrincipalLimits } from '../security/limits.ts';
import type { GatewayTelemetry, StreamObservation } from './observe.ts';
import { type Response, type ResponseStyle, responsesFor, resumeTokenOf } from './responses.ts';
import { type ResponseSink, WriteWindow, writeEvents } from './write-window.ts';

/** Trailing metadata key carrying the last resume token when a stream ends early. */
export const resumeTokenTrailer = 'seam-resume-token-bin';

const statusCodes: Record<StatusName, grpc.status> = {
  CANCELLED: grpc.status.CANCELLED,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  DATA_LOSS: grpc.status.DATA_LOSS,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  INTERNAL: grpc.status.INTERNAL,
};

/** The one place errors become gRPC statuses. */
export function toStatus(error: unknown, lastToken: Buffer | undefined): grpc.StatusObject {
  const failure = SeamError.from(error);
  const metadata = new grpc.Metadata();
  const token = failure.resumeToken ?? lastToken;
  if (token) metadata.set(resumeTokenTrailer, token);
  return { code: statusCodes[failure.code], details: failure.message, metadata };
}

/** How a service words its statuses: `toStatus` for seam.v1; Flight prefixes the code. */
export type StatusMapper = (error: unknown, lastToken: Buffer | undefined) => grpc.StatusObject;

/** What differs between the services on the wire: status wording and response encoding. */
export interface Wire {
  status: StatusMapper;
  responses: ResponseStyle;
}

/** SeamService's wire. */
export const seamWire: Wire = { status: toStatus, responses: 'seam' };

/** What the serve path reads of any call: its metadata, peer and TLS peer. */
export type IncomingCall = Pick<
  grpc.ServerUnaryCall<unknown, unknown>,
  'metadata' | 'getPeer' | 'getAuthContext'
> & {
  on(event: 'cancelled', listener: () => void): unknown;
};

/** A server-streaming call the write loop writes serialized responses to. */
export type StreamingCall = IncomingCall &
  ResponseSink<Response> &
  Pick<grpc.ServerWritableStream<unknown, Response>, 'end' | 'cancelled'>;

/** What a stream of rows reads, once its caller is known: the request and its events. */
export interface StreamRead {
  request: ReadRequest;
  events: AsyncIterable<StreamEvent>;
}

/**
 * Validates a call's request and starts its read with `deps` (the caller's, when callers
 * are authenticated); throws SeamError to refuse it before any row.
 */
export type StreamSource = (deps: StreamDeps, signal: AbortSignal) => Promise<StreamRead>;

/** Settings of the serve path; see GatewayOptions. */
export interface ServeOptions {
  maxConcurrentStreams: number;
  maxBufferedBytes: number;
  accessCheckIntervalMs: number;
  callerAuth: CallerAuthOptions;
  limits: PrincipalLimits | undefined;
}

interface ActiveStream {
  abort: AbortController;
  window: WriteWindow;
  /** Set when the gateway ends the stream to shut down (then the status is OK). */
  shuttingDown: boolean;
}

/** The role of an mTLS caller: its verified client certificate's subject common name. */
function certificateRole(call: IncomingCall): string | undefined {
  const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
  // A certificate may carry several CNs; a role must be exactly one.
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

/** Every call of the gateway goes through one of these; it holds the open streams. */
export class ServePath {
  private readonly options: ServeOptions;
  private readonly deps: StreamDeps;
  readonly telemetry: GatewayTelemetry;
  private readonly active = new Set<ActiveStream>();
  private stopping = false;

  constructor(deps: StreamDeps, options: ServeOptions, telemetry: GatewayTelemetry) {
    this.deps = deps;
    this.options = options;
    this.telemetry = telemetry;
  }

  /** Streams being served now. */
  get activeStreams(): number {
    return this.active.size;
  }

  /** Response bytes written by open streams and not yet sent. */
  get bufferedBytes(): number {
    let bytes = 0;
    for (const stream of this.active) bytes += stream.window.buffered;
    return bytes;
  }

  /** Authenticates a call: its caller (undefined when callers are anonymous), or throws. */
  authenticate(call: IncomingCall): Promise<Caller | undefined> {
    return authenticate(
      {
        authorization: call.metadata.get('authorization').map(String),
        certificateRole: certificateRole(call),
      },
      this.options.callerAuth,
    );
  }

  /**
   * Serves one stream of rows, observed by its own span: refused while shutting down,
   * beyond the gateway's stream limit or the caller's; else `source` reads as the caller
   * and the write loop sends its events as the client takes them. Never rejects.
   */
  async stream(call: StreamingCall, source: StreamSource, wire: Wire = seamWire): Promise<void> {
    if (this.stopping) {
      this.refuse(
        call,
        new SeamError('UNAVAILABLE', 'the gateway is shutting down: retry on another replica'),
        wire,
      );
      return;
    }
    if (this.active.size >= this.options.maxConcurrentStreams) {
      this.refuse(
        call,
        new SeamError(
          'RESOURCE_EXHAUSTED',
          `the gateway serves ${this.options.maxConcurrentStreams} streams at most: retry later`,
        ),
        wire,
      );
      return;
    }
    let caller: Caller | undefined;
    let release: (() => void) | undefined;
    try {
      caller = await this.authenticate(call);
      if (caller) release = this.options.limits?.admit(caller.limitKey);
    } catch (error) {
      this.refuse(call, error, wire);
      return;
    }
    try {
      await this.telemetry.observe(call.getPeer(), caller?.principal, (observation) =>
        this.writeLoop(call, source, observation, caller, wire),
      );
    } finally {
      release?.();
    }
  }

  /**
   * Answers one call that reads metadata, not rows (planning, schemas, listings): refused
   * while shutting down, authenticated and counted by the caller's limits while it runs.
   * `run` gets the dependencies as the caller and a signal aborted when the client
   * cancels; its result or its error's status is returned, for the service to send. Never
   * rejects.
   */
  async answer<T>(
    method: string,
    call: IncomingCall,
    run: (deps: StreamDeps, signal: AbortSignal) => Promise<T>,
    wire: Wire = seamWire,
  ): Promise<{ ok: true; value: T } | { ok: false; status: grpc.StatusObject }> {
    const startedAt = performance.now();
    const abort = new AbortController();
    call.on('cancelled', () =>
      abort.abort(new SeamError('CANCELLED', 'the client cancelled the call')),
    );
    let caller: Caller | undefined;
    let release: (() => void) | undefined;
    try {
      if (this.stopping) {
        throw new SeamError(
          'UNAVAILABLE',
          'the gateway is shutting down: retry on another replica',
        );
      }
      caller = await this.authenticate(call);
      if (caller) release = this.options.limits?.admit(caller.limitKey);
      const value = await run(caller ? depsForCaller(this.deps, caller) : this.deps, abort.signal);
      this.telemetry.answered(method, call.getPeer(), caller?.principal, 'OK', startedAt);
      return { ok: true, value };
    } catch (error) {
      const failure = SeamError.from(explainRefusal(error, caller));
      this.telemetry.answered(
        method,
        call.getPeer(),
        caller?.principal,
        failure.code,
        startedAt,
        failure.message,
      );
      return { ok: false, status: wire.status(failure, undefined) };
    } finally {
      release?.();
    }
  }

  /** Ends a stream that is not served, with its status, and a log line. */
  private refuse(call: StreamingCall, error: unknown, wire: Wire) {
    const failure = SeamError.from(error);
    this.telemetry.refused(failure.code, call.getPeer(), failure.message);
    call.emit('error', wire.status(failure, undefined));
  }

  /** The write loop: events out as fast as the client takes them; the status at the end. */
  private async writeLoop(
    call: StreamingCall,
    source: StreamSource,
    observation: StreamObservation,
    caller: Caller | undefined,
    wire: Wire,
  ): Promise<void> {
    const deps = caller ? depsForCaller(this.deps, caller) : this.deps;
    const stream: ActiveStream = {
      abort: new AbortController(),
      window: new WriteWindow(this.options.maxBufferedBytes, deps.memory),
      shuttingDown: false,
    };
    const { signal } = stream.abort;
    this.active.add(stream);
    // A client that cancels or vanishes aborts the stream, whatever it is waiting on.
    call.on('cancelled', () =>
      stream.abort.abort(new SeamError('CANCELLED', 'the client cancelled the stream')),
    );
    let lastToken: Buffer | undefined;
    let status = 'OK';
    let details: string | undefined;
    let unwatch: (() => void) | undefined;
    try {
      const { request, events } = await source(deps, signal);
      observation.request(request);
      if (caller) {
        unwatch = watchCaller({
          caller,
          callerDeps: deps,
          topic: request.topic,
          intervalMs: this.options.accessCheckIntervalMs,
          abort: stream.abort,
        });
      }
      await writeEvents(call, events, {
        window: stream.window,
        signal,
        encode: (event) => responsesFor(event, wire.responses),
        sent: (event, bytes) => {
          observation.sent(event, bytes);
          lastToken = resumeTokenOf(event) ?? lastToken;
        },
      });
      call.end();
    } catch (error) {
      if (stream.shuttingDown) {
        // Ended by shutdown: OK, with where to resume on another replica.
        const metadata = new grpc.Metadata();
        if (lastToken) metadata.set(resumeTokenTrailer, lastToken);
        call.end(metadata);
      } else if (call.cancelled) {
        status = 'CANCELLED';
        // Nothing reaches the client any more; this ends the call's server span, which the
        // gRPC instrumentation otherwise leaves open after a cancellation.
        call.emit(
          'error',
          wire.status(new SeamError('CANCELLED', 'cancelled by the client'), undefined),
        );
      } else {
        // A stream ended by its caller's watch (expired token, access withdrawn) may have
        // been waiting on HTTP/2 then, which rejects with a plain AbortError: report why.
        const reason = signal.aborted && signal.reason instanceof SeamError ? signal.reason : error;
        const failure = SeamError.from(explainRefusal(reason, caller));
        status = failure.code;
        details = failure.message;
        call.emit('error', wire.status(failure, lastToken));
      }
    } finally {
      unwatch?.();
      stream.window.close();
      this.active.delete(stream);
      observation.end(status, details);
    }
  }

  /** Refuses new calls and ends open streams (with OK and their resume token). */
  stop(): void {
    this.stopping = true;
    for (const stream of this.active) {
      stream.shuttingDown = true;
      stream.abort.abort(new SeamError('UNAVAILABLE', 'the gateway is shutting down'));
    }
  }
}
