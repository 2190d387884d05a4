/**
 * Value columns from Pulsar schemas: every value in the Arrow batches equals what the
 * official client decodes, for AVRO records (nested records, arrays, maps, nullable
 * unions, enums, logical types) and primitive schemas.
 */
import test from 'ava';
import { allRows, collect, useGateway } from './support/gateway.ts';
import { freshTopic, produce, readOfficial } from './support/pulsar.ts';

const gw = useGateway(test);

const transaction = {
  type: 'record',
  name: 'Transaction',
  namespace: 'seam.test',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'merchant', type: 'string' },
    { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 } },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'at_us', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'day', type: { type: 'int', logicalType: 'date' } },
    { name: 'tod', type: { type: 'int', logicalType: 'time-millis' } },
    { name: 'uid', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'attrs', type: { type: 'map', values: 'int' } },
    { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['SALE', 'REFUND'] } },
    {
      name: 'geo',
      type: {
        type: 'record',
        name: 'Geo',
        fields: [
          { name: 'lat', type: 'double' },
          { name: 'lon', type: 'double' },
        ],
      },
    },
    { name: 'ok', type: 'boolean' },
    { name: 'score', type: 'float' },
  ],
};

function transactionValue(i: number) {
  return {
    id: 10_000_000_000 + i,
    merchant: `m${i % 7}`,
    amount: { $decimal: `${i * 3}.${String(i % 100).padStart(2, '0')}` },
    at: 1_767_000_000_000 + i * 1000,
    at_us: 1_767_000_000_000_000 + i * 1_000_001,
    day: 20_000 + i,
    tod: (i * 1234) % 86_400_000,
    uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    note: i % 3 === 0 ? null : `note ${i}`,
    tags: Array.from({ length: i % 4 }, (_, k) => `t${k}`),
    attrs: Object.fromEntries(Array.from({ length: i % 3 }, (_, k) => [`a${k}`, k * i])),
    kind: i % 2 ? 'REFUND' : 'SALE',
    geo: { lat: i / 8, lon: -i / 16 },
    ok: i % 5 !== 0,
    score: i / 4,
  };
}

