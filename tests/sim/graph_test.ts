import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { createGraphSimApp, type GraphSimOptions, startGraphSim } from "../../src/sim/graph.ts";
import { type AuthClaims, RateWindow } from "../../src/sim/ms_common.ts";
import { FakeClock } from "../runtime/fake_clock.ts";

const ROLE = "ThreatIndicators.ReadWrite.OwnedBy";
const BASE = "http://sim/beta/security/tiIndicators";

/** A fake verifier: tokens read `tid|appid|roles|aud`. */
function verify(token: string, audiences: string[]): Promise<AuthClaims> {
  const [tid, appid, roles, aud] = token.split("|");
  if (!tid || !appid || aud === undefined) return Promise.reject(new Error("bad signature"));
  if (!audiences.includes(aud)) return Promise.reject(new Error(`audience ${aud} not accepted`));
  return Promise.resolve({ tid, appid, roles: roles ? roles.split(",") : [], aud });
}

const TOKEN = `t1|app1|${ROLE}|https://graph.microsoft.com`;
const OTHER_APP = `t1|app2|${ROLE}|https://graph.microsoft.com/`;

function sim(options: Partial<GraphSimOptions> = {}) {
  return createGraphSimApp({ verify, ...options });
}

function call(
  s: ReturnType<typeof sim>,
  method: string,
  path: string,
  body?: unknown,
  token = TOKEN,
): Promise<Response> {
  return Promise.resolve(s.app.request(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  }));
}

function sentinelRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    action: "alert",
    targetProduct: "Azure Sentinel",
    threatType: "C2",
    tlpLevel: "amber",
    description: "C2 server",
    expirationDateTime: "2026-01-31T00:00:00Z",
    networkIPv4: "203.0.113.10",
    confidence: 80,
    severity: 4,
    externalId: "ext-1",
    tags: ["opencti"],
    passiveOnly: false,
    ...overrides,
  };
}

function defenderRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return sentinelRecord({
    targetProduct: "Microsoft Defender ATP",
    networkDestinationIPv4: "203.0.113.10",
    ...overrides,
  });
}

async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  const body = await response.json() as { error: { code: string; message: string } };
  return body.error;
}

Deno.test("graph sim answers 401 without a bearer token and for a token of another audience", async () => {
  const s = sim();
  const none = await s.app.request(BASE);
  assertEquals(none.status, 401);
  assertEquals((await errorOf(none)).code, "InvalidAuthenticationToken");
  const wrong = await call(s, "GET", "", undefined, `t1|app1|${ROLE}|https://management.azure.com`);
  assertEquals(wrong.status, 401);
  await wrong.body?.cancel();
});

Deno.test("graph sim answers 403 naming ThreatIndicators.ReadWrite.OwnedBy when the role is missing", async () => {
  const s = sim();
  const response = await call(s, "GET", "", undefined, "t1|app1||https://graph.microsoft.com");
  assertEquals(response.status, 403);
  const error = await errorOf(response);
  assertEquals(error.code, "accessDenied");
  ok(error.message.includes(ROLE));
});

Deno.test("graph sim submit creates records and answers 200 with ids", async () => {
  const s = sim();
  const response = await call(s, "POST", "/submitTiIndicators", {
    value: [sentinelRecord(), sentinelRecord({ externalId: "ext-2", networkIPv4: "203.0.113.11" })],
  });
  assertEquals(response.status, 200);
  const body = await response.json() as { value: { id: string; externalId: string }[] };
  assertEquals(body.value.map((v) => v.externalId), ["ext-1", "ext-2"]);
  ok(body.value.every((v) => typeof v.id === "string"));
  assertEquals(s.store().length, 2);
  assertEquals(s.store()[0]?.appid, "app1");
});

Deno.test("graph sim creates a second object when an externalId is submitted again, so duplicates show", async () => {
  const s = sim();
  await (await call(s, "POST", "/submitTiIndicators", { value: [sentinelRecord()] })).body
    ?.cancel();
  await (await call(s, "POST", "/submitTiIndicators", { value: [sentinelRecord()] })).body
    ?.cancel();
  assertEquals(s.findByExternalId("ext-1").length, 2);
});

