import assert from "node:assert/strict";
import { API_PREFIX, createTaniumSim, TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import {
  generateAlerts,
  makeAlert,
  REFERENCE_ALERT,
  REFERENCE_INTEL,
  seedOpenCtiForTanium,
  taniumSeed,
} from "../../src/sim/tanium_seed.ts";
import { OpenCtiStore } from "../../src/sim/opencti_store.ts";

const ALERTS = `${API_PREFIX}/alerts`;

function sim(options: Parameters<typeof createTaniumSim>[0] = {}) {
  const { app, control } = createTaniumSim({ seed: true, ...options });
  const get = async (path: string, token: string | null = TANIUM_SIM_TOKEN) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token !== null) headers.session = token;
    const response = await app.request(path, { headers });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json: json as Record<string, unknown> };
  };
  return { app, control, get };
}

function ids(body: Record<string, unknown>): number[] {
  return (body.data as { id: number }[]).map((a) => a.id);
}

Deno.test("Tanium sim answers 401 without or with an unknown session token and 403 for an expired one", async () => {
  const { get } = sim({ expiredTokens: ["expired"] });
  assert.equal((await get(ALERTS, null)).status, 401);
  assert.equal((await get(ALERTS, "nope")).status, 401);
  assert.equal((await get(ALERTS, "expired")).status, 403);
  assert.equal((await get(ALERTS)).status, 200);
});

Deno.test("Tanium sim rejects clients outside the trusted IP list with 401", async () => {
  const { app } = createTaniumSim({ trustedIps: ["10.1.1.1"] });
  const response = await app.request(ALERTS, { headers: { session: TANIUM_SIM_TOKEN } }, {
    remoteAddr: "127.0.0.1",
  });
  assert.equal(response.status, 401);
  await response.body?.cancel();
});

Deno.test("Tanium sim serves the {data, meta} envelope with limit 100 by default and 400 above 500", async () => {
  const { get } = sim();
  const page = await get(ALERTS);
  assert.equal((page.json.data as unknown[]).length, 100);
  assert.deepEqual(page.json.meta, { totalCount: 528, filteredCount: 528 });
  assert.equal((await get(`${ALERTS}?limit=500`)).status, 200);
  assert.equal((await get(`${ALERTS}?limit=501`)).status, 400);
  assert.equal((await get(`${ALERTS}?limit=abc`)).status, 400);
  assert.equal((await get(`${ALERTS}?offset=-1`)).status, 400);
});

Deno.test("Tanium sim serves details as a JSON string and alertedAt in whole seconds", async () => {
  const { get } = sim();
  const page = await get(`${ALERTS}?limit=10&sort=id`);
  for (const alert of page.json.data as Record<string, unknown>[]) {
    assert.ok(alert.details === null || typeof alert.details === "string");
    assert.match(String(alert.alertedAt), /:\d{2}\.000Z$/);
  }
  assert.deepEqual((page.json.data as unknown[])[0], REFERENCE_ALERT);
});

Deno.test("Tanium sim pages with offset and sorts by comma-separated columns with - for descending", async () => {
  const { get } = sim();
  const first = await get(`${ALERTS}?sort=alertedAt,id&limit=3`);
  assert.deepEqual(ids(first.json), [1, 2, 3]);
  const second = await get(`${ALERTS}?sort=alertedAt,id&limit=3&offset=3`);
  assert.deepEqual(ids(second.json), [4, 5, 6]);
  const plus = await get(`${ALERTS}?sort=%2BalertedAt,-id&limit=3&offset=1`);
  assert.deepEqual(ids(plus.json), [3, 2, 4]);
  const desc = await get(`${ALERTS}?sort=-alertedAt,-id&limit=2`);
  assert.deepEqual(ids(desc.json), [619, 618]);
  assert.equal((await get(`${ALERTS}?sort=nonsense`)).status, 400);
  assert.equal((await get(`${ALERTS}?sort= alertedAt`)).status, 200);
});

Deno.test("Tanium sim treats alertedAtFrom as inclusive and alertedAtUntil as exclusive, with Z or an offset", async () => {
  const { get } = sim();
  const from = await get(
    `${ALERTS}?sort=alertedAt,id&alertedAtFrom=2023-10-17T08:00:03.000Z&limit=2`,
  );
  assert.deepEqual(ids(from.json), [6, 7]);
  const offset = await get(
    `${ALERTS}?sort=alertedAt,id&alertedAtFrom=2023-10-17T10%3A00%3A03%2B02%3A00&limit=2`,
  );
  assert.deepEqual(ids(offset.json), [6, 7]);
  const until = await get(
    `${ALERTS}?sort=alertedAt,id&alertedAtUntil=2023-10-17T08:00:01Z&alertedAtFrom=2023-10-17T00:00:00Z`,
  );
  assert.deepEqual(ids(until.json), [2, 3]);
});

