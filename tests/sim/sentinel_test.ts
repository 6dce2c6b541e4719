import assert from "node:assert/strict";
import {
  ARM_TI_API_VERSION,
  createSentinelSimApp,
  DEFAULT_SIM_WORKSPACE,
  type SentinelSim,
  type SentinelSimOptions,
  UPLOAD_API_VERSION,
  validateStix,
} from "../../src/sim/sentinel.ts";
import { FakeClock } from "../runtime/fake_clock.ts";
import { fakeVerifier, indicatorId, makeIndicator } from "../fixtures/microsoft/sentinel/make.ts";
import { toSentinelObject } from "../../src/microsoft/sentinel_stix_mapping.ts";
import { TEST_NOW } from "../fixtures/settings_defaults.ts";

const WS = DEFAULT_SIM_WORKSPACE;
const UPLOAD =
  `/workspaces/${WS.workspaceId}/threat-intelligence-stix-objects:upload?api-version=${UPLOAD_API_VERSION}`;
const ARM =
  `/subscriptions/${WS.subscriptionId}/resourceGroups/${WS.resourceGroup}/providers/Microsoft.OperationalInsights/workspaces/${WS.workspaceName}/providers/Microsoft.SecurityInsights/threatIntelligence/main`;

function sim(options: Partial<SentinelSimOptions> = {}): SentinelSim {
  return createSentinelSimApp({ verify: fakeVerifier(), ...options });
}

function object(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const mapped = toSentinelObject(makeIndicator(n), { now: TEST_NOW });
  assert(mapped.ok);
  return { ...mapped.object, ...extra };
}

