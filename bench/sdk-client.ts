/**
 * The benchmark's TypeScript SDK clients, each run as its own process by bench/run.ts:
 *
 *   read ADDRESS TOPIC                 readAll (end at open) into one Arrow table, timed
 *   concurrent ADDRESS TOPIC STREAMS   STREAMS reads of the whole topic at once, rows counted
 *   slow ADDRESS TOPIC ROWS_PER_S SECONDS
 *                                      one read that sleeps after each batch to take
 *                                      ROWS_PER_S, stopped after SECONDS
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
  const abort = new AbortController();
  let rows = 0;
  for await (const event of client.read({ topic, end: 'atOpen', signal: abort.signal })) {
    if (event.kind !== 'batch') continue;
    rows += event.batch.numRows;
    // Paced on the rows taken so far, so a large batch is followed by a long sleep.
    const due = Math.min(started + (rows / rowsPerSecond) * 1000, stopAt);
    await sleep(Math.max(0, due - performance.now()));
    if (performance.now() >= stopAt) abort.abort();
  }
  result = { rows, seconds: seconds() };
} else {
  throw new Error(`unknown command ${command}: read, concurrent or slow`);
}
client.close();
console.log(JSON.stringify(result));
