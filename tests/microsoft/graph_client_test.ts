import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { GraphTarget, type GraphTargetOptions } from "../../src/microsoft/graph.ts";
import type { GraphOptions } from "../../src/microsoft/graph_mapping.ts";
import type { TokenSource } from "../../src/microsoft/token_source.ts";
import type { Fetch } from "../../src/runtime/http.ts";
import type { TargetIndicator } from "../../src/microsoft/target.ts";
import { createGraphSimApp, type GraphSimOptions, startGraphSim } from "../../src/sim/graph.ts";
import type { AuthClaims } from "../../src/sim/ms_common.ts";
import type { Observable } from "../../src/stix/types.ts";
import { FakeClock } from "../runtime/fake_clock.ts";
import { entraApp } from "./helpers.ts";
import { GRAPH_CLIENT, GRAPH_MAPPING, GRAPH_RATE_LIMIT } from "../fixtures/settings_defaults.ts";

const ROLE = "ThreatIndicators.ReadWrite.OwnedBy";
const GOOD_TOKEN = `t1|app1|${ROLE}|https://graph.microsoft.com`;
const FIXTURES = new URL("../fixtures/microsoft/graph/", import.meta.url);

/** A fake verifier: tokens read `tid|appid|roles|aud`. */
function verify(token: string, audiences: string[]): Promise<AuthClaims> {
  const [tid, appid, roles, aud] = token.split("|");
  if (!tid || !appid || aud === undefined) return Promise.reject(new Error("bad signature"));
  if (!audiences.includes(aud)) return Promise.reject(new Error(`audience ${aud} not accepted`));
  return Promise.resolve({ tid, appid, roles: roles ? roles.split(",") : [], aud });
}

