/**
 * A summary of V8's `--trace-gc-nvp` lines (one `GC: {…}` record per collection): how many bytes
 * survive each scavenge, how the new space grew, and how many freed pages V8 kept pooled. V8 grows
 * the new space whenever the bytes surviving scavenges since its last growth exceed its capacity,
 * so the bytes surviving per scavenge decide how large the young generation gets.
 *
 * @module
 */

/** What the GC trace of one run shows. */
export interface GcSummary {
  /** Scavenges (young-generation collections). */
  scavenges: number;
  /** Other collections (mark-compact and the like). */
  full_gcs: number;
  /** Bytes surviving a scavenge (copied within the new space or promoted), mean, in KB. */
  survived_kb_per_scavenge: number;
  /** Bytes promoted to the old generation per scavenge, mean, in KB. */
  promoted_kb_per_scavenge: number;
  /** New-space capacity (one semi-space) over time: ms since start and MB, at each change. */
  new_space_capacity_mb: Array<[number, number]>;
  /** Most pages V8 held pooled (freed, resident, for reuse), in MB (256 KiB pages). */
  max_pooled_mb: number;
}

const FIELD =
  /"(gc|new_space_survived|promoted|new_space_capacity|pool_total_chunks)":("?)([\w.]+)\2/g;

/** Summarizes the `--trace-gc-nvp` lines among `lines`; undefined when there are none. */
export function summarizeGcTrace(lines: readonly string[]): GcSummary | undefined {
  let scavenges = 0;
  let fullGcs = 0;
  let survived = 0;
  let promoted = 0;
  let maxPool = 0;
  const capacity: Array<[number, number]> = [];
  for (const line of lines) {
    const record = /(\d+) ms: GC: \{/.exec(line);
    if (!record) continue;
    const fields: Record<string, string> = {};
    for (const match of line.matchAll(FIELD)) fields[match[1] as string] = match[3] as string;
    maxPool = Math.max(maxPool, Number(fields.pool_total_chunks ?? 0));
    if (fields.gc !== "s") {
      fullGcs++;
      continue;
    }
    scavenges++;
    survived += Number(fields.new_space_survived ?? 0);
    promoted += Number(fields.promoted ?? 0);
    const mb = Number(fields.new_space_capacity ?? 0) / 1048576;
    if (mb > 0 && capacity[capacity.length - 1]?.[1] !== mb) {
      capacity.push([Number(record[1]), mb]);
    }
  }
  if (scavenges + fullGcs === 0) return undefined;
  const kb = (bytes: number) => Math.round(bytes / Math.max(1, scavenges) / 1024);
  return {
    scavenges,
    full_gcs: fullGcs,
    survived_kb_per_scavenge: kb(survived),
    promoted_kb_per_scavenge: kb(promoted),
    new_space_capacity_mb: capacity,
    max_pooled_mb: maxPool / 4,
  };
}
