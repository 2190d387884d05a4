/**
 * Arrow IPC messages cut for Arrow Flight: each `FlightData` carries one IPC message's
 * flatbuffer header (`data_header`) and its body (`data_body`), without the stream
 * framing (continuation marker and length) that a client adds back to rebuild an IPC
 * stream. The messages are built here from Arrow's metadata writers rather than by
 * writing an IPC stream and cutting it up again: the body stays a list of the columns'
 * own buffers, copied once, into the response (responses.ts).
 */
import * as arrow from 'apache-arrow';
import {
  DictionaryBatch,
  Message,
  RecordBatch as RecordBatchHeader,
} from 'apache-arrow/ipc/metadata/message';
import { VectorAssembler } from 'apache-arrow/visitor/vectorassembler';

/** One IPC message: Schema, DictionaryBatch or RecordBatch. */
export interface IpcMessage {
  /** The `Message` flatbuffer, padded so that a stream's 8-byte prefix plus it is aligned. */
  header: Uint8Array;
  /** The body's buffers with their padding, in order; empty for a schema. */
  body: Uint8Array[];
  /** Their total length, the `bodyLength` the header states. */
  bodyLength: number;
}

const zeros = new Uint8Array(8);

/** The flatbuffer of `message`, padded to 8 bytes beyond an IPC stream's 8-byte prefix. */
function encodeHeader(message: Message): Uint8Array {
  const flatbuffer = Message.encode(message);
  const padding = (8 - (flatbuffer.byteLength % 8)) % 8;
  if (padding === 0) return flatbuffer;
  const padded = new Uint8Array(flatbuffer.byteLength + padding);
  padded.set(flatbuffer);
  return padded;
}

/** The buffers of assembled vectors, each padded to 8 bytes as the IPC format lays them out. */
function paddedBody(buffers: ArrayBufferView[]): Uint8Array[] {
  const body: Uint8Array[] = [];
  for (const buffer of buffers) {
    if (buffer.byteLength === 0) continue;
    body.push(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
    const padding = (8 - (buffer.byteLength % 8)) % 8;
    if (padding > 0) body.push(zeros.subarray(0, padding));
  }
  return body;
}

/** A record batch (or a dictionary's values) as an IPC message body and its header. */
function assembled(
  length: number,
  vectors: arrow.RecordBatch | arrow.Vector,
  wrap: (header: RecordBatchHeader) => RecordBatchHeader | DictionaryBatch,
  metadata?: Map<string, string>,
): IpcMessage {
  const { byteLength, nodes, bufferRegions, buffers, variadicBufferCounts } =
    VectorAssembler.assemble(vectors);
  const header = new RecordBatchHeader(
    length,
    nodes,
    bufferRegions,
    null,
    variadicBufferCounts,
    metadata,
  );
  return {
    header: encodeHeader(Message.from(wrap(header), byteLength)),
    body: paddedBody(buffers),
    bodyLength: byteLength,
  };
}

/** The Schema message of `schema`. */
export function schemaMessage(schema: arrow.Schema): IpcMessage {
  return { header: encodeHeader(Message.from(schema)), body: [], bodyLength: 0 };
}

/**
 * The messages of one record batch: a DictionaryBatch for each dictionary it uses (every
 * batch states its dictionaries whole: a reader of one endpoint or one resumed stream has
 * seen no earlier batch), then the RecordBatch.
 */
export function batchMessages(batch: arrow.RecordBatch): IpcMessage[] {
  const messages: IpcMessage[] = [];
  for (const [id, dictionary] of batch.dictionaries) {
    for (const [index, chunk] of (dictionary?.data ?? []).entries()) {
      messages.push(
        assembled(
          chunk.length,
          new arrow.Vector([chunk]),
          (header) => new DictionaryBatch(header, id, index > 0),
        ),
      );
    }
  }
  messages.push(assembled(batch.numRows, batch, (header) => header, batch.metadata));
  return messages;
}
