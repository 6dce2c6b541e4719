/**
 * A short summary of a V8 heap snapshot (the `.heapsnapshot` JSON that `node:v8`
 * `writeHeapSnapshot` writes): self size and count by constructor, as the "Summary" view of
 * Chrome's DevTools groups them (objects by constructor name, everything else by node type).
 *
 * @module
 */

/** One group of the summary. */
export interface HeapGroup {
  /** Constructor name, or `(type)` for strings, arrays, code and the like. */
  name: string;
  /** Nodes in the group. */
  count: number;
  /** Their self size, in MB. */
  self_mb: number;
}

/** What a heap snapshot holds. */
export interface HeapSummary {
  /** Self size of every node, in MB. */
  total_mb: number;
  /** Nodes. */
  nodes: number;
  /** The largest groups by self size, largest first. */
  top: HeapGroup[];
}

interface SnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Summarizes the snapshot text: the `top` largest groups by self size. */
export function summarizeHeapSnapshot(text: string, top = 15): HeapSummary {
  const json = JSON.parse(text) as SnapshotJson;
  const fields = json.snapshot.meta.node_fields;
  const types = json.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const groups = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  const nodes = json.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] ?? 0] ?? "unknown";
    const size = nodes[i + sizeAt] ?? 0;
    const name = type === "object" || type === "native"
      ? json.strings[nodes[i + nameAt] ?? 0] ?? "?"
      : `(${type.includes("string") ? "string" : type})`;
    const group = groups.get(name) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += size;
    groups.set(name, group);
    total += size;
  }
  const mb = (bytes: number) => Math.round(bytes / 1048576 * 100) / 100;
  return {
    total_mb: mb(total),
    nodes: nodes.length / width,
    top: [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top).map((
      [name, group],
    ) => ({ name, count: group.count, self_mb: mb(group.bytes) })),
  };
}
