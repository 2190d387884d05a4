/**
 * PROTOBUF_NATIVE topics written and read back by the official Python client
 * (`ProtobufNativeSchema`, message classes built from a FileDescriptorProto): one column
 * per field of the root message, every row equal to the official decode.
 */
import test from 'ava';
import { allRows, collect, useGateway } from './support/gateway.ts';
import { freshTopic, produce, readOfficial } from './support/pulsar.ts';

const gw = useGateway(test);

const T = {
  DOUBLE: 'TYPE_DOUBLE',
  FLOAT: 'TYPE_FLOAT',
  INT64: 'TYPE_INT64',
  UINT64: 'TYPE_UINT64',
  INT32: 'TYPE_INT32',
  BOOL: 'TYPE_BOOL',
  STRING: 'TYPE_STRING',
  BYTES: 'TYPE_BYTES',
  MESSAGE: 'TYPE_MESSAGE',
  ENUM: 'TYPE_ENUM',
};
const field = (
  name: string,
  number: number,
  type: string,
  extra: Record<string, unknown> = {},
) => ({
  name,
  number,
  type,
  label: 'LABEL_OPTIONAL',
  ...extra,
});

/** seam.test.Payment, proto3, as a FileDescriptorProto in protobuf's JSON form. */
const definition = {
  message: 'seam.test.Payment',
  file: {
    name: 'seam_test/payment.proto',
    package: 'seam.test',
    syntax: 'proto3',
    enumType: [
      {
        name: 'Kind',
        value: [
          { name: 'SALE', number: 0 },
          { name: 'REFUND', number: 1 },
        ],
      },
    ],
    messageType: [
      {
        name: 'Payment',
        field: [
          field('id', 1, T.INT64),
          field('amount', 2, T.DOUBLE),
          field('score', 3, T.FLOAT),
          field('count', 4, T.INT32),
          field('big', 5, T.UINT64),
          field('ok', 6, T.BOOL),
          field('merchant', 7, T.STRING),
          field('raw', 8, T.BYTES),
          field('kind', 9, T.ENUM, { typeName: '.seam.test.Kind' }),
          field('geo', 10, T.MESSAGE, { typeName: '.seam.test.Geo' }),
          field('tags', 11, T.STRING, { label: 'LABEL_REPEATED' }),
          field('note', 12, T.STRING, { proto3Optional: true, oneofIndex: 0 }),
          field('attrs', 13, T.MESSAGE, {
            label: 'LABEL_REPEATED',
            typeName: '.seam.test.Payment.AttrsEntry',
          }),
        ],
        oneofDecl: [{ name: '_note' }],
        nestedType: [
          {
            name: 'AttrsEntry',
            field: [field('key', 1, T.STRING), field('value', 2, T.INT32)],
            options: { mapEntry: true },
          },
        ],
      },
      { name: 'Geo', field: [field('lat', 1, T.DOUBLE), field('lon', 2, T.DOUBLE)] },
    ],
  },
};

function payment(i: number) {
  return {
    id: String(10_000_000_000 + i),
    amount: i * 1.25,
    score: i / 4,
    count: i % 5, // 0 is the default: not on the wire, read as 0
    big: String(2n ** 63n + BigInt(i)),
    ok: i % 2 === 0,
    merchant: i % 3 === 0 ? '' : `m${i}`,
    raw: Buffer.from([i, 255 - i]).toString('base64'),
    kind: i % 2 ? 'REFUND' : 'SALE',
    ...(i % 4 === 1 ? {} : { geo: { lat: i / 8, lon: -i / 16 } }),
    tags: Array.from({ length: i % 3 }, (_, k) => `t${k}`),
    ...(i % 3 === 1 ? {} : { note: i % 3 === 0 ? '' : `note ${i}` }),
    attrs: Object.fromEntries(Array.from({ length: i % 3 }, (_, k) => [`a${k}`, k * i])),
  };
}

