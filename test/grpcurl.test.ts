/**
 * The gateway as a generic gRPC tool sees it: grpcurl (installed by scripts/setup.sh into
 * .tools/bin when Go is present) lists every service, describes them, calls ReadStream
 * with a JSON request and gets rows back, and checks health — all through server
 * reflection alone, with no .proto file given.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { startGateway, type TestGateway } from './support/gateway.ts';
import { ensurePulsar, freshTopic, produce } from './support/pulsar.ts';

const run = promisify(execFile);
const grpcurl = fileURLToPath(new URL('../.tools/bin/grpcurl', import.meta.url));
const topic = freshTopic('grpcurl');
let gateway: TestGateway;

const call = async (...args: string[]) =>
  (await run(grpcurl, ['-plaintext', ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }))
    .stdout;
const address = () => `127.0.0.1:${gateway.gateway.port}`;

test.before(async () => {
  if (!existsSync(grpcurl)) {
    throw new Error(
      `grpcurl is missing at ${grpcurl}: install Go (https://go.dev/dl/, 1.22 or later) and run npm run setup, or: GOBIN=${fileURLToPath(new URL('../.tools/bin', import.meta.url))} go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest`,
    );
  }
  await ensurePulsar();
  await produce(topic, { count: 30 });
  gateway = await startGateway();
});

test.after.always(() => gateway?.close());

test('list names every service on the port', async (t) => {
  const services = (await call(address(), 'list')).trim().split('\n');
  t.true(services.includes('seam.v1.SeamService'), services.join(', '));
  t.true(services.includes('grpc.health.v1.Health'), services.join(', '));
});

test('describe resolves the service and the well-known types it uses', async (t) => {
  const service = await call(address(), 'describe', 'seam.v1.SeamService');
  t.regex(
    service,
    /rpc ReadStream \( \.seam\.v1\.ReadStreamRequest \) returns \( stream \.seam\.v1\.ReadStreamResponse \)/,
  );
  const request = await call(address(), 'describe', 'seam.v1.ReadStreamRequest');
  t.regex(request, /google\.protobuf\.Timestamp/);
});

test('ReadStream with a JSON request: the schema, then batches with every row', async (t) => {
  const output = await call(
    '-d',
    JSON.stringify({ topic, at_open: {} }),
    '-max-msg-sz',
    String(64 * 1024 * 1024),
    address(),
    'seam.v1.SeamService/ReadStream',
  );
  // grpcurl prints one JSON object per response, FlightData's fields by their JSON names.
  const responses = output
    .split(/\n(?=\{)/)
    .filter((chunk) => chunk.trim() !== '')
    .map((chunk) => JSON.parse(chunk) as Record<string, string | undefined>);
  const header = (r: Record<string, string | undefined>) => r.data_header ?? r.dataHeader;
  const body = (r: Record<string, string | undefined>) => r.data_body ?? r.dataBody;
  t.true(responses.length >= 2, output.slice(0, 400));
  t.truthy(responses[0] && header(responses[0]), `the schema message: ${output.slice(0, 200)}`);
  // 30 rows of the generated messages make one record batch with a body.
  t.true(
    responses.some((r) => (body(r) ?? '').length > 0),
    'record batches with bodies',
  );
});

test('the standard health check answers SERVING', async (t) => {
  const overall = JSON.parse(await call(address(), 'grpc.health.v1.Health/Check')) as {
    status: string;
  };
  t.is(overall.status, 'SERVING');
  const seam = JSON.parse(
    await call('-d', '{"service":"seam.v1.SeamService"}', address(), 'grpc.health.v1.Health/Check'),
  ) as { status: string };
  t.is(seam.status, 'SERVING');
});

test('Arrow Flight: described, healthy and called through reflection alone', async (t) => {
  const services = (await call(address(), 'list')).trim().split('\n');
  t.true(services.includes('arrow.flight.protocol.FlightService'), services.join(', '));
  const service = await call(address(), 'describe', 'arrow.flight.protocol.FlightService');
  t.regex(service, /rpc DoGet \( \.arrow\.flight\.protocol\.Ticket \) returns \( stream /);
  const info = await call(address(), 'describe', 'arrow.flight.protocol.FlightEndpoint');
  t.regex(info, /google\.protobuf\.Timestamp expiration_time/);
  const health = JSON.parse(
    await call(
      '-d',
      '{"service":"arrow.flight.protocol.FlightService"}',
      address(),
      'grpc.health.v1.Health/Check',
    ),
  ) as { status: string };
  t.is(health.status, 'SERVING');
  const schema = JSON.parse(
    await call(
      '-d',
      JSON.stringify({ type: 'PATH', path: [topic] }),
      address(),
      'arrow.flight.protocol.FlightService/GetSchema',
    ),
  ) as { schema: string };
  // The IPC continuation marker, then the Schema message.
  t.is(Buffer.from(schema.schema, 'base64').readUInt32LE(0), 0xffffffff);
});