Deno.test("graph sim answers 206 with an Error JSON string for the failing item only", async () => {
  const s = sim();
  const response = await call(s, "POST", "/submitTiIndicators", {
    value: [
      sentinelRecord(),
      sentinelRecord({ externalId: "ext-2", description: "x".repeat(101) }),
    ],
  });
  assertEquals(response.status, 206);
  const body = await response.json() as { value: { id?: string; Error?: string }[] };
  ok(body.value[0]?.id);
  const error = JSON.parse(body.value[1]?.Error ?? "{}") as { error: { code: string } };
  assertEquals(error.error.code, "InvalidInput");
  assertEquals(s.store().length, 1);
});

Deno.test("graph sim rejects passiveOnly sent as a string with 400", async () => {
  const s = sim();
  const response = await call(s, "POST", "/submitTiIndicators", {
    value: [sentinelRecord({ passiveOnly: "true" })],
  });
  assertEquals(response.status, 400);
  ok((await errorOf(response)).message.includes("Edm.Boolean"));
  assertEquals(s.store(), []);
});

Deno.test("graph sim rejects enum values in the wrong case and unknown properties with 400", async () => {
  const s = sim();
  for (const bad of [{ action: "Block" }, { tlpLevel: "AMBER" }, { expiration_datetime: "x" }]) {
    const response = await call(s, "POST", "/submitTiIndicators", { value: [sentinelRecord(bad)] });
    assertEquals(response.status, 400, JSON.stringify(bad));
    await response.body?.cancel();
  }
});

Deno.test("graph sim rejects more than 100 items in one request", async () => {
  const s = sim();
  const value = Array.from({ length: 101 }, (_, i) => sentinelRecord({ externalId: `e${i}` }));
  const response = await call(s, "POST", "/submitTiIndicators", { value });
  assertEquals(response.status, 400);
  await response.body?.cancel();
});

Deno.test("graph sim requires the Azure Sentinel fields and one observable", async () => {
  const s = sim();
  const noTlp = sentinelRecord();
  delete noTlp.tlpLevel;
  const noObservable = sentinelRecord();
  delete noObservable.networkIPv4;
  const response = await call(s, "POST", "/submitTiIndicators", {
    value: [noTlp, noObservable, sentinelRecord({ targetProduct: "Microsoft Sentinel" })],
  });
  assertEquals(response.status, 206);
  const body = await response.json() as { value: { Error?: string }[] };
  const messages = body.value.map((v) => JSON.parse(v.Error ?? "{}").error.message as string);
  ok(messages[0]?.includes("tlpLevel"));
  ok(messages[1]?.includes("observable"));
  ok(messages[2]?.includes("targetProduct"));
});

Deno.test("graph sim rejects a Defender ATP record without networkDestinationIPv4 or without networkIPv4", async () => {
  const s = sim();
  const plainOnly = sentinelRecord({ targetProduct: "Microsoft Defender ATP" });
  const destinationOnly = defenderRecord();
  delete destinationOnly.networkIPv4;
  const response = await call(s, "POST", "/submitTiIndicators", {
    value: [plainOnly, destinationOnly, defenderRecord()],
  });
  assertEquals(response.status, 206);
  const body = await response.json() as { value: { id?: string; Error?: string }[] };
  ok(body.value[0]?.Error?.includes("Missing indicators value"));
  ok(body.value[1]?.Error?.includes("Missing indicators value"));
  ok(body.value[2]?.id);
  assertEquals(s.store().length, 1);
});

Deno.test("graph sim lists with $filter on externalId and rejects an unterminated literal", async () => {
  const s = sim({ compositeFilter: true });
  const url = "http://evil.example/a?b=1&c='x'";
  await (await call(s, "POST", "/submitTiIndicators", {
    value: [sentinelRecord({ externalId: "a'b" }), sentinelRecord({ url, externalId: "x" })],
  })).body?.cancel();
  const good = await call(
    s,
    "GET",
    `?$filter=${
      encodeURIComponent("externalId eq 'a''b' or url eq '" + url.replaceAll("'", "''") + "'")
    }`,
  );
  assertEquals(good.status, 200);
  const body = await good.json() as { value: { externalId: string }[] };
  assertEquals(body.value.map((v) => v.externalId).sort(), ["a'b", "x"]);
  // The upstream bug (#7272): the literal neither escaped nor encoded.
  const bad = await call(s, "GET", `?$filter=url eq '${url}'`);
  assertEquals(bad.status, 400);
  ok((await errorOf(bad)).message.includes("unterminated string literal"));
});

