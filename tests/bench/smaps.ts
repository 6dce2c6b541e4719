/**
 * Where a process's resident memory is, from `/proc/<pid>/smaps` (Linux): file-backed pages (the
 * deno binary and libraries) and anonymous ones, the latter split into glibc malloc's main arena
 * (`[heap]`), its thread arenas (64 MiB-aligned heaps), thread stacks, the binary's writable data,
 * and the rest (V8's heap pages, which the caller subtracts, and other `mmap`s).
 *
 * @module
 */

/** Resident memory of one process by kind, in bytes. */
export interface ResidentSplit {
  /** All resident pages (`Rss`). */
  rss: number;
  /** Resident pages backed by a file (`Rss` − `Anonymous`). */
  file: number;
  /** Resident anonymous pages (`Anonymous`). */
  anon: number;
  /** Anonymous pages of glibc malloc's main arena (`[heap]`, grown by `brk`). */
  mallocMain: number;
  /** Anonymous pages of glibc malloc's thread arenas (writable heaps at 64 MiB boundaries). */
  mallocArenas: number;
  /** Thread stacks (`[stack]` and guarded anonymous stacks are not told apart: `[stack]` only). */
  stack: number;
  /** Anonymous (copy-on-write) pages of writable file mappings: the binary's data. */
  fileData: number;
  /** Every other anonymous page: V8's heap and whatever else was `mmap`ed. */
  otherAnon: number;
}

const ARENA_ALIGN = 64n << 20n;

interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  name: string;
  anonymous: boolean;
  rss: number;
  anon: number;
}

function mappingsOf(smaps: string): Mapping[] {
  const mappings: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of smaps.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      const name = head[5] ?? "";
      current = {
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3] ?? "",
        name,
        anonymous: head[4] === "0" && name === "",
        rss: 0,
        anon: 0,
      };
      mappings.push(current);
      continue;
    }
    const field = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (!field || !current) continue;
    if (field[1] === "Rss") current.rss = Number(field[2]) * 1024;
    else current.anon = Number(field[2]) * 1024;
  }
  return mappings;
}

/**
 * True for the writable part of a glibc thread-arena heap: anonymous, at a 64 MiB boundary, and
 * either 64 MiB long or followed by its `---p` reserve up to the next boundary.
 */
function isArenaHeap(mapping: Mapping, next: Mapping | undefined): boolean {
  if (!mapping.anonymous || !mapping.perms.startsWith("rw")) return false;
  if (mapping.start % ARENA_ALIGN !== 0n) return false;
  const end = mapping.start + ARENA_ALIGN;
  if (mapping.end === end) return true;
  return next !== undefined && next.anonymous && next.perms.startsWith("---") &&
    next.start === mapping.end && next.end === end;
}

/** Splits `/proc/<pid>/smaps` text into {@linkcode ResidentSplit}. */
export function residentSplitOf(smaps: string): ResidentSplit {
  const split: ResidentSplit = {
    rss: 0,
    file: 0,
    anon: 0,
    mallocMain: 0,
    mallocArenas: 0,
    stack: 0,
    fileData: 0,
    otherAnon: 0,
  };
  const mappings = mappingsOf(smaps);
  mappings.forEach((mapping, i) => {
    split.rss += mapping.rss;
    split.anon += mapping.anon;
    split.file += mapping.rss - mapping.anon;
    if (mapping.name === "[heap]") split.mallocMain += mapping.anon;
    else if (mapping.name.startsWith("[stack")) split.stack += mapping.anon;
    else if (mapping.name.startsWith("/")) split.fileData += mapping.anon;
    else if (isArenaHeap(mapping, mappings[i + 1])) split.mallocArenas += mapping.anon;
    else split.otherAnon += mapping.anon;
  });
  return split;
}

/** {@linkcode residentSplitOf} the process `pid`, or undefined where `/proc` cannot tell. */
export function residentSplit(pid: number): ResidentSplit | undefined {
  try {
    return residentSplitOf(Deno.readTextFileSync(`/proc/${pid}/smaps`));
  } catch {
    return undefined;
  }
}
