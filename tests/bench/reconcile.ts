/**
 * Reconcile scenario (issue 17): one reconcile of N indicators against each in-process Microsoft
 * target simulator, on a {@linkcode VirtualClock} (every target answer 50 simulated ms).
 *
 * Setup (not measured): the simulator's store is filled directly with the drifted actual state
 * (1% of the desired indicators missing, 1% held with other fields, 1% orphans on top): the
 * records the target's mapper makes, through the simulator's own checks, without HTTP. The fill
 * went through the target's own `upsert` before: slower, and its requests used up the rate windows
 * the reconcile then waited on (Sentinel's uploads). A run whose plan does not find exactly that
 * drift fails (the fill would not be what the target writes).
 *
 * Measured: the production {@linkcode Reconciler}, as `src/sentinel/mod.ts` wires it: the desired
 * set comes from a replay of the live stream (an in-process frame source serving one create
 * event per indicator, `Last-Event-ID: 0-0`, until idle), the actual set from `listOwned()`, the
 * plan, the writes through `SentinelConnector.deliverOutOfBand` (the stream's batching, splitting
 * and dead letters; the missing and stale indicators read by a second replay), then the check
 * listing (`converged`). Memory is the whole process, simulator included, sampled at every target
 * call and every 10,000 stream frames.
 *
 * The plan stage alone (no simulator) runs in a child process so its RSS is the connector's: the
 * desired set from the same stream replay, the listed set as the targets build it (an
 * `OwnedTable`, one fingerprint per listed indicator), and `planReconcile`.
 *
 * A report, never an assertion.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { OwnedTable } from "../../src/microsoft/key_table.ts";
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { SentinelConnector } from "../../src/sentinel/connector.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import {
  desiredSet,
  planReconcile,
  Reconciler,
  type ReplayOptions,
} from "../../src/sentinel/reconcile.ts";
import type {
  SyncTarget,
  TargetIndicator,
  TargetName,
  TargetRemoval,
} from "../../src/microsoft/target.ts";
import { createOpenCtiSimApp } from "../../src/sim/opencti.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { createFrameSource, type FrameSource } from "./frame_server.ts";
import { round } from "./stats.ts";
import { APP, HOSTS, newEntra, router, VIRTUAL_START, world } from "./throughput.ts";
import { VirtualClock } from "./virtual_clock.ts";
import {
  MAX_BACKOFF_MS,
  QUEUE_THRESHOLD_MB,
  SENTINEL_SCOPE,
} from "../fixtures/settings_defaults.ts";

/** Figures of one reconcile through a simulator (one target, one size). */
export interface ReconcileResult {
  /** Indicators desired. */
  indicators: number;
  /** Drift the plan found. */
  missing: number;
  /** Held with other fields. */
  stale: number;
  /** Ours on the target, not desired. */
  orphans: number;
  /** Created, updated and deleted by the execution. */
  written: { created: number; updated: number; deleted: number };
  /** Simulated seconds of the whole reconcile (replay, listing, plan, writes, check listing). */
  seconds_virtual: number;
  /** Real ms of the same (connector and simulator CPU). */
  wall_ms: number;
  /**
   * Real ms to fill the simulator with the drifted state (not part of the reconcile): written
   * straight into its store, as the target's writes would leave it; before, through the target's
   * own `upsert`.
   */
  fill_wall_ms: number;
  /** Real ms from the child process's start to the setup: Deno's start and module loading. */
  start_wall_ms: number;
  /** Real ms of the setup: simulators, Entra keys, the fill and the connector's wiring. */
  setup_wall_ms: number;
  /** Real ms of the whole child process, spawn to exit, as the bench saw it. */
  child_wall_ms?: number;
  /**
   * Real ms of the reconcile's phases: the desired set's replay, the listing, the plan (up to the
   * first write), the execution (writes and the second replay) and the check listing.
   */
  phases_wall_ms: { replay: number; list: number; plan: number; execute: number; check: number };
  /** Largest resident set seen during the reconcile (simulator included), MB. */
  peak_rss_mb: number;
  /** Largest V8 heap used seen during the reconcile (simulator included), MB. */
  peak_heap_mb: number;
  /** Requests to the target during the reconcile (listings, writes, check; tokens not counted). */
  requests: number;
  /** `requests / indicators`. */
  requests_per_indicator: number;
  /** Stream frames read (two replays: desired set and the indicators to write). */
  frames_read: number;
  /** True when the check listing after the execution found no drift. */
  converged: boolean;
}

