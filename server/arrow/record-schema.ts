/**
 * AVRO and JSON record schemas → one Arrow column per field, and the writers that fill them.
 * AVRO payloads are read by a reader compiled from the schema straight into column writers
 * (strings as byte ranges, longs as words, every block count bounded by the bytes left);
 * JSON records are parsed (nesting depth checked first), then each field's value is put in
 * its writer.
 */
import * as arrow from 'apache-arrow';
import avro from 'avsc';
import { PulsarSchemaType, type SchemaInfo } from '../pulsar/protocol/commands.ts';
import { AvroTap, avroSkipper } from './avro-tap.ts';
import {
  BoolColumn,
  BytesColumn,
  type Column,
  EnumColumn,
  FixedBytesColumn,
  Int64Column,
  ListColumn,
  NullColumn,
  NumberColumn,
  StructColumn,
  type Tally,
} from './columns.ts';
import {
  sameSchema,
  UnsupportedSchemaError,
  ValueDecodeError,
  type ValueSchema,
  type ValueWriter,
} from './value-schema.ts';

type AvroSchema = string | AvroSchema[] | { type: AvroSchema; [key: string]: unknown };

/** A column writer, and how to append one value to it: Avro binary, or a parsed JSON value. */
interface Slot {
  column: Column;
  read(tap: AvroTap): void;
  /** Appends a JSON value (null or absent: a null cell). */
  put(value: unknown): void;
}

/** An Avro (sub)schema's Arrow type, and how to fill its column. */
interface Mapped {
  type: arrow.DataType;
  nullable: boolean;
  /** Field metadata the type needs (an extension type's name). */
  metadata?: Map<string, string>;
  /** A writer for this type's column. */
  slot(tally: Tally): Slot;
  /** AVRO: reads past a value of this type. */
  skip(tap: AvroTap): void;
  /** AVRO: the fewest bytes a value of this type takes (0 for `null`, an empty record). */
  width: number;
}

/** The columns of an AVRO or JSON topic's record schema (one per field). */
export function recordSchema(info: SchemaInfo): ValueSchema {
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
    mapped: mapAvro(f.type, named),
  }));
  const arrowFields = fields.map((f) => fieldOf(f.name, f.mapped));
  if (isJson) {
    return {
      typeName: 'JSON',
      fields: arrowFields,
      writer: (kept, tally) => jsonWriter(fields, kept, tally),
      // JSON is read by field name: records of any version fill this schema's columns.
      translatorFor: (writer) => (writer.type === PulsarSchemaType.JSON ? sameSchema : undefined),
    };
  }
  const type = avroType(definition);
  return {
    typeName: 'AVRO',
    fields: arrowFields,
    writer: (kept, tally) => avroWriter(fields, kept, tally),
    translatorFor(writer) {
      if (writer.type !== PulsarSchemaType.AVRO) return undefined;
      try {
        const writerSchema: unknown = JSON.parse(writer.data.toString('utf8'));
        const writerType = avroType(writerSchema);
        if (writerType.equals(type)) return sameSchema;
        const resolver = type.createResolver(writerType);
        // avsc trusts block counts: the payload is read past once with Seam's bounds first.
        const skip = avroSkipper(writerSchema);
        const tap = new AvroTap();
        // Rare (messages of an older schema version): decoded with avsc's resolution,
        // then encoded as this schema for the stream's own reader.
        return (payload) => {
          try {
            tap.reset(payload);
            skip(tap);
            tap.finish();
            return type.toBuffer(type.fromBuffer(payload, resolver));
          } catch (error) {
            throw new ValueDecodeError(
              `message does not decode with its AVRO schema version: ${(error as Error).message}`,
              { cause: error },
            );
          }
        };
      } catch {
        return undefined;
      }
    },
  };
}

/** avsc longs as bigints: exact over the whole 64-bit range. */
const exactLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

/** avsc's type for an Avro schema, unions unwrapped and longs as bigints. */
export function avroType(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, {
    wrapUnions: false,
    typeHook: (s) =>
      s === 'long' || (s as { type?: unknown }).type === 'long' ? exactLong : undefined,
  });
}

