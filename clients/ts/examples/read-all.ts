/**
 * A bounded read into one Arrow table: what the topic holds now.
 *
 *   node clients/ts/examples/read-all.ts <topic> [host:port]
 */
import { inspect } from 'node:util';
import { SeamClient } from '@pulsar-seam/client';

const [topic = 'orders', address = '127.0.0.1:50051'] = process.argv.slice(2);
const seam = new SeamClient(address);
try {
  const table = await seam.readAll({
    topic,
    columns: ['order_id', 'customer', 'amount_cents', '__publishTime'],
  });
  console.log(
    `${table.numRows} rows: ${table.schema.fields.map((f) => `${f.name} ${f.type}`).join(', ')}`,
  );
  for (const row of table.toArray().slice(0, 3))
    console.log(inspect(row.toJSON(), { breakLength: Infinity }));
  // Columns are Arrow vectors: aggregate without building row objects.
  let total = 0n;
  for (const cents of table.getChild('amount_cents') ?? []) total += cents as bigint;
  console.log(`total amount: ${total} cents`);
} finally {
  seam.close();
}
