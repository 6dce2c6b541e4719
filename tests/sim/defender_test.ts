import assert from "node:assert/strict";
import {
  createDefenderSimApp,
  type DefenderSim,
  type DefenderSimOptions,
  parseDefenderFilter,
} from "../../src/sim/defender.ts";
import { filterQuery } from "../../src/microsoft/odata.ts";
import { FakeClock } from "../runtime/fake_clock.ts";
import { fakeVerifier, type FakeVerifierOptions } from "../fixtures/microsoft/sentinel/make.ts";

const SHA1 = "220e7d15b011d7fac48f2bd61114db1022197f7f";

function sim(
  options: Partial<DefenderSimOptions> = {},
  verifier: FakeVerifierOptions = {},
): DefenderSim {
  return createDefenderSimApp({ verify: fakeVerifier(verifier), ...options });
}

function indicator(value: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    indicatorValue: value,
    indicatorType: "IpAddress",
    action: "Block",
    title: value,
    description: "test",
    application: "OpenCTI",
    generateAlert: true,
    ...extra,
  };
}

function call(s: DefenderSim, method: string, path: string, body?: unknown, token = "token-1") {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  return s.app.request(path, init);
}

async function importOk(s: DefenderSim, items: unknown[]) {
  const response = await call(s, "POST", "/api/indicators/import", { Indicators: items });
  assert.equal(response.status, 200);
  return (await response.json()).value as {
    id: string | null;
    indicator: string;
    isFailed: boolean;
    failureReason: string | null;
  }[];
}

Deno.test("Defender sim rejects properties in the wrong case with 400 InvalidRequestBody", async () => {
  const s = sim();
  const wrapper = await call(s, "POST", "/api/indicators/import", {
    indicators: [indicator("1.2.3.4")],
  });
  assert.equal(wrapper.status, 400);
  assert.equal((await wrapper.json()).error.code, "InvalidRequestBody");
  const { indicatorValue: _v, ...rest } = indicator("1.2.3.4");
  const field = await call(s, "POST", "/api/indicators/import", {
    Indicators: [{ ...rest, IndicatorValue: "1.2.3.4" }],
  });
  assert.equal(field.status, 400);
  const body = await field.json();
  assert.equal(body.error.code, "InvalidRequestBody");
  assert.match(body.error.message, /indicatorValue/);
  assert.equal(typeof body.error.target, "string");
  const single = await call(s, "POST", "/api/indicators", {
    ...indicator("1.2.3.4"),
    ExternalId: "x",
  });
  assert.equal(single.status, 400);
  await single.body?.cancel();
  assert.deepEqual(s.store(), []);
});

Deno.test("Defender sim refuses imports over 500 with MaximumBatchSizeExceeded", async () => {
  const s = sim();
  const items = Array.from({ length: 501 }, (_, i) => indicator(`10.0.${i >> 8}.${i & 255}`));
  const response = await call(s, "POST", "/api/indicators/import", { Indicators: items });
  assert.equal(response.status, 400);
  assert.equal((await response.json()).error.code, "MaximumBatchSizeExceeded");
  assert.equal((await importOk(s, items.slice(0, 500))).length, 500);
});

Deno.test("Defender sim validates each imported indicator and reports failures per item", async () => {
  const s = sim();
  const results = await importOk(s, [
    indicator("1.2.3.4"),
    indicator("1.2.3.0/24"),
    indicator("2001:db8::1"),
    indicator("5.6.7.8", { action: "Audit", generateAlert: false }),
    indicator("9.9.9.9", { action: "BlockAndRemediate" }),
    indicator("9.9.9.8", { action: "Alert" }),
    indicator("zz", { indicatorType: "FileSha1" }),
    indicator("c30b1d9a6e1f2a38a2ac0f84b4a57b6a", { indicatorType: "FileMd5" }),
    indicator("not a domain", { indicatorType: "DomainName" }),
    indicator("4.4.4.4", { severity: "Critical" }),
    indicator("4.4.4.5", { title: undefined }),
    indicator(SHA1, { indicatorType: "FileSha1", action: "BlockAndRemediate" }),
  ]);
  assert.deepEqual(results.map((r) => r.isFailed), [
    false,
    true,
    true,
    true,
    true,
    true,
    true,
    true,
    true,
    true,
    true,
    false,
  ]);
  assert.match(results[3]?.failureReason ?? "", /generateAlert/);
  assert.match(results[10]?.failureReason ?? "", /title/);
  assert.deepEqual(s.store().map((r) => r.entity.indicatorValue), ["1.2.3.4", SHA1]);
  assert.match(s.store()[0]?.entity.id ?? "", /^\d+$/);
});

