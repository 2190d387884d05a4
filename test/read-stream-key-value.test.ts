/**
 * KEY_VALUE topics, written and read back by the official Java client: the value part's
 * columns, then the key part's as `__key.<field>` (or `__key.value`), every row equal to
 * what the official reader decodes, for INLINE and SEPARATED encodings, null keys and
 * values included; a corrupt INLINE payload ends the stream with FAILED_PRECONDITION.
 */
import test from 'ava';
import { allRows, collect, useGateway } from './support/gateway.ts';
import {
  type OfficialKeyValueMessage,
  type PartSchema,
  produceKeyValue,
  readKeyValue,
} from './support/official-key-value.ts';
import { adminPut, freshTopic, produce, topicPath } from './support/pulsar.ts';

const gw = useGateway(test);

const accountKey = {
  type: 'record',
  name: 'Account',
  namespace: 'seam.test',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'region', type: 'string' },
  ],
};

const payment = {
  type: 'record',
  name: 'Payment',
  namespace: 'seam.test',
  fields: [
    { name: 'amount', type: 'double' },
    { name: 'count', type: 'int' },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'ok', type: 'boolean' },
  ],
};

const paymentValue = (i: number) => ({
  amount: i * 1.25,
  count: i,
  note: i % 3 === 0 ? null : `note ${i}`,
  ok: i % 2 === 0,
});

/** Messages 0..count-1; every 7th has a null key and every 11th a null value. */
function messages(count: number, key: (i: number) => unknown) {
  return Array.from({ length: count }, (_, i) => ({
    key: i % 7 === 3 ? null : key(i),
    value: i % 11 === 5 ? null : paymentValue(i),
  }));
}

/** The row the official reader's message should be: value fields, then `__key.` fields. */
function expectedRow(m: OfficialKeyValueMessage, keyFields: string[] | 'primitive') {
  const value = (m.value ?? {}) as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const f of payment.fields) row[f.name] = m.value === null ? null : (value[f.name] ?? null);
  if (keyFields === 'primitive') {
    row['__key.value'] = m.key;
  } else {
    const key = (m.key ?? {}) as Record<string, unknown>;
    for (const f of keyFields) row[`__key.${f}`] = m.key === null ? null : key[f];
  }
  return row;
}

/** Seam's row with bigints as numbers (the official reader's JSON has numbers). */
function comparable(row: Record<string, unknown>, names: string[]) {
  return Object.fromEntries(
    names.map((n) => [n, typeof row[n] === 'bigint' ? Number(row[n]) : row[n]]),
  );
}

/** The key parts tried, with the `__key.` columns each gives. */
const keys = {
  AVRO: {
    schema: { avro: accountKey } as PartSchema,
    of: (i: number) => ({ id: 5_000_000_000 + i, region: `r${i % 3}` }),
    fields: ['id', 'region'] as string[] | 'primitive',
    types: ['__key.id:Int64', '__key.region:Utf8'],
  },
  STRING: {
    schema: 'string' as PartSchema,
    of: (i: number) => `merchant-${i % 4}-é`,
    fields: 'primitive' as const,
    types: ['__key.value:Utf8'],
  },
  INT32: {
    schema: 'int32' as PartSchema,
    of: (i: number) => i * 1000 - 7000,
    fields: 'primitive' as const,
    types: ['__key.value:Int32'],
  },
};

const cases: ['INLINE' | 'SEPARATED', keyof typeof keys, 'AVRO' | 'JSON'][] = [
  ['INLINE', 'AVRO', 'AVRO'],
  ['SEPARATED', 'AVRO', 'AVRO'],
  ['INLINE', 'STRING', 'JSON'],
  ['SEPARATED', 'STRING', 'AVRO'],
  ['SEPARATED', 'INT32', 'JSON'],
  ['INLINE', 'INT32', 'AVRO'],
];

for (const [encoding, keyType, valueType] of cases) {
  const key = keys[keyType];
  test(`${keyType} key, ${valueType} value, ${encoding}: every row equals the official reader's`, async (t) => {
    const topic = freshTopic(`kv-${encoding.toLowerCase()}`);
    const count = 40;
    await produceKeyValue(topic, {
      encoding,
      key: key.schema,
      value: valueType === 'AVRO' ? { avro: payment } : { json: payment },
      messages: messages(count, key.of),
    });
    const official = await readKeyValue(topic);
    t.is(official.length, count);
    const result = await collect(gw, { topic, at_open: {} });
    t.is(result.status.code, 0, result.status.details);
    t.is(result.info?.pulsar_schema_type, 'KEY_VALUE');
    const fields = result.schema?.fields.map((f) => `${f.name}:${f.type}`) ?? [];
    t.deepEqual(fields, [
      'amount:Float64',
      'count:Int32',
      'note:Utf8',
      'ok:Bool',
      ...key.types,
      '__key:Utf8',
      '__topic:Utf8',
      '__messageId:Binary',
      '__publishTime:Timestamp<MILLISECOND, UTC>',
      '__eventTime:Timestamp<MILLISECOND, UTC>',
      '__messageProperties:Map<{key:Utf8, value:Utf8}>',
    ]);
    const names = fields.slice(0, 4 + key.types.length).map((f) => f.split(':')[0] as string);
    const rows = allRows(result);
    t.is(rows.length, count);
    rows.forEach((row, i) => {
      const m = official[i] as OfficialKeyValueMessage;
      t.deepEqual(comparable(row, names), expectedRow(m, key.fields), `row ${i}`);
      // The message key column is the key as stored: base64 of its bytes when SEPARATED.
      t.is(row.__key, m.message_key, `__key of row ${i}`);
    });
    // The rows with null parts are really there, not only nulls everywhere.
    t.true(rows.some((r) => r.amount === null));
    t.true(rows.some((r) => r.amount !== null));
  });
}

