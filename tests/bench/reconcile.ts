/**
 * Reconcile scenario (issue 17): one reconcile of N indicators against each in-process Microsoft
 * target simulator, on a {@linkcode VirtualClock} (every answer 50 simulated ms).
 *
 * The simulator is first filled through the target's own writes with the drifted actual state
 * (1% of the desired indicators missing, 1% held with other fields, 1% orphans on top); then,
 * measured: the desired set (STIX id → fingerprint, built with `desiredOf` as the reconcile does,
 * from the indicators directly: the stream replay is not part of this figure), `listOwned()`,
 * `planReconcile`, and the execution: the missing and stale indicators upserted and the orphans
 * removed through the target in chunks of its `maxBatch` (the operations the reconcile hands to
 * the connector's delivery path). Memory is the process's (simulator included), sampled at every
 * target call. A report, never an assertion.
 *
 * @module
 */
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import { desiredOf, planReconcile } from "../../src/sentinel/reconcile.ts";
import type {
  OwnedRecord,
  SyncTarget,
  TargetIndicator,
  TargetName,
} from "../../src/microsoft/target.ts";
import { round } from "./stats.ts";
import { APP, HOSTS, newEntra, router, VIRTUAL_START, world } from "./throughput.ts";
import { VirtualClock } from "./virtual_clock.ts";

/** Figures of one reconcile (one target, one size). */
export interface ReconcileResult {
  /** Indicators desired. */
  indicators: number;
  /** Drift the plan found. */
  missing: number;
  /** Held with other fields. */
  stale: number;
  /** Ours on the target, not desired. */
  orphans: number;
  /** Simulated seconds of listing, planning and execution. */
  seconds_virtual: number;
  /** Real ms of the same (connector and simulator CPU). */
  wall_ms: number;
  /** Real ms of the listing and the plan alone. */
  list_plan_wall_ms: number;
  /** Largest resident set seen during the reconcile (simulator included), MB. */
  peak_rss_mb: number;
  /** Largest V8 heap used seen during the reconcile (simulator included), MB. */
  peak_heap_mb: number;
  /** Requests to the target during the reconcile (listing and writes; tokens not counted). */
  requests: number;
  /** `requests / indicators`. */
  requests_per_indicator: number;
  /** True when a listing after the execution found no drift. */
  converged: boolean;
}

const LATENCY_MS = 50;
const TARGETS: TargetName[] = ["graph", "sentinel", "defender"];

function indicator(n: number, drift = false): TargetIndicator {
  const id = `indicator--7c1d2e3f-4a5b-4c6d-8e9f-${n.toString(16).padStart(12, "0")}`;
  return {
    id,
    stix: {
      id,
      type: "indicator",
      spec_version: "2.1",
      name: `indicator ${n}`,
      pattern: `[domain-name:value = 'host-${n}.example']`,
      pattern_type: "stix",
      valid_from: "2026-05-01T00:00:00.000Z",
      valid_until: "2030-01-01T00:00:00.000Z",
      created: "2026-05-01T00:00:00.000Z",
      modified: drift ? "2026-05-01T00:00:00.000Z" : "2026-05-02T00:00:00.000Z",
      description: drift ? `Indicator ${n}, older text` : `Indicator number ${n}`,
      confidence: drift ? 40 : 70,
      labels: ["opencti", `campaign-${n % 17}`],
    },
    observables: [{ type: "domain-name", value: `host-${n}.example` }],
    name: `indicator ${n}`,
    description: drift ? `Indicator ${n}, older text` : `Indicator number ${n}`,
    score: drift ? 40 : 70,
    confidence: drift ? 40 : 70,
    labels: ["opencti", `campaign-${n % 17}`],
    tlp: "green",
    validUntil: "2030-01-01T00:00:00Z",
    updatedAt: "2026-05-01T00:00:00Z",
    killChainPhases: [],
  };
}

async function chunked<T>(
  items: readonly T[],
  size: number,
  send: (chunk: T[]) => Promise<unknown>,
): Promise<void> {
  for (let start = 0; start < items.length; start += size) {
    await send(items.slice(start, start + size));
  }
}

/** One reconcile of `n` indicators against `name`. */
export async function reconcileOnce(name: TargetName, n: number): Promise<ReconcileResult> {
  const clock = new VirtualClock(VIRTUAL_START);
  const entra = await newEntra(clock);
  const w = world(name, entra, clock);
  const fetch = router(
    { [HOSTS.entra]: entra.app, [HOSTS[name]]: w.app },
    clock,
    LATENCY_MS,
    () => {},
  );
  const tokens = new TokenProvider({
    authority: HOSTS.entra,
    tenantId: APP.tenantId,
    clientId: APP.clientId,
    credential: { kind: "secret", secret: APP.secret },
    fetch,
    now: clock.now,
    sleep: clock.sleep,
  });
  const target: SyncTarget = w.target(tokens, fetch, clock);
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const m = Deno.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const listOwned = target.listOwned?.bind(target);
  if (!listOwned || !target.fingerprint) throw new Error(`${name} cannot list what it holds`);
  return await clock.run(async () => {
    // The actual state: 1% missing (i % 100 = 0), 1% stale (i % 100 = 1), 1% orphans.
    const seeded: TargetIndicator[] = [];
    for (let i = 0; i < n; i++) if (i % 100 !== 0) seeded.push(indicator(i, i % 100 === 1));
    for (let i = 0; i < n / 100; i++) seeded.push(indicator(n + i));
    await chunked(seeded, target.maxBatch, (chunk) => target.upsert(chunk));
    seeded.length = 0;
    const requestsBefore = w.requests().length;
    const virtualStart = clock.now();
    sample();
    const wallStart = performance.now();
    const desired = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const wanted = desiredOf(
        { kind: "upsert", indicator: indicator(i), dropped: [] },
        target,
      );
      if (wanted?.fingerprint) desired.set(wanted.id, wanted.fingerprint);
    }
    sample();
    const plan = planReconcile(desired, await listOwned());
    sample();
    const listPlanMs = performance.now() - wallStart;
    const upserts = [...plan.missing, ...plan.stale].map((id) =>
      indicator(Number.parseInt(id.slice(-12), 16))
    );
    await chunked(upserts, target.maxBatch, async (chunk) => {
      await target.upsert(chunk);
      sample();
    });
    await chunked(plan.orphans, target.maxBatch, async (ids) => {
      await target.remove(ids.map((id) => ({ id })));
      sample();
    });
    const wallMs = performance.now() - wallStart;
    const seconds = (clock.now() - virtualStart) / 1000;
    const requests = w.requests().length - requestsBefore;
    const after = planReconcile(desired, await listOwned());
    return {
      indicators: n,
      missing: plan.missing.length,
      stale: plan.stale.length,
      orphans: plan.orphans.length,
      seconds_virtual: round(seconds, 1),
      wall_ms: Math.round(wallMs),
      list_plan_wall_ms: Math.round(listPlanMs),
      peak_rss_mb: round(peakRss / 1048576, 1),
      peak_heap_mb: round(peakHeap / 1048576, 1),
      requests,
      requests_per_indicator: round(requests / n, 4),
      converged: after.missing.length + after.stale.length + after.orphans.length === 0,
    };
  });
}

