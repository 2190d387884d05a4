/**
 * Where a V8 CPU profile (`node --cpu-prof`) spends its time: self time per function,
 * busy time only (the `(idle)` samples left out).
 */

/** The parts of a `.cpuprofile` read here. */
export interface CpuProfile {
  nodes: {
    id: number;
    hitCount?: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
}

/** A function's self time. */
export interface SelfTime {
  name: string;
  /** `file:line` relative to the repository, or `node:...` / a package path. */
  where: string;
  selfMs: number;
  /** Of the busy (non-idle) time. */
  selfPercent: number;
}

/** The `limit` functions with the most self time, most first. */
export function topProfileFunctions(profile: CpuProfile, limit: number): SelfTime[] {
  const sampleMs =
    (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
  const byFunction = new Map<string, { name: string; where: string; hits: number }>();
  let busyHits = 0;
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const hits = node.hitCount ?? 0;
    if (functionName === '(idle)' || hits === 0) continue;
    busyHits += hits;
    // Same function, many call paths: one row. Line numbers in profiles are 0-based.
    const where = url ? `${shortPath(url)}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const entry = byFunction.get(key) ?? { name: functionName || '(anonymous)', where, hits: 0 };
    entry.hits += hits;
    byFunction.set(key, entry);
  }
  return [...byFunction.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, limit)
    .map((f) => ({
      name: f.name,
      where: f.where,
      selfMs: f.hits * sampleMs,
      selfPercent: (100 * f.hits) / Math.max(1, busyHits),
    }));
}

function shortPath(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) return path.slice(modules + 1);
  const repo = path.indexOf('/server/');
  return repo >= 0 ? path.slice(repo + 1) : path;
}
