/**
 * What the Pulsar benchmarks share: the standalone's addresses, topics written once by the
 * official Python producer, a plain-text table, and the results file.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PulsarAdmin } from '../server/pulsar/admin.ts';

export const run = promisify(execFile);
export const root = fileURLToPath(new URL('..', import.meta.url));
export const serviceUrl = `pulsar://127.0.0.1:${process.env.SEAM_PULSAR_BROKER_PORT ?? '6650'}`;
export const webServiceUrl = `http://127.0.0.1:${process.env.SEAM_PULSAR_WEB_PORT ?? '8080'}`;
export const python = `${root}.venv/bin/python`;
export const officialPy = `${root}test/support/official.py`;

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
