/**
 * Stream events as ReadStreamResponse messages (Arrow Flight `FlightData` on the wire):
 * the IPC header and body of each Arrow message, and a StreamMetadata in app_metadata.
 */

import { apiType } from '../api.ts';
import { batchMessages, schemaMessage } from '../arrow/flight.ts';
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
 * Serializes one ReadStreamResponse (FlightData), written by hand: three bytes fields,
 * the body's buffers copied once, straight into the response, rather than joined into an
 * IPC stream and then copied again by a protobuf writer.
 */
export function encodeResponse(
  header: Uint8Array,
  appMetadata: Uint8Array,
  body: readonly Uint8Array[],
  style: ResponseStyle = 'seam',
): Buffer {
  const all = style === 'seam';
  let bodyLength = 0;
  for (const part of body) bodyLength += part.byteLength;
  const fields: [number[], number, readonly Uint8Array[]][] = [];
  if (all || header.length > 0) fields.push([dataHeaderKey, header.byteLength, [header]]);
  if (all || appMetadata.length > 0) {
    fields.push([appMetadataKey, appMetadata.byteLength, [appMetadata]]);
  }
  if (all || bodyLength > 0) fields.push([dataBodyKey, bodyLength, body]);
  let size = 0;
  for (const [key, length] of fields) size += key.length + varintLength(length) + length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [key, length, parts] of fields) {
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
  return out;
}

/** The serialized responses for one event, in order. */
export function responsesFor(event: StreamEvent, style: ResponseStyle = 'seam'): Buffer[] {
  const encode = (header: Uint8Array, app: Uint8Array, body: readonly Uint8Array[]) =>
    encodeResponse(header, app, body, style);
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
