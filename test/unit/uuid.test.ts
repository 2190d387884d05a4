/**
 * AVRO and JSON `uuid` → Arrow's canonical `arrow.uuid` extension type: fixed_size_binary(16)
 * with the extension name in the field's metadata; text that is no UUID fails its message
 * with a ValueDecodeError (FAILED_PRECONDITION for the stream, after the rows before it).
 */
import { randomUUID } from 'node:crypto';
import type * as arrow from 'apache-arrow';
import test from 'ava';
import { StreamSchema } from '../../server/arrow/batch-builder.ts';
import { avroType } from '../../server/arrow/record-schema.ts';
import { topicSchema } from '../../server/arrow/topic-schema.ts';
import { ValueDecodeError } from '../../server/arrow/value-schema.ts';
import { PulsarSchemaType } from '../../server/pulsar/protocol/commands.ts';
import { testMessage } from '../support/messages.ts';

const schema = {
  type: 'record',
  name: 'U',
  fields: [
    { name: 'id', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'maybe', type: ['null', { type: 'string', logicalType: 'uuid' }], default: null },
    { name: 'raw', type: { type: 'fixed', name: 'Raw', size: 16, logicalType: 'uuid' } },
    { name: 'many', type: { type: 'array', items: { type: 'string', logicalType: 'uuid' } } },
  ],
};
const info = (type: number) => ({
  name: 'u',
  type,
  data: Buffer.from(JSON.stringify(schema)),
  properties: {},
});

const message = (payload: Buffer) => testMessage(payload);

const bytesOf = (uuid: string) => Buffer.from(uuid.replaceAll('-', ''), 'hex');
const hex = (value: unknown) => Buffer.from(value as Uint8Array).toString('hex');

test('uuid fields are fixed_size_binary(16) with the arrow.uuid extension name, nested ones too', (t) => {
  const fields = topicSchema(info(PulsarSchemaType.AVRO)).fields;
  t.deepEqual(
    fields.map((f) => `${f.name}${f.nullable ? '?' : ''}:${f.type}`),
    [
      'id:FixedSizeBinary[16]',
      'maybe?:FixedSizeBinary[16]',
      'raw:FixedSizeBinary[16]',
      'many:List<FixedSizeBinary[16]>',
    ],
  );
  for (const field of [
    ...fields.slice(0, 3),
    (fields[3]?.type as arrow.List | undefined)?.children[0],
  ]) {
    t.is(field?.metadata.get('ARROW:extension:name'), 'arrow.uuid', field?.name);
    t.is(field?.metadata.get('ARROW:extension:metadata'), '');
  }
});

test('AVRO and JSON uuids read as their 16 bytes, in any case', (t) => {
  const ids = [randomUUID(), randomUUID().toUpperCase(), '00000000-0000-0000-0000-000000000000'];
  const avro = avroType(schema);
  for (const type of [PulsarSchemaType.AVRO, PulsarSchemaType.JSON]) {
    const builder = new StreamSchema(topicSchema(info(type)), [
      'id',
      'maybe',
      'raw',
      'many',
    ]).builder();
    for (const [i, id] of ids.entries()) {
      const value = { id, maybe: i === 1 ? null : id, raw: bytesOf(id), many: [id, ids[0]] };
      builder.append(
        message(
          type === PulsarSchemaType.AVRO
            ? (avro.toBuffer(value) as Buffer)
            : Buffer.from(JSON.stringify({ ...value, raw: id })),
        ),
      );
    }
    const rows = builder.flush().toArray();
    t.deepEqual(
      rows.map((r) => [
        hex(r.id),
        r.maybe === null ? null : hex(r.maybe),
        hex(r.raw),
        [...r.many].map(hex),
      ]),
      ids.map((id, i) => {
        const b = bytesOf(id).toString('hex');
        return [b, i === 1 ? null : b, b, [b, bytesOf(ids[0] as string).toString('hex')]];
      }),
      String(type),
    );
  }
});

test('text that is no UUID fails its message with a ValueDecodeError', (t) => {
  const good = randomUUID();
  const bad = [
    good.slice(1),
    `${good}0`,
    good.replaceAll('-', ''),
    `${good.slice(0, 8)}_${good.slice(9)}`,
    `g${good.slice(1)}`,
    `${good.slice(0, 35)}é`,
    `{${good.slice(1, 35)}}`,
    '',
  ];
  const avro = avroType({ ...schema, fields: schema.fields.slice(0, 1) });
  for (const text of bad) {
    const builder = new StreamSchema(topicSchema(info(PulsarSchemaType.AVRO)), ['id']).builder();
    // avsc writes any string for a uuid field, as a producer could.
    const payload = Buffer.concat([
      avro.toBuffer({ id: text }) as Buffer,
      Buffer.from([0, 0x2, ...bytesOf(good), 0]),
    ]);
    t.throws(
      () => builder.append(message(payload)),
      { instanceOf: ValueDecodeError, message: /is not a UUID/ },
      text,
    );
    const json = new StreamSchema(topicSchema(info(PulsarSchemaType.JSON)), ['id']).builder();
    t.throws(() => json.append(message(Buffer.from(JSON.stringify({ id: text })))), {
      instanceOf: ValueDecodeError,
      message: /is not a UUID/,
    });
  }
});
