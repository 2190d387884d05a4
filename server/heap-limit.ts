/**
 * The V8 heap settings `seam serve` runs with. Node fixes them when the process starts and
 * nothing can change them after, so `seam serve`, before it reads its configuration, replaces
 * itself with the same command line plus the flags (`process.execve`: the same pid, stdio and
 * environment, so the bin script, `node server/cli.ts serve`, the container's ENTRYPOINT and a
 * supervisor all see one process). A flag given explicitly, on node's command line or in
 * NODE_OPTIONS, wins.
 *
 * What it sets is the young generation, not a cap on the old one. A history read makes
 * short-lived objects per message (messages, ids, views) that wait in reader queues and
 * segment buffers for a few milliseconds. Measured on a 1 M-record history read
 * (bench/README.md, Memory): 32 MiB semi-spaces took 2.0–2.2 µs of gateway CPU a message at
 * 266–271 MiB peak RSS, V8's own 64 MiB 2.6–2.9 µs at 358–381 MiB, 16 MiB 2.6–2.9 µs at
 * 347–371 MiB (more promoted, and collected in the old generation); an old-space cap from the
 * budget (160 MiB) 3.8–4.3 µs at 252–284 MiB, and any old-space cap up to 1 GiB 4.5–5 µs
 * (V8 sizes its growing factor from the cap and collects more often). Node's own old-space
 * limit follows the machine's or the container's memory; an operator who wants a lower cap
 * sets `--max-old-space-size`.
 *
 * And the old generation's growing factor, fixed at 4, the top of V8's own range. V8 starts
 * marking the old generation whenever its headroom (its limit minus its size) is below the
 * young generation's capacity, so that a scavenge can always promote; with 32 MiB
 * semi-spaces and ~40 MiB live, the factor V8 chose here (~2) left ~40 MiB, and marking began
 * again right after each full collection: 38 Mark-Compacts in two reads of 4,000 × 100 KB,
 * 28 of them started that way (`--trace-incremental-marking`), 25 with the factor at 4 (the
 * rest from new off-heap memory). In one `npm run bench` each (large, concurrency, history,
 * small): 100 KB messages 5.2 → 3.5 ns of gateway CPU a byte through the Python client,
 * 9.4 → 4.8 through the TS SDK; 1 M-message history reads at the same peak RSS (265–308 →
 * 268–308 MiB); 100 concurrent streams 483 → 569 MiB peak RSS.
 */

/** The young generation's semi-space, MiB (three are in use: up to 96 MiB of young generation). */
export const defaultSemiSpaceMiB = 32;

/** The old generation's growing factor, as V8's percent over 1 (300: 4×). */
export const defaultHeapGrowingPercent = 300;

import { accessSync, constants, readlinkSync } from 'node:fs';

/** Node options that set V8 flags, as `--max-old-space-size` or `--max_old_space_size`. */
function names(flag: string): string[] {
  return [flag, flag.replaceAll('-', '_').replace(/^__/, '--')];
}

/** Whether `args` (node's own arguments, or NODE_OPTIONS split on spaces) set `flag`. */
export function setsFlag(args: readonly string[], flag: string): boolean {
  const forms = names(flag);
  return args.some((arg) => forms.some((form) => arg === form || arg.startsWith(`${form}=`)));
}

/** The heap flags `seam serve` adds to node's: each one node's arguments or NODE_OPTIONS do not set. */
export function heapFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)];
  const defaults: [flag: string, value: number][] = [
    ['--max-semi-space-size', defaultSemiSpaceMiB],
    ['--heap-growing-percent', defaultHeapGrowingPercent],
  ];
  return defaults
    .filter(([flag]) => !setsFlag(given, flag))
    .map(([flag, value]) => `${flag}=${value}`);
}

/** Set in the environment of the process `seam serve` replaces itself with: it does so once. */
export const heapFlagsApplied = 'SEAM_HEAP_FLAGS_APPLIED';

/** What `applyHeapFlags` did, for the `serving` log line. */
export interface HeapFlagsApplied {
  /** The flags this process was started again with (empty: the node flags set them all). */
  added: string[];
  /** Flags it needed but could not apply (no `process.execve`, or node's binary is gone). */
  missing: string[];
}

/** Whether this process can replace itself: execve exists, and node's binary is still there. */
function canExec(): boolean {
  if (typeof process.execve !== 'function') return false;
  try {
    // Node 24's execve aborts the process (SIGABRT) when the exec fails: check first.
    accessSync(process.execPath, constants.X_OK);
    return !readlinkSync('/proc/self/exe').endsWith(' (deleted)');
  } catch {
    return false;
  }
}

/**
 * Replaces this process with the same command line plus the heap flags it lacks, unless it
 * has them already (node's arguments are the truth: the environment only says which of them
 * were Seam's). Returns only when it does not replace itself.
 */
export function applyHeapFlags(): HeapFlagsApplied {
  const applied = process.env[heapFlagsApplied];
  delete process.env[heapFlagsApplied]; // not handed down to what the gateway spawns
  const flags = heapFlags(process.execArgv, process.env.NODE_OPTIONS);
  if (flags.length === 0) {
    const added = (applied ?? '').split(' ').filter((flag) => process.execArgv.includes(flag));
    return { added, missing: [] };
  }
  if (!canExec()) return { added: [], missing: flags };
  process.execve?.(
    process.execPath,
    [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)],
    { ...process.env, [heapFlagsApplied]: flags.join(' ') },
  );
  return { added: [], missing: flags }; // not reached: execve replaces the process
}
