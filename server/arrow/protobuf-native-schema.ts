/**
 * PROTOBUF_NATIVE topics → Arrow columns: one column per field of the root message.
 * Pulsar stores the schema (Java `ProtobufNativeSchemaData`, Python `ProtobufNativeSchema`)
 * as JSON `{fileDescriptorSet: base64 FileDescriptorSet, rootMessageTypeName,
 * rootFileDescriptorName}`; payloads are the message's protobuf encoding.
 *
 * Scalars are never null (proto3: an unset field reads as its default, as every protobuf
 * reader shows it), except fields with explicit presence (proto3 `optional`, proto2
 * `optional`, oneof members), which are null when unset; message fields are nullable
 * Structs, repeated → List, map → Map, enums → dictionary-encoded utf8 (the value's name).
 */
import * as arrow from 'apache-arrow';
import protobuf from 'protobufjs';
import 'protobufjs/ext/descriptor/index.js';
import { PulsarSchemaType, type SchemaInfo } from '../pulsar/protocol/commands.ts';
import type { Tally } from './columns.ts';
import {
  sameSchema,
  UnsupportedSchemaError,
  ValueDecodeError,
  type ValueSchema,
  type ValueWriter,
} from './value-schema.ts';

interface Mapped {
  type: arrow.DataType;
  convert: (value: unknown) => unknown;
}

const identity = (v: unknown) => v;
const toBigInt = (v: unknown) => (v == null ? null : BigInt(String(v)));

/** protobufjs scalar type names → Arrow. 64-bit integers arrive as strings (`longs: String`). */
const scalars: Record<string, () => Mapped> = {
  double: () => ({ type: new arrow.Float64(), convert: identity }),
  float: () => ({ type: new arrow.Float32(), convert: identity }),
  int32: () => ({ type: new arrow.Int32(), convert: identity }),
  sint32: () => ({ type: new arrow.Int32(), convert: identity }),
  sfixed32: () => ({ type: new arrow.Int32(), convert: identity }),
  uint32: () => ({ type: new arrow.Uint32(), convert: identity }),
  fixed32: () => ({ type: new arrow.Uint32(), convert: identity }),
  int64: () => ({ type: new arrow.Int64(), convert: toBigInt }),
  sint64: () => ({ type: new arrow.Int64(), convert: toBigInt }),
  sfixed64: () => ({ type: new arrow.Int64(), convert: toBigInt }),
  uint64: () => ({ type: new arrow.Uint64(), convert: toBigInt }),
  fixed64: () => ({ type: new arrow.Uint64(), convert: toBigInt }),
  bool: () => ({ type: new arrow.Bool(), convert: identity }),
  string: () => ({ type: new arrow.Utf8(), convert: identity }),
  bytes: () => ({ type: new arrow.Binary(), convert: identity }),
};

/** A field's value type (without repetition), resolved in the descriptor's root. */
function mapValue(field: protobuf.Field, path: string[]): Mapped {
  const resolved = field.resolve().resolvedType;
  if (resolved instanceof protobuf.Enum) {
    return { type: new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()), convert: identity };
  }
  if (resolved instanceof protobuf.Type) return mapMessage(resolved, path);
  const scalar = scalars[field.type];
  if (!scalar) throw new UnsupportedSchemaError(`protobuf type ${field.type} is not supported`);
  return scalar();
}

function mapMessage(type: protobuf.Type, path: string[]): Mapped {
  if (path.includes(type.fullName)) {
    throw new UnsupportedSchemaError(
      `protobuf message ${type.fullName.replace(/^\./, '')} contains itself: recursive messages have no Arrow type`,
    );
  }
  const fields = type.fieldsArray.map((f) => ({
    name: f.name,
    ...mapField(f, [...path, type.fullName]),
  }));
  return {
    type: new arrow.Struct(fields.map((f) => new arrow.Field(f.name, f.type, f.nullable))),
    convert: (v) => {
      if (v == null) return null;
      const record = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of fields) out[f.name] = f.convert(record[f.name]);
      return out;
    },
  };
}

/**
 * A map field's key and value fields: a `MapField`, or (as protobufjs loads descriptors) a
 * repeated message field whose type is a map entry.
 */
function mapParts(field: protobuf.Field): [string, protobuf.Field] | undefined {
  if (field instanceof protobuf.MapField) return [field.keyType, field];
  const entry = field.resolve().resolvedType;
  if (!field.repeated || !(entry instanceof protobuf.Type)) return undefined;
  if (entry.getOption('map_entry') !== true) return undefined;
  const key = entry.fields.key;
  const value = entry.fields.value;
  return key && value ? [key.type, value] : undefined;
}

