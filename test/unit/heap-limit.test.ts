/**
 * The heap settings `seam serve` runs with: a young generation that lets per-message garbage
 * die young, applied however the gateway is started (node and the entry file, the bin script
 * with its `#!/usr/bin/env node` line) by replacing its own process, and never over a flag
 * given on node's command line or in NODE_OPTIONS. No broker is needed: the gateway serves
 * before it talks to Pulsar.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import {
  defaultHeapGrowingPercent,
  defaultSemiSpaceMiB,
  heapFlags,
  setsFlag,
} from '../../server/heap-limit.ts';

const MiB = 1024 * 1024;
const cli = fileURLToPath(new URL('../../server/cli.ts', import.meta.url));
const semiFlag = `--max-semi-space-size=${defaultSemiSpaceMiB}`;
const growingFlag = `--heap-growing-percent=${defaultHeapGrowingPercent}`;
/** What the serving line says `seam serve` added when node was given neither flag. */
const bothFlags = `${semiFlag} ${growingFlag}`;

test('the semi-space and growing flags are added when node is given neither', (t) => {
  t.deepEqual(heapFlags([]), [semiFlag, growingFlag]);
  t.deepEqual(heapFlags(['--expose-gc', '--import', 'x.ts'], '--enable-source-maps'), [
    semiFlag,
    growingFlag,
  ]);
  // An old-space cap is the operator's: it does not stop the other flags.
  t.deepEqual(heapFlags(['--max-old-space-size=512']), [semiFlag, growingFlag]);
});

test('a flag on node’s command line or in NODE_OPTIONS wins, in either spelling, flag by flag', (t) => {
  t.deepEqual(heapFlags(['--max-semi-space-size=4']), [growingFlag]);
  t.deepEqual(heapFlags(['--max_semi_space_size=4']), [growingFlag]);
  t.deepEqual(heapFlags([], ' --max-semi-space-size=16  --trace-gc'), [growingFlag]);
  t.deepEqual(heapFlags(['--heap_growing_percent=50']), [semiFlag]);
  t.deepEqual(heapFlags(['--max-semi-space-size=4'], '--heap-growing-percent=50'), []);
  t.false(setsFlag(['--max-semi-space-size-x=1', '--max-semi'], '--max-semi-space-size'));
});

/** `seam serve` started by `argv` (after node or as an executable); its serving line. */
async function servingLine(
  file: string,
  argv: string[],
  env: NodeJS.ProcessEnv = {},
  /** A configuration file's path (`--config`). */
  config?: string,
): Promise<{ line: Record<string, unknown>; cmdline: string[]; child: ChildProcess }> {
  const child = spawn(
    file,
    [
      ...argv,
      'serve',
      ...(config === undefined ? [] : ['--config', config]),
      '--plaintext',
      '--port',
      '0',
      '--metrics-port',
      '0',
    ],
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

for (const [how, file, argv] of [
  ['node server/cli.ts', process.execPath, [cli]],
  ['the bin script (#!/usr/bin/env node)', cli, []],
] as const) {
  test(`started as ${how}: the process serves with its young generation set`, async (t) => {
    const { line, cmdline, child } = await servingLine(file, [...argv]);
    try {
      t.is(line.heapFlags, bothFlags);
      t.true(cmdline.includes(semiFlag), cmdline.join(' '));
      t.true(cmdline.includes(growingFlag), cmdline.join(' '));
      // The old space keeps V8's own limit (from the machine's or the container's memory).
      t.false(
        cmdline.some((arg) => arg.startsWith('--max-old-space-size')),
        cmdline.join(' '),
      );
    } finally {
      await stopped(child);
    }
  });
}

test('NODE_OPTIONS sets the old space: the young generation is still added', async (t) => {
  const { line, child } = await servingLine(process.execPath, [cli], {
    NODE_OPTIONS: '--max-old-space-size=300',
  });
  try {
    t.is(line.heapFlags, bothFlags);
    t.is(line.heapLimitBytes, (300 + 3 * defaultSemiSpaceMiB) * MiB);
  } finally {
    await stopped(child);
  }
});

test('node flags setting both: the process is not started again', async (t) => {
  const { line, cmdline, child } = await servingLine(process.execPath, [
    '--max-old-space-size=300',
    '--max-semi-space-size=16',
    '--heap-growing-percent=50',
    cli,
  ]);
  try {
    t.is(line.heapFlags, 'from node options');
    t.is(line.heapLimitBytes, (300 + 3 * 16) * MiB);
    t.false(cmdline.includes(semiFlag));
    t.false(cmdline.includes(growingFlag));
  } finally {
    await stopped(child);
  }
});

test('node flags setting the semi-space only: the growing factor is still added', async (t) => {
  const { line, cmdline, child } = await servingLine(process.execPath, [
    '--max-semi-space-size=16',
    cli,
  ]);
  try {
    t.is(line.heapFlags, growingFlag);
    t.true(cmdline.includes('--max-semi-space-size=16'), cmdline.join(' '));
    t.true(cmdline.includes(growingFlag), cmdline.join(' '));
    t.false(cmdline.includes(semiFlag));
  } finally {
    await stopped(child);
  }
});

test('a configuration on a pipe is read once, by the process that serves', async (t) => {
  // The restart comes before the configuration is read: a pipe cannot be read twice (read
  // again, the FIFO has no writer left and the open waits until the test gives up).
  const fifo = join(await mkdtemp(join(tmpdir(), 'seam-heap-')), 'config.json');
  execFileSync('mkfifo', [fifo]);
  const writer = createWriteStream(fifo);
  writer.end(JSON.stringify({ logLevel: 'info' }));
  const { line, child } = await servingLine(process.execPath, [cli], {}, fifo);
  try {
    t.is(line.heapFlags, bothFlags);
  } finally {
    await stopped(child);
  }
});
