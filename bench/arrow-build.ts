/**
 * The gateway's Arrow building alone, no Pulsar: rows/s of turning messages into record
 * batches (all columns: the AVRO value fields and the six `__` metadata columns), and of
 * that plus their serialization as ReadStream responses (IPC messages in FlightData), and
 * that serialization alone.
 *
 *   node --max-semi-space-size=32 bench/arrow-build.ts [--messages 200000] [--runs 5] [--value avro|bytes]
 *
 * (`--max-semi-space-size=32` as `seam serve` runs: with V8's default young generation,
 * collecting the messages held here moves the figures more than the building.) Payloads are
 * `bench/order.avsc` records encoded with avsc, shaped like the ones bench/Produce.java
 * writes (5 strings, ~115 B), or with `--value bytes` 100 B of a BYTES topic, views into
 * their entry as the reader hands them out; messages look like a batched, non-partitioned
 * topic's. Batches are cut at the stream defaults (64 Ki rows or 3 MiB).
 * Each measurement runs `runs` times after one warm-up; the run with the least CPU time
 * counts (CPU time moves less than wall time when other work shares the machine).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type * as arrow from 'apache-arrow';
import avro from 'avsc';
import { StreamSchema } from '../server/arrow/batch-builder.ts';
import { topicSchema } from '../server/arrow/topic-schema.ts';
import { defaultBatchLimits } from '../server/core/request.ts';
import { responsesFor, serializeResponse } from '../server/grpc/responses.ts';
import type { Message } from '../server/pulsar/message.ts';
import { MessageId } from '../server/pulsar/message-id.ts';
import { PulsarSchemaType } from '../server/pulsar/protocol/commands.ts';
import { printTable, root } from './support.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '5' },
    value: { type: 'string', default: 'avro' },
  },
});
if (args.value !== 'avro' && args.value !== 'bytes') {
  throw new Error(`--value ${args.value}: avro or bytes`);
}
const bytesValue = args.value === 'bytes';
const count = Number(args.messages);
const runs = Number(args.runs);

const definition = readFileSync(`${root}bench/order.avsc`, 'utf8');
const order = avro.Type.forSchema(JSON.parse(definition) as avro.Schema);

/** A small deterministic generator (mulberry32), so every run reads the same data. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function messages(): Message[] {
  const next = random(8);
  const pick = <T>(list: T[]) => list[Math.floor(next() * list.length)] as T;
  const letters = 'abcdefghijklmnopqrstuvwxyz ';
  const orderRecord = (i: number) =>
    order.toBuffer({
      id: i,
      customer: `customer-${String(Math.floor(next() * 100_000)).padStart(6, '0')}`,
      symbol: pick(['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'TSLA', 'META']),
      side: next() < 0.5 ? 'buy' : 'sell',
      price: Math.round((10 + next() * 990) * 100) / 100,
      quantity: 1 + Math.floor(next() * 9999),
      venue: pick(['XNAS', 'XNYS', 'ARCX', 'BATS']),
      note: Array.from(
        { length: 40 + Math.floor(next() * 60) },
        () => letters[Math.floor(next() * 27)],
      ).join(''),
    });
  const topic = `persistent://public/default/bench-history-${count}-0123456789abcdef`;
  const schemaVersion = Buffer.alloc(8);
  const batchSize = 1000;
  let entry = Buffer.alloc(0);
  return Array.from({ length: count }, (_, i) => {
    const index = i % batchSize;
    if (bytesValue && index === 0) entry = Buffer.alloc(100 * batchSize, i);
    const payload = bytesValue ? entry.subarray(index * 100, (index + 1) * 100) : orderRecord(i);
    return {
      topic,
      messageId: new MessageId(
        7,
        Math.floor(i / batchSize),
        i % batchSize,
        -1,
        batchSize,
        undefined,
      ),
      payload,
      key: undefined,
      keyIsBase64: false,
      orderingKey: undefined,
      properties: {},
      publishTime: 1_767_000_000_000 + i,
      eventTime: undefined,
      schemaVersion,
      producerName: 'bench',
      sequenceId: i,
      nullValue: false,
      brokerTimestamp: undefined,
      brokerIndex: undefined,
    };
  });
}

const stream = new StreamSchema(
  topicSchema(
    bytesValue
      ? undefined
      : {
          name: 'order',
          type: PulsarSchemaType.AVRO,
          data: Buffer.from(definition),
          properties: {},
        },
  ),
);
const input = messages();
const payloadBytes = input.reduce((sum, m) => sum + m.payload.length, 0);

/** Wall and CPU seconds of a measurement: CPU time moves less with other work on the machine. */
interface Timing {
  seconds: number;
  cpuSeconds: number;
}

function timed(work: () => void): Timing {
  const cpu = process.cpuUsage();
  const started = performance.now();
  work();
  const { user, system } = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (user + system) / 1e6 };
}

function serialize(batch: arrow.RecordBatch, rows: number): void {
  const responses = responsesFor({
    kind: 'batch',
    batch,
    phase: 'history',
    resumeToken: Buffer.alloc(0),
    progress: { historyRows: rows, historyBytesRead: 0, historyBytesExpected: 0 },
    publishTimes: [],
  });
  for (const response of responses) serializeResponse(response);
}

/** Builds every message into batches, cut at the stream defaults; `each` takes each batch. */
function build(each: (batch: arrow.RecordBatch, rows: number) => void): void {
  const { maxRows, maxBytes } = defaultBatchLimits;
  const builder = stream.builder();
  let rows = 0;
  const emit = () => {
    const batch = builder.flush();
    rows += batch.numRows;
    each(batch, rows);
  };
  for (const message of input) {
    builder.append(message);
    if (builder.rows >= maxRows || builder.bytes >= maxBytes) emit();
  }
  if (builder.rows > 0) emit();
  if (rows !== count) throw new Error(`built ${rows} rows of ${count}`);
}

/**
 * The run with the least CPU of each measure, of `runs` after one warm-up each, the
 * measures taking turns: run one after the other, the first paid for the collection of
 * what the set-up left (its figures came out up to 2× the same work's measured second).
 */
function best(measures: Record<string, () => void>): [string, Timing][] {
  const bests = new Map<string, Timing>();
  for (const work of Object.values(measures)) work();
  for (let i = 0; i < runs; i++) {
    for (const [name, work] of Object.entries(measures)) {
      const t = timed(work);
      if (t.cpuSeconds < (bests.get(name)?.cpuSeconds ?? Number.POSITIVE_INFINITY)) {
        bests.set(name, t);
      }
    }
  }
  return [...bests];
}

const built: [arrow.RecordBatch, number][] = [];
build((batch, rows) => built.push([batch, rows]));
const rows = best({
  'build batches': () => build(() => {}),
  'build + serialize responses': () => build(serialize),
  'serialize responses alone': () => {
    for (const [batch, rows] of built) serialize(batch, rows);
  },
});
printTable(
  ['measure', 'rows/s', 'payload MB/s', 'CPU µs/row'],
  rows.map(([name, t]) => [
    name,
    Math.round(count / t.seconds).toLocaleString('en'),
    (payloadBytes / t.seconds / 1e6).toFixed(1),
    ((t.cpuSeconds / count) * 1e6).toFixed(3),
  ]),
);
