/**
 * Flight tickets (server/core/ticket.ts): the envelope refuses anything that is not a ticket
 * this gateway (or its fleet) issued, before decoding it. Pure: no Pulsar, no gRPC.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { SeamError } from '../../server/core/errors.ts';
import { defaultBatchLimits } from '../../server/core/request.ts';
import {
  decodeTicket,
  encodeTicket,
  InvalidTicketError,
  loadTicketKeys,
  maxTicketBytes,
  parseTicketKeys,
  type TicketFault,
  TicketKeyError,
  type TicketKeyRing,
  type TicketRange,
} from '../../server/core/ticket.ts';
import { MessageId } from '../../server/pulsar/message-id.ts';

const runs = Number(process.env.SEAM_FUZZ_RUNS ?? 200);
const b64 = (bytes: Buffer) => bytes.toString('base64');
const keyA = randomBytes(32);
const keyB = randomBytes(32);
const ringA = parseTicketKeys(`1:${b64(keyA)}\n`, 'a');
/** After rotation: key 2 signs, key 1 still verifies. */
const ringRotated = parseTicketKeys(`2:${b64(keyB)}\n1:${b64(keyA)}\n`, 'rotated');
const ringOnlyB = parseTicketKeys(`2:${b64(keyB)}\n`, 'b');

const ledger = fc.integer({ min: 0, max: 2 ** 40 });
const messageId = fc
  .tuple(ledger, fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: -1, max: 999 }))
  .map(([l, e, b]) => new MessageId(l, e, b));
const range: fc.Arbitrary<TicketRange> = fc.record({
  topic: fc.string({ minLength: 1, maxLength: 80 }),
  partition: fc.integer({ min: -1, max: 1000 }),
  start: fc.oneof(
    fc.constant({ kind: 'earliest' as const }),
    messageId.map((id) => ({ kind: 'after' as const, id })),
    messageId.map((id) => ({ kind: 'at' as const, id })),
    fc.integer({ min: 1, max: 2 ** 45 }).map((ms) => ({ kind: 'publishTime' as const, ms })),
  ),
  lastMessageId: fc.option(messageId, { nil: undefined }),
  endPublishTimeMs: fc.option(fc.integer({ min: 0, max: 2 ** 45 }), { nil: undefined }),
  columns: fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }),
  batching: fc.record({
    maxRows: fc.integer({ min: 1, max: 1_048_576 }),
    maxBytes: fc.integer({ min: 1, max: 64 * 1024 * 1024 }),
    maxLatencyMs: fc.integer({ min: 0, max: 60_000 }),
    heartbeatMs: fc.integer({ min: 1, max: 300_000 }),
  }),
  schemaVersion: fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }).map(Buffer.from), {
    nil: undefined,
  }),
  ledgerId: fc.option(ledger, { nil: undefined }),
  issuedAtMs: fc.integer({ min: 0, max: 2 ** 45 }),
});
const modes: [string, TicketKeyRing | undefined][] = [
  ['CRC32C (no keys)', undefined],
  ['HMAC', ringA],
];
const sample: TicketRange = {
  topic: 'persistent://public/default/orders-partition-3',
  partition: 3,
  start: { kind: 'at', id: new MessageId(17, 0) },
  lastMessageId: new MessageId(17, 999),
  endPublishTimeMs: undefined,
  columns: ['value', '__messageId'],
  batching: defaultBatchLimits,
  schemaVersion: Buffer.of(0, 0, 0, 0, 0, 0, 0, 2),
  ledgerId: 17,
  issuedAtMs: 1_764_928_800_000,
};

/** Asserts that decoding is refused as INVALID_ARGUMENT, for the given fault when named. */
function refused(ticket: Uint8Array, keys: TicketKeyRing | undefined, fault?: TicketFault): void {
  let error: unknown;
  try {
    decodeTicket(ticket, keys);
  } catch (e) {
    error = e;
  }
  if (!(error instanceof InvalidTicketError) || !(error instanceof SeamError)) {
    throw new Error(`expected InvalidTicketError, got ${String(error)}`);
  }
  if (error.code !== 'INVALID_ARGUMENT') throw new Error(`code ${error.code}`);
  if (!error.message.startsWith('not a ticket of this Seam')) throw new Error(error.message);
  if (fault && error.fault !== fault) throw new Error(`fault ${error.fault}, expected ${fault}`);
}

