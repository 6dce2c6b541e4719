import assert from "node:assert/strict";
import {
  SentinelTarget,
  type SentinelTargetOptions,
} from "../../src/microsoft/sentinel_stix_upload.ts";
import {
  DEFAULT_SIM_WORKSPACE,
  type RunningSentinelSim,
  type SentinelSimOptions,
  startSentinelSim,
} from "../../src/sim/sentinel.ts";
import type { TokenSource } from "../../src/microsoft/token_source.ts";
import {
  FakeTokens,
  type FakeVerifierOptions,
  indicatorId,
  makeIndicator,
} from "../fixtures/microsoft/sentinel/make.ts";
import { assertAbortSendsNothing, entraApp, type TargetSetup, targetSetup } from "./helpers.ts";
import { SENTINEL_CLIENT, SOURCE_SYSTEM } from "../fixtures/settings_defaults.ts";

const WS = DEFAULT_SIM_WORKSPACE;

/** The workspace options of a target talking to the simulator at `url`. */
const workspaceAt = (url: string) => ({
  workspaceId: WS.workspaceId,
  subscriptionId: WS.subscriptionId,
  resourceGroup: WS.resourceGroup,
  workspaceName: WS.workspaceName,
  apiUrl: url,
  managementUrl: url,
});

function setup(
  options: {
    sim?: Partial<SentinelSimOptions>;
    target?: Partial<SentinelTargetOptions>;
    verifier?: FakeVerifierOptions;
  } = {},
): TargetSetup<RunningSentinelSim, SentinelTarget, SentinelTargetOptions> {
  return targetSetup(
    (common) => startSentinelSim({ ...common, ...options.sim }),
    (sim, common, extra: Partial<SentinelTargetOptions>) =>
      new SentinelTarget({
        ...SENTINEL_CLIENT,
        sourceSystem: SOURCE_SYSTEM,
        ...workspaceAt(sim.url),
        ...common,
        ...options.target,
        ...extra,
      }),
    options.verifier,
  );
}

const ids = (sim: RunningSentinelSim) => sim.store().map((row) => row.object.id).sort();
const uploads = (sim: RunningSentinelSim) =>
  sim.requests.filter((r) => r.path.endsWith(":upload") && r.status !== 429);

Deno.test("SentinelTarget.upsert() uploads the indicators and a newer version updates them without a duplicate", async () => {
  await using env = setup();
  const first = await env.target.upsert([makeIndicator(1), makeIndicator(2)]);
  assert.deepEqual(first, [{ id: indicatorId(1), ok: true }, { id: indicatorId(2), ok: true }]);
  const updated = makeIndicator(1, {
    modified: "2024-07-01T00:00:00.000Z",
    labels: ["c2", "botnet"],
  });
  assert.deepEqual(await env.target.upsert([updated]), [{ id: indicatorId(1), ok: true }]);
  assert.deepEqual(ids(env.sim), [indicatorId(1), indicatorId(2)]);
  const row = env.sim.findById(indicatorId(1));
  assert.equal(row.length, 1);
  assert.equal(row[0]?.source, "OpenCTI");
  assert.equal(row[0]?.object.modified, "2024-07-01T00:00:00.000Z");
  assert.deepEqual(row[0]?.object.labels, ["c2", "botnet", "malicious-activity"]);
  assert.equal(row[0]?.object.extensions, undefined);
});

Deno.test("SentinelTarget.upsert() keeps one row when indicator_types change (Azure-Sentinel #12538)", async () => {
  await using env = setup();
  const v1 = makeIndicator(1, { stix: { indicator_types: ["malicious-activity"] } });
  const v2 = makeIndicator(1, {
    modified: "2024-07-01T00:00:00.000Z",
    stix: { indicator_types: ["anomalous-activity"] },
  });
  await env.target.upsert([v1]);
  await env.target.upsert([v2]);
  assert.equal(env.sim.findById(indicatorId(1)).length, 1);

  // The simulator does model the duplicate: sending indicator_types as they are creates a second row.
  const naive = env.make({ keepIndicatorTypes: true });
  const v3 = makeIndicator(2, { stix: { indicator_types: ["malicious-activity"] } });
  const v4 = makeIndicator(2, {
    modified: "2024-07-01T00:00:00.000Z",
    stix: { indicator_types: ["anomalous-activity"] },
  });
  await naive.upsert([v3]);
  await naive.upsert([v4]);
  assert.equal(env.sim.findById(indicatorId(2)).length, 2);
});

