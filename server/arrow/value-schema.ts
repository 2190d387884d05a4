/**
 * Pulsar schema → Arrow value columns, and the decoder that turns a message payload into
 * one value per column. AVRO and JSON records become one column per field; primitive
 * schemas one `value` column; no schema (or BYTES) a `value: binary` column.
 */
import * as arrow from 'apache-arrow';
import avro from 'avsc';
import type { SchemaInfo } from '../pulsar/protocol/commands.ts';
import type { Message } from '../pulsar/reader.ts';

/** `Schema.Type` numbers of PulsarApi.proto, by name. */
export const PulsarSchemaType = {
  NONE: 0,
  STRING: 1,
  JSON: 2,
  PROTOBUF: 3,
  AVRO: 4,
  BOOLEAN: 5,
  INT8: 6,
  INT16: 7,
  INT32: 8,
  INT64: 9,
  FLOAT: 10,
  DOUBLE: 11,
  DATE: 12,
  TIME: 13,
  TIMESTAMP: 14,
  KEY_VALUE: 15,
  INSTANT: 16,
  LOCAL_DATE: 17,
  LOCAL_TIME: 18,
  LOCAL_DATE_TIME: 19,
  PROTOBUF_NATIVE: 20,
} as const;

const schemaTypeNames = new Map<number, string>(
  Object.entries(PulsarSchemaType).map(([k, v]) => [v, k]),
);

/** The name of a Pulsar schema type number (`AVRO`, `STRING`, ...). */
export function schemaTypeName(type: number): string {
  return schemaTypeNames.get(type) ?? `UNKNOWN(${type})`;
}

/** A topic schema Seam cannot turn into columns (yet). */
export class UnsupportedSchemaError extends Error {
  override name = 'UnsupportedSchemaError';
}

/** A payload that does not decode with the topic's schema. */
export class ValueDecodeError extends Error {
  override name = 'ValueDecodeError';
}

/**
 * The value columns of a topic and how to fill them: `decode` turns a payload into one
 * JS value per field, in field order, in the form Arrow's builders take.
 */
export interface ValueSchema {
  fields: arrow.Field[];
  /** Pulsar's name for the schema type. */
  typeName: string;
  /**
   * True when the columns need more of the message than its payload (a SEPARATED
   * KEY_VALUE's key is the message key): `decode` then takes the message as well, also
   * when its value is null.
   */
  readsMessage?: boolean;
  decode(payload: Buffer, message?: MessageKey): unknown[];
  /**
   * A decoder for payloads written with another version of the topic's schema, giving
   * this schema's columns (AVRO resolution: fields the writer lacks take their defaults);
   * undefined when the writer's data cannot be read as this schema.
   */
  decoderFor(
    writer: SchemaInfo,
  ): ((payload: Buffer, message?: MessageKey) => unknown[]) | undefined;
}

/** What a decoder may read of a message besides its payload. */
export type MessageKey = Pick<Message, 'key' | 'keyIsBase64' | 'nullValue'>;

