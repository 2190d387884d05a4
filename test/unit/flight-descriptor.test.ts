/**
 * Flight descriptors as reads: PATH [topic] (short or full name) is earliest → at_open; a CMD
 * is a ReadStreamRequest, serialized or in proto3 JSON (camelCase or snake_case keys, unknown
 * keys refused), validated as ReadStream validates its requests. The seam.Segments action's
 * body: a topic name, or a command in either form.
 */
import type * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { apiType } from '../../server/api.ts';
import { SeamError } from '../../server/core/errors.ts';
import { planSegments, segmentsDescriptor } from '../../server/flight/actions.ts';
import { descriptorRequest } from '../../server/flight/descriptor.ts';
import type { ReadStreamRequest__Output } from '../../server/grpc/generated/seam/v1/ReadStreamRequest.ts';
import { lenientDeserializer } from '../../server/grpc/request.ts';
import { loadDefinition } from '../../server/grpc/server.ts';

const readStream = (
  loadDefinition()['seam.v1.SeamService'] as unknown as Record<
    string,
    grpc.MethodDefinition<unknown, unknown>
  >
).ReadStream;
const deserialize = lenientDeserializer(
  readStream?.requestDeserialize as (bytes: Buffer) => ReadStreamRequest__Output,
);
const ReadStreamRequest = apiType('ReadStreamRequest');

const cmd = (bytes: Buffer | string) => ({
  type: 'CMD' as const,
  cmd: Buffer.from(bytes),
  path: [],
});
const json = (value: unknown) => cmd(JSON.stringify(value));
const invalid = (message: RegExp) => ({ instanceOf: SeamError, message });

test('PATH [topic] is the topic from earliest to at_open, short or full name', (t) => {
  for (const topic of ['orders', 'persistent://public/default/orders']) {
    const request = descriptorRequest({ type: 'PATH', path: [topic] }, deserialize);
    t.is(request.topic, topic);
    t.deepEqual(request.start, { kind: 'earliest' });
    t.deepEqual(request.end, { kind: 'atOpen' });
    t.deepEqual(request.columns, []);
  }
});

test('PATH with no topic or several elements, and a descriptor of no type, are refused', (t) => {
  t.throws(
    () => descriptorRequest({ type: 'PATH', path: [] }, deserialize),
    invalid(/PATH descriptor names one topic.*0 elements/),
  );
  t.throws(
    () => descriptorRequest({ type: 'PATH', path: ['public', 'default', 'orders'] }, deserialize),
    invalid(/3 elements/),
  );
  t.throws(
    () => descriptorRequest({ type: 'UNKNOWN', path: [] }, deserialize),
    invalid(/PATH \[topic\] or a CMD/),
  );
  t.throws(() => descriptorRequest(undefined, deserialize), invalid(/PATH \[topic\] or a CMD/));
});

test('CMD: a serialized ReadStreamRequest, every option applies', (t) => {
  const bytes = Buffer.from(
    ReadStreamRequest.encode(
      ReadStreamRequest.fromObject({
        topic: 'orders',
        start_publish_time: { seconds: 1_762_300_800 },
        end_publish_time: { seconds: 1_762_387_200 },
        columns: ['value', '__messageId'],
        batching: { max_rows: 100 },
      }),
    ).finish(),
  );
  const request = descriptorRequest(cmd(bytes), deserialize);
  t.is(request.topic, 'orders');
  t.deepEqual(request.start, { kind: 'publishTime', ms: 1_762_300_800_000 });
  t.deepEqual(request.end, { kind: 'publishTime', ms: 1_762_387_200_000 });
  t.deepEqual(request.columns, ['value', '__messageId']);
  t.is(request.batching.maxRows, 100);
});

test("CMD in JSON: the issue's camelCase example is bounded, from its start time", (t) => {
  const request = descriptorRequest(
    json({ topic: 'orders', startPublishTime: '2026-11-05T00:00:00Z', atOpen: {} }),
    deserialize,
  );
  t.is(request.topic, 'orders');
  t.deepEqual(request.start, { kind: 'publishTime', ms: Date.parse('2026-11-05T00:00:00Z') });
  // protobufjs would have dropped both keys: earliest → follow, a read that never ends.
  t.deepEqual(request.end, { kind: 'atOpen' });
});

test('CMD in JSON: snake_case keys, durations, uint64 strings and base64 bytes', (t) => {
  const request = descriptorRequest(
    json({
      topic: 'persistent://public/default/orders',
      message_id: 'CAEQAiD///////////8B',
      end_publish_time: '2026-11-05T01:00:00.250Z',
      columns: ['value'],
      batching: { max_rows: 10, maxBytes: '65536', max_latency: '0.010s' },
    }),
    deserialize,
  );
  t.is(request.start.kind, 'messageId');
  t.deepEqual(request.end, { kind: 'publishTime', ms: Date.parse('2026-11-05T01:00:00.250Z') });
  t.deepEqual(request.columns, ['value']);
  t.like(request.batching, { maxRows: 10, maxBytes: 65_536, maxLatencyMs: 10 });
});

