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
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as arrow from 'apache-arrow';
import type { ReadStreamRequest } from './generated/seam/v1/ReadStreamRequest.ts';
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
        includeDirs: [fileURLToPath(new URL('../proto', import.meta.url))],
      }),
    ) as unknown as ProtoGrpcType
  ).seam.v1;
  return api;
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
    const batches: arrow.RecordBatch[] = [];
    let schema: arrow.Schema | undefined;
    for await (const event of this.read({ ...options, end: options.end ?? 'atOpen' })) {
      if (event.kind === 'schema') schema = event.schema;
      else if (event.kind === 'batch') batches.push(event.batch);
    }
    return batches.length > 0
      ? new arrow.Table(batches)
      : new arrow.Table(schema ?? new arrow.Schema([]));
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
  private async *readOnce(
    request: ReadStreamRequest,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ReadEvent> {
    const { StreamMetadata } = loadApi();
    const call = this.client.ReadStream(request);
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
}
