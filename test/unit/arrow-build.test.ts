/**
 * Arrow building without Pulsar: batches the gateway builds from AVRO payloads (its
 * schema-compiled reader and column writers) equal, cell by cell, a reference built the
 * plain way — avsc decodes each payload to JS values (longs as bigints, as Seam configures
 * avsc for schema resolution) and apache-arrow's builders take them — for random records
 * of a schema with every shape Seam maps; the same for JSON records (JSON.parse for avsc).
 * Also the metadata columns, projections, primitive schemas, older schema versions, broken
 * UTF-8 and bad payloads. SEAM_FUZZ_RUNS sets the cases per property.
 */

import * as arrow from 'apache-arrow';
import test from 'ava';
import fc from 'fast-check';
import { StreamSchema } from '../../server/arrow/batch-builder.ts';
import { BytesColumn, Tally } from '../../server/arrow/columns.ts';
import { avroType } from '../../server/arrow/record-schema.ts';
import { topicSchema } from '../../server/arrow/topic-schema.ts';
import { ValueDecodeError } from '../../server/arrow/value-schema.ts';
import type { Message } from '../../server/pulsar/message.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
import { PulsarSchemaType } from '../../server/pulsar/protocol/commands.ts';
import { testMessage } from '../support/messages.ts';

const runs = Number(process.env.SEAM_FUZZ_RUNS ?? 200);

const rich = {
  type: 'record',
  name: 'Rich',
  namespace: 'seam.test',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'small', type: 'int' },
    { name: 'name', type: 'string' },
    { name: 'blob', type: 'bytes' },
    { name: 'ok', type: 'boolean' },
    { name: 'ratio', type: 'float' },
    { name: 'score', type: 'double' },
    { name: 'note', type: ['null', 'string'] },
    { name: 'count', type: ['long', 'null'] },
    { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 38, scale: 4 } },
    {
      name: 'price',
      type: {
        type: 'fixed',
        name: 'Price',
        size: 9,
        logicalType: 'decimal',
        precision: 20,
        scale: 2,
      },
    },
    { name: 'digest', type: { type: 'fixed', name: 'Digest', size: 4 } },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'at_us', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'local', type: { type: 'long', logicalType: 'local-timestamp-millis' } },
    { name: 'day', type: { type: 'int', logicalType: 'date' } },
    { name: 'tod', type: { type: 'int', logicalType: 'time-millis' } },
    { name: 'tod_us', type: { type: 'long', logicalType: 'time-micros' } },
    { name: 'uid', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['SALE', 'REFUND', 'VOID'] } },
    { name: 'maybe_kind', type: ['null', 'Kind'] },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'grid', type: { type: 'array', items: { type: 'array', items: ['null', 'int'] } } },
    { name: 'attrs', type: { type: 'map', values: ['null', 'double'] } },
    {
      name: 'geo',
      type: [
        'null',
        {
          type: 'record',
          name: 'Geo',
          fields: [
            { name: 'lat', type: 'double' },
            { name: 'label', type: 'string' },
            {
              name: 'points',
              type: {
                type: 'array',
                items: {
                  type: 'record',
                  name: 'Point',
                  fields: [
                    { name: 'x', type: 'long' },
                    {
                      name: 'when',
                      type: ['null', { type: 'long', logicalType: 'timestamp-micros' }],
                    },
                  ],
                },
              },
            },
          ],
        },
      ],
    },
    { name: 'home', type: 'Geo' },
    { name: 'nested_maps', type: { type: 'map', values: { type: 'map', values: 'string' } } },
    { name: 'nothing', type: 'null' },
  ],
};

const schemaInfo = (schema: unknown, type: number = PulsarSchemaType.AVRO) => ({
  name: 'test',
  type,
  data: Buffer.from(JSON.stringify(schema)),
  properties: {},
});

// ---------------------------------------------------------------- arbitraries

