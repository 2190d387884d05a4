/**
 * The gateway's Arrow building alone, no Pulsar: rows/s of turning messages into record
 * batches (all columns: the AVRO value fields and the six `__` metadata columns), and of
 * that plus their serialization as ReadStream responses (IPC messages in FlightData).
 *
 *   node bench/arrow-build.ts [--messages 200000] [--runs 5]
 *
 * Payloads are `bench/order.avsc` records encoded with avsc, shaped like the ones
 * bench/Produce.java writes (5 strings, ~115 B); messages look like a batched,
 * non-partitioned topic's. Batches are cut at the stream defaults (64 Ki rows or 3 MiB).
 * Each measurement runs `runs` times after one warm-up; the best counts.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import avro from 'avsc';
import { StreamSchema } from '../server/arrow/batch-builder.ts';
import { topicSchema } from '../server/arrow/topic-schema.ts';
import { defaultBatchLimits } from '../server/core/request.ts';
import { responsesFor } from '../server/grpc/responses.ts';
import type { Message } from '../server/pulsar/message.ts';
import { MessageId } from '../server/pulsar/message-id.ts';
import { PulsarSchemaType } from '../server/pulsar/protocol/commands.ts';
import { printTable, root } from './support.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '5' },
  },
});
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
  const topic = `persistent://public/default/bench-history-${count}-0123456789abcdef`;
  const schemaVersion = Buffer.alloc(8);
  const batchSize = 1000;
  return Array.from({ length: count }, (_, i) => {
    const note = Array.from(
      { length: 40 + Math.floor(next() * 60) },
      () => letters[Math.floor(next() * 27)],
    ).join('');
    const payload = order.toBuffer({
      id: i,
      customer: `customer-${String(Math.floor(next() * 100_000)).padStart(6, '0')}`,
      symbol: pick(['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'TSLA', 'META']),
      side: next() < 0.5 ? 'buy' : 'sell',
      price: Math.round((10 + next() * 990) * 100) / 100,
      quantity: 1 + Math.floor(next() * 9999),
      venue: pick(['XNAS', 'XNYS', 'ARCX', 'BATS']),
      note,
    });
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
  topicSchema({
    name: 'order',
    type: PulsarSchemaType.AVRO,
    data: Buffer.from(definition),
    properties: {},
  }),
);
const input = messages();
const payloadBytes = input.reduce((sum, m) => sum + m.payload.length, 0);

/** Seconds to build every message into batches; `serialize` also writes the responses. */
function build(serialize: boolean): number {
  const { maxRows, maxBytes } = defaultBatchLimits;
  const builder = stream.builder();
  let rows = 0;
  const emit = () => {
    const batch = builder.flush();
    rows += batch.numRows;
    if (serialize) {
      responsesFor({
        kind: 'batch',
        batch,
        phase: 'history',
        resumeToken: Buffer.alloc(0),
        progress: { historyRows: rows, historyBytesRead: 0, historyBytesExpected: 0 },
        publishTimes: [],
      });
    }
  };
  const started = performance.now();
  for (const message of input) {
    builder.append(message);
    if (builder.rows >= maxRows || builder.bytes >= maxBytes) emit();
  }
  if (builder.rows > 0) emit();
  const seconds = (performance.now() - started) / 1000;
  if (rows !== count) throw new Error(`built ${rows} rows of ${count}`);
  return seconds;
}

function best(serialize: boolean): number {
  build(serialize);
  let seconds = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) seconds = Math.min(seconds, build(serialize));
  return seconds;
}

const rows = [
  ['build batches', best(false)],
  ['build + serialize responses', best(true)],
] as const;
printTable(
  ['measure', 'rows/s', 'payload MB/s'],
  rows.map(([name, seconds]) => [
    name,
    Math.round(count / seconds).toLocaleString('en'),
    (payloadBytes / seconds / 1e6).toFixed(1),
  ]),
);
