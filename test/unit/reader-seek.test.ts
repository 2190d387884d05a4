/**
 * A reader opened at a publish time seeks before it reads. A seek makes the reader subscribe
 * again, and a broker may close that consumer while it subscribes (the topic moving to
 * another owner): the open is retried, not failed. A fake broker plays the broker.
 */
import test from 'ava';
import { PulsarClient } from '../../server/pulsar/client.ts';
import { CommandType } from '../../server/pulsar/protocol/commands.ts';
import { Reader } from '../../server/pulsar/reader.ts';
import { brokerCommand, startFakeBroker } from './support/fake-broker.ts';

const topic = 'persistent://public/default/seek-at-open';

test('a reader opened at a publish time opens when the broker closes the consumer its seek subscribes', async (t) => {
  let subscribes = 0;
  const broker = await startFakeBroker({
    onSubscribe(command, socket) {
      subscribes++;
      // The second SUBSCRIBE is the seek's: closed by the broker before its answer.
      if (subscribes === 2) {
        socket.write(
          brokerCommand(CommandType.CLOSE_CONSUMER, (w) =>
            w.uint(1, command.consumerId).uint(2, 0),
          ),
        );
      }
      return true;
    },
  });
  const client = new PulsarClient({ serviceUrl: broker.url });
  try {
    const reader = await Reader.open(client, { topic, startPublishTime: 1_700_000_000_000 });
    const seeks = broker.commands.filter((c) => c.type === CommandType.SEEK);
    t.is(seeks.length, 2, 'the seek was made again after the consumer was closed');
    // The second seek is on the consumer the reader reconnected with, and the reader
    // subscribed once more after it.
    const last = broker.commands.filter((c) => c.type === CommandType.SUBSCRIBE).at(-1);
    t.true((last?.consumerId ?? 0) > (seeks[1]?.consumerId ?? Number.POSITIVE_INFINITY));
    await reader.close();
  } finally {
    await client.close();
    await broker.close();
  }
});
