/**
 * Planning under load: many executors call GetFlightInfo for one topic at once, and the
 * gateway lists each partition's ledgers once for all of them (server/pulsar/admin.ts
 * `LedgerCache`), counted at the admin API itself through a proxy. A ledger the broker opens
 * right after is still planned: a list that misses it is fetched again.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SeamClient } from '@pulsar-seam/client';
import test from 'ava';
import { configWith, gatewayOptions } from '../server/config.ts';
import { Gateway } from '../server/grpc/server.ts';
import { LedgerCache, PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import {
  adminGet,
  adminPut,
  ensurePulsar,
  freshTopic,
  produce,
  pulsar,
  topicPath,
} from './support/pulsar.ts';

/** The admin API behind a proxy that counts each GET by its path. */
async function countingAdmin(): Promise<{
  url: string;
  counts: Map<string, number>;
  close(): Promise<void>;
}> {
  const counts = new Map<string, number>();
  const target = new URL(pulsar.webUrl);
  const server = http.createServer((request, response) => {
    const path = request.url ?? '';
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const forward = http.request(
      {
        host: target.hostname,
        port: target.port,
        path,
        method: request.method,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forward.on('error', () => response.destroy());
    request.pipe(forward);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** GETs of `suffix` (e.g. `/internalStats`) per partition of `topic`. */
function callsPerPartition(counts: Map<string, number>, topic: string, suffix: string) {
  const name = topic.split('/').at(-1) ?? topic;
  const per: Record<string, number> = {};
  for (const [path, n] of counts) {
    const match = new RegExp(`/${name}(-partition-\\d+)?${suffix}$`).exec(path);
    if (match) per[match[1] ?? ''] = (per[match[1] ?? ''] ?? 0) + n;
  }
  return per;
}

test.before(ensurePulsar);

test('concurrent GetFlightInfo of one topic lists each partition once; a new ledger is still planned', async (t) => {
  const topic = freshTopic('flight-cache');
  await adminPut(`${topicPath(topic)}/partitions`, 4);
  await produce(topic, { count: 400, keys: 40 });
  const proxy = await countingAdmin();
  const pulsarClient = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
  const gateway = await Gateway.start(
    {
      client: pulsarClient,
      // Lists kept a minute rather than a second, so that a loaded machine does not decide
      // what is counted (test/unit/ledger-cache.test.ts checks the expiry).
      admin: new PulsarAdmin({
        webServiceUrl: proxy.url,
        ledgerCache: new LedgerCache({ ttlMs: 60_000 }),
      }),
    },
    gatewayOptions(configWith({ plaintext: 'true', port: '0' })),
  );
  const seam = new SeamClient(`127.0.0.1:${gateway.port}`);
  const flightInfo = () => seam.flightInfo(topic);
  try {
    const infos = await Promise.all(Array.from({ length: 8 }, flightInfo));
    const partitions = {
      '-partition-0': 1,
      '-partition-1': 1,
      '-partition-2': 1,
      '-partition-3': 1,
    };
    t.deepEqual(callsPerPartition(proxy.counts, topic, '/internalStats'), partitions);
    t.deepEqual(callsPerPartition(proxy.counts, topic, '/internal-info'), partitions);
    // The eight plans are one plan.
    const endpoints = infos.map((info) => JSON.stringify(info.endpoints.map((e) => e.info)));
    t.true(endpoints.every((e) => e === endpoints[0]));
    t.is(infos[0]?.endpoints.length, 4);

    // Partition 0 rolls over to a new ledger with messages: its kept list ends before that
    // ledger, so it is fetched again, and the new ledger is planned; the others are kept.
    await adminPut(`${topicPath(topic)}-partition-0/unload`);
    await produce(`${topic}-partition-0`, { count: 20 });
    const after = await flightInfo();
    t.is(after.endpoints.length, 5);
    t.deepEqual(callsPerPartition(proxy.counts, topic, '/internalStats'), {
      ...partitions,
      '-partition-0': 2,
    });
    const stats = await adminGet<{ ledgers: { ledgerId: number; entries: number }[] }>(
      `${topicPath(topic)}-partition-0/internalStats`,
    );
    t.true(stats.ledgers.length >= 2);
  } finally {
    seam.close();
    await gateway.shutdown();
    await pulsarClient.close();
    await proxy.close();
  }
});
