/**
 * The real Pulsar standalone the project runs: the official client writes to it, and its
 * managed-ledger metadata shows the small segments (ledgers) the tests rely on.
 */
import test from 'ava';
import {
  adminGet,
  ensurePulsar,
  freshTopic,
  produce,
  readOfficial,
  topicPath,
} from './support/pulsar.ts';

const entriesPerLedger = Number(process.env.SEAM_PULSAR_ENTRIES_PER_LEDGER ?? 1000);

interface InternalStats {
  entriesAddedCounter: number;
  currentLedgerEntries: number;
  lastConfirmedEntry: string;
  ledgers: { ledgerId: number; entries: number; size: number; offloaded: boolean }[];
}

test.before(ensurePulsar);

test('unbatched messages roll over into ledgers of managedLedgerMaxEntriesPerLedger entries', async (t) => {
  const topic = freshTopic('ledgers');
  const count = 2 * entriesPerLedger + entriesPerLedger / 2;
  const ids = await produce(topic, { count, batching: false });
  t.is(ids.length, count);

  const stats = await adminGet<InternalStats>(`${topicPath(topic)}/internalStats`);
  t.is(stats.entriesAddedCounter, count);
  // Closed ledgers report their entries; the open one is listed with 0 and counted apart.
  t.deepEqual(
    stats.ledgers.map((l) => l.entries),
    [entriesPerLedger, entriesPerLedger, 0],
  );
  t.is(stats.currentLedgerEntries, entriesPerLedger / 2);
  // The producer's ids agree with the ledgers: each ledger holds entries 0..n-1 in order.
  const perLedger = new Map<number, number[]>();
  for (const id of ids) {
    t.is(id.batch_index, -1);
    perLedger.set(id.ledger, [...(perLedger.get(id.ledger) ?? []), id.entry]);
  }
  t.deepEqual(
    [...perLedger.keys()],
    stats.ledgers.map((l) => l.ledgerId),
  );
  const lastLedger = stats.ledgers.at(-1)?.ledgerId;
  t.is(stats.lastConfirmedEntry, `${lastLedger}:${entriesPerLedger / 2 - 1}`);
});

test('the official reader reads back what the official producer wrote, batched and keyed', async (t) => {
  const topic = freshTopic('roundtrip');
  const ids = await produce(topic, { count: 500, keys: 7, size: 100, compression: 'LZ4' });
  const read = await readOfficial(topic);
  t.deepEqual(
    read.map((m) => m.message_id.serialized_b64),
    ids.map((id) => id.serialized_b64),
  );
  t.true(
    ids.some((id) => id.batch_index > 0),
    'the producer batched',
  );
  read.forEach((m, i) => {
    t.is(m.key, `k${i % 7}`);
    t.is(
      Buffer.from(m.value_b64, 'base64').toString().slice(0, 10),
      i.toString().padStart(10, '0'),
    );
  });
});