Deno.test("graph sim refuses a composite $filter with 400 by default, as documented, and takes it when switched on", async () => {
  const s = sim();
  await (await call(s, "POST", "/submitTiIndicators", {
    value: [sentinelRecord({ externalId: "a" }), sentinelRecord({ externalId: "b" })],
  })).body?.cancel();
  const composite = `?$filter=${encodeURIComponent("externalId eq 'a' or externalId eq 'b'")}`;
  const refused = await call(s, "GET", composite);
  assertEquals(refused.status, 400);
  ok((await errorOf(refused)).message.includes("'or' operator is not supported"));
  const single = await call(s, "GET", `?$filter=${encodeURIComponent("externalId eq 'a'")}`);
  assertEquals(single.status, 200);
  assertEquals(((await single.json()) as { value: unknown[] }).value.length, 1);
  s.setCompositeFilter(true);
  const taken = await call(s, "GET", composite);
  assertEquals(((await taken.json()) as { value: unknown[] }).value.length, 2);
});

Deno.test("graph sim refuses with 400 every request carrying a poison item until it is cured", async () => {
  const s = sim();
  s.failures.poison("poison-ext");
  const batch = {
    value: [sentinelRecord({ externalId: "ok-1" }), sentinelRecord({ externalId: "poison-ext" })],
  };
  const refused = await call(s, "POST", "/submitTiIndicators", batch);
  assertEquals(refused.status, 400);
  ok((await errorOf(refused)).message.includes("poison-ext"));
  assertEquals(s.store().length, 0, "nothing in a refused request is processed");
  const alone = await call(s, "POST", "/submitTiIndicators", {
    value: [sentinelRecord({ externalId: "ok-1" })],
  });
  assertEquals(alone.status, 200);
  await alone.body?.cancel();
  s.failures.cure("poison-ext");
  const cured = await call(s, "POST", "/submitTiIndicators", batch);
  assertEquals(cured.status, 200);
  await cured.body?.cancel();
  assertEquals(s.store().length, 3);
});

Deno.test("graph sim answers every request during an outage on a fake clock, then recovers", async () => {
  const s = sim();
  const clock = new FakeClock();
  const end = clock.time + 6 * 3_600_000;
  s.failures.failWhile(() => clock.time < end, { status: 503 });
  s.failures.failWhile(() => clock.time < end, "refused");
  const during = await call(s, "GET", "");
  assertEquals(during.status, 503);
  await during.body?.cancel();
  const fetch = s.failures.fetch((input, init) => Promise.resolve(s.app.request(input, init)));
  await fetch(BASE, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
    () => ok(false, "the fetch should be refused"),
    (error: Error) => ok(error.message.includes("Connection refused"), error.message),
  );
  clock.advance(6 * 3_600_000);
  const after = await fetch(BASE, { headers: { authorization: `Bearer ${TOKEN}` } });
  assertEquals(after.status, 200);
  await after.body?.cancel();
});

Deno.test("graph sim only lists the calling app's indicators", async () => {
  const s = sim();
  await (await call(s, "POST", "/submitTiIndicators", { value: [sentinelRecord()] })).body
    ?.cancel();
  const other = await call(
    s,
    "GET",
    `?$filter=${encodeURIComponent("externalId eq 'ext-1'")}`,
    undefined,
    OTHER_APP,
  );
  assertEquals((await other.json() as { value: unknown[] }).value, []);
});

