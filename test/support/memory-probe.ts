/**
 * Loaded into the gateway under measurement (`node --import ./test/support/memory-probe.ts
 * server/cli.ts serve`): every SEAM_MEMORY_PROBE_MS (default 250) it appends one JSON line
 * to the file SEAM_MEMORY_PROBE with the process's memory by kind, and what its readers
 * hold. With SEAM_MEMORY_PROBE_GC=true (and node --expose-gc) it collects garbage first,
 * so the heap figures are the live set rather than live data plus uncollected garbage.
 */
import { appendFileSync } from 'node:fs';
import v8 from 'node:v8';
import { heapFlags } from '../../server/heap-limit.ts';
import { readerStats } from '../../server/pulsar/reader.ts';

/** One sample, bytes. */
export interface MemorySample {
  /** ms since the probe started. */
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** Memory outside the V8 heap held by JS objects (Buffers' bytes among it). */
  external: number;
  arrayBuffers: number;
  /** Messages the readers have queued, their bytes (`messageBytes`), and permits granted but not used. */
  queuedMessages: number;
  queuedBytes: number;
  permitsInFlight: number;
  /** Whether garbage was collected just before. */
  collected: boolean;
}

const file = process.env.SEAM_MEMORY_PROBE;
const intervalMs = Number(process.env.SEAM_MEMORY_PROBE_MS ?? 250);
const collect = process.env.SEAM_MEMORY_PROBE_GC === 'true';
const gc = (globalThis as { gc?: () => void }).gc;
if (collect && !gc) throw new Error('SEAM_MEMORY_PROBE_GC=true needs node --expose-gc');

// `seam serve` starts itself again with its heap flags (server/heap-limit.ts), and node loads
// this probe into both processes: only the one that serves samples.
const restarting =
  typeof process.execve === 'function' &&
  heapFlags(process.execArgv, process.env.NODE_OPTIONS).length > 0;

if (file && !restarting) {
  const started = performance.now();
  const sample = () => {
    if (collect) gc?.();
    const m = process.memoryUsage();
    const readers = readerStats();
    const line: MemorySample = {
      t: Math.round(performance.now() - started),
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      queuedMessages: readers.queuedMessages,
      queuedBytes: readers.queuedBytes,
      permitsInFlight: readers.permitsInFlight,
      collected: collect,
    };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  };
  setInterval(sample, intervalMs).unref();
  appendFileSync(
    file,
    `${JSON.stringify({ heapSizeLimit: v8.getHeapStatistics().heap_size_limit })}\n`,
  );
}
