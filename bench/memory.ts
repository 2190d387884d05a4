/**
 * Where the gateway's memory goes: `node bench/memory.ts [options]`. Each scenario runs
 * against a fresh gateway process with test/support/memory-probe.ts loaded, twice: as it runs
 * (RSS and heap as the process really has them) and with garbage collected before each
 * sample (the live set). Prints peaks per scenario and writes bench/results/memory.json.
 *
 *   --messages N          history backlog for `history` and `paused` (default 1,000,000)
 *   --streams N           streams at once for `concurrency` (default 24)
 *   --concurrency-messages N  its topic's size (default 10,000)
 *   --paused-seconds N    how long the paused client holds its stream (default 10)
 *   --scenarios list      history,concurrency,paused (default all)
 *   --modes list          run,live (default both)
 *   --env K=V,...         extra gateway settings (e.g. SEAM_MEMORY_BUDGET_BYTES=67108864)
 *   --node-flags list     extra node flags for the gateway, comma-separated
 *   --out NAME            results file name (default memory)
 *
 * Data as the main benchmark's (bench/data.ts); Pulsar must be running.
 */

import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { GatewayProcess, pausedStream } from '../test/support/gateway-process.ts';
import type { MemorySample } from '../test/support/memory-probe.ts';
import { dataset } from './data.ts';
import { json, log, printTable, root, serviceUrl, webServiceUrl, writeResults } from './support.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    streams: { type: 'string', default: '24' },
    'concurrency-messages': { type: 'string', default: '10000' },
    'paused-seconds': { type: 'string', default: '10' },
    scenarios: { type: 'string', default: 'history,concurrency,paused' },
    modes: { type: 'string', default: 'run,live' },
    env: { type: 'string', default: '' },
    'node-flags': { type: 'string', default: '' },
    out: { type: 'string', default: 'memory' },
  },
});
const MiB = 2 ** 20;
const mib = (bytes: number) => `${Math.round(bytes / MiB)}`;
const sdkClient = `${root}bench/sdk-client.ts`;
const extraEnv = Object.fromEntries(
  args.env
    .split(',')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);

/** Peaks of a scenario's samples, bytes (messages for the reader figures). */
interface Peaks {
  rss: number;
  heapUsed: number;
  /** Heap V8 has committed (used or not), at the peak RSS sample. */
  heapTotalAtPeak: number;
  external: number;
  arrayBuffers: number;
  queuedMessages: number;
  /** RSS at the first sample, before the scenario's load. */
  rssAtStart: number;
  samples: number;
  /** How long the load took, s. */
  seconds: number;
}

/** Runs `load` against a probed gateway; the peaks of what the probe saw meanwhile. */
async function measured(live: boolean, load: (address: string) => Promise<void>): Promise<Peaks> {
  const file = `${os.tmpdir()}/seam-memory-probe-${process.pid}.jsonl`;
  let seconds = 0;
  await rm(file, { force: true });
  const gateway = await GatewayProcess.start(
    {
      SEAM_PULSAR_URL: serviceUrl,
      SEAM_PULSAR_ADMIN_URL: webServiceUrl,
      SEAM_MEMORY_PROBE: file,
      SEAM_MEMORY_PROBE_GC: String(live),
      ...extraEnv,
    },
    [
      '--expose-gc',
      '--import',
      `${root}test/support/memory-probe.ts`,
      ...args['node-flags'].split(',').filter(Boolean),
    ],
  );
  try {
    await sleep(500);
    const started = performance.now();
    await load(gateway.address);
    seconds = (performance.now() - started) / 1000;
    await sleep(500);
  } finally {
    await gateway.stop();
  }
  const samples = (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Partial<MemorySample>)
    .filter((s): s is MemorySample => s.rss !== undefined);
  await rm(file, { force: true });
  const peak = (key: keyof Omit<MemorySample, 'collected'>) =>
    Math.max(...samples.map((s) => s[key]));
  const top = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
  return {
    heapTotalAtPeak: top.heapTotal,
    rss: peak('rss'),
    heapUsed: peak('heapUsed'),
    external: peak('external'),
    arrayBuffers: peak('arrayBuffers'),
    queuedMessages: peak('queuedMessages'),
    rssAtStart: samples[0]?.rss ?? 0,
    samples: samples.length,
    seconds,
  };
}