Deno.test("graph sim pages lists with @odata.nextLink", async () => {
  const s = sim({ pageSize: 2 });
  const value = Array.from(
    { length: 5 },
    (_, i) => sentinelRecord({ networkIPv4: `203.0.113.${i}` }),
  );
  await (await call(s, "POST", "/submitTiIndicators", { value })).body?.cancel();
  let next: string | undefined = `${BASE}?$filter=${encodeURIComponent("externalId eq 'ext-1'")}`;
  const seen: string[] = [];
  while (next) {
    const response = await s.app.request(next, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = await response.json() as { value: { id: string }[]; "@odata.nextLink"?: string };
    seen.push(...body.value.map((v) => v.id));
    next = body["@odata.nextLink"];
  }
  assertEquals(seen.length, 5);
  assertEquals(new Set(seen).size, 5);
});

Deno.test("graph sim hides externalId of Defender ATP records and does not match them by it", async () => {
  const s = sim();
  await (await call(s, "POST", "/submitTiIndicators", { value: [defenderRecord()] })).body
    ?.cancel();
  const byId = await call(s, "GET", `?$filter=${encodeURIComponent("externalId eq 'ext-1'")}`);
  assertEquals((await byId.json() as { value: unknown[] }).value, []);
  const byValue = await call(
    s,
    "GET",
    `?$filter=${encodeURIComponent("networkDestinationIPv4 eq '203.0.113.10'")}`,
  );
  const body = await byValue.json() as { value: Record<string, unknown>[] };
  assertEquals(body.value.length, 1);
  assertEquals(body.value[0]?.externalId, undefined);
  assertEquals(s.findByExternalId("ext-1").length, 1, "the store still knows it");
});

Deno.test("graph sim PATCH answers 204 and limits Defender ATP to its editable fields", async () => {
  const s = sim();
  const sentinel = s.seed(sentinelRecord(), { appid: "app1", tid: "t1" });
  const defender = s.seed(defenderRecord(), { appid: "app1", tid: "t1" });
  const patch = await call(s, "PATCH", `/${sentinel.id}`, {
    targetProduct: "Azure Sentinel",
    expirationDateTime: "2026-03-01T00:00:00Z",
    action: "block",
  });
  assertEquals(patch.status, 204);
  assertEquals(s.store().find((r) => r.id === sentinel.id)?.fields.action, "block");
  const denied = await call(s, "PATCH", `/${defender.id}`, {
    targetProduct: "Microsoft Defender ATP",
    expirationDateTime: "2026-03-01T00:00:00Z",
    action: "block",
  });
  assertEquals(denied.status, 400);
  await denied.body?.cancel();
  const missing = await call(s, "PATCH", `/${sentinel.id}`, { targetProduct: "Azure Sentinel" });
  assertEquals(missing.status, 400);
  await missing.body?.cancel();
});

Deno.test("graph sim deleteTiIndicatorsByExternalId removes every record with the id", async () => {
  const s = sim();
  s.seed(sentinelRecord(), { appid: "app1", tid: "t1" });
  s.seed(sentinelRecord({ domainName: "evil.example", networkIPv4: undefined }), {
    appid: "app1",
    tid: "t1",
  });
  s.seed(sentinelRecord({ externalId: "keep" }), { appid: "app1", tid: "t1" });
  const response = await call(s, "POST", "/deleteTiIndicatorsByExternalId", {
    value: ["ext-1", "absent"],
  });
  assertEquals(response.status, 206, "the absent id is reported per item");
  const body = await response.json() as { value: { code: number }[] };
  assertEquals(body.value.map((v) => v.code), [200, 404]);
  assertEquals(s.store().map((r) => r.fields.externalId), ["keep"]);
});

Deno.test("graph sim DELETE by id answers 204, then 404", async () => {
  const s = sim();
  const record = s.seed(sentinelRecord(), { appid: "app1", tid: "t1" });
  const first = await call(s, "DELETE", `/${record.id}`);
  assertEquals(first.status, 204);
  const second = await call(s, "DELETE", `/${record.id}`);
  assertEquals(second.status, 404);
  assertEquals((await errorOf(second)).code, "itemNotFound");
});

Deno.test("graph sim throttles over the limit with 429 and Retry-After, per app", async () => {
  const clock = new FakeClock();
  const s = sim({ rateLimit: 2, now: clock.now });
  for (let i = 0; i < 2; i++) await (await call(s, "GET", "")).body?.cancel();
  const throttled = await call(s, "GET", "");
  assertEquals(throttled.status, 429);
  assertEquals(throttled.headers.get("retry-after"), "60");
  assertEquals((await errorOf(throttled)).code, "activityLimitReached");
  const other = await call(s, "GET", "", undefined, OTHER_APP);
  assertEquals(other.status, 200, "another app has its own budget");
  await other.body?.cancel();
  clock.advance(60_000);
  const later = await call(s, "GET", "");
  assertEquals(later.status, 200);
  await later.body?.cancel();
});

Deno.test("graph sim scales the one-minute window with timeScale", async () => {
  const clock = new FakeClock();
  const s = sim({ rateLimit: 1, now: clock.now, timeScale: 0.001 });
  await (await call(s, "GET", "")).body?.cancel();
  const throttled = await call(s, "GET", "");
  assertEquals(throttled.status, 429);
  assertEquals(throttled.headers.get("retry-after"), "0.060");
  await throttled.body?.cancel();
  clock.advance(60);
  const later = await call(s, "GET", "");
  assertEquals(later.status, 200);
  await later.body?.cancel();
});

Deno.test("graph sim injects whole-request failures and per-item failures", async () => {
  const s = sim();
  s.failures.failNext(503, 1);
  const failed = await call(s, "GET", "");
  assertEquals(failed.status, 503);
  await failed.body?.cancel();
  s.failures.partialNext(["ext-2"]);
  const response = await call(s, "POST", "/submitTiIndicators", {
    value: [sentinelRecord(), sentinelRecord({ externalId: "ext-2", networkIPv4: "203.0.113.2" })],
  });
  assertEquals(response.status, 206);
  await response.body?.cancel();
  assertEquals(s.store().map((r) => r.fields.externalId), ["ext-1"]);
});

Deno.test("graph sim answers 410 for everything once retired", async () => {
  const s = sim();
  s.retire();
  const response = await call(s, "GET", "");
  assertEquals(response.status, 410);
  await response.body?.cancel();
});

Deno.test("startGraphSim() serves on loopback and accepts case-insensitive paths", async () => {
  const s = startGraphSim({ verify });
  try {
    const response = await fetch(`${s.url}/beta/security/tiindicators/submitTiIndicators`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ value: [sentinelRecord()] }),
    });
    assertEquals(response.status, 200);
    await response.body?.cancel();
    assertEquals(s.store().length, 1);
  } finally {
    await s.close();
  }
});