/** The value columns for a topic's schema (undefined = no schema: `value: binary`). */
export function valueSchema(info: SchemaInfo | undefined): ValueSchema {
  const type = info?.type ?? PulsarSchemaType.NONE;
  switch (type) {
    case PulsarSchemaType.NONE:
      return primitive('NONE', new arrow.Binary(), (p) => p);
    case PulsarSchemaType.STRING:
      return primitive('STRING', new arrow.Utf8(), (p) => p.toString('utf8'));
    case PulsarSchemaType.BOOLEAN:
      return primitive('BOOLEAN', new arrow.Bool(), (p) => fixed(p, 1).readUInt8(0) !== 0);
    case PulsarSchemaType.INT8:
      return primitive('INT8', new arrow.Int8(), (p) => fixed(p, 1).readInt8(0));
    case PulsarSchemaType.INT16:
      return primitive('INT16', new arrow.Int16(), (p) => fixed(p, 2).readInt16BE(0));
    case PulsarSchemaType.INT32:
      return primitive('INT32', new arrow.Int32(), (p) => fixed(p, 4).readInt32BE(0));
    case PulsarSchemaType.INT64:
      return primitive('INT64', new arrow.Int64(), (p) => fixed(p, 8).readBigInt64BE(0));
    case PulsarSchemaType.FLOAT:
      return primitive('FLOAT', new arrow.Float32(), (p) => fixed(p, 4).readFloatBE(0));
    case PulsarSchemaType.DOUBLE:
      return primitive('DOUBLE', new arrow.Float64(), (p) => fixed(p, 8).readDoubleBE(0));
    // DATE, TIME and TIMESTAMP are Java millisecond longs.
    case PulsarSchemaType.DATE:
    case PulsarSchemaType.TIMESTAMP:
      return primitive(schemaTypeName(type), new arrow.TimestampMillisecond('UTC'), (p) =>
        Number(fixed(p, 8).readBigInt64BE(0)),
      );
    case PulsarSchemaType.TIME:
      return primitive('TIME', new arrow.TimeMillisecond(), (p) =>
        Number(fixed(p, 8).readBigInt64BE(0)),
      );
    case PulsarSchemaType.AVRO:
    case PulsarSchemaType.JSON:
      return recordSchema(info as SchemaInfo);
    default:
      throw new UnsupportedSchemaError(
        `topic schema ${schemaTypeName(type)} is not supported yet: Seam reads AVRO, JSON, PROTOBUF_NATIVE, KEY_VALUE, primitive and schemaless topics`,
      );
  }
}

function primitive(
  typeName: string,
  type: arrow.DataType,
  decode: (payload: Buffer) => unknown,
): ValueSchema {
  const schema: ValueSchema = {
    typeName,
    fields: [new arrow.Field('value', type, true)],
    decode: (p) => [decode(p)],
    // Primitive payloads carry no field names: only the same type reads the same way.
    decoderFor: (writer) => (schemaTypeName(writer.type) === typeName ? schema.decode : undefined),
  };
  return schema;
}

function fixed(payload: Buffer, size: number): Buffer {
  if (payload.length !== size) {
    throw new ValueDecodeError(
      `expected ${size} bytes for this primitive schema, the message has ${payload.length}`,
    );
  }
  return payload;
}

type AvroSchema = string | AvroSchema[] | { type: AvroSchema; [key: string]: unknown };

/** An Avro (sub)schema's Arrow type, and how to convert a decoded value for Arrow's builders. */
interface Mapped {
  type: arrow.DataType;
  nullable: boolean;
  convert: (value: unknown) => unknown;
}

const identity = (v: unknown) => v;