/** Figures of the plan stage alone (no simulator, own process). */
export interface ReconcilePlanResult {
  /** Indicators desired. */
  indicators: number;
  /** Drift the plan found (missing + stale + orphans). */
  drift: number;
  /** Real ms to build the desired set from the stream replay. */
  desired_wall_ms: number;
  /** Real ms to build the listed set (an `OwnedTable`, as `listOwned` does). */
  listed_wall_ms: number;
  /** Real ms of `planReconcile`. */
  plan_wall_ms: number;
  /** Bytes of the desired and listed tables' arrays per indicator. */
  table_bytes_per_indicator: number;
  /** Largest resident set seen (the whole child process), MB. */
  peak_rss_mb: number;
  /** Largest V8 heap used seen, MB. */
  peak_heap_mb: number;
  /** RSS of the child before the replay, MB. */
  baseline_rss_mb: number;
}

const LATENCY_MS = 50;
const TARGETS: TargetName[] = ["graph", "sentinel", "defender"];
const STREAM_ID = "live-indicators";

/** The STIX id of indicator `n`. */
function idOf(n: number): string {
  return `indicator--7c1d2e3f-4a5b-4c6d-8e9f-${n.toString(16).padStart(12, "0")}`;
}

/** The live stream's create event of indicator `n` (`drift`: an older version of it). */
function envelopeOf(n: number, drift = false): string {
  return JSON.stringify(eventOf(n, drift));
}

/** {@linkcode envelopeOf} as an object (what `JSON.parse` of it gives). */
function eventOf(n: number, drift: boolean): Record<string, unknown> {
  const id = idOf(n);
  return {
    version: "4",
    type: "create",
    scope: "external",
    message: `creates an indicator \`indicator ${n}\``,
    origin: { referer: "init-create" },
    data: {
      id,
      type: "indicator",
      spec_version: "2.1",
      name: `indicator ${n}`,
      description: drift ? `Indicator ${n}, older text` : `Indicator number ${n}`,
      pattern: `[domain-name:value = 'host-${n}.example']`,
      pattern_type: "stix",
      valid_from: "2026-05-01T00:00:00.000Z",
      valid_until: "2030-01-01T00:00:00.000Z",
      created: "2026-05-01T00:00:00.000Z",
      modified: drift ? "2026-05-01T00:00:00.000Z" : "2026-05-02T00:00:00.000Z",
      confidence: drift ? 40 : 70,
      labels: ["opencti", `campaign-${n % 17}`],
      extensions: {
        "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba": {
          extension_type: "property-extension",
          id: `0c7d${n.toString(16).padStart(4, "0").slice(-4)}-1b2a-4c3d-8e4f-${
            n.toString(16).padStart(12, "0")
          }`,
          score: drift ? 40 : 70,
        },
      },
    },
  };
}

/** The target item the stream would make of indicator `n`. */
function indicatorOf(n: number, drift = false): TargetIndicator {
  for (const intent of intentsOf("create", eventOf(n, drift), { now: VIRTUAL_START })) {
    if (intent.kind === "upsert") return intent.indicator;
  }
  throw new Error(`indicator ${n} does not map to an upsert`);
}

/** A stream of one create per indicator, served in-process (no latency: supply not measured). */
/** The reconcile's replay of the simulated stream, on the virtual clock. */
function replayOf(stream: { fetch: typeof fetch }, clock: VirtualClock): ReplayOptions {
  return {
    url: HOSTS.stream,
    token: SIM_TOKEN,
    streamId: STREAM_ID,
    fetch: stream.fetch,
    now: clock.now,
    sleep: clock.sleep,
    setTimer: clock.setTimer,
  };
}