for (const [mode, keys] of modes) {
  test(`${mode}: a ticket decodes to the range it was made from`, (t) => {
    fc.assert(
      fc.property(range, (r) => {
        const ticket = encodeTicket(r, keys);
        t.deepEqual(decodeTicket(ticket, keys), r);
        t.deepEqual(encodeTicket(decodeTicket(ticket, keys), keys), ticket);
      }),
      { numRuns: runs },
    );
  });

  test(`${mode}: a bit flipped at any byte is refused`, (t) => {
    const ticket = encodeTicket(sample, keys);
    for (let i = 0; i < ticket.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const edited = Buffer.from(ticket);
        edited[i] = (edited[i] ?? 0) ^ (1 << bit);
        refused(edited, keys);
      }
    }
    t.log(`${ticket.length} bytes x 8 bits refused`);
    t.pass();
  });

  test(`${mode}: every truncation is refused`, (t) => {
    fc.assert(
      fc.property(range, (r) => {
        const ticket = encodeTicket(r, keys);
        for (let n = 0; n < ticket.length; n++) refused(ticket.subarray(0, n), keys);
      }),
      { numRuns: 20 },
    );
    t.pass();
  });
}

test('foreign bytes and a foreign magic are refused', (t) => {
  const ticket = encodeTicket(sample);
  refused(Buffer.concat([Buffer.from('S1'), ticket.subarray(2)]), undefined, 'envelope');
  refused(Buffer.from('{"segment":1}'), undefined, 'envelope');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      refused(bytes, undefined);
      refused(bytes, ringA);
    }),
    { numRuns: runs },
  );
  t.pass();
});

test('a ticket signed with another key under the same key id is refused', (t) => {
  const other = parseTicketKeys(`1:${b64(keyB)}`, 'other');
  refused(encodeTicket(sample, other), ringA, 'envelope');
  t.pass();
});

test('a key id the ring does not hold is refused, and so is any signed ticket without keys', (t) => {
  refused(encodeTicket(sample, ringA), ringOnlyB, 'key');
  refused(encodeTicket(sample, ringA), undefined, 'key');
  t.pass();
});

test('rotation: the new key signs, the old key still verifies, a dropped key no longer does', (t) => {
  const old = encodeTicket(sample, ringA);
  const fresh = encodeTicket(sample, ringRotated);
  t.is(old[2], 1);
  t.is(fresh[2], 2);
  t.deepEqual(decodeTicket(old, ringRotated), sample);
  t.deepEqual(decodeTicket(fresh, ringRotated), sample);
  refused(fresh, ringA, 'key');
  refused(old, ringOnlyB, 'key');
});

test('with keys configured, an unsigned (key id 0) ticket is refused', (t) => {
  const unsigned = encodeTicket(sample);
  t.is(unsigned[2], 0);
  t.deepEqual(decodeTicket(unsigned), sample);
  refused(unsigned, ringA, 'key');
});

test('an oversized ticket is refused before it is read, and none is issued', (t) => {
  const ticket = encodeTicket(sample);
  refused(Buffer.concat([ticket, Buffer.alloc(maxTicketBytes)]), undefined, 'size');
  const error = t.throws(() =>
    encodeTicket({ ...sample, columns: Array.from({ length: 2000 }, (_, i) => `column_${i}`) }),
  );
  t.true(error instanceof SeamError && error.code === 'INVALID_ARGUMENT');
});

test('a well-made ticket is small', (t) => {
  t.true(encodeTicket(sample).length < 150);
  t.true(encodeTicket(sample, ringA).length < 160);
  t.log(`CRC ${encodeTicket(sample).length} B, HMAC ${encodeTicket(sample, ringA).length} B`);
});

test('key files: comments and blank lines skipped; bad lines named with their line number', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'seam-keys-'));
  const file = join(dir, 'keys');
  writeFileSync(file, `# rotated 2026-12-05\n\n7:${b64(keyB)}\n1:${b64(keyA)}\n`);
  const ring = loadTicketKeys(file);
  t.is(ring.signing.kid, 7);
  t.deepEqual([...ring.keys.keys()], [7, 1]);
  const bad: [string, RegExp][] = [
    ['', /no keys/],
    [`0:${b64(keyA)}`, /b:1: expected 'k:base64key' with k in 1\.\.255/],
    [`256:${b64(keyA)}`, /k in 1\.\.255/],
    [`1:${b64(keyA)}\n1:${b64(keyB)}`, /b:2: key 1 is listed twice/],
    [`1:${b64(randomBytes(8))}`, /key 1 is 8 bytes; use at least 16/],
    ['1 secret', /expected 'k:base64key'/],
  ];
  for (const [text, message] of bad) {
    t.throws(() => parseTicketKeys(text, 'b'), { instanceOf: TicketKeyError, message });
  }
  t.throws(() => loadTicketKeys(join(dir, 'missing')), {
    instanceOf: TicketKeyError,
    message: /cannot read ticket keys/,
  });
});
