import assert from "node:assert/strict";
import {
  IntelCache,
  TaniumAuthError,
  TaniumClient,
  TaniumForbiddenError,
  TaniumResponseError,
} from "../../src/tanium/client.ts";
import { HttpError } from "../../src/runtime/errors.ts";
import { startTaniumSim, TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import { generateAlerts, REFERENCE_ALERT, REFERENCE_INTEL } from "../../src/sim/tanium_seed.ts";
import { instantSleep } from "./helpers.ts";

function client(url: string, token = TANIUM_SIM_TOKEN): TaniumClient {
  return new TaniumClient({ url: `${url}/`, token, sleep: instantSleep, retry: { baseMs: 1 } });
}

Deno.test("TaniumClient.alertsUrl() sends sort with the id tie-breaker, limit, offset and an encoded +", () => {
  const c = new TaniumClient({ url: "https://t.example.com/", token: "t" });
  const url = new URL(
    c.alertsUrl({ alertedAtFrom: "2023-10-16T12:26:51+00:00", limit: 500, offset: 20 }),
  );
  assert.equal(url.pathname, "/plugin/products/threat-response/api/v1/alerts");
  assert.match(url.search, /alertedAtFrom=2023-10-16T12%3A26%3A51%2B00%3A00/);
  assert.equal(url.searchParams.get("alertedAtFrom"), "2023-10-16T12:26:51+00:00");
  assert.equal(url.searchParams.get("sort"), "alertedAt,id");
  assert.equal(url.searchParams.get("limit"), "500");
  assert.equal(url.searchParams.get("offset"), "20");
  assert.throws(() => c.alertsUrl({ alertedAtFrom: "x", limit: 501 }), RangeError);
  assert.throws(() => c.alertsUrl({ alertedAtFrom: "x", limit: 0 }), RangeError);
});

Deno.test("TaniumClient.listAlerts() sends the session header and reads the page in order", async () => {
  const sim = startTaniumSim({ alerts: [REFERENCE_ALERT, ...generateAlerts(3)] });
  try {
    const page = await client(sim.url).listAlerts({
      alertedAtFrom: "2023-10-16T12:26:51+00:00",
      limit: 2,
    });
    assert.equal(page.size, 2);
    assert.deepEqual(page.alerts.map((a) => a.id), [1, 10000]);
    assert.equal(page.totalCount, 4);
    assert.equal(page.filteredCount, 4);
    assert.equal(sim.control.counters.pageRequests, 1);
  } finally {
    await sim.close();
  }
});

Deno.test("TaniumClient.listAlerts() reports malformed items without losing the others", async () => {
  const sim = startTaniumSim({ alerts: generateAlerts(3) });
  sim.control.patchAlert(10001, { id: "oops" });
  try {
    const page = await client(sim.url).listAlerts({
      alertedAtFrom: "2020-01-01T00:00:00Z",
      limit: 10,
    });
    assert.equal(page.size, 3);
    assert.deepEqual(page.alerts.map((a) => a.id), [10000, 10002]);
    assert.equal(page.malformed[0]?.rawId, "oops");
  } finally {
    await sim.close();
  }
});

Deno.test("TaniumClient throws TaniumAuthError with the documented advice on 401", async () => {
  const sim = startTaniumSim({ alerts: [REFERENCE_ALERT] });
  try {
    await assert.rejects(
      client(sim.url, "wrong").listAlerts({ alertedAtFrom: "2020-01-01T00:00:00Z", limit: 1 }),
      (error: unknown) =>
        error instanceof TaniumAuthError &&
        error.message.startsWith(
          "TANIUM_INCIDENTS_TOKEN rejected (expired, or this machine's IP is not in the token's trusted list)",
        ),
    );
    assert.equal(sim.control.counters.pageRequests, 0, "401 is not retried");
  } finally {
    await sim.close();
  }
});

Deno.test("TaniumClient throws TaniumForbiddenError naming the persona's rights on 403", async () => {
  const sim = startTaniumSim({ expiredTokens: ["old"] });
  try {
    await assert.rejects(
      client(sim.url, "old").getIntel(700),
      (error: unknown) => error instanceof TaniumForbiddenError && /persona/.test(error.message),
    );
  } finally {
    await sim.close();
  }
});

Deno.test("TaniumClient retries 5xx and 429 and then succeeds", async () => {
  const sim = startTaniumSim({ alerts: [REFERENCE_ALERT] });
  sim.control.injectFault({ target: "alerts", status: 503 });
  sim.control.injectFault({ target: "alerts", status: 429, retryAfter: "0" });
  try {
    const page = await client(sim.url).listAlerts({
      alertedAtFrom: "2020-01-01T00:00:00Z",
      limit: 5,
    });
    assert.equal(page.alerts.length, 1);
    assert.equal(sim.control.counters.pageRequests, 3);
  } finally {
    await sim.close();
  }
});

Deno.test("TaniumClient gives up after its attempts with the last HTTP error", async () => {
  const sim = startTaniumSim({ alerts: [REFERENCE_ALERT] });
  sim.control.injectFault({ target: "alerts", status: 500, times: -1 });
  try {
    await assert.rejects(
      client(sim.url).listAlerts({ alertedAtFrom: "2020-01-01T00:00:00Z", limit: 5 }),
      (error: unknown) => error instanceof HttpError && error.status === 500,
    );
    assert.equal(sim.control.counters.pageRequests, 4);
  } finally {
    await sim.close();
  }
});

Deno.test("TaniumClient retries a truncated JSON body", async () => {
  const sim = startTaniumSim({ alerts: [REFERENCE_ALERT] });
  sim.control.injectFault({ target: "alerts", truncate: true });
  try {
    const page = await client(sim.url).listAlerts({
      alertedAtFrom: "2020-01-01T00:00:00Z",
      limit: 5,
    });
    assert.equal(page.alerts.length, 1);
    assert.equal(sim.control.counters.pageRequests, 2);
    sim.control.injectFault({ target: "alerts", truncate: true, times: -1 });
    await assert.rejects(
      client(sim.url).listAlerts({ alertedAtFrom: "2020-01-01T00:00:00Z", limit: 5 }),
      (error: unknown) => error instanceof TaniumResponseError && error.kind === "invalid-json",
    );
  } finally {
    await sim.close();
  }
});

Deno.test("TaniumClient times out a slow answer and retries it", async () => {
  // The simulator's delay lasts until the test releases it (no real sleeping).
  const held: (() => void)[] = [];
  const hold = (_ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      held.push(resolve);
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
  const sim = startTaniumSim({ alerts: [REFERENCE_ALERT], sleep: hold });
  sim.control.injectFault({ target: "alerts", delayMs: 60_000 });
  const c = new TaniumClient({
    url: sim.url,
    token: TANIUM_SIM_TOKEN,
    sleep: instantSleep,
    timeoutMs: 20,
    retry: { baseMs: 1 },
  });
  try {
    const page = await c.listAlerts({ alertedAtFrom: "2020-01-01T00:00:00Z", limit: 5 });
    assert.equal(page.alerts.length, 1);
    assert.equal(sim.control.counters.pageRequests, 2);
  } finally {
    for (const release of held) release();
    await sim.close();
  }
});

Deno.test("IntelCache reads each intel document once per run, 404 included", async () => {
  const sim = startTaniumSim({ intels: [REFERENCE_INTEL] });
  try {
    const cache = new IntelCache(client(sim.url));
    const [a, b] = await Promise.all([cache.get(700), cache.get(700)]);
    assert.equal(a?.name, "Testing eicar");
    assert.equal(b, a);
    assert.equal(await cache.get(999), undefined);
    assert.equal(await cache.get(999), undefined);
    assert.deepEqual(sim.control.counters.intelRequestsById, { "700": 1, "999": 1 });
  } finally {
    await sim.close();
  }
});
