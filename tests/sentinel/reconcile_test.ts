/**
 * Reconciliation end to end (issue 17), per target: the connector syncs the stream, drift of every
 * kind is made behind its back in the target simulator (missing, stale field, orphan of ours,
 * foreign record), and one reconcile brings the target back to exactly what OpenCTI says, without
 * touching the foreign record; a dry run changes nothing; a reconcile while the stream delivers
 * converges too.
 */
import assert from "node:assert/strict";
import { parseAdoptSource } from "../../src/sentinel/adopt.ts";
import {
  desiredSet,
  planReconcile,
  type ReconcilePlan,
  Reconciler,
  type ReplayOptions,
} from "../../src/sentinel/reconcile.ts";
import type { SyncTarget, TargetName } from "../../src/microsoft/target.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import {
  type SentinelStack,
  STACK_APP,
  type StackTargetOptions,
  startSentinelStack,
} from "../../src/sim/stack.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import { Metrics } from "../../src/metrics.ts";
import { ReconcilingConnector } from "../../src/sentinel/reconcile_host.ts";
import { CappedTarget, withIdentities } from "../../src/microsoft/target_policies.ts";
import { createApp } from "../../src/server.ts";
import { readOpenCtiExtension } from "../../src/stix/extension.ts";
import type { StixObject } from "../../src/stix/types.ts";
import type { SentinelConnector } from "../../src/sentinel/connector.ts";
import {
  allLabels,
  connectorFor,
  type ConnectorForOptions,
  NOW,
  seedNamed,
  sorted,
} from "./helpers.ts";

const RECOVER = new Date(NOW + 3_600_000).toISOString();
const ORPHAN_ID = "indicator--0b7e3c52-6a8f-4f1e-9d2c-7a1b3c5d7e9f";
const FOREIGN_ID = "indicator--5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";

/** Small pages, so every listing of a reconcile reads several. */
const PAGE = 3;

async function stackFor(target: TargetName): Promise<SentinelStack> {
  const stack = await startSentinelStack({
    target,
    opencti: { seed: true, heartbeatMs: 20 },
    graph: { pageSize: PAGE },
    defender: { pageSize: PAGE },
  });
  stack.opencti.control.stream.defineStream("live-indicators", {
    name: "Synced indicators",
    filter: { types: ["indicator"], labels: allLabels(stack) },
  });
  return stack;
}

function replayOf(stack: SentinelStack): ReplayOptions {
  return {
    url: stack.opencti.url,
    token: SIM_TOKEN,
    streamId: "live-indicators",
    recoverIsoDate: RECOVER,
    retryBaseMs: 5,
    now: () => NOW,
    random: () => 0,
  };
}

/** A STIX indicator planted straight into the Sentinel simulator. */
function plantedStix(id: string): Record<string, unknown> {
  return {
    type: "indicator",
    spec_version: "2.1",
    id,
    created: "2024-01-01T00:00:00Z",
    modified: "2024-01-01T00:00:00Z",
    name: "planted",
    pattern: "[domain-name:value = 'planted.example']",
    pattern_type: "stix",
    valid_from: "2024-01-01T00:00:00Z",
  };
}

/** A Defender domain indicator planted straight into the Defender simulator. */
function plantedDefender(value: string, application: string, externalID: string) {
  return { indicatorType: "DomainName" as const, indicatorValue: value, application, externalID };
}

/** Drift made behind the connector's back, per target. */
interface Drift {
  /** Deletes every record of an indicator. */
  dropAll(id: string): void;
  /** Changes a compared field of the records of an indicator. */
  tamper(id: string): void;
  /** Adds a record of ours for an indicator OpenCTI does not have. */
  orphan(id: string): void;
  /** Adds a record of another writer. */
  foreign(id: string): void;
  /** The foreign record as stored (to prove it untouched). */
  foreignView(): unknown[];
  /** Adds a record as the upstream connector named by `adopt` wrote it for this indicator. */
  upstream(indicator: StixObject): void;
  /** How many upstream-style records are stored. */
  upstreamCount(): number;
  /** `SENTINEL_ADOPT_SOURCE` for this target. */
  adopt: string;
}

/** The OpenCTI internal id of a seeded object. */
function internalId(object: StixObject): string {
  const id = readOpenCtiExtension(object).id;
  if (id === undefined) throw new Error(`${object.id} has no OpenCTI id`);
  return id;
}

