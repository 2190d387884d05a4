/**
 * A chunked message whose chunks straddle a ledger boundary, against the real standalone:
 * the official producer fills a ledger but for its last two entries, then writes a message
 * of three chunks, so the broker rolls the ledger over (managedLedgerMaxEntriesPerLedger)
 * between its second and third chunk. GetFlightInfo's and PollFlightInfo's endpoints, each
 * read with DoGet through a gateway, hold the message once and whole, and together are
 * ReadStream's rows and the official reader's (message ids and values). Planning asks the
 * admin API about each boundary once: a second plan of the same ledgers asks nothing.
 */
import { createHash } from 'node:crypto';
import * as arrow from 'apache-arrow';
import test from 'ava';
import { planFlight } from '../server/core/flight-plan.ts';
import { pollFlight } from '../server/core/flight-poll.ts';
import { readerOpener } from '../server/core/plan.ts';
import { defaultBatchLimits, type ReadRequest } from '../server/core/request.ts';
import { encodeTicket } from '../server/core/ticket.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import { MessageId } from '../server/pulsar/message-id.ts';
import { sdkGateway } from './support/gateway.ts';
import {
  adminPut,
  freshTopic,
  produce,
  pulsar,
  readOfficial,
  topicPath,
} from './support/pulsar.ts';

const entriesPerLedger = Number(process.env.SEAM_PULSAR_ENTRIES_PER_LEDGER ?? 1000);
const client = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
const admin = new PulsarAdmin({ webServiceUrl: pulsar.webUrl });
const seam = sdkGateway(test);
test.after.always(() => client.close());

const signal = () => AbortSignal.timeout(120_000);
const digest = (value: Uint8Array) => createHash('sha256').update(value).digest('hex');
const big = 2_500_000; // three chunks of the standalone's 1 MiB limit

/** A read of the whole topic from earliest. */
const readOf = (topic: string, end: ReadRequest['end']): ReadRequest => ({
  topic,
  start: { kind: 'earliest' },
  end,
  columns: [],
  batching: defaultBatchLimits,
});

/** A row as `message id (base64) | value size | value digest`. */
function rowsOf(table: arrow.Table): string[] {
  const ids = [...(table.getChild('__messageId') ?? [])] as Uint8Array[];
  const values = [...(table.getChild('value') ?? [])] as Uint8Array[];
  return ids.map((id, i) => {
    const value = values[i] ?? new Uint8Array();
    return `${Buffer.from(id).toString('base64')}|${value.length}|${digest(value)}`;
  });
}

/** The topic as the official reader reads it, in the same form. */
async function officialRows(topic: string): Promise<string[]> {
  return (await readOfficial(topic)).map((m) => {
    const value = Buffer.from(m.value_b64, 'base64');
    return `${m.message_id.serialized_b64}|${value.length}|${digest(value)}`;
  });
}

/**
 * A topic whose first ledger ends with the first two chunks of a three-chunk message, the
 * third chunk the next ledger's first entry, then one more message.
 */
async function straddling(label: string) {
  const topic = freshTopic(label);
  await produce(topic, { count: entriesPerLedger - 2, size: 10, batching: false });
  await produce(topic, {
    chunking: true,
    messages: [{ value_b64: Buffer.alloc(big, 7).toString('base64') }, { value_text: 'after' }],
  });
  const ledgers = (await admin.ledgers(topic)).filter((l) => l.entries > 0);
  const [first, second] = ledgers;
  if (!first || !second) throw new Error(`${ledgers.length} ledgers with entries`);
  return { topic, first, second };
}

test('GetFlightInfo: a chunked message across a ledger boundary is in one endpoint, whole', async (t) => {
  const { topic, first, second } = await straddling('fcb-info');
  // The boundary is inside the message: chunk 1 ends the first ledger, chunk 2 opens the next.
  const [end, next] = await Promise.all([
    admin.entryChunk(topic, first.ledgerId, first.entries - 1),
    admin.entryChunk(topic, second.ledgerId, 0),
  ]);
  t.like(end, { chunkId: 1, chunks: 3 });
  t.like(next, { chunkId: 2, chunks: 3, uuid: end?.uuid });

  const info = await seam().flightInfo(topic);
  t.is(info.endpoints.length, 2);
  const tables = await Promise.all(info.endpoints.map((e) => seam().doGetAll(e.ticket)));
  // The first endpoint ends before the first chunk; the second starts right after.
  t.deepEqual(
    tables.map((table) => table.numRows),
    [entriesPerLedger - 2, 2],
  );
  t.like(info.endpoints[0]?.info, {
    ledgerId: first.ledgerId,
    lastEntry: entriesPerLedger - 3,
  });
  t.like(info.endpoints[1]?.info, { ledgerId: second.ledgerId, firstEntry: 0 });
  const flight = tables.flatMap(rowsOf);
  t.is(flight.filter((row) => row.includes(`|${big}|`)).length, 1);
  t.deepEqual(flight, rowsOf(await seam().readAll({ topic })));
  t.deepEqual(flight, await officialRows(topic));
});