Deno.test("SentinelTarget.upsert() sends at most 100 objects per request", async () => {
  await using env = setup();
  const items = Array.from({ length: 250 }, (_, i) => makeIndicator(i + 1));
  const results = await env.target.upsert(items);
  assert.equal(results.filter((r) => r.ok).length, 250);
  assert.deepEqual(uploads(env.sim).map((r) => r.objects), [100, 100, 50]);
  assert.equal(env.sim.store().length, 250);
});

Deno.test("SentinelTarget.upsert() re-uploads a revoked indicator with revoked: true", async () => {
  await using env = setup();
  await env.target.upsert([makeIndicator(1)]);
  env.clock.advance(1000);
  const revoked = makeIndicator(1, { stix: { revoked: true } });
  assert.deepEqual(await env.target.upsert([revoked]), [{ id: indicatorId(1), ok: true }]);
  const rows = env.sim.findById(indicatorId(1));
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.object.revoked, true);
  assert.equal(rows[0]?.object.modified, new Date(env.clock.now()).toISOString());
});

Deno.test("SentinelTarget.upsert() deletes a revoked indicator when revokeBy is delete", async () => {
  await using env = setup({ target: { revokeBy: "delete" } });
  await env.target.upsert([makeIndicator(1), makeIndicator(2)]);
  const results = await env.target.upsert([makeIndicator(1, { stix: { revoked: true } })]);
  assert.deepEqual(results, [{ id: indicatorId(1), ok: true }]);
  assert.deepEqual(ids(env.sim), [indicatorId(2)]);
});

Deno.test("SentinelTarget.upsert() fails an unmappable indicator without sending it", async () => {
  await using env = setup();
  const broken = makeIndicator(1, { stix: { pattern: "" } });
  const [result] = await env.target.upsert([broken]);
  assert(result && !result.ok);
  assert.equal(result.retryable, false);
  assert.equal(env.sim.requests.length, 0);
});

Deno.test("SentinelTarget.remove() deletes through the exact ARM query and is idempotent", async () => {
  await using env = setup();
  await env.target.upsert([makeIndicator(1), makeIndicator(2), makeIndicator(3)]);
  // The same STIX id from another source must survive.
  await env.make({ sourceSystem: "Other feed" }).upsert([makeIndicator(1)]);
  const results = await env.target.remove([{ id: indicatorId(1) }, { id: indicatorId(99) }]);
  assert.deepEqual(results, [{ id: indicatorId(1), ok: true }, { id: indicatorId(99), ok: true }]);
  assert.deepEqual(
    env.sim.store().map((r) => `${r.source}/${r.object.id}`).sort(),
    [`OpenCTI/${indicatorId(2)}`, `OpenCTI/${indicatorId(3)}`, `Other feed/${indicatorId(1)}`],
  );
  assert.deepEqual(await env.target.remove([{ id: indicatorId(1) }]), [{
    id: indicatorId(1),
    ok: true,
  }]);
  assert.equal(env.target.status().deleted, 1);
});

Deno.test("SentinelTarget.remove() fails with advice when the ARM coordinates are missing", async () => {
  await using env = setup();
  const target = new SentinelTarget({
    ...SENTINEL_CLIENT,
    sourceSystem: SOURCE_SYSTEM,
    workspaceId: WS.workspaceId,
    apiUrl: env.sim.url,
    tokens: env.tokens,
    now: env.clock.now,
    sleep: env.clock.sleep,
  });
  const [result] = await target.remove([{ id: indicatorId(1) }]);
  assert(result && !result.ok);
  assert.equal(result.retryable, false);
  assert.match(result.reason, /subscription id, resource group and workspace name/);
});

Deno.test("SentinelTarget.upsert() fails only the record Sentinel rejects", async () => {
  await using env = setup();
  env.sim.failures.partialNext([indicatorId(2)], { message: "Injected record failure" });
  const results = await env.target.upsert([makeIndicator(1), makeIndicator(2), makeIndicator(3)]);
  assert.deepEqual(results[0], { id: indicatorId(1), ok: true });
  assert.deepEqual(results[2], { id: indicatorId(3), ok: true });
  const failed = results[1];
  assert(failed && !failed.ok);
  assert.equal(failed.retryable, false);
  assert.match(failed.reason, /Injected record failure/);
  assert.deepEqual(ids(env.sim), [indicatorId(1), indicatorId(3)]);
});