const long = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, -(2n ** 63n) + 1n, 2n ** 63n - 2n, 0n, -1n),
  fc.bigInt({ min: -(2n ** 53n) - 5n, max: -(2n ** 53n) + 5n }),
  fc.bigInt({ min: 2n ** 53n - 5n, max: 2n ** 53n + 5n }),
  fc.integer().map(BigInt),
);
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.constantFrom('', 'é', '日本語', '🎉', 'a\u0000b', 'x'.repeat(80)),
);
const key = text.filter((k) => k !== '__proto__');
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));
const fixedBytes = (size: number) =>
  fc.uint8Array({ minLength: size, maxLength: size }).map((b) => Buffer.from(b));
const int = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null, freq: 3 });
/** The fields AVRO and JSON records share, longs and floating point from the given arbitraries. */
function sharedFields(
  long: fc.Arbitrary<bigint | number>,
  double: fc.Arbitrary<number>,
  float: fc.Arbitrary<number>,
) {
  const geo = fc.record({
    lat: double,
    label: text,
    points: fc.array(fc.record({ x: long, when: nullable(long) }), { maxLength: 3 }),
  });
  return {
    id: long,
    small: int,
    name: text,
    ok: fc.boolean(),
    ratio: float,
    score: double,
    note: nullable(text),
    count: nullable(long),
    at: long,
    at_us: long,
    local: long,
    day: int,
    tod: int,
    tod_us: long,
    uid: fc.uuid(),
    kind: fc.constantFrom('SALE', 'REFUND', 'VOID'),
    maybe_kind: nullable(fc.constantFrom('SALE', 'REFUND', 'VOID')),
    tags: fc.array(text, { maxLength: 4 }),
    grid: fc.array(fc.array(nullable(int), { maxLength: 3 }), { maxLength: 3 }),
    attrs: fc.dictionary(key, nullable(double), { maxKeys: 3 }),
    geo: nullable(geo),
    home: geo,
    nested_maps: fc.dictionary(key, fc.dictionary(key, text, { maxKeys: 2 }), { maxKeys: 2 }),
    nothing: fc.constant(null),
  };
}
const record = fc.record({
  ...sharedFields(long, fc.double(), fc.float()),
  blob: bytes(20),
  amount: bytes(18),
  price: fixedBytes(9),
  digest: fixedBytes(4),
});

// ---------------------------------------------------------------- the reference

/** A builder type that takes what avsc decodes: timestamps in µs as plain Int64 values. */
function referenceType(type: arrow.DataType): arrow.DataType {
  if (arrow.DataType.isTimestamp(type) && type.unit === arrow.TimeUnit.MICROSECOND)
    return new arrow.Int64();
  const field = (f: arrow.Field) => new arrow.Field(f.name, referenceType(f.type), f.nullable);
  if (arrow.DataType.isStruct(type)) return new arrow.Struct(type.children.map(field));
  if (arrow.DataType.isList(type)) return new arrow.List(field(type.children[0] as arrow.Field));
  if (arrow.DataType.isMap(type))
    return new arrow.Map_(field(type.children[0] as arrow.Field) as arrow.Field<arrow.Struct>);
  return type;
}

/** An avsc-decoded (or JSON) value in the form apache-arrow's builders take for `type`. */
function builderValue(type: arrow.DataType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (arrow.DataType.isStruct(type)) {
    const record = value as Record<string, unknown>;
    return Object.fromEntries(
      type.children.map((f) => [f.name, builderValue(f.type, record[f.name])]),
    );
  }
  if (arrow.DataType.isList(type))
    return (value as unknown[]).map((v) => builderValue((type.children[0] as arrow.Field).type, v));
  if (arrow.DataType.isMap(type)) {
    const valueType = ((type.children[0] as arrow.Field).type.children[1] as arrow.Field).type;
    return new Map(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        builderValue(valueType, v),
      ]),
    );
  }
  if (arrow.DataType.isDecimal(type)) {
    const b = value as Buffer;
    let rest = BigInt.asUintN(
      128,
      typeof value === 'number'
        ? BigInt(Math.round(value * 10 ** type.scale))
        : b.length === 0
          ? 0n
          : BigInt.asIntN(b.length * 8, BigInt(`0x${b.toString('hex')}`)),
    );
    const words = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      words[i] = Number(rest & 0xffffffffn);
      rest >>= 32n;
    }
    return words;
  }
  if (arrow.DataType.isDate(type)) return Number(value) * 86_400_000;
  // A uuid: its text as the 16 bytes it stands for.
  if (arrow.DataType.isFixedSizeBinary(type) && typeof value === 'string')
    return Buffer.from(value.replaceAll('-', ''), 'hex');
  // 64-bit storage takes bigints (JSON numbers are not).
  if (typeof value === 'number' && type.ArrayType === BigInt64Array) return BigInt(value);
  return value;
}

