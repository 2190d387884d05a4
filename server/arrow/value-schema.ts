/**
 * The value columns' common types (ValueSchema, ValueWriter, the typed errors), and the
 * primitive schemas: one `value` column for STRING, BOOLEAN, the numbers and the Java
 * time longs; no schema (or BYTES) a `value: binary` column. Records (AVRO, JSON) are in
 * record-schema.ts, PROTOBUF_NATIVE and KEY_VALUE in modules of their own; topic-schema.ts
 * picks among them.
 */
import * as arrow from 'apache-arrow';
import type { Message } from '../pulsar/message.ts';
import { PulsarSchemaType, type SchemaInfo, schemaTypeName } from '../pulsar/protocol/commands.ts';
import {
  BoolColumn,
  BytesColumn,
  type Column,
  Int64Column,
  NumberColumn,
  type Tally,
} from './columns.ts';

/** A topic schema Seam cannot turn into columns (yet). */
export class UnsupportedSchemaError extends Error {
  override name = 'UnsupportedSchemaError';
}

/** A payload that does not decode with the topic's schema. */
export class ValueDecodeError extends Error {
  override name = 'ValueDecodeError';
}

/**
 * What a value may need of its message besides the payload: a KEY_VALUE topic with the
 * SEPARATED encoding keeps the key part in the message key.
 */
export type MessageKey = Pick<Message, 'key' | 'keyIsBase64'>;

/** Writes the value columns of one batch's rows. */
export interface ValueWriter {
  /** Appends the value in `payload` as one row; throws ValueDecodeError for a bad payload. */
  append(payload: Buffer, message: MessageKey): void;
  /** Appends a row for a message without a value (a tombstone): nulls. */
  appendNull(message: MessageKey): void;
  /** The rows so far, one Data per kept field; the writer starts over empty. */
  finish(): arrow.Data[];
}

/** A payload written with another version of the schema, made readable as this one. */
export type Translate = (payload: Buffer) => Buffer;

/** The value columns of a topic and how to fill them from payloads. */
export interface ValueSchema {
  fields: arrow.Field[];
  /** Pulsar's name for the schema type. */
  typeName: string;
  /**
   * A writer of the fields at `kept` (indexes into `fields`, ascending), counting the
   * bytes it writes in `tally`.
   */
  writer(kept: readonly number[], tally: Tally): ValueWriter;
  /**
   * How to read payloads written with another version of the topic's schema as this
   * schema (AVRO resolution: fields the writer lacks take their defaults); undefined when
   * the writer's data cannot be read as this schema.
   */
  translatorFor(writer: SchemaInfo): Translate | undefined;
}

/** The payload as it is: written with a schema that reads the same. */
export const sameSchema: Translate = (payload) => payload;

/**
 * The `value` column of a primitive schema (undefined = no schema: `value: binary`);
 * throws UnsupportedSchemaError for any other type.
 */
export function primitiveSchema(info: SchemaInfo | undefined): ValueSchema {
  const type = info?.type ?? PulsarSchemaType.NONE;
  switch (type) {
    case PulsarSchemaType.NONE:
      return primitive('NONE', new arrow.Binary(), bytesColumn, (c, p) =>
        c.appendBytes(p, 0, p.length),
      );
    case PulsarSchemaType.STRING:
      return primitive('STRING', new arrow.Utf8(), bytesColumn, (c, p) =>
        c.appendBytes(p, 0, p.length),
      );
    case PulsarSchemaType.BOOLEAN:
      return primitive('BOOLEAN', new arrow.Bool(), boolColumn, (c, p) =>
        c.append(fixed(p, 1)[0] !== 0),
      );
    case PulsarSchemaType.INT8:
      return primitive('INT8', new arrow.Int8(), numberColumn, (c, p) =>
        c.append(fixed(p, 1).readInt8(0)),
      );
    case PulsarSchemaType.INT16:
      return primitive('INT16', new arrow.Int16(), numberColumn, (c, p) =>
        c.append(fixed(p, 2).readInt16BE(0)),
      );
    case PulsarSchemaType.INT32:
      return primitive('INT32', new arrow.Int32(), numberColumn, (c, p) =>
        c.append(fixed(p, 4).readInt32BE(0)),
      );
    case PulsarSchemaType.INT64:
      return primitive('INT64', new arrow.Int64(), int64Column, appendInt64BE);
    case PulsarSchemaType.FLOAT:
      return primitive('FLOAT', new arrow.Float32(), numberColumn, (c, p) =>
        c.append(fixed(p, 4).readFloatBE(0)),
      );
    case PulsarSchemaType.DOUBLE:
      return primitive('DOUBLE', new arrow.Float64(), numberColumn, (c, p) =>
        c.append(fixed(p, 8).readDoubleBE(0)),
      );
    // DATE, TIME and TIMESTAMP are Java millisecond longs.
    case PulsarSchemaType.DATE:
    case PulsarSchemaType.TIMESTAMP:
      return primitive(
        schemaTypeName(type),
        new arrow.TimestampMillisecond('UTC'),
        int64Column,
        appendInt64BE,
      );
    case PulsarSchemaType.TIME:
      // Time32 milliseconds: the long's low 32 bits (a day has fewer milliseconds).
      return primitive('TIME', new arrow.TimeMillisecond(), numberColumn, (c, p) =>
        c.append(fixed(p, 8).readInt32BE(4)),
      );
    default:
      throw new UnsupportedSchemaError(
        `topic schema ${schemaTypeName(type)} is not supported yet: Seam reads AVRO, JSON, PROTOBUF_NATIVE, KEY_VALUE, primitive and schemaless topics`,
      );
  }
}

const bytesColumn = (type: arrow.DataType, tally: Tally) => new BytesColumn(type, tally);
const boolColumn = (type: arrow.DataType, tally: Tally) => new BoolColumn(type, tally);
const numberColumn = (type: arrow.DataType, tally: Tally) => new NumberColumn(type, tally);
const int64Column = (type: arrow.DataType, tally: Tally) => new Int64Column(type, tally);
const appendInt64BE = (column: Int64Column, payload: Buffer) =>
  column.appendWords(fixed(payload, 8).readInt32BE(4), payload.readInt32BE(0));

/** A writer that writes nothing: no value column is kept. */
const noValueColumns: ValueWriter = { append() {}, appendNull() {}, finish: () => [] };

function primitive<C extends Column>(
  typeName: string,
  type: arrow.DataType,
  column: (type: arrow.DataType, tally: Tally) => C,
  append: (column: C, payload: Buffer) => void,
): ValueSchema {
  return {
    typeName,
    fields: [new arrow.Field('value', type, true)],
    writer(kept, tally) {
      if (kept.length === 0) return noValueColumns;
      const c = column(type, tally);
      return {
        append: (payload) => append(c, payload),
        appendNull: () => c.appendNull(),
        finish: () => [c.finish()],
      };
    },
    // Primitive payloads carry no field names: only the same type reads the same way.
    translatorFor: (writer) => (schemaTypeName(writer.type) === typeName ? sameSchema : undefined),
  };
}

/** `payload`, when it is `size` bytes long; throws ValueDecodeError otherwise. */
function fixed(payload: Buffer, size: number): Buffer {
  if (payload.length !== size) {
    throw new ValueDecodeError(
      `expected ${size} bytes for this primitive schema, the message has ${payload.length}`,
    );
  }
  return payload;
}
