/**
 * Fuzz targets for value decoding: random AVRO, JSON and PROTOBUF_NATIVE schemas (every
 * shape Seam maps), values of them encoded by the reference encoders (avsc, JSON.stringify,
 * protobufjs), then mutated or replaced by random bytes, through Seam's column writers; and
 * entries whose counts and sizes lie. A case ends `ok` or in a typed error; anything else is
 * a crash. Shared by test/unit/fuzz-values.test.ts (a slice) and bench/fuzz.ts (a million).
 */
import fc from 'fast-check';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { StreamSchema } from '../../server/arrow/batch-builder.ts';
import { avroType } from '../../server/arrow/record-schema.ts';
import { topicSchema } from '../../server/arrow/topic-schema.ts';
import { UnsupportedSchemaError, ValueDecodeError } from '../../server/arrow/value-schema.ts';
import type { SchemaInfo } from '../../server/pulsar/protocol/commands.ts';
import { decodeCommand, PulsarSchemaType } from '../../server/pulsar/protocol/commands.ts';
import {
  CompressionType,
  decompress,
  maxUncompressedBytes,
} from '../../server/pulsar/protocol/compression.ts';
import { decodeEntry } from '../../server/pulsar/protocol/entry.ts';
import { FrameDecoder, splitEntry } from '../../server/pulsar/protocol/frame.ts';
import { entry, MetadataField } from './entries.ts';
import { mutation, typedName } from './fuzz.ts';
import { testMessage } from './messages.ts';

/** A schema and payloads to append as rows, each `valid` when the reference encoder wrote it. */
export interface ValueCase {
  info: SchemaInfo;
  payloads: { payload: Buffer; valid: boolean }[];
}

/**
 * Appends every payload to a batch of `info`'s columns (a failed row starts a new batch, as
 * the stream does); returns the outcome: `ok`, or the typed error's name. Throws anything
 * else, and when a payload the reference encoder wrote does not decode.
 */
export function runValueCase({ info, payloads }: ValueCase): string {
  const stream = new StreamSchema(topicSchema(info));
  let builder = stream.builder();
  let outcome = 'ok';
  for (const { payload, valid } of payloads) {
    try {
      builder.append(testMessage(payload));
    } catch (error) {
      if (!(error instanceof ValueDecodeError)) throw error;
      if (valid) throw new Error(`a payload the reference encoder wrote failed: ${error.message}`);
      outcome = error.name;
      builder = stream.builder();
    }
  }
  builder.flush();
  return outcome;
}

/**
 * The outcome of decoding an entry and taking its messages: `ok`, or the typed error's name;
 * throws anything else.
 */
export function runEntryCase(bytes: Buffer): string {
  try {
    const decoded = decodeEntry(bytes);
    if (decoded.kind === 'messages') while (decoded.messages.next());
    return 'ok';
  } catch (error) {
    const name = typedName(error);
    if (!name) throw error;
    return name;
  }
}

// ---------------------------------------------------------------- AVRO and JSON schemas

type Avro = string | Avro[] | { [key: string]: unknown };

const primitives = ['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string'];
const logicals: Avro[] = [
  { type: 'long', logicalType: 'timestamp-millis' },
  { type: 'long', logicalType: 'timestamp-micros' },
  { type: 'long', logicalType: 'local-timestamp-millis' },
  { type: 'int', logicalType: 'date' },
  { type: 'int', logicalType: 'time-millis' },
  { type: 'long', logicalType: 'time-micros' },
  { type: 'string', logicalType: 'uuid' },
  { type: 'bytes', logicalType: 'decimal', precision: 20, scale: 3 },
];

/** Avro types of every shape Seam maps, nested up to a few levels. */
const avroTypes: fc.Arbitrary<Avro> = fc.letrec<{ type: Avro; nonNull: Avro; record: Avro }>(
  (tie) => ({
    type: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      tie('nonNull'),
      fc.constant('null'),
      tie('nonNull').chain((t) => fc.constantFrom<Avro>(['null', t], [t, 'null'])),
    ),
    nonNull: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom<Avro>(...primitives.slice(1)),
      fc.constantFrom(...logicals),
      fc.integer({ min: 1, max: 4 }).map((n) => ({
        type: 'enum',
        name: 'E',
        symbols: Array.from({ length: n }, (_, i) => `S${i}`),
      })),
      fc.integer({ min: 0, max: 20 }).map((size) => ({ type: 'fixed', name: 'F', size })),
      fc.constant({ type: 'fixed', name: 'F', size: 16, logicalType: 'uuid' }),
      tie('type').map((items) => ({ type: 'array', items })),
      tie('type').map((values) => ({ type: 'map', values })),
      tie('record'),
    ),
    record: fc.array(tie('type'), { maxLength: 4 }).map((types) => ({
      type: 'record',
      name: 'R',
      fields: types.map((type, i) => ({ name: `f${i}`, type })),
    })),
  }),
).type;

