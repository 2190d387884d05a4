/**
 * The TypeScript SDK against a real gateway: tables equal to the official reader, and a
 * read that survives the gateway restarting under it, with no gap and no duplicate.
 */

import { SeamClient } from '@pulsar-seam/client';
import test from 'ava';
import { configWith, gatewayOptions } from '../server/config.ts';
import { Gateway } from '../server/grpc/server.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import { ensurePulsar, freshTopic, produce, pulsar, readOfficial } from './support/pulsar.ts';

test.before(ensurePulsar);

async function gatewayOn(port: number) {
  const client = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
  const gateway = await Gateway.start(
    { client },
    gatewayOptions(
      configWith({ port: String(port), shutdownGraceMs: '1000', maxConcurrentStreams: '16' }),
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
