/**
 * The heap limits `seam serve` runs with: derived from the memory budget, applied however the
 * gateway is started (node and the entry file, the bin script with its `#!/usr/bin/env node`
 * line) by replacing its own process, and never over a flag given on node's command line or
 * in NODE_OPTIONS. No broker is needed: the gateway serves before it talks to Pulsar.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import {
  defaultHeapGrowingPercent,
  defaultOldSpaceMiB,
  defaultSemiSpaceMiB,
  heapBaseMiB,
  heapFlags,
  setsFlag,
} from '../../server/heap-limit.ts';

const MiB = 1024 * 1024;
const cli = fileURLToPath(new URL('../../server/cli.ts', import.meta.url));

test('the old-space limit is the base plus the budget, in MiB, rounded up', (t) => {
  t.is(defaultOldSpaceMiB(64 * MiB), heapBaseMiB + 64);
  t.is(defaultOldSpaceMiB(256 * MiB), heapBaseMiB + 256);
  t.is(defaultOldSpaceMiB(64 * MiB + 1), heapBaseMiB + 65);
});

const growing = `--heap-growing-percent=${defaultHeapGrowingPercent}`;

test('every flag is added when node is given none', (t) => {
  const all = [
    `--max-old-space-size=${heapBaseMiB + 64}`,
    `--max-semi-space-size=${defaultSemiSpaceMiB}`,
    growing,
  ];
  t.deepEqual(heapFlags(64 * MiB, []), all);
  t.deepEqual(
    heapFlags(64 * MiB, ['--expose-gc', '--import', 'x.ts'], '--enable-source-maps'),
    all,
  );
});

test('a flag on node’s command line or in NODE_OPTIONS wins, in either spelling', (t) => {
  // The growing factor goes with Seam's own cap only.
  t.deepEqual(heapFlags(64 * MiB, ['--max-old-space-size=512']), [
    `--max-semi-space-size=${defaultSemiSpaceMiB}`,
  ]);
  t.deepEqual(heapFlags(64 * MiB, ['--max_old_space_size=512']), [
    `--max-semi-space-size=${defaultSemiSpaceMiB}`,
  ]);
  t.deepEqual(heapFlags(64 * MiB, [], ' --max-semi-space-size=32  --trace-gc'), [
    `--max-old-space-size=${heapBaseMiB + 64}`,
    growing,
  ]);
  t.deepEqual(
    heapFlags(
      64 * MiB,
      ['--max-semi-space-size=2', '--heap-growing-percent=50'],
      '--max-old-space-size=100',
    ),
    [],
  );
  t.false(setsFlag(['--max-old-space-size-x=1', '--max-old'], '--max-old-space-size'));
});

/** `seam serve` started by `argv` (after node or as an executable); its serving line. */
async function servingLine(
  file: string,
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ line: Record<string, unknown>; cmdline: string[]; child: ChildProcess }> {
  const child = spawn(
    file,
    [...argv, 'serve', '--plaintext', '--port', '0', '--metrics-port', '0'],
    {
      env: {
        // The executable form finds node on PATH, as `npx seam` does: this Node first.
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        SEAM_PULSAR_URL: 'pulsar://127.0.0.1:1',
        SEAM_MEMORY_BUDGET_BYTES: String(64 * MiB),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  for await (const text of lines) {
    const line = JSON.parse(text) as Record<string, unknown>;
    if (line.event !== 'serving') continue;
    clearTimeout(timer);
    // The process that serves is the one started: the same pid, now with the flags.
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    return { line, cmdline, child };
  }
  throw new Error('seam serve ended without a serving line');
}

async function stopped(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const old = heapBaseMiB + 64;
const semi = defaultSemiSpaceMiB;

for (const [how, file, argv] of [
  ['node server/cli.ts', process.execPath, [cli]],
  ['the bin script (#!/usr/bin/env node)', cli, []],
] as const) {
  test(`started as ${how}: the process serves with the heap derived from the budget`, async (t) => {
    const { line, cmdline, child } = await servingLine(file, [...argv]);
    try {
      t.is(line.heapFlags, `--max-old-space-size=${old} --max-semi-space-size=${semi} ${growing}`);
      // V8's limit: the old space and three semi-spaces of the young generation.
      t.is(line.heapLimitBytes, (old + 3 * semi) * MiB);
      t.true(cmdline.includes(`--max-old-space-size=${old}`), cmdline.join(' '));
    } finally {
      await stopped(child);
    }
  });
}

test('NODE_OPTIONS sets the old space: the semi-space is added, not the growing factor', async (t) => {
  const { line, child } = await servingLine(process.execPath, [cli], {
    NODE_OPTIONS: '--max-old-space-size=300',
  });
  try {
    t.is(line.heapFlags, `--max-semi-space-size=${semi}`);
    t.is(line.heapLimitBytes, (300 + 3 * semi) * MiB);
  } finally {
    await stopped(child);
  }
});

test('node flags setting all three: the process is not started again', async (t) => {
  const { line, cmdline, child } = await servingLine(process.execPath, [
    '--max-old-space-size=300',
    '--max-semi-space-size=16',
    '--heap-growing-percent=50',
    cli,
  ]);
  try {
    t.is(line.heapFlags, 'from node options');
    t.is(line.heapLimitBytes, (300 + 3 * 16) * MiB);
    t.false(cmdline.includes(`--max-semi-space-size=${semi}`));
  } finally {
    await stopped(child);
  }
});