/** Figures of the plan stage alone (no simulator): desired and listed sets in memory. */
export interface ReconcilePlanResult {
  /** Indicators desired. */
  indicators: number;
  /** Drift the plan found (missing + stale + orphans). */
  drift: number;
  /** Real ms to build the desired set (`desiredOf`, the target's fingerprint). */
  desired_wall_ms: number;
  /** Real ms of `planReconcile`. */
  plan_wall_ms: number;
  /** Largest resident set seen, MB. */
  peak_rss_mb: number;
  /** Largest V8 heap used seen, MB. */
  peak_heap_mb: number;
}

/**
 * The plan stage of `n` indicators for `name` without the simulator: the desired set as the
 * reconcile builds it, the listed set as `listOwned` returns it (same drift), and the plan.
 */
export async function reconcilePlanOnly(
  name: TargetName,
  n: number,
): Promise<ReconcilePlanResult> {
  const clock = new VirtualClock(VIRTUAL_START);
  const entra = await newEntra(clock);
  const w = world(name, entra, clock);
  const tokens = new TokenProvider({
    authority: HOSTS.entra,
    tenantId: APP.tenantId,
    clientId: APP.clientId,
    credential: { kind: "secret", secret: APP.secret },
    fetch: () => Promise.reject(new TypeError("no network in the plan stage")),
    now: clock.now,
    sleep: clock.sleep,
  });
  const target = w.target(tokens, globalThis.fetch, clock);
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const m = Deno.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  let started = performance.now();
  const desired = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const wanted = desiredOf({ kind: "upsert", indicator: indicator(i), dropped: [] }, target);
    if (wanted?.fingerprint) desired.set(wanted.id, wanted.fingerprint);
  }
  const desiredMs = performance.now() - started;
  sample();
  const actual: OwnedRecord[] = [];
  const owned = (item: TargetIndicator) =>
    actual.push({ id: item.id, fingerprint: target.fingerprint?.(item) ?? "", records: 1 });
  for (let i = 0; i < n; i++) if (i % 100 !== 0) owned(indicator(i, i % 100 === 1));
  for (let i = 0; i < n / 100; i++) owned(indicator(n + i));
  sample();
  started = performance.now();
  const plan = planReconcile(desired, actual);
  const planMs = performance.now() - started;
  sample();
  return {
    indicators: n,
    drift: plan.missing.length + plan.stale.length + plan.orphans.length,
    desired_wall_ms: Math.round(desiredMs),
    plan_wall_ms: Math.round(planMs),
    peak_rss_mb: round(peakRss / 1048576, 1),
    peak_heap_mb: round(peakHeap / 1048576, 1),
  };
}

/** Every target at each size: `reconcile.<target>.<N>`; a size that fails becomes a note. */
export async function reconcileScenario(
  options: { sizes: number[]; planOnlySizes?: number[]; targets?: TargetName[] },
): Promise<{
  results: Record<string, Record<string, ReconcileResult | ReconcilePlanResult>>;
  notes: string[];
}> {
  const results: Record<string, Record<string, ReconcileResult | ReconcilePlanResult>> = {};
  const notes: string[] = [];
  for (const name of options.targets ?? TARGETS) {
    const sizes: Record<string, ReconcileResult | ReconcilePlanResult> = results[name] = {};
    for (const n of options.planOnlySizes ?? []) {
      console.error(`bench: reconcile plan stage ${name} ${n}…`);
      try {
        sizes[`${n}_plan_only`] = await reconcilePlanOnly(name, n);
      } catch (error) {
        notes.push(
          `reconcile.${name}.${n}_plan_only: failed: ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
    }
    for (const n of options.sizes) {
      console.error(`bench: reconcile ${name} ${n}…`);
      try {
        sizes[String(n)] = await reconcileOnce(name, n);
      } catch (error) {
        notes.push(
          `reconcile.${name}.${n}: failed: ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
    }
  }
  return { results, notes };
}

if (import.meta.main) {
  const sizes = Deno.args.length > 0 ? Deno.args.map(Number) : [10_000];
  console.log(JSON.stringify(await reconcileScenario({ sizes }), null, 2));
}