Deno.test("RateWindow counts a sliding window per key and reports when a slot frees", () => {
  let time = 0;
  const window = new RateWindow({ limit: 2, windowMs: 1000, now: () => time });
  assertEquals(window.take("a"), { ok: true });
  time = 400;
  assertEquals(window.take("a"), { ok: true });
  assertEquals(window.take("a"), { ok: false, retryAfterMs: 600, retryAfterSeconds: 1 });
  assertEquals(window.take("b"), { ok: true });
  time = 1000;
  assertEquals(window.take("a"), { ok: true });
  assertEquals(window.peak("a"), 2);
  assertEquals(window.refused, 1);
});

Deno.test("graph sim seedSubmitted() stores what submitTiIndicators stores and refuses what it refuses", async () => {
  const clock = new FakeClock(Date.parse("2026-06-01T00:00:00.000Z"));
  const viaApi = sim({ now: clock.now });
  const seeded = sim({ now: clock.now });
  const records = [sentinelRecord(), sentinelRecord({ externalId: "ext-2", confidence: 10 })];
  const response = await call(viaApi, "POST", "/submitTiIndicators", { value: records });
  assertEquals(response.status, 200);
  await response.body?.cancel();
  seeded.seedSubmitted(records, { appid: "app1", tid: "t1" });
  const stored = (s: ReturnType<typeof sim>) =>
    s.store().map(({ id: _id, fields: { id: _fid, ...fields }, ...rest }) => ({ ...rest, fields }));
  assertEquals(stored(seeded), stored(viaApi));
  const { action: _missing, ...noAction } = sentinelRecord({ externalId: "ext-3" });
  const refused = await call(viaApi, "POST", "/submitTiIndicators", { value: [noAction] });
  assertEquals(refused.status, 206);
  await refused.body?.cancel();
  let threw = false;
  try {
    seeded.seedSubmitted([noAction], { appid: "app1", tid: "t1" });
  } catch {
    threw = true;
  }
  ok(threw, "seedSubmitted() stored an item the API refuses");
  assertEquals(seeded.store().length, 2);
});
