/**
 * Hostile payloads through a real gateway: a producer may write any bytes to a topic that a
 * stream reads (here the official Python client, schemaless). A payload that declares more
 * than it can carry ends that stream with FAILED_PRECONDITION after the rows before it,
 * promptly, and the gateway goes on serving every other stream.
 */
import test from 'ava';
import { allRows, collect, useGateway } from './support/gateway.ts';
import { freshTopic, produce } from './support/pulsar.ts';

const gw = useGateway(test);

const nulls = {
  type: 'record',
  name: 'Nulls',
  namespace: 'seam.test',
  fields: [
    { name: 'id', type: 'int' },
    { name: 'a', type: { type: 'array', items: 'null' } },
  ],
};

test('an AVRO array<null> declaring 2^53 − 1 items ends the stream with FAILED_PRECONDITION at once', async (t) => {
  const topic = freshTopic('hostile-avro');
  await produce(topic, {
    schema: 'avro',
    schemaDefinition: nulls,
    messages: [{ value: { id: 1, a: [null, null] } }],
  });
  // id 2, then one block of 2^53 − 1 nulls (a 9-byte zigzag count), then the end.
  const bomb = Buffer.from([4, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0]);
  await produce(topic, { messages: [{ value_b64: bomb.toString('base64') }] });
  const started = Date.now();
  const result = await collect(gw, { topic, at_open: {} }, { timeoutMs: 30_000 });
  t.log(`ended after ${Date.now() - started} ms: ${result.status.details}`);
  t.is(result.status.code, 9, result.status.details);
  t.regex(result.status.details, /9007199254740991 more array or map items than/);
  t.deepEqual(
    allRows(result).map((r) => r.id),
    [1],
    'the row before it is delivered',
  );
  // The gateway still serves.
  const again = freshTopic('hostile-after');
  await produce(again, { count: 3 });
  const read = await collect(gw, { topic: again, at_open: {} });
  t.is(read.status.code, 0);
  t.is(allRows(read).length, 3);
});
