/**
 * Reads a multi-segment backlog through the stream core (history to the boundary, as
 * Arrow record batches) with history parallelism 1, 2, 4 and 8 in the same run, and
 * prints rows/s and stored MB/s for each; writes the figures to
 * bench/results/read-segments.json.
 *
 *   node bench/read-segments.ts [--messages 100000] [--size 100] [--batch 10]
 *     [--partitions 1] [--runs 3] [--columns __messageId,value] [--cold]
 *
 * The standalone rolls a ledger every 1000 entries, so the defaults (batches of at most 10
 * messages) make about ten segments per partition. The topic is written once by the
 * official Python producer and reused by later runs with the same flags. Each run reads it
 * once per parallelism, in a rotating order; the best and the median run are shown (the
 * machine's load varies between runs: compare within one run). With --cold, the
 * topic is unloaded before each read, so that the broker reads the entries from the bookie
 * instead of its cache.
 */
import { parseArgs } from 'node:util';
import { defaultBatchLimits } from '../server/core/request.ts';
import { readStream } from '../server/core/stream.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import {
  log,
  prepareTopic,
  printTable,
  serviceUrl,
  webServiceUrl,
  writeResults,
} from './support.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    size: { type: 'string', default: '100' },
    batch: { type: 'string', default: '10' },
    partitions: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    columns: { type: 'string', default: '' },
    cold: { type: 'boolean', default: false },
  },
});
const messages = Number(args.messages);
const size = Number(args.size);
const batch = Number(args.batch);
const partitions = Number(args.partitions);
const runs = Number(args.runs);
const columns = args.columns ? args.columns.split(',') : [];
const cold = args.cold;
const levels = [1, 2, 4, 8];
const topic = `persistent://public/default/bench-segments-${messages}x${size}-b${batch}-p${partitions}`;

const client = new PulsarClient({ serviceUrl });
const admin = new PulsarAdmin({ webServiceUrl });

/** One timed read of the history. */
interface Read {
  rows: number;
  storedBytes: number;
  segments: number;
  seconds: number;
}

/** The partitions' topics (the topic itself when not partitioned). */
function partitionTopics(): string[] {
  return partitions > 1
    ? Array.from({ length: partitions }, (_, i) => `${topic}-partition-${i}`)
    : [topic];
}

async function prepare(): Promise<void> {
  const first = partitionTopics()[0] as string;
  if (partitions > 1 && !(await admin.ledgers(first).catch(() => undefined))) {
    const path = topic.replace('://', '/');
    const response = await fetch(`${webServiceUrl}/admin/v2/${path}/partitions`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: String(partitions),
    });
    if (!response.ok && response.status !== 409)
      throw new Error(`creating ${topic}: ${response.status}`);
  }
  const batching = batch > 1 ? ['--batch-max-messages', String(batch)] : ['--no-batching'];
  await prepareTopic(
    topic,
    ['--count', String(messages), '--size', String(size), ...batching],
    first,
  );
}

/** Unloads the topic: the broker drops its cache of the entries, reads go to the bookie. */
async function unload(): Promise<void> {
  const path = topic.replace('://', '/');
  const response = await fetch(`${webServiceUrl}/admin/v2/${path}/unload`, { method: 'PUT' });
  if (!response.ok) throw new Error(`unloading ${topic}: ${response.status}`);
}

/** The whole history through `readStream`, at one parallelism. */
async function readHistory(parallelism: number): Promise<Read> {
  if (cold) await unload();
  let rows = 0;
  let storedBytes = 0;
  let segments = 0;
  const started = performance.now();
  const events = readStream(
    { client, admin, historyParallelism: parallelism, onSegmentRead: () => segments++ },
    {
      topic,
      start: { kind: 'earliest' },
      end: { kind: 'atOpen' },
      columns,
      batching: defaultBatchLimits,
    },
    new AbortController().signal,
  );
  for await (const event of events) {
    if (event.kind === 'start') storedBytes = event.info.estimatedHistoryBytes;
    if (event.kind === 'batch') rows += event.batch.numRows;
  }
  return { rows, storedBytes, segments, seconds: (performance.now() - started) / 1000 };
}

await prepare();
const ledgers = await Promise.all(partitionTopics().map((t) => admin.ledgers(t)));
const segmentCount = ledgers.flat().filter((l) => l.entries > 0).length;
log(`${segmentCount} segments in ${partitionTopics().length} partition(s); warm-up read...`);
await readHistory(1);
const results = new Map<number, Read[]>(levels.map((p) => [p, []]));
for (let i = 0; i < runs; i++) {
  // Rotate the order, so that no parallelism always reads first (or right after another).
  const order = levels.map((_, j) => levels[(i + j) % levels.length] as number);
  for (const parallelism of order) {
    const r = await readHistory(parallelism);
    if (r.rows !== messages) throw new Error(`parallelism ${parallelism} read ${r.rows} rows`);
    results.get(parallelism)?.push(r);
    log(
      `run ${i + 1}/${runs}: parallelism ${parallelism}: ${Math.round(r.rows / r.seconds)} rows/s`,
    );
  }
}
await client.close();

const figures = levels.map((parallelism) => {
  const reads = results.get(parallelism) ?? [];
  const best = reads.reduce((a, b) => (a.rows / a.seconds >= b.rows / b.seconds ? a : b));
  return {
    parallelism,
    rowsPerSec: Math.round(best.rows / best.seconds),
    storedMBPerSec: Number((best.storedBytes / best.seconds / 1e6).toFixed(2)),
    segmentReaders: best.segments,
    runs: reads.map((r) => Math.round(r.rows / r.seconds)),
  };
});
/** The middle run's rows/s (the lower middle for an even count). */
const median = (runs: number[]) => [...runs].sort((a, b) => a - b)[(runs.length - 1) >> 1] ?? 0;
const base = figures[0]?.rowsPerSec ?? 1;
const baseMedian = median(figures[0]?.runs ?? []) || 1;
const header = [
  'parallelism',
  'rows/s (best)',
  'stored MB/s',
  'vs 1',
  'rows/s (median)',
  'vs 1',
  'segment readers',
  'runs',
];
const table = figures.map((f) => [
  String(f.parallelism),
  f.rowsPerSec.toLocaleString('en'),
  f.storedMBPerSec.toFixed(2),
  (f.rowsPerSec / base).toFixed(2),
  median(f.runs).toLocaleString('en'),
  (median(f.runs) / baseMedian).toFixed(2),
  String(f.segmentReaders),
  f.runs.map((r) => r.toLocaleString('en')).join(' / '),
]);
console.log(
  `\n${messages.toLocaleString('en')} messages × ${size} B, batches of ≤ ${batch}, ${partitions} partition(s), ${segmentCount} segments; columns: ${columns.join(',') || 'all'}; ${cold ? 'cold (unloaded before each read)' : 'warm'}; ${runs} runs each`,
);
printTable(header, table);
await writeResults('read-segments', {
  topic,
  messages,
  size,
  batch,
  partitions,
  segments: segmentCount,
  columns,
  cold,
  runs,
  figures,
});