function streamOf(n: number, clock: VirtualClock, onFrame: (index: number) => void): {
  source: FrameSource;
  fetch: typeof fetch;
} {
  const source = createFrameSource({
    pool: [{ event: "create", data: "" }],
    total: n,
    heartbeatMs: 1000,
    sleep: clock.sleep,
    variant: (_data, index) => envelopeOf(index),
    onFrame: (index) => onFrame(index),
  });
  return {
    source,
    fetch: (input, init) => Promise.resolve(source.handle(new Request(input, init))),
  };
}

/** With `RECONCILE_PHASES` set, prints each listing's and write's wall and simulated time. */
function timePhases(target: SyncTarget, clock: VirtualClock): void {
  if (!Deno.env.get("RECONCILE_PHASES")) return;
  const timed = <A extends unknown[], R>(what: string, f: (...args: A) => Promise<R>) => {
    let calls = 0;
    return async (...args: A): Promise<R> => {
      const wall = performance.now();
      const virtual = clock.now();
      try {
        return await f(...args);
      } finally {
        calls++;
        const ms = Math.round(performance.now() - wall);
        if (what === "listOwned" || calls % 20 === 0 || ms > 5_000) {
          phase(`${what} #${calls}: ${ms} ms wall, ${(clock.now() - virtual) / 1000} s simulated`);
        }
      }
    };
  };
  const t = target as SyncTarget & Record<string, unknown>;
  if (target.listOwned) t.listOwned = timed("listOwned", target.listOwned.bind(target));
  t.upsert = timed("upsert", target.upsert.bind(target));
  t.remove = timed("remove", target.remove.bind(target));
}

/** With `RECONCILE_PHASES` set, prints the memory and the peak so far at the end of a phase. */
function phase(name: string, peak?: { rss: number }): void {
  if (!Deno.env.get("RECONCILE_PHASES")) return;
  const m = Deno.memoryUsage();
  const mb = (n: number) => Math.round(n / 1048576);
  console.error(JSON.stringify({
    phase: name,
    rss: mb(m.rss),
    heap_total: mb(m.heapTotal),
    heap_used: mb(m.heapUsed),
    external: mb(m.external),
    ...(peak ? { peak_rss: mb(peak.rss) } : {}),
  }));
}

function memorySampler() {
  const peak = { rss: 0, heap: 0 };
  return {
    peak,
    sample() {
      const m = Deno.memoryUsage();
      peak.rss = Math.max(peak.rss, m.rss);
      peak.heap = Math.max(peak.heap, m.heapUsed);
    },
  };
}

/** The drifted actual state: 1% missing (i % 100 = 0), 1% stale (i % 100 = 1), 1% orphans. */
function* actualState(n: number): Generator<{ n: number; drift: boolean }> {
  for (let i = 0; i < n; i++) if (i % 100 !== 0) yield { n: i, drift: i % 100 === 1 };
  for (let i = 0; i < n / 100; i++) yield { n: n + i, drift: false };
}

/** Wall-clock marks of a reconcile's phases, taken at the target's listings and writes. */
function phaseClock(target: SyncTarget) {
  const marks = { start: 0, listed: [] as [number, number][], firstWrite: 0 };
  const t = target as SyncTarget & Record<string, unknown>;
  const list = target.listOwned?.bind(target);
  if (list) {
    t.listOwned = async (signal?: AbortSignal) => {
      const started = performance.now();
      try {
        return await list(signal);
      } finally {
        marks.listed.push([started, performance.now()]);
      }
    };
  }
  const wrote = () => {
    if (marks.firstWrite === 0) marks.firstWrite = performance.now();
  };
  const upsert = target.upsert.bind(target);
  const remove = target.remove.bind(target);
  t.upsert = (items: TargetIndicator[], signal?: AbortSignal) => (wrote(), upsert(items, signal));
  t.remove = (items: TargetRemoval[], signal?: AbortSignal) => (wrote(), remove(items, signal));
  return {
    start() {
      marks.start = performance.now();
    },
    /** The phases, once the reconcile ended at `end`. */
    phases(end: number): ReconcileResult["phases_wall_ms"] {
      const [first, check] = marks.listed;
      const listed = first?.[1] ?? end;
      const checkStart = check?.[0] ?? end;
      const writes = marks.firstWrite || checkStart;
      return {
        replay: Math.round((first?.[0] ?? end) - marks.start),
        list: Math.round(listed - (first?.[0] ?? end)),
        plan: Math.round(writes - listed),
        execute: Math.round(checkStart - writes),
        check: Math.round((check?.[1] ?? end) - checkStart),
      };
    },
  };
}

