/**
 * The TypeScript SDK's Arrow Flight calls against a real gateway: `flightInfo` plans a topic
 * into one endpoint per ledger of each partition, and reading every endpoint with `doGet`
 * (`readFlight`, several at once) gives ReadStream's rows (`readAll`) and the official
 * reader's, partition by partition in Pulsar order.
 */

import * as grpc from '@grpc/grpc-js';
import { type FlightEndpoint, SeamStreamError } from '@pulsar-seam/client';
import type * as arrow from 'apache-arrow';
import test from 'ava';
import { sdkGateway } from './support/gateway.ts';
import { adminPut, freshTopic, produce, readOfficial, topicPath } from './support/pulsar.ts';

const seam = sdkGateway(test);

/** Message ids (base64) by partition topic, in order, from (topic, id) pairs. */
function byPartition(pairs: [string, string][]): Record<string, string[]> {
  const per = new Map<string, string[]>();
  for (const [topic, id] of pairs) per.set(topic, [...(per.get(topic) ?? []), id]);
  return Object.fromEntries([...per].sort(([a], [b]) => a.localeCompare(b)));
}

/** Message ids (base64) per partition topic, in the table's order. */
function idsByPartition(table: arrow.Table): Record<string, string[]> {
  const topics = [...(table.getChild('__topic') ?? [])] as string[];
  const ids = [...(table.getChild('__messageId') ?? [])] as Uint8Array[];
  return byPartition(
    topics.map((topic, i) => [topic, Buffer.from(ids[i] ?? []).toString('base64')]),
  );
}

test('every endpoint read with doGet is ReadStream and the official reader, per partition', async (t) => {
  const topic = freshTopic('sdk-flight');
  await adminPut(`${topicPath(topic)}/partitions`, 2);
  for (let round = 0; round < 3; round++) {
    await produce(topic, { count: 150, keys: 20 });
    for (const p of [0, 1]) await adminPut(`${topicPath(topic)}-partition-${p}/unload`);
  }
  const info = await seam().flightInfo(topic);
  t.is(info.endpoints.length, 6); // three ledgers of each partition
  t.false(info.ordered);
  t.true(info.totalBytes > 0);
  t.is(info.info.partitions.length, 2);
  t.deepEqual(
    info.endpoints.map((e) => e.info.topic),
    [0, 0, 0, 1, 1, 1].map((p) => `${topic}-partition-${p}`),
  );
  t.true(info.endpoints.every((e) => e.locations.length === 0 && e.info.ledgerId !== undefined));

  const table = await seam().readFlight(topic, { parallelism: 3 });
  t.is(table.numRows, 450);
  t.deepEqual(
    table.schema.fields.map((f) => `${f.name} ${f.type}`),
    info.schema.fields.map((f) => `${f.name} ${f.type}`),
  );
  const stream = await seam().readAll({ topic });
  t.deepEqual(idsByPartition(table), idsByPartition(stream));
  const official = await readOfficial(topic);
  t.deepEqual(
    idsByPartition(table),
    byPartition(official.map((m) => [m.topic, m.message_id.serialized_b64])),
  );

  // One endpoint by hand: its rows are its ledger's, each batch with a resume token.
  const endpoint = info.endpoints[1] as FlightEndpoint;
  let rows = 0;
  for await (const event of seam().doGet(endpoint)) {
    if (event.kind !== 'batch') continue;
    rows += event.batch.numRows;
    t.true(event.resumeToken.length > 0);
  }
  t.is(rows, (await seam().doGetAll(endpoint.ticket)).numRows);
  t.true(rows > 0);
});

test('a request with options is planned as a command; an edited ticket is INVALID_ARGUMENT', async (t) => {
  const topic = freshTopic('sdk-flight-cmd');
  await produce(topic, { count: 60 });
  const info = await seam().flightInfo({ topic, columns: ['value', '__messageId'] });
  t.deepEqual(
    info.schema.fields.map((f) => f.name),
    ['value', '__messageId'],
  );
  t.true(info.ordered);
  const table = await seam().readFlight({ topic, columns: ['value', '__messageId'] });
  t.is(table.numRows, 60);
  t.deepEqual(table.schema.names, ['value', '__messageId']);

  const ticket = Buffer.from((info.endpoints[0] as FlightEndpoint).ticket);
  ticket[ticket.length - 1] = (ticket.at(-1) ?? 0) ^ 1;
  const error = await t.throwsAsync(seam().doGetAll(ticket), { instanceOf: SeamStreamError });
  t.is(error?.code, grpc.status.INVALID_ARGUMENT);
  t.regex(error?.message ?? '', /not a ticket of this Seam/);
  const missing = await t.throwsAsync(seam().flightInfo(freshTopic('sdk-flight-none')), {
    instanceOf: SeamStreamError,
  });
  t.is(missing?.code, grpc.status.NOT_FOUND);
});