Deno.test("SentinelTarget waits for Sentinel's 'Try again in N seconds' and finishes with the exact store", async () => {
  await using env = setup({
    sim: { rateLimit: 3 },
    target: { rateLimitPerMinute: 100, maxBatch: 1 },
  });
  const start = env.clock.now();
  const items = Array.from({ length: 7 }, (_, i) => makeIndicator(i + 1));
  const results = await env.target.upsert(items);
  assert(results.every((r) => r.ok), JSON.stringify(results));
  assert.deepEqual(ids(env.sim), items.map((i) => i.id).sort());
  assert(env.sim.rate.refused >= 1);
  assert.equal(env.sim.rate.peak("app-1"), 3);
  // Two refusals windows had to pass: at least two minutes of (fake) time.
  assert(env.clock.now() - start >= 120_000, `${env.clock.now() - start}`);
  assert(env.target.status().throttled as number >= 1);
});

Deno.test("SentinelTarget never exceeds its configured rate", async () => {
  await using env = setup({
    sim: { rateLimit: 3 },
    target: { rateLimitPerMinute: 3, maxBatch: 1 },
  });
  const items = Array.from({ length: 10 }, (_, i) => makeIndicator(i + 1));
  const results = await env.target.upsert(items);
  assert(results.every((r) => r.ok));
  assert.equal(env.sim.rate.refused, 0);
  assert.equal(env.sim.rate.peak("app-1"), 3);
  assert.equal(env.sim.store().length, 10);
});

Deno.test("SentinelTarget refreshes the token once on a 401", async () => {
  await using env = setup({ verifier: { refuse: ["token-1"] } });
  const results = await env.target.upsert([makeIndicator(1)]);
  assert.deepEqual(results, [{ id: indicatorId(1), ok: true }]);
  assert.deepEqual(env.tokens.invalidated, ["https://management.azure.com/.default"]);
  assert.equal(env.sim.store().length, 1);
});

Deno.test("SentinelTarget refreshes only once when the new token is refused too", async () => {
  await using env = setup({ verifier: { refuse: ["token-1", "token-2", "token-3"] } });
  const [result] = await env.target.upsert([makeIndicator(1)]);
  assert(result && !result.ok);
  assert.equal(result.retryable, true);
  assert.match(result.reason, /Microsoft Sentinel Contributor/);
  assert.equal(env.tokens.invalidated.length, 1);
  assert.equal(env.tokens.asked.length, 2);
});

Deno.test("SentinelTarget retries 5xx answers with backoff", async () => {
  await using env = setup();
  env.sim.failures.failNext(503, 2);
  const results = await env.target.upsert([makeIndicator(1)]);
  assert.deepEqual(results, [{ id: indicatorId(1), ok: true }]);
  assert.equal(env.clock.sleeps.length, 2);
  assert.equal(env.sim.store().length, 1);
});

Deno.test("SentinelTarget reports a retryable failure after the attempts run out", async () => {
  await using env = setup({ target: { maxAttempts: 2 } });
  env.sim.failures.failNext(500, 2);
  const [result] = await env.target.upsert([makeIndicator(1)]);
  assert(result && !result.ok);
  assert.equal(result.retryable, true);
  assert.match(String(env.target.status().lastError), /HTTP 500/);
});

Deno.test("SentinelTarget() refuses the reserved source system and a workspace name instead of a GUID", () => {
  const tokens: TokenSource = new FakeTokens();
  assert.throws(
    () =>
      new SentinelTarget({
        ...SENTINEL_CLIENT,
        workspaceId: WS.workspaceId,
        tokens,
        sourceSystem: "Microsoft Sentinel",
      }),
    /reserved/,
  );
  assert.throws(
    () =>
      new SentinelTarget({
        ...SENTINEL_CLIENT,
        sourceSystem: SOURCE_SYSTEM,
        workspaceId: "ws-sentinel",
        tokens,
      }),
    /GUID/,
  );
});

Deno.test("SentinelTarget works end to end with the Entra simulator's signed tokens", async () => {
  await using app = await entraApp();
  const { clientId, tokens } = app;
  const sim = startSentinelSim({
    verify: app.entra.verifyAccessToken,
    workspaces: [{ ...WS, contributors: [clientId] }],
  });
  try {
    const target = new SentinelTarget({
      ...SENTINEL_CLIENT,
      sourceSystem: SOURCE_SYSTEM,
      ...workspaceAt(sim.url),
      tokens,
    });
    assert((await target.upsert([makeIndicator(1), makeIndicator(2)])).every((r) => r.ok));
    assert.deepEqual(sim.store().map((r) => r.appid), [clientId, clientId]);
    assert((await target.remove([{ id: indicatorId(1) }])).every((r) => r.ok));
    assert.deepEqual(ids(sim), [indicatorId(2)]);
  } finally {
    await sim.close();
  }
});

