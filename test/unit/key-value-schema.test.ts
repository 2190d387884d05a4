/**
 * KEY_VALUE schema data and payloads, byte by byte as the Java client's `KeyValue.encode`
 * and `KeyValueSchemaInfo` lay them out (int32 big-endian lengths, -1 for null), without
 * a broker: the edges the official clients do not write.
 */
import * as arrow from 'apache-arrow';
import test from 'ava';
import { Tally } from '../../server/arrow/columns.ts';
import { topicSchema } from '../../server/arrow/topic-schema.ts';
import {
  UnsupportedSchemaError,
  ValueDecodeError,
  type ValueSchema,
} from '../../server/arrow/value-schema.ts';
import type { SchemaInfo } from '../../server/pulsar/protocol/commands.ts';

/** `[int32 BE length][bytes]` for each part; null → length -1. */
function framed(...parts: (Buffer | null)[]): Buffer {
  return Buffer.concat(
    parts.flatMap((p) => {
      const length = Buffer.alloc(4);
      length.writeInt32BE(p === null ? -1 : p.length);
      return p === null ? [length] : [length, p];
    }),
  );
}

const record = JSON.stringify({
  type: 'record',
  name: 'V',
  fields: [{ name: 'n', type: 'int' }],
});

function info(encoding: string | undefined, keyType?: string): SchemaInfo {
  return {
    name: 'KeyValue',
    type: 15,
    data: framed(Buffer.alloc(0), Buffer.from(record)),
    properties: {
      ...(keyType ? { 'key.schema.type': keyType } : {}),
      'value.schema.type': 'JSON',
      'value.schema.properties': '{"__alwaysAllowNull":"true"}',
      ...(encoding ? { 'kv.encoding.type': encoding } : {}),
    },
  };
}

const message = { key: undefined as string | undefined, keyIsBase64: false, nullValue: false };
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

/** One message as the schema's writer writes it: its row's cells, in field order. */
function rowOf(schema: ValueSchema) {
  return (payload: Buffer, m: typeof message): unknown[] => {
    const writer = schema.writer(
      schema.fields.map((_, i) => i),
      new Tally(),
    );
    if (m.nullValue) writer.appendNull(m);
    else writer.append(payload, m);
    return writer.finish().map((data) => arrow.makeVector(data).get(0));
  };
}

test('columns: the value part, then the key part prefixed __key.; a missing key type is BYTES', (t) => {
  const schema = topicSchema(info(undefined));
  t.deepEqual(
    schema.fields.map((f) => `${f.name}:${f.type}:${f.nullable}`),
    ['n:Int32:true', '__key.value:Binary:true'],
  );
  t.is(schema.typeName, 'KEY_VALUE');
});

test('INLINE: lengths of -1 are null parts; lengths past the end or trailing bytes fail', (t) => {
  const decode = rowOf(topicSchema(info('INLINE', 'STRING')));
  t.deepEqual(decode(framed(Buffer.from('k'), json({ n: 7 })), message), [7, 'k']);
  t.deepEqual(decode(framed(null, json({ n: 7 })), message), [7, null]);
  t.deepEqual(decode(framed(Buffer.from(''), null), message), [null, '']);
  const past = framed(Buffer.from('k'), json({ n: 7 }));
  past.writeInt32BE(99, 0);
  t.throws(() => decode(past, message), {
    instanceOf: ValueDecodeError,
    message: /key length 99 at offset 0 runs past the 16 bytes/,
  });
  t.throws(() => decode(Buffer.concat([framed(null, null), Buffer.from([1])]), message), {
    instanceOf: ValueDecodeError,
    message: /1 bytes follow the value/,
  });
  t.throws(() => decode(Buffer.from([0, 0]), message), {
    instanceOf: ValueDecodeError,
    message: /key length needs 4 bytes/,
  });
  const negative = framed(null, null);
  negative.writeInt32BE(-2, 4);
  t.throws(() => decode(negative, message), { instanceOf: ValueDecodeError });
});

test('SEPARATED: the key from the message key (base64 or not); null values and keys', (t) => {
  const decode = rowOf(topicSchema(info('SEPARATED', 'STRING')));
  const b64 = { ...message, key: Buffer.from('clé').toString('base64'), keyIsBase64: true };
  t.deepEqual(decode(json({ n: 1 }), b64), [1, 'clé']);
  t.deepEqual(decode(json({ n: 2 }), { ...message, key: 'plain' }), [2, 'plain']);
  t.deepEqual(decode(json({ n: 3 }), message), [3, null]);
  t.deepEqual(decode(Buffer.alloc(0), { ...b64, nullValue: true }), [null, 'clé']);
});

test('a writer with the other encoding cannot be read; the same parts can', (t) => {
  const schema = topicSchema(info('SEPARATED', 'STRING'));
  t.is(schema.translatorFor(info('INLINE', 'STRING')), undefined);
  t.is(schema.translatorFor(info('SEPARATED', 'INT32')), undefined);
  t.is(schema.translatorFor({ ...info('SEPARATED'), type: 4 }), undefined);
  const same = schema.translatorFor(info('SEPARATED', 'STRING'));
  t.truthy(same);
  t.deepEqual(rowOf(schema)(same?.(json({ n: 4 })) as Buffer, { ...message, key: 'x' }), [4, 'x']);
});

test('bad schema data or properties are UnsupportedSchemaError', (t) => {
  t.throws(() => topicSchema(info('SIDEWAYS')), {
    instanceOf: UnsupportedSchemaError,
    message: /unknown KEY_VALUE encoding "SIDEWAYS"/,
  });
  t.throws(() => topicSchema(info('INLINE', 'NOPE')), {
    instanceOf: UnsupportedSchemaError,
    message: /unknown key schema type NOPE/,
  });
  t.throws(() => topicSchema({ ...info('INLINE'), data: Buffer.from([0, 0, 0, 9]) }), {
    instanceOf: UnsupportedSchemaError,
    message: /schema data is malformed/,
  });
  t.throws(() => topicSchema(info('INLINE', 'KEY_VALUE')), {
    instanceOf: UnsupportedSchemaError,
  });
});
