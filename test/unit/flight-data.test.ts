/**
 * FlightData written by hand (server/arrow/flight.ts, server/grpc/responses.ts): the IPC
 * messages equal, byte for byte, what apache-arrow's own stream writer writes for the same
 * batch (dictionaries included), and the responses decode with the protobuf schema to the
 * same fields, in both response styles.
 */
import * as arrow from 'apache-arrow';
import test from 'ava';
import { apiType } from '../../server/api.ts';
import { batchMessages, type IpcMessage, schemaMessage } from '../../server/arrow/flight.ts';
import { Response, serializeResponse } from '../../server/grpc/responses.ts';

/** A batch with the shapes Seam sends: nulls, strings, bytes, a dictionary, a list. */
function sampleBatch(rows: number): arrow.RecordBatch {
  const side = arrow.vectorFromArray(
    Array.from({ length: rows }, (_, i) => (i % 3 === 0 ? 'buy' : 'sell')),
    new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()),
  );
  const table = new arrow.Table({
    id: arrow.vectorFromArray(Array.from({ length: rows }, (_, i) => BigInt(i))),
    note: arrow.vectorFromArray(
      Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? null : `note ${i}`)),
      new arrow.Utf8(),
    ),
    payload: arrow.vectorFromArray(
      Array.from({ length: rows }, (_, i) => new Uint8Array(i % 7).fill(i)),
      new arrow.Binary(),
    ),
    side,
    tags: arrow.vectorFromArray(
      Array.from({ length: rows }, (_, i) => Array.from({ length: i % 3 }, (_, j) => i + j)),
      new arrow.List(new arrow.Field('item', new arrow.Int32(), true)),
    ),
  });
  const [batch] = table.batches;
  if (!batch) throw new Error('no batch');
  return batch;
}

/** An IPC stream from messages: continuation, length, header, body; then the end marker. */
function ipcStream(messages: IpcMessage[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of messages) {
    const prefix = new DataView(new ArrayBuffer(8));
    prefix.setInt32(0, -1, true);
    prefix.setInt32(4, m.header.byteLength, true);
    parts.push(new Uint8Array(prefix.buffer), m.header, ...m.body);
  }
  parts.push(new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0]));
  return Buffer.concat(parts);
}

/** Every cell, as JSON: bigints as strings, lists and bytes as arrays. */
function rowsAsJson(table: arrow.Table): string {
  return JSON.stringify(table.toArray(), (_, value: unknown) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof arrow.Vector) return value.toArray();
    if (ArrayBuffer.isView(value)) return Array.from(value as Uint8Array);
    return value;
  });
}

for (const rows of [0, 1, 1000]) {
  test(`the IPC messages of a batch of ${rows} rows equal apache-arrow's own stream writer's`, (t) => {
    const batch = sampleBatch(rows);
    const messages = [schemaMessage(batch.schema), ...batchMessages(batch)];
    // An empty batch's dictionary has no chunk to send.
    t.is(messages.length, rows > 0 ? 3 : 2, 'schema, the dictionary, the record batch');
    for (const m of messages) {
      t.is((8 + m.header.byteLength) % 8, 0, 'header aligned');
      t.is(
        m.body.reduce((sum, b) => sum + b.byteLength, 0),
        m.bodyLength,
      );
    }
    const expected = arrow.RecordBatchStreamWriter.writeAll([batch]).toUint8Array(true);
    t.deepEqual(Buffer.from(ipcStream(messages)), Buffer.from(expected));
    const table = arrow.tableFromIPC(ipcStream(messages));
    t.is(rowsAsJson(table), rowsAsJson(new arrow.Table(batch)));
  });
}

const ReadStreamResponse = apiType('ReadStreamResponse');

/** A response's bytes, copied out of the buffer `serializeResponse` reuses. */
const encode = (...fields: ConstructorParameters<typeof Response>) =>
  Buffer.from(serializeResponse(new Response(...fields)));

test('responses decode to their fields; the flight style leaves empty fields out', (t) => {
  const header = new Uint8Array(24).fill(7);
  const app = new Uint8Array(300).fill(9);
  // Over 2^14 and 2^21 bytes: lengths of two and four varint bytes.
  for (const size of [0, 5, 20_000, 3_000_000]) {
    const body = [new Uint8Array(size).fill(1), new Uint8Array(3).fill(2)];
    for (const style of ['seam', 'flight'] as const) {
      const response = new Response(header, app, body, style);
      const bytes = encode(header, app, body, style);
      t.is(bytes.length, response.byteLength);
      const decoded = ReadStreamResponse.toObject(ReadStreamResponse.decode(bytes), {
        bytes: Buffer,
      });
      t.deepEqual(decoded.data_header, Buffer.from(header));
      t.deepEqual(decoded.app_metadata, Buffer.from(app));
      t.deepEqual(decoded.data_body, Buffer.concat(body));
    }
  }
  const empty = new Uint8Array(0);
  t.is(encode(empty, app, [], 'flight').length, 1 + 2 + 300, 'app_metadata only');
  t.is(encode(empty, app, [], 'seam').length, 2 + 3 + 300 + 3, 'every field, empty too');
});

test('responses up to 16 MiB are serialized into one reused buffer, larger ones into their own', (t) => {
  const header = new Uint8Array(8);
  const app = new Uint8Array(0);
  const first = serializeResponse(new Response(header, app, [new Uint8Array(1000).fill(1)]));
  const second = serializeResponse(new Response(header, app, [new Uint8Array(500).fill(2)]));
  t.is(first.buffer, second.buffer, 'the same bytes serve the next response');
  const large = serializeResponse(new Response(header, app, [new Uint8Array(17 * 2 ** 20)]));
  t.not(large.buffer, second.buffer);
  t.is(serializeResponse(new Response(header, app, [])).buffer, second.buffer, 'and it is kept');
});
