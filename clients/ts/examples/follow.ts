/**
 * A following read: the history, the seam, then the live tail, every event printed, for
 * a number of seconds (0: until Ctrl-C).
 *
 *   node clients/ts/examples/follow.ts <topic> [host:port] [seconds]
 */
import { inspect } from 'node:util';
import { SeamClient } from '@pulsar-seam/client';

const [topic = 'orders', address = '127.0.0.1:50051', seconds = '0'] = process.argv.slice(2);
const seam = new SeamClient(address);
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
if (Number(seconds) > 0) setTimeout(() => stop.abort(), Number(seconds) * 1000);

const hex = (token: Uint8Array) => `${Buffer.from(token).toString('hex').slice(0, 16)}…`;
try {
  for await (const event of seam.read({
    topic,
    start: 'earliest',
    columns: ['order_id', 'customer', 'amount_cents'],
    heartbeatMs: 2000,
    signal: stop.signal,
  })) {
    switch (event.kind) {
      case 'schema':
        console.log(
          `schema: ${event.schema.fields.map((f) => `${f.name} ${f.type}`).join(', ')}`,
          `(${event.info.pulsarSchemaType}, ${event.info.partitions.length} partition(s), ~${event.info.estimatedHistoryBytes} bytes of history)`,
        );
        break;
      case 'batch': {
        const { historyRows, historyBytesRead, historyBytesExpected } = event.progress;
        console.log(
          `batch: ${event.phase}, ${event.batch.numRows} rows, first ${inspect(event.batch.get(0)?.toJSON(), { breakLength: Infinity })}`,
          `progress ${historyRows} rows ${historyBytesRead}/${historyBytesExpected} bytes, resume token ${hex(event.resumeToken)}`,
        );
        break;
      }
      case 'seam':
        console.log(`seam: history complete (${event.historyRows} rows), now following the tail`);
        break;
      case 'heartbeat':
        console.log(
          `heartbeat: tail idle, last publish time ${event.lastPublishTime === undefined ? '-' : new Date(event.lastPublishTime).toISOString()}`,
        );
        break;
    }
  }
} finally {
  seam.close();
}
