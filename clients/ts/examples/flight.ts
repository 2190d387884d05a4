/**
 * A topic through the gateway's Arrow Flight service: plan it (one endpoint per ledger of each
 * partition), then read every endpoint, several at once, into one table.
 *
 *   node clients/ts/examples/flight.ts <topic> [host:port]
 */
import { SeamClient } from '@pulsar-seam/client';

const [topic = 'orders', address = '127.0.0.1:50051'] = process.argv.slice(2);
const seam = new SeamClient(address);
try {
  const info = await seam.flightInfo(topic);
  console.log(
    `${info.endpoints.length} endpoints, ordered=${info.ordered}, ${info.totalBytes} bytes stored`,
  );
  for (const [i, { info: e, locations }] of info.endpoints.entries()) {
    const where = locations.length > 0 ? locations.join(' then ') : 'this gateway';
    console.log(
      `endpoint ${i}: ${e.topic.split('/').at(-1)} ledger ${e.ledgerId} entries ${e.firstEntry}..${e.lastEntry} at ${where}`,
    );
  }
  // One endpoint by hand: its batches, each with a resume token for ReadStream.
  let rows = 0;
  for await (const event of seam.doGet(info.endpoints[0]?.ticket ?? new Uint8Array())) {
    if (event.kind === 'batch') rows += event.batch.numRows;
  }
  console.log(`endpoint 0 alone: ${rows} rows`);
  const table = await seam.readFlight(topic, { parallelism: 4 });
  console.log(`all endpoints: ${table.numRows} rows; columns ${table.schema.names.join(', ')}`);
} finally {
  seam.close();
}