/** Columns built the plain way from payloads: avsc (or `decode`), then apache-arrow's builders. */
function reference(
  schema: unknown,
  fields: arrow.Field[],
  payloads: (Buffer | null)[],
  decode: (payload: Buffer) => unknown = (p) => avroType(schema).fromBuffer(p),
): arrow.Data[] {
  const builders = fields.map((f) =>
    arrow.makeBuilder({ type: referenceType(f.type), nullValues: [null, undefined] }),
  );
  for (const payload of payloads) {
    const value = (payload === null ? {} : decode(payload)) as Record<string, unknown>;
    fields.forEach((f, i) => {
      (builders[i] as arrow.Builder).append(builderValue(f.type, value[f.name]));
    });
  }
  return builders.map((b) => b.finish().flush());
}

/** A cell as stored: the buffers' bytes and numbers, not a getter's rendering of them. */
function cell(data: arrow.Data, i: number): unknown {
  const type = data.type;
  if (arrow.DataType.isNull(type) || !data.getValid(i)) return null;
  const at = data.offset + i;
  const offsets = data.valueOffsets as Int32Array;
  const range = () => [offsets[at] as number, offsets[at + 1] as number] as const;
  if (arrow.DataType.isStruct(type)) return data.children.map((c) => cell(c, i));
  if (arrow.DataType.isList(type) || arrow.DataType.isMap(type)) {
    const [from, to] = range();
    return Array.from({ length: to - from }, (_, k) =>
      cell(data.children[0] as arrow.Data, from + k),
    );
  }
  if (arrow.DataType.isUtf8(type) || arrow.DataType.isBinary(type)) {
    const [from, to] = range();
    return Buffer.from(data.values.subarray(from, to)).toString('hex');
  }
  if (arrow.DataType.isDictionary(type))
    return (data.dictionary as arrow.Vector).get(data.values[at] as number);
  if (arrow.DataType.isBool(type)) return ((data.values[at >> 3] as number) >> (at & 7)) & 1;
  if (arrow.DataType.isDecimal(type)) return [...data.values.subarray(4 * at, 4 * at + 4)];
  if (arrow.DataType.isFixedSizeBinary(type))
    return Buffer.from(
      data.values.subarray(type.byteWidth * at, type.byteWidth * (at + 1)),
    ).toString('hex');
  return data.values[at];
}

const cells = (data: arrow.Data[]) =>
  data.flatMap((d) => Array.from({ length: d.length }, (_, i) => cell(d, i)));

// ---------------------------------------------------------------- messages

const topic = 'persistent://public/default/arrow-build-é';

function message(payload: Buffer | null, i: number, extra: Partial<Message> = {}): Message {
  return testMessage(payload ?? Buffer.alloc(0), {
    topic,
    messageId: new MessageId(3, i, -1),
    publishTime: 1_767_000_000_000 + i,
    producerName: 'test',
    sequenceId: i,
    nullValue: payload === null,
    ...extra,
  });
}

/**
 * Builds `messages` into batches cut after the rows in `cuts`; the columns of each batch,
 * by column.
 */
function build(stream: StreamSchema, messages: Message[], cuts: number[] = []): arrow.Data[][] {
  const builder = stream.builder();
  const batches: arrow.RecordBatch[] = [];
  messages.forEach((m, i) => {
    builder.append(m);
    if (cuts.includes(i)) batches.push(builder.flush());
  });
  batches.push(builder.flush());
  for (const b of batches) assertTypes(stream, b);
  return stream.schema.fields.map((_, c) => batches.map((b) => b.data.children[c] as arrow.Data));
}

