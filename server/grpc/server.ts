/**
 * The gRPC binding: SeamService.ReadStream over the core stream, with one
 * backpressure-aware write loop, errors mapped to status codes in one place, the standard
 * health service, server reflection, limits and graceful shutdown.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation } from 'grpc-health-check';
import { protoFile, protoRoot } from '../api.ts';
import { SeamError, type StatusName } from '../core/errors.ts';
import { readStream, type StreamDeps } from '../core/stream.ts';
import { depsForCaller, watchCaller } from '../security/access.ts';
import {
  authenticate,
  type Caller,
  type CallerAuthOptions,
  explainRefusal,
} from '../security/authenticate.ts';
import { type PrincipalLimitOptions, PrincipalLimits } from '../security/limits.ts';
import { type Logger, silentLogger } from '../telemetry/log.ts';
import type { ReadStreamRequest__Output } from './generated/seam/v1/ReadStreamRequest.ts';
import { GatewayTelemetry, type StreamObservation } from './observe.ts';
import { addReflection, healthDefinition } from './reflection.ts';
import { lenientDeserializer, toReadRequest } from './request.ts';
import { responsesFor, resumeTokenOf } from './responses.ts';
import { WriteWindow, writeEvents } from './write-window.ts';

/** Trailing metadata key carrying the last resume token when a stream ends early. */
export const resumeTokenTrailer = 'seam-resume-token-bin';

/** The gRPC port's TLS: PEM certificate chain and key, and a client CA for mTLS. */
export interface TlsSettings {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate this CA signed (mTLS). */
  clientCa?: Buffer | undefined;
}

/** Server settings; see server/config.ts for defaults and units. */
export interface GatewayOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Streams open at once, across clients; more get RESOURCE_EXHAUSTED. */
  maxConcurrentStreams: number;
  /** Largest request accepted, bytes. */
  maxRequestBytes: number;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  /** How long shutdown waits for streams to end before cutting them. */
  shutdownGraceMs: number;
  /** Response bytes a stream may have written that its client has not taken yet. */
  maxBufferedBytes: number;
  /** TLS; without it, `plaintext` must be set. */
  tls?: TlsSettings | undefined;
  /** Serve without TLS: only when asked for explicitly. */
  plaintext?: boolean;
  /** How callers authenticate; anonymous callers (Seam's own Pulsar role) by default. */
  callerAuth?: Omit<CallerAuthOptions, 'tls'>;
  /** Per-principal limits for authenticated callers; none when undefined. */
  principalLimits?: PrincipalLimitOptions;
  /** How often an open stream re-checks its caller's access with the brokers, ms. */
  accessCheckIntervalMs?: number;
  /** Where stream open/close lines go; silent by default. */
  logger?: Logger;
}

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

/** The role of an mTLS caller: its verified client certificate's subject common name. */
function certificateRole(call: grpc.ServerWritableStream<unknown, unknown>): string | undefined {
  const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
  // A certificate may carry several CNs; a role must be exactly one.
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

/** The service's definition as proto-loader reads it, shared with reflection. */
export function loadDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(protoFile, {
    keepCase: true,
    longs: Number,
    enums: String,
    oneofs: true,
    includeDirs: [protoRoot],
  });
}

const serviceName = 'seam.v1.SeamService';

interface ActiveStream {
  abort: AbortController;
  window: WriteWindow;
  /** Set when the gateway ends the stream to shut down (then the status is OK). */
  shuttingDown: boolean;
}

/** A running gateway. */
export class Gateway {
  readonly port: number;
  private readonly server: grpc.Server;
  private readonly health: HealthImplementation;
  private readonly options: GatewayOptions;
  private readonly active = new Set<ActiveStream>();
  private readonly telemetry: GatewayTelemetry;
  private readonly callerAuth: CallerAuthOptions;
  private readonly limits: PrincipalLimits | undefined;
  private stopping = false;

  private constructor(
    server: grpc.Server,
    health: HealthImplementation,
    options: GatewayOptions,
    port: number,
  ) {
    this.server = server;
    this.health = health;
    this.options = options;
    this.port = port;
    this.callerAuth = {
      mode: 'none',
      allowInsecureCredentials: false,
      token: { roleClaim: 'sub' },
      ...options.callerAuth,
      tls: options.tls !== undefined,
    };
    this.limits = options.principalLimits && new PrincipalLimits(options.principalLimits);
    const logger = options.logger ?? silentLogger;
    if (this.callerAuth.mode === 'forward' && this.callerAuth.token.key === undefined) {
      logger.warn(
        { event: 'tokens.unchecked' },
        "callers' tokens are checked by the brokers only (--trust-unverified-tokens): safe when they authenticate what a proxy forwards (authenticateOriginalAuthData=true); per-caller limits count each token apart, since its role is unverified; give Seam the brokers' key (--token-secret-key or --token-public-key) to check tokens here too",
      );
    }
    this.telemetry = new GatewayTelemetry(logger, () => {
      let bytes = 0;
      for (const stream of this.active) bytes += stream.window.buffered;
      return bytes;
    });
  }

  /** Streams being served now. */
  get activeStreams(): number {
    return this.active.size;
  }

