/**
 * Bad input and bad peers: each ends in a typed PulsarError that says what happened, and
 * the process goes on. The broker cases use the real standalone; the misbehaving servers
 * are plain TCP servers on free ports.
 */
import net from 'node:net';
import test from 'ava';
import { PulsarAdmin } from '../server/pulsar/admin.ts';
import { Connection } from '../server/pulsar/connection.ts';
import type { PulsarError } from '../server/pulsar/errors.ts';
import { CommandType } from '../server/pulsar/protocol/commands.ts';
import { encodeFrame } from '../server/pulsar/protocol/frame.ts';
import { ProtoWriter } from '../server/pulsar/protocol/wire.ts';
import { Reader } from '../server/pulsar/reader.ts';
import { adminGet, ensurePulsar, freshTopic, produce, pulsar } from './support/pulsar.ts';
import { testClient } from './support/seam-reader.ts';

const client = testClient();
test.before(ensurePulsar);
test.after.always(() => client.close());

test('reading a topic that does not exist fails with TopicNotFound and does not create it', async (t) => {
  const topic = freshTopic('missing');
  const error = await t.throwsAsync(Reader.open(client, { topic }));
  t.is((error as { kind?: string }).kind, 'TopicNotFound');
  const metadataError = await t.throwsAsync(client.partitions(topic));
  t.regex(
    metadataError?.message ?? '',
    /^partition metadata of persistent:\/\/public\/default\/missing-\S+: TopicNotFound/,
  );
  const topics = await adminGet<string[]>('persistent/public/default');
  t.false(topics.includes(topic), 'the read did not create the topic');
});

test('malformed topic names are refused before anything is sent', async (t) => {
  for (const topic of ['', 'a/b', 'kafka://x/y/z', 'persistent://public/default/has space']) {
    await t.throwsAsync(Reader.open(client, { topic }), { name: 'InvalidTopicNameError' }, topic);
  }
});

test('the admin client lists ledgers with entries, sizes and close times', async (t) => {
  const topic = freshTopic('admin-ledgers');
  await produce(topic, { count: 2300, batching: false, size: 10 });
  const admin = new PulsarAdmin({ webServiceUrl: pulsar.webUrl });
  const ledgers = await admin.ledgers(topic);
  t.deepEqual(
    ledgers.map((l) => [l.entries, l.open]),
    [
      [1000, false],
      [1000, false],
      [300, true],
    ],
  );
  t.true(ledgers.every((l) => l.size > 0));
  t.true(ledgers.slice(0, 2).every((l) => typeof l.closedAt === 'number' && l.closedAt > 1.7e12));
  const last = await admin.lastMessageId(topic);
  t.deepEqual([last.ledgerId, last.entryId], [ledgers[2]?.ledgerId, 299]);
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
  const command = new ProtoWriter()
    .uint(1, CommandType.CONNECTED)
    .message(CommandType.CONNECTED, (w) => w.string(1, 'fake-broker').uint(2, 21))
    .finish();
  return encodeFrame(command);
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