/** Gives every named type a name of its own (the arbitraries above reuse a few). */
function uniqueNames(schema: Avro, counter = { n: 0 }): Avro {
  if (typeof schema === 'string') return schema;
  if (Array.isArray(schema)) return schema.map((s) => uniqueNames(s, counter));
  const out: { [key: string]: unknown } = { ...schema };
  if (typeof out.name === 'string') out.name = `${out.name}${counter.n++}`;
  if (out.items !== undefined) out.items = uniqueNames(out.items as Avro, counter);
  if (out.values !== undefined) out.values = uniqueNames(out.values as Avro, counter);
  if (Array.isArray(out.fields))
    out.fields = (out.fields as { name: string; type: Avro }[]).map((f) => ({
      ...f,
      type: uniqueNames(f.type, counter),
    }));
  return out;
}

/** Root records: one to five fields of any type. */
export const avroSchemas = fc.array(avroTypes, { minLength: 1, maxLength: 5 }).map((types) =>
  uniqueNames({
    type: 'record',
    name: 'Root',
    fields: types.map((type, i) => ({ name: `f${i}`, type })),
  }),
);

const text = fc.string({ unit: 'grapheme', maxLength: 8 });
const key = text.filter((k) => k !== '__proto__');
const longs = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

/** Values of `schema`: avsc's forms (longs as bigints) or, with `json`, JSON's. */
function avroValue(schema: Avro, json: boolean): fc.Arbitrary<unknown> {
  if (Array.isArray(schema)) {
    const inner = schema.find((s) => s !== 'null') as Avro;
    return fc.option(avroValue(inner, json), { nil: null });
  }
  const type = typeof schema === 'string' ? schema : (schema.type as string);
  const o = typeof schema === 'string' ? {} : schema;
  if (o.logicalType === 'uuid' && (type === 'string' || json)) return fc.uuid();
  if (o.logicalType === 'decimal' && json) return fc.integer().map((n) => n / 1000);
  const bytes = (size?: number) =>
    fc
      .uint8Array(size === undefined ? { maxLength: 12 } : { minLength: size, maxLength: size })
      .map((b) => (json ? Buffer.from(b).toString('base64') : Buffer.from(b)));
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'int':
      return fc.integer();
    case 'long':
      return json ? fc.maxSafeInteger() : longs;
    case 'float':
      return json ? fc.float({ noNaN: true, noDefaultInfinity: true }) : fc.float();
    case 'double':
      return json ? fc.double({ noNaN: true, noDefaultInfinity: true }) : fc.double();
    case 'bytes':
      return bytes();
    case 'string':
      return text;
    case 'fixed':
      return bytes(o.size as number);
    case 'enum':
      return fc.constantFrom(...(o.symbols as string[]));
    case 'array':
      return fc.array(avroValue(o.items as Avro, json), { maxLength: 4 });
    case 'map':
      return fc.dictionary(key, avroValue(o.values as Avro, json), { maxKeys: 3 });
    default: {
      const fields = o.fields as { name: string; type: Avro }[];
      return fc.record(Object.fromEntries(fields.map((f) => [f.name, avroValue(f.type, json)])));
    }
  }
}

/** Payloads: the encoding of a value, that encoding mutated, or random bytes. */
function payloadsOf(
  encoded: fc.Arbitrary<Buffer>,
): fc.Arbitrary<{ payload: Buffer; valid: boolean }[]> {
  return fc.array(
    fc.oneof(
      encoded.map((payload) => ({ payload, valid: true })),
      fc.tuple(encoded, mutation()).map(([p, mutate]) => ({ payload: mutate(p), valid: false })),
      fc.uint8Array({ maxLength: 64 }).map((b) => ({ payload: Buffer.from(b), valid: false })),
    ),
    { minLength: 1, maxLength: 6 },
  );
}

const schemaInfo = (type: number, data: unknown): SchemaInfo => ({
  name: 'fuzz',
  type,
  data: Buffer.from(typeof data === 'string' ? data : JSON.stringify(data)),
  properties: {},
});

/** AVRO: random schemas, payloads avsc wrote (then mutated or replaced). */
export const avroCases: fc.Arbitrary<ValueCase> = avroSchemas.chain((schema) => {
  const type = avroType(schema);
  const encoded = avroValue(schema, false).map((v) => type.toBuffer(v) as Buffer);
  return payloadsOf(encoded).map((payloads) => ({
    info: schemaInfo(PulsarSchemaType.AVRO, schema),
    payloads,
  }));
});