function post(s: SentinelSim, path: string, body: unknown, token = "token-1") {
  return s.app.request(path, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("Sentinel sim answers 401 in ARM's shape without a valid bearer token", async () => {
  const s = sim({ verify: fakeVerifier({ refuse: ["token-9"] }) });
  const none = await s.app.request(UPLOAD, { method: "POST", body: "{}" });
  assert.equal(none.status, 401);
  assert.equal((await none.json()).error.code, "InvalidAuthenticationToken");
  const refused = await post(s, UPLOAD, {}, "token-9");
  assert.equal(refused.status, 401);
});

Deno.test("Sentinel sim accepts a valid upload with an empty 200 and stores it by source and id", async () => {
  const s = sim();
  const response = await post(s, UPLOAD, { sourcesystem: "OpenCTI", stixobjects: [object(1)] });
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "");
  assert.deepEqual(s.store().map((r) => [r.source, r.object.id]), [["OpenCTI", indicatorId(1)]]);
});

Deno.test("Sentinel sim refuses malformed upload requests with 400", async () => {
  const s = sim();
  const cases: [string, unknown][] = [
    [UPLOAD, "{not json"],
    [UPLOAD, { stixobjects: [object(1)] }],
    [UPLOAD, { sourcesystem: "Microsoft Sentinel", stixobjects: [object(1)] }],
    [UPLOAD, { sourcesystem: "OpenCTI", stixobjects: [] }],
    [
      UPLOAD,
      {
        sourcesystem: "OpenCTI",
        stixobjects: Array.from({ length: 101 }, (_, i) => object(i + 1)),
      },
    ],
    [UPLOAD.replace(UPLOAD_API_VERSION, "2022-07-01"), {
      sourcesystem: "OpenCTI",
      stixobjects: [object(1)],
    }],
  ];
  for (const [path, body] of cases) {
    const response = await post(s, path, body);
    assert.equal(response.status, 400, JSON.stringify(body).slice(0, 80));
    await response.body?.cancel();
  }
  assert.equal(s.store().length, 0);
});

Deno.test("Sentinel sim reports invalid records in a 200 and answers 400 when none is valid", async () => {
  const s = sim();
  const bad = object(2);
  delete bad.id;
  const partial = await post(s, UPLOAD, {
    sourcesystem: "OpenCTI",
    stixobjects: [object(1), bad, object(3, { pattern_type: undefined })],
  });
  assert.equal(partial.status, 200);
  assert.deepEqual(await partial.json(), {
    errors: [
      {
        recordIndex: 1,
        errorMessages: ["Error for Property=id: Required property is missing. Actual value: NULL."],
      },
      {
        recordIndex: 2,
        errorMessages: [
          "Error for Property=pattern_type: Required property is missing. Actual value: NULL.",
        ],
      },
    ],
  });
  const none = await post(s, UPLOAD, { sourcesystem: "OpenCTI", stixobjects: [bad] });
  assert.equal(none.status, 400);
  assert.equal((await none.json()).errors[0].recordIndex, 0);
  assert.deepEqual(s.store().map((r) => r.object.id), [indicatorId(1)]);
});

Deno.test("validateStix() checks ids, timestamps and indicator fields", () => {
  assert.deepEqual(validateStix(object(1)), []);
  assert.match(validateStix(object(1, { id: "malware--x" }))[0] ?? "", /Property=id/);
  assert.match(
    validateStix(object(1, { id: indicatorId(1).replace("indicator", "malware") }))[0] ?? "",
    /prefix does not match/,
  );
  assert.match(validateStix(object(1, { modified: "yesterday" }))[0] ?? "", /Property=modified/);
  assert.match(validateStix(object(1, { confidence: 101 }))[0] ?? "", /Property=confidence/);
  assert.match(validateStix(object(1, { pattern: "ipv4-addr:value = '1'" }))[0] ?? "", /pattern/);
});

Deno.test("Sentinel sim answers 404 for an unknown workspace and 403 without the Contributor role", async () => {
  const s = sim({ workspaces: [{ ...WS, contributors: ["someone-else"] }] });
  const body = { sourcesystem: "OpenCTI", stixobjects: [object(1)] };
  const unknown = await post(s, UPLOAD.replace(WS.workspaceId, crypto.randomUUID()), body);
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();
  const denied = await post(s, UPLOAD, body);
  assert.equal(denied.status, 403);
  assert.match((await denied.json()).error.message, /Microsoft Sentinel Contributor/);
});

Deno.test("Sentinel sim throttles at its limit with the 'Try again in N seconds' body", async () => {
  const clock = new FakeClock();
  const s = sim({ rateLimit: 2, now: clock.now });
  const body = { sourcesystem: "OpenCTI", stixobjects: [object(1)] };
  for (let i = 0; i < 2; i++) assert.equal((await post(s, UPLOAD, body)).status, 200);
  clock.advance(15_000);
  const throttled = await post(s, UPLOAD, body);
  assert.equal(throttled.status, 429);
  assert.equal(throttled.headers.get("retry-after"), null);
  assert.deepEqual(await throttled.json(), {
    statusCode: 429,
    message: "Rate limit is exceeded. Try again in 45 seconds.",
  });
  clock.advance(45_000);
  assert.equal((await post(s, UPLOAD, body)).status, 200);
});

Deno.test("Sentinel sim ignores an older version of a stored object", async () => {
  const s = sim();
  const newer = object(1, { modified: "2024-08-01T00:00:00.000Z", name: "new" });
  const older = object(1, { modified: "2024-07-01T00:00:00.000Z", name: "old" });
  await post(s, UPLOAD, { sourcesystem: "OpenCTI", stixobjects: [newer] });
  await post(s, UPLOAD, { sourcesystem: "OpenCTI", stixobjects: [older] });
  assert.deepEqual(s.store().map((r) => r.object.name), ["new"]);
});

Deno.test("Sentinel sim's ARM query matches id and source exactly and DELETE removes the row", async () => {
  const s = sim();
  await post(s, UPLOAD, { sourcesystem: "OpenCTI", stixobjects: [object(1), object(2)] });
  await post(s, UPLOAD, { sourcesystem: "Other", stixobjects: [object(1)] });
  const query = (clauses: unknown[], connective = "And") =>
    post(s, `${ARM}/query?api-version=${ARM_TI_API_VERSION}`, {
      condition: { stixObjectType: "indicator", conditionConnective: connective, clauses },
    });
  const exact = await query([
    { field: "id", operator: "Equals", values: [indicatorId(1)] },
    { field: "source", operator: "Equals", values: ["OpenCTI"] },
  ]);
  assert.equal(exact.status, 200);
  const { value } = await exact.json();
  assert.equal(value.length, 1);
  assert.match(value[0].id, new RegExp(`^${ARM}/indicators/`));
  const either = await query([
    { field: "id", operator: "Equals", values: [indicatorId(2)] },
    { field: "source", operator: "Equals", values: ["Other"] },
  ], "Or");
  assert.equal((await either.json()).value.length, 2);
  const fuzzy = await query([{ field: "id", operator: "Contains", values: ["indicator"] }]);
  assert.equal(fuzzy.status, 400);
  await fuzzy.body?.cancel();

  const del = (path: string, version = ARM_TI_API_VERSION) =>
    s.app.request(`${path}?api-version=${version}`, {
      method: "DELETE",
      headers: { authorization: "Bearer token-1" },
    });
  const wrongVersion = await del(value[0].id, "2025-03-01");
  assert.equal(wrongVersion.status, 400);
  await wrongVersion.body?.cancel();
  assert.equal((await del(value[0].id)).status, 200);
  const again = await del(value[0].id);
  assert.equal(again.status, 404);
  await again.body?.cancel();
  assert.deepEqual(s.store().map((r) => `${r.source}/${r.object.id}`).sort(), [
    `OpenCTI/${indicatorId(2)}`,
    `Other/${indicatorId(1)}`,
  ]);
});

Deno.test("Sentinel sim injects whole-request failures", async () => {
  const s = sim();
  s.failures.failNext(503, 1);
  const failed = await post(s, UPLOAD, { sourcesystem: "OpenCTI", stixobjects: [object(1)] });
  assert.equal(failed.status, 503);
  await failed.body?.cancel();
  assert.equal(s.store().length, 0);
});

Deno.test("Sentinel sim pages the ARM query: maxPageSize, then a GET on nextLink; bad paging is a 400", async () => {
  const s = sim();
  const upload = await post(s, UPLOAD, {
    sourcesystem: "OpenCTI",
    stixobjects: [1, 2, 3, 4, 5].map((n) => object(n)),
  });
  assert.equal(upload.status, 200);
  const query = `${ARM}/query?api-version=${ARM_TI_API_VERSION}`;
  const condition = {
    stixObjectType: "indicator",
    conditionConnective: "And",
    clauses: [{ field: "source", operator: "Equals", values: ["OpenCTI"] }],
  };
  const ids: string[] = [];
  const first = await post(s, query, { condition, maxPageSize: 2 });
  assert.equal(first.status, 200);
  let page = await first.json() as {
    value: { properties: { stixObject: { id: string } } }[];
    nextLink?: string;
  };
  let pages = 1;
  while (true) {
    ids.push(...page.value.map((v) => v.properties.stixObject.id));
    if (!page.nextLink) break;
    const next = new URL(page.nextLink);
    const response = await s.app.request(`${next.pathname}${next.search}`, {
      headers: { authorization: "Bearer token-1" },
    });
    assert.equal(response.status, 200);
    page = await response.json();
    pages++;
  }
  assert.equal(pages, 3);
  assert.deepEqual(ids.sort(), [1, 2, 3, 4, 5].map((n) => indicatorId(n)).sort());

  for (const size of [0, 1.5, "10", 10_001]) {
    assert.equal((await post(s, query, { condition, maxPageSize: size })).status, 400, `${size}`);
  }
  const bad = await s.app.request(`${ARM}/query?api-version=${ARM_TI_API_VERSION}&$skipToken=x:2`, {
    headers: { authorization: "Bearer token-1" },
  });
  assert.equal(bad.status, 400);
});

Deno.test("Sentinel sim seedUploaded() stores what an upload stores and refuses what it refuses", async () => {
  const viaApi = sim();
  const seeded = sim();
  const objects = [object(1), object(2), object(1, { description: "newer" })];
  const response = await post(viaApi, UPLOAD, { sourcesystem: "OpenCTI", stixobjects: objects });
  assert.equal(response.status, 200);
  await response.body?.cancel();
  seeded.seedUploaded(objects, "OpenCTI", { appid: "app-1" });
  const stored = (s: SentinelSim) => s.store().map(({ name: _name, ...row }) => row);
  assert.deepEqual(stored(seeded), stored(viaApi));
  assert.throws(() =>
    seeded.seedUploaded([object(3, { id: "not-an-id" })], "OpenCTI", {
      appid: "app-1",
    })
  );
  assert.throws(() => seeded.seedUploaded([object(3)], "Microsoft Sentinel", { appid: "app-1" }));
  assert.equal(seeded.store().length, 2);
});
