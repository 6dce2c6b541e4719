/**
 * `deno task bench`: runs every benchmark scenario against the simulators on loopback, prints a
 * table of figures against the goals of issues 7 and 14, and writes them as JSON.
 *
 * Usage: `deno run -A tests/bench/main.ts [--quick] [--out FILE] [--only a,b]`
 *
 * Figures are medians of several runs where that makes sense; every comparison (ratio, speedup)
 * is measured in the same run. These are reports, never assertions.
 *
 * @module
 */
import { type CpuResult, cpuScenario } from "./cpu.ts";
import { type LatencyResult, latencyScenario } from "./latency.ts";
import { type MemoryResult, memoryScenario } from "./memory.ts";
import { type PipelineResult, pipelineScenario } from "./pipeline.ts";
import { type ReconcilePlanResult, type ReconcileResult, reconcileScenario } from "./reconcile.ts";
import { type StartupResult, startupScenario } from "./startup.ts";
import { type MachineInfo, machineInfo } from "./stats.ts";
import { type TaniumResult, taniumScenario } from "./tanium.ts";
import { type ThroughputResult, throughputScenario } from "./throughput.ts";

/** Everything `bench-results.json` holds. */
export interface BenchResults {
  /** ISO date of the run. */
  date: string;
  /** The machine. */
  machine: MachineInfo;
  /** `quick` or `full`. */
  mode: "quick" | "full";
  /** Pipeline figures. */
  pipeline: PipelineResult | null;
  /** Throughput figures per target (virtual time). */
  throughput: Record<string, ThroughputResult> | null;
  /** CPU per indicator per target (real time). */
  cpu: Record<string, CpuResult> | null;
  /** Memory figures. */
  memory: (MemoryResult & { default_v8?: MemoryResult }) | null;
  /** Latency figures. */
  latency: LatencyResult | null;
  /** Tanium figures. */
  tanium: TaniumResult | null;
  /** Startup figures. */
  startup: StartupResult | null;
  /** One reconcile per target and size (issue 17): target → N → figures. */
  reconcile: Record<string, Record<string, ReconcileResult | ReconcilePlanResult>> | null;
  /** Scenarios that could not run or deviated, and why. */
  notes: string[];
  /** Wall time of each scenario in seconds. */
  durations_s: Record<string, number>;
}

/** Parsed command line. */
export interface BenchArgs {
  /** Reduced scenarios (under two minutes in all). */
  quick: boolean;
  /** Output file. */
  out: string;
  /** Scenarios to run (all when empty). */
  only: string[];
}

/** Parses `--quick`, `--out FILE` and `--only a,b`. */
export function parseBenchArgs(args: readonly string[], defaultOut: string): BenchArgs {
  const parsed: BenchArgs = { quick: false, out: defaultOut, only: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--quick") parsed.quick = true;
    else if (arg === "--out") parsed.out = args[++i] ?? defaultOut;
    else if (arg.startsWith("--out=")) parsed.out = arg.slice(6);
    else if (arg === "--only") parsed.only = (args[++i] ?? "").split(",").filter(Boolean);
    else if (arg.startsWith("--only=")) parsed.only = arg.slice(7).split(",").filter(Boolean);
    else throw new Error(`Unknown argument "${arg}": use --quick, --out FILE or --only a,b`);
  }
  return parsed;
}

/** One row of the printed table. */
interface Row {
  key: string;
  value: number | string | null;
  goal: string;
  met: boolean | null;
}