function assertTypes(stream: StreamSchema, batch: arrow.RecordBatch): void {
  batch.data.children.forEach((d, c) => {
    const field = stream.schema.fields[c] as arrow.Field;
    if (String(d.type) !== String(field.type))
      throw new Error(`column ${field.name} is ${d.type}, the schema says ${field.type}`);
  });
}

// ---------------------------------------------------------------- tests

test('the rich schema maps to the Arrow types Seam documents', (t) => {
  const fields = topicSchema(schemaInfo(rich)).fields;
  t.deepEqual(
    fields.map((f) => `${f.name}${f.nullable ? '?' : ''}:${f.type}`),
    [
      'id:Int64',
      'small:Int32',
      'name:Utf8',
      'blob:Binary',
      'ok:Bool',
      'ratio:Float32',
      'score:Float64',
      'note?:Utf8',
      'count?:Int64',
      'amount:Decimal[38e+4]',
      'price:Decimal[20e+2]',
      'digest:FixedSizeBinary[4]',
      'at:Timestamp<MILLISECOND, UTC>',
      'at_us:Timestamp<MICROSECOND, UTC>',
      'local:Timestamp<MILLISECOND>',
      'day:Date32<DAY>',
      'tod:Time32<MILLISECOND>',
      'tod_us:Time64<MICROSECOND>',
      'uid:FixedSizeBinary[16]',
      'kind:Dictionary<Int32, Utf8>',
      'maybe_kind?:Dictionary<Int32, Utf8>',
      'tags:List<Utf8>',
      'grid:List<List<Int32>>',
      'attrs:Map<{key:Utf8, value:Float64}>',
      'geo?:Struct<{lat:Float64, label:Utf8, points:List<Struct<{x:Int64, when:Timestamp<MICROSECOND, UTC>}>>}>',
      'home:Struct<{lat:Float64, label:Utf8, points:List<Struct<{x:Int64, when:Timestamp<MICROSECOND, UTC>}>>}>',
      'nested_maps:Map<{key:Utf8, value:Map<{key:Utf8, value:Utf8}>}>',
      'nothing?:Null',
    ],
  );
});

test('AVRO: random records build the same cells as avsc and apache-arrow builders', (t) => {
  const type = avroType(rich);
  const value = topicSchema(schemaInfo(rich));
  const names = value.fields.map((f) => f.name);
  const stream = new StreamSchema(value, names);
  fc.assert(
    fc.property(
      fc.array(nullable(record), { minLength: 1, maxLength: 40 }),
      fc.array(fc.nat(40), { maxLength: 3 }),
      (records, cuts) => {
        const payloads = records.map((r) => (r === null ? null : type.toBuffer(r)));
        const built = build(
          stream,
          payloads.map((p, i) => message(p, i)),
          cuts,
        );
        const expected = reference(rich, value.fields, payloads);
        built.forEach((column, c) => {
          t.deepEqual(cells(column), cells([expected[c] as arrow.Data]), names[c]);
        });
      },
    ),
    { numRuns: runs },
  );
});

test('AVRO: batches of thousands of rows, every buffer grown several times, the same cells', (t) => {
  const type = avroType(rich);
  const value = topicSchema(schemaInfo(rich));
  const stream = new StreamSchema(
    value,
    value.fields.map((f) => f.name),
  );
  fc.assert(
    fc.property(fc.array(nullable(record), { minLength: 2000, maxLength: 3000 }), (records) => {
      const payloads = records.map((r) => (r === null ? null : (type.toBuffer(r) as Buffer)));
      // Two batches: the second starts from the buffers the first left.
      const built = build(
        stream,
        payloads.map((p, i) => message(p, i)),
        [records.length >> 1],
      );
      const expected = reference(rich, value.fields, payloads);
      t.deepEqual(
        built.map(cells),
        expected.map((e) => cells([e])),
      );
    }),
    { numRuns: 3 },
  );
});

