/**
 * Gauges of the process's Pulsar readers, read at each scrape: flow-control permits the
 * broker may still use, messages prefetched and not yet sent, reconnects; and of the
 * gateway's memory budget that readers and streams draw from.
 */
import { metrics } from '@opentelemetry/api';
import type { MemoryPool } from '../memory-pool.ts';
import { readerStats } from '../pulsar/reader.ts';

/** Registers gauges of the gateway's memory pool: bytes held, the most held, the budget. */
export function observeMemory(pool: MemoryPool): void {
  const meter = metrics.getMeter('seam');
  const used = meter.createObservableGauge('seam.memory.used', {
    description:
      'Bytes held by streams from the memory budget: reader queues and prefetch, segment buffers, unsent responses',
    unit: 'By',
  });
  const highWater = meter.createObservableGauge('seam.memory.high_water', {
    description: 'The most bytes held from the memory budget at once since start',
    unit: 'By',
  });
  const budget = meter.createObservableGauge('seam.memory.budget', {
    description: 'The memory budget (--memory-budget-bytes)',
    unit: 'By',
  });
  meter.addBatchObservableCallback(
    (result) => {
      result.observe(used, pool.used);
      result.observe(highWater, pool.highWater);
      result.observe(budget, pool.budgetBytes);
    },
    [used, highWater, budget],
  );
}

/** Registers the reader gauges with the global meter provider (after the SDK started). */
export function observePulsarReaders(): void {
  const meter = metrics.getMeter('seam');
  const readers = meter.createObservableGauge('seam.pulsar.readers', {
    description: 'Pulsar readers open (one per partition per stream)',
    unit: '{reader}',
  });
  const permits = meter.createObservableGauge('seam.pulsar.permits', {
    description: 'Flow-control permits granted to Pulsar and not used yet',
    unit: '{message}',
  });
  const queued = meter.createObservableGauge('seam.pulsar.queued', {
    description: 'Messages received from Pulsar and not yet in a sent batch',
    unit: '{message}',
  });
  const reconnects = meter.createObservableCounter('seam.pulsar.reconnects', {
    description: 'Readers resubscribed after losing their consumer (unloads, broker restarts)',
    unit: '{reconnect}',
  });
  meter.addBatchObservableCallback(
    (result) => {
      const stats = readerStats();
      result.observe(readers, stats.readers);
      result.observe(permits, stats.permitsInFlight);
      result.observe(queued, stats.queuedMessages);
      result.observe(reconnects, stats.reconnects);
    },
    [readers, permits, queued, reconnects],
  );
}
