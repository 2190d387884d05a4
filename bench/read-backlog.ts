/**
 * Reads a backlog with Seam's Pulsar reader and, in the same run on the same topic, with
 * the official Java reader (pulsar-perf read) and the official Python client's reader
 * loop. Prints messages/s and MB/s of payload with ratios, and writes the figures to
 * bench/results/read-backlog.json.
 *
 *   node bench/read-backlog.ts [--messages 1000000] [--size 100] [--runs 3]
 *                              [--seam-only] [--server /path/to/checkout]
 *
 * Seam's reader also reports the CPU its process spent per message (process.cpuUsage
 * around each read: the reader alone, no Arrow, no gRPC). `--seam-only` skips the official
 * readers; `--server` loads the reader from another checkout's `server/` (A/B against an
 * older commit: same topic, same process settings).
 *
 * The topic is written once by the official Python producer (batching on) and reused by
 * later runs with the same --messages and --size. Each reader reads it `runs` times, in
 * turns, after one untimed warm-up read; the best run counts.
 */
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  log,
  officialPy,
  prepareTopic,
  printTable,
  python,
  root,
  run,
  serviceUrl,
  writeResults,
} from './support.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    size: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    'seam-only': { type: 'boolean', default: false },
    server: { type: 'string' },
  },
});
const serverDir = args.server ? resolve(args.server, 'server') : resolve(root, 'server');
const { PulsarClient } = (await import(
  `${serverDir}/pulsar/client.ts`
)) as typeof import('../server/pulsar/client.ts');
const { Reader, readerStats } = (await import(
  `${serverDir}/pulsar/reader.ts`
)) as typeof import('../server/pulsar/reader.ts');
const messages = Number(args.messages);
const size = Number(args.size);
const runs = Number(args.runs);
const topic = `persistent://public/default/bench-backlog-${messages}x${size}`;

/** One timed read: messages, payload bytes, seconds; for Seam, CPU and FLOW commands. */
interface Read {
  count: number;
  bytes: number;
  seconds: number;
  /** CPU of this process during the read (user + system), µs. */
  cpuUs?: number;
  /** FLOW commands sent and entries received, when the reader counts them. */
  flows?: number | undefined;
}

/** Seam's reader, in this process: from opening the reader to the last message. */
async function seamRead(): Promise<Read> {
  const client = new PulsarClient({ serviceUrl });
  try {
    const flowsBefore = readerStats().flowsSent;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const reader = await Reader.open(client, { topic });
    let count = 0;
    let bytes = 0;
    while (count < messages) {
      const batch = await reader.receive();
      count += batch.length;
      for (const m of batch) bytes += m.payload.length;
    }
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const flowsAfter = readerStats().flowsSent;
    await reader.close();
    const flows =
      flowsAfter === undefined || flowsBefore === undefined ? undefined : flowsAfter - flowsBefore;
    return { count, bytes, seconds, cpuUs: used.user + used.system, flows };
  } finally {
    await client.close();
  }
}

/** The official Java reader: pulsar-perf's own figure (it times from subscribe to done). */
async function javaRead(): Promise<Read> {
  const logFile = `${os.tmpdir()}/seam-bench-perf-${process.pid}.log`;
  await rm(logFile, { force: true });
  await run(
    'bash',
    [`${root}pulsar/pulsar.sh`, 'perf', 'read', '-n', String(messages), '-q', '1000', topic],
    {
      env: { ...process.env, SEAM_PULSAR_TOOLS_LOG: logFile },
      timeout: 600_000,
    },
  );
  const text = await readFile(logFile, 'utf8');
  const match = /Aggregated throughput stats --- (\d+) records received --- ([\d.]+) msg\/s/.exec(
    text,
  );
  if (!match) throw new Error(`pulsar-perf printed no throughput line; see ${logFile}`);
  const count = Number(match[1]);
  const rate = Number(match[2]);
  await rm(logFile, { force: true });
  return { count, bytes: count * size, seconds: count / rate };
}

/** The official Python client: a `read_next()` loop keeping every value. */
async function pythonRead(): Promise<Read> {
  const { stdout } = await run(
    python,
    [officialPy, '--url', serviceUrl, 'read', topic, '--count', String(messages), '--quiet'],
    { timeout: 600_000 },
  );
  return JSON.parse(stdout) as Read;
}

const allReaders: [string, () => Promise<Read>][] = [
  ['Seam reader (TypeScript)', seamRead],
  ['official Java reader (pulsar-perf read)', javaRead],
  ['official Python reader loop', pythonRead],
];
const readers = args['seam-only'] ? allReaders.slice(0, 1) : allReaders;

// Batching on (the producer's defaults).
await prepareTopic(topic, ['--count', String(messages), '--size', String(size)]);
log('warm-up read (untimed)...');
await seamRead();
const results = new Map<string, Read[]>(readers.map(([name]) => [name, []]));
for (let i = 1; i <= runs; i++) {
  for (const [name, read] of readers) {
    const r = await read();
    if (r.count < messages) throw new Error(`${name} read ${r.count} of ${messages} messages`);
    results.get(name)?.push(r);
    const cpu = r.cpuUs === undefined ? '' : `, ${(r.cpuUs / r.count).toFixed(3)} µs CPU/msg`;
    const flows = r.flows === undefined ? '' : `, ${r.flows} FLOW commands`;
    log(`run ${i}/${runs}: ${name}: ${Math.round(r.count / r.seconds)} msg/s${cpu}${flows}`);
  }
}

const figures = readers.map(([name]) => {
  const reads = results.get(name) ?? [];
  const best = reads.reduce((a, b) => (a.count / a.seconds >= b.count / b.seconds ? a : b));
  return {
    reader: name,
    msgPerSec: Math.round(best.count / best.seconds),
    mbPerSec: Number((best.bytes / best.seconds / 1e6).toFixed(1)),
    runs: reads.map((r) => Math.round(r.count / r.seconds)),
    // The least CPU a message cost in any run (the machine's load only adds to it).
    cpuUsPerMsg: reads.every((r) => r.cpuUs !== undefined)
      ? Number(Math.min(...reads.map((r) => (r.cpuUs ?? 0) / r.count)).toFixed(3))
      : undefined,
    cpuUsPerMsgRuns: reads.map((r) =>
      r.cpuUs === undefined ? undefined : Number((r.cpuUs / r.count).toFixed(3)),
    ),
    flows: reads.map((r) => r.flows),
  };
});
const java = figures[1]?.msgPerSec;
const rows = figures.map((f) => [
  f.reader,
  f.msgPerSec.toLocaleString('en'),
  f.mbPerSec.toFixed(1),
  java ? (f.msgPerSec / java).toFixed(2) : '–',
  f.cpuUsPerMsg === undefined ? '–' : f.cpuUsPerMsg.toFixed(3),
]);
console.log(
  `\n${messages.toLocaleString('en')} messages × ${size} B, batching on, one partition; best of ${runs} runs`,
);
printTable(['reader', 'msg/s (best)', 'MB/s', 'vs Java', 'CPU µs/msg (least)'], rows);
// A partial run (one reader, or another checkout's) does not replace the full run's figures.
if (!args['seam-only'] && !args.server)
  await writeResults('read-backlog', { topic, messages, size, runs, figures });
