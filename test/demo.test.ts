/**
 * The demo's totals checked independently: run demo/merchants.ts (history, then the live
 * tail) and recompute each merchant's 30-day volume with the official Python client's
 * reader over exactly the messages the demo consumed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { adminGet, ensurePulsar, readOfficial } from './support/pulsar.ts';

const run = promisify(execFile);
const demo = fileURLToPath(new URL('../demo/merchants.ts', import.meta.url));

test.before(ensurePulsar);

/** What `node demo/merchants.ts --report FILE` writes. */
interface DemoReport {
  topic: string;
  windowStart: number;
  rows: number;
  windowRows: number;
  /** Cents per merchant, as decimal strings. */
  totals: Record<string, string>;
  /** Partition topic → the last message id the demo read there (serialized, base64). */
  lastMessageIds: Record<string, string>;
}

interface Transaction {
  merchant: string;
  amount_cents: number;
}

test('the demo totals equal those computed from the official reader over the same messages', async (t) => {
  const report = path.join(await mkdtemp(path.join(os.tmpdir(), 'seam-demo-')), 'report.json');
  const { stdout } = await run(
    process.execPath,
    [demo, '--history', '3000', '--rate', '200', '--seconds', '6', '--report', report],
    { timeout: 120_000 },
  );
  t.regex(stdout, /seam reached, now live/);
  const demoSaw = JSON.parse(await readFile(report, 'utf8')) as DemoReport;
  t.is(Object.keys(demoSaw.lastMessageIds).length, 4, 'the demo read from all four partitions');
  // The live tail contributed: more rows than the history alone.
  t.true(demoSaw.rows > 3000, `${demoSaw.rows} rows`);

  // The writer's schema, from Pulsar's registry: the reader decodes with it.
  const schema = await adminGet<{ data: string }>(
    `schemas/${demoSaw.topic.replace('persistent://', '')}/schema`,
  );
  const messages = await readOfficial(demoSaw.topic, {
    avroSchema: JSON.parse(schema.data),
    until: demoSaw.lastMessageIds,
  });
  const totals = new Map<string, bigint>();
  let windowRows = 0;
  for (const message of messages) {
    if ((message.event_time ?? 0) < demoSaw.windowStart) continue;
    windowRows++;
    const { merchant, amount_cents } = message.value as Transaction;
    totals.set(merchant, (totals.get(merchant) ?? 0n) + BigInt(amount_cents));
  }
  t.is(demoSaw.rows, messages.length, 'rows read: no message dropped or read twice');
  t.is(demoSaw.windowRows, windowRows);
  t.deepEqual(
    demoSaw.totals,
    Object.fromEntries([...totals].map(([merchant, cents]) => [merchant, String(cents)])),
  );
});
