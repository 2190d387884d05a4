/**
 * History by segment, against the real standalone (which rolls ledgers every 1000
 * entries): the parallel path returns what the sequential path returns, row for row and
 * token for token, in every start and end mode; publish times prune segments; the byte
 * budget bounds what a paused stream holds.
 */

import type { ExecutionContext } from 'ava';
import test from 'ava';
import type { SeamError } from '../server/core/errors.ts';
import { defaultBatchLimits, type End, type Start } from '../server/core/request.ts';
import {
  decodeResumeToken,
  encodeResumeToken,
  type Position,
} from '../server/core/resume-token.ts';
import type { SegmentRead } from '../server/core/segmented-history.ts';
import { readStream, type StreamDeps } from '../server/core/stream.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import { MessageId } from '../server/pulsar/message-id.ts';
import { readerStats } from '../server/pulsar/reader.ts';
import { PublishTimes } from '../server/pulsar/segments.ts';
import {
  adminPost,
  adminPut,
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

/** A stream read to its end (or to `rows` rows), with what identifies each row and token. */
interface Read {
  /** `partition topic|message id (base64)`, in stream order. */
  rows: string[];
  /** Each batch's resume token, with the rows sent up to and including the batch. */
  batches: { rows: number; token: Buffer }[];
  seam: string | undefined;
  historyBytesRead: number;
  /** The stream's estimate of its history, stored bytes. */
  expectedBytes: number;
  segmentReads: SegmentRead[];
}

function emptyRead(): Read {
  return {
    rows: [],
    batches: [],
    seam: undefined,
    historyBytesRead: 0,
    expectedBytes: 0,
    segmentReads: [],
  };
}

async function read(
  topic: string,
  start: Start,
  end: End,
  options: Partial<StreamDeps> & {
    rows?: number;
    pauseAfterFirstBatch?: () => Promise<void>;
    /** Fills this instead of a new one: what was read before the stream failed. */
    into?: Read;
  },
): Promise<Read> {
  const result = options.into ?? emptyRead();
  const deps: StreamDeps = {
    client,
    admin,
    onSegmentRead: (r) => result.segmentReads.push(r),
    ...options,
  };
  const request = {
    topic,
    start,
    end,
    columns: [],
    batching: { ...defaultBatchLimits, maxRows: 97 },
  };
  for await (const event of readStream(deps, request, new AbortController().signal)) {
    if (event.kind === 'start') result.expectedBytes = event.info.estimatedHistoryBytes;
    if (event.kind === 'seam') result.seam = event.resumeToken.toString('hex');
    if (event.kind !== 'batch') continue;
    const ids = event.batch.getChild('__messageId');
    const topics = event.batch.getChild('__topic');
    for (let i = 0; i < event.batch.numRows; i++) {
      result.rows.push(`${topics?.get(i)}|${Buffer.from(ids?.get(i)).toString('base64')}`);
    }
    result.batches.push({ rows: result.rows.length, token: event.resumeToken });
    result.historyBytesRead = event.progress.historyBytesRead;
    if (result.batches.length === 1) await options.pauseAfterFirstBatch?.();
    if (options.rows !== undefined && result.rows.length >= options.rows) break;
  }
  return result;
}

/** The same stream read one reader per partition (parallelism 1) and by segment (4). */
async function bothWays(topic: string, start: Start, end: End, rows?: number) {
  const extra = rows === undefined ? {} : { rows };
  const [sequential, parallel] = await Promise.all([
    read(topic, start, end, { historyParallelism: 1, ...extra }),
    read(topic, start, end, { historyParallelism: 4, ...extra }),
  ]);
  return { sequential, parallel };
}

/** Rows of each partition, in order, by partition. */
function byPartition(rows: string[]): Map<string, string[]> {
  const partitions = new Map<string, string[]>();
  for (const row of rows) {
    const partition = row.slice(0, row.indexOf('|'));
    partitions.set(partition, [...(partitions.get(partition) ?? []), row]);
  }
  return new Map([...partitions].sort(([a], [b]) => a.localeCompare(b)));
}

const rowOf = (m: OfficialMessage) => `${m.topic}|${m.message_id.serialized_b64}`;

/**
 * Checks that every batch's resume token says exactly where the rows sent so far end:
 * right after each partition's last row, or, for a partition without rows yet, the start.
 */
function checkTokens(t: ExecutionContext, topic: string, start: Start, read: Read): void {
  const initial = (partition: number): Position => {
    switch (start.kind) {
      case 'earliest':
        return { kind: 'earliest' };
      case 'publishTime':
        return { kind: 'publishTime', ms: start.ms };
      case 'messageId':
        return { kind: 'at', id: start.id };
      case 'resumeToken':
        return decodeResumeToken(topic, start.token).get(partition) as Position;
      case 'positions':
        return start.positions.get(partition) as Position;
      case 'latest':
        throw new Error('no history to check');
    }
  };
  const last = new Map<number, MessageId>();
  let sent = 0;
  for (const batch of read.batches) {
    for (; sent < batch.rows; sent++) {
      const row = read.rows[sent] as string;
      const id = MessageId.deserialize(Buffer.from(row.slice(row.indexOf('|') + 1), 'base64'));
      last.set(id.partition, id);
    }
    const partitions = [...decodeResumeToken(topic, batch.token).keys()];
    const expected = new Map(
      partitions.map((p): [number, Position] => {
        const id = last.get(p);
        return [p, id ? { kind: 'after', id } : initial(p)];
      }),
    );
    if (!encodeResumeToken(topic, expected).equals(batch.token)) {
      t.fail(`the token after ${batch.rows} rows is not right after them`);
      return;
    }
  }
  t.pass();
}

/** Topics written once for the whole file. */
interface Fixture {
  topic: string;
  official: OfficialMessage[];
}
let unbatched: Fixture;
let batched: Fixture;
let partitioned: Fixture;

test.before(async () => {
  await ensurePulsar();
  const make = async (label: string, fill: (topic: string) => Promise<unknown>) => {
    const topic = freshTopic(label);
    await fill(topic);
    return { topic, official: await readOfficial(topic) };
  };
  [unbatched, batched, partitioned] = await Promise.all([
    // 5 500 entries: five full ledgers and the open one.
    make('seg-unbatched', (topic) => produce(topic, { count: 5500, size: 20, batching: false })),
    // Batches of at most 3: about 2 000 entries, so batch indexes in ids and tokens.
    make('seg-batched', (topic) => produce(topic, { count: 6000, size: 20, batchMaxMessages: 3 })),
    make('seg-partitioned', async (topic) => {
      await adminPut(`${topicPath(topic)}/partitions`, 2);
      await produce(topic, { count: 4400, size: 20, batching: false });
    }),
  ]);
});

test.after.always(async () => {
  await client.close();
});

/** Start and end modes, with positions in the middle of the fixture's messages. */
function modes(fixture: Fixture): { name: string; start: Start; end: End }[] {
  const { official } = fixture;
  const at = (fraction: number) =>
    official[Math.floor(official.length * fraction)] as OfficialMessage;
  const time = (fraction: number) => at(fraction).publish_time;
  const single = !official.some((m) => m.message_id.partition >= 0);
  const list: { name: string; start: Start; end: End }[] = [
    { name: 'earliest, at open', start: { kind: 'earliest' }, end: { kind: 'atOpen' } },
    {
      name: 'publish time, at open',
      start: { kind: 'publishTime', ms: time(0.45) },
      end: { kind: 'atOpen' },
    },
    {
      name: 'earliest, end publish time',
      start: { kind: 'earliest' },
      end: { kind: 'publishTime', ms: time(0.6) },
    },
    {
      name: 'publish time to publish time',
      start: { kind: 'publishTime', ms: time(0.2) },
      end: { kind: 'publishTime', ms: time(0.7) },
    },
  ];
  if (single) {
    list.push({
      name: 'message id, at open',
      start: {
        kind: 'messageId',
        id: MessageId.deserialize(Buffer.from(at(0.37).message_id.serialized_b64, 'base64')),
      },
      end: { kind: 'atOpen' },
    });
  }
  return list;
}

for (const [label, fixture] of [
  ['unbatched', () => unbatched],
  ['batched', () => batched],
  ['2 partitions', () => partitioned],
] as const) {
  test(`${label}: by segment, every start and end mode returns what one reader returns`, async (t) => {
    const { topic, official } = fixture();
    const ledgers = await admin.ledgers(fixture() === partitioned ? `${topic}-partition-0` : topic);
    t.true(ledgers.filter((l) => l.entries > 0).length >= 2, 'the topic spans several ledgers');
    for (const mode of modes(fixture())) {
      const { sequential, parallel } = await bothWays(topic, mode.start, mode.end);
      t.true(sequential.rows.length > 0, mode.name);
      t.true(parallel.segmentReads.length > 0, `${mode.name}: segments were read`);
      t.deepEqual(byPartition(parallel.rows), byPartition(sequential.rows), mode.name);
      t.is(parallel.seam, sequential.seam, `${mode.name}: the seam's token`);
      t.is(parallel.historyBytesRead, sequential.historyBytesRead, `${mode.name}: progress`);
      if (fixture() !== partitioned) t.deepEqual(parallel.rows, sequential.rows, mode.name);
      // Batches may end at other rows (a batch is flushed early when reading pauses), but
      // every token is the one the rows sent so far determine.
      checkTokens(t, topic, mode.start, sequential);
      checkTokens(t, topic, mode.start, parallel);
      if (mode.end.kind === 'atOpen') {
        // Progress from the segment sizes reaches the estimate at the seam.
        t.true(
          Math.abs(parallel.historyBytesRead - parallel.expectedBytes) <= 1,
          `${mode.name}: ${parallel.historyBytesRead} of ${parallel.expectedBytes} bytes`,
        );
      }
      if (mode.name === 'earliest, at open') {
        t.deepEqual(byPartition(parallel.rows), byPartition(official.map(rowOf)), 'the topic');
      }
    }
    // Resume from a token cut in the middle of the history, both ways.
    const first = await read(
      topic,
      { kind: 'earliest' },
      { kind: 'atOpen' },
      {
        historyParallelism: 4,
        rows: Math.floor(official.length / 3),
      },
    );
    const token = first.batches.at(-1)?.token as Buffer;
    const resume: Start = { kind: 'resumeToken', token };
    const { sequential, parallel } = await bothWays(topic, resume, { kind: 'atOpen' });
    t.deepEqual(byPartition(parallel.rows), byPartition(sequential.rows), 'resumed');
    checkTokens(t, topic, resume, sequential);
    checkTokens(t, topic, resume, parallel);
    t.is(parallel.seam, sequential.seam);
    t.is(first.rows.length + parallel.rows.length, official.length, 'cut and resumed: every row');
    t.true(
      Math.abs(parallel.historyBytesRead - parallel.expectedBytes) <= 1,
      `resumed: ${parallel.historyBytesRead} of ${parallel.expectedBytes} bytes`,
    );
  });
}

test('by segment while producing into the tail: the same rows as one reader, then the tail', async (t) => {
  const topic = freshTopic('seg-follow');
  await produce(topic, { count: 2600, size: 20, batching: false });
  const total = 2600 + 400;
  const reading = bothWays(topic, { kind: 'earliest' }, { kind: 'follow' }, total);
  await produce(topic, { count: 400, size: 20, batching: false, rate: 1000 });
  const { sequential, parallel } = await reading;
  const official = (await readOfficial(topic)).map(rowOf);
  t.true(parallel.segmentReads.length >= 2);
  t.deepEqual(sequential.rows, official);
  t.deepEqual(parallel.rows, official);
  checkTokens(t, topic, { kind: 'earliest' }, parallel);
});

test('a publish-time start in the middle reads only the segments from it on', async (t) => {
  const { topic, official } = unbatched;
  const ledgers = (await admin.ledgers(topic)).filter((l) => l.entries > 0);
  const from = official[3210] as OfficialMessage;
  const startLedger = from.message_id.ledger;
  // Its own publish-time cache: nothing cached, nothing shared.
  const times = new PublishTimes();
  const result = await read(
    topic,
    { kind: 'publishTime', ms: from.publish_time },
    { kind: 'atOpen' },
    { historyParallelism: 4, publishTimes: times },
  );
  // A binary search over the segments' last publish times, not one lookup per segment.
  const fetched = times.fetched;
  t.true(fetched <= Math.ceil(Math.log2(ledgers.length)) + 1, `${fetched} publish times fetched`);
  const expected = official.filter((m) => m.publish_time >= from.publish_time);
  t.is(result.rows[0], rowOf(expected[0] as OfficialMessage), 'the first message at or after t');
  t.deepEqual(result.rows, expected.map(rowOf));
  // Segment readers read the segment t falls in (unless the partition's reader, which
  // starts where the broker's seek put it, does) and the later ones; none before it.
  const bySegment = result.segmentReads.map((r) => r.ledgerId).sort((a, b) => a - b);
  const later = ledgers.map((l) => l.ledgerId).filter((id) => id > startLedger);
  t.log(`segments ${ledgers.map((l) => l.ledgerId)}; t in ${startLedger}; read ${bySegment}`);
  t.true(bySegment.every((id) => id >= startLedger));
  t.deepEqual(
    bySegment.filter((id) => id > startLedger),
    later,
  );
  for (const r of result.segmentReads) {
    const ledger = ledgers.find((l) => l.ledgerId === r.ledgerId);
    t.is(r.firstEntry, 0);
    // A segment reader stops at its segment: at most its entries and one prefetch more.
    t.true(r.messages <= (ledger?.entries ?? 0) + 1000, `${r.ledgerId}: ${r.messages} messages`);
  }
});

test('an end publish time skips the segments after it', async (t) => {
  const { topic, official } = unbatched;
  const ledgers = (await admin.ledgers(topic)).filter((l) => l.entries > 0);
  const to = official[2500] as OfficialMessage;
  const result = await read(
    topic,
    { kind: 'earliest' },
    { kind: 'publishTime', ms: to.publish_time },
    { historyParallelism: 8 },
  );
  t.deepEqual(result.rows, official.filter((m) => m.publish_time < to.publish_time).map(rowOf));
  // Segments wholly after the end are not read; the one starting at or after it, one entry.
  const endsIn = ledgers.findIndex((l) => l.ledgerId === to.message_id.ledger);
  const next = ledgers[endsIn + 1]?.ledgerId;
  t.true(ledgers.length > endsIn + 2, 'later segments exist');
  t.deepEqual(
    result.segmentReads.map((r) => r.ledgerId).sort((a, b) => a - b),
    ledgers.slice(1, endsIn + 2).map((l) => l.ledgerId),
  );
  const cut = result.segmentReads.find((r) => r.ledgerId === next);
  t.is(cut?.lastEntry, cut?.firstEntry, 'the segment after the end: its first entry only');
});

test.serial('a paused stream holds what its budget allows, then reads on exactly', async (t) => {
  const { topic, official } = unbatched;
  let held = 0;
  const result = await read(
    topic,
    { kind: 'earliest' },
    { kind: 'atOpen' },
    {
      historyParallelism: 8,
      historyBudgetBytes: 32 * 1024,
      receiverQueueSize: 200,
      pauseAfterFirstBatch: async () => {
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const stats = readerStats();
        held = stats.queuedMessages + stats.permitsInFlight;
      },
    },
  );
  // The partition's reader (200) and 8 segment readers with 16 KiB / 8 of permits each.
  t.true(held > 0 && held < 600, `${held} messages held or granted while paused`);
  t.log(`${held} messages queued or granted in readers while paused`);
  t.deepEqual(result.rows, official.map(rowOf));
});

test('the admin API gives each entry the publish time the official client reads', async (t) => {
  for (const { topic, official } of [unbatched, batched]) {
    for (const m of [official[0], official[1234], official.at(-1)] as OfficialMessage[]) {
      const { ledger, entry } = m.message_id;
      t.is(
        await admin.entryPublishTime(topic, ledger, entry),
        m.publish_time,
        `${ledger}:${entry}`,
      );
    }
  }
});

for (const parallelism of [1, 4]) {
  test(`retention deleting ledgers under a paused stream: DATA_LOSS, never a gap (parallelism ${parallelism})`, async (t) => {
    // Its own topic: 3 500 entries, three full ledgers and the open one; retention then
    // deletes the full ones while the stream, paused after its first batch, has read few.
    const topic = freshTopic(`seg-retention-${parallelism}`);
    await produce(topic, { count: 3500, size: 20, batching: false });
    const official = (await readOfficial(topic)).map(rowOf);
    const sent = emptyRead();
    const error = await t.throwsAsync(() =>
      read(
        topic,
        { kind: 'earliest' },
        { kind: 'atOpen' },
        {
          historyParallelism: parallelism,
          historyBudgetBytes: 16 * 1024,
          receiverQueueSize: 50,
          into: sent,
          pauseAfterFirstBatch: async () => {
            await adminPost(`${topicPath(topic)}/retention`, {
              retentionTimeInMinutes: 0,
              retentionSizeInMB: 0,
            });
            await new Promise((resolve) => setTimeout(resolve, 1500));
            await adminPost(`${topicPath(topic)}/trim`);
          },
        },
      ),
    );
    t.is((error as SeamError).code, 'DATA_LOSS', error?.message);
    t.regex(error?.message ?? '', /retention/);
    t.true(sent.rows.length < official.length, `${sent.rows.length} rows before the error`);
    t.deepEqual(sent.rows, official.slice(0, sent.rows.length), 'what came before is gapless');
  });
}
