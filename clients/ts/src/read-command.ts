/**
 * `seam read <topic>`: rows as they arrive — JSON lines when piped, a table on a terminal —
 * with a history progress bar on stderr, or a bounded read into an Arrow IPC file.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as arrow from 'apache-arrow';
import { type EndAt, gatewayCredentials, SeamClient, type StartAt } from './index.ts';

/** The usage text of `seam read`, also part of `seam --help`. */
export const readUsage = `usage: seam read <topic> [options]

  --address host:port   the gateway (default 127.0.0.1:50051, or SEAM_ADDRESS)
  --start S             earliest (default), latest, or a publish time (ISO 8601 or epoch ms)
  --end E               follow (default on a terminal or pipe), at_open, or a publish time
  --columns a,b,c       columns to print (default all)
  --output file.arrow   write a bounded read (--end at_open or a time) to an Arrow IPC file
  --tls                 TLS, trusting the system's CAs
  --tls-ca ca.pem       TLS, trusting this CA
  --tls-cert c.pem --tls-key c.key   a client certificate (mTLS)
  --token-file FILE     a bearer token (JWT) for the gateway, or SEAM_TOKEN; needs TLS
`;

/** The channel credentials the options ask for; a token only travels over TLS. */
function channelCredentials(values: {
  tls?: boolean | undefined;
  'tls-ca'?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'token-file'?: string | undefined;
}): grpc.ChannelCredentials {
  const token = values['token-file']
    ? readFileSync(values['token-file'], 'utf8').trim()
    : process.env.SEAM_TOKEN;
  const tls = values.tls || values['tls-ca'] || values['tls-cert'];
  if (!tls) {
    if (token) throw new TypeError('a token is only sent over TLS: add --tls or --tls-ca FILE');
    return grpc.credentials.createInsecure();
  }
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key']))
    throw new TypeError('--tls-cert and --tls-key go together');
  const read = (path: string | undefined) => (path ? readFileSync(path) : undefined);
  return gatewayCredentials({
    ...(values['tls-ca'] && { ca: read(values['tls-ca']) }),
    ...(values['tls-cert'] && { cert: read(values['tls-cert']), key: read(values['tls-key']) }),
    ...(token && { token }),
  });
}

function time(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (Number.isNaN(ms))
    throw new TypeError(`not a time: ${value} (use ISO 8601 or epoch milliseconds)`);
  return ms;
}

/** A JSON-friendly value: binary as base64, bigint as number, dates as ISO strings. */
function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'object') {
    const json = (value as { toJSON?: () => unknown }).toJSON?.() ?? value;
    if (json === null || typeof json !== 'object') return json;
    if (Array.isArray(json)) return json.map(plain);
    return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function rowObject(
  schema: arrow.Schema,
  batch: arrow.RecordBatch,
  i: number,
): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const field of schema.fields) {
    let value = plain(batch.getChild(field.name)?.get(i));
    if (field.type instanceof arrow.Timestamp && typeof value === 'number')
      value = new Date(value).toISOString();
    row[field.name] = value;
  }
  return row;
}

/** A table cell: maps and lists as JSON. */
function cell(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/**
 * Table lines for a terminal. A stream may never end, so widths cannot wait for the last
 * row: each column is as wide as the longest value seen so far (`widths` only grows), and
 * the rows given together line up with each other.
 */
function tableLines(widths: number[], rows: string[][]): string[] {
  for (const row of rows) {
    row.forEach((value, i) => {
      widths[i] = Math.max(widths[i] ?? 0, value.length);
    });
  }
  return rows.map((row) =>
    row
      .map((value, i) => value.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

function progressBar(done: number, expected: number): string {
  const width = 30;
  const ratio = expected > 0 ? Math.min(1, done / expected) : 0;
  const filled = Math.round(ratio * width);
  return `history [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(ratio * 100).toFixed(0)}%`;
}

/** Runs `seam read`; resolves when the stream ends or is interrupted. */
export async function readCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      address: { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      columns: { type: 'string' },
      output: { type: 'string' },
      tls: { type: 'boolean' },
      'tls-ca': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'token-file': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const topic = positionals[0];
  if (values.help || !topic) {
    process.stdout.write(readUsage);
    if (!topic && !values.help) process.exitCode = 2;
    return;
  }
  const start: StartAt =
    !values.start || values.start === 'earliest' || values.start === 'latest'
      ? ((values.start as 'earliest' | 'latest' | undefined) ?? 'earliest')
      : { publishTime: time(values.start) };
  const end: EndAt =
    !values.end || values.end === 'follow' || values.end === 'at_open'
      ? values.end === 'at_open'
        ? 'atOpen'
        : 'follow'
      : { publishTime: time(values.end) };
  const columns = values.columns?.split(',').filter(Boolean);
  const seam = new SeamClient(
    values.address ?? process.env.SEAM_ADDRESS ?? '127.0.0.1:50051',
    channelCredentials(values),
  );
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const terminal = process.stdout.isTTY === true;
  const showProgress = process.stderr.isTTY === true;
  try {
    if (values.output) {
      if (end === 'follow') {
        throw new TypeError('--output needs a bounded read: add --end at_open or --end <time>');
      }
      const table = await seam.readAll({
        topic,
        start,
        end,
        ...(columns ? { columns } : {}),
        signal: stop.signal,
      });
      await writeFile(values.output, arrow.tableToIPC(table, 'file'));
      process.stderr.write(`wrote ${table.numRows} rows to ${values.output}\n`);
      return;
    }
    let schema: arrow.Schema | undefined;
    // On a terminal the header goes out with the first rows, so their widths include it.
    let header: string[] | undefined;
    const widths: number[] = [];
    let barShown = false;
    for await (const event of seam.read({
      topic,
      start,
      end,
      ...(columns ? { columns } : {}),
      signal: stop.signal,
    })) {
      if (event.kind === 'schema') {
        schema = event.schema;
        if (terminal) header = schema.fields.map((f) => f.name);
      } else if (event.kind === 'batch' && schema) {
        const rows = Array.from({ length: event.batch.numRows }, (_, i) =>
          rowObject(schema as arrow.Schema, event.batch, i),
        );
        const lines = terminal
          ? tableLines(widths, [
              ...(header ? [header] : []),
              ...rows.map((row) => Object.values(row).map(cell)),
            ])
          : rows.map((row) => JSON.stringify(row));
        header = undefined;
        // Rows replace the progress bar on the terminal; it is redrawn below them.
        if (barShown) process.stderr.write('\r\x1b[K');
        process.stdout.write(`${lines.join('\n')}\n`);
        barShown = showProgress && event.phase === 'history';
        if (barShown) {
          process.stderr.write(
            `\r${progressBar(event.progress.historyBytesRead, event.progress.historyBytesExpected)}`,
          );
        }
      } else if (event.kind === 'seam' && showProgress) {
        process.stderr.write(`\r${progressBar(1, 1)} — ${event.historyRows} rows; now live\n`);
        barShown = false;
      }
    }
    if (header) process.stdout.write(`${tableLines(widths, [header]).join('\n')}\n`);
  } finally {
    seam.close();
  }
}
