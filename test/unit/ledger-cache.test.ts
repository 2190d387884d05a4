/**
 * The ledger lists planners share (server/pulsar/admin.ts `LedgerCache`): concurrent and
 * recent callers list a partition once, but never from a list that misses a ledger they
 * know of, and a failure is not kept. Pure: a fake fetch and a fake clock.
 */
import test from 'ava';
import { type Ledger, LedgerCache } from '../../server/pulsar/admin.ts';
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