Deno.test("SentinelTarget.upsert() rejects with the abort reason and sends nothing once aborted", async () => {
  await using env = setup();
  await assertAbortSendsNothing(env.target, env.sim);
});

Deno.test("SentinelTarget re-sends revoked indicators and rejects raw observables with a reason", () => {
  const target = new SentinelTarget({
    ...SENTINEL_CLIENT,
    sourceSystem: SOURCE_SYSTEM,
    workspaceId: WS.workspaceId,
    tokens: new FakeTokens(),
  });
  assert.equal(target.revokeByUpload, true);
  assert.equal(target.rejects(makeIndicator(1)), undefined);
  const raw = makeIndicator(2);
  const observable = { ...raw, stix: { id: "ipv4-addr--1", type: "ipv4-addr", value: "1.2.3.4" } };
  assert.match(target.rejects(observable) ?? "", /takes indicators/);
  const deleting = new SentinelTarget({
    ...SENTINEL_CLIENT,
    sourceSystem: SOURCE_SYSTEM,
    workspaceId: WS.workspaceId,
    tokens: new FakeTokens(),
    revokeBy: "delete",
  });
  assert.equal(deleting.revokeByUpload, false);
});

Deno.test("SentinelTarget reports a 400 on a multi-item upload as request-level and on a lone item as item-level", async () => {
  await using env = setup();
  env.sim.failures.poison(indicatorId(2));
  const several = await env.target.upsert([makeIndicator(1), makeIndicator(2), makeIndicator(3)]);
  for (const result of several) {
    assert(!result.ok);
    assert.equal(result.scope, "request", "no verdict on any item of the batch");
  }
  const [alone] = await env.target.upsert([makeIndicator(2)]);
  assert(alone && !alone.ok);
  assert.equal(alone.scope, "item");
  assert.deepEqual(ids(env.sim), []);
});

Deno.test("SentinelTarget reports a 503 outage as systemic with the settings to check", async () => {
  await using env = setup({ target: { maxAttempts: 2 } });
  env.sim.failures.failWhile(() => true, { status: 503 });
  const [result] = await env.target.upsert([makeIndicator(1)]);
  assert(result && !result.ok);
  assert.equal(result.scope, "systemic");
  assert.match(result.check ?? "", /CLIENT_SECRET/);
});

Deno.test("SentinelTarget.remove() finds 250 ids with 3 ARM queries and deletes within ARM's buckets", async () => {
  await using env = setup();
  const items = Array.from({ length: 250 }, (_, i) => makeIndicator(i + 1));
  await env.target.upsert(items);
  const start = env.clock.now();
  const results = await env.target.remove(items.map((i) => ({ id: i.id })));
  assert(results.every((r) => r.ok), JSON.stringify(results.find((r) => !r.ok)));
  assert.deepEqual(ids(env.sim), []);
  const arm = env.sim.requests.filter((r) => r.path.includes("/threatIntelligence/"));
  assert.equal(arm.filter((r) => r.method === "POST").length, 3, "100 ids per query");
  assert.equal(arm.filter((r) => r.method === "DELETE").length, 250);
  assert.equal(arm.filter((r) => r.status === 429).length, 0, "paced by the documented buckets");
  // 200 DELETEs at once, then 10 a second: the last 50 take 5 s.
  assert.equal(env.clock.now() - start, 5_000);
});

Deno.test("Sentinel sim refuses ARM DELETEs past the documented bucket of 200 refilled 10/s", async () => {
  await using env = setup();
  const items = Array.from({ length: 205 }, (_, i) => makeIndicator(i + 1));
  await env.target.upsert(items);
  const names = env.sim.store().map((row) => row.name);
  const statuses: number[] = [];
  for (const name of names) {
    const response = await fetch(
      `${env.sim.url}/subscriptions/${WS.subscriptionId}/resourceGroups/${WS.resourceGroup}` +
        `/providers/Microsoft.OperationalInsights/workspaces/${WS.workspaceName}` +
        `/providers/Microsoft.SecurityInsights/threatIntelligence/main/indicators/${name}` +
        `?api-version=2025-07-01-preview`,
      {
        method: "DELETE",
        headers: { authorization: `Bearer ${await env.tokens.getToken("arm")}` },
      },
    );
    await response.body?.cancel();
    statuses.push(response.status);
  }
  assert.equal(statuses.filter((s) => s === 429).length, 5);
  assert.equal(statuses.slice(0, 200).every((s) => s === 200 || s === 204), true);
});