test('PollFlightInfo: the endpoints of polls hold the message once, whole, across a boundary', async (t) => {
  const { topic } = await straddling('fcb-poll');
  const request = readOf(topic, { kind: 'follow' });
  const deps = { client, admin };
  const first = await pollFlight(deps, request, signal());
  // One more ledger, then a poll from the first's descriptor: it adds only the new message.
  await adminPut(`${topicPath(topic)}/unload`);
  await produce(topic, { messages: [{ value_text: 'later' }] });
  const second = await pollFlight(
    deps,
    { ...request, start: { kind: 'positions', positions: first.next ?? new Map() } },
    signal(),
  );
  const endpoints = [...first.plan.endpoints, ...second.plan.endpoints];
  t.is(second.plan.endpoints.length, 1);
  const tables = [];
  for (const endpoint of endpoints)
    tables.push(await seam().doGetAll(encodeTicket(endpoint.range)));
  const flight = tables.flatMap(rowsOf);
  t.is(flight.length, entriesPerLedger + 1);
  t.deepEqual(flight, rowsOf(await seam().readAll({ topic })));
  t.deepEqual(flight, await officialRows(topic));
});

test('GetFlightInfo with follow: a boundary inside a chunked message leaves it whole to the tail', async (t) => {
  const topic = freshTopic('fcb-tail');
  const [before, chunked] = await produce(topic, {
    chunking: true,
    messages: [{ value_text: 'before' }, { value_b64: Buffer.alloc(big, 7).toString('base64') }],
  });
  if (!before || !chunked) throw new Error('not produced');
  // Planned while the second of its three chunks was the last entry written: the readers'
  // last message id is capped there (the entries are the producer's).
  const secondChunk = new MessageId(chunked.ledger, chunked.entry - 1);
  const open = readerOpener({ client, admin });
  const plan = await planFlight(
    {
      client,
      admin,
      openReader: async (options) => {
        const reader = await open(options);
        return {
          receive: reader.receive.bind(reader),
          close: reader.close.bind(reader),
          positions: async () => ({ ...(await reader.positions()), lastMessageId: secondChunk }),
        };
      },
    },
    readOf(topic, { kind: 'follow' }),
    signal(),
  );
  const [history, tail] = plan.endpoints;
  t.is(plan.endpoints.length, 2);
  if (!history || !tail) throw new Error('no endpoints');
  await produce(topic, { messages: [{ value_text: 'after' }] });
  const rows = rowsOf(await seam().doGetAll(encodeTicket(history.range)));
  const abort = new AbortController();
  const timeout = setTimeout(() => abort.abort(), 60_000);
  for await (const event of seam().doGet(encodeTicket(tail.range), { signal: abort.signal })) {
    if (event.kind !== 'batch') continue;
    rows.push(...rowsOf(new arrow.Table(event.batch)));
    if (rows.length >= 3) abort.abort();
  }
  clearTimeout(timeout);
  t.deepEqual(rows, await officialRows(topic));
  // History ends before the message; the tail starts right after that.
  t.is(history.range.lastMessageId?.toString(), `${before.ledger}:${before.entry}:-1:-1`);
  t.like(tail.range, { lastMessageId: undefined, ledgerId: undefined });
  t.deepEqual(tail.range.start, { kind: 'after', id: history.range.lastMessageId });
});

test('planning looks at each ledger boundary once: a second plan asks the admin API nothing', async (t) => {
  const topic = freshTopic('fcb-cost');
  for (let round = 0; round < 4; round++) {
    await produce(topic, { count: 20, batching: false });
    await adminPut(`${topicPath(topic)}/unload`);
  }
  const calls: string[] = [];
  const counting = Object.assign(Object.create(admin) as PulsarAdmin, {
    entryChunk: (topic: string, ledgerId: number, entryId: number) => {
      calls.push(`${ledgerId}:${entryId}`);
      return admin.entryChunk(topic, ledgerId, entryId);
    },
  });
  const read = readOf(topic, { kind: 'atOpen' });
  const plan = await planFlight({ client, admin: counting }, read, signal());
  t.is(plan.endpoints.length, 4);
  // The last entry of each ledger but the last, and the first entry of each after the first.
  t.is(calls.length, 2 * 3);
  calls.length = 0;
  await planFlight({ client, admin: counting }, read, signal());
  t.deepEqual(calls, []);
});
