/**
 * tanium-incidents delivery guarantee (issue 11), end to end against both simulators on a fake
 * clock: late alerts, look-back pruning, upgrades from older states, bundles refused as too large,
 * outages of Tanium and OpenCTI, and a poison listing request.
 */
import assert from "node:assert/strict";
import { generateAlerts, SEED_INTELS, type SimAlert } from "../../src/sim/tanium_seed.ts";
import { Metrics } from "../../src/metrics.ts";
import { parseState } from "../../src/opencti/connector.ts";
import { refsOf } from "../../src/opencti/bundle.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import type { DegradedInfo } from "../../src/runtime/degraded.ts";
import type { TaniumIncidentsConnector } from "../../src/tanium/connector.ts";
import { TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import { CONNECTOR_ID, VECTORS, type World, world } from "./helpers.ts";

const INTELS = SEED_INTELS.map((intel) => structuredClone(intel));
const HOUR = 3_600_000;
const T0 = "2024-03-01T00:00:00.000Z";

/** A clock that only moves when told to, or when something sleeps on it. */
function fakeClock(start: string) {
  let t = Date.parse(start);
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    sleep: ((ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      t += ms;
      return Promise.resolve();
    }) as Sleep,
  };
}

function storedState(w: World): Record<string, unknown> {
  return parseState(w.opencti.control.graphql.connectors.get(CONNECTOR_ID)?.connector_state);
}

/** Incident guid → number of pushes that carried it. */
function incidentCounts(w: World): Map<string, number> {
  const seen = new Map<string, number>();
  for (const objects of w.bundles()) {
    for (const o of objects) {
      if (o.type !== "incident") continue;
      const guid = (o.external_references as { external_id: string }[])[0]!.external_id;
      seen.set(guid, (seen.get(guid) ?? 0) + 1);
    }
  }
  return seen;
}

/** Every non-suppressed alert gave exactly one incident: 0 lost, 0 duplicated. */
function assertEachOnce(w: World, alerts: readonly SimAlert[]): void {
  const seen = incidentCounts(w);
  const expected = alerts.filter((a) => a.state !== "suppressed").map((a) => String(a.guid));
  assert.deepEqual([...seen].filter(([, n]) => n > 1).map(([g]) => g), [], "0 duplicated");
  assert.deepEqual(expected.filter((guid) => !seen.has(guid)), [], "0 lost");
  assert.deepEqual(
    [...seen.keys()].filter((g) => !expected.includes(g)),
    [],
    "nothing else was pushed",
  );
}

