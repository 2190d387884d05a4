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
import protobuf from 'protobufjs';

const protoRoot = fileURLToPath(new URL('../../../proto', import.meta.url));
const protoFile = 'seam/v1/seam.proto';

/** Trailing metadata key with the last resume token of a stream that ended early. */
export const resumeTokenTrailer = 'seam-resume-token-bin';

/** Where to start reading. */
export type StartAt =
  | 'earliest'
  | 'latest'
  | { publishTime: Date | number }
  /** A serialized Pulsar MessageId, inclusive. */
  | { messageId: Uint8Array }
  /** A resume token from an earlier read of the same topic, exclusive. */
  | { resumeToken: Uint8Array };

/** When to stop. */
export type EndAt = 'follow' | 'atOpen' | { publishTime: Date | number };

/** What to read. */
export interface ReadOptions {
  topic: string;
  /** Default `earliest`. */
  start?: StartAt;
  /** Default `follow`: never ends. */
  end?: EndAt;
  /** Columns to return; default all. */
  columns?: string[];
  /** Rows per batch at most. */
  maxRows?: number;
  /** Batch bytes at most. */
  maxBytes?: number;
  /** How long the tail may hold rows, ms. */
  maxLatencyMs?: number;
  /** Heartbeat interval of an idle tail, ms. */
  heartbeatMs?: number;
  /** Resume after UNAVAILABLE (gateway restart, network cut) this many times in a row. Default 10. */
  maxResumes?: number;
  signal?: AbortSignal;
}

/** History progress, from the stream metadata. */
export interface Progress {
  historyRows: number;
  historyBytesRead: number;
  historyBytesExpected: number;
}

/** What a read yields, in order. */
export type ReadEvent =
  | { kind: 'schema'; schema: arrow.Schema; info: StreamInfo }
  | {
      kind: 'batch';
      batch: arrow.RecordBatch;
      phase: 'history' | 'tail';
      resumeToken: Uint8Array;
      progress: Progress;
    }
  | { kind: 'seam'; resumeToken: Uint8Array; historyRows: number }
  | { kind: 'heartbeat'; resumeToken: Uint8Array; lastPublishTime: number | undefined };

/** What the gateway says about the stream when it opens. */
export interface StreamInfo {
  topic: string;
  partitions: { partition: number; topic: string; boundaryMessageId: Uint8Array }[];
  estimatedHistoryBytes: number;
  pulsarSchemaType: string;
}

/** A stream that ended with an error status. */
export class SeamStreamError extends Error {
  override name = 'SeamStreamError';
  readonly code: grpc.status;
  /** Where to resume, when the gateway said. */
  readonly resumeToken: Uint8Array | undefined;

  constructor(code: grpc.status, details: string, resumeToken: Uint8Array | undefined) {
    super(`${grpc.status[code]}: ${details}`);
    this.code = code;
    this.resumeToken = resumeToken;
  }
}

interface Response {
  data_header: Buffer;
  app_metadata: Buffer;
  data_body: Buffer;
}

type ReadStreamCall = (
  request: unknown,
  options?: grpc.CallOptions,
) => grpc.ClientReadableStream<Response>;

const loaded = protoLoader.loadSync(protoFile, {
  keepCase: true,
  longs: Number,
  enums: String,
  oneofs: true,
  includeDirs: [protoRoot],
});
const metadataRoot = new protobuf.Root();
metadataRoot.resolvePath = (_origin, target) =>
  target.startsWith('google/protobuf/')
    ? target
    : protobuf.util.path.resolve(`${protoRoot}/`, target);
metadataRoot.loadSync(protoFile, { keepCase: true });
const StreamMetadata = metadataRoot.lookupType('seam.v1.StreamMetadata');

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

/** A connection to a Seam gateway. */
export class SeamClient {
  private readonly client: grpc.Client & { ReadStream: ReadStreamCall };

