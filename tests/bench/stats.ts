/** Small helpers shared by the benchmark scenarios: medians, percentiles, rounding, the machine. */

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid] as number
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The `p`-th percentile (0-100, nearest rank) of `values` (NaN when empty). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** The machine the figures were taken on. */
export interface MachineInfo {
  /** Logical CPUs. */
  cores: number;
  /** Total memory in MB. */
  memory_mb: number;
  /** `deno --version` of the running Deno. */
  deno: string;
  /** V8 version. */
  v8: string;
  /** Operating system and architecture. */
  os: string;
}

/** Describes this machine (cores, memory, Deno and V8 versions). */
export function machineInfo(): MachineInfo {
  let memoryMb = NaN;
  try {
    memoryMb = Math.round(Deno.systemMemoryInfo().total / 1024 / 1024);
  } catch {
    // --allow-sys not granted
  }
  return {
    cores: navigator.hardwareConcurrency,
    memory_mb: memoryMb,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os} ${Deno.build.arch}`,
  };
}

/** Resolves after `ms` of real time (benchmarks only; tests never sleep). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