function recordSchema(info: SchemaInfo): ValueSchema {
  const isJson = info.type === PulsarSchemaType.JSON;
  let definition: AvroSchema;
  try {
    definition = JSON.parse(info.data.toString('utf8')) as AvroSchema;
  } catch (error) {
    throw new UnsupportedSchemaError(
      `the topic's ${isJson ? 'JSON' : 'AVRO'} schema definition is not JSON`,
      {
        cause: error,
      },
    );
  }
  const named = new Map<string, AvroSchema>();
  const root =
    typeof definition === 'object' && !Array.isArray(definition) ? definition : undefined;
  if (root?.type !== 'record') {
    throw new UnsupportedSchemaError('only record schemas are supported for AVRO and JSON topics');
  }
  const fields = (root.fields as { name: string; type: AvroSchema }[]).map((f) => ({
    name: f.name,
    mapped: mapAvro(f.type, named, isJson),
  }));
  const arrowFields = fields.map((f) => new arrow.Field(f.name, f.mapped.type, f.mapped.nullable));
  if (isJson) {
    const json: ValueSchema = {
      typeName: 'JSON',
      fields: arrowFields,
      decode(payload) {
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
        } catch (error) {
          throw new ValueDecodeError(`message is not valid JSON: ${(error as Error).message}`, {
            cause: error,
          });
        }
        return fields.map((f) => f.mapped.convert(record[f.name]));
      },
      // JSON is read by field name: records of any version fill this schema's columns.
      decoderFor: (writer) => (writer.type === PulsarSchemaType.JSON ? json.decode : undefined),
    };
    return json;
  }
  const type = avro.Type.forSchema(definition as avro.Schema, { wrapUnions: false });
  const read = (payload: Buffer, resolver?: avro.Resolver) => {
    let record: Record<string, unknown>;
    try {
      record = type.fromBuffer(payload, resolver) as Record<string, unknown>;
    } catch (error) {
      throw new ValueDecodeError(
        `message does not decode with the topic's AVRO schema: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return fields.map((f) => f.mapped.convert(record[f.name]));
  };
  return {
    typeName: 'AVRO',
    fields: arrowFields,
    decode: (payload) => read(payload),
    decoderFor(writer) {
      if (writer.type !== PulsarSchemaType.AVRO) return undefined;
      try {
        const writerSchema = JSON.parse(writer.data.toString('utf8')) as avro.Schema;
        const resolver = type.createResolver(
          avro.Type.forSchema(writerSchema, { wrapUnions: false }),
        );
        return (payload) => read(payload, resolver);
      } catch {
        return undefined;
      }
    },
  };
}

/** Maps an Avro schema to Arrow. `named` collects named types for later references. */
function mapAvro(schema: AvroSchema, named: Map<string, AvroSchema>, json: boolean): Mapped {
  if (typeof schema === 'string') {
    const ref = named.get(schema);
    if (ref) return mapAvro(ref, named, json);
    return mapPrimitive(schema, undefined, json);
  }
  if (Array.isArray(schema)) {
    const branches = schema.filter((s) => s !== 'null');
    if (branches.length === 1) {
      const inner = mapAvro(branches[0] as AvroSchema, named, json);
      return {
        ...inner,
        nullable: true,
        convert: (v) => (v === null || v === undefined ? null : inner.convert(v)),
      };
    }
    throw new UnsupportedSchemaError('unions of several non-null types are not supported yet');
  }
  const type = schema.type;
  const logical = schema.logicalType as string | undefined;
  if (typeof schema.name === 'string') named.set(schema.name, schema);
  switch (type) {
    case 'record': {
      const fields = (schema.fields as { name: string; type: AvroSchema }[]).map((f) => ({
        name: f.name,
        mapped: mapAvro(f.type, named, json),
      }));
      return {
        type: new arrow.Struct(
          fields.map((f) => new arrow.Field(f.name, f.mapped.type, f.mapped.nullable)),
        ),
        nullable: false,
        convert: (v) => {
          if (v === null || v === undefined) return null;
          const record = v as Record<string, unknown>;
          const out: Record<string, unknown> = {};
          for (const f of fields) out[f.name] = f.mapped.convert(record[f.name]);
          return out;
        },
      };
    }
    case 'array': {
      const items = mapAvro(schema.items as AvroSchema, named, json);
      return {
        type: new arrow.List(new arrow.Field('item', items.type, items.nullable)),
        nullable: false,
        convert: (v) => (v == null ? null : (v as unknown[]).map(items.convert)),
      };
    }
    case 'map': {
      const values = mapAvro(schema.values as AvroSchema, named, json);
      const entries = new arrow.Struct([
        new arrow.Field('key', new arrow.Utf8(), false),
        new arrow.Field('value', values.type, values.nullable),
      ]);
      return {
        type: new arrow.Map_(new arrow.Field('entries', entries, false)),
        nullable: false,
        convert: (v) => {
          if (v == null) return null;
          const out = new Map<string, unknown>();
          for (const [key, value] of Object.entries(v as Record<string, unknown>))
            out.set(key, values.convert(value));
          return out;
        },
      };
    }
    case 'enum':
      return {
        type: new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()),
        nullable: false,
        convert: identity,
      };
    case 'fixed':
      if (logical === 'decimal') return decimal(schema, json);
      return {
        type: new arrow.FixedSizeBinary(schema.size as number),
        nullable: false,
        convert: identity,
      };
    default:
      return mapPrimitive(type as string, schema, json);
  }
}

function mapPrimitive(
  type: string,
  schema: { [key: string]: unknown } | undefined,
  json: boolean,
): Mapped {
  const logical = schema?.logicalType as string | undefined;
  switch (logical) {
    case 'timestamp-millis':
    case 'local-timestamp-millis':
      return {
        type: new arrow.TimestampMillisecond(logical === 'timestamp-millis' ? 'UTC' : null),
        nullable: false,
        convert: toNumber,
      };
    case 'timestamp-micros':
    case 'local-timestamp-micros':
      // Arrow's JS builders take epoch milliseconds for every timestamp unit.
      return {
        type: new arrow.TimestampMicrosecond(logical === 'timestamp-micros' ? 'UTC' : null),
        nullable: false,
        convert: (v) => (v == null ? null : Number(v) / 1000),
      };
    case 'date':
      // Days since the epoch; the builder takes milliseconds.
      return {
        type: new arrow.DateDay(),
        nullable: false,
        convert: (v) => (v == null ? null : Number(v) * 86_400_000),
      };
    case 'time-millis':
      return { type: new arrow.TimeMillisecond(), nullable: false, convert: toNumber };
    case 'time-micros':
      return {
        type: new arrow.TimeMicrosecond(),
        nullable: false,
        convert: (v) => (v == null ? null : BigInt(v as number)),
      };
    case 'decimal':
      return decimal(schema as { [key: string]: unknown }, json);
    case 'uuid':
      return { type: new arrow.Utf8(), nullable: false, convert: identity };
    default:
      break;
  }
  switch (type) {
    case 'null':
      return { type: new arrow.Null(), nullable: true, convert: () => null };
    case 'boolean':
      return { type: new arrow.Bool(), nullable: false, convert: identity };
    case 'int':
      return { type: new arrow.Int32(), nullable: false, convert: identity };
    case 'long':
      return {
        type: new arrow.Int64(),
        nullable: false,
        convert: (v) => (v == null ? null : BigInt(v as number)),
      };
    case 'float':
      return { type: new arrow.Float32(), nullable: false, convert: identity };
    case 'double':
      return { type: new arrow.Float64(), nullable: false, convert: identity };
    case 'bytes':
      return { type: new arrow.Binary(), nullable: false, convert: identity };
    case 'string':
      return { type: new arrow.Utf8(), nullable: false, convert: identity };
    default:
      throw new UnsupportedSchemaError(`Avro type ${JSON.stringify(type)} is not supported`);
  }
}

function toNumber(v: unknown): number | null {
  return v == null ? null : Number(v);
}

/** Avro decimal (big-endian two's complement unscaled bytes) → Arrow Decimal128. */
function decimal(schema: { [key: string]: unknown }, json: boolean): Mapped {
  const precision = schema.precision as number;
  const scale = (schema.scale as number | undefined) ?? 0;
  if (precision > 38)
    throw new UnsupportedSchemaError(`decimal precision ${precision} exceeds Decimal128's 38`);
  return {
    type: new arrow.Decimal(scale, precision, 128),
    nullable: false,
    convert: (v) => {
      if (v == null) return null;
      let unscaled: bigint;
      if (json) {
        unscaled = BigInt(Math.round(Number(v) * 10 ** scale));
      } else {
        const bytes = v as Buffer;
        unscaled =
          bytes.length === 0
            ? 0n
            : BigInt.asIntN(bytes.length * 8, BigInt(`0x${bytes.toString('hex')}`));
      }
      const words = new Uint32Array(4);
      let rest = BigInt.asUintN(128, unscaled);
      for (let i = 0; i < 4; i++) {
        words[i] = Number(rest & 0xffffffffn);
        rest >>= 32n;
      }
      return words;
    },
  };
}
