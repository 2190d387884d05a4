/**
 * KEY_VALUE topics → Arrow columns. The columns follow Pulsar SQL (the Trino connector):
 * the value part gives the columns a topic of the value schema alone would have (one per
 * record field, or `value` for a primitive), and the key part the same with names prefixed
 * `__key.` (`__key.<field>`, or `__key.value` for a primitive key). A null key or value
 * (INLINE length -1, or SEPARATED without a key / with a null value) makes its columns null.
 *
 * How Pulsar stores it (Java client `KeyValueSchemaInfo`, `KeyValue.encode`):
 * - the SchemaInfo's data is `[int32 BE length][key schema data][int32 BE length][value
 *   schema data]`; its properties name the parts' types (`key.schema.type`, default BYTES),
 *   names, properties (a JSON object) and `kv.encoding.type` (INLINE unless SEPARATED);
 * - INLINE: the payload is `[int32 BE length][key bytes][int32 BE length][value bytes]`,
 *   a length of -1 meaning null;
 * - SEPARATED: the payload is the value's bytes; the key's bytes are the message key
 *   (base64 when `partition_key_b64_encoded`, as the Java client always writes it).
 */
import * as arrow from 'apache-arrow';
import { PulsarSchemaType, type SchemaInfo } from '../pulsar/protocol/commands.ts';
import {
  type MessageKey,
  UnsupportedSchemaError,
  ValueDecodeError,
  type ValueSchema,
} from './value-schema.ts';

/** Prefix of the key part's column names (Pulsar SQL's `KEY_SCHEMA_COLUMN_PREFIX`). */
export const keyColumnPrefix = '__key.';

type Encoding = 'INLINE' | 'SEPARATED';

interface Parts {
  key: SchemaInfo;
  value: SchemaInfo;
  encoding: Encoding;
}

