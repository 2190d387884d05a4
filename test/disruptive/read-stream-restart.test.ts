/** A ReadStream survives a broker restart during history and one during the tail. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { allRows, collect, idOf, useGateway } from '../support/gateway.ts';
import { freshTopic, produce } from '../support/pulsar.ts';

const run = promisify(execFile);
const pulsarSh = fileURLToPath(new URL('../../pulsar/pulsar.sh', import.meta.url));
const restart = () => run('bash', [pulsarSh, 'restart'], { timeout: 240_000 });

// A small prefetch keeps most of the history on the broker when it restarts.
const gw = useGateway(test, { receiverQueueSize: 100 });

test('broker restarts during history and during the tail: no gap, no duplicate', async (t) => {
  const topic = freshTopic('rs-restart');
  const history = (await produce(topic, { count: 20_000, batchMaxMessages: 20, size: 20 })).map(
    (id) => id.serialized_b64,
  );
  let phase: 'history' | 'restarting' | 'waiting-tail' | 'tail-restarted' = 'history';
  let tail: Promise<string[]> | undefined;
  const result = await collect(
    gw,
    { topic, batching: { max_rows: 500 } },
    {
      onBatch: () => {
        if (phase === 'history') {
          phase = 'restarting';
          void restart();
        }
      },
      stopWhen: (r) => {
        if (r.seamAt !== undefined && !tail) {
          tail = (async () => {
            phase = 'waiting-tail';
            await restart();
            phase = 'tail-restarted';
            return (await produce(topic, { count: 300, batching: false })).map(
              (id) => id.serialized_b64,
            );
          })();
        }
        return allRows(r).length >= 20_300;
      },
      timeoutMs: 240_000,
    },
  );
  const tailIds = (await tail) ?? [];
  t.is(phase as string, 'tail-restarted');
  const got = allRows(result).map(idOf);
  const expected = [...history, ...tailIds];
  const firstDiff = got.findIndex((id, i) => id !== expected[i]);
  t.is(firstDiff, -1, `first difference at row ${firstDiff}`);
  t.is(got.length, expected.length);
});
