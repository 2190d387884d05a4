/**
 * Seam's TypeScript client: read a Pulsar topic through a Seam gateway as Arrow record
 * batches, history then live tail, resuming by itself after a dropped connection.
 *
 * ```ts
 * const seam = new SeamClient('127.0.0.1:50051');
 * for await (const event of seam.read({ topic: 'orders' })) {
 *   if (event.kind === 'batch') console.log(event.phase, event.batch.numRows);
 * }
 * ```
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as arrow from 'apache-arrow';
import type { FlightData__Output } from './generated/arrow/flight/protocol/FlightData.ts';
import type { FlightDescriptor } from './generated/arrow/flight/protocol/FlightDescriptor.ts';
import type { FlightInfo__Output } from './generated/arrow/flight/protocol/FlightInfo.ts';
import type { FlightServiceClient } from './generated/arrow/flight/protocol/FlightService.ts';
import type { ProtoGrpcType as FlightGrpcType } from './generated/Flight.ts';
import type { ReadStreamRequest } from './generated/seam/v1/ReadStreamRequest.ts';
import type { ReadStreamResponse__Output } from './generated/seam/v1/ReadStreamResponse.ts';
import type { SeamServiceClient } from './generated/seam/v1/SeamService.ts';
import type { StreamInfo__Output } from './generated/seam/v1/StreamInfo.ts';
import type { ProtoGrpcType } from './generated/seam.ts';

/** Trailing metadata key with the last resume token of a stream that ended early. */
export const resumeTokenTrailer = 'seam-resume-token-bin';

/**
 * Where to start reading: the oldest message, only what arrives after the stream opens,
 * the first message published at or after a time, a message id (inclusive), or just after
 * a resume token from an earlier read of the same topic.
 */
export type StartAt =
  | 'earliest'
  | 'latest'
  | { publishTime: Date | number }
  | { messageId: Uint8Array }
  | { resumeToken: Uint8Array };

/**
 * When to stop: never (`follow`, the default), once the history the topic held when the
 * stream opened has been read (`atOpen`), or before the first message published after a time.
 */
export type EndAt = 'follow' | 'atOpen' | { publishTime: Date | number };

/** What to read, and how. */
export interface ReadOptions {
  /** The topic, e.g. `persistent://public/default/orders` or just `orders`. */
  topic: string;
  /** Default `earliest`. */
  start?: StartAt;
  /** Default `follow`: the stream never ends by itself. */
  end?: EndAt;
  /** Columns to return, value fields and `__` metadata columns; default all. */
  columns?: string[];
  /** Rows per batch at most; default: the gateway's. */
  maxRows?: number;
  /** Batch bytes at most; default: the gateway's. */
  maxBytes?: number;
  /** How long the tail may hold rows to fill a batch, ms; default: the gateway's. */
  maxLatencyMs?: number;
  /** Heartbeat interval of an idle tail, ms; default: the gateway's. */
  heartbeatMs?: number;
  /** Resume after UNAVAILABLE (gateway restart, network cut) this many times in a row. Default 10. */
  maxResumes?: number;
  /** Aborting it ends the read quietly: the iteration returns. */
  signal?: AbortSignal;
}

/** How far the history has been read, as of a batch. */
export interface Progress {
  /** History rows sent so far. */
  historyRows: number;
  /** History bytes read from Pulsar so far. */
  historyBytesRead: number;
  /** The gateway's estimate of the history's bytes when the stream opened. */
  historyBytesExpected: number;
}

/** The first event of a read: the table's Arrow schema and what the gateway knows of the topic. */
export interface SchemaEvent {
  kind: 'schema';
  /** The columns every batch has: the projected value fields, then metadata columns. */
  schema: arrow.Schema;
  info: StreamInfo;
}

/** Rows: from the history (before the seam) or the live tail (after it). */
export interface BatchEvent {
  kind: 'batch';
  /** Rows in Pulsar's order within each partition. */
  batch: arrow.RecordBatch;
  /** `history` before the read's seam, `tail` after it (after a resume too: see `read`). */
  phase: 'history' | 'tail';
  /** Resuming with it continues just after this batch's last row. */
  resumeToken: Uint8Array;
  progress: Progress;
}