Deno.test("Tanium sim answers 400 to a date whose + arrived unencoded as a space", async () => {
  const { get } = sim();
  const response = await get(`${ALERTS}?alertedAtFrom=2023-10-16T12:26:51+00:00`);
  assert.equal(response.status, 400);
  assert.match(response.text, /alertedAtFrom/);
});

Deno.test("Tanium sim filters with contains matching, OR for repeats and AND across parameters", async () => {
  const { get } = sim();
  const suppressed = await get(`${ALERTS}?state=suppr&limit=500`);
  assert.ok((suppressed.json.data as { state: string }[]).every((a) => a.state === "suppressed"));
  const two = await get(`${ALERTS}?intelDocId=703&intelDocId=704&sort=id`);
  assert.deepEqual(ids(two.json), [5, 7]);
  const both = await get(`${ALERTS}?intelDocId=70&computerName=ComputerName`);
  assert.deepEqual(ids(both.json), [1]);
  const count = await get(`${ALERTS}/count?state=suppressed`);
  assert.deepEqual(count.json, { data: { count: 1 + 21 } });
});

Deno.test("Tanium sim serves intel documents in {data} and 404 for unknown ids", async () => {
  const { get, control } = sim();
  const intel = await get(`${API_PREFIX}/intels/700`);
  assert.deepEqual(intel.json, { data: REFERENCE_INTEL });
  assert.equal((await get(`${API_PREFIX}/intels/9999`)).status, 404);
  assert.equal(control.counters.intelRequests, 2);
});

Deno.test("Tanium sim injects statuses on chosen calls, truncated JSON and null fields", async () => {
  const { get, control } = sim();
  control.injectFault({ target: "alerts", skip: 1, status: 502, times: 2 });
  assert.equal((await get(ALERTS)).status, 200);
  assert.equal((await get(ALERTS)).status, 502);
  assert.equal((await get(`${API_PREFIX}/intels/700`)).status, 200, "other targets unaffected");
  assert.equal((await get(ALERTS)).status, 502);
  assert.equal((await get(ALERTS)).status, 200);
  control.injectFault({ target: "alerts", truncate: true });
  const cut = await get(ALERTS);
  assert.equal(cut.status, 200);
  assert.equal(cut.json, undefined);
  control.injectFault({ target: "alerts", nullFields: ["details", "computerName"] });
  const nulls = await get(`${ALERTS}?limit=3`);
  for (const alert of nulls.json.data as Record<string, unknown>[]) {
    assert.equal(alert.details, null);
    assert.equal(alert.computerName, null);
  }
  assert.equal(control.counters.pageRequests, 6);
});

Deno.test("Tanium sim holds an outage until its clock reaches untilMs, whatever the count", async () => {
  let now = Date.parse("2024-03-01T00:00:00.000Z");
  const { get, control } = sim({ now: () => now });
  control.injectFault({ status: 503, untilMs: now + 6 * 3_600_000 });
  for (let i = 0; i < 5; i++) assert.equal((await get(ALERTS)).status, 503);
  assert.equal((await get(`${API_PREFIX}/intels/700`)).status, 503, "every endpoint is down");
  now += 6 * 3_600_000 - 1;
  assert.equal((await get(ALERTS)).status, 503);
  now += 1;
  assert.equal((await get(ALERTS)).status, 200);
  assert.equal((await get(ALERTS)).status, 200);
});

Deno.test("Tanium sim answers 400 only to alert pages that contain the poison alert", async () => {
  const { get, control } = sim({ seed: false, alerts: generateAlerts(30, { seed: 3 }) });
  control.injectFault({ target: "alerts", poisonAlertId: 10_015, times: -1 });
  assert.equal((await get(`${ALERTS}?limit=10&sort=id`)).status, 200);
  const bad = await get(`${ALERTS}?limit=10&offset=10&sort=id`);
  assert.equal(bad.status, 400);
  assert.equal(JSON.stringify(bad.json).includes("10015"), false, "the answer names no alert");
  assert.equal((await get(`${ALERTS}?limit=10&offset=20&sort=id`)).status, 200);
  assert.equal((await get(`${ALERTS}?limit=5&offset=10&sort=id`)).status, 200);
  assert.equal((await get(`${ALERTS}?limit=5&offset=15&sort=id`)).status, 400);
});

Deno.test("Tanium sim adds late alerts: new ids, an old alertedAt, received now", () => {
  const now = Date.parse("2024-03-01T06:00:00.000Z");
  const { control } = sim({ seed: false, alerts: generateAlerts(10, { seed: 4 }), now: () => now });
  const late = control.addLateAlerts(3, "2024-03-01T00:00:10.000Z");
  assert.deepEqual(late.map((a) => a.id), [10_010, 10_011, 10_012]);
  assert.equal(late[0]!.alertedAt, "2024-03-01T00:00:10.000Z");
  assert.ok(late.every((a) => a.receivedAt === "2024-03-01T06:00:00.000Z"));
  assert.equal(control.alertCount, 13);
});

