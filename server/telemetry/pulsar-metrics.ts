/**
 * Gauges of the process's Pulsar readers, read at each scrape: flow-control permits the
 * broker may still use, messages prefetched and not yet sent, reconnects; and of the
 * gateway's memory budget that readers and streams draw from.
 */
import { metrics } from '@opentelemetry/api';
import type { MemoryPool } from '../memory-pool.ts';
import { type ReaderStats, readerStats } from '../pulsar/reader.ts';

/** One instrument: its name, what it says, its unit, and its value at a scrape. */
interface Observed<S> {
  name: string;
  description: string;
  unit: string;
  /** A counter (only ever grows) rather than a gauge. */
  counter?: boolean;
  value: (state: S) => number;
}

/** Registers `instruments`, all read from one `state()` per scrape. */
function observe<S>(state: () => S, instruments: Observed<S>[]): void {
  const meter = metrics.getMeter('seam');
  const created = instruments.map((i) => {
    const options = { description: i.description, unit: i.unit };
    return i.counter
      ? meter.createObservableCounter(i.name, options)
      : meter.createObservableGauge(i.name, options);
  });
  meter.addBatchObservableCallback((result) => {
    const now = state();
    instruments.forEach((i, at) => {
      result.observe(created[at] as (typeof created)[number], i.value(now));
    });
  }, created);
}

/** Registers gauges of the gateway's memory pool: bytes held, the most held, the budget. */
export function observeMemory(pool: MemoryPool): void {
  observe(
    () => pool,
    [
      {
        name: 'seam.memory.used',
        description:
          'Bytes held by streams from the memory budget: reader queues and prefetch, segment buffers, unsent responses',
        unit: 'By',
        value: (p) => p.used,
      },
      {
        name: 'seam.memory.high_water',
        description: 'The most bytes held from the memory budget at once since start',
        unit: 'By',
        value: (p) => p.highWater,
      },
      {
        name: 'seam.memory.budget',
        description: 'The memory budget (--memory-budget-bytes)',
        unit: 'By',
        value: (p) => p.budgetBytes,
      },
    ],
  );
}

/** Registers the reader gauges with the global meter provider (after the SDK started). */
export function observePulsarReaders(): void {
  observe<ReaderStats>(readerStats, [
    {
      name: 'seam.pulsar.readers',
      description: 'Pulsar readers open (one per partition per stream)',
      unit: '{reader}',
      value: (s) => s.readers,
    },
    {
      name: 'seam.pulsar.permits',
      description: 'Flow-control permits granted to Pulsar and not used yet',
      unit: '{message}',
      value: (s) => s.permitsInFlight,
    },
    {
      name: 'seam.pulsar.queued',
      description: 'Messages received from Pulsar and not yet in a sent batch',
      unit: '{message}',
      value: (s) => s.queuedMessages,
    },
    {
      name: 'seam.pulsar.reconnects',
      description: 'Readers resubscribed after losing their consumer (unloads, broker restarts)',
      unit: '{reconnect}',
      counter: true,
      value: (s) => s.reconnects,
    },
  ]);
}