test('AVRO: a projection reads past the other fields and keeps the same cells', (t) => {
  const type = avroType(rich);
  const value = topicSchema(schemaInfo(rich));
  const all = new StreamSchema(
    value,
    value.fields.map((f) => f.name),
  );
  fc.assert(
    fc.property(
      fc.array(record, { minLength: 1, maxLength: 10 }),
      fc.subarray(
        value.fields.map((f) => f.name),
        { minLength: 1 },
      ),
      (records, columns) => {
        const messages = records.map((r, i) => message(type.toBuffer(r), i));
        const full = build(all, messages);
        const some = build(new StreamSchema(value, columns), messages);
        t.deepEqual(
          some.map(cells),
          columns.map((name) =>
            cells(full[value.fields.findIndex((f) => f.name === name)] as arrow.Data[]),
          ),
        );
      },
    ),
    { numRuns: Math.ceil(runs / 4) },
  );
});

test('metadata columns equal what apache-arrow builders make of the messages', (t) => {
  const value = topicSchema(undefined);
  const stream = new StreamSchema(value);
  const metadata = stream.schema.fields.slice(1);
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          topic: fc.constantFrom(topic, 'persistent://t/n/x-partition-3', 'persistent://t/n/日本'),
          key: fc.option(text, { nil: undefined }),
          properties: fc.dictionary(key, text, { maxKeys: 3 }),
          publishTime: fc.integer({ min: 0, max: 2 ** 45 }),
          eventTime: fc.option(fc.integer({ min: 0, max: 2 ** 45 }), { nil: undefined }),
          id: fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: -1, max: 999 })),
        }),
        { minLength: 1, maxLength: 30 },
      ),
      (rows) => {
        const messages = rows.map((r, i) =>
          message(Buffer.from([i]), i, {
            topic: r.topic,
            key: r.key,
            properties: r.properties,
            publishTime: r.publishTime,
            eventTime: r.eventTime,
            messageId: new MessageId(r.id[0], r.id[1], r.id[2], -1, r.id[2] + 1),
          }),
        );
        const built = build(stream, messages, [3]);
        const builders = metadata.map((f) =>
          arrow.makeBuilder({ type: f.type, nullValues: [null, undefined] }),
        );
        for (const m of messages) {
          const values = [
            m.key,
            m.topic,
            m.messageId.serialize(),
            m.publishTime,
            m.eventTime,
            new Map(Object.entries(m.properties)),
          ];
          builders.forEach((b, c) => {
            b.append(values[c]);
          });
        }
        t.deepEqual(
          cells(built[0] as arrow.Data[]),
          messages.map((m) => m.payload.toString('hex')),
        );
        builders.forEach((b, c) => {
          t.deepEqual(
            cells(built[c + 1] as arrow.Data[]),
            cells([b.finish().flush()]),
            metadata[c]?.name,
          );
        });
      },
    ),
    { numRuns: runs },
  );
});

test('strings with broken UTF-8 read as avsc reads them: U+FFFD for bad sequences', (t) => {
  const schema = {
    type: 'record',
    name: 'S',
    fields: [
      { name: 'a', type: 'string' },
      { name: 'b', type: 'string' },
    ],
  };
  const value = topicSchema(schemaInfo(schema));
  const stream = new StreamSchema(value, ['a', 'b']);
  const avroString = (bytes: number[]) => [bytes.length * 2, ...bytes];
  // One sequence split across two strings (valid together), a lone byte, a bad lead byte.
  const payloads = [
    Buffer.from([...avroString([0x61, 0xc3]), ...avroString([0xa9, 0x62])]),
    Buffer.from([...avroString([0xff]), ...avroString([0xe6, 0x97, 0xa5])]),
  ];
  const built = build(
    stream,
    payloads.map((p, i) => message(p, i)),
  );
  const expected = reference(schema, value.fields, payloads);
  t.deepEqual(
    built.map(cells),
    expected.map((e) => cells([e])),
  );
  t.deepEqual(
    built.map((c) => arrow.makeVector(c[0] as arrow.Data).toArray()),
    [
      ['a\ufffd', '\ufffd'],
      ['\ufffdb', '日'],
    ],
  );
});