/** The figures against the goals of issue 7. */
export function goalRows(r: BenchResults): Row[] {
  const rows: Row[] = [];
  const add = (
    key: string,
    value: number | null | undefined,
    goal = "",
    met: boolean | null = null,
  ) =>
    rows.push({
      key,
      value: value ?? null,
      goal,
      met: value === null || value === undefined ? null : met,
    });
  const p = r.pipeline;
  add("pipeline.events_per_s", p?.events_per_s, ">= 20000", (p?.events_per_s ?? 0) >= 20_000);
  add(
    "pipeline.ratio_to_json_parse",
    p?.ratio_to_json_parse,
    "<= 2.5",
    (p?.ratio_to_json_parse ?? Infinity) <= 2.5,
  );
  for (const [name, t] of Object.entries(r.throughput ?? {})) {
    add(
      `throughput.${name}.fraction_of_ceiling`,
      t.fraction_of_ceiling,
      ">= 0.97",
      t.fraction_of_ceiling >= 0.97,
    );
    add(`throughput.${name}.fraction_of_paced_ceiling`, t.fraction_of_paced_ceiling);
    add(
      `throughput.${name}.http_429_after_warmup`,
      t.http_429_after_warmup,
      "= 0",
      t.http_429_after_warmup === 0,
    );
    if (t.end_state !== undefined) {
      const e = t.end_state;
      const wrong = e.lost + e.extra + e.duplicates + e.stale;
      add(`throughput.${name}.end_state_wrong_records`, wrong, "= 0", wrong === 0);
    }
    if (t.cpu_us_per_indicator !== undefined) {
      add(`throughput.${name}.cpu_us_per_indicator`, t.cpu_us_per_indicator);
    }
    if (t.speedup_vs_baseline !== undefined) {
      add(`throughput.${name}.speedup_vs_baseline`, t.speedup_vs_baseline);
    }
    if (t.speedup_vs_synchronizer !== undefined) {
      add(`throughput.${name}.speedup_vs_synchronizer`, t.speedup_vs_synchronizer);
    }
  }
  for (const [name, c] of Object.entries(r.cpu ?? {})) {
    if (r.throughput?.[name] === undefined) {
      add(`throughput.${name}.cpu_us_per_indicator`, c.cpu_us_per_indicator);
    }
    add(`cpu.${name}.ratio_to_json_parse`, c.ratio_to_json_parse);
  }
  const m = r.memory;
  add("memory.peak_rss_mb", m?.peak_rss_mb, "<= 120", (m?.peak_rss_mb ?? Infinity) <= 120);
  add("memory.growth_mb", m?.growth_mb, "<= 10", (m?.growth_mb ?? Infinity) <= 10);
  if (m?.default_v8) {
    const d = m.default_v8;
    add("memory.default_v8.peak_rss_mb", d.peak_rss_mb, "<= 120", d.peak_rss_mb <= 120);
    add("memory.default_v8.growth_mb", d.growth_mb, "<= 10", d.growth_mb <= 10);
  }
  const l = r.latency;
  add("latency.p50_ms", l?.p50_ms);
  add(
    "latency.p99_ms",
    l?.p99_ms,
    l ? `<= ${l.goal_ms}` : "<= batch timeout + 2 round trips",
    l ? l.p99_ms <= l.goal_ms : null,
  );
  const t = r.tanium;
  add("tanium.alerts_per_s", t?.alerts_per_s);
  add(
    "tanium.page_requests",
    t?.page_requests,
    t ? `= ${t.expected_page_requests}` : "= ceil(N/500) + 1",
    t ? t.page_requests === t.expected_page_requests : null,
  );
  add(
    "tanium.intel_requests",
    t?.intel_requests,
    t ? `= ${t.distinct_intel}` : "= distinct intel documents",
    t ? t.intel_requests === t.distinct_intel : null,
  );
  add("tanium.bundles", t?.bundles);
  add("startup.ready_ms", r.startup?.ready_ms);
  add("startup.healthz_p99_ms", r.startup?.healthz_p99_ms);
  for (const [name, sizes] of Object.entries(r.reconcile ?? {})) {
    for (const [n, f] of Object.entries(sizes)) {
      const key = `reconcile.${name}.${n}`;
      if (!("requests" in f)) {
        add(`${key}.desired_wall_ms`, f.desired_wall_ms);
        add(`${key}.listed_wall_ms`, f.listed_wall_ms);
        add(`${key}.table_bytes_per_indicator`, f.table_bytes_per_indicator);
        add(`${key}.plan_wall_ms`, f.plan_wall_ms);
        add(`${key}.peak_rss_mb`, f.peak_rss_mb);
        add(`${key}.peak_heap_mb`, f.peak_heap_mb);
        continue;
      }
      add(`${key}.seconds_virtual`, f.seconds_virtual);
      add(`${key}.wall_ms`, f.wall_ms);
      add(`${key}.child_wall_ms`, f.child_wall_ms);
      add(`${key}.peak_rss_mb`, f.peak_rss_mb);
      add(`${key}.peak_heap_mb`, f.peak_heap_mb);
      add(`${key}.requests`, f.requests);
      add(`${key}.requests_per_indicator`, f.requests_per_indicator);
      add(`${key}.converged`, f.converged ? 1 : 0, "= 1", f.converged);
    }
  }
  const durations = Object.values(r.durations_s);
  if (durations.length > 0) {
    const total = Math.round(durations.reduce((sum, s) => sum + s, 0) * 10) / 10;
    // The whole --quick run (every scenario) has a goal; a run of some scenarios only reports.
    const whole = r.mode === "quick" && durations.length === Object.keys(SCENARIOS).length;
    add("bench.scenarios_wall_s", total, whole ? "< 120" : "", whole ? total < 120 : null);
  }
  return rows;
}

/** The table as text. */
export function formatTable(r: BenchResults): string {
  const rows = goalRows(r);
  const width = Math.max(...rows.map((row) => row.key.length));
  const lines = [
    `octi-connectors benchmarks (${r.mode}) ${r.date}`,
    `machine: ${r.machine.cores} cores, ${r.machine.memory_mb} MB, Deno ${r.machine.deno} (V8 ${r.machine.v8}), ${r.machine.os}`,
    "",
    `${"figure".padEnd(width)}  ${"value".padStart(12)}  ${"goal".padEnd(24)}  met`,
    `${"-".repeat(width)}  ${"-".repeat(12)}  ${"-".repeat(24)}  ---`,
  ];
  for (const row of rows) {
    const value = row.value === null ? "n/a" : String(row.value);
    const met = row.met === null ? (row.goal ? "?" : "") : row.met ? "yes" : "NO";
    lines.push(`${row.key.padEnd(width)}  ${value.padStart(12)}  ${row.goal.padEnd(24)}  ${met}`);
  }
  if (r.notes.length > 0) {
    lines.push("", "notes:");
    for (const note of r.notes) lines.push(`- ${note}`);
  }
  return lines.join("\n");
}

