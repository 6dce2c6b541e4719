/**
 * The upstream connectors' behaviours: the event-type filter, author identities published to the
 * Sentinel simulator, Defender's full action set, and the cap that keeps the highest-scored
 * indicators in the Defender simulator.
 */
import assert from "node:assert/strict";
import { DefenderTarget, type DefenderTargetOptions } from "../../src/microsoft/defender.ts";
import {
  SentinelTarget,
  type SentinelTargetOptions,
} from "../../src/microsoft/sentinel_stix_upload.ts";
import { toSentinelObject } from "../../src/microsoft/sentinel_stix_mapping.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import {
  capDesired,
  type Deliver,
  type IntentSource,
  Reconciler,
} from "../../src/sentinel/reconcile.ts";
import type { SyncTarget, TargetIndicator } from "../../src/microsoft/target.ts";
import type { ItemResult } from "../../src/runtime/delivery.ts";
import {
  CappedTarget,
  defenderActionOf,
  withIdentities,
} from "../../src/microsoft/target_policies.ts";
import {
  type DefenderSimOptions,
  type RunningDefenderSim,
  startDefenderSim,
} from "../../src/sim/defender.ts";
import {
  DEFAULT_SIM_WORKSPACE,
  type RunningSentinelSim,
  startSentinelSim,
} from "../../src/sim/sentinel.ts";
import { indicatorId, makeIndicator } from "../fixtures/microsoft/sentinel/make.ts";
import { type TargetSetup, targetSetup } from "../microsoft/helpers.ts";
import {
  DEFENDER_CLIENT,
  DEFENDER_MAPPING,
  SENTINEL_CLIENT,
  SOURCE_SYSTEM,
  TEST_NOW,
} from "../fixtures/settings_defaults.ts";

const NOW = Date.parse("2026-03-01T00:00:00Z");
const AUTHOR = "identity--542072da-8b33-50bf-810b-d9cfd2a0bc69";

function envelope(object: Record<string, unknown>) {
  return { data: object };
}

const INDICATOR = {
  id: "indicator--11111111-2222-4333-8444-555555555555",
  type: "indicator",
  spec_version: "2.1",
  name: "10.0.0.1",
  pattern: "[ipv4-addr:value = '10.0.0.1']",
  pattern_type: "stix",
  created: "2024-06-10T07:13:20.000Z",
  modified: "2024-06-10T07:13:20.000Z",
  valid_from: "2024-06-10T07:13:20.000Z",
  created_by_ref: AUTHOR,
};

const IDENTITY = {
  id: AUTHOR,
  type: "identity",
  spec_version: "2.1",
  name: "ACME CERT",
  identity_class: "organization",
  created: "2024-01-01T00:00:00.000Z",
  modified: "2024-02-01T00:00:00.000Z",
  extensions: { "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba": { score: 50 } },
  x_opencti_organization_type: "CSIRT",
};

Deno.test("intentsOf() skips the event types SENTINEL_EVENT_TYPES leaves out, and only those", () => {
  const only = { now: NOW, eventTypes: ["create", "update"] };
  const [deleted] = intentsOf("delete", envelope(INDICATOR), only);
  assert.equal(deleted?.kind, "skip");
  assert.equal(deleted?.kind === "skip" ? deleted.reason : "", "event_type_filtered");
  assert.equal(intentsOf("create", envelope(INDICATOR), only)[0]?.kind, "upsert");
  assert.equal(intentsOf("update", envelope(INDICATOR), only)[0]?.kind, "upsert");

  const deletesOnly = { now: NOW, eventTypes: ["delete"] };
  for (const event of ["create", "update", "merge"]) {
    const [intent] = intentsOf(event, envelope(INDICATOR), deletesOnly);
    assert.equal(intent?.kind === "skip" ? intent.reason : intent?.kind, "event_type_filtered");
  }
  assert.equal(intentsOf("delete", envelope(INDICATOR), deletesOnly)[0]?.kind, "remove");
  // Unset: every event is handled, as before.
  assert.equal(intentsOf("delete", envelope(INDICATOR), { now: NOW })[0]?.kind, "remove");
});

Deno.test("intentsOf() turns identities into upserts only with SENTINEL_PUBLISH_IDENTITIES", () => {
  const [off] = intentsOf("create", envelope(IDENTITY), { now: NOW });
  assert.equal(off?.kind === "skip" ? off.reason : off?.kind, "unsupported_entity_type");
  const [on] = intentsOf("update", envelope(IDENTITY), { now: NOW, publishIdentities: true });
  assert.equal(on?.kind, "upsert");
  const [gone] = intentsOf("delete", envelope(IDENTITY), { now: NOW, publishIdentities: true });
  assert.equal(gone?.kind, "skip");
});