/** The history is complete; what follows is the live tail. Sent once per read. */
export interface SeamEvent {
  kind: 'seam';
  resumeToken: Uint8Array;
  /** Rows of history, in total. */
  historyRows: number;
}

/** The tail is idle and the stream alive. */
export interface HeartbeatEvent {
  kind: 'heartbeat';
  resumeToken: Uint8Array;
  /** Publish time (epoch ms) of the last message read, when there was one. */
  lastPublishTime: number | undefined;
}

/** What a read yields, in order: one schema, batches, at most one seam, heartbeats. */
export type ReadEvent = SchemaEvent | BatchEvent | SeamEvent | HeartbeatEvent;

/** What the gateway says about the stream when it opens. */
export interface StreamInfo {
  /** The topic, fully qualified. */
  topic: string;
  /** Each partition read (one with partition -1 for a non-partitioned topic). */
  partitions: {
    partition: number;
    topic: string;
    /** The last message id the partition held when the stream opened: the seam's position. */
    boundaryMessageId: Uint8Array;
  }[];
  /** Bytes of history to read, estimated from Pulsar's ledger sizes. */
  estimatedHistoryBytes: number;
  /** The Pulsar schema type that decoded the values, e.g. `AVRO`, `JSON`, `BYTES`. */
  pulsarSchemaType: string;
}

/** A stream that ended with an error status. */
export class SeamStreamError extends Error {
  override name = 'SeamStreamError';
  /** The gRPC status code, e.g. `grpc.status.NOT_FOUND`. */
  readonly code: grpc.status;
  /** Where to resume, when the gateway said. */
  readonly resumeToken: Uint8Array | undefined;

  /**
   * @param code The gRPC status code.
   * @param details The gateway's message.
   * @param resumeToken From the `seam-resume-token-bin` trailer, if any.
   */
  constructor(code: grpc.status, details: string, resumeToken: Uint8Array | undefined) {
    super(`${grpc.status[code]}: ${details}`);
    this.code = code;
    this.resumeToken = resumeToken;
  }
}

/** The package's own copy of the protos (seam.v1, and Flight.proto). */
const protoDir = fileURLToPath(new URL('../proto', import.meta.url));
const flightProto = 'arrow/flight/protocol/Flight.proto';

/**
 * What `flightInfo` plans: a topic (Flight's PATH descriptor: earliest to what the topic holds
 * now), or a read's options, sent as a ReadStreamRequest (a CMD descriptor). Unlike `read`,
 * the end defaults to `atOpen`; `follow` adds one endpoint per partition for its live tail,
 * which never ends.
 */
export type FlightRequest = string | (Omit<ReadOptions, 'maxResumes' | 'signal'> & { end?: EndAt });

/** What an endpoint's metadata (seam.v1.EndpointInfo) says about its range. */
export interface EndpointInfo {
  /** The partition's topic (as in the `__topic` column). */
  topic: string;
  /** -1 for a non-partitioned topic. */
  partition: number;
  /** The ledger the range lies in; undefined for a partition's tail, which may never end. */
  ledgerId: number | undefined;
  firstEntry: number;
  lastEntry: number;
  /** Stored bytes of the range, estimated from the ledger metadata. */
  storedBytes: number;
  /** The range's last message (Pulsar's serialized MessageId), inclusive; empty: no end. */
  lastMessageId: Uint8Array;
}

/** One endpoint: a ticket for `doGet`, where to redeem it, and what it covers. */
export interface FlightEndpoint {
  /** Opaque: pass it to `doGet` (at this gateway or any of `locations`). */
  ticket: Uint8Array;
  /**
   * The gateways of the fleet that serve it (`--flight-locations`), the preferred first;
   * empty: the gateway that planned it.
   */
  locations: string[];
  info: EndpointInfo;
}

/** A read planned by the gateway's Flight service: its schema and one endpoint per segment. */
export interface FlightInfo {
  /** Exactly the schema of every endpoint's batches (and of `read` with the same options). */
  schema: arrow.Schema;
  /** Partition by partition, each in Pulsar order: one per ledger of history, then tails. */
  endpoints: FlightEndpoint[];
  /** True when the endpoints' concatenation is Pulsar order (one partition). */
  ordered: boolean;
  /** Stored bytes of the history, estimated; -1 when unknown. */
  totalBytes: number;
  /** What `read` would announce for the same request. */
  info: StreamInfo;
}

