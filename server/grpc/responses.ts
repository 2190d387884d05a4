/**
 * Stream events as ReadStreamResponse messages (Arrow Flight `FlightData` on the wire):
 * the IPC header and body of each Arrow message, and a StreamMetadata in app_metadata.
 */

import { apiType } from '../api.ts';
import { batchMessages, schemaMessage } from '../arrow/flight.ts';
import { giveBack } from '../arrow/lent-buffers.ts';
import type { StreamEvent, StreamInfo } from '../core/stream.ts';

const StreamMetadata = apiType('StreamMetadata');
const StreamInfoMessage = apiType('StreamInfo');

const empty = new Uint8Array(0);

function timestamp(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

function metadata(value: Record<string, unknown>): Uint8Array {
  return StreamMetadata.encode(StreamMetadata.fromObject(value)).finish();
}

/** A StreamInfo as the seam.v1 message's fields. */
function streamInfoFields(info: StreamInfo): Record<string, unknown> {
  return {
    topic: info.topic,
    partitions: info.partitions.map((p) => ({
      partition: p.partition,
      topic: p.topic,
      boundary_message_id: p.boundary?.serialize() ?? empty,
    })),
    estimated_history_bytes: info.estimatedHistoryBytes,
    estimated_history_entries: info.estimatedHistoryEntries,
    pulsar_schema_type: info.schemaType,
    pulsar_schema_version: info.schemaVersion ?? empty,
  };
}

/** A serialized seam.v1.StreamInfo: what a Flight client finds in FlightInfo.app_metadata. */
export function encodeStreamInfo(info: StreamInfo): Buffer {
  return Buffer.from(
    StreamInfoMessage.encode(StreamInfoMessage.fromObject(streamInfoFields(info))).finish(),
  );
}

/**
 * How responses are written: `seam` (ReadStream) writes every field, as it always has;
 * `flight` (DoGet) leaves empty ones out, as proto3 encoders do. Arrow C++'s Flight client
 * (pyarrow) parses a present `data_header` of length 0 as a Message: it fails on a seam
 * marker ("Invalid flatbuffers message") and hangs on a heartbeat.
 */
export type ResponseStyle = 'seam' | 'flight';

/** Field keys of FlightData (ReadStreamResponse has the same numbers), length-delimited. */
const dataHeaderKey = [(2 << 3) | 2];
const appMetadataKey = [(3 << 3) | 2];
const dataBodyKey = [(((1000 << 3) | 2) & 0x7f) | 0x80, (1000 << 3) >> 7];

function varintLength(value: number): number {
  let length = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 128)) length++;
  return length;
}

/**
 * One ReadStreamResponse (FlightData) to write: its three bytes fields, serialized only
 * when gRPC sends it (`serializeResponse`). The body stays a list of the columns' own
 * buffers until then: no buffer of the response's size is made for it.
 */
export class Response {
  private readonly fields: [key: number[], length: number, parts: readonly Uint8Array[]][] = [];
  private readonly body: readonly Uint8Array[];
  /** Its serialized size. */
  readonly byteLength: number;

  constructor(
    header: Uint8Array,
    appMetadata: Uint8Array,
    body: readonly Uint8Array[],
    style: ResponseStyle = 'seam',
  ) {
    this.body = body;
    const all = style === 'seam';
    let bodyLength = 0;
    for (const part of body) bodyLength += part.byteLength;
    if (all || header.length > 0) this.fields.push([dataHeaderKey, header.byteLength, [header]]);
    if (all || appMetadata.length > 0) {
      this.fields.push([appMetadataKey, appMetadata.byteLength, [appMetadata]]);
    }
    if (all || bodyLength > 0) this.fields.push([dataBodyKey, bodyLength, body]);
    let size = 0;
    for (const [key, length] of this.fields) size += key.length + varintLength(length) + length;
    this.byteLength = size;
  }

  /**
   * Writes the serialized response at the start of `out` (at least `byteLength` long). The
   * body's lent buffers are given back then: the batch is not read again.
   */
  writeTo(out: Uint8Array): void {
    let at = 0;
    for (const [key, length, parts] of this.fields) {
      for (const byte of key) out[at++] = byte;
      for (let v = length; ; v = Math.floor(v / 128)) {
        if (v < 0x80) {
          out[at++] = v;
          break;
        }
        out[at++] = (v & 0x7f) | 0x80;
      }
      for (const part of parts) {
        out.set(part, at);
        at += part.byteLength;
      }
    }
    giveBack(this.body);
  }
}

/**
 * Responses up to this size are serialized into one buffer kept for the next: grpc-js
 * copies each serialized message at once into its own frame (5-byte prefix, then the
 * bytes), so the bytes are needed only until `serializeResponse` returns. A fresh buffer
 * per response cost an allocation of its size, its page faults, and, for large messages,
 * a full garbage collection every few hundred MB (V8 collects when off-heap memory grows).
 */
const reusedBytes = 16 * 1024 * 1024;
let reused = Buffer.allocUnsafeSlow(0);

/**
 * The bytes of `response`, for grpc-js's `responseSerialize`: valid only until the next
 * call, as grpc-js uses them (it copies them before anything else runs).
 */
export function serializeResponse(response: Response): Buffer {
  const size = response.byteLength;
  let out: Buffer;
  if (size > reusedBytes) out = Buffer.allocUnsafeSlow(size);
  else {
    if (reused.length < size)
      reused = Buffer.allocUnsafeSlow(Math.min(reusedBytes, Math.max(size, 2 * reused.length)));
    out = reused.subarray(0, size);
  }
  response.writeTo(out);
  return out;
}

/** The responses for one event, in order. */
export function responsesFor(event: StreamEvent, style: ResponseStyle = 'seam'): Response[] {
  const encode = (header: Uint8Array, app: Uint8Array, body: readonly Uint8Array[]) =>
    new Response(header, app, body, style);
  switch (event.kind) {
    case 'start': {
      const app = metadata({ stream_info: streamInfoFields(event.info) });
      const schema = schemaMessage(event.schema);
      return [encode(schema.header, app, schema.body)];
    }
    case 'batch': {
      const app = metadata({
        batch: {
          phase: event.phase === 'history' ? 'PHASE_HISTORY' : 'PHASE_TAIL',
          resume_token: event.resumeToken,
          progress: {
            history_rows: event.progress.historyRows,
            history_bytes_read: event.progress.historyBytesRead,
            history_bytes_expected: event.progress.historyBytesExpected,
          },
        },
      });
      // Dictionary batches precede their record batch; all carry the batch's metadata.
      return batchMessages(event.batch).map((m) => encode(m.header, app, m.body));
    }
    case 'seam':
      return [
        encode(
          empty,
          metadata({ seam: { resume_token: event.resumeToken, history_rows: event.historyRows } }),
          [],
        ),
      ];
    case 'heartbeat':
      return [
        encode(
          empty,
          metadata({
            heartbeat: {
              resume_token: event.resumeToken,
              ...(event.lastPublishTime === undefined
                ? {}
                : { last_publish_time: timestamp(event.lastPublishTime) }),
              caught_up_at: timestamp(event.caughtUpAt),
            },
          }),
          [],
        ),
      ];
  }
}

/** The resume token an event carries, if any: what the client can resume after. */
export function resumeTokenOf(event: StreamEvent): Buffer | undefined {
  return event.kind === 'start' ? undefined : event.resumeToken;
}
