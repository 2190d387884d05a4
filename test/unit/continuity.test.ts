/**
 * The continuity checks (server/core/continuity.ts) in every case, with no broker: where a
 * partition's messages change ledger in the planned history, in the tail (broker index or
 * one admin call, the ledger left present or gone), and a history that waits.
 */
import test from 'ava';
import {
  confirmLedgerChange,
  type LedgerEntries,
  lostBefore,
  type PlannedHistory,
  stalled,
  type Taken,
} from '../../server/core/continuity.ts';
import type { Message } from '../../server/pulsar/message.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
import type { Segment } from '../../server/pulsar/segments.ts';
import { testMessage } from '../support/messages.ts';

const topic = 'persistent://public/default/t';

function message(
  ledgerId: number,
  entryId: number,
  options: { brokerIndex?: number; firstChunk?: MessageId } = {},
): Message {
  return testMessage(Buffer.alloc(0), {
    topic,
    messageId: new MessageId(ledgerId, entryId, -1, -1, 0, options.firstChunk),
    brokerIndex: options.brokerIndex,
  });
}

const segment = (ledgerId: number, firstEntry: number, lastEntry: number): Segment => ({
  ledgerId,
  firstEntry,
  lastEntry,
  entryBytes: 100,
  offloaded: false,
});

/** Ledgers 10 (entries 0..9), 11 (0..4), 12 (0..2, the boundary at 2). */
const plan: PlannedHistory = {
  segments: [segment(10, 0, 9), segment(11, 0, 4), segment(12, 0, 2)],
  fromPublishTime: false,
};
const at = (ledgerId: number, entryId: number): Taken => ({ ledgerId, entryId });

test('the planned history: the first message must be in the first planned ledger', (t) => {
  t.is(lostBefore(plan, undefined, message(10, 0)), undefined);
  t.deepEqual(lostBefore(plan, undefined, message(11, 0)), {
    lost: 'the first message read is in ledger 11, after ledger 10',
  });
  // A start by publish time begins wherever the seek lands.
  t.is(lostBefore({ ...plan, fromPublishTime: true }, undefined, message(11, 0)), undefined);
  // Without segment metadata nothing is planned: nothing to judge.
  t.is(lostBefore({ segments: [], fromPublishTime: false }, undefined, message(11, 0)), undefined);
});

test('the planned history: within a ledger, entries may be skipped (markers)', (t) => {
  t.is(lostBefore(plan, at(10, 3), message(10, 7)), undefined);
});

test('the planned history: a ledger left before its planned end is a loss', (t) => {
  t.deepEqual(lostBefore(plan, at(10, 6), message(11, 0)), {
    lost: 'ledger 10 ended at entry 6, not 9',
  });
});

test('the planned history: the next planned ledger skipped is a loss; entered, no loss', (t) => {
  t.is(lostBefore(plan, at(10, 9), message(11, 0)), undefined);
  t.deepEqual(lostBefore(plan, at(10, 9), message(12, 0)), {
    lost: 'ledger 11 was skipped: the next message read is in ledger 12',
  });
});

test('a chunked message counts from its first chunk', (t) => {
  const chunked = message(11, 2, { firstChunk: new MessageId(10, 9) });
  t.is(lostBefore(plan, at(10, 8), chunked), undefined);
});

test('a start just before an entry (its entry - 1) is no loss at entry 0', (t) => {
  t.is(lostBefore(plan, at(11, -1), message(11, 0)), undefined);
});

test('leaving the last planned ledger, or a ledger after the plan, asks for confirmation', (t) => {
  t.is(lostBefore(plan, at(12, 2), message(13, 0)), 'confirm');
  t.is(lostBefore(plan, at(13, 40), message(14, 0)), 'confirm');
  t.is(lostBefore({ segments: [], fromPublishTime: false }, at(13, 4), message(14, 0)), 'confirm');
});

/** An admin API that lists `ledgers` and counts its calls. */
function admin(ledgers: { ledgerId: number; entries: number }[] | Error) {
  const calls = { count: 0 };
  const api: LedgerEntries = {
    ledgerEntries: async () => {
      calls.count++;
      if (ledgers instanceof Error) throw ledgers;
      return ledgers;
    },
  };
  return { api, calls };
}

