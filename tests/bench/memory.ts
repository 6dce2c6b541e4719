/**
 * Memory scenario: `events` live-stream events through the whole sentinel connector, run in a
 * child process so its RSS is the connector's alone. The OpenCTI simulator (GraphQL: registration,
 * pings, state saves) and a generator-backed stream run in this process.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { startOpenCtiSim } from "../../src/sim/opencti.ts";
import { buildFrames } from "./frames.ts";
import { startFrameServer } from "./frame_server.ts";
import { type GcSummary, summarizeGcTrace } from "./gc_trace.ts";
import type { AllocationSite } from "./heap_sampling.ts";
import { type HeapSummary, summarizeHeapSnapshot } from "./heap_snapshot.ts";
import { type ResidentSplit, residentSplit } from "./smaps.ts";
import { median, round } from "./stats.ts";

/** Memory figures. */
export interface MemoryResult {
  /** Highest RSS of the connector process, in MB. */
  peak_rss_mb: number;
  /** RSS at the end minus RSS after warm-up, in MB (medians of 5 samples each). */
  growth_mb: number;
  /** Events streamed. */
  events: number;
  /** Events per second through the whole connector (state saves included). */
  events_per_s: number;
  /** RSS after warm-up, in MB. */
  warm_rss_mb: number;
  /** Events after which warm-up counts as over. */
  warmup_events: number;
  /** Whether `start()` returned within 5 s of its signal aborting. */
  stopped_on_abort: boolean;
  /** Where the memory is at the RSS peak and at the end (Linux; elsewhere only the V8 part). */
  profile: { peak: MemoryProfile; end: MemoryProfile };
  /**
   * What the heap snapshot holds, when one was asked for (`MEMORY_HEAP_SNAPSHOT`). Writing it
   * stops the connector for seconds and leaves malloc'd memory behind, so the other figures of such
   * a run are not comparable with a run without.
   */
  heap_snapshot?: HeapSummary & { path: string; at_events: number };
  /**
   * The functions that allocated most of what reached the old generation (sampled over the whole
   * run; freed by a full GC or alive at the end), when asked for (`MEMORY_HEAP_SAMPLING`).
   */
  promoted_by_site?: AllocationSite[];
  /** V8's GC trace summarized, when one was asked for (`MEMORY_TRACE_GC`). */
  gc?: GcSummary;
}

/**
 * Where the connector's resident memory is at one sample, in MB: file-backed against anonymous
 * (from `/proc/<pid>/smaps`), the anonymous part split into V8's heap, glibc malloc and the rest,
 * and V8's heap by space.
 */
export interface MemoryProfile {
  /** Events streamed when the sample was taken. */
  events: number;
  /** Resident memory. */
  rss_mb: number;
  /** Resident file-backed pages (the deno binary and libraries). */
  file_mb?: number;
  /** Resident anonymous pages. */
  anon_mb?: number;
  /** V8's heap, committed and resident (`total_physical_size`). */
  v8_heap_mb: number;
  /** glibc malloc, main arena (`[heap]`) and thread arenas; ArrayBuffers (`external`) live here. */
  malloc_mb?: number;
  /** The binary's written data, thread stacks. */
  data_and_stacks_mb?: number;
  /**
   * Anonymous pages that are neither in V8's spaces nor malloc's: mostly pages V8 freed and keeps
   * pooled for reuse (`max_pooled_mb` of {@linkcode MemoryResult.gc}), and other `mmap`s.
   */
  other_anon_mb?: number;
  /** Memory outside the V8 heap that V8 knows JS objects hold (ArrayBuffers). */
  external_mb: number;
  /** V8's heap by space (new, old, code, large objects…): committed and used. */
  v8_spaces: Record<string, { committed_mb: number; used_mb: number }>;
}