function driftFor(stack: SentinelStack): Drift {
  if (stack.graph) {
    const graph = stack.graph;
    const ours = { appid: STACK_APP.clientId, tid: STACK_APP.tenantId };
    const record = (externalId: string) => ({
      externalId,
      targetProduct: "Azure Sentinel",
      action: "alert",
      threatType: "WatchList",
      tlpLevel: "amber",
      description: "planted",
      expirationDateTime: "2030-01-01T00:00:00Z",
      domainName: `${externalId.slice(11, 19)}.example`,
    });
    return {
      dropAll: (id) => {
        for (const r of graph.findByExternalId(id)) graph.edit(r.id, null);
      },
      tamper: (id) => {
        for (const r of graph.findByExternalId(id)) graph.edit(r.id, { description: "tampered" });
      },
      orphan: (id) => void graph.seed(record(id), ours),
      foreign: (id) => void graph.seed(record(id), { appid: "other-app", tid: STACK_APP.tenantId }),
      foreignView: () => graph.findByExternalId(FOREIGN_ID),
      // Seed-era stream/sentinel: same app, externalId = OpenCTI internal id, plain fields.
      upstream: (indicator) =>
        void graph.seed({
          ...record(internalId(indicator)),
          domainName: "update-check.example",
          tags: ["opencti"],
        }, ours),
      upstreamCount: () =>
        graph.store().filter((r) =>
          typeof r.fields.externalId === "string" && !r.fields.externalId.includes("--")
        ).length,
      adopt: "stream-sentinel",
    };
  }
  if (stack.sentinel) {
    const sentinel = stack.sentinel;
    const object = plantedStix;
    return {
      dropAll: (id) => {
        for (const r of sentinel.findById(id)) sentinel.edit(r.name, null);
      },
      tamper: (id) => {
        for (const r of sentinel.findById(id)) sentinel.edit(r.name, { name: "tampered" });
      },
      orphan: (id) => void sentinel.seed(object(id), "OpenCTI"),
      foreign: (id) => void sentinel.seed(object(id), "Another Feed"),
      foreignView: () => sentinel.findById(FOREIGN_ID),
      // stream/microsoft-sentinel-intel: the STIX indicator under its own sourcesystem.
      upstream: (indicator) => void sentinel.seed(object(indicator.id), "Opencti Stream Connector"),
      upstreamCount: () =>
        sentinel.store().filter((r) => r.source === "Opencti Stream Connector").length,
      adopt: "microsoft-sentinel-intel",
    };
  }
  const defender = stack.defender;
  if (!defender) throw new Error("no target simulator");
  const ours = { appid: STACK_APP.clientId, tid: STACK_APP.tenantId };
  const mine = (id: string) => defender.store().filter((r) => r.entity.externalID === id);
  return {
    dropAll: (id) => {
      for (const r of mine(id)) defender.edit(r.entity.id, null);
    },
    tamper: (id) => {
      for (const r of mine(id)) defender.edit(r.entity.id, { title: "tampered" });
    },
    orphan: (id) => void defender.seed(plantedDefender("orphan.example", "OpenCTI", id), ours),
    foreign: (id) =>
      void defender.seed(plantedDefender("foreign.example", "Another Feed", id), {
        appid: "other-app",
        tid: STACK_APP.tenantId,
      }),
    foreignView: () => mine(FOREIGN_ID).map((r) => r.entity),
    // stream/microsoft-defender-intel (same app registration): its application, and the OpenCTI
    // internal id as externalId, for the value our record would carry.
    upstream: (indicator) =>
      void defender.seed(
        plantedDefender(
          "update-check.example",
          "OpenCTI Microsoft Defender Intel",
          internalId(indicator),
        ),
        ours,
      ),
    upstreamCount: () =>
      defender.store().filter((r) => r.entity.application === "OpenCTI Microsoft Defender Intel")
        .length,
    adopt: "microsoft-defender-intel",
  };
}

function reconcilerFor(
  stack: SentinelStack,
  target: SyncTarget,
  connector: ReturnType<typeof connectorFor>,
  adopt?: string,
): Reconciler {
  const source = parseAdoptSource(adopt, stack.target);
  return new Reconciler({
    target,
    replay: replayOf(stack),
    deliver: (ops) => connector.deliverOutOfBand(ops),
    now: () => NOW,
    ...(source ? { adopt: source } : {}),
  });
}

