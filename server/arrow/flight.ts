/**
 * Arrow IPC messages cut for Arrow Flight: each `FlightData` carries one IPC message's
 * flatbuffer header (`data_header`) and its body (`data_body`), without the stream
 * framing (continuation marker and length) that a client adds back to rebuild an IPC
 * stream.
 */
import * as arrow from 'apache-arrow';

/** One IPC message: Schema, DictionaryBatch or RecordBatch. */
export interface IpcMessage {
  /** The `Message` flatbuffer (padded to 8 bytes, as in a stream). */
  header: Uint8Array;
  body: Uint8Array;
}

const continuation = 0xffffffff;

/** Splits an Arrow IPC stream into its messages, dropping the end-of-stream marker. */
export function splitIpcStream(stream: Uint8Array): IpcMessage[] {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const messages: IpcMessage[] = [];
  let pos = 0;
  while (pos + 8 <= stream.length) {
    let length = view.getUint32(pos, true);
    pos += 4;
    if (length === continuation) {
      length = view.getUint32(pos, true);
      pos += 4;
    }
    if (length === 0) break; // end of stream
    const header = stream.subarray(pos, pos + length);
    pos += length;
    const bodyLength = Number(arrow.Message.decode(header).bodyLength);
    messages.push({ header, body: stream.subarray(pos, pos + bodyLength) });
    pos += bodyLength;
  }
  return messages;
}

/** The Schema message of `schema`. */
export function schemaMessage(schema: arrow.Schema): IpcMessage {
  const [message] = splitIpcStream(arrow.tableToIPC(new arrow.Table(schema), 'stream'));
  if (!message) throw new Error('arrow wrote no schema message');
  return message;
}

/** The messages of one record batch: its dictionary batches, then the record batch. */
export function batchMessages(batch: arrow.RecordBatch): IpcMessage[] {
  const stream = arrow.RecordBatchStreamWriter.writeAll([batch]).toUint8Array(true);
  // The first message is the schema, already sent at the start of the stream.
  return splitIpcStream(stream).slice(1);
}