/** The `--v8-flags` value of the compile task in deno.json (what production runs with). */
async function productionV8Flags(): Promise<string | undefined> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  ) as { tasks: Record<string, string> };
  return config.tasks.compile?.match(/--v8-flags=(\S+)/)?.[1];
}

type Scenario = (quick: boolean, results: BenchResults) => Promise<void>;

const SCENARIOS: Record<string, Scenario> = {
  pipeline: async (quick, results) => {
    results.pipeline = await pipelineScenario(
      quick ? { frames: 30_000, runs: 5 } : { frames: 50_000, runs: 9 },
    );
  },
  memory: async (quick, results) => {
    const events = quick ? 100_000 : 1_000_000;
    // The headline figure runs with the V8 flags the start and compile tasks ship with;
    // `default_v8` is the same run with V8's defaults, for comparison.
    const v8Flags = await productionV8Flags();
    const memory: MemoryResult & { default_v8?: MemoryResult } = await memoryScenario({
      events,
      ...(v8Flags ? { v8Flags } : {}),
    });
    memory.default_v8 = await memoryScenario({ events });
    results.memory = memory;
    if (!memory.stopped_on_abort) {
      results.notes.push(
        "memory: SentinelConnector.start() did not return within 5 s after its signal aborted " +
          "(the stream kept delivering heartbeats); the child was ended with Deno.exit",
      );
    }
  },
  latency: async (quick, results) => {
    results.latency = await latencyScenario({ seconds: quick ? 10 : 30 });
  },
  throughput: async (quick, results) => {
    const outcome = await throughputScenario({ quick });
    results.throughput = outcome.targets;
    results.notes.push(...outcome.notes);
  },
  cpu: async (quick, results) => {
    const cpu = await cpuScenario(
      quick ? { frames: 10_000, runs: 3 } : { frames: 40_000, runs: 5 },
    );
    results.cpu = cpu;
    for (const [name, figures] of Object.entries(cpu)) {
      const t = results.throughput?.[name];
      if (t) t.cpu_us_per_indicator = figures.cpu_us_per_indicator;
    }
  },
  tanium: async (quick, results) => {
    const outcome = await taniumScenario({ quick });
    results.tanium = outcome.result;
    results.notes.push(...outcome.notes);
  },
  startup: async (quick, results) => {
    const outcome = await startupScenario({ quick });
    results.startup = outcome.result;
    results.notes.push(...outcome.notes);
  },
  reconcile: async (quick, results) => {
    // Full: 100,000 and 1,000,000 through the simulators (1,000,000 takes tens of minutes per
    // target), and the 1,000,000 plan stage in a child process (the connector's own memory).
    // Quick: the three children at once (their wall times share the cores; simulated times,
    // requests and drift do not move). Full: one at a time, so each peak RSS is a run alone.
    const outcome = await reconcileScenario(
      quick
        ? { sizes: [10_000], concurrency: 3 }
        : { sizes: [100_000, 1_000_000], planOnlySizes: [1_000_000] },
    );
    results.reconcile = outcome.results;
    results.notes.push(...outcome.notes);
    results.notes.push(
      "reconcile: simulator store filled first with what the target writes (1% missing, 1% " +
        "stale, 1% orphans; not through HTTP); measured: the production Reconciler (desired set " +
        "from a stream replay, " +
        "listOwned, plan, writes through SentinelConnector.deliverOutOfBand, check listing); " +
        "memory is the whole process, in-process simulator included; <N>_plan_only: the " +
        "replay, the listed table and the plan in a child process (no simulator)",
    );
  },
};

/** Runs the selected scenarios and returns the results. */
export async function runBench(args: BenchArgs): Promise<BenchResults> {
  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    mode: args.quick ? "quick" : "full",
    pipeline: null,
    throughput: null,
    cpu: null,
    memory: null,
    latency: null,
    tanium: null,
    startup: null,
    reconcile: null,
    notes: [],
    durations_s: {},
  };
  for (const [name, run] of Object.entries(SCENARIOS)) {
    if (args.only.length > 0 && !args.only.includes(name)) continue;
    const started = performance.now();
    console.error(`bench: ${name}…`);
    try {
      await run(args.quick, results);
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      results.notes.push(`${name}: failed: ${message.split("\n").slice(0, 4).join(" | ")}`);
    }
    results.durations_s[name] = Math.round((performance.now() - started) / 100) / 10;
    console.error(`bench: ${name} took ${results.durations_s[name]} s`);
  }
  return results;
}

if (import.meta.main) {
  const args = parseBenchArgs(Deno.args, "bench-results.json");
  const results = await runBench(args);
  console.log(formatTable(results));
  await Deno.writeTextFile(args.out, JSON.stringify(results, null, 2) + "\n");
  console.log(`\nwrote ${args.out}`);
}
