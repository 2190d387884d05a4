/**
 * Arrow Flight through the gateway's one serve path, seen by a grpc-js client: Handshake
 * echoes the bearer token in its response headers, and a DoGet is a stream for the gateway's
 * stream limit as a ReadStream is. (pyarrow and Arrow Java read Flight in
 * clients/python/tests/test_flight.py.)
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { configWith, gatewayOptions } from '../server/config.ts';
import { flightMissing, loadFlightDefinition } from '../server/flight/service.ts';
import { Gateway } from '../server/grpc/server.ts';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { PulsarClient } from '../server/pulsar/client.ts';
import { startGateway } from './support/gateway.ts';
import { ensurePulsar, freshTopic, produce, pulsar } from './support/pulsar.ts';

type FlightClient = grpc.Client & {
  Handshake(metadata: grpc.Metadata): grpc.ClientDuplexStream<unknown, { payload: Buffer }>;
  GetFlightInfo(
    descriptor: unknown,
    callback: (error: grpc.ServiceError | null, info?: FlightInfo) => void,
  ): void;
  DoGet(ticket: { ticket: Buffer }): grpc.ClientReadableStream<unknown>;
};

interface FlightInfo {
  endpoint: { ticket: { ticket: Buffer } }[];
}

// Setup extracts Flight.proto (with Maven); without it these tests fail, saying so.
const flightDefinition = loadFlightDefinition();
if (!flightDefinition) throw new Error(flightMissing);
const FlightService = (
  grpc.loadPackageDefinition(flightDefinition) as unknown as {
    arrow: { flight: { protocol: { FlightService: grpc.ServiceClientConstructor } } };
  }
).arrow.flight.protocol.FlightService;

const flightClient = (port: number) =>
  new FlightService(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as FlightClient;

test.before(async () => {
  await ensurePulsar();
});

test('Handshake: a bearer token comes back in the response headers, payloads are echoed', async (t) => {
  // Callers are anonymous here; credentials over plaintext are allowed for the test only.
  const pulsarClient = new PulsarClient({ serviceUrl: pulsar.serviceUrl });
  const gateway = await Gateway.start(
    { client: pulsarClient, admin: new PulsarAdmin({ webServiceUrl: pulsar.webUrl }) },
    gatewayOptions(configWith({ plaintext: 'true', port: '0', allowInsecureCredentials: 'true' })),
  );
  const client = flightClient(gateway.port);
  try {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer a.b.c');
    const call = client.Handshake(metadata);
    const headers = new Promise<grpc.Metadata>((resolve) => call.once('metadata', resolve));
    const payloads: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on('data', (response: { payload: Buffer }) => payloads.push(response.payload));
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write({ protocol_version: 0, payload: Buffer.from('hello') });
    call.end();
    t.deepEqual((await headers).get('authorization'), ['Bearer a.b.c']);
    await ended;
    t.deepEqual(payloads.map(String), ['hello']);
  } finally {
    client.close();
    await gateway.shutdown();
    await pulsarClient.close();
  }
});

test('a DoGet is a stream: the gateway stream limit counts it as a ReadStream', async (t) => {
  const topic = freshTopic('flight-limit');
  await produce(topic, { count: 20 });
  const gateway = await startGateway({ maxConcurrentStreams: 1 });
  const client = flightClient(gateway.gateway.port);
  try {
    // A read that follows the tail never ends: its last endpoint is the tail's.
    const command = Buffer.from(JSON.stringify({ topic, follow: {} }));
    const info = await new Promise<FlightInfo>((resolve, reject) =>
      client.GetFlightInfo({ type: 'CMD', cmd: command }, (error, value) =>
        error || !value ? reject(error) : resolve(value),
      ),
    );
    const tail = info.endpoint.at(-1);
    if (!tail) throw new Error('no endpoints');
    const open = client.DoGet(tail.ticket);
    open.on('error', () => {}); // cancelled at the end
    await new Promise((resolve) => open.once('data', resolve));
    t.is(gateway.gateway.activeStreams, 1);
    const refused = await new Promise<grpc.ServiceError>((resolve) => {
      const second = client.DoGet(tail.ticket);
      second.on('data', () => {});
      second.on('error', resolve);
    });
    t.is(refused.code, grpc.status.RESOURCE_EXHAUSTED);
    t.regex(refused.details, /^resource exhausted: the gateway serves 1 streams at most/);
    const readStream = await new Promise<grpc.ServiceError>((resolve) => {
      const call = gateway.client.ReadStream({ topic, at_open: {} });
      call.on('data', () => {});
      call.on('error', resolve);
    });
    t.is(readStream.code, grpc.status.RESOURCE_EXHAUSTED);
    open.cancel();
  } finally {
    client.close();
    await gateway.close();
  }
});

test('DoGet of bytes that are no Ticket message: INVALID_ARGUMENT, not INTERNAL', async (t) => {
  const gateway = await startGateway();
  const raw = new grpc.Client(
    `127.0.0.1:${gateway.gateway.port}`,
    grpc.credentials.createInsecure(),
  );
  try {
    const error = await new Promise<grpc.ServiceError>((resolve) => {
      const call = raw.makeServerStreamRequest(
        '/arrow.flight.protocol.FlightService/DoGet',
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        Buffer.from([0x0a, 0xff]), // field 1 (ticket), a length that runs past the end
      );
      call.on('data', () => {});
      call.on('error', resolve);
    });
    t.is(error.code, grpc.status.INVALID_ARGUMENT);
    t.regex(error.details, /^invalid argument: not a ticket of this Seam/);
  } finally {
    raw.close();
    await gateway.close();
  }
});
