/**
 * The memory bench's profile helpers (issue 14, item 3): the resident split from
 * `/proc/<pid>/smaps` and the heap snapshot summary. The smaps text follows the format of
 * proc(5) ("/proc/pid/smaps"); the snapshot, the `.heapsnapshot` format of V8's
 * `HeapSnapshotJSONSerializer`; the GC records, the lines V8 prints with `--trace-gc-nvp`
 * (fields cut to those read); the sampling profile, the `SamplingHeapProfile` of the Chrome
 * DevTools Protocol (`HeapProfiler.stopSampling`).
 */
import assert from "node:assert/strict";
import { residentSplitOf } from "./bench/smaps.ts";
import { summarizeHeapSnapshot } from "./bench/heap_snapshot.ts";
import { summarizeGcTrace } from "./bench/gc_trace.ts";
import { summarizeSamplingProfile } from "./bench/heap_sampling.ts";

function mapping(
  range: string,
  perms: string,
  inode: string,
  name: string,
  rssKb: number,
  anonKb: number,
) {
  return `${range} ${perms} 00000000 00:00 ${inode}${name ? `   ${name}` : ""}\n` +
    `Size:           ${rssKb} kB\nRss:            ${rssKb} kB\nAnonymous:      ${anonKb} kB\n`;
}

Deno.test("residentSplitOf() tells the binary, malloc's arenas, stacks and other anonymous pages apart", () => {
  const smaps = [
    mapping("555500000000-555500100000", "r-xp", "42", "/usr/bin/deno", 1024, 0),
    mapping("555500100000-555500140000", "rw-p", "42", "/usr/bin/deno", 256, 256),
    mapping("555600000000-555600200000", "rw-p", "0", "[heap]", 2048, 2048),
    // A thread arena: 64 MiB-aligned, its writable part followed by the reserve to 64 MiB.
    mapping("7f0004000000-7f0004400000", "rw-p", "0", "", 4096, 4096),
    mapping("7f0004400000-7f0008000000", "---p", "0", "", 0, 0),
    // V8 pages and other mmaps, one of them at a 64 MiB boundary without a reserve after it.
    mapping("7f0008000000-7f0008040000", "rw-p", "0", "", 256, 256),
    mapping("7f0008040000-7f0008080000", "rw-p", "0", "", 128, 128),
    mapping("7ffc00000000-7ffc00021000", "rw-p", "0", "[stack]", 132, 132),
  ].join("");
  const kb = 1024;
  assert.deepEqual(residentSplitOf(smaps), {
    rss: (1024 + 256 + 2048 + 4096 + 256 + 128 + 132) * kb,
    file: 1024 * kb,
    anon: (256 + 2048 + 4096 + 256 + 128 + 132) * kb,
    mallocMain: 2048 * kb,
    mallocArenas: 4096 * kb,
    stack: 132 * kb,
    fileData: 256 * kb,
    otherAnon: (256 + 128) * kb,
  });
});

Deno.test("summarizeHeapSnapshot() groups self sizes by constructor, other nodes by type", () => {
  const snapshot = {
    snapshot: {
      meta: {
        node_fields: ["type", "name", "id", "self_size", "edge_count"],
        node_types: [["hidden", "array", "string", "object", "code", "concatenated string"]],
      },
    },
    nodes: [
      3,
      0,
      1,
      1048576,
      0, // Pending
      3,
      0,
      3,
      1048576,
      0, // Pending
      3,
      1,
      5,
      524288,
      0, // Map
      2,
      2,
      7,
      262144,
      0, // a string
      5,
      2,
      9,
      262144,
      0, // a concatenated string
    ],
    strings: ["Pending", "Map", "hello"],
  };
  assert.deepEqual(summarizeHeapSnapshot(JSON.stringify(snapshot), 2), {
    total_mb: 3,
    nodes: 5,
    top: [
      { name: "Pending", count: 2, self_mb: 2 },
      { name: "Map", count: 1, self_mb: 0.5 },
    ],
  });
});

Deno.test("summarizeGcTrace() averages what survives each scavenge and follows the new space's capacity", () => {
  const record = (
    ms: number,
    gc: string,
    survived: number,
    promoted: number,
    mb: number,
    pool = 0,
  ) =>
    `[1:0x1:0] ${ms} ms: GC: {"pause":1.5,"gc":"${gc}","reason":"allocation failure",` +
    `"new_space_capacity":${
      mb * 1048576
    },"promoted":${promoted},"new_space_survived":${survived},` +
    `"pool_total_chunks":${pool}}`;
  const summary = summarizeGcTrace([
    '{"t":250,"rss":1}',
    record(100, "s", 100 * 1024, 10 * 1024, 1),
    record(200, "s", 300 * 1024, 30 * 1024, 2),
    record(300, "mc", 0, 0, 0, 8),
    record(400, "s", 200 * 1024, 20 * 1024, 2),
  ]);
  assert.deepEqual(summary, {
    scavenges: 3,
    full_gcs: 1,
    survived_kb_per_scavenge: 200,
    promoted_kb_per_scavenge: 20,
    new_space_capacity_mb: [[100, 1], [200, 2]],
    max_pooled_mb: 2,
  });
  assert.equal(summarizeGcTrace(['{"t":250}']), undefined);
});

Deno.test("summarizeSamplingProfile() adds up each function's sampled bytes over the whole tree", () => {
  const frame = (functionName: string, url: string, lineNumber: number) => ({
    functionName,
    url,
    lineNumber,
  });
  const mb = 1048576;
  const profile = {
    head: {
      callFrame: frame("(root)", "", -1),
      selfSize: 0,
      children: [
        {
          callFrame: frame("parse", "file:///work/src/opencti/stream.ts", 9),
          selfSize: 3 * mb,
          children: [{
            callFrame: frame("", "file:///x/tests/a.ts", 0),
            selfSize: mb,
            children: [],
          }],
        },
        {
          callFrame: frame("parse", "file:///work/src/opencti/stream.ts", 9),
          selfSize: 2 * mb,
          children: [],
        },
      ],
    },
  };
  assert.deepEqual(summarizeSamplingProfile(profile), [
    { site: "parse src/opencti/stream.ts:10", mb: 5 },
    { site: "(anonymous) tests/a.ts:1", mb: 1 },
  ]);
});
