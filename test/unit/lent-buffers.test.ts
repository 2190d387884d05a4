/**
 * Lent column buffers (server/arrow/lent-buffers.ts): a large value buffer comes back for a
 * later batch only once the response of the batch that held it was serialized, and every
 * batch still reads back as written.
 */
import * as arrow from 'apache-arrow';
import test from 'ava';
import { apiType } from '../../server/api.ts';
import { BytesColumn, Tally } from '../../server/arrow/columns.ts';
import { batchMessages, schemaMessage } from '../../server/arrow/flight.ts';
import { giveBack, lendBuffer } from '../../server/arrow/lent-buffers.ts';
import { Response, serializeResponse } from '../../server/grpc/responses.ts';

const KiB = 1024;

test.serial('a given-back buffer is lent again, the smallest that fits, once', (t) => {
  const small = lendBuffer(80 * KiB);
  const large = lendBuffer(200 * KiB);
  giveBack([new Uint8Array(large), new Uint8Array(small, 10, 5)]);
  // The same buffer given back again (another view of it) is not kept twice.
  giveBack([new Uint8Array(small)]);
  t.is(lendBuffer(70 * KiB), small, 'the smallest that fits');
  t.is(lendBuffer(70 * KiB), large);
  const fresh = lendBuffer(70 * KiB);
  t.not(fresh, small);
  t.not(fresh, large);
  t.true(fresh.byteLength >= 70 * KiB);
});

test.serial('small buffers and buffers never lent are not kept', (t) => {
  const small = lendBuffer(1 * KiB);
  const foreign = new ArrayBuffer(100 * KiB);
  giveBack([new Uint8Array(small), new Uint8Array(foreign)]);
  t.not(lendBuffer(1 * KiB), small);
  t.not(lendBuffer(90 * KiB), foreign);
});

test.serial('at most 16 MiB of given-back buffers are kept', (t) => {
  const lent = Array.from({ length: 6 }, () => lendBuffer(3 * KiB * KiB));
  giveBack(lent.map((b) => new Uint8Array(b)));
  const again = new Set(Array.from({ length: 6 }, () => lendBuffer(3 * KiB * KiB)));
  t.is(
    lent.filter((b) => again.has(b)).length,
    5,
    'five of 3 MiB fit in 16 MiB, the sixth does not',
  );
});

const schema = new arrow.Schema([new arrow.Field('payload', new arrow.Binary(), false)]);
const ReadStreamResponse = apiType('ReadStreamResponse');

/** The rows of a serialized record batch response, read back with the schema. */
function rowsOf(serialized: Buffer): number[][] {
  const response = ReadStreamResponse.decode(serialized) as unknown as {
    data_header: Uint8Array;
    data_body: Uint8Array;
  };
  const parts: Uint8Array[] = [];
  for (const [header, body] of [
    [schemaMessage(schema).header, new Uint8Array(0)],
    [response.data_header, response.data_body],
  ] as const) {
    const prefix = new DataView(new ArrayBuffer(8));
    prefix.setInt32(0, -1, true);
    prefix.setInt32(4, header.byteLength, true);
    parts.push(new Uint8Array(prefix.buffer), header, body);
  }
  const table = arrow.tableFromIPC(Buffer.concat(parts));
  return table.toArray().map((row) => Array.from(row.payload as Uint8Array));
}

test.serial('a batch value buffer serves a later batch once its response is serialized', (t) => {
  const column = new BytesColumn(new arrow.Binary(), new Tally());
  const cell = (batch: number, row: number) => new Uint8Array(30 * KiB).fill(batch * 16 + row);
  const written: number[][][] = [];
  const read: number[][][] = [];
  const buffers: ArrayBufferLike[] = [];
  for (let batch = 0; batch < 5; batch++) {
    const rows = Array.from({ length: 3 }, (_, row) => cell(batch, row));
    for (const bytes of rows) column.appendBytes(bytes, 0, bytes.length);
    const data = column.finish();
    buffers.push(data.values.buffer);
    const struct = arrow.makeData({
      type: new arrow.Struct(schema.fields),
      length: data.length,
      nullCount: 0,
      children: [data],
    });
    const [message] = batchMessages(new arrow.RecordBatch(schema, struct));
    if (!message) throw new Error('no record batch message');
    written.push(rows.map((r) => Array.from(r)));
    // Copied out at once, as grpc-js does with what it serializes.
    read.push(
      rowsOf(
        Buffer.from(
          serializeResponse(new Response(message.header, new Uint8Array(0), message.body)),
        ),
      ),
    );
  }
  t.deepEqual(read, written, 'every batch reads back as written');
  // A batch's buffer is lent when the batch before it is finished, before that one is
  // serialized: the first that comes back serves two batches later.
  t.is(buffers[3], buffers[1]);
  t.is(buffers[4], buffers[2]);
  t.not(buffers[2], buffers[1]);
});

test.serial('without serializing, no batch value buffer is reused', (t) => {
  const column = new BytesColumn(new arrow.Binary(), new Tally());
  const buffers = new Set<ArrayBufferLike>();
  for (let batch = 0; batch < 5; batch++) {
    for (let row = 0; row < 3; row++) column.appendBytes(new Uint8Array(30 * KiB), 0, 30 * KiB);
    buffers.add(column.finish().values.buffer);
  }
  t.is(buffers.size, 5);
});
