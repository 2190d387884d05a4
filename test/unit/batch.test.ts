/**
 * The stream's batch (server/core/batch.ts): a payload that fails half-way through a row
 * leaves the builder unusable, and the batch is built again from its messages, each read
 * the way it was (its schema version's translate); publish times for the tail only.
 */
import test from 'ava';
import { StreamSchema } from '../../server/arrow/batch-builder.ts';
import { topicSchema } from '../../server/arrow/topic-schema.ts';
import type { Translate } from '../../server/arrow/value-schema.ts';
import { Batch } from '../../server/core/batch.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';
import { testMessage } from '../support/messages.ts';

const message = (i: number) =>
  testMessage(Buffer.from(`m${i}`), {
    messageId: new MessageId(3, i, -1),
    publishTime: 1_767_000_000_000 + i,
    sequenceId: i,
  });

/** Two schema versions' ways of reading a payload, told apart in the value. */
const older: Translate = (payload) => Buffer.concat([Buffer.from('old:'), payload]);
const newer: Translate = (payload) => Buffer.concat([Buffer.from('new:'), payload]);
const failing: Translate = () => {
  throw new Error('does not decode');
};

const values = (batch: Batch, withPublishTimes: boolean) => {
  const { batch: taken, publishTimes } = batch.take(withPublishTimes);
  const column = taken.getChild('value');
  return {
    values: Array.from({ length: taken.numRows }, (_, i) =>
      Buffer.from(column?.get(i) as Uint8Array).toString(),
    ),
    publishTimes,
  };
};

test('a batch built again after a payload that fails reads each message as it was read', (t) => {
  const batch = new Batch(new StreamSchema(topicSchema(undefined)), undefined);
  const ways = [older, older, newer, undefined, newer, older];
  for (const [i, translate] of ways.entries()) batch.append(message(i), translate);
  t.throws(() => batch.append(message(6), failing), { message: 'does not decode' });
  t.is(batch.rebuild(), 6);
  t.deepEqual(values(batch, false), {
    values: ['old:m0', 'old:m1', 'new:m2', 'm3', 'new:m4', 'old:m5'],
    publishTimes: [],
  });
});

test("a tail batch's publish times are its rows', in order; the next batch starts empty", (t) => {
  const batch = new Batch(new StreamSchema(topicSchema(undefined)), undefined);
  for (const i of [4, 5, 6]) batch.append(message(i), undefined);
  t.deepEqual(values(batch, true), {
    values: ['m4', 'm5', 'm6'],
    publishTimes: [1_767_000_000_004, 1_767_000_000_005, 1_767_000_000_006],
  });
  batch.append(message(7), newer);
  t.deepEqual(values(batch, true), { values: ['new:m7'], publishTimes: [1_767_000_000_007] });
});
