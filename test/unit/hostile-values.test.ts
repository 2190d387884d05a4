/**
 * Payloads a hostile or broken producer may write to any topic a stream reads: counts and
 * nesting that no payload of their size can carry fail that message with a ValueDecodeError
 * (the stream ends with FAILED_PRECONDITION after the rows before it) at once, instead of
 * looping or allocating for what they declare. No broker: the column writers alone.
 */
import test from 'ava';
import { maxItems } from '../../server/arrow/avro-tap.ts';
import { StreamSchema } from '../../server/arrow/batch-builder.ts';
import { avroType, maxJsonDepth } from '../../server/arrow/record-schema.ts';
import { topicSchema } from '../../server/arrow/topic-schema.ts';
import { UnsupportedSchemaError, ValueDecodeError } from '../../server/arrow/value-schema.ts';
import { PulsarSchemaType } from '../../server/pulsar/protocol/commands.ts';
import { testMessage } from '../support/messages.ts';

const info = (schema: unknown, type: number = PulsarSchemaType.AVRO) => ({
  name: 'hostile',
  type,
  data: Buffer.from(JSON.stringify(schema)),
  properties: {},
});

const record = (type: unknown) => ({
  type: 'record',
  name: 'R',
  fields: [{ name: 'a', type }],
});

const message = (payload: Buffer) => testMessage(payload);

/** Avro's zigzag varint of `n`. */
function zigzag(n: bigint): number[] {
  let z = n >= 0n ? n * 2n : -n * 2n - 1n;
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return out;
}

/** A payload of one array or map field: one block of `count` items, no item bytes. */
const lyingBlock = (count: bigint) => Buffer.from([...zigzag(count), 0]);

function appendTo(schema: unknown, payload: Buffer, type?: number) {
  const builder = new StreamSchema(topicSchema(info(schema, type))).builder();
  return () => builder.append(message(payload));
}

test('an array<null> block of 2^53 − 1 items in a 9-byte payload fails at once', (t) => {
  const started = performance.now();
  t.throws(appendTo(record({ type: 'array', items: 'null' }), lyingBlock(2n ** 53n - 1n)), {
    instanceOf: ValueDecodeError,
    message: /9007199254740991 more array or map items than a 9-byte payload may hold/,
  });
  t.log(`failed in ${(performance.now() - started).toFixed(1)} ms`);
});

test('zero-width items: as many as the payload may hold decode, one more fails', (t) => {
  const nulls = record({ type: 'array', items: 'null' });
  const empty = record({ type: 'array', items: { type: 'record', name: 'E', fields: [] } });
  for (const schema of [nulls, empty]) {
    // A 3-byte payload: a 2-byte count, then the end of the array.
    const fits = BigInt(maxItems(3));
    t.notThrows(appendTo(schema, lyingBlock(fits)));
    t.throws(appendTo(schema, lyingBlock(fits + 1n)), { instanceOf: ValueDecodeError });
    // Split over two blocks (a 4-byte payload), the limit is the same.
    const two = Buffer.from([...zigzag(BigInt(maxItems(4)) - 5n), ...zigzag(6n), 0]);
    t.throws(appendTo(schema, two), { instanceOf: ValueDecodeError, message: /may hold/ });
  }
  // Nested: the items of every array of the payload count together.
  const grid = record({ type: 'array', items: { type: 'array', items: 'null' } });
  const nested = Buffer.from([...zigzag(2n), ...zigzag(1000n), 0, ...zigzag(1000n), 0, 0]);
  t.throws(appendTo(grid, nested), { instanceOf: ValueDecodeError, message: /may hold/ });
});