/** A token source that counts refreshes; `tokens` are handed out in order after each invalidate. */
class FakeTokens implements TokenSource {
  gets = 0;
  invalidations = 0;
  #tokens: string[];
  constructor(...tokens: string[]) {
    this.#tokens = tokens.length > 0 ? tokens : [GOOD_TOKEN];
  }
  getToken(): Promise<string> {
    this.gets++;
    const index = Math.min(this.invalidations, this.#tokens.length - 1);
    return Promise.resolve(this.#tokens[index] as string);
  }
  invalidate(): void {
    this.invalidations++;
  }
}

function indicator(n: number, overrides: Partial<TargetIndicator> = {}): TargetIndicator {
  const id = `indicator--00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
  return {
    id,
    stix: { id, type: "indicator" },
    observables: [{ type: "ipv4-addr", value: `10.${n >> 16 & 255}.${n >> 8 & 255}.${n & 255}` }],
    name: `indicator ${n}`,
    description: "test",
    score: 30,
    confidence: 70,
    labels: ["malware"],
    tlp: "green",
    validUntil: "2026-06-01T00:00:00Z",
    updatedAt: "2025-12-01T00:00:00Z",
    killChainPhases: [],
    ...overrides,
  };
}

interface Setup {
  sim: ReturnType<typeof createGraphSimApp>;
  target: GraphTarget;
  tokens: FakeTokens;
  clock: FakeClock;
  /** A new target on the same simulator, as after a process restart. */
  restart(): GraphTarget;
}

function setup(
  options: {
    sim?: Partial<GraphSimOptions>;
    target?: Partial<GraphTargetOptions>;
    mapping?: Partial<GraphOptions>;
    tokens?: FakeTokens;
    /** Stands between the target and the simulator: `answer` sends the request on. */
    intercept?: (request: Request, answer: () => Promise<Response>) => Promise<Response>;
  } = {},
): Setup {
  const clock = new FakeClock();
  const sim = createGraphSimApp({ verify, now: clock.now, ...options.sim });
  const tokens = options.tokens ?? new FakeTokens();
  const fetch: Fetch = (input, init) => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    const answer = () => Promise.resolve(sim.app.request(request));
    return options.intercept ? options.intercept(request, answer) : answer();
  };
  const restart = () =>
    new GraphTarget({
      ...GRAPH_CLIENT,
      rateLimitPerMinute: GRAPH_RATE_LIMIT,
      tokens,
      mapping: {
        ...GRAPH_MAPPING,
        targetProduct: "Azure Sentinel",
        ...options.mapping,
      },
      baseUrl: "http://graph.test",
      fetch,
      now: clock.now,
      sleep: clock.sleep,
      random: () => 0.5,
      ...options.target,
    });
  return { sim, target: restart(), tokens, clock, restart };
}

function calls(sim: Setup["sim"], suffix: string): number {
  return sim.requests.filter((r) => r.path.toLowerCase().endsWith(suffix.toLowerCase())).length;
}

Deno.test("GraphTarget.upsert() creates 150 indicators in 2 submit requests", async () => {
  const { sim, target } = setup();
  const items = Array.from({ length: 150 }, (_, i) => indicator(i));
  const results = await target.upsert(items);
  assertEquals(results, items.map((i) => ({ id: i.id, ok: true })));
  assertEquals(calls(sim, "/submitTiIndicators"), 2);
  assertEquals(sim.store().length, 150);
  assertEquals(new Set(sim.store().map((r) => r.fields.externalId)).size, 150);
});

Deno.test("GraphTarget.upsert() of a score change updates the stored record without a duplicate", async () => {
  const { sim, target } = setup();
  await target.upsert([indicator(1, { score: 30 })]);
  assertEquals(sim.store()[0]?.fields.action, "alert");
  const results = await target.upsert([indicator(1, { score: 90, description: "now blocked" })]);
  assertEquals(results, [{ id: indicator(1).id, ok: true }]);
  const store = sim.store();
  assertEquals(store.length, 1);
  assertEquals(store[0]?.fields.action, "block");
  assertEquals(store[0]?.fields.severity, 5);
  assertEquals(store[0]?.fields.description, "now blocked");
  assertEquals(calls(sim, "/updateTiIndicators"), 1);
});

Deno.test("GraphTarget.upsert() replayed with no change sends no write", async () => {
  const { sim, target } = setup();
  await target.upsert([indicator(1)]);
  const before = sim.requests.length;
  await target.upsert([indicator(1)]);
  const writes = sim.requests.slice(before).filter((r) => r.method !== "GET");
  assertEquals(writes, []);
  assertEquals(sim.store().length, 1);
});

Deno.test("GraphTarget.upsert() creates an indicator that an update finds missing (upsert)", async () => {
  const { sim, target } = setup();
  await target.upsert([indicator(7, { score: 90 })]);
  assertEquals(sim.findByExternalId(indicator(7).id).length, 1);
});

Deno.test("GraphTarget.upsert() removes records of observables that left the pattern and repairs duplicates", async () => {
  const { sim, target, restart } = setup();
  const both: Observable[] = [
    { type: "ipv4-addr", value: "203.0.113.1" },
    { type: "domain-name", value: "evil.example.com" },
  ];
  await target.upsert([indicator(1, { observables: both })]);
  assertEquals(sim.store().length, 2);
  // A duplicate left behind by an earlier crash.
  const { id: _id, ingestedDateTime: _at, ...copy } = sim.store()[0]?.fields ?? {};
  sim.seed(copy, { appid: "app1", tid: "t1" });
  assertEquals(sim.store().length, 3);
  // The process that crashed is gone: a new one lists what Graph holds.
  await restart().upsert([indicator(1, { observables: [both[1] as Observable] })]);
  const store = sim.store();
  assertEquals(store.map((r) => r.fields.domainName), ["evil.example.com"]);
});

Deno.test("GraphTarget.remove() deletes every record of the indicator and is idempotent", async () => {
  const { sim, target } = setup();
  const observables: Observable[] = [
    { type: "ipv4-addr", value: "203.0.113.1" },
    { type: "url", value: "http://evil.example/x" },
    { type: "file", value: "d41d8cd98f00b204e9800998ecf8427e", hash: "MD5" },
  ];
  await target.upsert([indicator(1, { observables }), indicator(2)]);
  assertEquals(sim.store().length, 4);
  const id = indicator(1).id;
  assertEquals(await target.remove([{ id }]), [{ id, ok: true }]);
  assertEquals(sim.store().map((r) => r.fields.externalId), [indicator(2).id]);
  assertEquals(await target.remove([{ id }]), [{ id, ok: true }], "absent is success");
  assertEquals(calls(sim, "/deleteTiIndicatorsByExternalId"), 2);
});

Deno.test("GraphTarget.upsert() fails only the item that a 206 reports as failed", async () => {
  const { sim, target } = setup();
  const items = [indicator(1), indicator(2), indicator(3)];
  sim.failures.partialNext([indicator(2).id], { code: "InternalServerError", message: "boom" });
  const results = await target.upsert(items);
  assertEquals(results[0], { id: items[0]?.id, ok: true });
  assertEquals(results[2], { id: items[2]?.id, ok: true });
  const failed = results[1];
  ok(failed && !failed.ok);
  if (!failed.ok) {
    ok(failed.reason.includes("boom"), failed.reason);
    assertEquals(failed.retryable, true);
  }
  assertEquals(sim.store().length, 2);
  // The connector retries later: the failed one is created, nothing is duplicated.
  await target.upsert(items);
  assertEquals(sim.store().length, 3);
});

Deno.test("GraphTarget.upsert() marks an item the API rejects as invalid as not retryable", async () => {
  // The documented 206 shape: item 0 created, item 1 rejected with an `Error` JSON string.
  const body = await Deno.readTextFile(new URL("submit_206.json", FIXTURES));
  const fetch: Fetch = (input) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.includes("$filter")) {
      return Promise.resolve(Response.json({ value: [] }));
    }
    return Promise.resolve(new Response(body, { status: 206 }));
  };
  const clock = new FakeClock();
  const stubbed = new GraphTarget({
    ...GRAPH_CLIENT,
    rateLimitPerMinute: GRAPH_RATE_LIMIT,
    tokens: new FakeTokens(),
    mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
    fetch,
    now: clock.now,
    sleep: clock.sleep,
    lookupChunk: 2,
    recordIndexLimit: 0,
  });
  const items = [
    indicator(1, { observables: [{ type: "ipv4-addr", value: "203.0.113.1" }] }),
    indicator(2),
  ];
  const results = await stubbed.upsert(items);
  assertEquals(results[0], { id: items[0]?.id, ok: true });
  assertEquals(results[1], {
    id: items[1]?.id,
    ok: false,
    reason: "Graph rejected the record: InvalidInput: Missing indicators value",
    retryable: false,
    scope: "item",
  });
});

Deno.test("GraphTarget waits for Retry-After on 429 and resends the same batch", async () => {
  const { sim, target, clock } = setup();
  sim.failures.failNext(429, 2, undefined, { headers: { "Retry-After": "7" } });
  const start = clock.time;
  const results = await target.upsert([indicator(1), indicator(2)]);
  assertEquals(results.every((r) => r.ok), true);
  assertEquals(sim.store().length, 2);
  ok(clock.time - start >= 14_000, `waited ${clock.time - start} ms`);
  assertEquals(calls(sim, "/submitTiIndicators"), 1);
});

Deno.test("GraphTarget throttled by the simulator finishes with the exact store", async () => {
  const { sim, target } = setup({
    sim: { rateLimit: 5 },
    target: {
      rateLimitPerMinute: 1000,
      lookupChunk: 1,
      maxBatch: 3,
      recordsPerRequest: 3,
      recordIndexLimit: 0,
    },
  });
  const items = Array.from({ length: 12 }, (_, i) => indicator(i));
  const results = await target.upsert(items);
  assertEquals(results.filter((r) => r.ok).length, 12);
  ok(sim.rate.refused > 0, "the simulator did throttle");
  assertEquals(sim.rate.peak("t1/app1"), 5);
  const ids = sim.store().map((r) => r.fields.externalId).sort();
  assertEquals(ids, items.map((i) => i.id).sort());
});

Deno.test("GraphTarget's limiter never exceeds the configured rate", async () => {
  const { sim, target } = setup({
    sim: { rateLimit: 5 },
    target: { rateLimitPerMinute: 5, lookupChunk: 1, maxBatch: 3, recordsPerRequest: 3 },
  });
  const items = Array.from({ length: 12 }, (_, i) => indicator(i));
  const results = await target.upsert(items);
  assertEquals(results.filter((r) => r.ok).length, 12);
  assertEquals(sim.rate.refused, 0, "never throttled: the client paced itself");
  assertEquals(sim.rate.peak("t1/app1"), 5);
  const times = sim.requests.map((r) => r.at);
  for (let i = 5; i < times.length; i++) {
    ok((times[i] as number) - (times[i - 5] as number) >= 60_000, `request ${i} too early`);
  }
});

Deno.test("GraphTarget backs off and retries on 5xx", async () => {
  const { sim, target, clock } = setup();
  sim.failures.failNext(503, 2);
  const results = await target.upsert([indicator(1)]);
  assertEquals(results, [{ id: indicator(1).id, ok: true }]);
  assertEquals(clock.sleeps.filter((ms) => ms > 0).length >= 2, true);
  assertEquals(sim.store().length, 1);
});

Deno.test("GraphTarget refreshes the token once on 401 and then succeeds", async () => {
  const tokens = new FakeTokens("t1|app1|" + ROLE + "|https://management.azure.com", GOOD_TOKEN);
  const { sim, target } = setup({ tokens });
  const results = await target.upsert([indicator(1)]);
  assertEquals(results, [{ id: indicator(1).id, ok: true }]);
  assertEquals(tokens.invalidations, 1);
  assertEquals(sim.store().length, 1);
});

Deno.test("GraphTarget gives up after one token refresh when 401 persists, without leaking the token", async () => {
  const bad = "t1|app1|" + ROLE + "|https://management.azure.com";
  const tokens = new FakeTokens(bad);
  const { sim, target } = setup({ tokens });
  const [result] = await target.upsert([indicator(1)]);
  assertEquals(tokens.invalidations, 1);
  ok(result && !result.ok);
  if (!result.ok) {
    ok(result.reason.includes("HTTP 401"), result.reason);
    ok(!result.reason.includes(bad));
  }
  assertEquals(sim.store(), []);
});

Deno.test("GraphTarget names the missing permission on 403", async () => {
  const tokens = new FakeTokens("t1|app1||https://graph.microsoft.com");
  const { target } = setup({ tokens });
  const [result] = await target.remove([{ id: indicator(1).id }]);
  ok(result && !result.ok);
  if (!result.ok) {
    ok(result.reason.includes("ThreatIndicators.ReadWrite.OwnedBy"), result.reason);
    ok(result.reason.includes("admin consent"), result.reason);
    ok(/request-id [0-9a-f-]{36}/.test(result.reason), result.reason);
  }
});

Deno.test("GraphTarget parses the documented 403 body with its request ids", async () => {
  const body = await Deno.readTextFile(new URL("error_403.json", FIXTURES));
  const clock = new FakeClock();
  const target = new GraphTarget({
    ...GRAPH_CLIENT,
    rateLimitPerMinute: GRAPH_RATE_LIMIT,
    tokens: new FakeTokens(),
    mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
    fetch: () => Promise.resolve(new Response(body, { status: 403 })),
    now: clock.now,
    sleep: clock.sleep,
  });
  const [result] = await target.remove([{ id: "indicator--x" }]);
  ok(result && !result.ok);
  if (!result.ok) {
    ok(result.reason.includes("accessDenied"), result.reason);
    ok(result.reason.includes("7f9d3c1a-0000-4000-8000-000000000403"), result.reason);
  }
});

Deno.test("GraphTarget treats the documented resultInfo code 0 as deleted", async () => {
  const body = await Deno.readTextFile(new URL("delete_by_external_id_200.json", FIXTURES));
  const clock = new FakeClock();
  const target = new GraphTarget({
    ...GRAPH_CLIENT,
    rateLimitPerMinute: GRAPH_RATE_LIMIT,
    tokens: new FakeTokens(),
    mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
    fetch: () => Promise.resolve(new Response(body, { status: 200 })),
    now: clock.now,
    sleep: clock.sleep,
  });
  const results = await target.remove([{ id: "indicator--a" }, { id: "indicator--b" }]);
  assertEquals(results.every((r) => r.ok), true);
});

Deno.test("GraphTarget looks up Defender ATP records by a URL with quote, &, ? and # and updates them in place", async () => {
  const url = "http://evil.example/a%20b?x=1&y='2'#frag+plus";
  const { sim, target } = setup({
    mapping: { ...GRAPH_MAPPING, targetProduct: "Microsoft Defender ATP" },
    target: { recordIndexLimit: 0 },
  });
  const item = indicator(1, { observables: [{ type: "url", value: url }], score: 90 });
  await target.upsert([item]);
  assertEquals(sim.store().length, 1);
  await target.upsert([{ ...item, description: "changed" }]);
  const store = sim.store();
  assertEquals(store.length, 1, "found by value, not duplicated");
  assertEquals(store[0]?.fields.url, url);
  assertEquals(store[0]?.fields.description, "changed");
  ok(sim.requests.some((r) => r.method === "PATCH"));
  ok(sim.requests.some((r) => r.filter?.includes(`url eq '${url.replaceAll("'", "''")}'`)));
  assertEquals(await target.remove([{ id: item.id, observables: item.observables }]), [
    { id: item.id, ok: true },
  ]);
  assertEquals(sim.store(), []);
});

Deno.test("GraphTarget re-creates a Defender ATP record whose action changed (not editable there)", async () => {
  const { sim, target } = setup({
    mapping: { ...GRAPH_MAPPING, targetProduct: "Microsoft Defender ATP" },
  });
  await target.upsert([indicator(1, { score: 10 })]);
  assertEquals(sim.store()[0]?.fields.action, "alert");
  await target.upsert([indicator(1, { score: 95 })]);
  const store = sim.store();
  assertEquals(store.length, 1);
  assertEquals(store[0]?.fields.action, "block");
  assertEquals(store[0]?.fields.networkDestinationIPv4, "10.0.0.1");
});

Deno.test("GraphTarget.upsert() fails an indicator with nothing sendable, and clears what it had", async () => {
  const { sim, target } = setup();
  await target.upsert([indicator(1)]);
  const [result] = await target.upsert([
    indicator(1, { observables: [{ type: "ipv4-addr", value: "not-an-ip" }] }),
  ]);
  ok(result && !result.ok);
  if (!result.ok) assertEquals(result.retryable, false);
  assertEquals(sim.store(), []);
});

Deno.test("GraphTarget works end to end with the Entra simulator's signed tokens", async () => {
  await using app = await entraApp({ "https://graph.microsoft.com": [ROLE] });
  const { tenantId, clientId, tokens } = app;
  const graph = startGraphSim({ verify: app.entra.verifyAccessToken });
  try {
    const target = new GraphTarget({
      ...GRAPH_CLIENT,
      rateLimitPerMinute: GRAPH_RATE_LIMIT,
      tokens,
      mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
      baseUrl: graph.url,
      scope: "https://graph.microsoft.com/.default",
    });
    const items = [indicator(1), indicator(2)];
    assertEquals((await target.upsert(items)).every((r) => r.ok), true);
    assertEquals(graph.store().map((r) => r.appid), [clientId, clientId]);
    assertEquals(graph.store().map((r) => r.tid), [tenantId, tenantId]);
    assertEquals((await target.remove(items)).every((r) => r.ok), true);
    assertEquals(graph.store(), []);
  } finally {
    await graph.close();
  }
});

Deno.test("GraphTarget.upsert() rejects with the abort reason when the signal is aborted", async () => {
  const { sim, target } = setup();
  const controller = new AbortController();
  controller.abort(new Error("shutting down"));
  let caught: unknown;
  try {
    await target.upsert([indicator(1)], controller.signal);
  } catch (error) {
    caught = error;
  }
  ok(caught instanceof Error && caught.message === "shutting down", String(caught));
  assertEquals(sim.store(), []);
});

Deno.test("GraphTarget falls back to single-value lookups once Graph refuses a composite $filter, and remembers it", async () => {
  const { sim, target } = setup({ target: { recordIndexLimit: 0 } });
  const first = Array.from({ length: 5 }, (_, i) => indicator(i));
  assertEquals(await target.upsert(first), first.map((i) => ({ id: i.id, ok: true })));
  const composite = () => sim.requests.filter((r) => / or /.test(r.filter ?? ""));
  assertEquals(composite().map((r) => r.status), [400], "one composite try, refused");
  const second = Array.from({ length: 5 }, (_, i) => indicator(i + 5));
  assertEquals(await target.upsert(second), second.map((i) => ({ id: i.id, ok: true })));
  assertEquals(composite().length, 1, "no composite lookup after the refusal");
  assertEquals(target.status().compositeLookups, false);
  assertEquals(sim.store().length, 10);
});

Deno.test("GraphTarget logs the refused composite $filter as one warning, never as an error", async () => {
  const records: { level: string; message: string }[] = [];
  const record = (level: string) => (message: string) => {
    records.push({ level, message });
  };
  const logger = {
    debug: record("debug"),
    info: record("info"),
    warn: record("warning"),
    error: record("error"),
  } as unknown as NonNullable<GraphTargetOptions["logger"]>;
  const { sim, target } = setup({ target: { logger, recordIndexLimit: 0 } });
  const items = Array.from({ length: 5 }, (_, i) => indicator(i));
  assertEquals(await target.upsert(items), items.map((i) => ({ id: i.id, ok: true })));
  assertEquals(sim.requests.filter((r) => / or /.test(r.filter ?? "")).length, 1);
  assertEquals(records.filter((r) => r.level === "error"), []);
  assertEquals(
    records.filter((r) => r.level === "warning" && /composite/.test(r.message)).length,
    1,
  );
});

Deno.test("GraphTarget keeps composite lookups where Graph takes them", async () => {
  const { sim, target } = setup({
    sim: { compositeFilter: true },
    target: { recordIndexLimit: 0 },
  });
  const items = Array.from({ length: 5 }, (_, i) => indicator(i));
  assertEquals(await target.upsert(items), items.map((i) => ({ id: i.id, ok: true })));
  assertEquals(sim.requests.filter((r) => r.filter !== undefined).length, 1);
  assertEquals(target.status().compositeLookups, true);
});

Deno.test("GraphTarget reports a 400 on a multi-item submit as request-level and on one indicator as item-level", async () => {
  const { sim, target } = setup();
  sim.failures.poison(indicator(2).id);
  const results = await target.upsert([indicator(1), indicator(2), indicator(3)]);
  for (const result of results) {
    ok(!result.ok);
    if (!result.ok) assertEquals(result.scope, "request");
  }
  const [alone] = await target.upsert([indicator(2)]);
  ok(alone && !alone.ok);
  if (!alone.ok) assertEquals(alone.scope, "item");
});

Deno.test("GraphTarget writes new indicators after one listing of its records, without a lookup", async () => {
  const { sim, target } = setup();
  const items = Array.from({ length: 250 }, (_, i) => indicator(i));
  assertEquals(await target.upsert(items), items.map((i) => ({ id: i.id, ok: true })));
  const requests = sim.requests.map((r) => `${r.method} ${r.path}${r.filter ? " filtered" : ""}`);
  assertEquals(requests, [
    "GET /beta/security/tiIndicators",
    "POST /beta/security/tiIndicators/submitTiIndicators",
    "POST /beta/security/tiIndicators/submitTiIndicators",
    "POST /beta/security/tiIndicators/submitTiIndicators",
  ]);
  assertEquals(target.status().indexedRecords, 250);
  // A replay in the same process: nothing to write, nothing to ask.
  const before = sim.requests.length;
  assertEquals(
    await target.upsert(items.slice(0, 5)),
    items.slice(0, 5).map((i) => ({
      id: i.id,
      ok: true,
    })),
  );
  assertEquals(sim.requests.length, before);
});

Deno.test("GraphTarget after a restart finds an earlier run's records in its listing: a replay neither writes nor duplicates", async () => {
  const { sim, target, restart } = setup();
  const items = Array.from({ length: 30 }, (_, i) => indicator(i));
  await target.upsert(items);
  const again = restart();
  const before = sim.requests.length;
  const changed = items.map((item, i) => i === 3 ? { ...item, score: 90 } : item);
  assertEquals(await again.upsert(changed), items.map((i) => ({ id: i.id, ok: true })));
  const after = sim.requests.slice(before).map((r) => `${r.method} ${r.path}`);
  assertEquals(after, [
    "GET /beta/security/tiIndicators",
    "POST /beta/security/tiIndicators/updateTiIndicators",
  ]);
  assertEquals(sim.store().length, 30);
  assertEquals(sim.findByExternalId(indicator(3).id)[0]?.fields.action, "block");
});

Deno.test("GraphTarget looks up an indicator whose submit went out twice, and deletes the twin", async () => {
  let lose = 1;
  const { sim, target } = setup({
    intercept: async (request, answer) => {
      const response = await answer();
      if (request.url.endsWith("/submitTiIndicators") && lose-- > 0) {
        throw new TypeError("connection reset by peer"); // applied, answer lost
      }
      return response;
    },
  });
  assertEquals(await target.upsert([indicator(1)]), [{ id: indicator(1).id, ok: true }]);
  assertEquals(sim.findByExternalId(indicator(1).id).length, 2, "the retry made a twin");
  assertEquals(await target.upsert([indicator(1, { score: 90 })]), [
    { id: indicator(1).id, ok: true },
  ]);
  ok(sim.requests.some((r) => r.filter === `externalId eq '${indicator(1).id}'`), "looked up");
  const stored = sim.findByExternalId(indicator(1).id);
  assertEquals(stored.map((r) => r.fields.action), ["block"]);
});

Deno.test("GraphTarget looks up an indicator whose earlier update Graph could not confirm", async () => {
  const { sim, target } = setup();
  await target.upsert([indicator(1), indicator(2)]);
  sim.failures.partialNext([indicator(2).id], { code: "InternalServerError", message: "boom" });
  const results = await target.upsert([indicator(1, { score: 90 }), indicator(2, { score: 90 })]);
  assertEquals(results[0], { id: indicator(1).id, ok: true });
  assertEquals(results[1]?.ok, false);
  const before = sim.requests.length;
  await target.upsert([indicator(1, { score: 90 }), indicator(2, { score: 90 })]);
  const filters = sim.requests.slice(before).flatMap((r) => r.filter ? [r.filter] : []);
  assertEquals(filters, [`externalId eq '${indicator(2).id}'`]);
  assertEquals(sim.store().map((r) => r.fields.action), ["block", "block"]);
});

Deno.test("GraphTarget with more records than recordIndexLimit looks every indicator up", async () => {
  const { sim, target, restart } = setup({ target: { recordIndexLimit: 2 } });
  await target.upsert([indicator(1), indicator(2)]);
  assertEquals(target.status().indexedRecords, 2);
  await target.upsert([indicator(3)]);
  assertEquals(target.status().indexedRecords, "off", "grew past the limit");
  const again = restart();
  await again.upsert([indicator(1, { score: 90 })]);
  assertEquals(again.status().indexedRecords, "off", "listed past the limit");
  ok(sim.requests.some((r) => r.filter?.includes(indicator(1).id)), "looked up");
  assertEquals(sim.store().length, 3);
});

Deno.test("GraphTarget on Defender ATP updates and removes from its listing, without a value lookup", async () => {
  const { sim, target, restart } = setup({ mapping: { targetProduct: "Microsoft Defender ATP" } });
  const item = indicator(1, { observables: [{ type: "domain-name", value: "evil.example" }] });
  await target.upsert([item]);
  // Graph lists Defender ATP records without externalId: a new process matches them by value.
  const again = restart();
  await again.upsert([{ ...item, description: "changed" }]);
  assertEquals(sim.store().map((r) => r.fields.description), ["changed"]);
  assertEquals(await again.remove([{ id: item.id, observables: item.observables }]), [
    { id: item.id, ok: true },
  ]);
  assertEquals(sim.store(), []);
  assertEquals(sim.requests.filter((r) => r.filter !== undefined), []);
});

Deno.test("GraphTarget.listOwned() beside a change that shifts its pages: a record it missed is looked up, not created twice", async () => {
  let onListPage: (() => void) | undefined;
  let listPages = 0;
  const { sim, target } = setup({
    sim: { pageSize: 2 },
    intercept: (request, answer) => {
      if (request.method === "GET" && !new URL(request.url).searchParams.has("$filter")) {
        if (++listPages === 2) onListPage?.();
      }
      return answer();
    },
  });
  const items = Array.from({ length: 6 }, (_, i) => indicator(i + 1));
  await target.upsert(items);
  // Another writer deletes the first record while the listing is between pages.
  onListPage = () => {
    const first = sim.store()[0];
    ok(first && sim.edit(first.id, null));
  };
  listPages = 0;
  const owned = await target.listOwned();
  const hidden = sim.store().filter((r) => !owned.get(String(r.fields.externalId)));
  assertEquals(hidden.length, 1, "the shifted pages hid a record");
  onListPage = undefined;
  const changed = items.map((item) => ({ ...item, score: 90 }));
  const results = await target.upsert(changed);
  // The deleted one was listed before it went: its update fails, retryable, and it is looked up
  // next time (the pump sends it again).
  const failed = results.filter((r) => !r.ok).map((r) => r.id);
  assertEquals(failed, [items[0]!.id]);
  const again = await target.upsert(changed.filter((item) => failed.includes(item.id)));
  ok(again.every((r) => r.ok), JSON.stringify(again));
  const perIndicator = new Map<unknown, number>();
  for (const r of sim.store()) {
    perIndicator.set(r.fields.externalId, (perIndicator.get(r.fields.externalId) ?? 0) + 1);
  }
  assertEquals([...perIndicator.values()], [1, 1, 1, 1, 1, 1]);
  assertEquals(sim.store().map((r) => r.fields.additionalInformation), Array(6).fill("score: 90"));
});
