/**
 * A summary of a V8 sampling heap profile (`HeapProfiler.stopSampling` over `node:inspector`):
 * sampled bytes by allocating function, largest first. Taken with
 * `includeObjectsCollectedByMajorGC` and without `…ByMinorGC`, it counts what reached the old
 * generation (freed by a full GC, or alive at the end); what a later scavenge freed is left out.
 *
 * @module
 */

/** One allocating function of the summary. */
export interface AllocationSite {
  /** `name url:line` of the allocating function (`(anonymous)` when it has no name). */
  site: string;
  /** Sampled bytes it allocated, in MB. */
  mb: number;
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** The `top` functions by sampled self size of a sampling heap profile's tree. */
export function summarizeSamplingProfile(
  profile: { head: ProfileNode },
  top = 15,
): AllocationSite[] {
  const bytes = new Map<string, number>();
  const stack: ProfileNode[] = [profile.head];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const frame = node.callFrame;
    const file = frame.url.replace(/^.*\/(src|tests|node_modules|ext)\//, "$1/");
    const site = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    if (node.selfSize > 0) bytes.set(site, (bytes.get(site) ?? 0) + node.selfSize);
    stack.push(...node.children);
  }
  return [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top).map(([site, size]) => ({
    site,
    mb: Math.round(size / 1048576 * 10) / 10,
  }));
}