test('items that take bytes: a count past the bytes left fails before any item is read', (t) => {
  const cases: [unknown, RegExp][] = [
    [{ type: 'array', items: 'int' }, /20000000 items of at least 1 bytes each, with 1 bytes left/],
    [{ type: 'array', items: 'double' }, /of at least 8 bytes each/],
    [{ type: 'map', values: 'null' }, /of at least 1 bytes each/],
    [{ type: 'map', values: 'float' }, /of at least 5 bytes each/],
    [
      {
        type: 'array',
        items: {
          type: 'record',
          name: 'P',
          fields: [
            { name: 'x', type: 'long' },
            { name: 'y', type: { type: 'fixed', name: 'F', size: 16 } },
          ],
        },
      },
      /of at least 17 bytes each/,
    ],
  ];
  for (const [type, message] of cases) {
    t.throws(appendTo(record(type), lyingBlock(20_000_000n)), {
      instanceOf: ValueDecodeError,
      message,
    });
  }
  // A block with a negative count gives its size in bytes: it must fit too.
  const sized = Buffer.from([...zigzag(-1n), ...zigzag(1000n), 2, 0]);
  t.throws(appendTo(record({ type: 'array', items: 'int' }), sized), {
    instanceOf: ValueDecodeError,
    message: /block of 1000 bytes runs past/,
  });
});

test('well-formed arrays and maps still decode, blocks with sizes included', (t) => {
  const schema = record({ type: 'array', items: 'int' });
  const builder = new StreamSchema(topicSchema(info(schema))).builder();
  builder.append(message(Buffer.from(avroType(schema).toBuffer({ a: [1, -2, 3] }))));
  // Two blocks, the second with its byte size (negative count).
  builder.append(message(Buffer.from([...zigzag(1n), 8, ...zigzag(-2n), ...zigzag(2n), 2, 4, 0])));
  t.deepEqual(
    builder
      .flush()
      .toArray()
      .map((r) => [...r.a]),
    [
      [1, -2, 3],
      [4, 1, 2],
    ],
  );
});

test('a payload of an older schema version is bounded too before avsc decodes it', (t) => {
  const v1 = record({ type: 'array', items: 'null' });
  const v2 = {
    ...v1,
    fields: [...v1.fields, { name: 'b', type: ['null', 'string'], default: null }],
  };
  const value = topicSchema(info(v2));
  const translate = value.translatorFor(info(v1));
  if (!translate) return t.fail('no translator');
  const started = performance.now();
  t.throws(() => translate(lyingBlock(2n ** 53n - 1n)), {
    instanceOf: ValueDecodeError,
    message: /may hold/,
  });
  t.log(`failed in ${(performance.now() - started).toFixed(1)} ms`);
});

test('a recursive AVRO schema is refused as unsupported, not a stack overflow', (t) => {
  const list = {
    type: 'record',
    name: 'Outer',
    fields: [
      {
        name: 'head',
        type: {
          type: 'record',
          name: 'Node',
          fields: [
            { name: 'v', type: 'int' },
            { name: 'next', type: ['null', 'Node'] },
          ],
        },
      },
    ],
  };
  t.throws(() => topicSchema(info(list)), {
    instanceOf: UnsupportedSchemaError,
    message: /Node contains itself/,
  });
});

test('JSON: nesting deeper than the limit fails before JSON.parse works through it', (t) => {
  const schema = record({ type: 'map', values: 'string' });
  const json = (body: string) => appendTo(schema, Buffer.from(body), PulsarSchemaType.JSON);
  const deep = (levels: number) => `{"x":${'['.repeat(levels)}${']'.repeat(levels)}}`;
  t.notThrows(json(deep(maxJsonDepth - 1)));
  const started = performance.now();
  t.throws(json(deep(2_000_000)), { instanceOf: ValueDecodeError, message: /deeper than 256/ });
  t.log(`2 M levels failed in ${(performance.now() - started).toFixed(1)} ms`);
  // Brackets inside strings are text, however many.
  t.notThrows(json(`{"a":{"k":"${'['.repeat(10_000)}\\"{"}}`));
});

test('JSON: a record or map field given something else than an object fails typed', (t) => {
  const schema = {
    type: 'record',
    name: 'J',
    fields: [
      { name: 'm', type: ['null', { type: 'map', values: 'string' }] },
      {
        name: 'r',
        type: ['null', { type: 'record', name: 'In', fields: [{ name: 'x', type: 'int' }] }],
      },
    ],
  };
  for (const bad of ['{"m":"abc"}', '{"m":[1,2]}', '{"r":"abc"}', '{"r":[1]}', '{"r":5}']) {
    t.throws(
      appendTo(schema, Buffer.from(bad), PulsarSchemaType.JSON),
      { instanceOf: ValueDecodeError, message: /expected a JSON object/ },
      bad,
    );
  }
});