test('a tail ledger change: consecutive broker indexes confirm it with no call', async (t) => {
  const { api, calls } = admin([]);
  const previous = { ...at(13, 4), brokerIndex: 99 };
  t.is(
    await confirmLedgerChange(api, topic, previous, message(14, 0, { brokerIndex: 100 })),
    undefined,
  );
  t.is(calls.count, 0);
});

test('a tail ledger change: the ledger left read to its last entry is no loss', async (t) => {
  const { api, calls } = admin([
    { ledgerId: 13, entries: 5 },
    { ledgerId: 14, entries: 3 },
  ]);
  t.is(await confirmLedgerChange(api, topic, at(13, 4), message(14, 0)), undefined);
  t.is(calls.count, 1);
});

test('a tail ledger change: the ledger left holds more entries: a loss', async (t) => {
  const { api } = admin([
    { ledgerId: 13, entries: 9 },
    { ledgerId: 14, entries: 3 },
  ]);
  t.is(
    await confirmLedgerChange(api, topic, at(13, 4), message(14, 0)),
    'ledger 13 ended at entry 4, not 8',
  );
});

test('a tail ledger change: a ledger with entries in between was skipped: a loss', async (t) => {
  const { api } = admin([
    { ledgerId: 13, entries: 5 },
    { ledgerId: 14, entries: 0 },
    { ledgerId: 15, entries: 2 },
    { ledgerId: 16, entries: 1 },
  ]);
  t.is(
    await confirmLedgerChange(api, topic, at(13, 4), message(16, 0)),
    'ledger 15 was skipped: the next message read is in ledger 16',
  );
});

test('a tail ledger change: the ledger left gone already (ambiguous) counts as a loss', async (t) => {
  const { api } = admin([{ ledgerId: 14, entries: 3 }]);
  t.regex(
    (await confirmLedgerChange(api, topic, at(13, 4), message(14, 0))) ?? '',
    /ledger 13 was deleted after entry 4 was read: its entries after it, if any, are lost/,
  );
  // With indexes that are not consecutive, the count is known.
  t.regex(
    (await confirmLedgerChange(
      api,
      topic,
      { ...at(13, 4), brokerIndex: 10 },
      message(14, 0, { brokerIndex: 50 }),
    )) ?? '',
    /39 messages or markers are missing/,
  );
});

test('a tail ledger change: indexes not consecutive but the ledger read to its end (markers): no loss', async (t) => {
  const { api } = admin([
    { ledgerId: 13, entries: 5 },
    { ledgerId: 14, entries: 3 },
  ]);
  const previous = { ...at(13, 4), brokerIndex: 10 };
  t.is(
    await confirmLedgerChange(api, topic, previous, message(14, 0, { brokerIndex: 12 })),
    undefined,
  );
});

test('a tail ledger change: no admin API, or one that fails, ends nothing', async (t) => {
  t.is(await confirmLedgerChange(undefined, topic, at(13, 4), message(14, 0)), undefined);
  const { api } = admin(new Error('503'));
  t.is(await confirmLedgerChange(api, topic, at(13, 4), message(14, 0)), undefined);
});

test('a stalled history: the ledger it waits for gone is a loss; present, or done, is not', async (t) => {
  const gone = admin([{ ledgerId: 20, entries: 0 }]).api; // truncated: a new, empty ledger
  t.regex(
    (await stalled(gone, topic, plan, undefined)) ?? '',
    /ledger 10 was deleted before it was read/,
  );
  t.regex(
    (await stalled(gone, topic, plan, at(10, 9))) ?? '',
    /ledger 11 was deleted before it was read \(the last entry read is 10:9\)/,
  );
  const present = admin([
    { ledgerId: 11, entries: 5 },
    { ledgerId: 12, entries: 3 },
  ]).api;
  t.is(await stalled(present, topic, plan, at(10, 9)), undefined);
  const { api, calls } = admin([]);
  t.is(await stalled(api, topic, plan, at(12, 2)), undefined, 'the history read to its boundary');
  t.is(calls.count, 0);
  t.is(await stalled(admin(new Error('503')).api, topic, plan, at(10, 9)), undefined);
});