/** One reconcile of `n` indicators against `name`, through its simulator. */
export async function reconcileOnce(name: TargetName, n: number): Promise<ReconcileResult> {
  const startWall = performance.now();
  const clock = new VirtualClock(VIRTUAL_START);
  const entra = await newEntra(clock);
  // The simulator and target as the throughput runs configure them.
  const w = world(name, entra, clock);
  const memory = memorySampler();
  const routed = router(
    { [HOSTS.entra]: entra.app, [HOSTS[name]]: w.app },
    clock,
    LATENCY_MS,
    () => {},
  );
  const fetch: typeof globalThis.fetch = (input, init) => {
    memory.sample();
    return routed(input, init);
  };
  const tokens = new TokenProvider({
    authority: HOSTS.entra,
    tenantId: APP.tenantId,
    clientId: APP.clientId,
    credential: { kind: "secret", secret: APP.secret },
    fetch,
    now: clock.now,
    sleep: clock.sleep,
  });
  let framesRead = 0;
  const stream = streamOf(n, clock, (index) => {
    framesRead++;
    if (index % 10_000 === 0) memory.sample();
    if (framesRead % 250_000 === 0) phase(`${framesRead} frames read`, memory.peak);
  });
  const opencti = await createOpenCtiSimApp({ now: clock.now, sleep: clock.sleep });
  const fetchApi = router({ [HOSTS.opencti]: opencti.app }, clock, LATENCY_MS, () => {});
  return await clock.run(async () => {
    const fillStart = performance.now();
    let chunk: TargetIndicator[] = [];
    for (const x of actualState(n)) {
      chunk.push(indicatorOf(x.n, x.drift));
      if (chunk.length === 1000) {
        w.seedWritten(chunk, clock.now());
        chunk = [];
      }
    }
    w.seedWritten(chunk, clock.now());
    const fillMs = performance.now() - fillStart;

    const target = w.target(tokens, fetch, clock);
    phase(`${name} ${n} fill done in ${Math.round(fillMs)} ms`, memory.peak);
    timePhases(target, clock);
    const phases = phaseClock(target);
    const connector = new SentinelConnector({
      url: HOSTS.stream,
      token: SIM_TOKEN,
      client: new OpenCtiClient({ url: HOSTS.opencti, token: SIM_TOKEN, fetch: fetchApi }),
      maxBackoffMs: MAX_BACKOFF_MS,
      connector: {
        id: "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
        name: "Reconcile bench",
        scope: SENTINEL_SCOPE,
        queueThresholdMb: QUEUE_THRESHOLD_MB,
      },
      stream: { streamId: STREAM_ID },
      target,
      fetch: stream.fetch,
      now: clock.now,
      sleep: clock.sleep,
      setTimer: clock.setTimer,
    });
    const reconciler = new Reconciler({
      target,
      replay: replayOf(stream, clock),
      deliver: (operations) => connector.deliverOutOfBand(operations),
      now: clock.now,
    });
    const requestsBefore = w.requests().length;
    framesRead = 0;
    memory.sample();
    const wallStart = performance.now();
    phases.start();
    const report = await reconciler.run();
    const wallEnd = performance.now();
    memory.sample();
    const requests = w.requests().length - requestsBefore;
    stream.source.abortAll();
    // The fill must leave what the target's writes would have: the drift of actualState().
    const drift = report.drift;
    const expected = { missing: 0, stale: 0, orphans: Math.ceil(n / 100) };
    for (let i = 0; i < n; i++) {
      if (i % 100 === 0) expected.missing++;
      else if (i % 100 === 1) expected.stale++;
    }
    if (JSON.stringify(drift) !== JSON.stringify(expected)) {
      throw new Error(
        `The fill of ${name} is not what the target writes: the plan found ${
          JSON.stringify(drift)
        }, expected ${JSON.stringify(expected)}`,
      );
    }
    return {
      indicators: n,
      missing: drift.missing,
      stale: drift.stale,
      orphans: drift.orphans,
      written: { created: report.created, updated: report.updated, deleted: report.deleted },
      seconds_virtual: round(report.durationMs / 1000, 1),
      wall_ms: Math.round(wallEnd - wallStart),
      fill_wall_ms: Math.round(fillMs),
      start_wall_ms: Math.round(startWall),
      setup_wall_ms: Math.round(wallStart - startWall),
      phases_wall_ms: phases.phases(wallEnd),
      peak_rss_mb: round(memory.peak.rss / 1048576, 1),
      peak_heap_mb: round(memory.peak.heap / 1048576, 1),
      requests,
      requests_per_indicator: round(requests / n, 4),
      frames_read: framesRead,
      converged: report.converged === true,
    };
  });
}

