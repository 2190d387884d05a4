/**
 * Bad peers and the error table, with no broker: misbehaving servers are plain TCP servers
 * on free loopback ports; each case ends in a typed PulsarError and the process goes on.
 */
import net from 'node:net';
import test from 'ava';
import { Connection } from '../../server/pulsar/connection.ts';
import { PulsarError, serverErrorOf, serverErrors } from '../../server/pulsar/errors.ts';
import { CommandType } from '../../server/pulsar/protocol/commands.ts';
import { brokerCommand } from './support/fake-broker.ts';

test('the server error table: one row per ServerError code, looked up by code', (t) => {
  t.deepEqual(
    serverErrors.map((e) => e.code),
    serverErrors.map((_, i) => i),
  );
  t.is(serverErrorOf(11).name, 'TopicNotFound');
  t.is(serverErrorOf(999).name, 'UnknownError');
  const busy = PulsarError.fromServer(5, 'subscribe to t', 'already connected');
  t.is(busy.kind, 'ConsumerBusy');
  t.true(busy.retriable);
  t.is(busy.message, 'subscribe to t: ConsumerBusy: already connected');
  t.false(PulsarError.fromServer(4, 'lookup of t', '').retriable);
});

/** A TCP server on a free loopback port that treats each socket with `behave`. */
async function fakeBroker(
  behave: (socket: net.Socket) => void,
): Promise<{ url: string; close(): void }> {
  const server = net.createServer(behave);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `pulsar://127.0.0.1:${port}`, close: () => server.close() };
}

test('a peer that sends garbage gets a ProtocolError, not a crash', async (t) => {
  const peer = await fakeBroker((socket) =>
    socket.end(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')),
  );
  try {
    const error = await t.throwsAsync(Connection.connect({ url: peer.url }));
    t.is((error as { kind?: string }).kind, 'ProtocolError');
    t.regex(error?.message ?? '', /not a Pulsar frame/);
  } finally {
    peer.close();
  }
});

test('a peer that never answers CONNECT times out', async (t) => {
  const sockets: net.Socket[] = [];
  const peer = await fakeBroker((socket) => sockets.push(socket));
  try {
    const error = await t.throwsAsync(Connection.connect({ url: peer.url, connectTimeoutMs: 300 }));
    t.is((error as { kind?: string }).kind, 'Timeout');
  } finally {
    for (const s of sockets) s.destroy();
    peer.close();
  }
});

/** A CONNECTED frame, as a broker answers CONNECT. */
function connectedFrame(): Buffer {
  return brokerCommand(CommandType.CONNECTED, (w) => w.string(1, 'fake-broker').uint(2, 21));
}

test('a broker that stops answering is detected by keepalive and closed with Timeout', async (t) => {
  const sockets: net.Socket[] = [];
  const peer = await fakeBroker((socket) => {
    sockets.push(socket);
    socket.once('data', () => socket.write(connectedFrame()));
  });
  try {
    const connection = await Connection.connect({ url: peer.url, keepAliveIntervalMs: 100 });
    t.is(connection.serverVersion, 'fake-broker');
    const closed = await new Promise<PulsarError>((resolve) => connection.onClose(resolve));
    t.is(closed.kind, 'Timeout');
    t.regex(closed.message, /stopped answering/);
  } finally {
    for (const s of sockets) s.destroy();
    peer.close();
  }
});