Deno.test("toSentinelObject() uploads an identity as it is, without OpenCTI's extensions", () => {
  const [intent] = intentsOf("create", envelope(IDENTITY), { now: NOW, publishIdentities: true });
  assert.ok(intent?.kind === "upsert");
  const mapped = toSentinelObject(intent.indicator, { now: TEST_NOW });
  assert.ok(mapped.ok);
  assert.deepEqual(mapped.object, {
    id: AUTHOR,
    type: "identity",
    spec_version: "2.1",
    name: "ACME CERT",
    identity_class: "organization",
    created: "2024-01-01T00:00:00.000Z",
    modified: "2024-02-01T00:00:00.000Z",
  });
  const { name: _name, ...nameless } = IDENTITY;
  const [bad] = intentsOf("create", envelope(nameless), { now: NOW, publishIdentities: true });
  assert.ok(bad?.kind === "upsert");
  const refused = toSentinelObject(bad.indicator, { now: TEST_NOW });
  assert.ok(!refused.ok && /has no "name"/.test(refused.reason));
});

function sentinelSetup(): TargetSetup<RunningSentinelSim, SentinelTarget, SentinelTargetOptions> {
  const ws = DEFAULT_SIM_WORKSPACE;
  return targetSetup(
    (common) => startSentinelSim(common),
    (sim, common, extra: Partial<SentinelTargetOptions>) =>
      new SentinelTarget({
        ...SENTINEL_CLIENT,
        sourceSystem: SOURCE_SYSTEM,
        workspaceId: ws.workspaceId,
        subscriptionId: ws.subscriptionId,
        resourceGroup: ws.resourceGroup,
        workspaceName: ws.workspaceName,
        apiUrl: sim.url,
        managementUrl: sim.url,
        ...common,
        ...extra,
      }),
  );
}

Deno.test("SENTINEL_PUBLISH_IDENTITIES: the author identity reaches the Sentinel simulator next to its indicator", async () => {
  await using env = sentinelSetup();
  const plain: SyncTarget = env.target;
  const [identity] = intentsOf("create", envelope(IDENTITY), {
    now: NOW,
    publishIdentities: true,
  });
  assert.ok(identity?.kind === "upsert");
  assert.match(plain.rejects?.(identity.indicator) ?? "", /takes indicators/);

  const target = withIdentities(env.target);
  assert.equal(target.rejects?.(identity.indicator), undefined);
  assert.equal(target.revokeByUpload, true);
  const indicator = makeIndicator(1, { stix: { created_by_ref: AUTHOR } });
  assert.deepEqual(await target.upsert([identity.indicator, indicator]), [
    { id: AUTHOR, ok: true },
    { id: indicatorId(1), ok: true },
  ]);
  const [row] = env.sim.findById(AUTHOR);
  assert.equal(row?.object.type, "identity");
  assert.equal(row?.object.name, "ACME CERT");
  assert.equal(row?.object.extensions, undefined);
  assert.equal(env.sim.findById(indicatorId(1))[0]?.object.created_by_ref, AUTHOR);
});

Deno.test("defenderActionOf() sends the retired Alert and AlertAndBlock as Audit and Block with an alert", () => {
  assert.deepEqual(defenderActionOf("Alert"), { action: "Audit", generateAlert: true });
  assert.deepEqual(defenderActionOf("AlertAndBlock"), { action: "Block", generateAlert: true });
  for (const action of ["Warn", "Block", "Audit", "BlockAndRemediate", "Allowed"] as const) {
    assert.deepEqual(defenderActionOf(action), { action });
  }
});

function defenderSetup(
  sim: Partial<DefenderSimOptions> = {},
): TargetSetup<RunningDefenderSim, DefenderTarget, DefenderTargetOptions> {
  return targetSetup(
    (common) => startDefenderSim({ ...common, ...sim }),
    (running, common, extra: Partial<DefenderTargetOptions>) =>
      new DefenderTarget({
        ...DEFENDER_CLIENT,
        ...DEFENDER_MAPPING,
        apiUrl: running.url,
        ...common,
        ...extra,
      }),
  );
}

Deno.test("DEFENDER_ACTION=Alert (the upstream default) is accepted by the Defender simulator as Audit with an alert", async () => {
  await using env = defenderSetup();
  const target = env.make({
    ...defenderActionOf("Alert"),
    application: "OpenCTI Microsoft Defender Intel",
    rbacGroupNames: ["Default Group"],
    recommendedActions: "Isolate the device",
  });
  assert.deepEqual(await target.upsert([makeIndicator(1)]), [{ id: indicatorId(1), ok: true }]);
  const [row] = env.sim.store();
  assert.equal(row?.entity.action, "Audit");
  assert.equal(row?.entity.generateAlert, true);
  assert.equal(row?.entity.application, "OpenCTI Microsoft Defender Intel");
  assert.deepEqual(row?.entity.rbacGroupNames, ["Default Group"]);
  assert.equal(row?.entity.recommendedActions, "Isolate the device");
});