/** The key and value SchemaInfos inside a KEY_VALUE SchemaInfo. */
export function keyValueParts(info: SchemaInfo): Parts {
  const encoding = info.properties['kv.encoding.type'] || 'INLINE';
  if (encoding !== 'INLINE' && encoding !== 'SEPARATED') {
    throw new UnsupportedSchemaError(`unknown KEY_VALUE encoding ${JSON.stringify(encoding)}`);
  }
  let halves: [Buffer | undefined, Buffer | undefined];
  try {
    halves = splitInline(info.data);
  } catch (error) {
    throw new UnsupportedSchemaError(
      `the topic's KEY_VALUE schema data is malformed: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return {
    key: part(info, 'key', halves[0]),
    value: part(info, 'value', halves[1]),
    encoding,
  };
}

function part(info: SchemaInfo, which: 'key' | 'value', data: Buffer | undefined): SchemaInfo {
  const typeName = info.properties[`${which}.schema.type`] || 'BYTES';
  // Java's SchemaType.BYTES is the protocol's None.
  const type =
    typeName === 'BYTES'
      ? PulsarSchemaType.NONE
      : (PulsarSchemaType as Record<string, number>)[typeName];
  if (type === undefined) {
    throw new UnsupportedSchemaError(
      `unknown ${which} schema type ${typeName} in KEY_VALUE schema`,
    );
  }
  if (type === PulsarSchemaType.KEY_VALUE) {
    throw new UnsupportedSchemaError(`a KEY_VALUE schema nested in a KEY_VALUE schema`);
  }
  let properties: Record<string, string> = {};
  const json = info.properties[`${which}.schema.properties`];
  if (json) {
    try {
      properties = JSON.parse(json) as Record<string, string>;
    } catch {
      // The properties only annotate the part (e.g. __alwaysAllowNull); its data is whole.
    }
  }
  return {
    name: info.properties[`${which}.schema.name`] ?? '',
    type,
    data: data ?? Buffer.alloc(0),
    properties,
  };
}

/**
 * `[int32 BE length][bytes][int32 BE length][bytes]` → the two byte strings, undefined for
 * a length of -1. Throws on lengths that do not fit the buffer.
 */
function splitInline(data: Buffer): [Buffer | undefined, Buffer | undefined] {
  let offset = 0;
  const next = (what: string): Buffer | undefined => {
    if (offset + 4 > data.length) {
      throw new ValueDecodeError(
        `the ${what} length needs 4 bytes at offset ${offset}, ${data.length} bytes in all`,
      );
    }
    const length = data.readInt32BE(offset);
    offset += 4;
    if (length === -1) return undefined;
    if (length < 0 || offset + length > data.length) {
      throw new ValueDecodeError(
        `the ${what} length ${length} at offset ${offset - 4} runs past the ${data.length} bytes`,
      );
    }
    const bytes = data.subarray(offset, offset + length);
    offset += length;
    return bytes;
  };
  const key = next('key');
  const value = next('value');
  if (offset !== data.length) {
    throw new ValueDecodeError(
      `${data.length - offset} bytes follow the value (${offset} expected in all)`,
    );
  }
  return [key, value];
}

/** Every column nullable: a null key or value nulls all of its part's columns. */
function nullable(fields: arrow.Field[], prefix: string): arrow.Field[] {
  return fields.map((f) => new arrow.Field(`${prefix}${f.name}`, f.type, true, f.metadata));
}

/**
 * The columns of a KEY_VALUE schema, written by the key and value parts' own writers;
 * `partSchema` maps each part's schema (topic-schema.ts passes its own dispatch).
 */
export function keyValueSchema(
  info: SchemaInfo,
  partSchema: (part: SchemaInfo) => ValueSchema,
): ValueSchema {
  const parts = keyValueParts(info);
  const key = partSchema(parts.key);
  const value = partSchema(parts.value);
  const fields = [...nullable(value.fields, ''), ...nullable(key.fields, keyColumnPrefix)];
  const names = new Set<string>();
  for (const f of fields) {
    if (names.has(f.name)) {
      throw new UnsupportedSchemaError(`KEY_VALUE schema: two columns would be named ${f.name}`);
    }
    names.add(f.name);
  }
  const valueCount = value.fields.length;
  const inline = parts.encoding === 'INLINE';
  return {
    typeName: 'KEY_VALUE',
    fields,
    writer(kept, tally) {
      // Value columns come first, so each part's data follows the order of `kept`.
      const values = value.writer(
        kept.filter((i) => i < valueCount),
        tally,
      );
      const keys = key.writer(
        kept.filter((i) => i >= valueCount).map((i) => i - valueCount),
        tally,
      );
      const write = (
        keyBytes: Buffer | undefined,
        valueBytes: Buffer | undefined,
        m: MessageKey,
      ) => {
        if (valueBytes === undefined) values.appendNull(m);
        else values.append(valueBytes, m);
        if (keyBytes === undefined) keys.appendNull(m);
        else keys.append(keyBytes, m);
      };
      return {
        append(payload, message) {
          if (inline) write(...inlineHalves(payload), message);
          else write(separatedKey(message), payload, message);
        },
        // INLINE keeps the key in the payload too; SEPARATED in the message key.
        appendNull(message) {
          write(inline ? undefined : separatedKey(message), undefined, message);
        },
        finish: () => [...values.finish(), ...keys.finish()],
      };
    },
    translatorFor(writer) {
      if (writer.type !== PulsarSchemaType.KEY_VALUE) return undefined;
      let theirs: Parts;
      try {
        theirs = keyValueParts(writer);
      } catch {
        return undefined;
      }
      // The encoding decides where the key is: another one cannot be read as this one.
      if (theirs.encoding !== parts.encoding) return undefined;
      const translateValue = value.translatorFor(theirs.value);
      if (!translateValue) return undefined;
      if (!inline) {
        // The key part is in the message key, which a payload translation cannot reach:
        // only the same key schema reads.
        return sameInfo(theirs.key, parts.key) ? translateValue : undefined;
      }
      const translateKey = key.translatorFor(theirs.key);
      if (!translateKey) return undefined;
      return (payload) => {
        const [k, v] = inlineHalves(payload);
        return joinInline(k && translateKey(k), v && translateValue(v));
      };
    },
  };
}

function sameInfo(a: SchemaInfo, b: SchemaInfo): boolean {
  return a.type === b.type && a.data.equals(b.data);
}

/** An INLINE payload's key and value bytes; ValueDecodeError when it is not one. */
function inlineHalves(payload: Buffer): [Buffer | undefined, Buffer | undefined] {
  try {
    return splitInline(payload);
  } catch (error) {
    throw new ValueDecodeError(
      `message is not a KEY_VALUE INLINE payload: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function joinInline(key: Buffer | undefined, value: Buffer | undefined): Buffer {
  const part = (bytes: Buffer | undefined) => {
    const length = Buffer.alloc(4);
    length.writeInt32BE(bytes === undefined ? -1 : bytes.length);
    return bytes === undefined ? [length] : [length, bytes];
  };
  return Buffer.concat([...part(key), ...part(value)]);
}

/** A SEPARATED message's key part: the message key's bytes (base64 as the Java client writes). */
function separatedKey(message: MessageKey): Buffer | undefined {
  const k = message.key;
  return k === undefined ? undefined : Buffer.from(k, message.keyIsBase64 ? 'base64' : 'utf8');
}