/** One test's world: the stack, the target built on it, a connector on that target. */
interface World {
  stack: SentinelStack;
  target: SyncTarget;
  connector: SentinelConnector;
  /** Drift made behind the connector's back. */
  drift: Drift;
  /** A reconciler on the world's target and connector, adopting from `adopt`. */
  reconciler(adopt?: string): Reconciler;
  /** Aborted when the test ends (stops what the test started). */
  controller: AbortController;
}

/** Options of {@linkcode inWorld}: only what a test changes. */
interface WorldOptions {
  /** Options of `stack.createTarget`. @default {} */
  target?: StackTargetOptions;
  /** Wraps the target (upstream policies). @default none */
  wrap?: (target: SyncTarget) => SyncTarget;
  /** Options of the connector besides its target. @default {} */
  connector?: Omit<ConnectorForOptions, "target">;
}

/** Runs `test` in a fresh world for `targetName`, then stops it and its simulators. */
async function inWorld(
  targetName: TargetName,
  options: WorldOptions,
  test: (world: World) => Promise<void>,
): Promise<void> {
  const stack = await stackFor(targetName);
  const controller = new AbortController();
  try {
    const built = stack.createTarget(options.target ?? {});
    const target = options.wrap ? options.wrap(built) : built;
    const connector = connectorFor(stack, { ...options.connector, target });
    await test({
      stack,
      target,
      connector,
      drift: driftFor(stack),
      reconciler: (adopt) => reconcilerFor(stack, target, connector, adopt),
      controller,
    });
  } finally {
    controller.abort();
    await stack.close();
  }
}

/** What the target holds, without the foreign record. */
function presentOurs(stack: SentinelStack): string[] {
  return sorted(stack.present().filter((key) => !key.startsWith(FOREIGN_ID)));
}

async function reconcileHealsDrift(
  targetName: TargetName,
  wrap: (target: SyncTarget) => SyncTarget = (target) => target,
  options: StackTargetOptions = {},
): Promise<void> {
  await inWorld(
    targetName,
    { target: { sentinel: { listPageSize: PAGE }, ...options }, wrap },
    async (world) => {
      const { stack, connector, drift } = world;
      assert.equal(await connector.runOnce(), true, JSON.stringify(connector.status()));
      const expected = sorted(await stack.expected(NOW));
      assert.deepEqual(presentOurs(stack), expected);
      const reconciler = world.reconciler(drift.adopt);

      // In step: no drift.
      const clean = await reconciler.run({ dryRun: true });
      assert.deepEqual(clean.drift, { missing: 0, stale: 0, orphans: 0 }, JSON.stringify(clean));
      assert.ok(clean.desired > 0);

      // Drift of every kind.
      const missing = seedNamed(stack, "1.2.3.4").id;
      const stale = seedNamed(stack, "shortsvelventysjo.shop").id;
      const switched = seedNamed(stack, "Loader infrastructure (IP or domain)");
      drift.dropAll(missing);
      drift.tamper(stale);
      drift.orphan(ORPHAN_ID);
      drift.foreign(FOREIGN_ID);
      // Switching from the upstream connector: its record for an indicator, ours not there yet.
      drift.dropAll(switched.id);
      drift.upstream(switched);
      assert.equal(drift.upstreamCount(), 1);
      const foreignBefore = drift.foreignView();
      assert.equal(foreignBefore.length, 1);

      // A dry run reports it and changes nothing.
      const before = stack.present();
      const dry = await reconciler.run({ dryRun: true });
      assert.deepEqual(dry.drift, { missing: 2, stale: 1, orphans: 1 }, JSON.stringify(dry));
      assert.deepEqual(dry.preview, {
        missing: sorted([missing, switched.id]),
        stale: [stale],
        orphans: [ORPHAN_ID],
        adopted: [targetName === "sentinel" ? switched.id : internalId(switched)],
      });
      assert.deepEqual(dry.adoptable, { matched: 1, left: 0 });
      // Listings read several pages (PAGE is smaller than the target's contents; a listing that
      // stopped early would show as drift above). Sentinel reads its next pages with a GET.
      if (stack.sentinel) {
        const next = stack.sentinel.requests.filter((r) =>
          r.method === "GET" && r.path.includes("/threatIntelligence/main/query")
        );
        assert.ok(next.length > 0, "no Sentinel listing read a second page");
      }
      assert.equal(dry.converged, undefined);
      assert.deepEqual(stack.present(), before);

      // One reconcile heals it; the foreign record is untouched.
      const report = await reconciler.run();
      assert.equal(report.converged, true, JSON.stringify(report));
      assert.deepEqual(
        [report.created, report.updated, report.deleted, report.adopted],
        [2, 1, 1, 1],
      );
      assert.deepEqual([report.deadLettered, report.held, report.adoptFailed], [0, 0, 0]);
      assert.equal(drift.upstreamCount(), 0);
      assert.deepEqual(presentOurs(stack), expected);
      assert.deepEqual(drift.foreignView(), foreignBefore);
      assert.deepEqual(reconciler.last, report);

      // And now it is in step again.
      const after = await reconciler.run({ dryRun: true });
      assert.deepEqual(after.drift, { missing: 0, stale: 0, orphans: 0 });
    },
  );
}