/** Options of {@linkcode memoryScenario}. */
export interface MemoryOptions {
  /** Events to stream. @default 1000000 */
  events?: number;
  /** Distinct events in the pool the stream cycles through. @default 20000 */
  pool?: number;
  /** Workload seed. @default 11 */
  seed?: number;
  /** V8 flags for the connector process (e.g. `--max-semi-space-size=4`). @default none */
  v8Flags?: string;
  /**
   * Where to write a heap snapshot of the connector after `heapSnapshotAt` events, summarized
   * into {@linkcode MemoryResult.heap_snapshot}.
   * @default `$MEMORY_HEAP_SNAPSHOT.shipped.heapsnapshot` (with `v8Flags`) or
   * `$MEMORY_HEAP_SNAPSHOT.default_v8.heapsnapshot` when that variable is set, else none
   */
  heapSnapshot?: string;
  /** Events after which the heap snapshot is taken. @default half the events */
  heapSnapshotAt?: number;
  /**
   * Runs the connector with `--trace-gc-nvp` and summarizes it into {@linkcode MemoryResult.gc}.
   * @default true when `MEMORY_TRACE_GC` is set
   */
  traceGc?: boolean;
  /**
   * Where the connector writes what reached the old generation, by allocating function (sampled
   * over the whole run), read into {@linkcode MemoryResult.promoted_by_site}.
   * @default `$MEMORY_HEAP_SAMPLING.shipped.json` or `….default_v8.json` when that variable is
   * set, else none
   */
  heapSampling?: string;
  /** The target's batch size (`SENTINEL_BATCH_SIZE`). @default 100 */
  batchSize?: number;
  /** The stream pump's `readAheadBatches`. @default the pump's */
  readAheadBatches?: number;
}

interface Sample {
  t: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  events: number;
  /** V8's `total_physical_size`, in bytes. */
  v8Physical: number;
  /** V8's heap spaces: committed and used bytes. */
  spaces: Record<string, [number, number]>;
  /** The resident split, read when the sample arrived (Linux). */
  split?: ResidentSplit;
}

const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

function profileOf(sample: Sample): MemoryProfile {
  const split = sample.split;
  const v8Spaces: MemoryProfile["v8_spaces"] = {};
  for (const [name, [committed, used]] of Object.entries(sample.spaces)) {
    if (committed > 0) v8Spaces[name] = { committed_mb: mb(committed), used_mb: mb(used) };
  }
  return {
    events: sample.events,
    rss_mb: mb(split?.rss ?? sample.rss),
    ...(split ? { file_mb: mb(split.file), anon_mb: mb(split.anon) } : {}),
    v8_heap_mb: mb(sample.v8Physical),
    ...(split
      ? {
        malloc_mb: mb(split.mallocMain + split.mallocArenas),
        data_and_stacks_mb: mb(split.fileData + split.stack),
        other_anon_mb: mb(split.otherAnon - sample.v8Physical),
      }
      : {}),
    external_mb: mb(sample.external),
    v8_spaces: v8Spaces,
  };
}