  /** Binds and starts serving. */
  static async start(deps: StreamDeps, options: GatewayOptions): Promise<Gateway> {
    if (!options.tls && !options.plaintext) {
      throw new Error(
        'the gateway needs TLS settings, or plaintext: true to serve without TLS explicitly',
      );
    }
    const server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxRequestBytes,
      'grpc.keepalive_time_ms': options.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
      // Clients may ping this often without data before the server complains.
      'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    } satisfies grpc.ChannelOptions);
    const definition = loadDefinition();
    const service = (
      grpc.loadPackageDefinition(definition) as unknown as {
        seam: { v1: { SeamService: grpc.ServiceClientConstructor } };
      }
    ).seam.v1.SeamService.service;
    const generated = service.ReadStream as grpc.MethodDefinition<
      ReadStreamRequest__Output,
      unknown
    >;
    const readStreamMethod = {
      ...generated,
      requestDeserialize: lenientDeserializer(generated.requestDeserialize),
      // Responses are serialized by responses.ts already.
      responseSerialize: (bytes: Buffer) => bytes,
    } as grpc.MethodDefinition<ReadStreamRequest__Output, Buffer>;
    const health = new HealthImplementation({ '': 'SERVING', [serviceName]: 'SERVING' });
    const gateway = await new Promise<Gateway>((resolve, reject) => {
      server.bindAsync(
        `${options.host}:${options.port}`,
        options.tls
          ? grpc.ServerCredentials.createSsl(
              options.tls.clientCa ?? null,
              [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
              options.tls.clientCa !== undefined,
            )
          : grpc.ServerCredentials.createInsecure(),
        (error, port) => {
          if (error) {
            // grpc-js's message ("No address added out of total 1 resolved") names neither
            // the address nor what to change.
            reject(
              new Error(
                `cannot serve gRPC on ${options.host}:${options.port} (${error.message}): is another process listening there? Choose another --port (0 picks a free one)`,
                { cause: error },
              ),
            );
          } else resolve(new Gateway(server, health, options, port));
        },
      );
    });
    server.addService(
      { ReadStream: readStreamMethod },
      {
        ReadStream: (call: grpc.ServerWritableStream<ReadStreamRequest__Output, Buffer>) => {
          void gateway.serve(deps, call);
        },
      },
    );
    health.addToServer(server);
    // Every service on the port, so generic tools can describe and call each.
    addReflection(server, [definition, healthDefinition()]);
    return gateway;
  }

  /** Serves one ReadStream call, observed by its own span. */
  private async serve(
    deps: StreamDeps,
    call: grpc.ServerWritableStream<ReadStreamRequest__Output, Buffer>,
  ): Promise<void> {
    if (this.stopping) {
      this.refuse(
        call,
        new SeamError('UNAVAILABLE', 'the gateway is shutting down: retry on another replica'),
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
      );
      return;
    }
    let caller: Caller | undefined;
    let release: (() => void) | undefined;
    try {
      caller = await authenticate(
        {
          authorization: call.metadata.get('authorization').map(String),
          certificateRole: certificateRole(call),
        },
        this.callerAuth,
      );
      if (caller) release = this.limits?.admit(caller.limitKey);
    } catch (error) {
      this.refuse(call, error);
      return;
    }
    try {
      await this.telemetry.observe(call.getPeer(), caller?.principal, (observation) =>
        this.writeLoop(caller ? depsForCaller(deps, caller) : deps, call, observation, caller),
      );
    } finally {
      release?.();
    }
  }

  /** Ends a call that is not served, with its status, and a log line. */
  private refuse(
    call: grpc.ServerWritableStream<ReadStreamRequest__Output, Buffer>,
    error: unknown,
  ) {
    const failure = SeamError.from(error);
    this.telemetry.refused(failure.code, call.getPeer(), failure.message);
    call.emit('error', toStatus(failure, undefined));
  }

  /** The write loop: events out as fast as the client takes them; the status at the end. */
  private async writeLoop(
    deps: StreamDeps,
    call: grpc.ServerWritableStream<ReadStreamRequest__Output, Buffer>,
    observation: StreamObservation,
    caller: Caller | undefined,
  ): Promise<void> {
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
      const request = toReadRequest(call.request);
      observation.request(request);
      if (caller) {
        unwatch = watchCaller({
          caller,
          callerDeps: deps,
          topic: request.topic,
          intervalMs: this.options.accessCheckIntervalMs ?? 30_000,
          abort: stream.abort,
        });
      }
      await writeEvents(call, readStream(deps, request, signal), {
        window: stream.window,
        signal,
        encode: responsesFor,
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
          toStatus(new SeamError('CANCELLED', 'cancelled by the client'), undefined),
        );
      } else {
        // A stream ended by its caller's watch (expired token, access withdrawn) may have
        // been waiting on HTTP/2 then, which rejects with a plain AbortError: report why.
        const reason = signal.aborted && signal.reason instanceof SeamError ? signal.reason : error;
        const failure = SeamError.from(explainRefusal(reason, caller));
        status = failure.code;
        details = failure.message;
        call.emit('error', toStatus(failure, lastToken));
      }
    } finally {
      unwatch?.();
      stream.window.close();
      this.active.delete(stream);
      observation.end(status, details);
    }
  }

  /**
   * Graceful shutdown: health NOT_SERVING, refuse new streams, end open ones with OK and
   * their resume token, then stop; cut whatever is left after the grace period.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.health.setStatus('', 'NOT_SERVING');
    this.health.setStatus(serviceName, 'NOT_SERVING');
    for (const stream of this.active) {
      stream.shuttingDown = true;
      stream.abort.abort(new SeamError('UNAVAILABLE', 'the gateway is shutting down'));
    }
    const stopped = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.shutdownGraceMs);
    });
    if ((await Promise.race([stopped, grace])) === 'timeout') this.server.forceShutdown();
    clearTimeout(timer);
    this.telemetry.close();
  }
}