Deno.test("DEFENDER_MAX_INDICATORS keeps the highest-scored indicators in the Defender simulator", async () => {
  await using env = defenderSetup();
  const capped = new CappedTarget(env.target, { maxIndicators: 3 });
  const scores = [40, 90, 10, 70];
  const first = await capped.upsert(scores.map((score, i) => makeIndicator(i + 1, { score })));
  // All acknowledged; the lowest-scored one (10) was left out.
  assert.ok(first.every((r) => r.ok));
  const held = () => env.sim.store().map((r) => r.entity.externalID).sort();
  assert.deepEqual(held(), [indicatorId(1), indicatorId(2), indicatorId(4)]);

  // A higher-scored newcomer replaces the lowest held (40); a lower-scored one is left out.
  await capped.upsert([makeIndicator(5, { score: 60 })]);
  assert.deepEqual(held(), [indicatorId(2), indicatorId(4), indicatorId(5)]);
  await capped.upsert([makeIndicator(6, { score: 20 })]);
  assert.deepEqual(held(), [indicatorId(2), indicatorId(4), indicatorId(5)]);

  // Updates of held indicators always go through, even at the cap.
  const update = await capped.upsert([makeIndicator(2, { score: 95, description: "updated" })]);
  assert.deepEqual(update, [{ id: indicatorId(2), ok: true }]);
  const status = capped.status();
  assert.equal(status.held, 3);
  assert.equal(status.leftOut, 2);
  assert.equal(status.evicted, 1);
  assert.equal(status.maxIndicators, 3);

  // A removal frees a place for the next newcomer.
  await capped.remove([{ id: indicatorId(4) }]);
  await capped.upsert([makeIndicator(7, { score: 1 })]);
  assert.deepEqual(held(), [indicatorId(2), indicatorId(5), indicatorId(7)]);
});

Deno.test("CappedTarget: when making room fails, the newcomer is retried later, not dropped", async () => {
  const upserted: string[] = [];
  const inner: SyncTarget = {
    name: "defender",
    maxBatch: 500,
    upsert: (items: TargetIndicator[]) => {
      upserted.push(...items.map((i) => i.id));
      return Promise.resolve(items.map((i): ItemResult => ({ id: i.id, ok: true })));
    },
    remove: (items) =>
      Promise.resolve(items.map((i): ItemResult => ({
        id: i.id,
        ok: false,
        reason: "HTTP 503",
        retryable: true,
      }))),
  };
  const capped = new CappedTarget(inner, { maxIndicators: 1 });
  await capped.upsert([makeIndicator(1, { score: 10 })]);
  const [result] = await capped.upsert([makeIndicator(2, { score: 90 })]);
  assert.equal(result?.ok, false);
  assert.ok(result && !result.ok && result.retryable && /HTTP 503/.test(result.reason));
  assert.deepEqual(upserted, [indicatorId(1)]);
});

Deno.test("DEFENDER_MAX_INDICATORS holds across a restart: the cap starts from what Defender already holds for us", async () => {
  await using env = defenderSetup();
  const held = () => env.sim.store().map((r) => r.entity.externalID).sort();
  // The first process fills the cap (scores 90 and 80 are High, 30 is Low in Defender).
  const before = new CappedTarget(env.target, { maxIndicators: 3 });
  await before.upsert([30, 90, 80].map((score, i) => makeIndicator(i + 1, { score })));
  assert.deepEqual(held(), [indicatorId(1), indicatorId(2), indicatorId(3)]);

  // A restart: a new cap over a new client. A newcomer does not push Defender over the cap.
  const after = new CappedTarget(env.make({}), { maxIndicators: 3 });
  assert.deepEqual(await after.upsert([makeIndicator(4, { score: 35 })]), [{
    id: indicatorId(4),
    ok: true,
  }]);
  assert.equal(env.sim.store().length, 3);
  // 35 may be below the Low one (at most 39): left out. 50 is above it: it takes its place.
  assert.deepEqual(held(), [indicatorId(1), indicatorId(2), indicatorId(3)]);
  await after.upsert([makeIndicator(5, { score: 50 })]);
  assert.deepEqual(held(), [indicatorId(2), indicatorId(3), indicatorId(5)]);
  // 70 cannot be proven above the High ones (they may score 100), but is above 5 (known: 50).
  await after.upsert([makeIndicator(6, { score: 70 })]);
  assert.deepEqual(held(), [indicatorId(2), indicatorId(3), indicatorId(6)]);
  // 65 is above none held: left out, nothing evicted.
  await after.upsert([makeIndicator(7, { score: 65 })]);
  assert.deepEqual(held(), [indicatorId(2), indicatorId(3), indicatorId(6)]);
  const status = after.status();
  assert.equal(status.heldAtStart, 3);
  assert.equal(status.held, 3);
  assert.equal(status.leftOut, 2);
  assert.equal(status.evicted, 2);
  assert.equal(after.capacity, 3);
});

