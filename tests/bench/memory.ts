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
  /** At the RSS peak: V8 heap committed, heap used and external memory, in MB. */
  at_peak: {
    heap_total_mb: number;
    heap_used_mb: number;
    external_mb: number;
    /** Anonymous resident memory (V8 heap and malloc), when the OS tells (Linux). */
    rss_anon_mb?: number;
    /** File-backed resident memory (the deno binary), when the OS tells (Linux). */
    rss_file_mb?: number;
  };
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
}

interface Sample {
  t: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  events: number;
  /** Resident anonymous memory (V8 heap, malloc) from `/proc/<pid>/status`, in bytes. */
  rssAnon?: number;
  /** Resident file-backed memory (the deno binary and its data), in bytes. */
  rssFile?: number;
}

/** `RssAnon`/`RssFile` of a process from `/proc/<pid>/status` (Linux), in bytes. */
function residentKinds(pid: number): { rssAnon?: number; rssFile?: number } {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return {};
  }
  const kb = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const rssAnon = kb("RssAnon");
  const rssFile = kb("RssFile");
  return {
    ...(rssAnon === undefined ? {} : { rssAnon }),
    ...(rssFile === undefined ? {} : { rssFile }),
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
  const opencti = await startOpenCtiSim({});
  const frames = startFrameServer({ pool, total });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--config",
        fromFileUrl(new URL("../../deno.json", import.meta.url)),
        fromFileUrl(new URL("./memory_child.ts", import.meta.url)),
      ],
      env: {
        OPENCTI_URL: opencti.url,
        STREAM_URL: frames.url,
        LAST_ID: frames.idOf(total - 1),
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderrText = new Response(child.stderr).text();
    const samples: Sample[] = [];
    let done: Record<string, number> | undefined;
    const lines = child.stdout.pipeThrough(new TextDecoderStream());
    let rest = "";
    for await (const text of lines) {
      rest += text;
      let newline: number;
      while ((newline = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, newline);
        rest = rest.slice(newline + 1);
        const parsed = JSON.parse(line) as Record<string, number>;
        if (parsed.done) done = parsed;
        else samples.push({ ...parsed as unknown as Sample, ...residentKinds(child.pid) });
      }
    }
    const [status, stderr] = await Promise.all([child.status, stderrText]);
    if (Deno.env.get("HEAP_SPACES")) console.error(stderr.trim());
    if (!status.success || done === undefined) {
      throw new Error(`the memory child failed (${status.code}): ${stderr.slice(0, 2000)}`);
    }
    const warmupEvents = Math.round(total * 0.2);
    const warmIndex = Math.max(0, samples.findIndex((s) => s.events >= warmupEvents));
    const mb = (bytes: number) => bytes / 1024 / 1024;
    const warm = median(samples.slice(warmIndex, warmIndex + 5).map((s) => s.rss));
    const end = median(samples.slice(-5).map((s) => s.rss));
    const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
    return {
      peak_rss_mb: round(mb(peak.rss), 1),
      growth_mb: round(mb(end - warm), 1),
      events: done.events ?? 0,
      events_per_s: Math.round((done.events ?? 0) / ((done.ms ?? 1) / 1000)),
      warm_rss_mb: round(mb(warm), 1),
      warmup_events: warmupEvents,
      stopped_on_abort: done.stopped === 1 || (done.stopped as unknown) === true,
      at_peak: {
        heap_total_mb: round(mb(peak.heapTotal), 1),
        heap_used_mb: round(mb(peak.heapUsed), 1),
        external_mb: round(mb(peak.external), 1),
        ...(peak.rssAnon === undefined ? {} : { rss_anon_mb: round(mb(peak.rssAnon), 1) }),
        ...(peak.rssFile === undefined ? {} : { rss_file_mb: round(mb(peak.rssFile), 1) }),
      },
    };
  } finally {
    await frames.close();
    await opencti.close();
  }
}
