/**
 * Test fixtures for the real Pulsar standalone that pulsar/pulsar.sh runs: start it once
 * (reusing one already running), name a fresh topic per test, produce and read with the
 * official client, and query the admin REST API.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/** Where the standalone listens; the same environment variables as pulsar.sh. */
export const pulsar = {
  serviceUrl: `pulsar://127.0.0.1:${process.env.SEAM_PULSAR_BROKER_PORT ?? '6650'}`,
  tlsServiceUrl: `pulsar+ssl://127.0.0.1:${process.env.SEAM_PULSAR_BROKER_TLS_PORT ?? '6651'}`,
  /** The test CA that signed the broker's TLS certificate (made by pulsar.sh). */
  caFile: `${process.env.SEAM_PULSAR_DATA ?? `${root}pulsar/.data`}/tls/ca.cert.pem`,
  webUrl: `http://127.0.0.1:${process.env.SEAM_PULSAR_WEB_PORT ?? '8080'}`,
};

let started: Promise<void> | undefined;

/** Starts the standalone unless it is already healthy; safe from many workers at once. */
export function ensurePulsar(): Promise<void> {
  started ??= run('bash', [`${root}pulsar/pulsar.sh`, 'start'], { timeout: 300_000 }).then(
    () => undefined,
  );
  return started;
}

/** A topic name no other test uses: `persistent://public/default/<label>-<random>`. */
export function freshTopic(label: string): string {
  return `persistent://public/default/${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** The REST path of a persistent topic: `persistent/tenant/namespace/name`. */
export function topicPath(topic: string): string {
  return topic.replace('://', '/');
}

/** GET on the admin REST API, parsed as JSON; throws with the body on a non-2xx answer. */
export async function adminGet<T>(path: string): Promise<T> {
  const response = await fetch(`${pulsar.webUrl}/admin/v2/${path}`);
  if (!response.ok) {
    throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as T;
}

/** PUT on the admin REST API with an optional JSON body. */
export function adminPut(path: string, body?: unknown): Promise<void> {
  return adminSend('PUT', path, body);
}

/** POST on the admin REST API with an optional JSON body. */
export function adminPost(path: string, body?: unknown): Promise<void> {
  return adminSend('POST', path, body);
}

async function adminSend(method: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${pulsar.webUrl}/admin/v2/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  }
}

/** A message id as the official client reports it. */
export interface OfficialMessageId {
  ledger: number;
  entry: number;
  partition: number;
  /** -1 when the message was not batched. */
  batch_index: number;
  /** `MessageId.serialize()`, base64. */
  serialized_b64: string;
}

/** A message as the official client's reader returns it. */
export interface OfficialMessage {
  message_id: OfficialMessageId;
  topic: string;
  key: string | null;
  properties: Record<string, string>;
  publish_time: number;
  event_time: number | null;
  value_b64: string;
  /** The decoded value, when read with an AVRO schema (see official.py `to_json`). */
  value?: unknown;
}

/** A message to produce; see test/support/official.py. */
export interface MessageSpec {
  value_b64?: string;
  value_text?: string;
  value?: unknown;
  key?: string;
  ordering_key_b64?: string;
  properties?: Record<string, string>;
  event_time?: number;
}

/** Producer settings, as official.py's flags. */
export interface ProduceOptions {
  /** Generate this many messages instead of taking `messages`. */
  count?: number;
  /** Payload size of generated messages, bytes. */
  size?: number;
  /** Give generated messages keys k0..k(keys-1). */
  keys?: number;
  messages?: MessageSpec[];
  batching?: boolean;
  batchMaxMessages?: number;
  compression?: 'NONE' | 'LZ4' | 'ZLIB' | 'ZSTD' | 'SNAPPY';
  chunking?: boolean;
  keyBasedBatching?: boolean;
  schema?: 'bytes' | 'string' | 'avro' | 'json' | 'protobuf';
  schemaDefinition?: unknown;
  /** Messages per second; default as fast as possible. */
  rate?: number;
}

const python = `${root}.venv/bin/python`;
const officialPy = `${root}test/support/official.py`;

function parseLines<T>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as T);
}

/** Produces with the official client; returns each message's id in send order. */
export async function produce(
  topic: string,
  options: ProduceOptions,
): Promise<OfficialMessageId[]> {
  const args = [officialPy, '--url', pulsar.serviceUrl, 'produce', topic];
  if (options.count !== undefined) args.push('--count', String(options.count));
  if (options.size !== undefined) args.push('--size', String(options.size));
  if (options.keys !== undefined) args.push('--keys', String(options.keys));
  if (options.batching === false) args.push('--no-batching');
  if (options.batchMaxMessages !== undefined) {
    args.push('--batch-max-messages', String(options.batchMaxMessages));
  }
  if (options.compression) args.push('--compression', options.compression);
  if (options.chunking) args.push('--chunking');
  if (options.keyBasedBatching) args.push('--key-based-batching');
  if (options.schema) args.push('--schema', options.schema);
  if (options.rate !== undefined) args.push('--rate', String(options.rate));
  if (options.schemaDefinition !== undefined) {
    args.push('--schema-definition', JSON.stringify(options.schemaDefinition));
  }
  const input = (options.messages ?? []).map((m) => JSON.stringify(m)).join('\n');
  return parseLines<OfficialMessageId>(await runOfficial(args, input));
}

/**
 * Reads the whole topic (or `count` messages) with the official client's reader. `until`
 * (partition topic → serialized message id, base64) keeps only the messages at or before
 * those ids, none from partitions it does not name.
 */
export async function readOfficial(
  topic: string,
  options: {
    start?: string;
    inclusive?: boolean;
    count?: number;
    avroSchema?: unknown;
    /** A PROTOBUF_NATIVE definition, as for `produce` (decodes `value`). */
    protobuf?: unknown;
    until?: Record<string, string>;
  } = {},
): Promise<OfficialMessage[]> {
  const args = [officialPy, '--url', pulsar.serviceUrl, 'read', topic];
  if (options.start) args.push('--start', options.start);
  for (const [partition, id] of Object.entries(options.until ?? {})) {
    args.push('--until', `${partition}=${id}`);
  }
  if (options.inclusive) args.push('--inclusive');
  if (options.count !== undefined) args.push('--count', String(options.count));
  if (options.avroSchema !== undefined) {
    args.push('--schema', 'avro', '--schema-definition', JSON.stringify(options.avroSchema));
  }
  if (options.protobuf !== undefined) {
    args.push('--schema', 'protobuf', '--schema-definition', JSON.stringify(options.protobuf));
  }
  return parseLines<OfficialMessage>(await runOfficial(args, ''));
}

/** Runs official.py with `input` on stdin; resolves with its stdout, rejects with its stderr. */
function runOfficial(args: string[], input: string): Promise<string> {
  return runProgram(python, args, input, 'official.py');
}

/** Runs a test program with `input` on stdin; resolves with its stdout, rejects with its stderr. */
export function runProgram(
  command: string,
  args: string[],
  input: string,
  label: string,
  timeoutMs = 300_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { signal: AbortSignal.timeout(timeoutMs) });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(stdout).toString('utf8'));
      else
        reject(
          new Error(`${label} exited with ${code}: ${Buffer.concat(stderr).toString().trim()}`),
        );
    });
    child.stdin.end(input);
  });
}
