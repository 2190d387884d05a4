/**
 * The fuzz run: a million cases (by default) against Seam's decoders, value column writers
 * (random AVRO, JSON and PROTOBUF_NATIVE schemas) and request handling, printing what each
 * target did with them. Any case that ends in an untyped error is a crash; any case that
 * holds the event loop over 100 ms is a stall: both are printed with the seed, and the run
 * exits 1. It prints the slowest case's time and the largest heap seen.
 *
 *   node bench/fuzz.ts [--cases 1000000] [--seed N]
 *
 * Needs no broker: the corpus is the committed broker bytes in test/fixtures/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { SeamError } from '../server/core/errors.ts';
import { decodeResumeToken } from '../server/core/resume-token.ts';
import type { ReadStreamRequest__Output } from '../server/grpc/generated/seam/v1/ReadStreamRequest.ts';
import { toReadRequest } from '../server/grpc/request.ts';
import { InvalidMessageIdError, MessageId } from '../server/pulsar/message-id.ts';
import { loadFixtures } from '../test/support/fixtures.ts';
import {
  chunking,
  decodeStream,
  mutateUnderChecksums,
  mutation,
  resumeToken,
  typedName,
  wireRequest,
} from '../test/support/fuzz.ts';
import {
  avroCases,
  batchPayloads,
  jsonCases,
  lyingEntries,
  protobufCases,
  runEntryCase,
  runValueCase,
} from '../test/support/fuzz-values.ts';

const { values } = parseArgs({
  options: { cases: { type: 'string', default: '1000000' }, seed: { type: 'string' } },
});
const total = Number(values.cases);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);

const corpus = loadFixtures().map((f) => f.bytes);
/** A case holding the event loop longer than this is a stall. */
const stallMs = 100;
process.stderr.write(
  `fuzz: corpus of ${corpus.length} captured streams, ${corpus.reduce((n, s) => n + s.length, 0)} bytes; seed ${seed}\n`,
);

/** One fuzz target: an arbitrary and what to do with each case; returns the outcome name. */
interface Target {
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: each target has its own case type
  arbitrary: fc.Arbitrary<any>;
  // biome-ignore lint/suspicious/noExplicitAny: see above
  run(value: any): string;
}

/** Runs `decode`; returns 'ok', or the typed error's name; rethrows anything else. */
function outcome(decode: () => unknown, typed: (error: unknown) => string | undefined): string {
  try {
    decode();
    return 'ok';
  } catch (error) {
    const name = typed(error);
    if (!name) throw error;
    return name;
  }
}

const invalidArgument = (error: unknown) =>
  error instanceof SeamError && error.code === 'INVALID_ARGUMENT' ? 'INVALID_ARGUMENT' : undefined;
const streamIndex = fc.nat(corpus.length - 1);
const targets: Target[] = [
  {
    name: 'broker stream, mutated',
    arbitrary: fc.tuple(streamIndex, mutation(), chunking),
    run: ([i, mutate, sizes]) => outcome(() => decodeStream(mutate(corpus[i]), sizes), typedName),
  },
  {
    name: 'entries under a valid checksum',
    arbitrary: fc.tuple(streamIndex, mutation()),
    run: ([i, mutate]) =>
      outcome(() => decodeStream(mutateUnderChecksums(corpus[i] as Buffer, mutate)), typedName),
  },
  {
    name: 'entries whose counts and sizes lie',
    arbitrary: lyingEntries(batchPayloads(corpus)),
    run: runEntryCase,
  },
  { name: 'AVRO values, random schemas', arbitrary: avroCases, run: runValueCase },
  { name: 'JSON values, random schemas', arbitrary: jsonCases, run: runValueCase },
  { name: 'PROTOBUF_NATIVE values, random schemas', arbitrary: protobufCases, run: runValueCase },
  {
    name: 'ReadStreamRequest fields',
    arbitrary: wireRequest,
    run: (wire) => outcome(() => toReadRequest(wire as ReadStreamRequest__Output), invalidArgument),
  },
  {
    name: 'message id bytes',
    arbitrary: fc.uint8Array({ maxLength: 80 }),
    run: (bytes) =>
      outcome(
        () => MessageId.deserialize(bytes),
        (e) => (e instanceof InvalidMessageIdError ? e.name : undefined),
      ),
  },
  {
    name: 'resume token bytes',
    arbitrary: resumeToken('persistent://public/default/t'),
    run: (bytes) =>
      outcome(() => decodeResumeToken('persistent://public/default/t', bytes), invalidArgument),
  },
];

const rows: {
  target: string;
  cases: number;
  outcomes: Record<string, number>;
  seconds: number;
  slowestMs: number;
}[] = [];
let crashes = 0;
let stalls = 0;
let slowest = { ms: 0, target: '' };
let maxHeap = 0;
const perTarget = Math.ceil(total / targets.length);
for (const [index, target] of targets.entries()) {
  const outcomes: Record<string, number> = {};
  let slowestMs = 0;
  const started = performance.now();
  let done = 0;
  const result = fc.check(
    fc.property(target.arbitrary, (value) => {
      const start = performance.now();
      const name = target.run(value);
      const ms = performance.now() - start;
      if (ms > slowestMs) slowestMs = ms;
      if (ms > slowest.ms) slowest = { ms, target: target.name };
      if (ms > stallMs) {
        stalls++;
        process.stderr.write(`fuzz: STALL in ${target.name}: ${ms.toFixed(0)} ms\n`);
      }
      if (done % 100 === 0) maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
      outcomes[name] = (outcomes[name] ?? 0) + 1;
      if (++done % 50_000 === 0)
        process.stderr.write(`fuzz: ${target.name}: ${done}/${perTarget}\n`);
    }),
    { numRuns: perTarget, seed: seed + index },
  );
  if (result.failed) {
    crashes++;
    const error = result.errorInstance as Error | undefined;
    process.stderr.write(
      `fuzz: CRASH in ${target.name} (seed ${result.seed}, path ${result.counterexamplePath}): ${error?.stack ?? String(error)}\n`,
    );
  }
  rows.push({
    target: target.name,
    cases: done,
    outcomes,
    seconds: (performance.now() - started) / 1000,
    slowestMs,
  });
}

const line = (cells: string[]) =>
  `${cells.map((c, i) => (i ? c.padStart(12) : c.padEnd(32))).join(' ')}`;
const names = [...new Set(rows.flatMap((r) => Object.keys(r.outcomes)))].sort();
console.log(line(['target', 'cases', ...names, 'seconds']));
for (const r of rows)
  console.log(
    line([
      r.target,
      String(r.cases),
      ...names.map((n) => String(r.outcomes[n] ?? 0)),
      r.seconds.toFixed(1),
    ]),
  );
const cases = rows.reduce((n, r) => n + r.cases, 0);
const heapMiB = maxHeap / 2 ** 20;
console.log(
  `${cases} cases, ${crashes} crashes, ${stalls} stalls over ${stallMs} ms (seed ${seed}); slowest case ${slowest.ms.toFixed(1)} ms (${slowest.target}); largest heap ${heapMiB.toFixed(0)} MiB`,
);
await mkdir(new URL('results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('results/fuzz.json', import.meta.url),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      command: `node bench/fuzz.ts --cases ${total} --seed ${seed}`,
      seed,
      cases,
      crashes,
      stalls,
      slowestCaseMs: slowest.ms,
      slowestTarget: slowest.target,
      maxHeapMiB: Math.round(heapMiB),
      targets: rows,
    },
    null,
    2,
  )}\n`,
);
process.exitCode = crashes || stalls ? 1 : 0;
