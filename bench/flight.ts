/**
 * Arrow Flight beside ReadStream and the official Java reader, on one multi-ledger topic in
 * the same run: pyarrow.flight's GetFlightInfo then DoGet of every endpoint (one per
 * ledger), 1, 2 and 4 at once, into one pyarrow Table; Seam's Python client's one
 * ReadStream into a pyarrow Table; the official Java reader (pulsar-perf read); with
 * --spark, a Spark batch read (local[2], the seam data source, a noop sink; after a warm-up
 * read of a small topic in the same session). Prints
 * rows/s, MB/s, the ratio to Java and the gateway's CPU per message, and writes the
 * figures to bench/results/flight.json.
 *
 *   npx node bench/flight.ts [--messages 1000000] [--ledgers 8] [--runs 3] [--parallel 1,2,4]
 *     [--spark]
 *
 * Data: the AVRO order records of `npm run bench` (bench/order.avsc, official Java
 * producer), written in `--ledgers` rounds with an unload after each, so the history has
 * that many segments; kept and reused by later runs (bench/results/datasets.json). Each run
 * reads once with every reader, in a rotating order, each Seam read through a fresh gateway
 * process; rows/s is the best run, gateway CPU the median run.
 */
import { parseArgs } from 'node:util';
import { dataset } from './data.ts';
import {
  javaRead,
  json,
  log,
  measuredRead,
  median,
  printTable,
  python,
  type Read,
  root,
  run,
  withGateway,
  writeResults,
} from './support.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    ledgers: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    parallel: { type: 'string', default: '1,2,4' },
    spark: { type: 'boolean', default: false },
  },
});
const messages = Number(args.messages);
const runs = Number(args.runs);
const peers = `${root}bench/peers.py`;

interface Reader {
  name: string;
  /** Through a gateway (given its address), or an official client on its own. */
  seam: boolean;
  read: (address: string) => Promise<Read>;
}

interface Measured {
  rows: number;
  seconds: number[];
  gatewayCpuSeconds: number[];
}

await run('bash', [`${root}pulsar/pulsar.sh`, 'start'], { timeout: 300_000 });
const { topic, bytes } = await dataset('flight', messages, Number(args.ledgers));
// Spark's first read in a session pays for the JVM's JIT and the Python workers' start
// (~30 s on this machine); a user's job pays it once, so it is left out: each Spark read
// first reads this small topic in the same session.
const warmup = args.spark ? (await dataset('flight-warmup', 20_000)).topic : '';

const readers: Reader[] = [
  ...args.parallel.split(',').map(
    (n): Reader => ({
      name: `Flight · pyarrow.flight, ${n} DoGet at once`,
      seam: true,
      read: (address) =>
        json<Read>(python, [peers, 'flight-read', address, topic, '--parallel', n]),
    }),
  ),
  {
    name: 'Seam · Python client, one ReadStream',
    seam: true,
    read: (address) => json<Read>(python, [peers, 'seam-read', address, topic]),
  },
  ...(args.spark
    ? [
        {
          name: 'Spark local[2] · seam data source, noop sink',
          seam: true,
          read: (address: string) =>
            json<Read>(python, [peers, 'spark-read', address, topic, '--warmup', warmup]),
        },
      ]
    : []),
  {
    name: 'official Java reader (pulsar-perf read)',
    seam: false,
    read: () => javaRead(topic, messages),
  },
];

const measured = new Map<string, Measured>(
  readers.map((r) => [r.name, { rows: 0, seconds: [], gatewayCpuSeconds: [] }]),
);
for (let i = 0; i < runs; i++) {
  // Rotate the order, so that no reader always follows the same one (broker cache, GC).
  const order = readers.map((_, j) => readers[(i + j) % readers.length] as Reader);
  for (const reader of order) {
    const m = measured.get(reader.name) as Measured;
    if (reader.seam) {
      const r = await withGateway((gateway) => measuredRead(gateway, reader.read));
      m.gatewayCpuSeconds.push(r.gatewayCpuSeconds);
      m.seconds.push(r.seconds);
      m.rows = r.rows;
    } else {
      const r = await reader.read('');
      m.seconds.push(r.seconds);
      m.rows = r.rows;
    }
    if (m.rows !== messages) throw new Error(`${reader.name} read ${m.rows} of ${messages} rows`);
    log(
      `run ${i + 1}/${runs}: ${reader.name}: ${Math.round(messages / (m.seconds.at(-1) ?? 1)).toLocaleString('en')} rows/s`,
    );
  }
}

const figures = readers.map((reader) => {
  const m = measured.get(reader.name) as Measured;
  const best = Math.min(...m.seconds);
  return {
    reader: reader.name,
    rowsPerSec: Math.round(messages / best),
    mbPerSec: Number((bytes / best / 1e6).toFixed(1)),
    ...(reader.seam ? { gatewayCpuUs: (median(m.gatewayCpuSeconds) / messages) * 1e6 } : {}),
    runs: m.seconds.map((s) => Math.round(messages / s)),
  };
});
const java = figures.at(-1)?.rowsPerSec ?? 1;
console.log(
  `\nHistory of ${messages.toLocaleString('en')} AVRO records (${(bytes / messages).toFixed(0)} B each) in ${args.ledgers} ledgers, best of ${runs}`,
);
printTable(
  ['reader', 'rows/s', 'MB/s', 'vs Java', 'gateway CPU µs/msg'],
  figures.map((f) => [
    f.reader,
    f.rowsPerSec.toLocaleString('en'),
    f.mbPerSec.toFixed(1),
    (f.rowsPerSec / java).toFixed(2),
    f.gatewayCpuUs === undefined ? '-' : f.gatewayCpuUs.toFixed(2),
  ]),
);
await writeResults('flight', {
  topic,
  messages,
  ledgers: Number(args.ledgers),
  payloadBytes: bytes,
  runs,
  figures,
});