/** The kept fields' writers; the others' readers read past their values. */
function keptSlots(fields: { mapped: Mapped }[], kept: readonly number[], tally: Tally) {
  const slots = new Map(kept.map((i) => [i, (fields[i] as { mapped: Mapped }).mapped.slot(tally)]));
  const columns = [...slots.values()].map((s) => s.column);
  return {
    slots,
    appendNull() {
      for (const c of columns) c.appendNull();
    },
    finish: () => columns.map((c) => c.finish()),
  };
}

/** Reads AVRO payloads straight into the kept fields' columns, reading past the others. */
function avroWriter(
  fields: { mapped: Mapped }[],
  kept: readonly number[],
  tally: Tally,
): ValueWriter {
  const { slots, appendNull, finish } = keptSlots(fields, kept, tally);
  const steps = fields.map((f, i) => slots.get(i)?.read ?? f.mapped.skip);
  const tap = new AvroTap();
  return {
    append(payload) {
      tap.reset(payload);
      try {
        for (const step of steps) step(tap);
        tap.finish();
      } catch (error) {
        throw new ValueDecodeError(
          `message does not decode with the topic's AVRO schema: ${(error as Error).message}`,
          { cause: error },
        );
      }
    },
    appendNull,
    finish,
  };
}

/** Fills the kept fields' columns from JSON records, by field name. */
function jsonWriter(
  fields: { name: string; mapped: Mapped }[],
  kept: readonly number[],
  tally: Tally,
): ValueWriter {
  const { slots, appendNull, finish } = keptSlots(fields, kept, tally);
  const puts = [...slots].map(([i, slot]) => ({
    name: (fields[i] as { name: string }).name,
    slot,
  }));
  return {
    append(payload) {
      checkJsonDepth(payload);
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      } catch (error) {
        throw new ValueDecodeError(`message is not valid JSON: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (record === null || typeof record !== 'object' || Array.isArray(record))
        throw new ValueDecodeError(
          `message is not a JSON object: ${payload.toString('utf8', 0, 40)}`,
        );
      try {
        for (const { name, slot } of puts) slot.put(record[name]);
      } catch (error) {
        throw new ValueDecodeError(
          `message does not fit the topic's JSON schema: ${(error as Error).message}`,
          { cause: error },
        );
      }
    },
    appendNull,
    finish,
  };
}

/**
 * Deepest JSON nesting read. Far deeper than any record schema Seam maps; JSON.parse takes
 * 10–20 times longer per byte on deeply nested input (measured: 5 MB of `{"a":` nesting,
 * 1 M levels, took 280 ms; 10 MB of `[` nesting 2.1 s), so deeper payloads are refused.
 */
export const maxJsonDepth = 256;

const openBracket = 0x5b;
const openBrace = 0x7b;

/** Throws ValueDecodeError when `payload` nests arrays and objects deeper than `maxJsonDepth`. */
function checkJsonDepth(payload: Buffer): void {
  // Nesting needs as many opening brackets: most payloads have too few to look further.
  let opening = 0;
  for (const bracket of [openBracket, openBrace]) {
    for (let at = payload.indexOf(bracket); at >= 0; at = payload.indexOf(bracket, at + 1)) {
      if (++opening > maxJsonDepth) break;
    }
  }
  if (opening <= maxJsonDepth) return;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < payload.length; i++) {
    const byte = payload[i] as number;
    if (inString) {
      if (byte === 0x5c)
        i++; // a backslash escapes the next byte
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === openBracket || byte === openBrace) {
      if (++depth > maxJsonDepth)
        throw new ValueDecodeError(`message nests JSON deeper than ${maxJsonDepth} levels`);
    } else if (byte === 0x5d || byte === 0x7d) depth--;
  }
}

/** A JSON object's fields; throws for anything else (an array, a string, a number). */
function jsonObject(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`expected a JSON object, not ${JSON.stringify(v)?.slice(0, 40)}`);
  return v as Record<string, unknown>;
}

/** `put` for a column: null and absent values are null cells, others go to `put`. */
function orNull(column: Column, put: (value: unknown) => void): (value: unknown) => void {
  return (value) => (value === null || value === undefined ? column.appendNull() : put(value));
}

/**
 * The records being mapped (mapping is synchronous): a reference to one of them is a
 * recursive type, which would otherwise recurse until the stack overflows.
 */
const recordsBeingMapped = new Set<AvroSchema>();

