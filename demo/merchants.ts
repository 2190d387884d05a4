/**
 * The seed's query through Seam: each merchant's total transaction volume over the past
 * 30 days, the current transaction included — batch and streaming in ONE ReadStream.
 *
 * 1. The official Python producer writes a month of transactions (event times spread
 *    over 30 days) to a 4-partition topic, then keeps producing live ones.
 * 2. A Seam gateway serves the topic.
 * 3. One ReadStream from publish time now - 30 days reads the history fast, crosses the
 *    seam, and follows the live tail; the totals stay current as transactions arrive.
 *
 *   node demo/merchants.ts [--history 200000] [--rate 500] [--seconds 0 (= until Ctrl-C)]
 *                          [--report FILE]
 *
 * `--report FILE` writes, when the demo stops, what it computed and exactly which messages
 * it consumed (the last message id of each partition), so the totals can be checked
 * independently (test/demo.test.ts does, with the official Python client's reader).
 */

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SeamClient } from '@pulsar-seam/client';
import { configWith, gatewayOptions } from '../server/config.ts';
import { Gateway } from '../server/grpc/server.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    history: { type: 'string', default: '200000' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '0' },
    report: { type: 'string' },
  },
});
const historyCount = Number(values.history);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const serviceUrl = `pulsar://127.0.0.1:${process.env.SEAM_PULSAR_BROKER_PORT ?? '6650'}`;
const webServiceUrl = `http://127.0.0.1:${process.env.SEAM_PULSAR_WEB_PORT ?? '8080'}`;
const topic = `persistent://public/default/seam-demo-transactions-${Date.now().toString(36)}`;
const dayMs = 86_400_000;
const python = `${root}.venv/bin/python`;
const producerPy = `${root}demo/produce_transactions.py`;

const say = (line: string) => process.stdout.write(`${line}\n`);
const money = (cents: bigint) =>
  `$${(Number(cents) / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

function runProducer(mode: 'history' | 'live', amount: number) {
  return spawn(python, [producerPy, serviceUrl, topic, mode, String(amount)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

// 1. A month of history, written by the official client.
await fetch(
  `${webServiceUrl}/admin/v2/persistent/public/default/${topic.split('/').pop()}/partitions`,
  {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: '4',
  },
);
say(
  `== writing ${historyCount.toLocaleString('en')} transactions of the past 30 days to ${topic} (4 partitions, AVRO) with the official Python producer`,
);
let started = performance.now();
await new Promise<void>((resolve, reject) => {
  const child = runProducer('history', historyCount);
  child.on('exit', (code) =>
    code === 0 ? resolve() : reject(new Error(`the producer exited with ${code}`)),
  );
});
say(`   written in ${((performance.now() - started) / 1000).toFixed(1)} s`);

// 2. The gateway.
const pulsar = new PulsarClient({ serviceUrl });
const gateway = await Gateway.start(
  { client: pulsar, admin: new PulsarAdmin({ webServiceUrl }) },
  gatewayOptions(
    configWith({
      plaintext: 'true',
      port: '0',
      shutdownGraceMs: '2000',
      maxConcurrentStreams: '16',
    }),
  ),
);
say(`== Seam gateway serving on 127.0.0.1:${gateway.port}`);

// 3. Live transactions keep coming.
const live = runProducer('live', rate);
say(`== live producer: ${rate} transactions/s`);

// 4. One ReadStream: history, the seam, the live tail.
const seam = new SeamClient(`127.0.0.1:${gateway.port}`);
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
if (seconds > 0) setTimeout(() => stop.abort(), seconds * 1000).unref();
const windowStart = Date.now() - 30 * dayMs;
const totals = new Map<string, bigint>();
let rows = 0;
let windowRows = 0;
let liveRows = 0;
/** The last message id read from each partition topic: where the demo's reading ended. */
const lastMessageIds = new Map<string, Uint8Array>();
let latencies: number[] = [];
let lastReport = Date.now();
started = performance.now();
say('== one ReadStream from publish time now - 30 days, following the tail (Ctrl-C to stop)');

function top(n: number): string {
  return [...totals]
    .sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : 0))
    .slice(0, n)
    .map(([merchant, cents], i) => `   ${i + 1}. ${merchant}  ${money(cents)}`)
    .join('\n');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

try {
  for await (const event of seam.read({
    topic,
    start: { publishTime: windowStart },
    // Where each row came from only matters to the report (the columns cost read time).
    columns: [
      'merchant',
      'amount_cents',
      '__eventTime',
      '__publishTime',
      ...(values.report ? ['__topic', '__messageId'] : []),
    ],
    maxLatencyMs: 5,
    signal: stop.signal,
  })) {
    if (event.kind === 'seam') {
      const s = (performance.now() - started) / 1000;
      say(
        `history: ${rows.toLocaleString('en')} rows in ${s.toFixed(2)} s (${Math.round(rows / s).toLocaleString('en')} rows/s) — seam reached, now live`,
      );
      say(`top merchants, 30-day volume:\n${top(5)}`);
      continue;
    }
    if (event.kind !== 'batch') continue;
    const merchant = event.batch.getChild('merchant');
    const amount = event.batch.getChild('amount_cents');
    const eventTime = event.batch.getChild('__eventTime');
    const publishTime = event.batch.getChild('__publishTime');
    const partitionTopic = event.batch.getChild('__topic');
    const messageId = event.batch.getChild('__messageId');
    const now = Date.now();
    for (let i = 0; i < event.batch.numRows; i++) {
      if (partitionTopic && messageId)
        lastMessageIds.set(partitionTopic.get(i) as string, messageId.get(i) as Uint8Array);
      const at = (eventTime?.get(i) as number | null) ?? 0;
      if (at < windowStart) continue;
      windowRows++;
      const name = merchant?.get(i) as string;
      totals.set(name, (totals.get(name) ?? 0n) + (amount?.get(i) as bigint));
      if (event.phase === 'tail') latencies.push(now - (publishTime?.get(i) as number));
    }
    rows += event.batch.numRows;
    if (event.phase === 'tail') liveRows += event.batch.numRows;
    if (event.phase === 'tail' && now - lastReport >= 2000) {
      const sorted = latencies.sort((a, b) => a - b);
      say(
        `live: ${liveRows.toLocaleString('en')} transactions so far; publish → client latency p50 ${percentile(sorted, 0.5)} ms, p99 ${percentile(sorted, 0.99)} ms; leader ${top(1).trim()}`,
      );
      latencies = [];
      lastReport = now;
    }
  }
} finally {
  live.kill('SIGINT');
  seam.close();
  await gateway.shutdown();
  await pulsar.close();
  say(
    `== stopped: ${rows.toLocaleString('en')} rows read in one stream; final top merchants:\n${top(5)}`,
  );
  if (values.report) await writeFile(values.report, `${JSON.stringify(report(), null, 2)}\n`);
}

/** What the demo computed, and where in each partition its reading ended. */
function report() {
  return {
    topic,
    windowStart,
    rows,
    windowRows,
    totals: Object.fromEntries([...totals].map(([merchant, cents]) => [merchant, String(cents)])),
    lastMessageIds: Object.fromEntries(
      [...lastMessageIds].map(([partition, id]) => [partition, Buffer.from(id).toString('base64')]),
    ),
  };
}
