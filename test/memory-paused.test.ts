/**
 * A paused client holds a bounded share of the gateway's memory, however large the topic's
 * messages: the gateway (`seam serve`, its own process, default settings) is measured by
 * bench/memory-probe.ts with garbage collected before each sample, so the figures are what
 * is live, not what V8 has yet to collect.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { MemorySample } from '../bench/memory-probe.ts';
import { apiType } from '../server/api.ts';
import { ensurePulsar, freshTopic, produce } from './support/pulsar.ts';

const cli = fileURLToPath(new URL('../server/cli.ts', import.meta.url));
const probe = fileURLToPath(new URL('../bench/memory-probe.ts', import.meta.url));
const samples = `${tmpdir()}/seam-memory-paused-${process.pid}.jsonl`;
let server: ChildProcess | undefined;
let address = '';
const MiB = 1024 * 1024;

test.before(async () => {
  await ensurePulsar();
  rmSync(samples, { force: true });
  server = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      probe,
      cli,
      'serve',
      '--plaintext',
      '--port',
      '0',
      '--metrics-port',
      '0',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SEAM_MEMORY_PROBE: samples, SEAM_MEMORY_PROBE_GC: 'true' },
    },
  );
  address = await new Promise<string>((resolve, reject) => {
    server?.stdout?.on('data', (chunk: Buffer) => {
      const match = /on (\S+:\d+),/.exec(chunk.toString());
      if (match?.[1]) resolve(match[1]);
    });
    server?.on('exit', (code) => reject(new Error(`seam serve exited with ${code}`)));
  });
});
test.after.always(async () => {
  rmSync(samples, { force: true });
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server?.once('exit', resolve));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server?.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The probe's last sample: live heap and external memory (Buffers' bytes among it). */
function lastSample(): MemorySample {
  const lines = readFileSync(samples, 'utf8').trim().split('\n');
  return JSON.parse(lines.at(-1) as string) as MemorySample;
}
const live = (s: MemorySample) => s.heapUsed + s.external;

test('a paused client on a topic of 200 KiB messages pins a bounded amount of live memory', async (t) => {
  const topic = freshTopic('paused-large');
  await produce(topic, { count: 300, size: 200 * 1024, batching: false }); // 60 MiB
  await sleep(1000);
  const before = lastSample();

  // Speaks HTTP/2 itself so that, paused, it really stops taking bytes (no WINDOW_UPDATE).
  const session = http2.connect(`http://${address}`);
  session.on('error', () => {});
  const ReadStreamRequest = apiType('ReadStreamRequest');
  const body = Buffer.from(
    ReadStreamRequest.encode(ReadStreamRequest.fromObject({ topic, at_open: {} })).finish(),
  );
  const call = session.request({
    ':method': 'POST',
    ':path': '/seam.v1.SeamService/ReadStream',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  call.on('error', () => {});
  call.end(Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]));
  await new Promise((resolve) => call.once('data', resolve));
  call.pause();
  await sleep(4000);
  const paused = lastSample();
  call.close();
  session.destroy();

  const grown = (live(paused) - live(before)) / MiB;
  t.log(
    `live heap + external: ${(live(before) / MiB).toFixed(0)} MiB before, ${(live(paused) / MiB).toFixed(0)} MiB with the paused client (RSS ${(before.rss / MiB).toFixed(0)} → ${(paused.rss / MiB).toFixed(0)} MiB); reader queues ${(paused.queuedBytes / MiB).toFixed(1)} MiB`,
  );
  // The stream holds its reader's queue and prefetch (--receiver-queue-bytes, 8 MiB, and one
  // message past it), one receive's worth of messages waiting for the batch, the batch
  // being built (3 MiB) and the unsent responses (--max-buffered-bytes, 8 MiB): under 32 MiB.
  // Counting permits in messages, the reader took the whole 60 MiB topic.
  t.true(paused.queuedBytes <= 8 * MiB + 200 * 1024 + 400, `${paused.queuedBytes} B queued`);
  t.true(grown < 32, `the paused stream holds ${grown.toFixed(1)} MiB live`);
});