Deno.test("Defender sim upserts by type and value", async () => {
  const s = sim();
  const [first] = await importOk(s, [indicator("1.2.3.4", { externalID: "a" })]);
  const single = await call(s, "POST", "/api/indicators", {
    ...indicator("1.2.3.4", { severity: "High", application: "Other" }),
  });
  assert.equal(single.status, 200);
  const entity = await single.json();
  assert.equal(entity.id, first?.id);
  assert.equal(entity.severity, "High");
  assert.equal(entity.application, "OpenCTI");
  assert.equal(entity.externalID, "a");
  assert.equal(s.store().length, 1);
});

Deno.test("parseDefenderFilter() reads eq, and, or, parentheses and '' escapes strictly", () => {
  const entity = { indicatorValue: "http://x/?a='b'&c", indicatorType: "Url", application: "A" };
  assert(parseDefenderFilter("indicatorValue eq 'http://x/?a=''b''&c'")(entity));
  assert(
    parseDefenderFilter("(application eq 'B' or application eq 'a') and indicatorType eq 'Url'")(
      entity,
    ),
  );
  assert(!parseDefenderFilter("indicatorType ne 'Url'")(entity));
  assert.throws(() => parseDefenderFilter("indicatorValue eq 'it''s"), /unterminated/);
  assert.throws(() => parseDefenderFilter("indicatorValue eq 'http://x/?a='b''"), /unexpected/);
  assert.throws(() => parseDefenderFilter("externalID eq 'x'"), /filterable property/);
  assert.throws(() => parseDefenderFilter("indicatorValue 'x'"), /'eq' or 'ne'/);
  assert.throws(() => parseDefenderFilter("indicatorValue eq 'x' and"), /missing/);
});

Deno.test("Defender sim answers 400 ODataError to an unencoded $filter value holding &", async () => {
  const s = sim();
  await importOk(s, [indicator("http://x.test/?a=1&b=2", { indicatorType: "Url" })]);
  const raw = await call(
    s,
    "GET",
    "/api/indicators?$filter=indicatorValue eq 'http://x.test/?a=1&b=2'",
  );
  assert.equal(raw.status, 400);
  assert.equal((await raw.json()).error.code, "ODataError");
  const encoded = await call(
    s,
    "GET",
    `/api/indicators?${filterQuery("indicatorValue eq 'http://x.test/?a=1&b=2'")}`,
  );
  assert.equal(encoded.status, 200);
  assert.equal((await encoded.json()).value.length, 1);
});

Deno.test("Defender sim pages lists with $top, $skip and @odata.nextLink", async () => {
  const s = sim();
  await importOk(s, Array.from({ length: 5 }, (_, i) => indicator(`10.0.0.${i + 1}`)));
  const first = await (await call(s, "GET", "/api/indicators?$top=2")).json();
  assert.equal(first.value.length, 2);
  const next = new URL(first["@odata.nextLink"]);
  const second = await (await call(s, "GET", `${next.pathname}${next.search}`)).json();
  assert.deepEqual(second.value.map((x: { indicatorValue: string }) => x.indicatorValue), [
    "10.0.0.3",
    "10.0.0.4",
  ]);
  const tooMany = await call(s, "GET", "/api/indicators?$top=10001");
  assert.equal(tooMany.status, 400);
  await tooMany.body?.cancel();
});

Deno.test("Defender sim shows Ti.ReadWrite callers only their own indicators", async () => {
  const s = sim();
  s.seed({ indicatorType: "IpAddress", indicatorValue: "8.8.8.8" }, {
    appid: "other",
    tid: "tenant-1",
  });
  await importOk(s, [indicator("1.2.3.4")]);
  const mine = await (await call(s, "GET", "/api/indicators")).json();
  assert.deepEqual(mine.value.map((x: { indicatorValue: string }) => x.indicatorValue), [
    "1.2.3.4",
  ]);
  const all = sim({}, { roles: ["Ti.ReadWrite.All"] });
  all.seed({ indicatorType: "IpAddress", indicatorValue: "8.8.8.8" }, {
    appid: "other",
    tid: "tenant-1",
  });
  assert.equal((await (await call(all, "GET", "/api/indicators")).json()).value.length, 1);
});

Deno.test("Defender sim answers 401 and 403 in its error shape", async () => {
  const noRole = sim({}, { roles: ["Machine.Read"] });
  const forbidden = await call(noRole, "GET", "/api/indicators");
  assert.equal(forbidden.status, 403);
  assert.equal((await forbidden.json()).error.code, "Forbidden");
  const unauthorized = await call(sim(), "GET", "/api/indicators", undefined, "bogus");
  assert.equal(unauthorized.status, 401);
  assert.equal((await unauthorized.json()).error.code, "Unauthorized");
});

