/**
 * A stream opened while the broker restarts waits for it (within the operation timeout, as
 * the official clients retry lookups and connects) instead of failing at once; a caller's
 * short deadline still ends its call promptly.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { allRows, collect, idOf, useGateway } from '../support/gateway.ts';
import { freshTopic, produce, pulsar } from '../support/pulsar.ts';

const run = promisify(execFile);
const pulsarSh = fileURLToPath(new URL('../../pulsar/pulsar.sh', import.meta.url));
const pulsarCommand = (command: string) =>
  run('bash', [pulsarSh, command], { timeout: 240_000 }).then(() => undefined);

/** Whether the broker's port accepts connections now. */
function brokerListening(): Promise<boolean> {
  const { hostname, port } = new URL(pulsar.serviceUrl);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const gw = useGateway(test);
// Whatever happens, the next file finds Pulsar running.
test.after.always(() => pulsarCommand('start'));

test('streams opened while the broker is down wait for it; a short deadline ends promptly', async (t) => {
  const topic = freshTopic('open-restart');
  const ids = (await produce(topic, { count: 2000, batchMaxMessages: 50, size: 20 })).map(
    (id) => id.serialized_b64,
  );
  await pulsarCommand('stop');
  // Both calls start while nothing listens on the broker's port, then Pulsar starts (10-30 s
  // here, inside the 30 s operation timeout). Opening a fixed time into the restart instead
  // raced the broker: on a quiet machine it listened within 5 s.
  t.false(await brokerListening(), 'the broker is down when the streams open');
  const opened = Date.now();
  const waiting = collect(gw, { topic, at_open: {} }, { timeoutMs: 180_000 });
  const short = new Promise<{ code: number; details: string; ms: number }>((resolve) => {
    const call = gw.client.ReadStream({ topic }, { deadline: Date.now() + 3_000 });
    call.on('data', () => {});
    call.on('error', (error: grpc.ServiceError) =>
      resolve({ code: error.code, details: error.details, ms: Date.now() - opened }),
    );
  });

  const restarting = Date.now();
  const restarted = pulsarCommand('start').then(() => Date.now() - restarting);

  const ended = await short;
  t.log(`short deadline: ${grpc.status[ended.code]} after ${ended.ms} ms: ${ended.details}`);
  t.true(
    ended.code === grpc.status.DEADLINE_EXCEEDED || ended.code === grpc.status.UNAVAILABLE,
    grpc.status[ended.code],
  );
  t.true(ended.ms < 15_000, `ended after ${ended.ms} ms`);
  t.notRegex(ended.details, /ECONNREFUSED|pulsar:\/\//);

  const result = await waiting;
  t.log(
    `Pulsar was back ${await restarted} ms after its restart began; the stream, opened before it, ended ${Date.now() - opened} ms later`,
  );
  t.is(result.status.code, grpc.status.OK, result.status.details);
  t.deepEqual(allRows(result).map(idOf), ids);
});