test('PROTOBUF_NATIVE: one column per field, every value equal to the official decode', async (t) => {
  const topic = freshTopic('cols-protobuf');
  const count = 24;
  await produce(topic, {
    schema: 'protobuf',
    schemaDefinition: definition,
    messages: Array.from({ length: count }, (_, i) => ({ value: payment(i) })),
  });
  const official = await readOfficial(topic, { protobuf: definition });
  t.is(official.length, count);
  const result = await collect(gw, { topic, at_open: {} });
  t.is(result.status.code, 0, result.status.details);
  t.is(result.info?.pulsar_schema_type, 'PROTOBUF_NATIVE');
  t.deepEqual(
    result.schema?.fields.slice(0, 13).map((f) => `${f.name}:${f.type}:${f.nullable}`),
    [
      'id:Int64:false',
      'amount:Float64:false',
      'score:Float32:false',
      'count:Int32:false',
      'big:Uint64:false',
      'ok:Bool:false',
      'merchant:Utf8:false',
      'raw:Binary:false',
      'kind:Dictionary<Int32, Utf8>:false',
      'geo:Struct<{lat:Float64, lon:Float64}>:true',
      'tags:List<Utf8>:false',
      'note:Utf8:true',
      'attrs:Map<{key:Utf8, value:Int32}>:false',
    ],
  );
  const rows = allRows(result);
  t.is(rows.length, count);
  const names = result.schema?.fields.slice(0, 13).map((f) => f.name) ?? [];
  rows.forEach((row, i) => {
    // protobuf's JSON mapping: 64-bit integers as strings, bytes as base64, enums by name;
    // unset fields with presence absent.
    const v = official[i]?.value as Record<string, unknown>;
    const seam: Record<string, unknown> = {
      ...row,
      id: String(row.id),
      big: String(row.big),
      raw: Buffer.from(row.raw as Uint8Array).toString('base64'),
    };
    t.deepEqual(
      Object.fromEntries(names.map((n) => [n, seam[n]])),
      Object.fromEntries(names.map((n) => [n, v[n] ?? null])),
      `row ${i}`,
    );
  });
});

test('a payload that is no protobuf message ends the stream with FAILED_PRECONDITION', async (t) => {
  const topic = freshTopic('cols-protobuf-bad');
  await produce(topic, {
    schema: 'protobuf',
    schemaDefinition: definition,
    messages: [{ value: payment(2) }],
  });
  // A schemaless producer may write anything to the topic: here field 1 (id) with its
  // varint cut short.
  await produce(topic, { messages: [{ value_b64: Buffer.from([0x08, 0x80]).toString('base64') }] });
  const result = await collect(gw, { topic, at_open: {} });
  t.is(result.status.code, 9, result.status.details);
  t.regex(result.status.details, /does not decode as protobuf seam\.test\.Payment/);
  t.is(allRows(result).length, 1, 'the row before it is delivered');
});

test.serial(
  'versions: an older one fills the latest columns with defaults; a newer one mid-stream is FAILED_PRECONDITION',
  async (t) => {
    const v2 = structuredClone(definition);
    v2.file.messageType[0]?.field.push(field('currency', 14, T.STRING));
    const v3 = structuredClone(v2);
    v3.file.messageType[0]?.field.push(field('fee', 15, T.DOUBLE));
    const topic = freshTopic('cols-protobuf-evolve');
    const write = (def: typeof definition, values: Record<string, unknown>[]) =>
      produce(topic, {
        schema: 'protobuf',
        schemaDefinition: def,
        messages: values.map((value) => ({ value })),
      });
    await write(definition, [payment(1), payment(2)]);
    await write(v2, [{ ...payment(3), currency: 'USD' }]);
    const older = await collect(gw, { topic, at_open: {}, columns: ['count', 'currency'] });
    t.is(older.status.code, 0, older.status.details);
    t.deepEqual(
      allRows(older).map((r) => [r.count, r.currency]),
      [
        [1, ''],
        [2, ''],
        [3, 'USD'],
      ],
    );
    let changed: Promise<unknown> | undefined;
    const first = await collect(
      gw,
      { topic, batching: { max_latency: { nanos: 5_000_000 } } },
      {
        stopWhen: (r) => {
          if (r.seamAt !== undefined) changed ??= write(v3, [{ ...payment(4), fee: 0.5 }]);
          return false;
        },
        timeoutMs: 30_000,
      },
    );
    await changed;
    t.is(first.status.code, 9, first.status.details);
    t.regex(first.status.details, /schema changed mid-stream.*fee/);
    const rest = await collect(gw, { topic, resume_token: first.status.resumeToken, at_open: {} });
    t.is(rest.status.code, 0, rest.status.details);
    t.deepEqual(
      allRows(rest).map((r) => [r.count, r.fee]),
      [[4, 0.5]],
    );
  },
);