function mapField(field: protobuf.Field, path: string[]): Mapped & { nullable: boolean } {
  const map = mapParts(field);
  if (map) {
    const keyType = scalars[map[0]]?.();
    if (!keyType) throw new UnsupportedSchemaError(`protobuf map key ${map[0]}`);
    const value = mapValue(map[1], path);
    const entries = new arrow.Struct([
      new arrow.Field('key', keyType.type, false),
      new arrow.Field('value', value.type, true),
    ]);
    return {
      type: new arrow.Map_(new arrow.Field('entries', entries, false)),
      nullable: false,
      convert: (v) => {
        // A MapField decodes to an object; a map-entry field to a list of {key, value}.
        const entries = Array.isArray(v)
          ? (v as { key: unknown; value: unknown }[]).map((e) => [e.key, e.value])
          : Object.entries((v ?? {}) as Record<string, unknown>);
        const out = new Map<unknown, unknown>();
        for (const [k, item] of entries) out.set(keyType.convert(k), value.convert(item));
        return out;
      },
    };
  }
  const value = mapValue(field, path);
  if (field.repeated) {
    return {
      type: new arrow.List(new arrow.Field('item', value.type, false)),
      nullable: false,
      convert: (v) => ((v ?? []) as unknown[]).map(value.convert),
    };
  }
  const isMessage = field.resolvedType instanceof protobuf.Type;
  // Explicit presence: unset reads as null, not as the default.
  const presence = isMessage || field.partOf !== null || field.hasPresence;
  return {
    type: value.type,
    nullable: presence,
    convert: (v) => (v == null ? null : value.convert(v)),
  };
}

/** The columns of a PROTOBUF_NATIVE schema and its decoder. */
export function protobufNativeSchema(info: SchemaInfo): ValueSchema {
  let root: protobuf.Root;
  let type: protobuf.Type;
  try {
    const data = JSON.parse(info.data.toString('utf8')) as {
      fileDescriptorSet: string;
      rootMessageTypeName: string;
    };
    root = (
      protobuf.Root as unknown as { fromDescriptor(d: Uint8Array): protobuf.Root }
    ).fromDescriptor(Buffer.from(data.fileDescriptorSet, 'base64'));
    root.resolveAll();
    type = root.lookupType(data.rootMessageTypeName);
  } catch (error) {
    if (error instanceof UnsupportedSchemaError) throw error;
    throw new UnsupportedSchemaError(
      `the topic's PROTOBUF_NATIVE schema does not load: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const fields = type.fieldsArray.map((f) => ({ name: f.name, ...mapField(f, [type.fullName]) }));
  const name = type.fullName.replace(/^\./, '');
  const decode = (payload: Buffer) => {
    let object: Record<string, unknown>;
    try {
      // Defaults for unset scalars (proto3 reads them so); fields with presence stay unset.
      object = type.toObject(type.decode(payload), {
        longs: String,
        enums: String,
        defaults: true,
        arrays: true,
        objects: true,
        oneofs: false,
      });
    } catch (error) {
      throw new ValueDecodeError(
        `message does not decode as protobuf ${name}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return fields.map((f) => f.convert(object[f.name]));
  };
  const arrowFields = fields.map((f) => new arrow.Field(f.name, f.type, f.nullable));
  return {
    typeName: 'PROTOBUF_NATIVE',
    fields: arrowFields,
    writer: (kept, tally) => builderWriter(arrowFields, kept, tally, decode),
    // Protobuf reads by field number: any version's bytes fill this version's columns.
    translatorFor: (writer) =>
      writer.type === PulsarSchemaType.PROTOBUF_NATIVE ? sameSchema : undefined,
  };
}

/**
 * Writes decoded values with apache-arrow's builders: protobufjs hands out JS objects, so
 * the column writers' byte-level paths (AVRO, JSON) have nothing to gain here.
 */
function builderWriter(
  fields: arrow.Field[],
  kept: readonly number[],
  tally: Tally,
  decode: (payload: Buffer) => unknown[],
): ValueWriter {
  const builders = kept.map((i) =>
    arrow.makeBuilder({ type: (fields[i] as arrow.Field).type, nullValues: [null, undefined] }),
  );
  let counted = 0;
  const count = () => {
    let bytes = 0;
    for (const b of builders) bytes += b.byteLength;
    tally.bytes += bytes - counted;
    counted = bytes;
  };
  return {
    append(payload) {
      const values = decode(payload); // before any cell: a bad payload writes nothing
      for (let i = 0; i < kept.length; i++) {
        (builders[i] as arrow.Builder).append(values[kept[i] as number]);
      }
      count();
    },
    appendNull() {
      for (const b of builders) b.append(null);
      count();
    },
    finish() {
      counted = 0;
      return builders.map((b) => b.flush());
    },
  };
}