for (const target of ["graph", "sentinel", "defender"] as const) {
  Deno.test(`reconcile (${target}): missing, stale, orphan healed, upstream record adopted, foreign untouched, dry run inert`, () =>
    reconcileHealsDrift(target));
}

// The upstream policies (issue 15) wrap the target: the wrappers must keep the reconcile's
// methods, or a capped Defender / identity-publishing Sentinel would never be reconciled.
Deno.test("reconcile (defender under DEFENDER_MAX_INDICATORS): the cap keeps the reconcile's methods", () =>
  reconcileHealsDrift("defender", (target) => {
    const capped = new CappedTarget(target, { maxIndicators: 15_000 });
    for (const method of ["listOwned", "fingerprint", "listAdoptable", "removeRecords"] as const) {
      assert.equal(typeof capped[method], "function", method);
    }
    assert.equal(capped.maxRemoveBatch, target.maxRemoveBatch);
    return capped;
  }));

// Above the index limit (a tenant whose cap Microsoft raised), the orphans are found by a scan.
Deno.test("reconcile (defender above ownIndexLimit): drift healed with orphans found by a scan, foreign untouched", () =>
  reconcileHealsDrift("defender", (target) => target, { defender: { ownIndexLimit: 0 } }));

Deno.test("reconcile (sentinel with SENTINEL_PUBLISH_IDENTITIES): the wrapper keeps the reconcile's methods", () =>
  reconcileHealsDrift("sentinel", (target) => {
    const wrapped = withIdentities(target);
    for (const method of ["listOwned", "fingerprint", "listAdoptable", "removeRecords"] as const) {
      assert.equal(typeof wrapped[method], "function", method);
    }
    return wrapped;
  }));

Deno.test("reconcile (defender) with the upstream names: its application is ours, its records are adopted, another application's are untouched", async () => {
  const application = "OpenCTI Microsoft Defender Intel";
  await inWorld("defender", { target: { defender: { application } } }, async (world) => {
    const { stack, connector } = world;
    assert.equal(await connector.runOnce(), true, JSON.stringify(connector.status()));
    const defender = stack.defender!;
    const ours = { appid: STACK_APP.clientId, tid: STACK_APP.tenantId };
    const switched = seedNamed(stack, "Loader infrastructure (IP or domain)");
    for (const r of defender.store().filter((r) => r.entity.externalID === switched.id)) {
      defender.edit(r.entity.id, null);
    }
    // The upstream connector's record: same application, keyed by the OpenCTI internal id.
    defender.seed(plantedDefender("update-check.example", application, internalId(switched)), ours);
    // A record of the application `OpenCTI` (ours only without the upstream names): not ours here.
    defender.seed(plantedDefender("orphan.example", "OpenCTI", ORPHAN_ID), ours);
    const others = () =>
      defender.store().filter((r) => r.entity.application === "OpenCTI").map((r) => r.entity);
    const othersBefore = others();
    assert.equal(othersBefore.length, 1);
    const reconciler = world.reconciler("microsoft-defender-intel");
    const dry = await reconciler.run({ dryRun: true });
    assert.deepEqual(dry.drift, { missing: 1, stale: 0, orphans: 0 }, JSON.stringify(dry));
    assert.deepEqual(dry.adoptable, { matched: 1, left: 0 });
    const report = await reconciler.run();
    assert.equal(report.converged, true, JSON.stringify(report));
    assert.deepEqual([report.created, report.deleted, report.adopted], [1, 0, 1]);
    assert.equal(
      defender.store().filter((r) => r.entity.externalID === internalId(switched)).length,
      0,
    );
    assert.deepEqual(others(), othersBefore);
  });
});

