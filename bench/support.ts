/**
 * What the Pulsar benchmarks share: the standalone's addresses, topics written once by the
 * official Python producer, the official Java reader's timed read, a gateway (or the bare
 * gRPC ceiling) per measured read, a plain-text table, and the results file.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { GatewayProcess, ServerProcess } from '../test/support/gateway-process.ts';

export const run = promisify(execFile);
export const root = fileURLToPath(new URL('..', import.meta.url));
export const serviceUrl = `pulsar://127.0.0.1:${process.env.SEAM_PULSAR_BROKER_PORT ?? '6650'}`;
export const webServiceUrl = `http://127.0.0.1:${process.env.SEAM_PULSAR_WEB_PORT ?? '8080'}`;
export const python = `${root}.venv/bin/python`;
export const officialPy = `${root}test/support/official.py`;

/** Runs a command to completion and parses the JSON object it prints last. */
export async function json<T>(file: string, argv: string[]): Promise<T> {
  const { stdout } = await run(file, argv, { maxBuffer: 64 * 2 ** 20, timeout: 1_800_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
}

/** Progress on stderr, so that stdout holds only the results. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * Starts the standalone (reusing a running one), then writes `topic` with the official
 * Python producer (`produceFlags`: official.py's produce flags) unless `stored` (a
 * partition's topic, default `topic`) already holds entries from an earlier run.
 */
export async function prepareTopic(
  topic: string,
  produceFlags: string[],
  stored = topic,
): Promise<void> {
  await run('bash', [`${root}pulsar/pulsar.sh`, 'start'], { timeout: 300_000 });
  const admin = new PulsarAdmin({ webServiceUrl });
  const entries = await admin.ledgers(stored).then(
    (ledgers) => ledgers.reduce((n, l) => n + l.entries, 0),
    () => 0,
  );
  if (entries > 0) {
    log(`reusing ${topic}`);
    return;
  }
  log(`producing to ${topic} with the official Python producer (${produceFlags.join(' ')})...`);
  const started = performance.now();
  await run(
    python,
    [officialPy, '--url', serviceUrl, 'produce', topic, ...produceFlags, '--quiet'],
    { timeout: 1_800_000 },
  );
  log(`produced in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** Prints a table: the first column left-aligned, the others right-aligned. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

/** Writes `bench/results/<name>.json`: the date, the machine, then `figures`. */
export async function writeResults(name: string, figures: Record<string, unknown>): Promise<void> {
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  await mkdir(`${root}bench/results`, { recursive: true });
  await writeFile(
    `${root}bench/results/${name}.json`,
    `${JSON.stringify({ date: new Date().toISOString(), machine, ...figures }, null, 2)}\n`,
  );
  log(`written to bench/results/${name}.json`);
}

/** One timed bounded read of a whole backlog. */
export interface Read {
  rows: number;
  seconds: number;
}

/** The official Java reader reading `count` messages: pulsar-perf's own figure (it times from subscribe to done). */
export async function javaRead(topic: string, count: number): Promise<Read> {
  const logFile = `${os.tmpdir()}/seam-bench-perf-${process.pid}.log`;
  await rm(logFile, { force: true });
  await run(
    'bash',
    [`${root}pulsar/pulsar.sh`, 'perf', 'read', '-n', String(count), '-q', '1000', topic],
    { env: { ...process.env, SEAM_PULSAR_TOOLS_LOG: logFile }, timeout: 1_800_000 },
  );
  const text = await readFile(logFile, 'utf8');
  const match = /Aggregated throughput stats --- (\d+) records received --- ([\d.]+) msg\/s/.exec(
    text,
  );
  if (!match) throw new Error(`pulsar-perf printed no throughput line; see ${logFile}`);
  await rm(logFile, { force: true });
  return { rows: Number(match[1]), seconds: Number(match[1]) / Number(match[2]) };
}

/** The environment a benchmark's gateway runs with: this standalone. */
const gatewayEnv = { SEAM_PULSAR_URL: serviceUrl, SEAM_PULSAR_ADMIN_URL: webServiceUrl };

/** Runs `use` against a server process started for it, stopped after. */
async function withServer<S extends ServerProcess, T>(
  server: Promise<S>,
  use: (server: S) => Promise<T>,
): Promise<T> {
  const started = await server;
  try {
    return await use(started);
  } finally {
    await started.stop();
  }
}

/**
 * Runs `use` against a gateway of its own, stopped after: each RSS and CPU figure is one
 * measurement's, not the sum of those before it. `SEAM_BENCH_GATEWAY` names another
 * checkout whose gateway runs instead (set up, e.g. a `git worktree` of an older commit):
 * the same data and clients against two commits' gateways; `SEAM_BENCH_GATEWAY_NODE_FLAGS`
 * adds node flags to the gateway's command line.
 */
export function withGateway<T>(
  use: (gateway: GatewayProcess) => Promise<T>,
  nodeFlags: string[] = [],
): Promise<T> {
  // SEAM_BENCH_GATEWAY_NODE_FLAGS: node flags for every gateway, space-separated (e.g. heap
  // flags, to run another checkout's gateway with this one's heap limits).
  const extra = (process.env.SEAM_BENCH_GATEWAY_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  return withServer(
    GatewayProcess.start(gatewayEnv, [...extra, ...nodeFlags], process.env.SEAM_BENCH_GATEWAY),
    use,
  );
}

const ceilingScript = `${root}bench/ceiling.ts`;

/**
 * Records one bounded ReadStream of `topic` through a gateway of its own into `file`: the
 * responses the bare gRPC ceiling (bench/ceiling.ts) replays.
 */
export function recordCeiling(
  topic: string,
  file: string,
): Promise<{ responses: number; bytes: number }> {
  return withGateway((gateway) =>
    json(process.execPath, [ceilingScript, 'record', gateway.address, topic, file]),
  );
}

/** Runs `use` against a bare gRPC ceiling process of its own serving `file`'s responses. */
export function withCeiling<T>(
  file: string,
  use: (ceiling: ServerProcess) => Promise<T>,
): Promise<T> {
  return withServer(
    ServerProcess.launch(
      'the bare gRPC ceiling',
      [ceilingScript, 'serve', file],
      {},
      /serving seam\.v1\.SeamService \(bare gRPC ceiling.* on [^ ]+:(\d+)$/,
    ),
    use,
  );
}

/**
 * A read through a gateway (or the bare gRPC ceiling), with that server's CPU seconds
 * during it and its peak RSS.
 */
export interface GatewayRead extends Read {
  gatewayCpuSeconds: number;
  gatewayPeakRss: number;
}

/** Times `read` against `gateway`, counting the CPU the gateway spent serving it. */
export async function measuredRead(
  gateway: ServerProcess,
  read: (address: string) => Promise<Read>,
): Promise<GatewayRead> {
  const before = await gateway.cpuSeconds();
  const result = await read(gateway.address);
  const gatewayCpuSeconds = (await gateway.cpuSeconds()) - before;
  return { ...result, gatewayCpuSeconds, gatewayPeakRss: (await gateway.memory()).peak };
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