/** JSON: random schemas, records JSON.stringify wrote (then mutated or replaced). */
export const jsonCases: fc.Arbitrary<ValueCase> = avroSchemas.chain((schema) => {
  const encoded = avroValue(schema, true).map((v) => Buffer.from(JSON.stringify(v)));
  return payloadsOf(encoded).map((payloads) => ({
    info: schemaInfo(PulsarSchemaType.JSON, schema),
    payloads,
  }));
});

// ---------------------------------------------------------------- PROTOBUF_NATIVE schemas

const protoScalars = [
  'double',
  'float',
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
  'bool',
  'string',
  'bytes',
];

interface ProtoField {
  type: string;
  id: number;
  rule?: 'repeated';
  keyType?: string;
}

const protoField = (types: string[]) =>
  fc.record({
    type: fc.constantFrom(...types),
    shape: fc.constantFrom('single', 'repeated', 'map'),
    keyType: fc.constantFrom('int32', 'int64', 'string', 'bool', 'uint32'),
  });

/** A proto3 file: message Root (random fields, some of type Inner or Color), Inner, enum Color. */
const protoRoots = fc
  .tuple(
    fc.array(protoField([...protoScalars, 'Inner', 'Color']), { minLength: 1, maxLength: 6 }),
    fc.array(protoField([...protoScalars, 'Color']), { maxLength: 4 }),
  )
  .map(([rootFields, innerFields]) => {
    const fields = (list: typeof rootFields) =>
      Object.fromEntries(
        list.map((f, i): [string, ProtoField] => [
          `f${i}`,
          f.shape === 'map'
            ? { type: f.type, id: i + 1, keyType: f.keyType }
            : { type: f.type, id: i + 1, ...(f.shape === 'repeated' ? { rule: 'repeated' } : {}) },
        ]),
      );
    return protobuf.Root.fromJSON({
      nested: {
        fuzz: {
          nested: {
            Root: { fields: fields(rootFields) },
            Inner: { fields: fields(innerFields) },
            Color: { values: { RED: 0, GREEN: 1, BLUE: 2 } },
          },
        },
      },
    });
  });

/** A value for a protobufjs field, in the form `Type.fromObject` takes. */
function protoScalar(type: string): fc.Arbitrary<unknown> {
  switch (type) {
    case 'double':
    case 'float':
      return fc.double();
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return fc.integer();
    case 'uint32':
    case 'fixed32':
      return fc.nat();
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return longs.map(String);
    case 'uint64':
    case 'fixed64':
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
    case 'bool':
      return fc.boolean();
    case 'string':
      return text;
    case 'bytes':
      return fc.uint8Array({ maxLength: 8 });
    case 'Color':
      return fc.constantFrom('RED', 'GREEN', 'BLUE');
    default:
      return fc.constant({});
  }
}

function protoValue(type: protobuf.Type): fc.Arbitrary<Record<string, unknown>> {
  const entries = type.fieldsArray.map((field): [string, fc.Arbitrary<unknown>] => {
    const single =
      field.type === 'Inner'
        ? protoValue(type.root.lookupType('fuzz.Inner'))
        : protoScalar(field.type);
    if (field instanceof protobuf.MapField) {
      const keys =
        field.keyType === 'bool' ? fc.constantFrom('true', 'false') : fc.nat().map(String);
      return [field.name, fc.dictionary(keys, single, { maxKeys: 3 })];
    }
    return [field.name, field.repeated ? fc.array(single, { maxLength: 3 }) : single];
  });
  return fc.record(Object.fromEntries(entries), { requiredKeys: [] });
}

/** PROTOBUF_NATIVE: random proto3 schemas as Pulsar stores them, payloads protobufjs wrote. */
export const protobufCases: fc.Arbitrary<ValueCase> = protoRoots.chain((root) => {
  const type = root.lookupType('fuzz.Root');
  const set = (root as unknown as { toDescriptor(syntax: string): protobuf.Message }).toDescriptor(
    'proto3',
  );
  const data = {
    fileDescriptorSet: Buffer.from(descriptor.FileDescriptorSet.encode(set).finish()).toString(
      'base64',
    ),
    rootMessageTypeName: 'fuzz.Root',
    rootFileDescriptorName: 'fuzz.proto',
  };
  const encoded = protoValue(type).map((v) =>
    Buffer.from(type.encode(type.fromObject(v)).finish()),
  );
  return payloadsOf(encoded).map((payloads) => ({
    info: schemaInfo(PulsarSchemaType.PROTOBUF_NATIVE, data),
    payloads,
  }));
});