Deno.test("reconcile (sentinel) with the upstream names: its sourcesystem is ours (records updated in place), another source's are untouched", async () => {
  const sourceSystem = "Opencti Stream Connector";
  const options = { target: { sentinel: { listPageSize: PAGE, sourceSystem } } };
  await inWorld("sentinel", options, async (world) => {
    const { stack, connector } = world;
    assert.equal(await connector.runOnce(), true, JSON.stringify(connector.status()));
    const sentinel = stack.sentinel!;
    const switched = seedNamed(stack, "Loader infrastructure (IP or domain)");
    for (const r of sentinel.findById(switched.id)) sentinel.edit(r.name, { name: "tampered" });
    // `OpenCTI` is ours only without the upstream names: not ours here.
    sentinel.seed(plantedStix(ORPHAN_ID), "OpenCTI");
    const othersBefore = sentinel.findById(ORPHAN_ID);
    assert.equal(othersBefore.length, 1);
    const reconciler = world.reconciler("microsoft-sentinel-intel");
    const dry = await reconciler.run({ dryRun: true });
    assert.deepEqual(dry.drift, { missing: 0, stale: 1, orphans: 0 }, JSON.stringify(dry));
    assert.deepEqual(dry.adoptable, { matched: 0, left: 0 });
    const report = await reconciler.run();
    assert.equal(report.converged, true, JSON.stringify(report));
    assert.deepEqual([report.updated, report.deleted, report.adopted], [1, 0, 0]);
    assert.deepEqual(sentinel.findById(ORPHAN_ID), othersBefore);
  });
});

Deno.test("planReconcile: missing, stale, orphans; never a record that was not listed", () => {
  const desired = new Map([["a", "1"], ["b", "2"], ["c", "3"]]);
  const plan: ReconcilePlan = planReconcile(desired, [
    { id: "b", fingerprint: "2", records: 1 },
    { id: "c", fingerprint: "x", records: 1 },
    { id: "d", fingerprint: "4", records: 2 },
  ]);
  assert.deepEqual(plan, {
    missing: ["a"],
    stale: ["c"],
    orphans: ["d"],
    unchanged: 1,
    desired: 3,
    actual: 3,
  });
  assert.deepEqual(planReconcile(new Map(), []).orphans, []);
});

/** Waits (bounded) until `done()` holds; fails with `what` otherwise. Not a timing assertion. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(done(), `gave up waiting: ${what}`);
}

/** A new indicator like a seeded one, for a live change. */
function newIndicator(stack: SentinelStack, n: number): StixObject {
  const base = structuredClone(seedNamed(stack, "shortsvelventysjo.shop"));
  const hex = n.toString(16).padStart(12, "0");
  return {
    ...base,
    id: `indicator--7c1d2e3f-4a5b-4c6d-8e9f-${hex}`,
    name: `live-${n}.example`,
    pattern: `[domain-name:value = 'live-${n}.example']`,
  };
}

