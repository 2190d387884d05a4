/**
 * The fuzz run: a million cases (by default) against Seam's decoders, value column writers
 * (random AVRO, JSON and PROTOBUF_NATIVE schemas) and request handling, printing what each
 * target did with them. Any case that ends in an untyped error is a crash; any case that
 * holds the event loop over 100 ms is a stall: both are printed with the seed, and the run
 * exits 1. A stall is a case over 100 ms of wall clock that also took over 100 ms of process
 * CPU time: on a shared machine a case of 1 ms of work can wait 100 ms for a core (measured:
 * 121 ms of wall clock, 1.3 ms of CPU), which says nothing about the input. Cases over 100 ms
 * of wall clock alone are counted and printed too (`overWallClock`). It prints the slowest
 * case (by wall clock, and by CPU time) with its heap, and the largest heap seen (sampled
 * every 100 cases).
 *
 *   node bench/fuzz.ts [--cases 1000000] [--seed N]
 *
 * Needs no broker: the corpus is the committed broker bytes in test/fixtures/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
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

// Each value case compiles a schema of its own (avsc and protobufjs generate code with
// `new Function`), and V8 keeps the code of every distinct source in its compilation cache:
// ~17 KB a PROTOBUF_NATIVE case, which took a million-case run's heap to 2,464 MiB and its
// major collections past 100 ms. A gateway compiles a schema once per distinct schema, not
// per message; here the cache only grows the heap, so it is off.
v8.setFlagsFromString('--no-compilation-cache');

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
/** A case's target, wall-clock and process CPU milliseconds, and heap after it. */
interface Timed {
  target: string;
  ms: number;
  cpuMs: number;
  heapMiB: number;
}
/** Cases over `stallMs` of wall clock (`stalls`: of CPU time too). */
const overWallClock: Timed[] = [];
const stalls: Timed[] = [];
const none: Timed = { target: '', ms: 0, cpuMs: 0, heapMiB: 0 };
let slowest = none;
let busiest = none;
let maxHeap = 0;
const mib = (bytes: number) => bytes / 2 ** 20;
const perTarget = Math.ceil(total / targets.length);
for (const [index, target] of targets.entries()) {
  const outcomes: Record<string, number> = {};
  let slowestMs = 0;
  const started = performance.now();
  let done = 0;
  const result = fc.check(
    fc.property(target.arbitrary, (value) => {
      const cpu = process.cpuUsage();
      const start = performance.now();
      const name = target.run(value);
      const ms = performance.now() - start;
      const used = process.cpuUsage(cpu);
      const cpuMs = (used.user + used.system) / 1000;
      if (ms > slowestMs) slowestMs = ms;
      if (ms > slowest.ms || cpuMs > busiest.cpuMs || ms > stallMs) {
        const timed = {
          target: target.name,
          ms,
          cpuMs,
          heapMiB: mib(process.memoryUsage().heapUsed),
        };
        if (ms > slowest.ms) slowest = timed;
        if (cpuMs > busiest.cpuMs) busiest = timed;
        if (ms > stallMs) {
          overWallClock.push(timed);
          const stall = cpuMs > stallMs;
          if (stall) stalls.push(timed);
          process.stderr.write(
            `fuzz: ${stall ? 'STALL' : 'over 100 ms of wall clock'} in ${target.name}: ${ms.toFixed(0)} ms (process CPU ${cpuMs.toFixed(0)} ms)\n`,
          );
        }
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
const heapMiB = mib(maxHeap);
const show = (c: Timed) =>
  `${c.ms.toFixed(1)} ms, process CPU ${c.cpuMs.toFixed(1)} ms, heap ${c.heapMiB.toFixed(0)} MiB (${c.target})`;
console.log(
  `${cases} cases, ${crashes} crashes, ${stalls.length} stalls over ${stallMs} ms of wall clock and CPU, ${overWallClock.length} over ${stallMs} ms of wall clock alone (seed ${seed}); slowest case ${show(slowest)}; most CPU ${show(busiest)}; largest heap ${heapMiB.toFixed(0)} MiB`,
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
      stalls: stalls.length,
      overWallClock: overWallClock.length,
      slowestCase: slowest,
      mostCpuCase: busiest,
      maxHeapMiB: Math.round(heapMiB),
      // The first cases over 100 ms of wall clock, with their CPU time.
      overWallClockCases: overWallClock.slice(0, 50),
      targets: rows,
    },
    null,
    2,
  )}\n`,
);
process.exitCode = crashes || stalls.length ? 1 : 0;