Deno.test("Tanium sim control API adds, patches and prunes alerts over HTTP", async () => {
  const { app, control, get } = sim({ seed: false });
  const post = (path: string, body: unknown) =>
    app.request(`/_sim${path}`, { method: "POST", body: JSON.stringify(body) });
  assert.equal(
    (await post("/alerts", [
      REFERENCE_ALERT,
      makeAlert({ id: 2, alertedAt: "2024-01-01T00:00:00Z", intelDocId: 700 }),
    ])).status,
    200,
  );
  assert.equal(control.alertCount, 2);
  await app.request("/_sim/alerts/2", {
    method: "PATCH",
    body: JSON.stringify({ state: "inprogress" }),
  });
  assert.deepEqual((await get(`${ALERTS}?state=inprog`)).json.data, [
    {
      ...makeAlert({ id: 2, alertedAt: "2024-01-01T00:00:00Z", intelDocId: 700 }),
      state: "inprogress",
    },
  ]);
  // "=" is contains matching: "resolved" also matches "unresolved".
  assert.deepEqual(ids((await get(`${ALERTS}?state=resolved&sort=id`)).json), [1]);
  const pruned = await post("/prune", { before: "2023-12-01T00:00:00Z" });
  assert.deepEqual(await pruned.json(), { removed: 1 });
  const faults = await post("/faults", { target: "alerts", status: 500 });
  assert.equal(faults.status, 200);
  assert.equal((await get(ALERTS)).status, 500);
  const counters = await (await app.request("/_sim/counters")).json();
  assert.equal(counters.pageRequests, 3);
});

Deno.test("taniumSeed() covers the §6 data set", () => {
  const seed = taniumSeed();
  const alerts = seed.alerts;
  const bySecond = new Map<string, number>();
  for (const alert of alerts) {
    bySecond.set(alert.alertedAt, (bySecond.get(alert.alertedAt) ?? 0) + 1);
  }
  assert.ok(Math.max(...bySecond.values()) > 500);
  assert.ok(alerts.some((a) => a.state === "suppressed"));
  assert.ok(alerts.some((a) => a.details === null));
  assert.ok(
    alerts.some((a) => typeof a.details === "string" && JSON.parse(a.details).match === null),
  );
  assert.ok(
    alerts.some((a) =>
      typeof a.details === "string" && JSON.parse(a.details).match?.properties?.process?.user
    ),
  );
  assert.ok(
    alerts.some((a) =>
      typeof a.details === "string" && JSON.parse(a.details).match?.properties?.user
    ),
  );
  assert.ok(alerts.some((a) => a.computerIpAddress === ""));
  assert.ok(alerts.some((a) => String(a.computerIpAddress).includes(":")));
  assert.ok(seed.intels.some((i) => i.type === "processInjection"));
  assert.ok(seed.intels.some((i) => i.mitreAttack === undefined));
  const newest = Math.max(...alerts.map((a) => Date.parse(a.alertedAt)));
  assert.ok(seed.lateAlerts.every((a) => Date.parse(a.alertedAt) <= newest && a.id > 1000));
});

Deno.test("generateAlerts() is deterministic and puts sameSecond alerts on one instant", () => {
  const a = generateAlerts(1234, { sameSecond: 300, seed: 7 });
  assert.deepEqual(a, generateAlerts(1234, { sameSecond: 300, seed: 7 }));
  assert.notDeepEqual(a, generateAlerts(1234, { sameSecond: 300, seed: 8 }));
  const counts = new Map<string, number>();
  for (const alert of a) counts.set(alert.alertedAt, (counts.get(alert.alertedAt) ?? 0) + 1);
  assert.equal(Math.max(...counts.values()), 300);
  assert.equal(new Set(a.map((x) => x.id)).size, 1234);
  assert.equal(
    generateAlerts(10, { sameSecond: true }).every((x) => x.alertedAt === a[0]?.alertedAt),
    true,
  );
});

Deno.test("seedOpenCtiForTanium() links indicators and an observable by intel external references", async () => {
  const store = new OpenCtiStore();
  const seed = await seedOpenCtiForTanium(store, { consoleUrl: "https://c.example.com" });
  const indicator = store.get(seed.indicators[700]!);
  assert.deepEqual(indicator?.external_references, [{
    source_name: "Tanium Threat Response Intel",
    external_id: "700",
    url: "https://c.example.com/#/threatresponse/intel/700",
    description: "Intel document within the Tanium platform.",
  }]);
  assert.equal(store.get(seed.observable)?.type, "file");
  assert.ok(store.get(seed.decoy));
});