/** Options of `doGet`. */
export interface DoGetOptions {
  /** Aborting it ends the iteration quietly. */
  signal?: AbortSignal;
}

/** The seam.v1 API, loaded from the package's own copy of the proto on first use. */
let api: ProtoGrpcType['seam']['v1'] | undefined;

function loadApi(): ProtoGrpcType['seam']['v1'] {
  api ??= (
    grpc.loadPackageDefinition(
      protoLoader.loadSync('seam/v1/seam.proto', {
        keepCase: true,
        longs: Number,
        enums: String,
        oneofs: true,
        includeDirs: [protoDir],
      }),
    ) as unknown as ProtoGrpcType
  ).seam.v1;
  return api;
}

/** Arrow Flight's API, from the package's copy of Flight.proto, on first use. */
let flightApi: FlightGrpcType['arrow']['flight']['protocol'] | undefined;

function loadFlightApi(): FlightGrpcType['arrow']['flight']['protocol'] {
  if (!existsSync(`${protoDir}/${flightProto}`)) {
    throw new Error(
      `this build of @pulsar-seam/client has no ${flightProto}: it was packed where setup had not extracted it from Arrow Java's flight-core jar (npm run setup)`,
    );
  }
  flightApi ??= (
    grpc.loadPackageDefinition(
      protoLoader.loadSync(flightProto, {
        keepCase: true,
        longs: Number,
        enums: String,
        oneofs: true,
        includeDirs: [protoDir],
      }),
    ) as unknown as FlightGrpcType
  ).arrow.flight.protocol;
  return flightApi;
}