/** Rows of `streams` bounded reads of `topic` at once (a TS SDK process). */
async function readConcurrently(address: string, topic: string, streams: number): Promise<number> {
  const r = await json<{ rows: number }>(process.execPath, [
    sdkClient,
    'concurrent',
    address,
    topic,
    String(streams),
  ]);
  return r.rows;
}

/** A client that takes the stream's first response, then stops reading for `seconds`. */
async function pausedClient(address: string, topic: string, seconds: number): Promise<void> {
  const stream = await pausedStream(address, topic);
  await sleep(seconds * 1000);
  stream.close();
}

const scenarios = new Set(args.scenarios.split(','));
const modes = args.modes.split(',').map((m) => m === 'live');
const rows: { scenario: string; live: boolean; peaks: Peaks }[] = [];
const messages = Number(args.messages);
const history =
  scenarios.has('history') || scenarios.has('paused')
    ? await dataset('history', messages)
    : undefined;

for (const live of modes) {
  if (history && scenarios.has('history')) {
    const peaks = await measured(live, async (address) => {
      const read = await readConcurrently(address, history.topic, 1);
      if (read !== messages) throw new Error(`history read ${read} of ${messages} rows`);
    });
    rows.push({ scenario: `history, 1 stream × ${messages} records`, live, peaks });
    log(`history (${live ? 'live' : 'run'}): peak RSS ${mib(peaks.rss)} MiB`);
  }
  if (scenarios.has('concurrency')) {
    const count = Number(args['concurrency-messages']);
    const streams = Number(args.streams);
    const { topic } = await dataset('concurrency', count);
    const peaks = await measured(live, async (address) => {
      const read = await readConcurrently(address, topic, streams);
      if (read !== count * streams) throw new Error(`${streams} streams read ${read} rows`);
    });
    rows.push({ scenario: `concurrency, ${streams} streams × ${count} records`, live, peaks });
    log(`concurrency (${live ? 'live' : 'run'}): peak RSS ${mib(peaks.rss)} MiB`);
  }
  if (history && scenarios.has('paused')) {
    const seconds = Number(args['paused-seconds']);
    const peaks = await measured(live, (address) => pausedClient(address, history.topic, seconds));
    rows.push({ scenario: `paused client, ${seconds} s on ${messages} records`, live, peaks });
    log(`paused (${live ? 'live' : 'run'}): peak RSS ${mib(peaks.rss)} MiB`);
  }
}

console.log(
  `\nGateway memory, peaks in MiB ("live": garbage collected before each sample)${
    args.env ? `; gateway settings ${args.env}` : ''
  }${args['node-flags'] ? `; node ${args['node-flags']}` : ''}`,
);
printTable(
  [
    'scenario',
    'mode',
    'RSS at start',
    'peak RSS',
    'heap committed then',
    'heap used',
    'external',
    'array buffers',
    'queued msgs',
  ],
  rows.map(({ scenario, live, peaks }) => [
    scenario,
    live ? 'live' : 'run',
    mib(peaks.rssAtStart),
    mib(peaks.rss),
    mib(peaks.heapTotalAtPeak),
    mib(peaks.heapUsed),
    mib(peaks.external),
    mib(peaks.arrayBuffers),
    peaks.queuedMessages.toLocaleString('en'),
    peaks.seconds.toFixed(1),
  ]),
);
await writeResults(args.out, {
  settings: extraEnv,
  nodeFlags: args['node-flags'],
  scenarios: rows,
});