Deno.test("tanium-incidents imports alerts arriving 6 hours late exactly once, also across a restart", async () => {
  const clock = fakeClock("2024-03-01T01:00:00.000Z");
  const first = generateAlerts(200, { start: T0, seed: 21 });
  const w = await world({ alerts: first, intels: INTELS, now: clock.now }, {
    now: clock.now,
    sleep: clock.sleep,
    pageSize: 100,
  });
  try {
    assert.equal(await w.connector().runOnce(), true);
    assertEachOnce(w, first);
    const cursor = storedState(w).last_alert_date;

    // Six hours later, an endpoint that was offline reports alerts detected at 00:01, long
    // before the saved cursor, and new alerts keep coming.
    clock.advance(6 * HOUR);
    const late = w.tanium.control.addLateAlerts(30, "2024-03-01T00:01:00.000Z");
    const fresh = generateAlerts(20, { start: "2024-03-01T06:50:00.000Z", firstId: 20_000 });
    w.tanium.control.addAlerts(fresh);
    assert.ok(late.every((a) => Date.parse(a.alertedAt) < Date.parse(String(cursor))));

    const restarted = w.connector(); // a new process: only the state in OpenCTI carries over
    assert.equal(await restarted.runOnce(), true);
    assert.equal(restarted.status().counters.late_alerts, 30);
    assertEachOnce(w, [...first, ...late, ...fresh]);

    // More runs, another restart: nothing is pushed again.
    const pushes = w.bundles().length;
    assert.equal(await restarted.runOnce(), true);
    assert.equal(await w.connector().runOnce(), true);
    assert.equal(w.bundles().length, pushes);
    assertEachOnce(w, [...first, ...late, ...fresh]);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents keeps reading a state saved before the look-back existed, without re-importing", async () => {
  const clock = fakeClock("2024-03-01T02:00:00.000Z");
  const alerts = generateAlerts(120, { start: T0, seed: 22 });
  const old = alerts.slice(0, 80);
  const w = await world({ alerts, intels: INTELS, now: clock.now }, {
    now: clock.now,
    sleep: clock.sleep,
    pageSize: 50,
  });
  try {
    // An older version imported the first 80 alerts and saved only the cursor keys.
    const connector = w.connector();
    await connector.lifecycle.register();
    const last = old.at(-1)!;
    await connector.lifecycle.saveState({
      last_alert_date: last.alertedAt,
      last_alert_ids: [last.id],
    });
    assert.equal(await connector.runOnce(), true);
    assertEachOnce(w, alerts.slice(80));
    const state = storedState(w);
    assert.equal(state.last_alert_date, alerts.at(-1)!.alertedAt);
    assert.ok(typeof state.seen_alert_ids === "object", "the state gains the seen alert ids");

    // From now on a late alert inside the window is imported.
    const late = w.tanium.control.addLateAlerts(3, "2024-03-01T00:00:30.000Z");
    assert.equal(await w.connector().runOnce(), true);
    assertEachOnce(w, [...alerts.slice(80), ...late]);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents prunes the seen alert ids to the look-back window", async () => {
  const clock = fakeClock("2024-03-01T00:00:00.000Z");
  // One alert every 10 minutes for three days.
  const alerts: SimAlert[] = generateAlerts(432, { start: T0, seed: 23 }).map((alert, index) => ({
    ...alert,
    alertedAt: new Date(Date.parse(T0) + index * 600_000).toISOString(),
  }));
  const w = await world({ alerts: [], intels: INTELS, now: clock.now }, {
    now: clock.now,
    sleep: clock.sleep,
    lookbackMs: 6 * HOUR,
  });
  try {
    const sizes: number[] = [];
    for (let hour = 1; hour <= 72; hour += 6) {
      clock.advance(6 * HOUR);
      w.tanium.control.addAlerts(alerts.filter((a) => Date.parse(a.alertedAt) < clock.now()));
      const connector = w.connector();
      assert.equal(await connector.runOnce(), true);
      const state = storedState(w);
      const hours = Object.keys(state.seen_alert_ids as Record<string, string>);
      const windowStart = Date.parse(String(state.last_alert_date)) - 6 * HOUR;
      assert.ok(hours.every((h) => Date.parse(`${h}:00:00.000Z`) + HOUR > windowStart));
      assert.ok(hours.length <= 7, `at most 7 hours kept for a 6-hour window, got ${hours.length}`);
      sizes.push(JSON.stringify(state).length);
    }
    assertEachOnce(w, alerts);
    assert.ok(Math.max(...sizes) < 600, `the state stays small: ${sizes.join(", ")} bytes`);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents splits a bundle the platform refuses as too large and every object arrives once", async () => {
  const alerts = generateAlerts(100, { seed: 24 });
  const w = await world({ alerts, intels: INTELS }, { pageSize: 100 });
  try {
    // The platform's app:max_payload_body_size is far below the connector's 5 MB parts.
    w.opencti.control.graphql.maxPayloadBytes = 40_000;
    assert.equal(await w.connector().runOnce(), true);
    const bundles = w.bundles();
    assert.ok(bundles.length > 2, `split into ${bundles.length} parts`);
    assertEachOnce(w, alerts);
    const counts = new Map<string, number>();
    const firstPart = new Map<string, number>();
    bundles.forEach((objects, part) => {
      for (const o of objects) if (!firstPart.has(o.id)) firstPart.set(o.id, part);
    });
    bundles.forEach((objects, part) => {
      const ids = new Set(objects.map((o) => o.id));
      assert.ok(ids.has(VECTORS.author), "every part carries the author");
      assert.ok(ids.has(VECTORS.tlpRed), "every part carries the marking");
      for (const object of objects) {
        counts.set(object.id, (counts.get(object.id) ?? 0) + 1);
        for (const ref of refsOf(object)) {
          // A referenced object of the bundle travels in the same part or an earlier one.
          const at = firstPart.get(ref);
          assert.ok(at === undefined || at <= part, `${object.id} → ${ref} resolves`);
        }
      }
    });
    const repeated = [...counts].filter(([id, n]) =>
      n > 1 && id !== VECTORS.author && id !== VECTORS.tlpRed
    );
    assert.deepEqual(repeated, [], "every other object arrives once");
  } finally {
    await w.close();
  }
});

/** The sleep of a `start()` run on the fake clock: the heartbeat hangs, the rest moves the clock. */
function scheduleSleep(
  clock: ReturnType<typeof fakeClock>,
  options: {
    periodMs: number;
    pingMs: number;
    stopAt: number;
    controller: AbortController;
    onBackoff: (ms: number) => void;
  },
): Sleep {
  return (ms, signal) => {
    if (ms === options.pingMs) {
      // The heartbeat waits until the end.
      return new Promise((_resolve, reject) =>
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true })
      );
    }
    if (ms !== options.periodMs) options.onBackoff(ms);
    if (clock.now() >= options.stopAt) {
      options.controller.abort();
      return Promise.reject(new DOMException("stopped", "AbortError"));
    }
    return clock.sleep(ms, signal);
  };
}

const PING_MS = 987_654;

/**
 * Starts a connector on the fake clock (hourly period, a heartbeat that hangs, jitter 0.5) and
 * resolves once `stopAt` is reached; `onBackoff` sees each backoff wait with the connector.
 */
async function startHeld(
  w: World,
  clock: ReturnType<typeof fakeClock>,
  options: {
    stopAt: number;
    onBackoff: (ms: number, connector: TaniumIncidentsConnector) => void;
    metrics?: Metrics;
  },
): Promise<TaniumIncidentsConnector> {
  const controller = new AbortController();
  const ref: { connector?: TaniumIncidentsConnector } = {};
  const sleep = scheduleSleep(clock, {
    periodMs: HOUR,
    pingMs: PING_MS,
    stopAt: options.stopAt,
    controller,
    onBackoff: (ms) => options.onBackoff(ms, ref.connector!),
  });
  const connector = ref.connector = w.connector({
    now: clock.now,
    sleep,
    periodMs: HOUR,
    pingIntervalMs: PING_MS,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    random: () => 0.5,
  });
  await connector.start(controller.signal);
  return connector;
}

Deno.test("tanium-incidents holds through a 6-hour Tanium outage: degraded, then healthy, 0 lost, 0 duplicated", async () => {
  const clock = fakeClock("2024-03-01T01:00:00.000Z");
  const first = generateAlerts(50, { start: T0, seed: 25 });
  const w = await world({ alerts: first, intels: INTELS, now: clock.now });
  try {
    const outageEnd = clock.now() + 6 * HOUR;
    w.tanium.control.injectFault({ target: "any", status: 503, untilMs: outageEnd });
    // Alerts detected during the outage, some reported late.
    const during = generateAlerts(40, { start: "2024-03-01T03:00:00.000Z", firstId: 30_000 });
    w.tanium.control.addAlerts(during);
    const metrics = new Metrics();
    const backoffs: number[] = [];
    const degraded: DegradedInfo[] = [];
    const gauges: boolean[] = [];
    const connector = await startHeld(w, clock, {
      stopAt: outageEnd + 3 * HOUR,
      metrics,
      onBackoff: (ms, held) => {
        backoffs.push(ms);
        const info = held.status().degraded;
        if (info) degraded.push(info);
        gauges.push(
          /octi_connector_degraded\{connector="tanium-incidents"\} 1/.test(metrics.render()),
        );
      },
    });

    assert.ok(backoffs.length >= 70, `held with ${backoffs.length} backoff steps over 6 hours`);
    assert.ok(Math.max(...backoffs) <= 300_000, "no wait longer than TANIUM_INCIDENTS_MAX_BACKOFF");
    assert.ok(degraded.length > 0 && degraded.every((d) => d.check?.includes("TANIUM_INCIDENTS")));
    assert.equal(
      degraded[0]!.since,
      new Date(Date.parse("2024-03-01T01:00:00.000Z")).toISOString(),
    );
    assert.equal(connector.status().degraded, undefined, "healthy again");
    assert.ok(gauges.every(Boolean), "octi_connector_degraded is 1 while held");
    assert.match(metrics.render(), /octi_connector_degraded\{connector="tanium-incidents"\} 0/);
    assertEachOnce(w, [...first, ...during]);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents holds through an OpenCTI outage without moving the cursor past unpushed alerts", async () => {
  const clock = fakeClock("2024-03-01T01:00:00.000Z");
  const alerts = generateAlerts(150, { start: T0, seed: 26 });
  const w = await world({ alerts: alerts.slice(0, 100), intels: INTELS, now: clock.now }, {
    pageSize: 50,
  });
  try {
    const connector0 = w.connector({ now: clock.now, sleep: clock.sleep });
    assert.equal(await connector0.runOnce(), true);
    const before = storedState(w);
    w.tanium.control.addAlerts(alerts.slice(100));
    // OpenCTI answers 503 to everything for 6 hours.
    const outageEnd = clock.now() + 6 * HOUR;
    const graphql = w.opencti.control.graphql;
    const original = graphql.handle.bind(graphql);
    const states: unknown[] = [];
    graphql.handle = (request: Request) => {
      if (clock.now() < outageEnd) return Promise.resolve(new Response("down", { status: 503 }));
      return original(request);
    };
    const degraded: DegradedInfo[] = [];
    // The outage is on from the start: registration, runs and pings all hold.
    const connector = await startHeld(w, clock, {
      stopAt: outageEnd + 2 * HOUR,
      onBackoff: (_ms, held) => {
        states.push(storedState(w).last_alert_date);
        const info = held.status().degraded;
        if (info) degraded.push(info);
      },
    });
    assert.ok(states.every((s) => s === before.last_alert_date), "cursor held during the outage");
    assert.ok(degraded.length > 0 && degraded.every((d) => d.check?.includes("OPENCTI_URL")));
    assert.equal(connector.status().degraded, undefined);
    assertEachOnce(w, alerts);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents holds on a poison listing request (HTTP 400) and skips nothing", async () => {
  const clock = fakeClock("2024-03-01T01:00:00.000Z");
  const alerts = generateAlerts(60, { start: T0, seed: 27 });
  const w = await world({ alerts, intels: INTELS, now: clock.now }, {
    now: clock.now,
    sleep: clock.sleep,
    pageSize: 20,
  });
  try {
    w.tanium.control.injectFault({ target: "alerts", poisonAlertId: alerts[30]!.id, times: -1 });
    const connector = w.connector();
    assert.equal(await connector.runOnce(), false);
    assert.equal(storedState(w).last_alert_date, alerts[19]!.alertedAt, "held before the page");
    assert.match(connector.status().degraded?.reason ?? "", /400/);
    w.tanium.control.clearFaults();
    assert.equal(await connector.runOnce(), true);
    assert.equal(connector.status().degraded, undefined);
    assertEachOnce(w, alerts);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents holds while Tanium refuses the token (401) until it is fixed, then imports everything once", async () => {
  const clock = fakeClock("2024-03-01T01:00:00.000Z");
  const alerts = generateAlerts(40, { start: T0, seed: 28 });
  const w = await world({ alerts, intels: INTELS, now: clock.now, tokens: ["rotated-token"] });
  try {
    const fixedAt = clock.now() + 6 * HOUR;
    const degraded: DegradedInfo[] = [];
    const connector = await startHeld(w, clock, {
      stopAt: fixedAt + 2 * HOUR,
      onBackoff: (_ms, held) => {
        const info = held.status().degraded;
        if (info) degraded.push(info);
        // The operator puts the right token in Tanium's list after six hours.
        if (clock.now() >= fixedAt) w.tanium.control.tokens.add(TANIUM_SIM_TOKEN);
      },
    });
    assert.ok(degraded.length >= 70, `${degraded.length} backoff steps`);
    assert.ok(degraded.every((d) => d.check === "TANIUM_INCIDENTS_TOKEN"));
    assert.equal(connector.status().degraded, undefined);
    assert.equal(connector.status().ready, true);
    assertEachOnce(w, alerts);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents saves no look-back progress past a page whose push failed", async () => {
  const clock = fakeClock("2024-03-01T01:00:00.000Z");
  const alerts = generateAlerts(50, { start: T0, seed: 29 });
  const w = await world({ alerts, intels: INTELS, now: clock.now }, {
    now: clock.now,
    sleep: clock.sleep,
  });
  try {
    assert.equal(await w.connector().runOnce(), true);
    const before = storedState(w);
    clock.advance(6 * HOUR);
    const late = w.tanium.control.addLateAlerts(10, "2024-03-01T00:00:20.000Z");
    // Every push of the next run fails (the client's retries included).
    w.opencti.control.graphql.injectFailure({ field: "stixBundlePush", status: 500, times: -1 });
    const connector = w.connector();
    assert.equal(await connector.runOnce(), false);
    assert.deepEqual(storedState(w), before, "the state did not move");
    assert.ok(connector.status().degraded);
    w.opencti.control.graphql.clearFailures();
    assert.equal(await connector.runOnce(), true);
    assertEachOnce(w, [...alerts, ...late]);
  } finally {
    await w.close();
  }
});