/** The Arrow field of a mapped type, with the metadata its type needs. */
function fieldOf(name: string, mapped: Mapped): arrow.Field {
  return new arrow.Field(name, mapped.type, mapped.nullable, mapped.metadata);
}

/** Maps an Avro schema to Arrow. `named` collects named types for later references. */
function mapAvro(schema: AvroSchema, named: Map<string, AvroSchema>): Mapped {
  if (typeof schema === 'string') {
    const ref = named.get(schema);
    if (ref && recordsBeingMapped.has(ref)) {
      throw new UnsupportedSchemaError(
        `Avro type ${schema} contains itself: recursive types have no Arrow type`,
      );
    }
    if (ref) return mapAvro(ref, named);
    return mapPrimitive(schema, undefined);
  }
  if (Array.isArray(schema)) return mapUnion(schema, named);
  const type = schema.type;
  const logical = schema.logicalType as string | undefined;
  if (typeof schema.name === 'string') named.set(schema.name, schema);
  switch (type) {
    case 'record':
      recordsBeingMapped.add(schema);
      try {
        return mapRecord(schema, named);
      } finally {
        recordsBeingMapped.delete(schema);
      }
    case 'array':
      return mapArray(mapAvro(schema.items as AvroSchema, named));
    case 'map':
      return mapMap(mapAvro(schema.values as AvroSchema, named));
    case 'enum':
      return mapEnum(schema.symbols as string[]);
    case 'fixed': {
      const size = schema.size as number;
      if (logical === 'decimal') return decimal(schema, (tap) => tap.skip(size), size);
      if (logical === 'uuid' && size === 16) return uuid('fixed');
      const fixedType = new arrow.FixedSizeBinary(size);
      return {
        type: fixedType,
        nullable: false,
        slot(tally) {
          const column = new FixedBytesColumn(fixedType, size, tally);
          return {
            column,
            read: (tap) => column.append(tap.buf, tap.skip(size)),
            // JSON (Jackson, as Pulsar's JSON schema writes it): bytes in base64.
            put: orNull(column, (v) => {
              const bytes = Buffer.from(String(v), 'base64');
              if (bytes.length !== size)
                throw new Error(`fixed of ${size} bytes given ${bytes.length} (base64)`);
              column.append(bytes, 0);
            }),
          };
        },
        skip: (tap) => tap.skip(size),
        width: size,
      };
    }
    default:
      return mapPrimitive(type as string, schema);
  }
}

function mapEnum(symbols: string[]): Mapped {
  const type = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32());
  const indexes = new Map(symbols.map((s, i) => [s, i]));
  return {
    type,
    nullable: false,
    slot(tally) {
      const column = new EnumColumn(symbols, type, tally);
      return {
        column,
        read(tap) {
          const index = tap.long();
          if (!(index >= 0 && index < symbols.length))
            throw new Error(`enum index ${index} out of range`);
          column.append(index);
        },
        put: orNull(column, (v) => {
          const index = indexes.get(String(v));
          if (index === undefined)
            throw new Error(`${JSON.stringify(v)} is not a symbol of the enum`);
          column.append(index);
        }),
      };
    },
    skip: (tap) => tap.long(),
    width: 1,
  };
}

/** A nullable union (`null` and one other type, in either order). */
function mapUnion(schema: AvroSchema[], named: Map<string, AvroSchema>): Mapped {
  const branches = schema.filter((s) => s !== 'null');
  if (branches.length !== 1) {
    throw new UnsupportedSchemaError('unions of several non-null types are not supported yet');
  }
  const inner = mapAvro(branches[0] as AvroSchema, named);
  const valueIndex = schema.indexOf(branches[0] as AvroSchema);
  const branch = (tap: AvroTap) => {
    const index = tap.long();
    if (index !== valueIndex && schema[index] !== 'null')
      throw new Error(`union branch ${index} out of range`);
    return index === valueIndex;
  };
  return {
    ...inner,
    nullable: true,
    slot(tally) {
      const value = inner.slot(tally);
      const column = value.column;
      return {
        column,
        read: (tap) => (branch(tap) ? value.read(tap) : column.appendNull()),
        put: value.put,
      };
    },
    skip: (tap) => {
      if (branch(tap)) inner.skip(tap);
    },
    width: 1,
  };
}

