/**
 * A paused client holds a bounded share of the gateway's memory, however large the topic's
 * messages: the gateway (`seam serve`, its own process, default settings) is measured by
 * test/support/memory-probe.ts with garbage collected before each sample, so the figures are what
 * is live, not what V8 has yet to collect.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { defaultReceiverQueueBytes } from '../server/pulsar/flow-control.ts';
import { GatewayProcess, pausedStream } from './support/gateway-process.ts';
import type { MemorySample } from './support/memory-probe.ts';
import { ensurePulsar, freshTopic, produce, pulsar } from './support/pulsar.ts';

const probe = fileURLToPath(new URL('./support/memory-probe.ts', import.meta.url));
const samples = `${tmpdir()}/seam-memory-paused-${process.pid}.jsonl`;
let gateway: GatewayProcess | undefined;
const MiB = 1024 * 1024;

test.before(async () => {
  await ensurePulsar();
  rmSync(samples, { force: true });
  gateway = await GatewayProcess.start(
    {
      SEAM_PULSAR_URL: pulsar.serviceUrl,
      SEAM_PULSAR_ADMIN_URL: pulsar.webUrl,
      SEAM_MEMORY_PROBE: samples,
      SEAM_MEMORY_PROBE_GC: 'true',
    },
    ['--expose-gc', '--import', probe],
  );
});
test.after.always(async () => {
  await gateway?.stop();
  rmSync(samples, { force: true });
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
  const stream = await pausedStream((gateway as GatewayProcess).address, topic);
  await sleep(4000);
  const paused = lastSample();
  stream.close();

  const grown = (live(paused) - live(before)) / MiB;
  t.log(
    `live heap + external: ${(live(before) / MiB).toFixed(0)} MiB before, ${(live(paused) / MiB).toFixed(0)} MiB with the paused client (RSS ${(before.rss / MiB).toFixed(0)} → ${(paused.rss / MiB).toFixed(0)} MiB); reader queues ${(paused.queuedBytes / MiB).toFixed(1)} MiB`,
  );
  // The stream holds its reader's queue and prefetch (--receiver-queue-bytes, 2 MiB by
  // default, and one message past it), one receive's worth of messages waiting for the batch,
  // the batch being built (3 MiB) and the unsent responses (--max-buffered-bytes, 2 MiB):
  // under 32 MiB. Counting permits in messages, the reader took the whole 60 MiB topic.
  t.true(
    paused.queuedBytes <= defaultReceiverQueueBytes + 200 * 1024 + 400,
    `${paused.queuedBytes} B queued`,
  );
  t.true(grown < 32, `the paused stream holds ${grown.toFixed(1)} MiB live`);
});
