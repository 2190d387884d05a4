/**
 * Data deleted under a stream (truncation, retention trimming), against the real
 * standalone (ledgers of 1000 entries): the stream ends with DATA_LOSS after the rows
 * before the gap, promptly, whether it was paused or reading, with one reader per
 * partition or by segment, in the history or in a tail that lags. Before, a stream whose
 * remaining history was deleted waited for it until the call's deadline.
 */
import test from 'ava';
import type { SeamError } from '../server/core/errors.ts';
import { defaultBatchLimits, type End } from '../server/core/request.ts';
import { readStream, type StreamDeps } from '../server/core/stream.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import {
  adminPost,
  ensurePulsar,
  freshTopic,
  type OfficialMessage,
  produce,
  pulsar,
  readOfficial,
  topicPath,
} from './support/pulsar.ts';

const client = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
const admin = new PulsarAdmin({ webServiceUrl: pulsar.webUrl });

test.before(ensurePulsar);
test.after.always(() => client.close());

const rowOf = (m: OfficialMessage) => `${m.topic}|${m.message_id.serialized_b64}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Deletes every ledger of the topic, as `pulsar-admin topics truncate` does. */
async function truncate(topic: string): Promise<void> {
  const response = await fetch(`${pulsar.webUrl}/admin/v2/${topicPath(topic)}/truncate`, {
    method: 'DELETE',
  });
  if (response.status !== 204) throw new Error(`truncate: ${response.status}`);
}

/** Retention of nothing, then a trim: every closed ledger goes. */
async function trimAll(topic: string): Promise<void> {
  await adminPost(`${topicPath(topic)}/retention`, {
    retentionTimeInMinutes: 0,
    retentionSizeInMB: 0,
  });
  await sleep(1500);
  await adminPost(`${topicPath(topic)}/trim`);
}

interface Outcome {
  rows: string[];
  error: SeamError | undefined;
  /** From the moment the data was deleted (or the client resumed) to the error, ms. */
  endedAfterMs: number;
}

/**
 * Reads `topic` from earliest, 97 rows a batch; after the first batch, `afterFirst` runs:
 * awaited (the client pauses), or in the background while the client reads on slowly.
 */
async function readThrough(
  topic: string,
  end: End,
  options: Partial<StreamDeps> & {
    afterFirst: () => Promise<void>;
    paused: boolean;
  },
): Promise<Outcome> {
  const deps: StreamDeps = {
    client,
    admin,
    receiverQueueSize: 50,
    historyBudgetBytes: 16 * 1024,
    ...options,
  };
  const request = {
    topic,
    start: { kind: 'earliest' } as const,
    end,
    columns: [],
    batching: { ...defaultBatchLimits, maxRows: 97 },
  };
  // A hang ends here as CANCELLED, not as the test's timeout.
  const signal = AbortSignal.timeout(90_000);
  const rows: string[] = [];
  let deletedAt = 0;
  let background: Promise<void> | undefined;
  try {
    for await (const event of readStream(deps, request, signal)) {
      if (event.kind !== 'batch') continue;
      const ids = event.batch.getChild('__messageId');
      const topics = event.batch.getChild('__topic');
      for (let i = 0; i < event.batch.numRows; i++) {
        rows.push(`${topics?.get(i)}|${Buffer.from(ids?.get(i)).toString('base64')}`);
      }
      if (rows.length === event.batch.numRows) {
        if (options.paused) {
          await options.afterFirst();
          deletedAt = Date.now();
        } else {
          background = options.afterFirst().then(() => {
            deletedAt = Date.now();
          });
        }
      }
      // A client that reads slowly, but reads.
      if (!options.paused) await sleep(150);
    }
    return { rows, error: undefined, endedAfterMs: Date.now() - deletedAt };
  } catch (error) {
    await background;
    return { rows, error: error as SeamError, endedAfterMs: Date.now() - deletedAt };
  }
}

/** Three full ledgers and an empty open one: 3000 unbatched messages. */
async function threeLedgers(label: string): Promise<{ topic: string; official: string[] }> {
  const topic = freshTopic(label);
  await produce(topic, { count: 3000, size: 200, batching: false });
  return { topic, official: (await readOfficial(topic)).map(rowOf) };
}

function checkLoss(t: import('ava').ExecutionContext, outcome: Outcome, official: string[]): void {
  t.is(outcome.error?.code, 'DATA_LOSS', outcome.error?.message);
  t.regex(outcome.error?.message ?? '', /deleted/);
  t.true(outcome.rows.length < official.length, `${outcome.rows.length} rows before the error`);
  t.deepEqual(outcome.rows, official.slice(0, outcome.rows.length), 'the rows sent are gapless');
  // Promptly: seconds, not the call's deadline (generous for a loaded machine).
  t.true(outcome.endedAfterMs < 30_000, `DATA_LOSS ${outcome.endedAfterMs} ms after the deletion`);
  t.log(`${outcome.rows.length} rows, DATA_LOSS ${outcome.endedAfterMs} ms after the deletion`);
}

for (const parallelism of [1, 4]) {
  test(`truncation under a paused stream: DATA_LOSS, not a hang (parallelism ${parallelism})`, async (t) => {
    const { topic, official } = await threeLedgers(`loss-trunc-paused-${parallelism}`);
    const outcome = await readThrough(
      topic,
      { kind: 'atOpen' },
      { historyParallelism: parallelism, paused: true, afterFirst: () => truncate(topic) },
    );
    checkLoss(t, outcome, official);
  });

  test(`truncation while the stream reads: DATA_LOSS, not a hang (parallelism ${parallelism})`, async (t) => {
    const { topic, official } = await threeLedgers(`loss-trunc-reading-${parallelism}`);
    const outcome = await readThrough(
      topic,
      { kind: 'atOpen' },
      {
        historyParallelism: parallelism,
        paused: false,
        afterFirst: async () => {
          await sleep(500);
          await truncate(topic);
        },
      },
    );
    checkLoss(t, outcome, official);
  });

  test(`retention trimming every closed ledger under a paused stream: DATA_LOSS (parallelism ${parallelism})`, async (t) => {
    const { topic, official } = await threeLedgers(`loss-trim-paused-${parallelism}`);
    const outcome = await readThrough(
      topic,
      { kind: 'follow' },
      { historyParallelism: parallelism, paused: true, afterFirst: () => trimAll(topic) },
    );
    checkLoss(t, outcome, official);
  });
}

test('a tail that lags past retention on ledgers written after the open: DATA_LOSS, not a gap', async (t) => {
  // 10 messages at open (the history); 3010 more while the client is paused in the tail,
  // which retention then deletes but for the open ledger's: the broker moves the tail's
  // reader on to those without a word.
  const topic = freshTopic('loss-tail');
  const produced = await produce(topic, { count: 10, size: 200, batching: false });
  const outcome = await readThrough(
    topic,
    { kind: 'follow' },
    {
      paused: true,
      afterFirst: async () => {
        produced.push(...(await produce(topic, { count: 3010, size: 200, batching: false })));
        await trimAll(topic);
      },
    },
  );
  t.is(outcome.error?.code, 'DATA_LOSS', outcome.error?.message);
  t.regex(outcome.error?.message ?? '', /deleted/);
  const expected = produced.map((id) => `${topic}|${id.serialized_b64}`);
  t.true(
    outcome.rows.length >= 10 && outcome.rows.length < 1000,
    `${outcome.rows.length} rows before the error`,
  );
  t.deepEqual(outcome.rows, expected.slice(0, outcome.rows.length), 'the rows sent are gapless');
  t.log(`${outcome.rows.length} rows, then: ${outcome.error?.message}`);
});
