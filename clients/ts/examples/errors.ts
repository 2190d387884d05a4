/**
 * What a failed read looks like: a `SeamStreamError` with the gRPC status code.
 *
 *   node clients/ts/examples/errors.ts <topic> [host:port]
 */
import { SeamClient, SeamStreamError } from '@pulsar-seam/client';

const [topic = 'no-such-topic', address = '127.0.0.1:50051'] = process.argv.slice(2);
const seam = new SeamClient(address);
try {
  await seam.readAll({ topic, columns: ['no_such_column'] });
} catch (error) {
  if (!(error instanceof SeamStreamError)) throw error;
  console.log(`${error.name} (code ${error.code}): ${error.message}`);
} finally {
  seam.close();
}