test('a bad AVRO payload throws ValueDecodeError, and the builder refuses to go on', (t) => {
  const value = topicSchema(schemaInfo(rich));
  const good = avroType(rich).toBuffer(fc.sample(record, { numRuns: 1, seed: 1 })[0]) as Buffer;
  for (const bad of [good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([0])])]) {
    const builder = new StreamSchema(value).builder();
    builder.append(message(good, 0));
    const error = t.throws(() => builder.append(message(bad, 1)), { instanceOf: ValueDecodeError });
    t.regex(
      error?.message ?? '',
      /does not decode with the topic's AVRO schema: (truncated|trailing)/,
    );
    t.throws(() => builder.flush(), { instanceOf: ValueDecodeError });
  }
  const enumSchema = {
    type: 'record',
    name: 'E',
    fields: [{ name: 'k', type: rich.fields[19]?.type }],
  };
  const builder = new StreamSchema(topicSchema(schemaInfo(enumSchema))).builder();
  t.throws(() => builder.append(message(Buffer.from([6]), 0)), {
    message: /enum index 3 out of range/,
  });
});

test('messages of an older schema version are read as the stream schema, defaults filled', (t) => {
  const v1 = { type: 'record', name: 'R', fields: [{ name: 'a', type: 'int' }] };
  const v2 = {
    ...v1,
    fields: [
      { name: 'a', type: 'long' },
      { name: 'b', type: 'string', default: 'dflt' },
      { name: 'c', type: ['null', 'long'], default: null },
    ],
  };
  const value = topicSchema(schemaInfo(v2));
  const translate = value.translatorFor(schemaInfo(v1));
  t.truthy(translate);
  t.is(value.translatorFor(schemaInfo(v2)), value.translatorFor(schemaInfo(v2)));
  t.is(value.translatorFor(schemaInfo(v1, PulsarSchemaType.JSON)), undefined);
  const builder = new StreamSchema(value, ['a', 'b', 'c']).builder();
  builder.append(message(avroType(v1).toBuffer({ a: -7 }), 0), translate);
  builder.append(message(avroType(v2).toBuffer({ a: 2n ** 62n, b: 'x', c: 5n }), 1));
  t.deepEqual(
    builder
      .flush()
      .toArray()
      .map((r) => r.toJSON()),
    [
      { a: -7n, b: 'dflt', c: null },
      { a: 2n ** 62n, b: 'x', c: 5n },
    ],
  );
});

test('AVRO: records of an older version (reordered, promoted, dropped, added) read as avsc resolves them', (t) => {
  const writer = {
    type: 'record',
    name: 'R',
    fields: [
      { name: 'a', type: 'int' },
      { name: 'gone', type: 'double' },
      { name: 'b', type: 'string' },
      { name: 'e', type: { type: 'enum', name: 'E', symbols: ['X', 'Y', 'Z'] } },
      { name: 'f', type: 'float' },
      { name: 'm', type: { type: 'map', values: 'int' } },
      { name: 'raw', type: 'string' },
    ],
  };
  const reader = {
    type: 'record',
    name: 'R',
    fields: [
      { name: 'b', type: 'string' },
      { name: 'a', type: 'long' },
      { name: 'e', type: { type: 'enum', name: 'E', symbols: ['W', 'Z', 'Y', 'X'] } },
      { name: 'f', type: 'double' },
      { name: 'm', type: { type: 'map', values: ['null', 'long'] } },
      { name: 'raw', type: 'bytes' },
      { name: 'added', type: ['null', 'string'], default: null },
      { name: 'count', type: 'long', default: 7 },
    ],
  };
  const value = topicSchema(schemaInfo(reader));
  const translate = value.translatorFor(schemaInfo(writer));
  if (!translate) return t.fail('no translator');
  const writerType = avroType(writer);
  const readerType = avroType(reader);
  const resolver = readerType.createResolver(writerType);
  const stream = new StreamSchema(
    value,
    value.fields.map((f) => f.name),
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          a: int,
          gone: fc.double(),
          b: text,
          e: fc.constantFrom('X', 'Y', 'Z'),
          f: fc.float(),
          m: fc.dictionary(key, int, { maxKeys: 3 }),
          raw: text,
        }),
        { minLength: 1, maxLength: 20 },
      ),
      (records) => {
        const payloads = records.map((r) => writerType.toBuffer(r) as Buffer);
        const builder = stream.builder();
        for (const [i, p] of payloads.entries()) builder.append(message(p, i), translate);
        const built = builder.flush().data.children;
        const expected = reference(reader, value.fields, payloads, (p) =>
          readerType.fromBuffer(p, resolver),
        );
        t.deepEqual(
          built.map((d) => cells([d])),
          expected.map((e) => cells([e])),
        );
      },
    ),
    { numRuns: Math.ceil(runs / 4) },
  );
});

