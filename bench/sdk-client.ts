/**
 * The benchmark's TypeScript SDK clients, each run as its own process by bench/run.ts:
 *
 *   read ADDRESS TOPIC                 readAll (end at open) into one Arrow table, timed
 *   concurrent ADDRESS TOPIC STREAMS   STREAMS reads of the whole topic at once, rows counted
 *   slow ADDRESS TOPIC ROWS_PER_S SECONDS
 *                                      one read that sleeps after each batch to take
 *                                      ROWS_PER_S (batches of a second's rows), stopped
 *                                      after SECONDS
 *
 * Each prints one JSON object on stdout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SeamClient } from '@pulsar-seam/client';

const [command = '', address = '', topic = '', ...rest] = process.argv.slice(2);
const client = new SeamClient(address);

/** Rows of one bounded read, taken as fast as they come (batches not kept). */
async function countRows(): Promise<number> {
  let rows = 0;
  for await (const event of client.read({ topic, end: 'atOpen' })) {
    if (event.kind === 'batch') rows += event.batch.numRows;
  }
  return rows;
}

let result: Record<string, number>;
const started = performance.now();
const seconds = () => (performance.now() - started) / 1000;
if (command === 'read') {
  const table = await client.readAll({ topic });
  result = { rows: table.numRows, seconds: seconds() };
} else if (command === 'concurrent') {
  const streams = Number(rest[0]);
  const counts = await Promise.all(Array.from({ length: streams }, countRows));
  result = { streams, rows: counts.reduce((a, b) => a + b, 0), seconds: seconds() };
} else if (command === 'slow') {
  const rowsPerSecond = Number(rest[0]);
  const stopAt = started + Number(rest[1]) * 1000;
  let rows = 0;
  // Batches of about a second's rows, so that the pace is even.
  const maxRows = Math.max(1, Math.ceil(rowsPerSecond));
  for await (const event of client.read({ topic, end: 'atOpen', maxRows })) {
    if (event.kind !== 'batch') continue;
    rows += event.batch.numRows;
    // Paced on the rows taken so far: sleep until they are due.
    await sleep(
      Math.max(0, Math.min(started + (rows / rowsPerSecond) * 1000, stopAt) - performance.now()),
    );
    if (performance.now() >= stopAt) break; // ends the call
  }
  result = { rows, seconds: seconds() };
} else {
  throw new Error(`unknown command ${command}: read, concurrent or slow`);
}
client.close();
console.log(JSON.stringify(result));
