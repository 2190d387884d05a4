/**
 * The stream over an in-memory log, with no broker: a fake reader (through the injected
 * `openReader`) and a fake admin API over ledgers of unbatched messages. History by
 * segment, the seam and the tail; a resume token; a ledger deleted under the stream.
 */
import test from 'ava';
import type { SeamError } from '../../server/core/errors.ts';
import {
  type BatchLimits,
  defaultBatchLimits,
  type End,
  type Start,
} from '../../server/core/request.ts';
import type { PartitionReader } from '../../server/core/segmented-history.ts';
import {
  type CoreAdmin,
  type CoreClient,
  readStream,
  type StreamDeps,
  type StreamEvent,
} from '../../server/core/stream.ts';
import type { Ledger } from '../../server/pulsar/admin.ts';
import type { Message } from '../../server/pulsar/message.ts';
import { compareMessageIds, MessageId } from '../../server/pulsar/message-id.ts';
import type { ReaderOptions } from '../../server/pulsar/reader.ts';
import { testMessage } from '../support/messages.ts';

const topic = 'persistent://public/default/in-memory';

/** A partition's ledgers of unbatched messages; deleting a ledger drops its messages. */
class Log {
  ledgers: { ledgerId: number; messages: Message[] }[] = [];
  private index = 0;
  private change = Promise.withResolvers<void>();

  /** Writes `count` messages into ledger `ledgerId` (a new one after the last). */
  append(ledgerId: number, count: number): void {
    let ledger = this.ledgers.find((l) => l.ledgerId === ledgerId);
    if (!ledger) {
      ledger = { ledgerId, messages: [] };
      this.ledgers.push(ledger);
    }
    for (let i = 0; i < count; i++) {
      const entryId = ledger.messages.length;
      ledger.messages.push(message(new MessageId(ledgerId, entryId), this.index++));
    }
    this.change.resolve();
    this.change = Promise.withResolvers<void>();
  }

  /** Retention: the ledger goes, also under readers. */
  delete(ledgerId: number): void {
    this.ledgers = this.ledgers.filter((l) => l.ledgerId !== ledgerId);
  }

  /** The first message after `after` (undefined: from the start) that still exists. */
  next(after: MessageId | undefined): Message | undefined {
    for (const ledger of this.ledgers) {
      for (const m of ledger.messages) {
        if (!after || compareMessageIds(m.messageId, after) > 0) return m;
      }
    }
    return undefined;
  }

  changed(): Promise<void> {
    return this.change.promise;
  }

  last(): MessageId {
    const ledger = this.ledgers.at(-1);
    return ledger?.messages.at(-1)?.messageId ?? new MessageId(ledger?.ledgerId ?? -1, -1);
  }
}

function message(messageId: MessageId, index: number): Message {
  return testMessage(Buffer.from(`m${index}`), {
    topic,
    messageId,
    publishTime: 1_700_000_000_000 + index,
    producerName: 'fake',
    sequenceId: index,
    brokerIndex: index,
  });
}

/** A reader of the log: at most two messages a receive, moved past deleted ledgers. */
class FakeReader implements PartitionReader {
  private readonly log: Log;
  private after: MessageId | undefined;

  constructor(log: Log, options: ReaderOptions) {
    this.log = log;
    const start = options.start ?? MessageId.earliest;
    if (start === MessageId.latest) this.after = log.last();
    else if (start.isSentinel) this.after = undefined;
    else if (options.startInclusive) this.after = new MessageId(start.ledgerId, start.entryId - 1);
    else this.after = start;
  }

  async receive(signal?: AbortSignal): Promise<Message[]> {
    for (;;) {
      signal?.throwIfAborted();
      const messages: Message[] = [];
      for (let m = this.log.next(this.after); m && messages.length < 2; ) {
        messages.push(m);
        this.after = m.messageId;
        m = this.log.next(this.after);
      }
      if (messages.length > 0) return messages;
      await this.log.changed();
    }
  }

  async positions() {
    return { lastMessageId: this.log.last(), markDeletePosition: undefined };
  }

  async close(): Promise<void> {}
}

function deps(log: Log, historyParallelism: number): StreamDeps<CoreClient, CoreAdmin> {
  const ledgers = async (): Promise<Ledger[]> =>
    log.ledgers.map((l, i) => ({
      ledgerId: l.ledgerId,
      entries: l.messages.length,
      size: l.messages.length * 100,
      offloaded: false,
      closedAt: undefined,
      open: i === log.ledgers.length - 1,
    }));
  return {
    client: { partitions: async () => 0, schema: async () => undefined },
    admin: {
      ledgers,
      ledgerEntries: ledgers,
      entryPublishTime: async () => 0,
    },
    openReader: async (options) => new FakeReader(log, options),
    historyParallelism,
  };
}

