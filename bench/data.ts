/**
 * The benchmarks' data: small AVRO records (bench/order.avsc) written by the official Java
 * producer (bench/Produce.java against Pulsar's own jars, batching on), and backlog topics
 * produced once and reused by later runs of the same size (bench/results/datasets.json).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { json, log, root, run, serviceUrl, webServiceUrl } from './support.ts';

const results = `${root}bench/results`;

/** The Java peers (Produce.java, Tail.java), compiled once per change of their sources. */
async function javaClasses(javaHome: string): Promise<string> {
  const dir = `${os.tmpdir()}/seam-bench-java`;
  const sources = ['Produce', 'Tail'].map((name) => `${root}bench/${name}.java`);
  const built = await stat(`${dir}/Tail.class`).catch(() => undefined);
  const changed = Math.max(
    ...(await Promise.all(sources.map(async (s) => (await stat(s)).mtimeMs))),
  );
  if (!built || built.mtimeMs < changed) {
    await run(`${javaHome}/bin/javac`, ['-cp', `${root}pulsar/.lib/*`, '-d', dir, ...sources]);
  }
  return dir;
}

/** What the producer reports. */
export interface Produced {
  count: number;
  bytes: number;
  seconds: number;
}

let javaHome = '';
let classes = '';

/** The command line that runs one of the Java peers (`main`: its class) with `args`. */
export async function javaPeer(main: 'Produce' | 'Tail', args: string[]): Promise<string[]> {
  if (!javaHome) {
    javaHome = (await run('bash', [`${root}pulsar/pulsar.sh`, 'java-home'])).stdout.trim();
    classes = await javaClasses(javaHome);
  }
  return [
    `${javaHome}/bin/java`,
    '-Xmx512m',
    `-Dlog4j.configurationFile=${root}pulsar/conf/log4j2.xml`,
    `-Dseam.pulsar.log=${os.tmpdir()}/seam-bench-${main.toLowerCase()}.log`,
    '-cp',
    `${classes}:${root}pulsar/.lib/*`,
    main,
    ...args,
  ];
}

/**
 * Produces `count` records to `topic`, at `rate` msg/s (0: as fast as it can): AVRO order
 * records, or with `payloadSize` random payloads of that many bytes under the BYTES schema.
 */
export async function produce(
  topic: string,
  count: number,
  rate = 0,
  payloadSize?: number,
): Promise<Produced> {
  const [java = '', ...argv] = await javaPeer('Produce', [
    payloadSize === undefined ? `${root}bench/order.avsc` : `bytes:${payloadSize}`,
    serviceUrl,
    topic,
    String(count),
    String(rate),
  ]);
  return json<Produced>(java, argv);
}

/**
 * A backlog topic of `count` records and its payload bytes, produced once and reused. With
 * `ledgers` > 1 it is written in that many rounds, the topic unloaded after each, so the
 * broker opens a new ledger per round: a multi-segment history.
 */
export async function dataset(
  name: string,
  count: number,
  ledgers = 1,
  payloadSize?: number,
): Promise<{ topic: string; bytes: number }> {
  const file = `${results}/datasets.json`;
  const known = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as Record<
    string,
    { topic: string; bytes: number }
  >;
  const size = payloadSize === undefined ? '' : `-${payloadSize}B`;
  const key = ledgers > 1 ? `${name}${size}-${count}x${ledgers}` : `${name}${size}-${count}`;
  const admin = new PulsarAdmin({ webServiceUrl });
  const entry = known[key];
  if (entry) {
    const stored = await admin.ledgers(entry.topic).then(
      (list) => list.length > 0,
      () => false,
    );
    if (stored) {
      log(`reusing ${entry.topic}`);
      return entry;
    }
  }
  const topic = `persistent://public/default/bench-${key}-${Date.now()}`;
  log(
    `producing ${count.toLocaleString('en')} ${payloadSize === undefined ? 'AVRO records' : `${payloadSize.toLocaleString('en')}-byte messages`} to ${topic} in ${ledgers} ledger(s) (official Java producer, batching on)...`,
  );
  let bytes = 0;
  for (let round = 0; round < ledgers; round++) {
    const share = Math.floor(count / ledgers) + (round < count % ledgers ? 1 : 0);
    const produced = await produce(topic, share, 0, payloadSize);
    bytes += produced.bytes;
    log(
      `  round ${round + 1}: ${Math.round(produced.count / produced.seconds).toLocaleString('en')} msg/s`,
    );
    if (round < ledgers - 1) await unload(topic);
  }
  known[key] = { topic, bytes };
  await writeFile(file, `${JSON.stringify(known, null, 2)}\n`);
  return { topic, bytes };
}

/** Unloads a (non-partitioned, persistent) topic: its ledger is closed, the next write opens one. */
async function unload(topic: string): Promise<void> {
  const path = topic.replace('persistent://', 'persistent/');
  const response = await fetch(`${webServiceUrl}/admin/v2/${path}/unload`, { method: 'PUT' });
  if (!response.ok) throw new Error(`unloading ${topic}: HTTP ${response.status}`);
}