/** Runs the memory scenario. */
export async function memoryScenario(options: MemoryOptions = {}): Promise<MemoryResult> {
  const total = options.events ?? 1_000_000;
  // Valid from now on, so the connector's real clock sees live (not expired) indicators.
  const workload = await buildFrames(options.pool ?? 20_000, options.seed ?? 11, {
    time: Date.now(),
  });
  const pool = workload.frames.map((frame) => {
    const event = /^event: (\w+)$/m.exec(frame)?.[1] ?? "create";
    return { event, data: frame.slice(frame.indexOf("data: ") + 6, -2) };
  });
  const snapshotBase = Deno.env.get("MEMORY_HEAP_SNAPSHOT");
  const snapshot = options.heapSnapshot ??
    (snapshotBase
      ? `${snapshotBase}.${options.v8Flags ? "shipped" : "default_v8"}.heapsnapshot`
      : undefined);
  const samplingBase = Deno.env.get("MEMORY_HEAP_SAMPLING");
  const sampling = options.heapSampling ??
    (samplingBase
      ? `${samplingBase}.${options.v8Flags ? "shipped" : "default_v8"}.json`
      : undefined);
  const snapshotAt = options.heapSnapshotAt ?? Math.round(total / 2);
  const traceGc = options.traceGc ?? Deno.env.get("MEMORY_TRACE_GC") !== undefined;
  const v8Flags = [options.v8Flags, traceGc ? "--trace-gc-nvp" : undefined].filter(Boolean);
  const opencti = await startOpenCtiSim({});
  const frames = startFrameServer({ pool, total });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...(v8Flags.length > 0 ? [`--v8-flags=${v8Flags.join(",")}`] : []),
        "--allow-net=127.0.0.1",
        "--allow-env",
        ...(snapshot || sampling
          ? [`--allow-write=${[snapshot, sampling].filter(Boolean).join(",")}`]
          : []),
        ...(sampling ? ["--allow-sys"] : []),
        "--config",
        fromFileUrl(new URL("../../deno.json", import.meta.url)),
        fromFileUrl(new URL("./memory_child.ts", import.meta.url)),
      ],
      env: {
        OPENCTI_URL: opencti.url,
        STREAM_URL: frames.url,
        LAST_ID: frames.idOf(total - 1),
        NO_COLOR: "1",
        ...(snapshot ? { HEAP_SNAPSHOT: snapshot, HEAP_SNAPSHOT_AT: String(snapshotAt) } : {}),
        ...(sampling ? { HEAP_SAMPLING: sampling } : {}),
        ...(options.batchSize ? { BATCH_SIZE: String(options.batchSize) } : {}),
        ...(options.readAheadBatches ? { READ_AHEAD: String(options.readAheadBatches) } : {}),
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderrText = new Response(child.stderr).text();
    const samples: Sample[] = [];
    // What is not a sample: V8's GC trace.
    const trace: string[] = [];
    let done: Record<string, number> | undefined;
    const lines = child.stdout.pipeThrough(new TextDecoderStream());
    let rest = "";
    for await (const text of lines) {
      rest += text;
      let newline: number;
      while ((newline = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, newline);
        rest = rest.slice(newline + 1);
        // V8 writes its trace through a buffered stream, so a block of it may end mid-record
        // right before one of the child's lines: the line starts where its JSON does.
        const at = line.search(/\{"(t|done)":/);
        if (at < 0) {
          trace.push(line);
          continue;
        }
        if (at > 0) trace.push(line.slice(0, at));
        const parsed = JSON.parse(line.slice(at)) as Record<string, number>;
        if (parsed.done) done = parsed;
        else {
          const split = residentSplit(child.pid);
          samples.push({ ...parsed as unknown as Sample, ...(split ? { split } : {}) });
        }
      }
    }
    const [status, stderr] = await Promise.all([child.status, stderrText]);
    if (!status.success || done === undefined) {
      throw new Error(`the memory child failed (${status.code}): ${stderr.slice(0, 2000)}`);
    }
    const warmupEvents = Math.round(total * 0.2);
    const warmIndex = Math.max(0, samples.findIndex((s) => s.events >= warmupEvents));
    const warm = median(samples.slice(warmIndex, warmIndex + 5).map((s) => s.rss));
    const end = median(samples.slice(-5).map((s) => s.rss));
    const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
    const last = samples[samples.length - 1] ?? peak;
    const gc = summarizeGcTrace(trace);
    return {
      peak_rss_mb: mb(peak.rss),
      growth_mb: mb(end - warm),
      events: done.events ?? 0,
      events_per_s: Math.round((done.events ?? 0) / ((done.ms ?? 1) / 1000)),
      warm_rss_mb: mb(warm),
      warmup_events: warmupEvents,
      stopped_on_abort: done.stopped === 1 || (done.stopped as unknown) === true,
      profile: { peak: profileOf(peak), end: profileOf(last) },
      ...(snapshot && done.snapshot_events !== undefined
        ? {
          heap_snapshot: {
            path: snapshot,
            at_events: done.snapshot_events,
            ...summarizeHeapSnapshot(await Deno.readTextFile(snapshot)),
          },
        }
        : {}),
      ...(sampling ? { promoted_by_site: JSON.parse(await Deno.readTextFile(sampling)) } : {}),
      ...(gc ? { gc } : {}),
    };
  } finally {
    await frames.close();
    await opencti.close();
  }
}
