/**
 * Gauges of the process's Pulsar readers, read at each scrape: flow-control permits the
 * broker may still use, messages prefetched and not yet sent, reconnects.
 */
import { metrics } from '@opentelemetry/api';
import { readerStats } from '../pulsar/reader.ts';

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