// ---------------------------------------------------------------- entries that lie

const lyingNumber = fc.oneof(
  fc.constantFrom(
    -(2n ** 63n),
    -1n,
    0n,
    1n,
    2n,
    6n,
    2n ** 31n - 1n,
    2n ** 31n,
    2n ** 32n,
    2n ** 53n,
    2n ** 64n - 1n,
    // More than the payloads below hold, under and over the decoder's cap.
    2_000_000n,
    BigInt(maxUncompressedBytes),
    BigInt(maxUncompressedBytes) + 1n,
  ),
  fc.bigInt({ min: -(2n ** 31n), max: 2n ** 40n }),
);

const compressions = fc.constantFrom(
  CompressionType.NONE,
  CompressionType.LZ4,
  CompressionType.ZLIB,
  CompressionType.ZSTD,
  CompressionType.SNAPPY,
);

/**
 * Most zero bytes in a lying entry's payload. Enough for every codec to pack it small (the
 * ratio a bomb needs); larger only costs time per case (2 MB payloads took most of a 100 K
 * run's time and heap). Sizes declared past the payload (2 MB, the 256 MiB cap and over it)
 * still reach the decoder's size checks: `lyingNumber` says them.
 */
export const maxLyingZeros = 256 * 1024;

/**
 * Entries whose count and size fields say anything (extremes, negatives, past 2^53) over
 * payloads that are real batches from `batches` (decompressed), zeros that compress to
 * nearly nothing, or random bytes.
 */
export function lyingEntries(batches: Buffer[]): fc.Arbitrary<Buffer> {
  const field = (n: number) =>
    // Each field left out half the time: with all five mostly present, 97% of cases ended
    // at the metadata's own checks and few reached the codecs and batch splitting.
    fc.option(
      lyingNumber.map((v) => [n, v] as const),
      { nil: undefined, freq: 2 },
    );
  return fc
    .tuple(
      fc.tuple(
        field(MetadataField.numMessagesInBatch),
        field(MetadataField.uncompressedSize),
        field(MetadataField.numChunksFromMsg),
        field(MetadataField.totalChunkMsgSize),
        field(MetadataField.chunkId),
      ),
      compressions,
      fc.oneof(
        fc.constantFrom(...batches),
        fc.integer({ min: 0, max: maxLyingZeros }).map((n) => Buffer.alloc(n)),
        fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      ),
      fc.boolean(),
      fc.option(lyingNumber, { nil: undefined }),
    )
    .map(([fields, compression, raw, checksum, brokerIndex]) => {
      const codec = codecs[compression] as (b: Buffer) => Buffer;
      const metadata = Object.fromEntries(fields.filter((f) => f !== undefined));
      return entry(
        {
          [MetadataField.compression]: compression,
          [MetadataField.uncompressedSize]: raw.length,
          ...metadata,
        },
        codec(raw),
        { checksum, ...(brokerIndex === undefined ? {} : { brokerIndex }) },
      );
    });
}

/** The decompressed payloads of the batched entries in `streams` (captured broker bytes). */
export function batchPayloads(streams: Buffer[]): Buffer[] {
  const payloads: Buffer[] = [];
  for (const stream of streams) {
    for (const frame of new FrameDecoder().push(stream)) {
      if (decodeCommand(frame.command).type !== 'MESSAGE') continue;
      const decoded = decodeEntry(frame.rest);
      if (decoded.kind !== 'messages' || !decoded.metadata.isBatch) continue;
      const { compression, uncompressedSize } = decoded.metadata;
      const parts = splitEntry(frame.rest);
      payloads.push(decompress(compression, parts.payload, uncompressedSize));
    }
  }
  return payloads;
}

const { deflateSync, zstdCompressSync } = await import('node:zlib');
const { compressSync: lz4 } = await import('lz4-napi');
const { compressSync: snappy } = await import('snappy');

/** Each codec as Pulsar's producers apply it (LZ4: the raw block, without lz4-napi's size). */
const codecs: Record<number, (b: Buffer) => Buffer> = {
  [CompressionType.NONE]: (b) => b,
  [CompressionType.LZ4]: (b) => lz4(b).subarray(4),
  [CompressionType.ZLIB]: (b) => deflateSync(b),
  [CompressionType.ZSTD]: (b) => zstdCompressSync(b),
  [CompressionType.SNAPPY]: (b) => snappy(b) as Buffer,
};

/** Schema errors a random schema may meet (none expected): a typed outcome, not a crash. */
export const schemaErrors = [UnsupportedSchemaError] as const;
