/**
 * The gRPC binding: SeamService.ReadStream over the core stream and Arrow Flight's
 * FlightService (server/flight) on one port, both through one serve path (serve.ts:
 * authentication, limits, the write loop, statuses), with the standard health service,
 * server reflection and graceful shutdown.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation } from 'grpc-health-check';
import { loaderOptions, protoFile } from '../api.ts';
import { readStream, type StreamDeps } from '../core/stream.ts';
import type { TicketKeyRing } from '../core/ticket.ts';
import {
  addFlightService,
  flightMissing,
  flightServiceName,
  loadFlightDefinition,
} from '../flight/service.ts';
import type { CallerAuthOptions } from '../security/authenticate.ts';
import { type PrincipalLimitOptions, PrincipalLimits } from '../security/limits.ts';
import { type Logger, silentLogger } from '../telemetry/log.ts';
import type { ReadStreamRequest__Output } from './generated/seam/v1/ReadStreamRequest.ts';
import { GatewayTelemetry } from './observe.ts';
import { addReflection, healthDefinition } from './reflection.ts';
import { lenientDeserializer, toReadRequest } from './request.ts';
import { type Response, serializeResponse } from './responses.ts';
import { ServePath } from './serve.ts';

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
  /** HMAC keys that sign and verify Flight tickets; CRC32C-tagged tickets when undefined. */
  ticketKeys?: TicketKeyRing | undefined;
  /** The fleet's Flight locations that endpoints name (`--flight-locations`); none by default. */
  flightLocations?: readonly string[];
}

/** The service's definition as proto-loader reads it, shared with reflection. */
export function loadDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(protoFile, loaderOptions);
}

const serviceName = 'seam.v1.SeamService';

/** A running gateway. */
export class Gateway {
  readonly port: number;
  /** The services on the port besides health and reflection (Flight only when it loaded). */
  readonly services: string[] = [serviceName];
  private readonly server: grpc.Server;
  private readonly health: HealthImplementation;
  private readonly options: GatewayOptions;
  private readonly path: ServePath;
  private readonly telemetry: GatewayTelemetry;

  private constructor(
    server: grpc.Server,
    health: HealthImplementation,
    deps: StreamDeps,
    options: GatewayOptions,
    port: number,
  ) {
    this.server = server;
    this.health = health;
    this.options = options;
    this.port = port;
    const callerAuth: CallerAuthOptions = {
      mode: 'none',
      allowInsecureCredentials: false,
      token: { roleClaim: 'sub' },
      ...options.callerAuth,
      tls: options.tls !== undefined,
    };
    const logger = options.logger ?? silentLogger;
    if (callerAuth.mode === 'forward' && callerAuth.token.key === undefined) {
      logger.warn(
        { event: 'tokens.unchecked' },
        "callers' tokens are checked by the brokers only (--trust-unverified-tokens): safe when they authenticate what a proxy forwards (authenticateOriginalAuthData=true); per-caller limits count each token apart, since its role is unverified; give Seam the brokers' key (--token-secret-key or --token-public-key) to check tokens here too",
      );
    }
    this.telemetry = new GatewayTelemetry(logger, () => this.path.bufferedBytes);
    this.path = new ServePath(
      deps,
      {
        maxConcurrentStreams: options.maxConcurrentStreams,
        maxBufferedBytes: options.maxBufferedBytes,
        accessCheckIntervalMs: options.accessCheckIntervalMs ?? 30_000,
        callerAuth,
        limits: options.principalLimits && new PrincipalLimits(options.principalLimits),
      },
      this.telemetry,
    );
  }

  /** Streams being served now (ReadStream and DoGet). */
  get activeStreams(): number {
    return this.path.activeStreams;
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
    const flightDefinition = loadFlightDefinition();
    if (!flightDefinition)
      (options.logger ?? silentLogger).warn({ event: 'flight.off' }, flightMissing);
    const service = (
      grpc.loadPackageDefinition(definition) as unknown as {
        seam: { v1: { SeamService: grpc.ServiceClientConstructor } };
      }
    ).seam.v1.SeamService.service;
    const generated = service.ReadStream as grpc.MethodDefinition<
      ReadStreamRequest__Output,
      unknown
    >;
    const deserializeRequest = lenientDeserializer(generated.requestDeserialize);
    const readStreamMethod = {
      ...generated,
      requestDeserialize: deserializeRequest,
      responseSerialize: serializeResponse,
    } as grpc.MethodDefinition<ReadStreamRequest__Output, Response>;
    const health = new HealthImplementation({
      '': 'SERVING',
      [serviceName]: 'SERVING',
      ...(flightDefinition ? { [flightServiceName]: 'SERVING' as const } : {}),
    });
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
          } else resolve(new Gateway(server, health, deps, options, port));
        },
      );
    });
    server.addService(
      { ReadStream: readStreamMethod },
      {
        ReadStream: (call: grpc.ServerWritableStream<ReadStreamRequest__Output, Response>) => {
          void gateway.path.stream(call, async (callerDeps, signal) => {
            const request = toReadRequest(call.request);
            return { request, events: readStream(callerDeps, request, signal) };
          });
        },
      },
    );
    if (flightDefinition) {
      gateway.services.push(flightServiceName);
      addFlightService(server, flightDefinition, gateway.path, {
        ticketKeys: options.ticketKeys,
        locations: options.flightLocations ?? [],
        deserializeRequest,
      });
    }
    health.addToServer(server);
    // Every service on the port, so generic tools can describe and call each.
    addReflection(server, [
      definition,
      ...(flightDefinition ? [flightDefinition] : []),
      healthDefinition(),
    ]);
    return gateway;
  }

  /**
   * Graceful shutdown: health NOT_SERVING, refuse new calls, end open streams with OK and
   * their resume token, then stop; cut whatever is left after the grace period.
   */
  async shutdown(): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    for (const service of this.services) this.health.setStatus(service, 'NOT_SERVING');
    this.path.stop();
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