  /**
   * @param address `host:port` of the gateway.
   * @param credentials Default: plaintext.
   * @param options gRPC channel options, e.g. `{'grpc.max_receive_message_length': ...}`.
   */
  constructor(
    address: string,
    credentials = grpc.credentials.createInsecure(),
    options: grpc.ChannelOptions = {},
  ) {
    const Service = (
      grpc.loadPackageDefinition(loaded) as unknown as {
        seam: { v1: { SeamService: grpc.ServiceClientConstructor } };
      }
    ).seam.v1.SeamService;
    this.client = new Service(address, credentials, options) as unknown as SeamClient['client'];
  }

  /**
   * Reads a topic: the schema, then batches (history, the seam, tail) and heartbeats.
   * After UNAVAILABLE it resumes with the last resume token, so the batches it yields
   * have no gap and no duplicate; other errors throw `SeamStreamError`.
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
          yield event;
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

  private request(options: ReadOptions, token: Uint8Array | undefined): Record<string, unknown> {
    const request: Record<string, unknown> = {
      topic: options.topic,
      columns: options.columns ?? [],
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
    const batching: Record<string, unknown> = {};
    if (options.maxRows) batching.max_rows = options.maxRows;
    if (options.maxBytes) batching.max_bytes = options.maxBytes;
    if (options.maxLatencyMs) batching.max_latency = timestamp(options.maxLatencyMs);
    if (options.heartbeatMs) batching.heartbeat_interval = timestamp(options.heartbeatMs);
    request.batching = batching;
    return request;
  }

  /** One ReadStream call, decoded. */
  private async *readOnce(
    request: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ReadEvent> {
    const call = this.client.ReadStream(request);
    // An OK status with a resume token means the gateway cut the stream short (it is
    // shutting down): resume elsewhere, as after UNAVAILABLE.
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    let schemaFrame: Uint8Array[] = [];
    let pending: Uint8Array[] = [];
    try {
      for await (const response of call as AsyncIterable<Response>) {
        const meta = StreamMetadata.toObject(StreamMetadata.decode(response.app_metadata), {
          longs: Number,
          enums: String,
          bytes: Buffer,
        }) as Record<string, Record<string, unknown> | undefined>;
        if (meta.stream_info) {
          schemaFrame = ipcFrame(response.data_header, response.data_body);
          const schema = arrow.tableFromIPC([...schemaFrame, new Uint8Array(8)]).schema;
          const info = meta.stream_info;
          yield {
            kind: 'schema',
            schema,
            info: {
              topic: info.topic as string,
              partitions: ((info.partitions ?? []) as Record<string, unknown>[]).map((p) => ({
                partition: p.partition as number,
                topic: p.topic as string,
                boundaryMessageId:
                  (p.boundary_message_id as Uint8Array | undefined) ?? new Uint8Array(0),
              })),
              estimatedHistoryBytes: (info.estimated_history_bytes as number | undefined) ?? 0,
              pulsarSchemaType: info.pulsar_schema_type as string,
            },
          };
        } else if (meta.batch) {
          pending.push(...ipcFrame(response.data_header, response.data_body));
          if (
            arrow.Message.decode(response.data_header).headerType !==
            arrow.MessageHeader.RecordBatch
          )
            continue;
          const reader = arrow.RecordBatchReader.from([...schemaFrame, ...pending]);
          pending = [];
          const progress = (meta.batch.progress ?? {}) as Record<string, number | undefined>;
          for (const batch of reader) {
            yield {
              kind: 'batch',
              batch,
              phase: meta.batch.phase === 'PHASE_TAIL' ? 'tail' : 'history',
              resumeToken: meta.batch.resume_token as Uint8Array,
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
            resumeToken: meta.seam.resume_token as Uint8Array,
            historyRows: (meta.seam.history_rows as number | undefined) ?? 0,
          };
        } else if (meta.heartbeat) {
          const last = meta.heartbeat.last_publish_time as
            | { seconds?: number; nanos?: number }
            | undefined;
          yield {
            kind: 'heartbeat',
            resumeToken: meta.heartbeat.resume_token as Uint8Array,
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
