/**
 * Captures the corpus of real broker bytes in test/fixtures/ (format: its README.md). Run it
 * once, when the corpus should change (a new layout, a new Pulsar), and commit the result:
 *
 *   bash pulsar/pulsar.sh start      # the test standalone (SEAM_PULSAR_* ports as usual)
 *   node test/support/capture-fixtures.ts
 *
 * For each layout, the official producer (the Python client; the Java client for chunks of
 * a few hundred bytes) writes a fresh topic; Seam's reader reads it while every byte its
 * connection receives is recorded (a tap on `FrameDecoder.prototype.push`, which is what the
 * socket feeds); the official reader reads it too, for the expected messages. Needs the venv
 * and Java, as the tests against Pulsar do.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PulsarClient } from '../../server/pulsar/client.ts';
import { FrameDecoder } from '../../server/pulsar/protocol/frame.ts';
import { Reader } from '../../server/pulsar/reader.ts';
import type { FixtureMessage } from './fixtures.ts';
import {
  ensurePulsar,
  freshTopic,
  type ProduceOptions,
  produce,
  pulsar,
  readOfficial,
} from './pulsar.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const folder = `${root}test/fixtures/`;

const order = {
  type: 'record',
  name: 'Order',
  namespace: 'seam.fixtures',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'merchant', type: 'string' },
    { name: 'uid', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'attrs', type: { type: 'map', values: 'int' } },
  ],
};

interface Layout {
  name: string;
  description: string;
  producer: ProduceOptions | { java: 'ChunkedProducer' };
  schema?: unknown;
}

const layouts: Layout[] = [
  {
    name: 'batched-lz4',
    description: '40 messages with 5 keys in LZ4 batches of 10',
    producer: { count: 40, keys: 5, batchMaxMessages: 10, compression: 'LZ4', size: 30 },
  },
  {
    name: 'batched-zstd',
    description: '30 messages in ZSTD batches of 10',
    producer: { count: 30, batchMaxMessages: 10, compression: 'ZSTD', size: 30 },
  },
  {
    name: 'batched-zlib',
    description: '30 messages in ZLIB batches of 10',
    producer: { count: 30, batchMaxMessages: 10, compression: 'ZLIB', size: 30 },
  },
  {
    name: 'batched-snappy',
    description: '30 messages in SNAPPY batches of 10',
    producer: { count: 30, batchMaxMessages: 10, compression: 'SNAPPY', size: 30 },
  },
  {
    name: 'unbatched',
    description: '20 messages with 3 keys, one an entry, uncompressed',
    producer: { count: 20, batching: false, keys: 3, size: 50 },
  },
  {
    name: 'avro',
    description: '12 AVRO records (long, string, uuid, nullable string, array, map), batched',
    schema: order,
    producer: {
      schema: 'avro',
      schemaDefinition: order,
      batchMaxMessages: 5,
      messages: Array.from({ length: 12 }, (_, i) => ({
        key: `m${i % 3}`,
        properties: { n: String(i) },
        value: {
          id: 2 ** 40 + i,
          merchant: `merchant ${i % 4}`,
          uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          note: i % 2 ? null : `note ${i}`,
          tags: Array.from({ length: i % 3 }, (_, k) => `t${k}`),
          attrs: Object.fromEntries(Array.from({ length: i % 4 }, (_, k) => [`a${k}`, k * i])),
        },
      })),
    },
  },
  {
    name: 'chunked',
    description:
      'Java producer, chunks of 600 bytes: 2,000 bytes uncompressed (4 chunks), 20 bytes, 3,000 bytes LZ4-compressed then chunked',
    producer: { java: 'ChunkedProducer' },
  },
];

/** The bytes Seam's reader connection receives while it reads `count` messages of `topic`. */
async function capture(topic: string, count: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const push = FrameDecoder.prototype.push;
  FrameDecoder.prototype.push = function tapped(this: FrameDecoder, chunk: Buffer) {
    chunks.push(Buffer.from(chunk));
    return push.call(this, chunk);
  };
  const client = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
  try {
    const reader = await Reader.open(client, { topic });
    let received = 0;
    while (received < count) received += (await reader.receive()).length;
    await reader.close();
  } finally {
    FrameDecoder.prototype.push = push;
    await client.close();
  }
  return Buffer.concat(chunks);
}

async function javaProduce(program: string, topic: string): Promise<void> {
  const exec = promisify(execFile);
  const home = (await exec('bash', [`${root}pulsar/pulsar.sh`, 'java-home'])).stdout.trim();
  await exec(
    `${home}/bin/java`,
    [
      '-cp',
      `${root}pulsar/.lib/*`,
      `${root}test/support/${program}.java`,
      pulsar.serviceUrl,
      topic,
    ],
    { timeout: 300_000 },
  );
}

await ensurePulsar();
await mkdir(folder, { recursive: true });
const fixtures = [];
for (const layout of layouts) {
  const topic = freshTopic(`fixture-${layout.name}`);
  if ('java' in layout.producer) await javaProduce(layout.producer.java, topic);
  else await produce(topic, layout.producer);
  const official = await readOfficial(topic);
  const bytes = await capture(topic, official.length);
  const file = `${layout.name}.bin`;
  await writeFile(`${folder}${file}`, bytes);
  const messages: FixtureMessage[] = official.map((m) => ({
    ledger: m.message_id.ledger,
    entry: m.message_id.entry,
    batch_index: m.message_id.batch_index,
    key: m.key,
    properties: m.properties,
    value_b64: m.value_b64,
  }));
  const { messages: _, ...producer } = layout.producer as ProduceOptions;
  fixtures.push({
    file,
    description: layout.description,
    producer,
    ...(layout.schema ? { schema: layout.schema } : {}),
    messages,
  });
  process.stderr.write(`${file}: ${bytes.length} bytes, ${messages.length} messages\n`);
}
// Pretty, with one message a line: readable, and small enough to review in a diff.
const json = JSON.stringify(
  { captured: new Date().toISOString().slice(0, 10), fixtures },
  (key, value) =>
    key === 'messages' ? (value as unknown[]).map((m) => `@@${JSON.stringify(m)}@@`) : value,
  2,
).replace(/"@@(.*?)@@"/g, (_, inner: string) => JSON.parse(`"${inner}"`) as string);
await writeFile(`${folder}corpus.json`, `${json}\n`);