function mapRecord(schema: { [key: string]: unknown }, named: Map<string, AvroSchema>): Mapped {
  const fields = (schema.fields as { name: string; type: AvroSchema }[]).map((f) => ({
    name: f.name,
    mapped: mapAvro(f.type, named),
  }));
  const type = new arrow.Struct(fields.map((f) => fieldOf(f.name, f.mapped)));
  return {
    type,
    nullable: false,
    slot(tally) {
      const children = fields.map((f) => ({ name: f.name, slot: f.mapped.slot(tally) }));
      const column = new StructColumn(
        type,
        children.map((c) => c.slot.column),
        tally,
      );
      return {
        column,
        read(tap) {
          for (const child of children) child.slot.read(tap);
          column.close();
        },
        put: orNull(column, (v) => {
          const record = jsonObject(v);
          for (const child of children) child.slot.put(record[child.name]);
          column.close();
        }),
      };
    },
    skip(tap) {
      for (const f of fields) f.mapped.skip(tap);
    },
    width: fields.reduce((sum, f) => sum + f.mapped.width, 0),
  };
}

function mapArray(items: Mapped): Mapped {
  const type = new arrow.List(fieldOf('item', items));
  return {
    type,
    nullable: false,
    slot(tally) {
      const item = items.slot(tally);
      const column = new ListColumn(type, item.column, tally);
      const each = () => item.read(tap);
      let tap: AvroTap;
      return {
        column,
        read(from) {
          tap = from;
          from.blocks(each, items.width);
          column.close();
        },
        put: orNull(column, (v) => {
          if (!Array.isArray(v)) throw new Error(`expected an array, not ${JSON.stringify(v)}`);
          for (const x of v) item.put(x);
          column.close();
        }),
      };
    },
    skip: (tap) => tap.blocks(() => items.skip(tap), items.width),
    width: 1,
  };
}

function mapMap(values: Mapped): Mapped {
  const entries = new arrow.Struct([
    new arrow.Field('key', new arrow.Utf8(), false),
    fieldOf('value', values),
  ]);
  const type = new arrow.Map_(new arrow.Field('entries', entries, false));
  return {
    type,
    nullable: false,
    slot(tally) {
      const keys = new BytesColumn(entries.children[0]?.type as arrow.Utf8, tally);
      const value = values.slot(tally);
      const entry = new StructColumn(entries, [keys, value.column], tally);
      const column = new ListColumn(type, entry, tally);
      let tap: AvroTap;
      const each = () => {
        tap.bytesTo(keys);
        value.read(tap);
        entry.close();
      };
      return {
        column,
        read(from) {
          tap = from;
          from.blocks(each, 1 + values.width);
          column.close();
        },
        put: orNull(column, (v) => {
          for (const [k, x] of Object.entries(jsonObject(v))) {
            keys.appendString(k);
            value.put(x);
            entry.close();
          }
          column.close();
        }),
      };
    },
    skip: (tap) =>
      tap.blocks(() => {
        tap.bytes();
        values.skip(tap);
      }, 1 + values.width),
    width: 1,
  };
}

/**
 * Arrow's canonical UUID extension type: 16 bytes (RFC 4122 order) in a fixed_size_binary
 * column whose field says `ARROW:extension:name = arrow.uuid`; pyarrow, Arrow Java and
 * DuckDB read it as a UUID. (pulsar-spark, which has no UUID type in Spark, gives a string.)
 */
const uuidMetadata = new Map([
  ['ARROW:extension:name', 'arrow.uuid'],
  ['ARROW:extension:metadata', ''],
]);

/** Hex digit values by character code; -1 for other characters. */
const hexDigits = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  hexDigits[i.toString(16).charCodeAt(0)] = i;
  hexDigits[i.toString(16).toUpperCase().charCodeAt(0)] = i;
}

/** Where the canonical form's dashes are: 8-4-4-4-12 hex digits. */
const uuidDashes = [8, 13, 18, 23];

/** The 16 bytes parsed by `uuidBytes`, reused. */
const parsedUuid = new Uint8Array(16);

/**
 * Parses a UUID's canonical text (`source[start, end)`, any case) into `parsedUuid`;
 * false when it is not 8-4-4-4-12 hex digits.
 */
