/**
 * A fake Pulsar broker for broker-free tests of the read path: a plain TCP server on a free
 * loopback port that answers CONNECT, lookups, SUBSCRIBE and SEEK, counts FLOW permits, and sends
 * whatever MESSAGE frames a test builds (crafted entries: batches, chunks, lies). Entries are
 * built with the protocol's own writer, field by field from PulsarApi.proto.
 */
import net from 'node:net';
import tls from 'node:tls';
import { MessageId, writeMessageIdData } from '../../../server/pulsar/message-id.ts';
import { crc32c } from '../../../server/pulsar/protocol/checksum.ts';
import { CommandType } from '../../../server/pulsar/protocol/commands.ts';
import { encodeFrame, FrameDecoder } from '../../../server/pulsar/protocol/frame.ts';
import { ProtoReader, ProtoWriter } from '../../../server/pulsar/protocol/wire.ts';

/** A command a client sent, with the ids a fake broker answers by. */
export interface ClientCommand {
  type: number;
  requestId: number;
  consumerId: number;
  /** FLOW's permits. */
  permits: number;
}

/** Where the request id, consumer id and permits sit in the commands a reader sends. */
const idFields: Record<number, { requestId?: number; consumerId?: number; permits?: number }> = {
  [CommandType.PARTITIONED_METADATA]: { requestId: 2 },
  [CommandType.LOOKUP]: { requestId: 2 },
  [CommandType.SUBSCRIBE]: { consumerId: 4, requestId: 5 },
  [CommandType.FLOW]: { consumerId: 1, permits: 2 },
  [CommandType.SEEK]: { consumerId: 1, requestId: 2 },
  [CommandType.GET_LAST_MESSAGE_ID]: { consumerId: 1, requestId: 2 },
  [CommandType.CLOSE_CONSUMER]: { consumerId: 1, requestId: 2 },
  [CommandType.GET_SCHEMA]: { requestId: 1 },
};

function decodeClientCommand(bytes: Buffer): ClientCommand {
  const out: ClientCommand = { type: 0, requestId: 0, consumerId: 0, permits: 0 };
  const r = new ProtoReader(bytes);
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) {
      out.type = r.varint();
      continue;
    }
    const fields = idFields[f] ?? {};
    const sub = r.message();
    for (let g = sub.next(); g !== 0; g = sub.next()) {
      if (g === fields.requestId) out.requestId = sub.varint();
      else if (g === fields.consumerId) out.consumerId = sub.varint();
      else if (g === fields.permits) out.permits = sub.varint();
      else sub.skip();
    }
  }
  return out;
}

/** A command frame the broker sends: BaseCommand { type, <type> = sub }. */
export function brokerCommand(type: number, write: (w: ProtoWriter) => void): Buffer {
  return encodeFrame(new ProtoWriter().uint(1, type).message(type, write).finish());
}

/** A MESSAGE frame carrying `entry` (see `entryBytes`) for `consumerId`. */
export function messageFrame(consumerId: number, id: MessageId, entry: Buffer): Buffer {
  const command = new ProtoWriter()
    .uint(1, CommandType.MESSAGE)
    .message(CommandType.MESSAGE, (w) =>
      w.uint(1, consumerId).message(2, (m) => writeMessageIdData(m, id)),
    )
    .finish();
  const head = Buffer.alloc(8);
  head.writeUInt32BE(4 + command.length + entry.length, 0);
  head.writeUInt32BE(command.length, 4);
  return Buffer.concat([head, command, entry]);
}

/** The `MessageMetadata` fields a test sets; numbers as in PulsarApi.proto. */
export interface EntryMetadata {
  producerName?: string;
  sequenceId?: number;
  publishTime?: number;
  /** Field 11; set for a batch. */
  numMessagesInBatch?: number;
  uncompressedSize?: number;
  uuid?: string;
  numChunksFromMsg?: number;
  totalChunkMsgSize?: number;
  chunkId?: number;
}

/** Serialized `MessageMetadata`. */
export function encodeMetadata(m: EntryMetadata): Buffer {
  const w = new ProtoWriter();
  w.string(1, m.producerName ?? 'fake-producer');
  w.uint(2, m.sequenceId ?? 0);
  w.uint(3, m.publishTime ?? 1_700_000_000_000);
  if (m.uncompressedSize !== undefined) w.uint(9, m.uncompressedSize);
  if (m.numMessagesInBatch !== undefined) w.int(11, m.numMessagesInBatch);
  if (m.uuid !== undefined) w.string(26, m.uuid);
  if (m.numChunksFromMsg !== undefined) w.int(27, m.numChunksFromMsg);
  if (m.totalChunkMsgSize !== undefined) w.int(28, m.totalChunkMsgSize);
  if (m.chunkId !== undefined) w.int(29, m.chunkId);
  return w.finish();
}

/**
 * An entry as the broker sends it after a MESSAGE command: broker entry metadata (when
 * `brokerTimestamp` is given), checksum, metadata and payload.
 */
