/**
 * The ledger lists planners share (server/pulsar/admin.ts `LedgerCache`): concurrent and
 * recent callers list a partition once, but never from a list that misses a ledger they
 * know of, and a failure is not kept. Pure: a fake fetch and a fake clock, or a local HTTP
 * server standing for the admin API.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { type Ledger, LedgerCache, PulsarAdmin } from '../../server/pulsar/admin.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';

const ledger = (ledgerId: number, entries = 10): Ledger => ({
  ledgerId,
  entries,
  size: entries * 100,
  offloaded: false,
  closedAt: undefined,
  open: false,
});

/** A fetch that counts its calls and answers `current()` a tick later. */
function fetcher(current: () => Ledger[] | Error) {
  const counted = {
    calls: 0,
    fetch: async () => {
      counted.calls++;
      await new Promise((resolve) => setImmediate(resolve));
      const answer = current();
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return counted;
}

function clock() {
  const c = { ms: 1_000_000, now: () => c.ms };
  return c;
}

test('concurrent callers share one fetch; within the TTL later ones take its list', async (t) => {
  const time = clock();
  const cache = new LedgerCache({ now: time.now });
  const source = fetcher(() => [ledger(1), ledger(2)]);
  const lists = await Promise.all(
    Array.from({ length: 8 }, () => cache.get('p0', undefined, source.fetch)),
  );
  t.is(source.calls, 1);
  t.true(lists.every((list) => list === lists[0]));
  time.ms += 999;
  await cache.get('p0', new MessageId(2, 5), source.fetch);
  t.is(source.calls, 1);
  time.ms += 1; // 1 s after the fetch began: listed again
  await cache.get('p0', undefined, source.fetch);
  t.is(source.calls, 2);
});

test('a list that does not reach a known message is fetched again, within the TTL too', async (t) => {
  const cache = new LedgerCache({ now: clock().now });
  let ledgers = [ledger(1), ledger(2)];
  const source = fetcher(() => ledgers);
  await cache.get('p0', new MessageId(2, 9), source.fetch);
  ledgers = [ledger(1), ledger(2), ledger(3, 1)]; // the broker rolled over to ledger 3
  // A message in ledger 3 is newer than the list: planning on it would leave ledger 3 out.
  const fresh = await cache.get('p0', new MessageId(3, 0), source.fetch);
  t.is(source.calls, 2);
  t.deepEqual(
    fresh.map((l) => l.ledgerId),
    [1, 2, 3],
  );
  // Older messages, and those of a ledger retention deleted since, are covered.
  await cache.get('p0', new MessageId(1, 0), source.fetch);
  await cache.get('p0', new MessageId(0, 3), source.fetch);
  await cache.get('p0', MessageId.earliest, source.fetch);
  t.is(source.calls, 2);
});

test('lists are kept per key (caller and partition), and failures are not kept', async (t) => {
  const cache = new LedgerCache({ now: clock().now });
  let answer: Ledger[] | Error = new Error('503');
  const source = fetcher(() => answer);
  await t.throwsAsync(cache.get('alice p0', undefined, source.fetch), { message: '503' });
  answer = [ledger(7)];
  t.deepEqual(await cache.get('alice p0', undefined, source.fetch), [ledger(7)]);
  await cache.get('bob p0', undefined, source.fetch);
  await cache.get('alice p1', undefined, source.fetch);
  t.is(source.calls, 4);
});

test('at most `capacity` lists are kept, the oldest dropped first', async (t) => {
  const cache = new LedgerCache({ now: clock().now, capacity: 2 });
  const source = fetcher(() => [ledger(1)]);
  for (const key of ['a', 'b', 'c']) await cache.get(key, undefined, source.fetch);
  await cache.get('c', undefined, source.fetch);
  await cache.get('b', undefined, source.fetch);
  t.is(source.calls, 3);
  await cache.get('a', undefined, source.fetch);
  t.is(source.calls, 4);
});

test("PulsarAdmin: planners' calls share lists per caller; calls without `recent` list afresh", async (t) => {
  const seen: string[] = [];
  const server = createServer((request, response) => {
    seen.push(
      `${request.url?.split('/').at(-1)} ${request.headers.authorization ?? ''}${request.headers['x-original-principal'] ?? ''}`,
    );
    const body = request.url?.endsWith('/internalStats')
      ? {
          currentLedgerEntries: 3,
          currentLedgerSize: 300,
          ledgers: [{ ledgerId: 5, entries: 0, size: 0, offloaded: false }],
        }
      : { ledgers: [{ ledgerId: 5 }] };
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const admin = new PulsarAdmin({
      webServiceUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
    const topic = 'persistent://public/default/orders-partition-0';
    const stats = () => seen.filter((s) => s.startsWith('internalStats'));
    await Promise.all([
      admin.ledgers(topic, {}),
      admin.ledgers(topic, {}),
      admin.ledgers(topic, {}),
    ]);
    t.is(stats().length, 1);
    // Each call as a caller is its own view, but the same caller's lists are shared.
    const alice = () => admin.forCaller({ principal: 'alice', token: 'a.b.c' });
    await alice().ledgers(topic, {});
    await alice().ledgers(topic, {});
    await admin.forCaller({ principal: 'bob' }).ledgers(topic, {});
    t.deepEqual(stats(), ['internalStats ', 'internalStats Bearer a.b.c', 'internalStats bob']);
    // Not a planner: the list as it is now.
    await admin.ledgers(topic);
    t.is(stats().length, 4);
  } finally {
    server.close();
  }
});