/**
 * The plan stage of `n` indicators for `name` without the simulator, in this process: the
 * desired set from the stream replay, the listed set as the target builds it, and the plan.
 */
export async function reconcilePlanStage(
  name: TargetName,
  n: number,
): Promise<ReconcilePlanResult> {
  const clock = new VirtualClock(VIRTUAL_START);
  const entra = await newEntra(clock);
  const w = world(name, entra, clock);
  const memory = memorySampler();
  const noNetwork: typeof fetch = () =>
    Promise.reject(new TypeError("no network in the plan stage"));
  const tokens = new TokenProvider({
    authority: HOSTS.entra,
    tenantId: APP.tenantId,
    clientId: APP.clientId,
    credential: { kind: "secret", secret: APP.secret },
    fetch: noNetwork,
    now: clock.now,
    sleep: clock.sleep,
  });
  const target = w.target(tokens, noNetwork, clock);
  const fingerprint = target.fingerprint?.bind(target);
  if (!fingerprint) throw new Error(`${name} has no fingerprint`);
  const stream = streamOf(n, clock, (index) => {
    if (index % 10_000 === 0) memory.sample();
  });
  const replay = replayOf(stream, clock);
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = Deno.memoryUsage().rss;
  memory.sample();
  return await clock.run(async () => {
    let started = performance.now();
    const desired = await desiredSet(replay, target);
    const desiredMs = performance.now() - started;
    stream.source.abortAll();
    memory.sample();
    phase("desired");
    started = performance.now();
    const listed = new OwnedTable();
    let i = 0;
    for (const x of actualState(n)) {
      const value = fingerprint(indicatorOf(x.n, x.drift));
      if (value !== undefined) listed.add(idOf(x.n), value);
      if (++i % 10_000 === 0) memory.sample();
    }
    const listedMs = performance.now() - started;
    memory.sample();
    phase("listed");
    started = performance.now();
    const plan = planReconcile(desired, listed);
    const planMs = performance.now() - started;
    memory.sample();
    phase("plan");
    return {
      indicators: n,
      drift: plan.missing.length + plan.stale.length + plan.orphans.length,
      desired_wall_ms: Math.round(desiredMs),
      listed_wall_ms: Math.round(listedMs),
      plan_wall_ms: Math.round(planMs),
      table_bytes_per_indicator: Math.round((desired.arrayBytes + listed.arrayBytes) / n),
      peak_rss_mb: round(memory.peak.rss / 1048576, 1),
      peak_heap_mb: round(memory.peak.heap / 1048576, 1),
      baseline_rss_mb: round(baseline / 1048576, 1),
    };
  });
}

/**
 * {@linkcode reconcilePlanStage} in a child process (its RSS is the connector's alone), with the
 * V8 flags production runs with (the `compile` task of deno.json).
 */
export function reconcilePlanOnly(name: TargetName, n: number): Promise<ReconcilePlanResult> {
  return inChild<ReconcilePlanResult>("--plan-stage", name, n);
}

/**
 * {@linkcode reconcileOnce} in a child process of its own, so its peak RSS is that run's alone (not
 * what an earlier run left in the process), with the V8 flags production runs with.
 */
export async function reconcileInChild(name: TargetName, n: number): Promise<ReconcileResult> {
  const started = performance.now();
  const result = await inChild<ReconcileResult>("--once", name, n);
  return { ...result, child_wall_ms: Math.round(performance.now() - started) };
}

