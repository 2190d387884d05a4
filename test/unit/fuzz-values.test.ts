/**
 * Fuzzing value decoding: random AVRO, JSON and PROTOBUF_NATIVE schemas with payloads the
 * reference encoders wrote (each must decode), mutated or random payloads (decode or fail
 * with ValueDecodeError), and entries whose counts and sizes lie (decode or fail typed).
 * SEAM_FUZZ_RUNS sets the cases per property (default 1500; bench/fuzz.ts runs a million).
 */
import test from 'ava';
import fc from 'fast-check';
import { loadFixtures } from '../support/fixtures.ts';
import {
  avroCases,
  batchPayloads,
  jsonCases,
  lyingEntries,
  protobufCases,
  runEntryCase,
  runValueCase,
  type ValueCase,
} from '../support/fuzz-values.ts';

const runs = Number(process.env.SEAM_FUZZ_RUNS ?? 1500);

for (const [name, cases] of [
  ['AVRO', avroCases],
  ['JSON', jsonCases],
  ['PROTOBUF_NATIVE', protobufCases],
] as [string, fc.Arbitrary<ValueCase>][]) {
  test(`${name}: random schemas and payloads decode or fail with ValueDecodeError`, (t) => {
    const outcomes: Record<string, number> = {};
    fc.assert(
      fc.property(cases, (c) => {
        const outcome = runValueCase(c);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }),
      { numRuns: runs },
    );
    t.log(outcomes);
    t.true((outcomes.ok ?? 0) > 0 && (outcomes.ValueDecodeError ?? 0) > 0);
  });
}

test('entries whose counts and sizes lie decode or fail typed', (t) => {
  const outcomes: Record<string, number> = {};
  fc.assert(
    fc.property(lyingEntries(batchPayloads(loadFixtures().map((f) => f.bytes))), (bytes) => {
      const outcome = runEntryCase(bytes);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }),
    { numRuns: runs },
  );
  t.log(outcomes);
  t.true(Object.keys(outcomes).length > 2);
});