/** Reads until `stop` says so, or the stream ends; `afterFirst` runs after the first batch. */
async function read(
  log: Log,
  start: Start,
  end: End,
  options: {
    parallelism?: number;
    stop?: (rows: string[]) => boolean;
    onSeam?: () => void;
    afterFirst?: () => void;
    batching?: Partial<BatchLimits>;
  } = {},
) {
  const events: StreamEvent['kind'][] = [];
  const rows: string[] = [];
  const tokens: Buffer[] = [];
  let error: SeamError | undefined;
  const request = {
    topic,
    start,
    end,
    columns: [],
    batching: { ...defaultBatchLimits, maxRows: 3, heartbeatMs: 60_000, ...options.batching },
  };
  const controller = new AbortController();
  try {
    for await (const event of readStream(
      deps(log, options.parallelism ?? 4),
      request,
      controller.signal,
    )) {
      events.push(event.kind);
      if (event.kind === 'seam') options.onSeam?.();
      if (event.kind !== 'batch') continue;
      const values = event.batch.getChild('value');
      for (let i = 0; i < event.batch.numRows; i++) {
        rows.push(Buffer.from(values?.get(i)).toString());
      }
      tokens.push(event.resumeToken);
      if (tokens.length === 1) options.afterFirst?.();
      if (options.stop?.(rows)) break;
    }
  } catch (caught) {
    error = caught as SeamError;
  }
  return { events, rows, tokens, error };
}

const names = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `m${from + i}`);

test('history by segment, the seam, then the tail: every row once, in order', async (t) => {
  const log = new Log();
  log.append(1, 5);
  log.append(2, 5);
  log.append(3, 2);
  const result = await read(
    log,
    { kind: 'earliest' },
    { kind: 'follow' },
    {
      // Written after the open: the tail's, in a ledger of its own.
      onSeam: () => setTimeout(() => log.append(4, 4), 10),
      stop: (rows) => rows.length >= 16,
    },
  );
  t.is(result.error, undefined);
  t.deepEqual(result.rows, names(0, 16));
  const seam = result.events.indexOf('seam');
  t.true(seam > 0);
  t.is(result.events.slice(0, seam).filter((k) => k === 'batch').length, 4, '12 rows of history');
});

test('a tail row goes out once the readers have nothing more queued, not at max_latency', async (t) => {
  const log = new Log();
  log.append(1, 2);
  let writtenAt = 0;
  const result = await read(
    log,
    { kind: 'earliest' },
    { kind: 'follow' },
    {
      batching: { maxRows: 1000, maxLatencyMs: 20_000 },
      onSeam: () =>
        setTimeout(() => {
          writtenAt = Date.now();
          log.append(2, 1);
        }, 10),
      stop: (rows) => rows.length >= 3,
    },
  );
  const waited = Date.now() - writtenAt;
  t.deepEqual(result.rows, names(0, 3));
  t.true(waited < 5_000, `the row went out ${waited} ms after it was written`);
});

test('a tail burst goes out as one batch: what is queued is taken before the batch is sent', async (t) => {
  const log = new Log();
  log.append(1, 2);
  const result = await read(
    log,
    { kind: 'earliest' },
    { kind: 'follow' },
    {
      batching: { maxRows: 1000, maxLatencyMs: 20_000 },
      // Ten messages at once: the fake reader hands them out two a receive.
      onSeam: () => setTimeout(() => log.append(2, 10), 10),
      stop: (rows) => rows.length >= 12,
    },
  );
  t.deepEqual(result.rows, names(0, 12));
  const tail = result.events.slice(result.events.indexOf('seam') + 1);
  t.deepEqual(tail, ['batch']);
});

test('a resume token continues right after the batch it came with', async (t) => {
  const log = new Log();
  log.append(1, 5);
  log.append(2, 5);
  const first = await read(log, { kind: 'earliest' }, { kind: 'atOpen' });
  t.deepEqual(first.rows, names(0, 10));
  const token = first.tokens[1] as Buffer; // after 6 rows
  const resumed = await read(log, { kind: 'resumeToken', token }, { kind: 'atOpen' });
  t.deepEqual(resumed.rows, names(6, 10));
});

for (const parallelism of [1, 4]) {
  test(`a ledger deleted under the stream: DATA_LOSS after the rows before it (parallelism ${parallelism})`, async (t) => {
    const log = new Log();
    log.append(1, 5);
    log.append(2, 5);
    log.append(3, 5);
    const result = await read(
      log,
      { kind: 'earliest' },
      { kind: 'atOpen' },
      { parallelism, afterFirst: () => log.delete(2) },
    );
    if (parallelism > 1 && result.error === undefined) {
      // The segment readers had read ledgers 2 and 3 ahead before the deletion: no gap.
      t.deepEqual(result.rows, names(0, 15));
      return;
    }
    t.is(result.error?.code, 'DATA_LOSS', result.error?.message);
    t.regex(result.error?.message ?? '', /ledger 2/);
    t.deepEqual(result.rows, names(0, result.rows.length), 'gapless');
    t.true(result.rows.length <= 5, `${result.rows.length} rows: none from after the gap`);
  });
}

test('the open hands the call signal to every Pulsar operation, so a cancelled call stops retrying', async (t) => {
  const log = new Log();
  log.append(1, 3);
  const signals: (AbortSignal | undefined)[] = [];
  const base = deps(log, 1);
  const controller = new AbortController();
  const stream = readStream(
    {
      ...base,
      client: {
        partitions: async (_topic, options) => {
          signals.push(options?.signal);
          return 0;
        },
        schema: async (_topic, _version, options) => {
          signals.push(options?.signal);
          return undefined;
        },
      },
      openReader: async (options) => {
        signals.push(options.signal);
        return new FakeReader(log, options);
      },
    },
    {
      topic,
      start: { kind: 'earliest' },
      end: { kind: 'atOpen' },
      columns: [],
      batching: defaultBatchLimits,
    },
    controller.signal,
  );
  for await (const _ of stream);
  t.true(signals.length >= 3);
  t.true(signals.every((s) => s === controller.signal));
});
