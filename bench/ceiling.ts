/**
 * The bare gRPC ceiling of `npm run bench`: how fast grpc-js and a client alone move Seam's
 * responses, with no Pulsar and no Arrow building, so that the gateway's own cost shows.
 * bench/run.ts runs each command as its own process:
 *
 *   record ADDRESS TOPIC FILE   one bounded ReadStream of TOPIC from the gateway at ADDRESS
 *                               (the request the clients send: end at_open, default
 *                               batching), every response kept as the bytes that came on
 *                               the wire, written to FILE; prints {responses, bytes}
 *   serve FILE                  SeamService.ReadStream on a free port: every call gets
 *                               FILE's responses, already serialized, from memory, in order,
 *                               as fast as the client takes them, then OK
 *
 * The same service and method as the gateway's, so Seam's Python client and TS SDK read
 * it unchanged and build the same tables. FILE: each response as a 4-byte big-endian length
 * and its bytes.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { apiType } from '../server/api.ts';

const method = '/seam.v1.SeamService/ReadStream';

/** Writes every response of one ReadStream of `topic` to `file`, as it came. */
async function record(address: string, topic: string, file: string) {
  const ReadStreamRequest = apiType('ReadStreamRequest');
  const request = Buffer.from(
    ReadStreamRequest.encode(ReadStreamRequest.fromObject({ topic, at_open: {} })).finish(),
  );
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
  } satisfies grpc.ChannelOptions);
  const call = client.makeServerStreamRequest(
    method,
    (bytes: Buffer) => bytes,
    (bytes: Buffer) => bytes, // kept as they came: no decode, no re-encode
    request,
  );
  const out = createWriteStream(file);
  let responses = 0;
  let bytes = 0;
  for await (const response of call as AsyncIterable<Buffer>) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(response.length);
    out.write(length);
    if (!out.write(response)) await once(out, 'drain');
    responses++;
    bytes += response.length;
  }
  out.end();
  await once(out, 'close');
  client.close();
  return { responses, bytes };
}

/** The responses a `record` file holds, as views of one buffer. */
async function load(file: string): Promise<Buffer[]> {
  const all = await readFile(file);
  const responses: Buffer[] = [];
  for (let at = 0; at < all.length; ) {
    const length = all.readUInt32BE(at);
    responses.push(all.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return responses;
}

/** Serves `responses` to every ReadStream call; resolves with the port. */
async function serve(responses: Buffer[]): Promise<number> {
  const server = new grpc.Server();
  const readStream: grpc.MethodDefinition<Buffer, Buffer> = {
    path: method,
    requestStream: false,
    responseStream: true,
    // The request is not read: every call gets the recorded read.
    requestDeserialize: (bytes) => bytes,
    requestSerialize: (bytes) => bytes,
    responseSerialize: (bytes) => bytes,
    responseDeserialize: (bytes) => bytes,
  };
  server.addService(
    { ReadStream: readStream },
    {
      ReadStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const abort = new AbortController();
        call.on('cancelled', () => abort.abort());
        void (async () => {
          // The gateway's backpressure without its window: wait for 'drain' when grpc-js
          // says so, with the cancel signal so that a vanished client frees the loop.
          for (const response of responses) {
            if (!call.write(response)) await once(call, 'drain', { signal: abort.signal });
          }
          call.end();
        })().catch(() => {}); // cancelled: nothing to send
      },
    },
  );
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
}

const [command = '', ...args] = process.argv.slice(2);
if (command === 'record') {
  const [address = '', topic = '', file = ''] = args;
  console.log(JSON.stringify(await record(address, topic, file)));
} else if (command === 'serve') {
  const responses = await load(args[0] ?? '');
  const bytes = responses.reduce((n, r) => n + r.length, 0);
  const port = await serve(responses);
  // bench/support.ts waits for this line and takes the port from it.
  console.log(
    `serving seam.v1.SeamService (bare gRPC ceiling: ${responses.length} responses, ${bytes} bytes) on 127.0.0.1:${port}`,
  );
} else {
  throw new Error(`unknown command ${command}: record or serve`);
}
