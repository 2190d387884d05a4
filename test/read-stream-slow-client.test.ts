/**
 * A slow client slows only its own stream: while one client sits on a large backlog
 * without reading, the gateway's memory stays bounded and another client reads the same
 * topic to the end. The gateway runs as its own process (`seam serve`) so its RSS is its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SeamClient } from '@pulsar-seam/client';
import test from 'ava';
import { pausedStream } from './support/gateway-process.ts';
import { ensurePulsar, freshTopic, produce, pulsar } from './support/pulsar.ts';

const cli = fileURLToPath(new URL('../server/cli.ts', import.meta.url));
let server: ChildProcess | undefined;
let address = '';

test.before(async () => {
  await ensurePulsar();
  server = spawn(
    process.execPath,
    [
      cli,
      'serve',
      '--plaintext',
      '--port',
      '0',
      '--metrics-port',
      '0',
      '--receiver-queue-size',
      '50',
      // Segment readers may buffer this much history ahead of a paused client (16 MiB).
      '--history-budget-bytes',
      String(16 * 1024 * 1024),
      '--shutdown-grace-ms',
      '1000',
    ],
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
  address = await new Promise<string>((resolve, reject) => {
    server?.stdout?.on('data', (chunk: Buffer) => {
      const match = /on (\S+:\d+),/.exec(chunk.toString());
      if (match?.[1]) resolve(match[1]);
    });
    server?.on('exit', (code) => reject(new Error(`seam serve exited with ${code}`)));
  });
});
test.after.always(async () => {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server?.once('exit', resolve));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server?.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
});

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a client that stops reading holds little memory and does not block another', async (t) => {
  const topic = freshTopic('slow-client');
  const count = 60_000;
  await produce(topic, { count, size: 2000, batchMaxMessages: 50 }); // ~120 MB of backlog
  const pid = server?.pid as number;
  const before = rssMiB(pid);

  // Paused, the slow client takes no bytes: HTTP/2 flow control pushes back on the gateway.
  const slow = await pausedStream(address, topic);
  await sleep(3000);
  const whilePaused = rssMiB(pid);

  // The fast client reads the whole topic meanwhile.
  const fast = new SeamClient(address);
  const table = await fast.readAll({ topic, columns: ['__messageId'] });
  t.is(table.numRows, count);
  const afterFast = rssMiB(pid);
  t.log(
    `gateway RSS: ${before.toFixed(0)} MiB before, ${whilePaused.toFixed(0)} MiB with the paused client, ${afterFast.toFixed(0)} MiB after a full read beside it`,
  );
  // The backlog is ~120 MB. A paused stream retains its prefetch (50 messages a partition,
  // times Pulsar's batch overshoot), its segment readers' history budget (16 MiB), the batch
  // being built and the write window (2 MiB); the rest of the growth is V8 heap slack from
  // building and copying 3 MiB responses (measured 57-71 MiB before segment reading).
  // Holding the backlog would take more than the whole bound.
  t.true(
    whilePaused - before < 96,
    `paused stream grew the gateway by ${(whilePaused - before).toFixed(0)} MiB`,
  );
  slow.close();
  fast.close();
});
