/**
 * The Prometheus endpoint of a real `seam serve` process (OpenTelemetry started by the
 * entry point): counters move with the streams, and equal what the client received.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SeamClient } from '@pulsar-seam/client';
import test from 'ava';
import { ensurePulsar, freshTopic, produce, pulsar } from './support/pulsar.ts';

const cli = fileURLToPath(new URL('../server/cli.ts', import.meta.url));
let server: ChildProcess | undefined;
let address = '';
let metricsUrl = '';
const logs: Record<string, unknown>[] = [];

test.before(async () => {
  await ensurePulsar();
  server = spawn(
    process.execPath,
    [cli, 'serve', '--plaintext', '--port', '0', '--metrics-port', '0'],
    {
      // The standalone pulsar.sh runs, on SEAM_PULSAR_* ports, not the defaults.
      env: {
        ...process.env,
        SEAM_PULSAR_URL: pulsar.serviceUrl,
        SEAM_PULSAR_ADMIN_URL: pulsar.webUrl,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    server?.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.event === 'serving') {
          address = /on (\S+:\d+),/.exec(entry.msg as string)?.[1] ?? '';
          metricsUrl = entry.metrics as string;
          resolve();
        }
      }
    });
    server?.on('exit', (code) => reject(new Error(`seam serve exited with ${code}`)));
  });
});

test.after.always(async () => {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server?.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
});

/** The sum of a metric's samples whose labels include `labels`; 0 when there is none. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(match[3]);
  }
  return sum;
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test.serial('counters move with the streams: rows sent equal rows received', async (t) => {
  const topic = freshTopic('metrics');
  await produce(topic, { count: 1200, batchMaxMessages: 100, size: 20 });
  const seam = new SeamClient(address);
  try {
    const table = await seam.readAll({ topic });
    t.is(table.numRows, 1200);
    t.is(await metric('seam_rows_sent_total', { phase: 'history' }), 1200);
    t.is(await metric('seam_streams_ended_total', { status: 'OK' }), 1);
    t.true((await metric('seam_bytes_sent_total', { phase: 'history' })) > 1200 * 20);
    t.is(await metric('seam_streams_active'), 0);

    // A following stream: history, the seam, then live rows produced while it reads.
    const stop = new AbortController();
    let seamReached = false;
    let tailRows = 0;
    let historyRows = 0;
    const reading = (async () => {
      for await (const event of seam.read({ topic, signal: stop.signal })) {
        if (event.kind === 'seam') seamReached = true;
        if (event.kind !== 'batch') continue;
        if (event.phase === 'history') historyRows += event.batch.numRows;
        else tailRows += event.batch.numRows;
        if (tailRows >= 300) return;
      }
    })();
    await until(async () => seamReached, 'the seam');
    t.is(await metric('seam_streams_active'), 1);
    t.is(await metric('seam_pulsar_readers'), 1);
    await produce(topic, { count: 300, batchMaxMessages: 50, size: 20 });
    await reading;
    t.is(historyRows, 1200);
    t.is(tailRows, 300);
    t.is(await metric('seam_rows_sent_total', { phase: 'history' }), 2400);
    t.is(await metric('seam_rows_sent_total', { phase: 'tail' }), 300);
    // Every tail row's publish → send lag is in the histogram.
    t.is(await metric('seam_tail_lag_count'), 300);
    // Leaving the loop cancelled the call: the stream ends and its reader closes.
    await until(async () => (await metric('seam_streams_active')) === 0, 'the stream to end');
    t.is(await metric('seam_streams_ended_total', { status: 'CANCELLED' }), 1);
    t.is(await metric('seam_pulsar_readers'), 0);

    // Errors are counted by status code.
    await t.throwsAsync(seam.readAll({ topic: `${topic}-missing` }));
    t.is(await metric('seam_streams_ended_total', { status: 'NOT_FOUND' }), 1);
  } finally {
    seam.close();
  }
});

test.serial('one log line per stream open and close, with its figures', (t) => {
  const opens = logs.filter((l) => l.event === 'stream.open');
  const closes = logs.filter((l) => l.event === 'stream.close');
  t.true(opens.length >= 2);
  t.true(closes.length >= 3);
  const ok = closes.find((l) => l.status === 'OK');
  t.like(ok, { rows: 1200, historyRows: 1200 });
  t.true(typeof ok?.trace_id === 'string' && /^[0-9a-f]{32}$/.test(ok.trace_id as string));
  t.like(
    closes.find((l) => l.status === 'NOT_FOUND'),
    { level: 'warn' },
  );
});
