/**
 * The TypeScript SDK against a real gateway: tables equal to the official reader, a read
 * that survives the gateway restarting under it, with no gap and no duplicate, and the
 * packed package working in a project of its own.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { SeamClient } from '@pulsar-seam/client';
import test from 'ava';
import { configWith, gatewayOptions } from '../server/config.ts';
import { Gateway } from '../server/grpc/server.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import { ensurePulsar, freshTopic, produce, pulsar, readOfficial } from './support/pulsar.ts';

const run = promisify(execFile);

test.before(ensurePulsar);

async function gatewayOn(port: number, options: { admin?: boolean } = {}) {
  const client = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
  // Flight plans with the admin API (ledgers); the reads here work without it.
  const admin = options.admin ? new PulsarAdmin({ webServiceUrl: pulsar.webUrl }) : undefined;
  const gateway = await Gateway.start(
    { client, admin },
    gatewayOptions(
      configWith({
        plaintext: 'true',
        port: String(port),
        shutdownGraceMs: '1000',
        maxConcurrentStreams: '16',
      }),
    ),
  );
  return {
    gateway,
    async stop() {
      await gateway.shutdown();
      await client.close();
    },
  };
}

test('readAll returns the topic as one Arrow table, ids equal to the official reader', async (t) => {
  const topic = freshTopic('sdk-readall');
  await produce(topic, { count: 1500, keys: 9, size: 24 });
  const server = await gatewayOn(0);
  const seam = new SeamClient(`127.0.0.1:${server.gateway.port}`);
  try {
    const table = await seam.readAll({ topic });
    const official = await readOfficial(topic);
    t.is(table.numRows, 1500);
    const ids = [...(table.getChild('__messageId') ?? [])].map((v) =>
      Buffer.from(v as Uint8Array).toString('base64'),
    );
    t.deepEqual(
      ids,
      official.map((m) => m.message_id.serialized_b64),
    );
  } finally {
    seam.close();
    await server.stop();
  }
});

test("batches with every metadata column fit gRPC's default 4 MiB receive limit", async (t) => {
  // Small values, long topic names: the metadata columns outweigh the payloads.
  const topic = freshTopic(`sdk-batch-bytes-${'x'.repeat(60)}`);
  await produce(topic, { count: 50_000, size: 8 });
  const server = await gatewayOn(0);
  const seam = new SeamClient(`127.0.0.1:${server.gateway.port}`);
  try {
    const table = await seam.readAll({ topic });
    t.is(table.numRows, 50_000);
  } finally {
    seam.close();
    await server.stop();
  }
});

test('a follow read resumes by itself when the gateway restarts mid-history', async (t) => {
  const topic = freshTopic('sdk-restart');
  const ids = (await produce(topic, { count: 6000, batchMaxMessages: 50, size: 16 })).map(
    (id) => id.serialized_b64,
  );
  let server = await gatewayOn(0);
  const port = server.gateway.port;
  const seam = new SeamClient(`127.0.0.1:${port}`);
  const seen: string[] = [];
  let restarted = false;
  try {
    for await (const event of seam.read({ topic, maxRows: 500 })) {
      if (event.kind !== 'batch') continue;
      const column = event.batch.getChild('__messageId');
      for (const v of column ?? []) seen.push(Buffer.from(v as Uint8Array).toString('base64'));
      if (!restarted && seen.length >= 2000) {
        restarted = true;
        await server.stop();
        server = await gatewayOn(port);
      }
      if (seen.length >= ids.length) break;
    }
  } finally {
    seam.close();
    await server.stop();
  }
  t.true(restarted);
  t.deepEqual(seen, ids);
});

test('after the seam every batch of a read is tail, rows caught up on after a resume too', async (t) => {
  const topic = freshTopic('sdk-seam-resume');
  const ids = (await produce(topic, { count: 300 })).map((id) => id.serialized_b64);
  let server = await gatewayOn(0);
  const port = server.gateway.port;
  const seam = new SeamClient(`127.0.0.1:${port}`);
  const seen: string[] = [];
  const phases: string[] = [];
  let seams = 0;
  try {
    for await (const event of seam.read({ topic, maxRows: 100 })) {
      if (event.kind === 'seam') {
        seams += 1;
        // The gateway goes away at the seam; what is published meanwhile is history to
        // the stream the SDK resumes with, and tail to the read.
        await server.stop();
        ids.push(...(await produce(topic, { count: 200 })).map((id) => id.serialized_b64));
        server = await gatewayOn(port);
      }
      if (event.kind !== 'batch') continue;
      for (let i = 0; i < event.batch.numRows; i++) phases.push(event.phase);
      const column = event.batch.getChild('__messageId');
      for (const v of column ?? []) seen.push(Buffer.from(v as Uint8Array).toString('base64'));
      if (seen.length >= 500) break;
    }
  } finally {
    seam.close();
    await server.stop();
  }
  t.is(seams, 1);
  t.deepEqual(seen, ids);
  // Row by row (batch sizes vary: an idle reader flushes a partial batch on a busy machine):
  // the 300 rows before the seam are history, the 200 published during the restart tail.
  t.deepEqual(phases, [...Array(300).fill('history'), ...Array(200).fill('tail')]);
});

test('the packed package installs into a project of its own and reads', async (t) => {
  const topic = freshTopic('sdk-package');
  await produce(topic, { count: 40 });
  const project = await mkdtemp(path.join(os.tmpdir(), 'seam-sdk-'));
  const pack = fileURLToPath(new URL('../clients/ts/pack.sh', import.meta.url));
  const { stdout } = await run('bash', [pack, project], { timeout: 120_000 });
  const tarball = stdout.trim();
  await writeFile(path.join(project, 'package.json'), '{"type": "module", "private": true}');
  // Its dependencies come from the npm cache where it has them, else from the registry: `npm ci`
  // caches tarballs but not the registry's package documents, so `--offline` fails on a fresh
  // machine (ENOTCACHED, seen in CI).
  await run(
    'npm',
    ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball],
    { cwd: project, timeout: 120_000 },
  );
  await writeFile(
    path.join(project, 'read.js'),
    `import { SeamClient } from '@pulsar-seam/client';
const seam = new SeamClient(process.argv[2]);
const table = await seam.readAll({ topic: process.argv[3] });
console.log(table.numRows);
const flight = await seam.readFlight(process.argv[3]);
console.log(flight.numRows);
seam.close();
`,
  );
  const server = await gatewayOn(0, { admin: true });
  try {
    const read = await run(
      process.execPath,
      ['read.js', `127.0.0.1:${server.gateway.port}`, topic],
      { cwd: project, timeout: 60_000 },
    );
    // ReadStream, then every Flight endpoint: the package carries Flight.proto.
    t.deepEqual(read.stdout.trim().split('\n'), ['40', '40']);
  } finally {
    await server.stop();
    await rm(project, { recursive: true, force: true });
  }
});