Deno.test("a first start reconciles; /status, /metrics and the admin route show and run reconciles", async () => {
  const metrics = new Metrics();
  const hook: { host?: ReconcilingConnector } = {};
  const connector = {
    metrics,
    extra: {
      beforeFirstFollow: (signal: AbortSignal) =>
        hook.host?.firstStart(signal) ?? Promise.resolve(),
    },
  };
  await inWorld("graph", { connector }, async (world) => {
    const { stack, controller } = world;
    world.drift.orphan(ORPHAN_ID);
    const host = hook.host = new ReconcilingConnector(world.connector, world.reconciler(), {
      periodMs: 0,
      metrics,
    });
    const running = host.start(controller.signal);
    const reconcileOf = () =>
      (host.status().details?.reconcile ?? {}) as {
        runs?: number;
        last?: { deleted: number; converged?: boolean };
      };
    await until(() => reconcileOf().runs === 1, "the first-start reconcile");
    assert.equal(reconcileOf().last?.deleted, 1);
    const expected = sorted(await stack.expected(NOW));
    await until(
      () => JSON.stringify(presentOurs(stack)) === JSON.stringify(expected),
      "the stream's recovery",
    );
    assert.equal(stack.graph?.findByExternalId(ORPHAN_ID).length, 0);
    const text = metrics.render();
    assert.match(text, /octi_reconcile_runs_total\{connector="sentinel"\} 1/);
    assert.match(text, /octi_reconcile_deleted_total\{connector="sentinel"\} 1/);
    assert.match(text, /octi_reconcile_drift\{connector="sentinel",kind="orphans"\} 1/);

    const app = createApp({
      connectors: () => [host.status()],
      metrics: () => metrics.render(),
      adminToken: "admin-token-for-tests",
      reconcile: (name, dryRun) => name === host.name ? host.reconcile({ dryRun }) : undefined,
    });
    const post = (path: string, token = "admin-token-for-tests") =>
      app.request(path, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    assert.equal((await post("/connectors/sentinel/reconcile", "wrong")).status, 401);
    assert.equal((await post("/connectors/sentinel/reconcile?dry_run=maybe")).status, 400);
    assert.equal((await post("/connectors/nope/reconcile")).status, 404);
    world.drift.orphan(ORPHAN_ID);
    const planned = await post("/connectors/sentinel/reconcile?dry_run=true");
    assert.equal(planned.status, 200);
    const plan = await planned.json();
    assert.equal(plan.dryRun, true);
    assert.deepEqual(plan.drift, { missing: 0, stale: 0, orphans: 1 });
    assert.deepEqual(plan.preview.orphans, [ORPHAN_ID]);
    assert.equal(stack.graph?.findByExternalId(ORPHAN_ID).length, 1);
    const ran = await (await post("/connectors/sentinel/reconcile")).json();
    assert.deepEqual([ran.deleted, ran.converged], [1, true]);
    assert.equal(stack.graph?.findByExternalId(ORPHAN_ID).length, 0);
    controller.abort();
    await running;
  });
});

for (const targetName of ["graph", "sentinel", "defender"] as const) {
  Deno.test(`a reconcile (${targetName}) while the stream delivers changes converges`, () =>
    reconcileWhileStreaming(targetName));
}

async function reconcileWhileStreaming(targetName: TargetName): Promise<void> {
  await inWorld(targetName, {}, async (world) => {
    const { stack, connector, controller, drift } = world;
    const reconciler = world.reconciler();
    const running = connector.start(controller.signal);
    await until(
      () => stack.present().length > 0 && presentOurs(stack).length === stack.present().length,
      "the first sync",
    );
    drift.dropAll(seedNamed(stack, "1.2.3.4").id);
    drift.orphan(ORPHAN_ID);
    // Changes arrive on the stream while the reconcile runs.
    const reconciling = reconciler.run();
    for (let n = 1; n <= 20; n++) stack.opencti.store.upsert(newIndicator(stack, n));
    stack.opencti.store.remove(seedNamed(stack, "shortsvelventysjo.shop").id);
    const report = await reconciling;
    assert.equal(report.held, 0, JSON.stringify(report));
    const expected = sorted(await stack.expected(NOW));
    await until(
      () => JSON.stringify(presentOurs(stack)) === JSON.stringify(expected),
      "the stream and the reconcile to settle",
    );
    const after = await reconciler.run({ dryRun: true });
    assert.deepEqual(after.drift, { missing: 0, stale: 0, orphans: 0 });
    controller.abort();
    await running;
  });
}

Deno.test("SENTINEL_RECONCILE_PERIOD: a reconcile runs each period, then the next is scheduled", async () => {
  await inWorld("defender", {}, async (world) => {
    const { stack, controller } = world;
    const timers: { callback: () => void; ms: number }[] = [];
    const setTimer = (callback: () => void, ms: number) => {
      timers.push({ callback, ms });
      return () => {};
    };
    const host = new ReconcilingConnector(world.connector, world.reconciler(), {
      periodMs: 3_600_000,
      setTimer,
    });
    const running = host.start(controller.signal);
    assert.deepEqual(timers.map((t) => t.ms), [3_600_000]);
    world.drift.orphan(ORPHAN_ID);
    timers[0]?.callback();
    const runs = () => (host.status().details?.reconcile as { runs: number }).runs;
    await until(() => runs() === 1 && timers.length === 2, "the scheduled reconcile");
    assert.deepEqual(timers.map((t) => t.ms), [3_600_000, 3_600_000]);
    assert.equal(
      stack.defender?.store().filter((r) => r.entity.externalID === ORPHAN_ID).length,
      0,
    );
    controller.abort();
    await running;
    // SENTINEL_RECONCILE_PERIOD=0: none scheduled (the first start and the admin route still run).
    const off = new AbortController();
    const unscheduled = new ReconcilingConnector(world.connector, world.reconciler(), {
      periodMs: 0,
      setTimer,
    });
    const stopped = unscheduled.start(off.signal);
    off.abort();
    // Stopped before it registered: the abort is what ends it.
    await stopped.catch((error) => assert.equal(error?.name, "AbortError"));
    assert.equal(timers.length, 2, "no timer set with a period of 0");
    assert.equal((unscheduled.status().details?.reconcile as { periodMs: number }).periodMs, 0);
  });
});

Deno.test("the replay ends at a heartbeat past the recover date or at a second one without data, not at one mid-recovery", async () => {
  const indicator = (n: number) => ({
    type: "indicator",
    spec_version: "2.1",
    id: `indicator--0a1b2c3d-4e5f-4a6b-8c7d-00000000000${n}`,
    name: `n${n}`,
    pattern: `[domain-name:value = 'n${n}.example']`,
    pattern_type: "stix",
    valid_from: "2024-01-01T00:00:00Z",
    created: "2024-01-01T00:00:00Z",
    modified: "2024-01-01T00:00:00Z",
  });
  const recoverMs = Date.parse("2026-01-01T00:00:00Z");
  const frame = (event: string, id: string | undefined, data: unknown) =>
    `${id ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  const body = [
    frame("connected", undefined, { connectionId: "c" }),
    frame("create", "1000-0", { data: indicator(1), origin: { referer: "init-create" } }),
    // A heartbeat in the middle of the recovery (its id is before the recover date).
    frame("heartbeat", "1000-0", "1970-01-01T00:00:01.000Z"),
    frame("create", "2000-0", { data: indicator(2), origin: { referer: "init-create" } }),
    frame("heartbeat", `${recoverMs}-0`, "2026-01-01T00:00:00.000Z"),
    frame("create", `${recoverMs + 1}-0`, { data: indicator(3) }),
  ].join("");
  const target = {
    name: "graph",
    maxBatch: 10,
    upsert: () => Promise.resolve([]),
    remove: () => Promise.resolve([]),
    fingerprint: (item: { id: string }) => `fp-${item.id.slice(-1)}`,
  } as unknown as SyncTarget;
  /** The desired set a replay reads from a stream that answers `frames`. */
  const replayed = (frames: string) =>
    desiredSet({
      url: "http://127.0.0.1:1",
      token: "t",
      streamId: "s",
      recoverIsoDate: new Date(recoverMs).toISOString(),
      fetch: () =>
        Promise.resolve(
          new Response(frames, { headers: { "content-type": "text/event-stream" } }),
        ),
      now: () => recoverMs,
    }, target);
  const desired = await replayed(body);
  assert.deepEqual([...desired.values()].sort(), ["fp-1", "fp-2"]);

  // A server whose clock is behind ours never heartbeats past our recover date: two heartbeats
  // with no data between end the replay too.
  const behind = [
    frame("connected", undefined, { connectionId: "c" }),
    frame("create", "1000-0", { data: indicator(1), origin: { referer: "init-create" } }),
    frame("heartbeat", "1000-0", "1970-01-01T00:00:01.000Z"),
    frame("heartbeat", "1000-0", "1970-01-01T00:00:01.000Z"),
    frame("create", "2000-0", { data: indicator(2) }),
  ].join("");
  const idle = await replayed(behind);
  assert.deepEqual([...idle.values()], ["fp-1"]);
});

Deno.test("a stream write and a reconcile write of one new indicator at the same moment leave one Graph record", async () => {
  await inWorld("graph", {}, async ({ stack, connector }) => {
    const stix = seedNamed(stack, "1.2.3.4");
    const intent = intentsOf("create", { data: stix }, { now: NOW })
      .find((i) => i.kind === "upsert");
    assert.ok(intent?.kind === "upsert");
    const op = { kind: "upsert" as const, indicator: intent.indicator };
    // Graph has no key of its own: each write looks the externalId up, then creates. Two writes
    // of one indicator at once (the stream's batch and a reconcile's) are sent one after the other.
    const outcomes = await Promise.all([
      connector.deliverOutOfBand([op]),
      connector.deliverOutOfBand([op]),
    ]);
    assert.deepEqual(outcomes.map((o) => o.delivered), [[stix.id], [stix.id]]);
    assert.equal(stack.graph?.findByExternalId(stix.id).length, 1);
  });
});

/** The STIX id of numbered indicator `n`. */
const id = (n: number) => `indicator--0a1b2c3d-4e5f-4a6b-8c7d-${n.toString(16).padStart(12, "0")}`;

/** The stream's create event of numbered indicator `n` (a domain `n<n>.example`). */
const numbered = (n: number) => ({
  type: "create",
  origin: { referer: "init-create" },
  data: {
    id: id(n),
    type: "indicator",
    spec_version: "2.1",
    name: `n${n}`,
    pattern: `[domain-name:value = 'n${n}.example']`,
    pattern_type: "stix",
    valid_from: "2024-01-01T00:00:00Z",
    created: "2024-01-01T00:00:00Z",
    modified: "2024-01-01T00:00:00Z",
  },
});

Deno.test("a dry run answers the counts and the first 100 items of each kind, sorted, and changes nothing", async () => {
  const calls: string[] = [];
  const target: SyncTarget = {
    name: "defender",
    maxBatch: 500,
    upsert: (
      items,
    ) => (calls.push("upsert"), Promise.resolve(items.map((i) => ({ id: i.id, ok: true })))),
    remove: (
      items,
    ) => (calls.push("remove"), Promise.resolve(items.map((i) => ({ id: i.id, ok: true })))),
    fingerprint: () => "0123456789abcdef",
    // 150 held with the desired fingerprint, 150 with another, 150 not desired.
    listOwned: () =>
      Promise.resolve(Array.from({ length: 450 }, (_, n) => ({
        id: id(n),
        fingerprint: n < 150 ? "0123456789abcdef" : "fedcba9876543210",
        records: 1,
      }))),
  };
  const desired = [
    ...Array.from({ length: 300 }, (_, n) => n),
    ...Array.from({ length: 150 }, (_, n) => 450 + n),
  ];
  const reconciler = new Reconciler({
    target,
    replay: { url: "http://127.0.0.1:9", token: "unused", streamId: "unused" },
    source: async (visit) => {
      for (const n of desired.toReversed()) {
        for (const intent of intentsOf("create", numbered(n), { now: NOW })) await visit(intent);
      }
    },
    deliver: () => Promise.reject(new Error("a dry run delivers nothing")),
    now: () => NOW,
  });
  const report = await reconciler.run({ dryRun: true });
  assert.deepEqual(report.drift, { missing: 150, stale: 150, orphans: 150 });
  assert.deepEqual(report.preview.missing, desired.slice(300, 400).map(id));
  assert.deepEqual(report.preview.stale, desired.slice(150, 250).map(id));
  assert.deepEqual(report.preview.orphans, Array.from({ length: 100 }, (_, n) => id(300 + n)));
  assert.deepEqual([report.created, report.updated, report.deleted], [0, 0, 0]);
  assert.equal(report.converged, undefined);
  assert.deepEqual(calls, []);
});

Deno.test("an indicator the stream wrote after the reconcile's replay and before its listing is written back, not left deleted", async () => {
  // The target: 1 and 2 from before; 3 written by the stream after the first replay; 9 an orphan.
  const held = new Map(
    [[1, "f"], [2, "f"], [3, "f"], [9, "f"]].map(([n, f]) => [id(n as number), f as string]),
  );
  const target: SyncTarget = {
    name: "defender",
    maxBatch: 500,
    upsert: (items) => {
      for (const item of items) held.set(item.id, "f");
      return Promise.resolve(items.map((i) => ({ id: i.id, ok: true })));
    },
    remove: (items) => {
      for (const item of items) held.delete(item.id);
      return Promise.resolve(items.map((i) => ({ id: i.id, ok: true })));
    },
    fingerprint: () => "f",
    listOwned: () =>
      Promise.resolve([...held.keys()].map((key) => ({ id: key, fingerprint: "f", records: 1 }))),
  };
  let replays = 0;
  const reconciler = new Reconciler({
    target,
    replay: { url: "http://127.0.0.1:9", token: "unused", streamId: "unused" },
    // The first replay has 1 and 2; by the second, OpenCTI has 3 too.
    source: async (visit) => {
      const shown = replays++ === 0 ? [1, 2] : [1, 2, 3];
      for (const n of shown) {
        for (const intent of intentsOf("create", numbered(n), { now: NOW })) await visit(intent);
      }
    },
    deliver: async (operations) => {
      const ups = operations.flatMap((o) => o.kind === "upsert" ? [o.indicator] : []);
      const removals = operations.flatMap((o) => o.kind === "remove" ? [o.removal] : []);
      const results = [...await target.upsert(ups), ...await target.remove(removals)];
      return { delivered: results.map((r) => r.id), deadLettered: 0, skipped: 0, held: 0 };
    },
    now: () => NOW,
  });
  const report = await reconciler.run();
  assert.deepEqual(report.drift, { missing: 0, stale: 0, orphans: 2 });
  assert.deepEqual([...held.keys()].sort(), [id(1), id(2), id(3)]);
  assert.equal(report.converged, true, JSON.stringify(report));
  assert.equal(replays, 2);
});