function int64BE(value: bigint): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigInt64BE(value);
  return buf;
}

test('primitive schemas: one value column, as the payload says', (t) => {
  const cases: [keyof typeof PulsarSchemaType, Buffer, unknown][] = [
    ['STRING', Buffer.from('héllo'), 'héllo'],
    ['STRING', Buffer.from([0x61, 0xff]), 'a\ufffd'],
    ['BOOLEAN', Buffer.from([1]), true],
    ['INT8', Buffer.from([0xfe]), -2],
    ['INT16', Buffer.from([0xff, 0x00]), -256],
    ['INT32', Buffer.from([0x80, 0, 0, 1]), -(2 ** 31) + 1],
    ['INT64', Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 1]), -(2n ** 63n) + 1n],
    ['FLOAT', Buffer.from([0x3f, 0xc0, 0, 0]), 1.5],
    ['DOUBLE', Buffer.from([0xc0, 0x04, 0, 0, 0, 0, 0, 0]), -2.5],
    ['TIMESTAMP', int64BE(1_767_000_000_000n), 1_767_000_000_000],
    ['TIME', Buffer.from([0, 0, 0, 0, 0, 0, 0x30, 0x39]), 12_345],
    ['NONE', Buffer.from([0, 1, 2]), new Uint8Array([0, 1, 2])],
  ];
  for (const [name, payload, expected] of cases) {
    const info = { name: 'p', type: PulsarSchemaType[name], data: Buffer.alloc(0), properties: {} };
    const builder = new StreamSchema(topicSchema(name === 'NONE' ? undefined : info), [
      'value',
    ]).builder();
    builder.append(message(payload, 0));
    builder.append(message(null, 1));
    const column = builder.flush().getChildAt(0) as arrow.Vector;
    t.deepEqual([column.get(0), column.get(1)], [expected, null], name);
  }
  const builder = new StreamSchema(
    topicSchema({ name: 'p', type: PulsarSchemaType.INT32, data: Buffer.alloc(0), properties: {} }),
  ).builder();
  t.throws(() => builder.append(message(Buffer.from([1, 2]), 0)), { instanceOf: ValueDecodeError });
});

const jsonRich = {
  ...rich,
  fields: rich.fields.filter((f) => !['blob', 'price', 'digest'].includes(f.name)),
};
/** JSON numbers: doubles, no NaN or infinities (JSON has none); longs as safe integers. */
const finite = { noNaN: true, noDefaultInfinity: true };
const jsonRecord = fc.record(
  {
    ...sharedFields(fc.maxSafeInteger(), fc.double(finite), fc.float(finite)),
    amount: fc.double({ min: -1e9, max: 1e9, noNaN: true }),
  },
  // Optional fields may be absent from a JSON record: a null cell, like null.
  { requiredKeys: ['id', 'name', 'home'] },
);

test('JSON: random records build the same cells as JSON.parse and apache-arrow builders', (t) => {
  const value = topicSchema(schemaInfo(jsonRich, PulsarSchemaType.JSON));
  const names = value.fields.map((f) => f.name);
  const stream = new StreamSchema(value, names);
  fc.assert(
    fc.property(fc.array(nullable(jsonRecord), { minLength: 1, maxLength: 30 }), (records) => {
      const payloads = records.map((r) => (r === null ? null : Buffer.from(JSON.stringify(r))));
      const built = build(
        stream,
        payloads.map((p, i) => message(p, i)),
        [records.length >> 1],
      );
      const expected = reference(jsonRich, value.fields, payloads, (p) =>
        JSON.parse(p.toString('utf8')),
      );
      built.forEach((column, c) => {
        t.deepEqual(cells(column), cells([expected[c] as arrow.Data]), names[c]);
      });
    }),
    { numRuns: runs },
  );
});