function uuidBytes(source: Uint8Array, start: number, end: number): boolean {
  if (end - start !== 36) return false;
  let out = 0;
  for (let i = start; i < end; ) {
    if (uuidDashes.includes(i - start)) {
      if (source[i++] !== 0x2d) return false;
      continue;
    }
    const high = hexDigits[source[i] as number] ?? -1;
    const low = hexDigits[source[i + 1] as number] ?? -1;
    if (high < 0 || low < 0) return false;
    parsedUuid[out++] = (high << 4) | low;
    i += 2;
  }
  return true;
}

const invalidUuid = (text: string) =>
  new Error(`${JSON.stringify(text.slice(0, 40))} is not a UUID (8-4-4-4-12 hex digits)`);

/**
 * A UUID column, from an Avro `string` (its canonical text, parsed: text that is no UUID
 * fails the message) or a `fixed` of 16 bytes (taken as they are).
 */
function uuid(base: 'string' | 'fixed'): Mapped {
  const type = new arrow.FixedSizeBinary(16);
  const text = base === 'string';
  return {
    type,
    nullable: false,
    metadata: uuidMetadata,
    slot(tally) {
      const column = new FixedBytesColumn(type, 16, tally);
      return {
        column,
        read: text
          ? (tap) => {
              const start = tap.bytes();
              if (!uuidBytes(tap.buf, start, tap.pos))
                throw invalidUuid(tap.buf.toString('utf8', start, Math.min(tap.pos, start + 40)));
              column.append(parsedUuid, 0);
            }
          : (tap) => column.append(tap.buf, tap.skip(16)),
        // JSON (Jackson writes a java.util.UUID as its text).
        put: orNull(column, (v) => {
          const value = Buffer.from(String(v), 'utf8');
          if (!uuidBytes(value, 0, value.length)) throw invalidUuid(String(v));
          column.append(parsedUuid, 0);
        }),
      };
    },
    skip: text ? (tap) => tap.bytes() : (tap) => tap.skip(16),
    width: text ? 1 : 16,
  };
}

/** The Avro base types a logical type may annotate (others are ignored, as Avro says). */
const logicalBases: Record<string, string[]> = {
  'timestamp-millis': ['long', 'int'],
  'local-timestamp-millis': ['long', 'int'],
  'timestamp-micros': ['long', 'int'],
  'local-timestamp-micros': ['long', 'int'],
  date: ['int', 'long'],
  'time-millis': ['int', 'long'],
  'time-micros': ['long', 'int'],
  decimal: ['bytes'],
  uuid: ['string'],
};

/**
 * A type whose Avro values are zigzag varints (int, long and their logical types): in a
 * 64-bit column (`wide`) or a 32-bit one; `json` turns a JSON value into the cell's.
 */
function varint(type: arrow.DataType, wide: boolean, json: (v: unknown) => number): Mapped {
  return {
    type,
    nullable: false,
    slot(tally) {
      if (wide) {
        const column = new Int64Column(type, tally);
        return {
          column,
          read: (tap) => tap.longTo(column),
          put: orNull(column, (v) => {
            // A string keeps all 64 bits; JSON numbers are doubles already.
            if (typeof v === 'string' && /^-?\d+$/.test(v)) return column.appendBigInt(BigInt(v));
            const n = json(v);
            if (Number.isSafeInteger(n)) column.append(n);
            else column.appendBigInt(BigInt(n));
          }),
        };
      }
      const column = new NumberColumn(type, tally);
      return {
        column,
        read: (tap) => column.append(tap.long()),
        put: orNull(column, (v) => column.append(json(v))),
      };
    },
    skip: (tap) => tap.long(),
    width: 1,
  };
}

/** A type of plain fixed-size values read by `read` into a number column. */
function numeric(type: arrow.DataType, size: number, read: (tap: AvroTap) => number): Mapped {
  return {
    type,
    nullable: false,
    slot(tally) {
      const column = new NumberColumn(type, tally);
      return {
        column,
        read: (tap) => column.append(read(tap)),
        put: orNull(column, (v) => column.append(Number(v))),
      };
    },
    skip: (tap) => tap.skip(size),
    width: size,
  };
}

