/**
 * The V8 heap limits `seam serve` runs with. Without them RSS follows V8's garbage, not
 * the live set: Node 24 grows the old generation lazily up to ~4 GiB here and each young
 * semi-space up to 64 MiB (three of them in use: up to 192 MiB of young generation), so a
 * gateway holding ~100 MiB of live data reached 500–900 MiB RSS (bench/README.md, Memory).
 *
 * Node fixes the heap's limits when the process starts; nothing can change them after. So
 * `seam serve` computes them from its memory budget once its configuration is loaded and,
 * when the node flags do not set them already, replaces itself with the same command line
 * plus the flags (`process.execve`: the same pid, stdio and environment, so the bin script,
 * `node server/cli.ts serve`, the container's ENTRYPOINT and a supervisor all see one
 * process). A flag given explicitly, on node's command line or in NODE_OPTIONS, wins.
 */

const MiB = 1024 * 1024;

/**
 * Old space V8 may use beside what the budget counts, MiB: the gateway's own live heap at rest
 * (~40 MiB: modules, gRPC, OpenTelemetry), what each stream holds outside the budget (its
 * batch being built, its plan and reader objects) and room for V8 to collect without running
 * back to back.
 */
export const heapBaseMiB = 96;

/** The young generation's semi-space, MiB (V8's own default here is 64, and three are used). */
export const defaultSemiSpaceMiB = 8;

/**
 * How far V8 lets the old generation grow past what survived the last full collection before
 * the next one, percent. With a small `--max-old-space-size` V8 picks a factor of ~1.3–1.6,
 * and the gateway ran 2–3× as many full collections: gateway CPU per message in a history read
 * went from 5.4 to 8.6 µs (bench/README.md, Memory). 100 (a factor of 2) costs ~20 MiB more RSS
 * at the peak and most of the CPU back. Node takes it on its command line only, not in NODE_OPTIONS.
 */
export const defaultHeapGrowingPercent = 100;

/**
 * The old-space limit (`--max-old-space-size`, MiB) for a memory budget: the base plus the
 * budget, since what the budget counts (payload + ~400 B of objects a message) may all be heap.
 */
export function defaultOldSpaceMiB(memoryBudgetBytes: number): number {
  return heapBaseMiB + Math.ceil(memoryBudgetBytes / MiB);
}

/** Node options that set V8 flags, as `--max-old-space-size` or `--max_old_space_size`. */
function names(flag: string): string[] {
  return [flag, flag.replaceAll('-', '_').replace(/^__/, '--')];
}

/** Whether `args` (node's own arguments, or NODE_OPTIONS split on spaces) set `flag`. */
export function setsFlag(args: readonly string[], flag: string): boolean {
  const forms = names(flag);
  return args.some((arg) => forms.some((form) => arg === form || arg.startsWith(`${form}=`)));
}

/** The heap flags `seam serve` adds to node's: none that node's arguments or NODE_OPTIONS set. */
export function heapFlags(
  memoryBudgetBytes: number,
  execArgv: readonly string[],
  nodeOptions = '',
): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)];
  const flags: string[] = [];
  const capOldSpace = !setsFlag(given, '--max-old-space-size');
  if (capOldSpace) {
    flags.push(`--max-old-space-size=${defaultOldSpaceMiB(memoryBudgetBytes)}`);
  }
  if (!setsFlag(given, '--max-semi-space-size')) {
    flags.push(`--max-semi-space-size=${defaultSemiSpaceMiB}`);
  }
  // Only beside its own cap: under a large old space given to node, V8's own factor (up to 4)
  // runs fewer full collections than 2 (measured: 5 against 27 in one 1 M-record read).
  if (capOldSpace && !setsFlag(given, '--heap-growing-percent')) {
    flags.push(`--heap-growing-percent=${defaultHeapGrowingPercent}`);
  }
  return flags;
}

/** Set in the environment of the process `seam serve` replaces itself with: it does so once. */
export const heapFlagsApplied = 'SEAM_HEAP_FLAGS_APPLIED';

/** What `applyHeapFlags` did, for the `serving` log line. */
export interface HeapFlagsApplied {
  /** The flags this process was started again with (empty: the node flags set them all). */
  added: string[];
  /** Flags it needed but could not apply (no `process.execve` on this platform). */
  missing: string[];
}

/**
 * Replaces this process with the same command line plus the heap flags it lacks, unless it
 * has them or was started that way already. Returns only when it does not replace itself.
 */
export function applyHeapFlags(memoryBudgetBytes: number): HeapFlagsApplied {
  const applied = process.env[heapFlagsApplied];
  if (applied !== undefined) {
    delete process.env[heapFlagsApplied]; // not handed down to what the gateway spawns
    return { added: applied.split(' ').filter(Boolean), missing: [] };
  }
  const flags = heapFlags(memoryBudgetBytes, process.execArgv, process.env.NODE_OPTIONS);
  if (flags.length === 0) return { added: [], missing: [] };
  if (typeof process.execve !== 'function') return { added: [], missing: flags };
  process.execve(
    process.execPath,
    [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)],
    { ...process.env, [heapFlagsApplied]: flags.join(' ') },
  );
  return { added: [], missing: flags }; // not reached: execve replaces the process or throws
}