test('JSON: bytes and fixed in base64, longs as strings, what does not fit fails typed', (t) => {
  const schema = {
    type: 'record',
    name: 'J',
    fields: [
      { name: 'b', type: ['null', 'bytes'] },
      { name: 'f', type: { type: 'fixed', name: 'F', size: 2 } },
      { name: 'n', type: 'long' },
      { name: 'k', type: { type: 'enum', name: 'K', symbols: ['A', 'B'] } },
      { name: 'l', type: { type: 'array', items: 'int' } },
    ],
  };
  const stream = new StreamSchema(topicSchema(schemaInfo(schema, PulsarSchemaType.JSON)), [
    'b',
    'f',
    'n',
    'k',
    'l',
  ]);
  const builder = stream.builder();
  builder.append(
    message(Buffer.from('{"b":"AAEC","f":"//8=","n":"-9223372036854775808","k":"B","l":[1]}'), 0),
  );
  builder.append(message(Buffer.from('{"f":"AAA=","n":3,"k":"A","l":[]}'), 1));
  t.deepEqual(
    builder
      .flush()
      .toArray()
      .map((r) => ({ ...r.toJSON(), l: [...r.l] })),
    [
      {
        b: new Uint8Array([0, 1, 2]),
        f: new Uint8Array([255, 255]),
        n: -(2n ** 63n),
        k: 'B',
        l: [1],
      },
      { b: null, f: new Uint8Array([0, 0]), n: 3n, k: 'A', l: [] },
    ],
  );
  for (const bad of ['{"n":1.5}', '{"k":"C"}', '{"l":"x"}', '{"f":"AA=="}', 'null', '[1]', '{']) {
    t.throws(
      () => stream.builder().append(message(Buffer.from(bad), 0)),
      {
        instanceOf: ValueDecodeError,
      },
      bad,
    );
  }
});

test('batch bytes are counted as rows are written, and start over at each flush', (t) => {
  const stream = new StreamSchema(topicSchema(undefined));
  const builder = stream.builder();
  builder.append(message(Buffer.alloc(1000), 0));
  const one = builder.bytes;
  t.true(one > 1000 + topic.length);
  builder.append(message(Buffer.alloc(1000), 1));
  t.true(builder.bytes >= 2 * (1000 + topic.length));
  const batch = builder.flush();
  t.is(builder.bytes, 0);
  const ipc = arrow.tableToIPC(new arrow.Table(batch), 'stream').length;
  t.true(ipc < 2 * one + 2048, `IPC ${ipc} bytes, counted ${2 * one}`);
});

test('appendSame runs, mixed with other cells and nulls, make the cells appendBytes makes', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constantFrom(0, 1, 2), fc.constant(null), fc.uint8Array()), {
        maxLength: 300,
      }),
      (cells) => {
        const values = [Buffer.from('persistent://a/b/c'), Buffer.from('é-x'), Buffer.alloc(0)];
        const tally = new Tally();
        const same = new BytesColumn(new arrow.Utf8(), tally);
        const plainTally = new Tally();
        const plain = new BytesColumn(new arrow.Utf8(), plainTally);
        for (const cell of cells) {
          if (cell === null) {
            same.appendNull();
            plain.appendNull();
          } else if (typeof cell === 'number') {
            const value = values[cell] as Buffer;
            same.appendSame(value);
            plain.appendBytes(value, 0, value.length);
          } else {
            const bytes = Buffer.from(cell).toString('hex');
            same.appendString(bytes);
            plain.appendString(bytes);
          }
        }
        const pending = tally.bytes;
        t.deepEqual(
          arrow.makeVector(same.finish()).toArray(),
          arrow.makeVector(plain.finish()).toArray(),
        );
        // Counted as they come: at most a validity byte is left for the run's write.
        t.is(tally.bytes, plainTally.bytes);
        t.true(plainTally.bytes - pending <= 1 + cells.length / 8);
      },
    ),
    { numRuns: runs },
  );
});
