/**
 * A real gateway on a free loopback port, and a plain gRPC client that reads ReadStream
 * the way any Flight-aware client would: it rebuilds Arrow IPC from data_header/data_body
 * and decodes app_metadata as seam.v1.StreamMetadata.
 */

import * as grpc from '@grpc/grpc-js';
import { SeamClient } from '@pulsar-seam/client';
import * as arrow from 'apache-arrow';
import type { TestFn } from 'ava';
import { apiType } from '../../server/api.ts';
import { configWith, gatewayOptions } from '../../server/config.ts';
import { resumeTokenTrailer } from '../../server/grpc/serve.ts';
import type { Gateway } from '../../server/grpc/server.ts';
import { Gateway as GatewayServer, loadDefinition } from '../../server/grpc/server.ts';
import type { MemoryPool } from '../../server/memory-pool.ts';
import { PulsarAdmin } from '../../server/pulsar/admin.ts';
import { PulsarClient } from '../../server/pulsar/client.ts';
import type { Logger } from '../../server/telemetry/log.ts';
import { ensurePulsar, pulsar } from './pulsar.ts';

const StreamMetadata = apiType('StreamMetadata');

/** A gateway and a client connected to it. */
export interface TestGateway {
  gateway: Gateway;
  client: grpc.Client & {
    ReadStream: (
      request: unknown,
      options?: grpc.CallOptions,
    ) => grpc.ClientReadableStream<Response>;
  };
  close(): Promise<void>;
}

interface Response {
  data_header: Buffer;
  app_metadata: Buffer;
  data_body: Buffer;
}