export function entryBytes(
  metadata: EntryMetadata,
  payload: Buffer,
  broker?: { brokerTimestamp: number },
): Buffer {
  const meta = encodeMetadata(metadata);
  const body = Buffer.alloc(4 + meta.length + payload.length);
  body.writeUInt32BE(meta.length, 0);
  meta.copy(body, 4);
  payload.copy(body, 4 + meta.length);
  const checksum = Buffer.alloc(6);
  checksum.writeUInt16BE(0x0e01, 0);
  checksum.writeUInt32BE(crc32c(body), 2);
  const parts: Buffer[] = [checksum, body];
  if (broker) {
    const stamp = new ProtoWriter().uint(1, broker.brokerTimestamp).finish();
    const head = Buffer.alloc(6);
    head.writeUInt16BE(0x0e02, 0);
    head.writeUInt32BE(stamp.length, 2);
    parts.unshift(head, stamp);
  }
  return Buffer.concat(parts);
}

/** A batch payload: each message is `[size u32][SingleMessageMetadata][value]`. */
export function batchPayload(values: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const value of values) {
    const single = new ProtoWriter().uint(3, value.length).finish();
    const size = Buffer.alloc(4);
    size.writeUInt32BE(single.length, 0);
    parts.push(size, single, value);
  }
  return Buffer.concat(parts);
}

/** A fake broker's handle: its URL, what clients sent, and a way to push frames. */
export interface FakeBroker {
  url: string;
  /** Every command received, in order. */
  commands: ClientCommand[];
  /** Sends a frame to every connected client. */
  send(frame: Buffer): void;
  /** Resolves with the consumer id of the next (or a past, not yet awaited) SUBSCRIBE. */
  subscribed(): Promise<number>;
  /** Permits granted by FLOW since the last subscribe. */
  readonly permits: number;
  close(): Promise<void>;
}

/** Options: how lookups answer (default: "connect here"). */
export interface FakeBrokerOptions {
  lookup?: (self: string) => { brokerServiceUrl?: string; brokerServiceUrlTls?: string };
  /** Serve TLS with this certificate and key (the URL is then `pulsar+ssl://`). */
  tls?: { cert: Buffer; key: Buffer };
  /** Answers to SUBSCRIBE: default SUCCESS. */
  onSubscribe?: (command: ClientCommand, socket: net.Socket) => boolean;
}

/** Starts a fake broker on a free loopback port. */
export async function startFakeBroker(options: FakeBrokerOptions = {}): Promise<FakeBroker> {
  const sockets = new Set<net.Socket>();
  const commands: ClientCommand[] = [];
  const subscriptions: number[] = [];
  let subscribeWaiter: ((id: number) => void) | undefined;
  let permits = 0;
  let url = '';
  const serve = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const command = decodeClientCommand(frame.command);
        commands.push(command);
        answer(socket, command);
      }
    });
  };
  const server = options.tls ? tls.createServer(options.tls, serve) : net.createServer(serve);
  const success = (requestId: number) =>
    brokerCommand(CommandType.SUCCESS, (w) => w.uint(1, requestId));
  function answer(socket: net.Socket, c: ClientCommand): void {
    switch (c.type) {
      case CommandType.CONNECT:
        socket.write(
          brokerCommand(CommandType.CONNECTED, (w) => w.string(1, 'fake-broker').uint(2, 21)),
        );
        return;
      case CommandType.PARTITIONED_METADATA:
        socket.write(
          brokerCommand(CommandType.PARTITIONED_METADATA_RESPONSE, (w) =>
            w.uint(1, 0).uint(2, c.requestId),
          ),
        );
        return;
      case CommandType.LOOKUP: {
        const target = options.lookup?.(url) ?? { brokerServiceUrl: url };
        socket.write(
          brokerCommand(CommandType.LOOKUP_RESPONSE, (w) => {
            if (target.brokerServiceUrl) w.string(1, target.brokerServiceUrl);
            if (target.brokerServiceUrlTls) w.string(2, target.brokerServiceUrlTls);
            w.uint(3, 1).uint(4, c.requestId).bool(5, true);
          }),
        );
        return;
      }
      case CommandType.SUBSCRIBE:
        if (options.onSubscribe && !options.onSubscribe(c, socket)) return;
        permits = 0;
        socket.write(success(c.requestId));
        if (subscribeWaiter) {
          subscribeWaiter(c.consumerId);
          subscribeWaiter = undefined;
        } else subscriptions.push(c.consumerId);
        return;
      case CommandType.FLOW:
        permits += c.permits;
        return;
      case CommandType.CLOSE_CONSUMER:
      case CommandType.SEEK:
        socket.write(success(c.requestId));
        return;
      case CommandType.GET_LAST_MESSAGE_ID:
        socket.write(
          brokerCommand(CommandType.GET_LAST_MESSAGE_ID_RESPONSE, (w) =>
            w.message(1, (m) => writeMessageIdData(m, new MessageId(1, 0))).uint(2, c.requestId),
          ),
        );
        return;
    }
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  url = `${options.tls ? 'pulsar+ssl' : 'pulsar'}://127.0.0.1:${port}`;
  return {
    url,
    commands,
    send(frame) {
      for (const socket of sockets) socket.write(frame);
    },
    subscribed() {
      const past = subscriptions.shift();
      if (past !== undefined) return Promise.resolve(past);
      return new Promise((resolve) => {
        subscribeWaiter = resolve;
      });
    },
    get permits() {
      return permits;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