test('CMD in JSON: unknown keys, two starts, bad values and broken JSON are refused', (t) => {
  t.throws(
    () => descriptorRequest(json({ topic: 'orders', atopen: {} }), deserialize),
    invalid(/not a seam.v1.ReadStreamRequest in proto3 JSON.*atopen/),
  );
  t.throws(
    () => descriptorRequest(json({ topic: 'orders', earliest: {}, latest: {} }), deserialize),
    invalid(/proto3 JSON/),
  );
  t.throws(
    () => descriptorRequest(json({ topic: 'orders', startPublishTime: 'yesterday' }), deserialize),
    invalid(/proto3 JSON/),
  );
  t.throws(() => descriptorRequest(cmd('{"topic": '), deserialize), invalid(/proto3 JSON/));
});

test('CMD: the request is validated as ReadStream validates it', (t) => {
  t.throws(
    () => descriptorRequest(json({ columns: ['value'] }), deserialize),
    invalid(/topic is required/),
  );
  t.throws(
    () =>
      descriptorRequest(
        json({
          topic: 'orders',
          startPublishTime: '2026-11-05T00:00:00Z',
          endPublishTime: '2026-11-04T00:00:00Z',
        }),
        deserialize,
      ),
    invalid(/end_publish_time must be after start_publish_time/),
  );
  // Bytes that are not a ReadStreamRequest at all (a truncated varint).
  t.throws(
    () => descriptorRequest(cmd(Buffer.from([0x0a, 0xff])), deserialize),
    invalid(/not a seam.v1.ReadStreamRequest/),
  );
});

test('CMD in JSON: start and end positions per partition (the form seam.LastMessageIds returns)', (t) => {
  const request = descriptorRequest(
    json({
      topic: 'persistent://public/default/orders',
      startPositions: {
        positions: [
          { partition: 0, afterMessageId: 'CLsBEAAg/////w8=' },
          { partition: 1, fromEarliest: true },
        ],
      },
      endPositions: {
        ends: [
          { partition: 0, lastMessageId: 'CLwBEBQg/////w8=' },
          { partition: 1, lastMessageId: 'CL0BEAMg/////w8=' },
        ],
      },
      columns: ['__messageId', 'value'],
    }),
    deserialize,
  );
  t.is(request.start.kind, 'positions');
  t.is(request.end.kind, 'positions');
  if (request.end.kind !== 'positions') return;
  t.deepEqual(
    [...request.end.last].map(([p, id]) => [p, id.ledgerId, id.entryId]),
    [
      [0, 188, 20],
      [1, 189, 3],
    ],
  );
});

test('a seam.Segments body: a topic name is a PATH, JSON and serialized requests are CMDs', (t) => {
  for (const topic of ['orders', 'persistent://public/default/orders', ' orders\u00e9 ']) {
    const descriptor = segmentsDescriptor(Buffer.from(topic));
    t.deepEqual([descriptor.type, descriptor.path], ['PATH', [topic.trim()]]);
  }
  const text = JSON.stringify({ topic: 'orders', atOpen: {} });
  t.deepEqual(segmentsDescriptor(Buffer.from(text)).cmd, Buffer.from(text));
  const serialized = Buffer.from(
    ReadStreamRequest.encode(
      ReadStreamRequest.fromObject({ topic: 'orders', follow: {} }),
    ).finish(),
  );
  t.is(serialized[0], 0x0a);
  const descriptor = segmentsDescriptor(serialized);
  t.is(descriptor.type, 'CMD');
  t.is(descriptorRequest(descriptor, deserialize).end.kind, 'follow');
  // Not valid UTF-8, or empty: a command (which then says what is wrong).
  t.is(segmentsDescriptor(Buffer.from([0xff, 0x41])).type, 'CMD');
  t.is(segmentsDescriptor(Buffer.alloc(0)).type, 'CMD');
});

test('seam.Segments answers the history endpoints of a plan, not its tails', (t) => {
  const info = {
    topic: 'persistent://public/default/orders-partition-1',
    partition: 1,
    ledgerId: 12,
    firstEntry: 3,
    lastEntry: 9,
    storedBytes: 700,
  };
  const endpoints = [
    { info: { ...info, open: false } },
    { info: { ...info, ledgerId: 13, firstEntry: 0, open: true } },
    { info: { ...info, ledgerId: undefined } },
  ];
  const segment = { topic: info.topic, partition: 1, bytes: 700, lastEntry: 9 };
  t.deepEqual(planSegments(endpoints), [
    { ...segment, ledgerId: 12, firstEntry: 3, entries: 7, open: false },
    { ...segment, ledgerId: 13, firstEntry: 0, entries: 10, open: true },
  ]);
});
