/**
 * Seeded mutations of JSON values, texts and bytes for the fuzz tests: random truncation, wrong
 * types, huge strings, deep nesting, invalid UTF-8, unknown enum values, dropped and null fields.
 * Same seed, same mutations.
 *
 * @module
 */

/** A mutation kind. */
export type MutationKind =
  | "truncate"
  | "wrong_type"
  | "huge_string"
  | "deep_nesting"
  | "invalid_utf8"
  | "unknown_enum"
  | "drop_field"
  | "null_field";

/** Every mutation kind. */
export const MUTATIONS: readonly MutationKind[] = [
  "truncate",
  "wrong_type",
  "huge_string",
  "deep_nesting",
  "invalid_utf8",
  "unknown_enum",
  "drop_field",
  "null_field",
];

/** A seeded random source in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One of `items`, chosen with `random`. */
export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

type Path = (string | number)[];

function paths(value: unknown, depth = 0, prefix: Path = [], out: Path[] = []): Path[] {
  if (depth > 6 || typeof value !== "object" || value === null) return out;
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value);
  for (const [key, child] of entries) {
    const path = [...prefix, key];
    out.push(path);
    paths(child, depth + 1, path, out);
  }
  return out;
}

function parentOf(root: unknown, path: Path): Record<string | number, unknown> | undefined {
  let node = root;
  for (const key of path.slice(0, -1)) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return typeof node === "object" && node !== null
    ? node as Record<string | number, unknown>
    : undefined;
}

/** Nested arrays (or objects) `depth` levels deep. */
export function deepNest(depth: number, objects = false): unknown {
  let value: unknown = objects ? { leaf: true } : ["leaf"];
  for (let i = 0; i < depth; i++) value = objects ? { nested: value } : [value];
  return value;
}

/** Bytes of `text` with invalid UTF-8 sequences inserted at random places. */
export function invalidUtf8(text: string, random: () => number): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  const bad = [[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xf0, 0x28, 0x8c, 0x28], [0x80]];
  const out: number[] = [];
  const at = new Set(Array.from({ length: 3 }, () => Math.floor(random() * bytes.length)));
  bytes.forEach((byte, index) => {
    if (at.has(index)) out.push(...pick(random, bad));
    out.push(byte);
  });
  return new Uint8Array(out);
}

/** Options of {@linkcode mutateJson}. */
export interface MutateOptions {
  /** Length of huge strings. @default 262144 */
  hugeLength?: number;
  /** Depth of deep nesting. @default 5000 */
  nestingDepth?: number;
}

/**
 * Applies one mutation to a JSON value and returns the result as text (text-level kinds:
 * `truncate`; `invalid_utf8` is applied by the caller on bytes, here it corrupts a string field
 * with U+FFFD and lone surrogates).
 */
export function mutateJson(
  value: unknown,
  kind: MutationKind,
  random: () => number,
  options: MutateOptions = {},
): string {
  const copy = structuredClone(value);
  if (kind === "truncate") {
    const text = JSON.stringify(copy);
    return text.slice(0, Math.floor(random() * text.length));
  }
  const all = paths(copy);
  if (all.length === 0) {
    return JSON.stringify(kind === "deep_nesting" ? deepNest(options.nestingDepth ?? 5000) : 42);
  }
  const path = pick(random, all);
  const parent = parentOf(copy, path);
  const key = path[path.length - 1] as string | number;
  if (parent === undefined) return JSON.stringify(copy);
  const current = parent[key];
  switch (kind) {
    case "wrong_type": {
      const others: unknown[] = [17, -1.5e308, "text", true, null, [], {}, [1, "two"], {
        id: 3,
      }];
      parent[key] = pick(random, others.filter((o) => typeof o !== typeof current));
      break;
    }
    case "huge_string":
      parent[key] = "A".repeat(options.hugeLength ?? 262_144);
      break;
    case "deep_nesting":
      parent[key] = deepNest(options.nestingDepth ?? 5000, random() < 0.5);
      break;
    case "invalid_utf8":
      parent[key] = `\uFFFD${String(current)}\uD800\uDFFF\uDBFF`;
      break;
    case "unknown_enum":
      parent[key] = typeof current === "number"
        ? 987_654_321
        : `x-unknown-${Math.floor(random() * 1000)}`;
      break;
    case "drop_field":
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
      break;
    case "null_field":
      parent[key] = null;
      break;
  }
  return JSON.stringify(copy);
}