test('projection picks key and value columns by name', async (t) => {
  const topic = freshTopic('kv-project');
  await produceKeyValue(topic, {
    encoding: 'SEPARATED',
    key: { avro: accountKey },
    value: { avro: payment },
    messages: messages(12, (i) => ({ id: i, region: `r${i}` })),
  });
  const result = await collect(gw, {
    topic,
    at_open: {},
    columns: ['__key.region', 'count'],
  });
  t.is(result.status.code, 0, result.status.details);
  t.deepEqual(
    result.schema?.fields.map((f) => f.name),
    ['count', '__key.region'],
  );
  t.deepEqual(
    allRows(result).map((r) => [r.count, r['__key.region']]),
    Array.from({ length: 12 }, (_, i) => [i % 11 === 5 ? null : i, i % 7 === 3 ? null : `r${i}`]),
  );
});

test('a corrupt INLINE payload ends the stream with FAILED_PRECONDITION', async (t) => {
  const topic = freshTopic('kv-corrupt');
  await produceKeyValue(topic, {
    encoding: 'INLINE',
    key: 'string',
    value: { avro: payment },
    messages: messages(3, (i) => `k${i}`),
  });
  // A schemaless producer (the official Python client) may write to the topic: a key
  // length that runs past the end of the payload.
  const bad = Buffer.alloc(10);
  bad.writeInt32BE(1000, 0);
  await produce(topic, { messages: [{ value_b64: bad.toString('base64') }] });
  const result = await collect(gw, { topic, at_open: {} });
  t.is(result.status.code, 9, result.status.details);
  t.regex(result.status.details, /KEY_VALUE INLINE payload: the key length 1000 .* runs past/);
  // The rows before it come first, in a batch of their own, and the token is right after them.
  t.is(allRows(result).length, 3);
  t.deepEqual(result.status.resumeToken, result.batches.at(-1)?.resumeToken);
});

const paymentV2 = {
  ...payment,
  fields: [...payment.fields, { name: 'currency', type: 'string', default: 'EUR' }],
};

test.serial(
  'an older value version is read as the latest: the added field takes its default',
  async (t) => {
    const topic = freshTopic('kv-evolve');
    const key = { avro: accountKey };
    await produceKeyValue(topic, {
      encoding: 'SEPARATED',
      key,
      value: { avro: payment },
      messages: messages(4, (i) => ({ id: i, region: 'eu' })),
    });
    await produceKeyValue(topic, {
      encoding: 'SEPARATED',
      key,
      value: { avro: paymentV2 },
      messages: [{ key: { id: 9, region: 'us' }, value: { ...paymentValue(9), currency: 'USD' } }],
    });
    const result = await collect(gw, {
      topic,
      at_open: {},
      columns: ['count', 'currency', '__key.id'],
    });
    t.is(result.status.code, 0, result.status.details);
    t.deepEqual(
      allRows(result).map((r) => [r.count, r.currency, Number(r['__key.id'])]),
      [
        [0, 'EUR', 0],
        [1, 'EUR', 1],
        [2, 'EUR', 2],
        [3, 'EUR', 0], // message 3 has a null key: Number(null) is 0
        [9, 'USD', 9],
      ],
    );
  },
);

test.serial(
  'a newer version with other columns mid-stream ends it with FAILED_PRECONDITION',
  async (t) => {
    const topic = freshTopic('kv-change');
    const key = { avro: accountKey };
    await produceKeyValue(topic, {
      encoding: 'INLINE',
      key,
      value: { avro: payment },
      messages: messages(3, (i) => ({ id: i, region: 'eu' })),
    });
    let changed: Promise<unknown> | undefined;
    const result = await collect(
      gw,
      { topic, batching: { max_latency: { nanos: 5_000_000 } } },
      {
        stopWhen: (r) => {
          if (r.seamAt !== undefined)
            changed ??= produceKeyValue(topic, {
              encoding: 'INLINE',
              key,
              value: { avro: paymentV2 },
              messages: [
                { key: { id: 9, region: 'us' }, value: { ...paymentValue(9), currency: 'GBP' } },
              ],
            });
          return false;
        },
        timeoutMs: 60_000,
      },
    );
    await changed;
    t.is(result.status.code, 9, result.status.details);
    t.regex(result.status.details, /schema changed mid-stream.*currency/);
    t.is(allRows(result).length, 3);
    t.truthy(result.status.resumeToken);
  },
);

test("a partitioned SEPARATED topic: every partition read, each row equal to the official reader's", async (t) => {
  const topic = freshTopic('kv-partitioned');
  await adminPut(`${topicPath(topic)}/partitions`, 3);
  const count = 30;
  await produceKeyValue(topic, {
    encoding: 'SEPARATED',
    key: { avro: accountKey },
    value: { avro: payment },
    messages: Array.from({ length: count }, (_, i) => ({
      key: { id: i % 5, region: `r${i % 5}` },
      value: paymentValue(i),
    })),
  });
  const official = await readKeyValue(topic);
  t.is(official.length, count);
  const result = await collect(gw, { topic, at_open: {} });
  t.is(result.status.code, 0, result.status.details);
  const rows = allRows(result);
  t.is(new Set(rows.map((r) => r.__topic)).size, 3, 'the keys spread over the partitions');
  // Partitions interleave: compare by the value's count, unique per message.
  const names = ['amount', 'count', 'note', 'ok', '__key.id', '__key.region'];
  const byCount = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    (a.count as number) - (b.count as number);
  t.deepEqual(
    rows.map((r) => comparable(r, names)).sort(byCount),
    official.map((m) => expectedRow(m, ['id', 'region'])).sort(byCount),
  );
});
