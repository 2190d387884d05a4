/**
 * uuid columns end to end: AVRO `uuid` values the official Python client wrote (fastavro
 * encodes them) come out of the gateway as Arrow's canonical `arrow.uuid` extension type,
 * which pyarrow reads as UUIDs equal to what the official client reads; a value that is no
 * UUID ends the stream with FAILED_PRECONDITION after the rows before it.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { allRows, collect, useGateway } from './support/gateway.ts';
import { freshTopic, produce, readOfficial, runProgram } from './support/pulsar.ts';

const gw = useGateway(test);
const root = fileURLToPath(new URL('..', import.meta.url));

const schema = {
  type: 'record',
  name: 'Order',
  namespace: 'seam.test',
  fields: [
    { name: 'n', type: 'int' },
    { name: 'uid', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'maybe', type: ['null', { type: 'string', logicalType: 'uuid' }], default: null },
  ],
};

/** Reads the topic with Seam's Python client; the uuid columns' pyarrow types and values. */
const pyarrowRead = `
import json, sys
sys.path.insert(0, sys.argv[3])
import pulsar_seam
table = pulsar_seam.read(sys.argv[1], sys.argv[2]).read_all()
print(json.dumps({
  "types": [str(table.schema.field(n).type) for n in ("uid", "maybe")],
  "uid": [str(u) for u in table.column("uid").to_pylist()],
  "maybe": [None if u is None else str(u) for u in table.column("maybe").to_pylist()],
}))
`;

test('AVRO uuids the official client wrote read in pyarrow as arrow.uuid, equal to its values', async (t) => {
  const topic = freshTopic('uuid-avro');
  const ids = Array.from({ length: 6 }, () => randomUUID());
  await produce(topic, {
    schema: 'avro',
    schemaDefinition: schema,
    messages: ids.map((uid, n) => ({ value: { n, uid, maybe: n % 2 ? null : uid.toUpperCase() } })),
  });
  const official = await readOfficial(topic, { avroSchema: schema });
  const out = JSON.parse(
    await runProgram(
      `${root}.venv/bin/python`,
      ['-c', pyarrowRead, `127.0.0.1:${gw.gateway.port}`, topic, `${root}clients/python`],
      '',
      'pyarrow read',
    ),
  ) as { types: string[]; uid: string[]; maybe: (string | null)[] };
  t.deepEqual(out.types, ['extension<arrow.uuid>', 'extension<arrow.uuid>']);
  const values = official.map((m) => m.value as { uid: string; maybe: string | null });
  t.deepEqual(
    out.uid,
    values.map((v) => v.uid),
  );
  t.deepEqual(
    out.maybe,
    values.map((v) => v.maybe?.toLowerCase() ?? null),
  );
});

test('a uuid value that is no UUID ends the stream with FAILED_PRECONDITION after the rows before it', async (t) => {
  const topic = freshTopic('uuid-bad');
  await produce(topic, {
    schema: 'avro',
    schemaDefinition: schema,
    messages: [{ value: { n: 1, uid: randomUUID(), maybe: null } }],
  });
  // A schemaless producer writes n = 2 and a uid of 5 characters.
  const bad = Buffer.concat([Buffer.from([4, 10]), Buffer.from('nouid'), Buffer.from([0])]);
  await produce(topic, { messages: [{ value_b64: bad.toString('base64') }] });
  const result = await collect(gw, { topic, at_open: {} });
  t.is(result.status.code, 9, result.status.details);
  t.regex(result.status.details, /"nouid" is not a UUID/);
  t.deepEqual(
    allRows(result).map((r) => r.n),
    [1],
  );
});