Deno.test("CappedTarget holds the batch (systemic) when it cannot read what the target holds, and reads again next time", async () => {
  let listings = 0;
  const inner: SyncTarget = {
    name: "defender",
    maxBatch: 500,
    upsert: (items: TargetIndicator[]) =>
      Promise.resolve(items.map((i): ItemResult => ({ id: i.id, ok: true }))),
    remove: (items) => Promise.resolve(items.map((i): ItemResult => ({ id: i.id, ok: true }))),
    listOwned: () => {
      listings++;
      return listings === 1
        ? Promise.reject(new Error("HTTP 503"))
        : Promise.resolve([{ id: indicatorId(9), fingerprint: "x", records: 1, scoreAtMost: 19 }]);
    },
    fingerprint: () => "x",
  };
  const capped = new CappedTarget(inner, { maxIndicators: 1 });
  const [held] = await capped.upsert([makeIndicator(1, { score: 50 })]);
  assert.ok(
    held && !held.ok && held.scope === "systemic" &&
      /DEFENDER_MAX_INDICATORS.*HTTP 503/.test(held.reason),
  );
  // Next time: listed, and the newcomer (50) replaces the held Informational one (at most 19).
  assert.deepEqual(await capped.upsert([makeIndicator(1, { score: 50 })]), [{
    id: indicatorId(1),
    ok: true,
  }]);
  assert.equal(listings, 2);
  assert.equal(capped.status().evicted, 1);
});

Deno.test("capDesired() keeps the highest-scored indicators and forgets the aliases of the others", () => {
  const desired = new Map([["a", "f"], ["b", "f"], ["c", "f"], ["d", "f"]]);
  const scores = new Map([["a", 10], ["b", 90], ["c", -1], ["d", 90]]);
  const aliases = new Map([["internal-a", "a"], ["internal-b", "b"]]);
  assert.equal(capDesired(desired, scores, 2, aliases), 2);
  assert.deepEqual([...desired.keys()].sort(), ["b", "d"]);
  assert.deepEqual([...aliases.keys()], ["internal-b"]);
  assert.equal(capDesired(desired, scores, 5), 0);
});

Deno.test("a reconcile under DEFENDER_MAX_INDICATORS converges to the top-scored: what the cap leaves out is not missing", async () => {
  await using env = defenderSetup();
  const capped = new CappedTarget(env.target, { maxIndicators: 3 });
  // Held before: 1 (score 20) and 2 (score 95).
  await capped.upsert([makeIndicator(1, { score: 20 }), makeIndicator(2, { score: 95 })]);
  const scores = [20, 95, 60, 10, 85];
  const source: IntentSource = async (visit) => {
    for (const [i, score] of scores.entries()) {
      await visit({ kind: "upsert", indicator: makeIndicator(i + 1, { score }), dropped: [] });
    }
  };
  const deliver: Deliver = async (operations) => {
    const upserts = operations.flatMap((o) => o.kind === "upsert" ? [o.indicator] : []);
    const removals = operations.flatMap((o) => o.kind === "remove" ? [o.removal] : []);
    const results = [
      ...(removals.length ? await capped.remove(removals) : []),
      ...(upserts.length ? await capped.upsert(upserts) : []),
    ];
    return {
      delivered: results.filter((r) => r.ok).map((r) => r.id),
      deadLettered: 0,
      skipped: 0,
      held: 0,
    };
  };
  const reconciler = new Reconciler({
    target: capped,
    replay: { url: "http://unused.invalid", token: "unused", streamId: "unused" },
    source,
    deliver,
    now: () => NOW,
  });
  const report = await reconciler.run();
  assert.equal(report.capped, 2);
  assert.deepEqual(report.drift, { missing: 2, stale: 0, orphans: 1 });
  assert.equal(report.converged, true);
  const held = env.sim.store().map((r) => r.entity.externalID).sort();
  // Top 3 of 20, 95, 60, 10, 85: 95 (2), 60 (3), 85 (5).
  assert.deepEqual(held, [indicatorId(2), indicatorId(3), indicatorId(5)]);
  const again = await reconciler.run();
  assert.deepEqual(again.drift, { missing: 0, stale: 0, orphans: 0 });
  assert.equal(again.converged, true);
});