/** Starts a gateway reading the test standalone. */
export async function startGateway(
  options: {
    maxConcurrentStreams?: number;
    receiverQueueSize?: number;
    logger?: Logger;
    /** The gateway's memory budget; none by default. */
    memory?: MemoryPool;
  } = {},
): Promise<TestGateway> {
  const pulsarClient = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
  const admin = new PulsarAdmin({ webServiceUrl: pulsar.webUrl });
  const gateway = await GatewayServer.start(
    {
      client: pulsarClient,
      admin,
      receiverQueueSize: options.receiverQueueSize ?? 1000,
      memory: options.memory,
    },
    {
      ...gatewayOptions(
        configWith({
          plaintext: 'true',
          port: '0',
          maxConcurrentStreams: String(options.maxConcurrentStreams ?? 64),
          shutdownGraceMs: '2000',
        }),
      ),
      ...(options.logger ? { logger: options.logger } : {}),
    },
  );
  const Service = (
    grpc.loadPackageDefinition(loadDefinition()) as unknown as {
      seam: { v1: { SeamService: grpc.ServiceClientConstructor } };
    }
  ).seam.v1.SeamService;
  const client = new Service(
    `127.0.0.1:${gateway.port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as TestGateway['client'];
  return {
    gateway,
    client,
    async close() {
      client.close();
      await gateway.shutdown();
      await pulsarClient.close();
    },
  };
}

/**
 * Gives a test file one gateway: Pulsar and the gateway start before its tests and stop
 * after them. The handle is filled in by the before hook.
 */
export function useGateway(
  test: { before(fn: () => Promise<void>): void; after: { always(fn: () => Promise<void>): void } },
  options: Parameters<typeof startGateway>[0] = {},
): TestGateway {
  const handle = {} as TestGateway;
  test.before(async () => {
    await ensurePulsar();
    Object.assign(handle, await startGateway(options));
  });
  test.after.always(async () => {
    await handle.close?.();
  });
  return handle;
}

/** One decoded record batch with its metadata. */
export interface ReadBatch {
  phase: string;
  resumeToken: Buffer;
  rows: Record<string, unknown>[];
  progress: Record<string, number>;
}

/** Everything a stream delivered, in order, and how it ended. */
export interface StreamResult {
  info: Record<string, unknown> | undefined;
  schema: arrow.Schema | undefined;
  batches: ReadBatch[];
  /** Index into `batches` where the seam marker came (batches before it are history). */
  seamAt: number | undefined;
  heartbeats: Record<string, unknown>[];
  /** The final status: code 0 for OK. */
  status: { code: number; details: string; resumeToken: Buffer | undefined };
}

const continuation = Buffer.from([0xff, 0xff, 0xff, 0xff]);

function ipcMessage(header: Buffer, body: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeInt32LE(header.length, 0);
  return Buffer.concat([continuation, length, header, body]);
}

/**
 * Reads a stream until it ends, `stopWhen` returns true (the call is then cancelled), or
 * `timeoutMs` passes (also cancelled).
 */
export function collect(
  t: TestGateway,
  request: Record<string, unknown>,
  options: {
    stopWhen?: (result: StreamResult) => boolean;
    timeoutMs?: number;
    onBatch?: (b: ReadBatch) => void;
  } = {},
): Promise<StreamResult> {
  const result: StreamResult = {
    info: undefined,
    schema: undefined,
    batches: [],
    seamAt: undefined,
    heartbeats: [],
    status: { code: -1, details: '', resumeToken: undefined },
  };
  return new Promise((resolve) => {
    const call = t.client.ReadStream(request);
    let schemaMessage: Buffer | undefined;
    let pending: Buffer[] = [];
    let done = false;
    const finish = (code: number, details: string, metadata?: grpc.Metadata) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const token = metadata?.get(resumeTokenTrailer)[0];
      result.status = {
        code,
        details,
        resumeToken: token ? Buffer.from(token as Buffer) : undefined,
      };
      resolve(result);
    };
    const timer = setTimeout(() => {
      call.cancel();
      finish(grpc.status.DEADLINE_EXCEEDED, 'test timeout');
    }, options.timeoutMs ?? 60_000);
    call.on('data', (response: Response) => {
      const meta = StreamMetadata.toObject(StreamMetadata.decode(response.app_metadata), {
        longs: Number,
        enums: String,
        bytes: Buffer,
      }) as Record<string, Record<string, unknown>>;
      if (meta.stream_info) {
        result.info = meta.stream_info;
        schemaMessage = ipcMessage(response.data_header, response.data_body);
        result.schema = arrow.tableFromIPC(Buffer.concat([schemaMessage, Buffer.alloc(8)])).schema;
      } else if (meta.batch) {
        pending.push(ipcMessage(response.data_header, response.data_body));
        const header = arrow.Message.decode(response.data_header);
        if (header.headerType !== arrow.MessageHeader.RecordBatch) return;
        const table = arrow.tableFromIPC(Buffer.concat([schemaMessage as Buffer, ...pending]));
        pending = [];
        const batch: ReadBatch = {
          phase: meta.batch.phase as string,
          resumeToken: meta.batch.resume_token as Buffer,
          progress: (meta.batch.progress ?? {}) as Record<string, number>,
          rows: table.toArray().map((row) => plain(row) as Record<string, unknown>),
        };
        result.batches.push(batch);
        options.onBatch?.(batch);
      } else if (meta.seam) {
        result.seamAt = result.batches.length;
      } else if (meta.heartbeat) {
        result.heartbeats.push(meta.heartbeat);
      }
      if (options.stopWhen?.(result)) {
        call.cancel();
        finish(grpc.status.CANCELLED, 'stopped by the test');
      }
    });
    call.on('error', (error: grpc.ServiceError) =>
      finish(error.code, error.details, error.metadata),
    );
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) finish(0, status.details, status.metadata);
    });
  });
}

/** Arrow rows, maps and lists as plain objects and arrays (binary stays Uint8Array). */
function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (value instanceof arrow.Vector) return [...value].map(plain);
  const json = (value as { toJSON?: () => unknown }).toJSON?.() ?? value;
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map(plain);
  return Object.fromEntries(
    Object.entries(json as Record<string, unknown>).map(([k, v]) => [k, plain(v)]),
  );
}

/** All rows of the stream's batches, in order. */
export function allRows(result: StreamResult): Record<string, unknown>[] {
  return result.batches.flatMap((b) => b.rows);
}

/** A message id column value as base64, to compare with official.py's `serialized_b64`. */
export function idOf(row: Record<string, unknown>): string {
  return Buffer.from(row.__messageId as Uint8Array).toString('base64');
}

/**
 * One gateway on the standalone and a TS SDK client of it for a test file: started before
 * its tests, closed after them. The returned function gives the client.
 */
export function sdkGateway(test: TestFn): () => SeamClient {
  let gateway: TestGateway | undefined;
  let seam: SeamClient | undefined;
  test.before(async () => {
    await ensurePulsar();
    gateway = await startGateway();
    seam = new SeamClient(`127.0.0.1:${gateway.gateway.port}`);
  });
  test.after.always(async () => {
    seam?.close();
    await gateway?.close();
  });
  return () => {
    if (!seam)
      throw new Error('the gateway is not started: call sdkGateway at the top of the file');
    return seam;
  };
}