/** Strings (utf8) and bytes (binary): length-prefixed, copied as they are. */
function lengthPrefixed(type: arrow.DataType): Mapped {
  const utf8 = arrow.DataType.isUtf8(type);
  return {
    type,
    nullable: false,
    slot(tally) {
      const column = new BytesColumn(type, tally);
      return {
        column,
        read: (tap) => tap.bytesTo(column),
        put: orNull(
          column,
          utf8
            ? (v) => column.appendString(String(v))
            : (v) => {
                // JSON (Jackson, as Pulsar's JSON schema writes it): bytes in base64.
                const bytes = Buffer.from(String(v), 'base64');
                column.appendBytes(bytes, 0, bytes.length);
              },
        ),
      };
    },
    skip: (tap) => tap.bytes(),
    width: 1,
  };
}

function mapPrimitive(type: string, schema: { [key: string]: unknown } | undefined): Mapped {
  const declared = schema?.logicalType as string | undefined;
  const logical = declared && logicalBases[declared]?.includes(type) ? declared : undefined;
  switch (logical) {
    case 'timestamp-millis':
    case 'local-timestamp-millis':
      return varint(
        new arrow.TimestampMillisecond(logical === 'timestamp-millis' ? 'UTC' : null),
        true,
        integer,
      );
    case 'timestamp-micros':
    case 'local-timestamp-micros':
      return varint(
        new arrow.TimestampMicrosecond(logical === 'timestamp-micros' ? 'UTC' : null),
        true,
        integer,
      );
    case 'date':
      return varint(new arrow.DateDay(), false, (v) => Math.floor(Number(v)));
    case 'time-millis':
      return varint(new arrow.TimeMillisecond(), false, Number);
    case 'time-micros':
      return varint(new arrow.TimeMicrosecond(), true, integer);
    case 'decimal':
      return decimal(schema as { [key: string]: unknown }, (tap) => tap.bytes(), 1);
    case 'uuid':
      return uuid('string');
    default:
      break;
  }
  switch (type) {
    case 'null':
      return {
        type: new arrow.Null(),
        nullable: true,
        slot(tally) {
          const column = new NullColumn(new arrow.Null(), tally);
          return { column, read: () => column.append(), put: () => column.append() };
        },
        skip() {},
        width: 0,
      };
    case 'boolean':
      return {
        type: new arrow.Bool(),
        nullable: false,
        slot(tally) {
          const column = new BoolColumn(new arrow.Bool(), tally);
          return {
            column,
            read: (tap) => column.append(tap.boolean()),
            put: orNull(column, (v) => column.append(Boolean(v))),
          };
        },
        skip: (tap) => tap.skip(1),
        width: 1,
      };
    case 'int':
      return varint(new arrow.Int32(), false, Number);
    case 'long':
      return varint(new arrow.Int64(), true, integer);
    case 'float':
      return numeric(new arrow.Float32(), 4, (tap) => tap.float());
    case 'double':
      return numeric(new arrow.Float64(), 8, (tap) => tap.double());
    case 'bytes':
      return lengthPrefixed(new arrow.Binary());
    case 'string':
      return lengthPrefixed(new arrow.Utf8());
    default:
      throw new UnsupportedSchemaError(`Avro type ${JSON.stringify(type)} is not supported`);
  }
}

/** A JSON value as an integer; anything else fails, as a fraction does. */
function integer(v: unknown): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`expected an integer, not ${JSON.stringify(v)}`);
  return n;
}

/**
 * Avro decimal → Arrow Decimal128: big-endian two's complement unscaled bytes (from
 * `bytes`, or a `fixed` that `read` moves past), a number in JSON.
 */
function decimal(
  schema: { [key: string]: unknown },
  read: (tap: AvroTap) => number,
  width: number,
): Mapped {
  const precision = schema.precision as number;
  const scale = (schema.scale as number | undefined) ?? 0;
  if (precision > 38)
    throw new UnsupportedSchemaError(`decimal precision ${precision} exceeds Decimal128's 38`);
  const type = new arrow.Decimal(scale, precision, 128);
  return {
    type,
    nullable: false,
    slot(tally) {
      const column = new FixedBytesColumn(type, 16, tally);
      return {
        column,
        read(tap) {
          const start = read(tap);
          column.appendBigEndian(tap.buf, start, tap.pos);
        },
        put: orNull(column, (v) =>
          column.appendInteger(BigInt(Math.round(Number(v) * 10 ** scale))),
        ),
      };
    },
    skip: (tap) => {
      read(tap);
    },
    width,
  };
}