Deno.test("Defender sim's BatchDelete checks its list and deletes nothing when an id is missing", async () => {
  const s = sim();
  const [a, b] = await importOk(s, [indicator("1.1.1.1"), indicator("2.2.2.2")]);
  const cases: [unknown, number][] = [
    [{ IndicatorIds: [] }, 400],
    [{ indicatorIds: [a?.id] }, 400],
    [{ IndicatorIds: ["abc"] }, 400],
    [{ IndicatorIds: Array.from({ length: 501 }, (_, i) => String(i + 1)) }, 400],
    [{ IndicatorIds: [a?.id, "999"] }, 404],
  ];
  for (const [body, status] of cases) {
    const response = await call(s, "POST", "/api/indicators/BatchDelete", body);
    assert.equal(response.status, status, JSON.stringify(body).slice(0, 60));
    await response.body?.cancel();
  }
  assert.equal(s.store().length, 2);
  const ok = await call(s, "POST", "/api/indicators/BatchDelete", { IndicatorIds: [a?.id, b?.id] });
  assert.equal(ok.status, 204);
  assert.equal(s.store().length, 0);
});

Deno.test("Defender sim's DELETE by id answers 204 then 404", async () => {
  const s = sim();
  const [a] = await importOk(s, [indicator("1.1.1.1")]);
  assert.equal((await call(s, "DELETE", `/api/indicators/${a?.id}`)).status, 204);
  const again = await call(s, "DELETE", `/api/indicators/${a?.id}`);
  assert.equal(again.status, 404);
  await again.body?.cancel();
});

Deno.test("Defender sim enforces the tenant cap on creations only", async () => {
  const s = sim({ tenantCap: 2 });
  const results = await importOk(s, [
    indicator("1.1.1.1"),
    indicator("2.2.2.2"),
    indicator("3.3.3.3"),
  ]);
  assert.deepEqual(results.map((r) => r.isFailed), [false, false, true]);
  assert.match(results[2]?.failureReason ?? "", /maximum number of active indicators/);
  const single = await call(s, "POST", "/api/indicators", indicator("4.4.4.4"));
  assert.equal(single.status, 400);
  await single.body?.cancel();
  const update = await importOk(s, [indicator("1.1.1.1", { severity: "Low" })]);
  assert.equal(update[0]?.isFailed, false);
  assert.equal(s.store().length, 2);
});

Deno.test("Defender sim throttles each operation with 429 and Retry-After", async () => {
  const clock = new FakeClock();
  const s = sim({ limits: { import: 2 }, now: clock.now });
  await importOk(s, [indicator("1.1.1.1")]);
  await importOk(s, [indicator("1.1.1.2")]);
  clock.advance(20_000);
  const throttled = await call(s, "POST", "/api/indicators/import", {
    Indicators: [indicator("1.1.1.3")],
  });
  assert.equal(throttled.status, 429);
  assert.equal(throttled.headers.get("retry-after"), "40");
  assert.equal((await throttled.json()).error.code, "TooManyRequests");
  // Other operations have their own windows.
  assert.equal((await call(s, "GET", "/api/indicators")).status, 200);
  clock.advance(40_000);
  await importOk(s, [indicator("1.1.1.3")]);
  assert.equal(s.store().length, 3);
});

Deno.test("Defender sim injects whole-request and per-item failures", async () => {
  const s = sim();
  s.failures.failNext(500, 1);
  const failed = await call(s, "POST", "/api/indicators/import", {
    Indicators: [indicator("1.1.1.1")],
  });
  assert.equal(failed.status, 500);
  await failed.body?.cancel();
  s.failures.partialNext(["ext-2"], { message: "Injected" });
  const results = await importOk(s, [
    indicator("1.1.1.1", { externalID: "ext-1" }),
    indicator("1.1.1.2", { externalID: "ext-2" }),
  ]);
  assert.deepEqual(results.map((r) => [r.isFailed, r.failureReason]), [[false, null], [
    true,
    "Injected",
  ]]);
});

Deno.test("Defender sim seedImported() stores what an import stores and refuses what it refuses", async () => {
  const clock = new FakeClock(Date.parse("2026-06-01T00:00:00.000Z"));
  const viaApi = sim({ now: clock.now, tenantCap: 2 });
  const seeded = sim({ now: clock.now, tenantCap: 2 });
  const items = [indicator("1.2.3.4"), indicator("1.2.3.5"), indicator("1.2.3.4", { title: "x" })];
  assert.deepEqual((await importOk(viaApi, items)).map((r) => r.isFailed), [false, false, false]);
  seeded.seedImported(items, { appid: "app-1", tid: "tenant-1" });
  assert.deepEqual(seeded.store(), viaApi.store());
  // Over the tenant cap, and a required field missing: refused by both.
  assert.deepEqual((await importOk(viaApi, [indicator("1.2.3.6")])).map((r) => r.isFailed), [
    true,
  ]);
  assert.throws(() =>
    seeded.seedImported([indicator("1.2.3.6")], { appid: "app-1", tid: "tenant-1" })
  );
  assert.throws(() =>
    seeded.seedImported([indicator("1.2.3.4", { action: undefined, title: "" })], {
      appid: "app-1",
      tid: "tenant-1",
    })
  );
  assert.deepEqual(seeded.store(), viaApi.store());
});