/** An unscaled decimal (as arrow-js prints a Decimal128, possibly quoted) with `scale` digits. */
function decimalString(value: unknown, scale: number): string {
  const unscaled = BigInt(String(value).replaceAll('"', ''));
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

test('AVRO: every field equals the official client decode, logical types included', async (t) => {
  const topic = freshTopic('cols-avro');
  const count = 60;
  await produce(topic, {
    schema: 'avro',
    schemaDefinition: transaction,
    messages: Array.from({ length: count }, (_, i) => ({ value: transactionValue(i) })),
  });
  const official = await readOfficial(topic, { avroSchema: transaction });
  const result = await collect(gw, { topic, at_open: {} });
  t.is(result.status.code, 0, result.status.details);
  t.is(result.info?.pulsar_schema_type, 'AVRO');
  t.deepEqual(result.schema?.fields.map((f) => `${f.name}:${f.type}`).slice(0, 15), [
    'id:Int64',
    'merchant:Utf8',
    'amount:Decimal[12e+2]', // arrow-js prints precision 12, scale 2 so
    'at:Timestamp<MILLISECOND, UTC>',
    'at_us:Timestamp<MICROSECOND, UTC>',
    'day:Date32<DAY>',
    'tod:Time32<MILLISECOND>',
    'uid:FixedSizeBinary[16]', // arrow.uuid: test/read-stream-uuid.test.ts
    'note:Utf8',
    'tags:List<Utf8>',
    'attrs:Map<{key:Utf8, value:Int32}>',
    'kind:Dictionary<Int32, Utf8>',
    'geo:Struct<{lat:Float64, lon:Float64}>',
    'ok:Bool',
    'score:Float32',
  ]);
  const rows = allRows(result);
  t.is(rows.length, count);
  rows.forEach((row, i) => {
    const v = (official[i]?.value ?? {}) as {
      [field: string]: unknown;
      id: number;
      amount: string;
      at: number;
      at_us: number;
      day: number;
      tod: number;
    };
    t.is(Number(row.id), v.id, 'id');
    t.is(row.merchant, v.merchant);
    t.is(decimalString(row.amount, 2), v.amount, 'amount');
    t.is((row.at as number) * 1000, v.at, 'at');
    t.is(Math.round((row.at_us as number) * 1000), v.at_us, 'at_us');
    t.is((row.day as number) / 86_400_000, v.day, 'day');
    t.is((row.tod as number) * 1000, v.tod, 'tod');
    t.is(Buffer.from(row.uid as Uint8Array).toString('hex'), (v.uid as string).replaceAll('-', ''));
    t.is(row.note, v.note);
    t.deepEqual(row.tags, v.tags);
    t.deepEqual(row.attrs, v.attrs);
    t.is(row.kind, v.kind);
    t.deepEqual(row.geo, v.geo);
    t.is(row.ok, v.ok);
    t.is(row.score, v.score);
  });
});

test('STRING schema: one utf8 value column', async (t) => {
  const topic = freshTopic('cols-string');
  await produce(topic, {
    schema: 'string',
    messages: [{ value_text: 'héllo' }, { value_text: '' }, { value_text: 'z' }],
  });
  const result = await collect(gw, { topic, at_open: {}, columns: ['value'] });
  t.is(result.info?.pulsar_schema_type, 'STRING');
  t.deepEqual(
    allRows(result).map((r) => r.value),
    ['héllo', '', 'z'],
  );
});

const v1 = {
  type: 'record',
  name: 'Reading',
  namespace: 'seam.test',
  fields: [{ name: 'sensor', type: 'string' }],
};
const v2 = { ...v1, fields: [...v1.fields, { name: 'celsius', type: 'double', default: -273.15 }] };
const v3 = { ...v2, fields: [...v2.fields, { name: 'unit', type: 'string', default: 'C' }] };
const readings = (
  topic: string,
  schema: unknown,
  from: number,
  count: number,
  extra: Record<string, unknown> = {},
) =>
  produce(topic, {
    schema: 'avro',
    schemaDefinition: schema,
    messages: Array.from({ length: count }, (_, i) => ({
      value: { sensor: `s${from + i}`, ...extra },
    })),
  });

test.serial(
  'older schema versions are read as the latest: added fields take their defaults',
  async (t) => {
    const topic = freshTopic('cols-evolve');
    await readings(topic, v1, 0, 5);
    await readings(topic, v2, 5, 5, { celsius: 21.5 });
    const result = await collect(gw, { topic, at_open: {} });
    t.is(result.status.code, 0, result.status.details);
    t.deepEqual(
      result.schema?.fields.slice(0, 2).map((f) => f.name),
      ['sensor', 'celsius'],
    );
    t.deepEqual(
      allRows(result).map((r) => [r.sensor, r.celsius]),
      [
        ...Array.from({ length: 5 }, (_, i) => [`s${i}`, -273.15]),
        ...Array.from({ length: 5 }, (_, i) => [`s${5 + i}`, 21.5]),
      ],
    );
  },
);

test.serial(
  'a new schema mid-stream ends it with FAILED_PRECONDITION; the resume token reads on',
  async (t) => {
    const topic = freshTopic('cols-change');
    await readings(topic, v2, 0, 5, { celsius: 1 });
    let changed: Promise<unknown> | undefined;
    const first = await collect(
      gw,
      { topic, batching: { max_latency: { nanos: 5_000_000 } } },
      {
        stopWhen: (r) => {
          if (r.seamAt !== undefined)
            changed ??= readings(topic, v3, 5, 5, { celsius: 2, unit: 'K' });
          return false;
        },
        timeoutMs: 20_000,
      },
    );
    await changed;
    t.is(first.status.code, 9, first.status.details);
    t.regex(first.status.details, /schema changed mid-stream.*unit/);
    t.truthy(first.status.resumeToken);
    const rest = await collect(gw, { topic, resume_token: first.status.resumeToken, at_open: {} });
    t.is(rest.status.code, 0, rest.status.details);
    t.deepEqual(
      [...allRows(first), ...allRows(rest)].map((r) => r.sensor),
      Array.from({ length: 10 }, (_, i) => `s${i}`),
    );
    t.deepEqual(
      allRows(rest).map((r) => r.unit),
      ['K', 'K', 'K', 'K', 'K'],
    );
  },
);

test('JSON schema: one column per field, nulls for missing optional values', async (t) => {
  const topic = freshTopic('cols-json');
  const definition = {
    type: 'record',
    name: 'Reading',
    fields: [
      { name: 'sensor', type: 'string' },
      { name: 'count', type: 'int' },
      { name: 'celsius', type: ['null', 'double'] },
      { name: 'ok', type: 'boolean' },
    ],
  };
  await produce(topic, {
    schema: 'json',
    schemaDefinition: definition,
    messages: Array.from({ length: 20 }, (_, i) => ({
      value: { sensor: `s${i}`, count: i, celsius: i % 4 === 0 ? null : i / 2, ok: i % 2 === 0 },
    })),
  });
  const result = await collect(gw, {
    topic,
    at_open: {},
    columns: ['sensor', 'count', 'celsius', 'ok'],
  });
  t.is(result.status.code, 0, result.status.details);
  t.is(result.info?.pulsar_schema_type, 'JSON');
  t.deepEqual(
    allRows(result),
    Array.from({ length: 20 }, (_, i) => ({
      sensor: `s${i}`,
      count: i,
      celsius: i % 4 === 0 ? null : i / 2,
      ok: i % 2 === 0,
    })),
  );
});