function timestamp(value: Date | number): { seconds: number; nanos: number } {
  const ms = typeof value === 'number' ? value : value.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

function ipcFrame(header: Uint8Array, body: Uint8Array): Uint8Array[] {
  const prefix = new Uint8Array(8);
  const view = new DataView(prefix.buffer);
  view.setUint32(0, 0xffffffff, true);
  view.setInt32(4, header.length, true);
  return [prefix, header, body];
}

function streamInfo(info: StreamInfo__Output): StreamInfo {
  return {
    topic: info.topic ?? '',
    partitions: (info.partitions ?? []).map((p) => ({
      partition: p.partition ?? 0,
      topic: p.topic ?? '',
      boundaryMessageId: p.boundary_message_id ?? new Uint8Array(0),
    })),
    estimatedHistoryBytes: info.estimated_history_bytes ?? 0,
    pulsarSchemaType: info.pulsar_schema_type ?? '',
  };
}

const empty = new Uint8Array(0);

/** What `gatewayCredentials` needs: files' contents, not paths. */
export interface GatewayCredentialOptions {
  /** The CA to trust (PEM); default: the system's CAs. */
  ca?: Buffer;
  /** A client certificate (PEM) and its key, for a gateway that requires mTLS. */
  cert?: Buffer;
  key?: Buffer;
  /**
   * A Pulsar token (JWT) sent as `authorization: Bearer …` with every call, or a function
   * returning the current one (asked per call, so resumes and new reads use a renewed token).
   */
  token?: string | (() => string);
}

/**
 * TLS channel credentials for a gateway, with a client certificate and a bearer token when
 * given: pass them to `new SeamClient(address, credentials)`. Tokens only travel over TLS.
 */
export function gatewayCredentials(
  options: GatewayCredentialOptions = {},
): grpc.ChannelCredentials {
  const { ca, cert, key, token } = options;
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError('a client certificate and its key go together');
  }
  const channel = grpc.credentials.createSsl(ca ?? null, key ?? null, cert ?? null);
  if (token === undefined) return channel;
  const current = typeof token === 'function' ? token : () => token;
  return grpc.credentials.combineChannelCredentials(
    channel,
    grpc.credentials.createFromMetadataGenerator((_, callback) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${current()}`);
      callback(null, metadata);
    }),
  );
}

/** A connection to a Seam gateway. */
export class SeamClient {
  private readonly client: SeamServiceClient;
  /** The gateway's FlightService, on the same channel; made at the first Flight call. */
  private flightClient: FlightServiceClient | undefined;
  private readonly address: string;
  private readonly credentials: grpc.ChannelCredentials;

  /**
   * @param address `host:port` of the gateway.
   * @param credentials Default: plaintext; for TLS, mTLS and tokens see `gatewayCredentials`.
   * @param options gRPC channel options, e.g. `{'grpc.max_receive_message_length': ...}`.
   */
  constructor(
    address: string,
    credentials = grpc.credentials.createInsecure(),
    options: grpc.ChannelOptions = {},
  ) {
    this.address = address;
    this.credentials = credentials;
    this.client = new (loadApi().SeamService)(address, credentials, options);
  }

  /**
   * Reads a topic: the schema, then batches (history, the seam, tail) and heartbeats.
   * After UNAVAILABLE it resumes with the last resume token, so the batches it yields
   * have no gap and no duplicate; other errors throw `SeamStreamError`. The schema and the
   * seam are yielded once, and phases belong to the read, not to one gRPC stream: after the
   * seam every batch is `tail`, rows a resumed stream catches up on from storage included.
   */
  async *read(options: ReadOptions): AsyncGenerator<ReadEvent> {
    let token: Uint8Array | undefined;
    let resumes = 0;
    let schemaSent = false;
    let seamSent = false;
    for (;;) {
      const request = this.request(options, token);
      try {
        for await (const event of this.readOnce(request, options.signal)) {
          if (event.kind === 'schema') {
            if (schemaSent) continue;
            schemaSent = true;
          } else {
            resumes = 0;
            token = event.resumeToken;
            if (event.kind === 'seam') {
              if (seamSent) continue;
              seamSent = true;
            }
          }
          yield event.kind === 'batch' && seamSent ? { ...event, phase: 'tail' } : event;
        }
        return;
      } catch (error) {
        if (!(error instanceof SeamStreamError) || error.code !== grpc.status.UNAVAILABLE)
          throw error;
        if (++resumes > (options.maxResumes ?? 10)) throw error;
        token = error.resumeToken ?? token;
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** resumes, 5000)));
      }
    }
  }

  /** Reads a bounded range (default: what the topic holds now) into one Arrow table. */
  async readAll(
    options: Omit<ReadOptions, 'end'> & { end?: Exclude<EndAt, 'follow'> },
  ): Promise<arrow.Table> {
    return collectTable(this.read({ ...options, end: options.end ?? 'atOpen' }));
  }

  /**
   * Plans a read with the gateway's Arrow Flight service (GetFlightInfo): its schema and one
   * endpoint per history segment (a ledger of one partition), partition by partition in
   * Pulsar order. Read the endpoints with `doGet`, in any order or at once; together they are
   * exactly the rows `read` returns for the same request. Errors throw `SeamStreamError`.
   */
  async flightInfo(request: FlightRequest): Promise<FlightInfo> {
    const { ReadStreamRequest } = loadApi();
    const descriptor: FlightDescriptor =
      typeof request === 'string'
        ? { type: 'PATH', path: [request] }
        : {
            type: 'CMD',
            cmd: ReadStreamRequest.serialize(
              this.request({ ...request, end: request.end ?? 'atOpen' }, undefined),
            ),
          };
    const info = await new Promise<FlightInfo__Output>((resolve, reject) =>
      this.flight().GetFlightInfo(descriptor, (error, value) => {
        if (error) reject(new SeamStreamError(error.code, error.details, undefined));
        else if (value) resolve(value);
        else reject(new Error('GetFlightInfo answered nothing'));
      }),
    );
    return flightInfo(info);
  }

  /**
   * Reads one endpoint (DoGet): the schema, then its batches, each with its resume token (for
   * ReadStream on the endpoint's partition topic); a tail endpoint also sends heartbeats and
   * never ends. A failure throws `SeamStreamError` (it is not resumed: a sealed endpoint can
   * be read again from the start).
   */
  doGet(
    ticket: Uint8Array | FlightEndpoint,
    options: DoGetOptions = {},
  ): AsyncGenerator<ReadEvent> {
    const bytes = ticket instanceof Uint8Array ? ticket : ticket.ticket;
    return decodeStream(this.flight().DoGet({ ticket: bytes }), options.signal);
  }

  /** One endpoint's rows as an Arrow table (`doGet`, collected). */
  async doGetAll(ticket: Uint8Array | FlightEndpoint): Promise<arrow.Table> {
    return collectTable(this.doGet(ticket));
  }

  /**
   * Plans `request` (`flightInfo`) and reads its endpoints, `parallelism` at once (default 4),
   * into one table: the endpoints' rows in endpoint order, so in Pulsar order per partition.
   * A read that follows the tail never ends: plan it with `flightInfo` and read the tails
   * with `doGet`.
   */
  async readFlight(
    request: FlightRequest,
    options: { parallelism?: number } = {},
  ): Promise<arrow.Table> {
    if (typeof request !== 'string' && request.end === 'follow') {
      throw new TypeError('readFlight reads a bounded range: end follow never ends; use doGet');
    }
    const info = await this.flightInfo(request);
    const tables: arrow.Table[] = new Array(info.endpoints.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < info.endpoints.length; i = next++) {
        tables[i] = await this.doGetAll(info.endpoints[i] as FlightEndpoint);
      }
    };
    const workers = Math.max(1, Math.min(options.parallelism ?? 4, info.endpoints.length));
    await Promise.all(Array.from({ length: workers }, worker));
    const batches = tables.flatMap((table) => table.batches);
    return batches.length > 0
      ? new arrow.Table(info.schema, batches)
      : new arrow.Table(info.schema);
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }

  private request(options: ReadOptions, token: Uint8Array | undefined): ReadStreamRequest {
    const request: ReadStreamRequest = {
      topic: options.topic,
      columns: options.columns ?? [],
      batching: {
        ...(options.maxRows ? { max_rows: options.maxRows } : {}),
        ...(options.maxBytes ? { max_bytes: options.maxBytes } : {}),
        ...(options.maxLatencyMs ? { max_latency: timestamp(options.maxLatencyMs) } : {}),
        ...(options.heartbeatMs ? { heartbeat_interval: timestamp(options.heartbeatMs) } : {}),
      },
    };
    const start = options.start ?? 'earliest';
    if (token) request.resume_token = token;
    else if (start === 'earliest') request.earliest = {};
    else if (start === 'latest') request.latest = {};
    else if ('publishTime' in start) request.start_publish_time = timestamp(start.publishTime);
    else if ('messageId' in start) request.message_id = start.messageId;
    else request.resume_token = start.resumeToken;
    const end = options.end ?? 'follow';
    if (end === 'atOpen') request.at_open = {};
    else if (end !== 'follow') request.end_publish_time = timestamp(end.publishTime);
    return request;
  }

  /** One ReadStream call, decoded. */
  private readOnce(
    request: ReadStreamRequest,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ReadEvent> {
    return decodeStream(this.client.ReadStream(request), signal);
  }

  /** The FlightService client, sharing this client's channel (one connection). */
  private flight(): FlightServiceClient {
    this.flightClient ??= new (loadFlightApi().FlightService)(this.address, this.credentials, {
      channelOverride: this.client.getChannel(),
    });
    return this.flightClient;
  }
}

/**
 * A stream of FlightData (ReadStream's responses, or DoGet's: the same wire) as events. An OK
 * status with a resume token (the gateway is shutting down) and error statuses throw
 * `SeamStreamError`; aborting `signal` ends it quietly.
 */
async function* decodeStream(
  call: grpc.ClientReadableStream<ReadStreamResponse__Output | FlightData__Output>,
  signal: AbortSignal | undefined,
): AsyncGenerator<ReadEvent> {
  const { StreamMetadata } = loadApi();
  // An OK status with a resume token means the gateway cut the stream short (it is
  // shutting down): resume elsewhere, as after UNAVAILABLE.
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  const onAbort = () => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  let schemaFrame: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  try {
    for await (const response of call) {
      const header = response.data_header ?? empty;
      const body = response.data_body ?? empty;
      const meta = StreamMetadata.deserialize(response.app_metadata ?? empty);
      if (meta.stream_info) {
        schemaFrame = ipcFrame(header, body);
        const schema = arrow.tableFromIPC([...schemaFrame, new Uint8Array(8)]).schema;
        yield { kind: 'schema', schema, info: streamInfo(meta.stream_info) };
      } else if (meta.batch) {
        pending.push(...ipcFrame(header, body));
        // Dictionary batches come before their record batch, under the same metadata.
        if (arrow.Message.decode(header).headerType !== arrow.MessageHeader.RecordBatch) continue;
        const reader = arrow.RecordBatchReader.from([...schemaFrame, ...pending]);
        pending = [];
        const progress = meta.batch.progress ?? {};
        for (const batch of reader) {
          yield {
            kind: 'batch',
            batch,
            phase: meta.batch.phase === 'PHASE_TAIL' ? 'tail' : 'history',
            resumeToken: meta.batch.resume_token ?? empty,
            progress: {
              historyRows: progress.history_rows ?? 0,
              historyBytesRead: progress.history_bytes_read ?? 0,
              historyBytesExpected: progress.history_bytes_expected ?? 0,
            },
          };
        }
      } else if (meta.seam) {
        yield {
          kind: 'seam',
          resumeToken: meta.seam.resume_token ?? empty,
          historyRows: meta.seam.history_rows ?? 0,
        };
      } else if (meta.heartbeat) {
        const last = meta.heartbeat.last_publish_time;
        yield {
          kind: 'heartbeat',
          resumeToken: meta.heartbeat.resume_token ?? empty,
          lastPublishTime: last
            ? (last.seconds ?? 0) * 1000 + Math.floor((last.nanos ?? 0) / 1e6)
            : undefined,
        };
      }
    }
    const end = await status;
    const cutShort = end.metadata.get(resumeTokenTrailer)[0] as Buffer | undefined;
    if (cutShort)
      throw new SeamStreamError(
        grpc.status.UNAVAILABLE,
        `the gateway ended the stream early: ${end.details}`,
        cutShort,
      );
  } catch (error) {
    if (error instanceof SeamStreamError) throw error;
    if (signal?.aborted) return;
    const e = error as grpc.ServiceError;
    if (typeof e.code !== 'number') throw error;
    const token = e.metadata?.get(resumeTokenTrailer)[0] as Buffer | undefined;
    throw new SeamStreamError(e.code, e.details, token);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    call.cancel();
  }
}

/** A bounded read's events as one table (its schema's, when it has no rows). */
async function collectTable(events: AsyncIterable<ReadEvent>): Promise<arrow.Table> {
  const batches: arrow.RecordBatch[] = [];
  let schema: arrow.Schema | undefined;
  for await (const event of events) {
    if (event.kind === 'schema') schema = event.schema;
    else if (event.kind === 'batch') batches.push(event.batch);
  }
  return batches.length > 0
    ? new arrow.Table(batches)
    : new arrow.Table(schema ?? new arrow.Schema([]));
}

/** A FlightInfo as the SDK shows it: the schema parsed, the metadata decoded. */
function flightInfo(info: FlightInfo__Output): FlightInfo {
  const { StreamInfo, EndpointInfo } = loadApi();
  // FlightInfo.schema is a Schema message with its IPC prefix: end the stream after it.
  const schema = arrow.tableFromIPC([info.schema ?? empty, new Uint8Array(8)]).schema;
  return {
    schema,
    endpoints: (info.endpoint ?? []).map((endpoint) => {
      const meta = EndpointInfo.deserialize(endpoint.app_metadata ?? Buffer.alloc(0));
      return {
        ticket: endpoint.ticket?.ticket ?? empty,
        locations: (endpoint.location ?? []).map((location) => location.uri ?? ''),
        info: {
          topic: meta.topic ?? '',
          partition: meta.partition ?? 0,
          ledgerId: meta.ledger_id ?? undefined,
          firstEntry: meta.first_entry ?? 0,
          lastEntry: meta.last_entry ?? 0,
          storedBytes: meta.stored_bytes ?? 0,
          lastMessageId: meta.last_message_id ?? empty,
        },
      };
    }),
    ordered: info.ordered ?? false,
    totalBytes: info.total_bytes ?? -1,
    info: streamInfo(StreamInfo.deserialize(info.app_metadata ?? Buffer.alloc(0))),
  };
}