async function inChild<T>(mode: string, name: TargetName, n: number): Promise<T> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  ) as { tasks: Record<string, string> };
  const shipped = config.tasks.compile?.match(/--v8-flags=(\S+)/)?.[1];
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `--v8-flags=--expose-gc${shipped ? `,${shipped}` : ""}`,
      "--config",
      fromFileUrl(new URL("../../deno.json", import.meta.url)),
      fromFileUrl(import.meta.url),
      mode,
      name,
      String(n),
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: Deno.env.get("RECONCILE_PHASES") ? "inherit" : "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `the ${mode} child failed (${output.code}): ${
        new TextDecoder().decode(output.stderr).slice(-2000)
      }`,
    );
  }
  return JSON.parse(new TextDecoder().decode(output.stdout)) as T;
}

/** Options of {@linkcode reconcileScenario}. */
export interface ReconcileScenarioOptions {
  /** Sizes reconciled through each target's simulator, each in a child process. */
  sizes: number[];
  /** Sizes whose plan stage alone runs in a child process (no simulator). @default none */
  planOnlySizes?: number[];
  /** Targets. @default graph, sentinel and defender */
  targets?: TargetName[];
  /**
   * Child processes at a time. Above 1 the children share the cores, so their wall times (not
   * their simulated times, requests or drift) grow with it, and so may their peak RSS (the
   * collector runs later); the full run keeps 1. @default 1
   */
  concurrency?: number;
}

/** Every target at each size: `reconcile.<target>.<N>`; a size that fails becomes a note. */
export async function reconcileScenario(options: ReconcileScenarioOptions): Promise<{
  results: Record<string, Record<string, ReconcileResult | ReconcilePlanResult>>;
  notes: string[];
}> {
  type Figures = ReconcileResult | ReconcilePlanResult;
  const jobs: { target: TargetName; key: string; run: () => Promise<Figures> }[] = [];
  for (const target of options.targets ?? TARGETS) {
    for (const n of options.planOnlySizes ?? []) {
      jobs.push({ target, key: `${n}_plan_only`, run: () => reconcilePlanOnly(target, n) });
    }
    for (const n of options.sizes) {
      jobs.push({ target, key: String(n), run: () => reconcileInChild(target, n) });
    }
  }
  const figures: (Figures | undefined)[] = [];
  const failures: (string | undefined)[] = [];
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < jobs.length; index = next++) {
      const job = jobs[index] as (typeof jobs)[number];
      console.error(`bench: reconcile ${job.target} ${job.key}…`);
      try {
        figures[index] = await job.run();
      } catch (error) {
        failures[index] = `reconcile.${job.target}.${job.key}: failed: ${
          error instanceof Error ? error.message : String(error)
        }`;
      }
    }
  };
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 1, jobs.length));
  await Promise.all(Array.from({ length: concurrency }, worker));
  // In the order of the jobs, whichever child ended first.
  const results: Record<string, Record<string, Figures>> = {};
  const notes: string[] = [];
  jobs.forEach((job, index) => {
    const sizes = results[job.target] ??= {};
    const result = figures[index];
    if (result !== undefined) sizes[job.key] = result;
    const failure = failures[index];
    if (failure !== undefined) notes.push(failure);
  });
  return { results, notes };
}

if (import.meta.main) {
  if (Deno.args[0] === "--plan-stage") {
    const name = (Deno.args[1] ?? "graph") as TargetName;
    console.log(JSON.stringify(await reconcilePlanStage(name, Number(Deno.args[2] ?? 10_000))));
  } else if (Deno.args[0] === "--once") {
    const name = (Deno.args[1] ?? "graph") as TargetName;
    console.log(JSON.stringify(await reconcileOnce(name, Number(Deno.args[2] ?? 10_000))));
  } else {
    // deno run -A tests/bench/reconcile.ts [target] [N…]: one reconcile per size, printed.
    const [first, ...rest] = Deno.args;
    const targets = TARGETS.includes(first as TargetName) ? [first as TargetName] : undefined;
    const sizes = (targets ? rest : Deno.args).map(Number);
    console.log(
      JSON.stringify(
        await reconcileScenario({
          sizes: sizes.length > 0 ? sizes : [10_000],
          ...(targets ? { targets } : {}),
        }),
        null,
        2,
      ),
    );
  }
}
