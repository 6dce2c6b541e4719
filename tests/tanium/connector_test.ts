/** End-to-end: Tanium simulator → tanium-incidents connector → OpenCTI simulator, on loopback. */
import assert from "node:assert/strict";
import {
  generateAlerts,
  REFERENCE_ALERT,
  SEED_INTELS,
  type SimAlert,
} from "../../src/sim/tanium_seed.ts";
import { Metrics } from "../../src/metrics.ts";
import { parseState } from "../../src/opencti/connector.ts";
import { relationshipId, sightingId, userAccountId } from "../../src/stix/ids.ts";
import { tlpMarking } from "../../src/stix/markings.ts";
import type { StixObject } from "../../src/stix/types.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import { SeenAlerts } from "../../src/tanium/seen.ts";
import { CONNECTOR_ID, instantSleep, VECTORS, type World, world } from "./helpers.ts";

const INTELS = SEED_INTELS.map((intel) => structuredClone(intel));

function storedState(w: World): Record<string, unknown> {
  return parseState(w.opencti.control.graphql.connectors.get(CONNECTOR_ID)?.connector_state);
}

function works(w: World) {
  return [...w.opencti.control.graphql.works.values()];
}

/** Incident guids per pushed bundle. */
function guidsPerBundle(w: World): string[][] {
  return w.bundles().map((objects) =>
    objects.filter((o) => o.type === "incident").map((o) => {
      const refs = o.external_references as { external_id: string }[];
      return refs[0]!.external_id;
    })
  );
}

/** Asserts every non-suppressed alert produced exactly one incident over all pushes. */
function assertEachOnce(w: World, alerts: readonly SimAlert[]): void {
  const seen = new Map<string, number>();
  for (const guid of guidsPerBundle(w).flat()) seen.set(guid, (seen.get(guid) ?? 0) + 1);
  const expected = alerts.filter((a) => a.state !== "suppressed").map((a) => String(a.guid));
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([guid]) => guid);
  assert.deepEqual(duplicated, [], "no alert is pushed twice");
  const missing = expected.filter((guid) => !seen.has(guid));
  assert.deepEqual(missing, [], "no alert is lost");
  assert.equal(seen.size, expected.length, "suppressed alerts give no incident");
}

Deno.test("tanium-incidents pushes the reference alert's exact bundle with the sighting, marking, work and state", async () => {
  const w = await world({ alerts: [REFERENCE_ALERT], intels: INTELS });
  try {
    const metrics = new Metrics();
    const connector = w.connector({ metrics });
    assert.equal(await connector.runOnce(), true);

    const registered = w.opencti.control.graphql.connectors.get(CONNECTOR_ID);
    assert.equal(registered?.connector_type, "EXTERNAL_IMPORT");
    assert.deepEqual(registered?.connector_scope, ["tanium"]);

    const bundles = w.bundles();
    assert.equal(bundles.length, 1);
    const objects = bundles[0]!;
    const indicator = w.seed.indicators[700]!;
    const incident = VECTORS.incident;
    const sighting = await sightingId({
      sighting_of_ref: indicator,
      where_sighted_refs: [VECTORS.author],
      first_seen: "2023-10-16T12:26:51.000Z",
      last_seen: "2023-10-16T12:26:51.000Z",
    });
    const bob = await userAccountId({ account_login: "bob" });
    const related = (source: string) =>
      relationshipId({ relationship_type: "related-to", source_ref: source, target_ref: incident });
    const expected = [
      VECTORS.tlpRed,
      VECTORS.author,
      sighting,
      incident,
      VECTORS.hostname,
      VECTORS.ipv4,
      bob,
      VECTORS.fileMd5,
      VECTORS.attackPattern,
      await relationshipId({
        relationship_type: "indicates",
        source_ref: indicator,
        target_ref: incident,
      }),
      VECTORS.hostnameRelated,
      await related(VECTORS.ipv4),
      await related(bob),
      await related(VECTORS.fileMd5),
      VECTORS.uses,
    ];
    assert.deepEqual(objects.map((o) => o.id), expected);
    assert.deepEqual(objects[0], tlpMarking("red"));
    assert.equal(objects.find((o) => o.id === VECTORS.hostnameRelated)?.target_ref, incident);

    const pushedSighting = objects.find((o) => o.type === "sighting")!;
    assert.equal(
      pushedSighting.sighting_of_ref,
      indicator,
      "never the decoy with the same number (B8)",
    );
    assert.equal(pushedSighting.first_seen, "2023-10-16T12:26:51.000Z");
    assert.equal(pushedSighting.last_seen, "2023-10-16T12:26:51.000Z");
    assert.equal(pushedSighting.count, 1);
    assert.deepEqual(pushedSighting.object_marking_refs, [VECTORS.tlpRed]);

    // The platform imported it all: sighting and relationship included (B1, B2).
    await w.opencti.control.graphql.settled();
    const stored = w.opencti.store.list("sighting");
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.first_seen, "2023-10-16T12:26:51.000Z");
    assert.deepEqual(stored[0]?.object_marking_refs, [VECTORS.tlpRed]);
    assert.ok(w.opencti.store.get(incident));

    const [work] = works(w);
    assert.equal(works(w).length, 1);
    assert.equal(work?.name, "Tanium Threat Response Incidents run @ 2024-06-10T06:00:00.000Z");
    assert.equal(work?.status, "complete");
    assert.deepEqual(work?.errors, []);
    assert.ok(
      work?.messages.some((m) =>
        m.message ===
          "Tanium Threat Response Incidents connector successfully run, storing last_alert_date as 2023-10-16T12:26:51.000Z"
      ),
    );
    assert.deepEqual(storedState(w), {
      last_alert_date: "2023-10-16T12:26:51.000Z",
      last_alert_ids: [1],
      seen_alert_ids: { "2023-10-16T12": "1" },
    });
    assert.equal(metrics.bundlesSent.get({ connector: "tanium-incidents" }), 1);
    assert.equal(metrics.recordsSent.get({ connector: "tanium-incidents" }), expected.length);
    assert.equal(metrics.runs.get({ connector: "tanium-incidents" }), 1);
    const status = connector.status();
    assert.equal(status.ready, true);
    assert.equal(status.counters.sightings, 1);
    assert.equal(status.counters.incidents, 1);

    // A second run finds nothing new and pushes nothing.
    assert.equal(await connector.runOnce(), true);
    assert.equal(w.bundles().length, 1);
    const last = w.tanium.control.requests.at(-1)!;
    assert.match(last.query, /alertedAtFrom=2023-10-16T12%3A26%3A51.000Z/);
    assert.match(last.query, /offset=1/);
    assert.equal(works(w).length, 2);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents imports 1,234 alerts with 300 in one second exactly once across runs and a restart", async () => {
  const alerts = generateAlerts(1234, { sameSecond: 300, seed: 7 });
  const w = await world({ alerts: alerts.slice(0, 700), intels: INTELS }, {
    pageSize: 100,
    maxPagesPerRun: 4,
  });
  try {
    const first = w.connector();
    assert.equal(await first.runOnce(), true);
    assert.equal(await first.runOnce(), true);
    // More alerts arrive, part of them in the burst's second, then the process restarts.
    w.tanium.control.addAlerts(alerts.slice(700));
    const second = w.connector();
    for (let run = 0; run < 3; run++) assert.equal(await second.runOnce(), true);
    assertEachOnce(w, alerts);
    const last = alerts.at(-1)!;
    const seen = new SeenAlerts();
    for (const alert of alerts) {
      seen.add({ id: alert.id, alertedAtMs: Date.parse(alert.alertedAt) });
    }
    assert.deepEqual(storedState(w), {
      last_alert_date: last.alertedAt,
      last_alert_ids: [last.id],
      seen_alert_ids: seen.toState(),
    });
    const pages = w.tanium.control.requests.filter((r) => r.path.endsWith("/alerts"));
    const forward = pages.filter((r) => !r.query.includes("alertedAtUntil"));
    assert.ok(forward.length <= 17, "no page is read forever (B5)");
    // Each run after the first re-reads its look-back window once (at most 13 pages of 100).
    assert.ok(pages.length - forward.length <= 4 * 13, "the look-back is read once per run");
    assert.equal(works(w).length, 5);
    assert.ok(works(w).every((work) => work.errors.length === 0));
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents pages past more than 500 alerts in one second with the maximum page size", async () => {
  const alerts = generateAlerts(1100, { sameSecond: true, seed: 2 });
  const w = await world({ alerts, intels: INTELS });
  try {
    assert.equal(await w.connector().runOnce(), true);
    assertEachOnce(w, alerts);
    assert.equal(w.tanium.control.counters.pageRequests, 3);
    assert.equal((storedState(w).last_alert_ids as number[]).length, 1100);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents stops at a Tanium 5xx mid-run and the next run resumes without loss or duplicates", async () => {
  const alerts = generateAlerts(450, { seed: 3 });
  const w = await world({ alerts, intels: INTELS }, { pageSize: 100 });
  try {
    // Page 3 fails on every attempt of the first run.
    w.tanium.control.injectFault({ target: "alerts", skip: 2, status: 500, times: 3 });
    const connector = w.connector();
    assert.equal(await connector.runOnce(), false);
    assert.equal(w.bundles().length, 2);
    assert.equal(storedState(w).last_alert_date, alerts[199]!.alertedAt);
    const [failed] = works(w);
    assert.equal(failed?.errors.length, 1);
    assert.match(failed?.errors[0]?.message ?? "", /run failed/);
    assert.equal(connector.status().ready, true, "a transient failure is not an auth problem");
    assert.equal(connector.status().counters.runs_failed, 1);

    assert.equal(await connector.runOnce(), true);
    assert.equal(w.bundles().length, 5, "pages 1-2 are not pushed again");
    assertEachOnce(w, alerts);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents keeps a page's handled alerts when an intel read fails mid-page", async () => {
  const alerts = generateAlerts(60, { seed: 4 });
  const w = await world({ alerts, intels: INTELS }, { pageSize: 100 });
  try {
    w.tanium.control.injectFault({ target: "intels", skip: 2, status: 503, times: 3 });
    const connector = w.connector();
    assert.equal(await connector.runOnce(), false);
    const saved = storedState(w);
    assert.equal(w.bundles().length, 1, "what the page produced before the failure is pushed");
    assert.ok(typeof saved.last_alert_date === "string");
    assert.equal(await connector.runOnce(), true);
    assertEachOnce(w, alerts);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents does not save the cursor of a page whose push failed, and pushes it once after", async () => {
  const alerts = generateAlerts(250, { seed: 5 });
  const w = await world({ alerts, intels: INTELS }, { pageSize: 100 });
  try {
    // The second stixBundlePush (and its retry) fails.
    const graphql = w.opencti.control.graphql;
    let pushes = 0;
    const original = graphql.handle.bind(graphql);
    graphql.handle = async (request: Request) => {
      const text = await request.clone().text();
      if (text.includes("stixBundlePush") && ++pushes === 2) {
        graphql.injectFailure({ field: "stixBundlePush", status: 500, times: 2 });
      }
      return original(request);
    };
    const connector = w.connector();
    assert.equal(await connector.runOnce(), false);
    assert.equal(w.bundles().length, 1);
    assert.equal(storedState(w).last_alert_date, alerts[99]!.alertedAt);
    assert.equal(works(w)[0]?.errors.length, 1);
    assert.equal(await connector.runOnce(), true);
    assert.equal(w.bundles().length, 3);
    assertEachOnce(w, alerts);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents skips a malformed alert, counts it, and never reads it again", async () => {
  const alerts = generateAlerts(30, { seed: 6 });
  const w = await world({ alerts, intels: INTELS });
  try {
    w.tanium.control.patchAlert(alerts[10]!.id, { alertedAt: "not a date", id: "x" });
    w.tanium.control.injectFault({
      target: "alerts",
      nullFields: ["details", "computerIpAddress", "matchType"],
    });
    const connector = w.connector();
    assert.equal(await connector.runOnce(), true);
    assert.equal(connector.status().counters["skipped.malformed"], 1);
    const good = alerts.filter((_, index) => index !== 10);
    assertEachOnce(w, good);
    assert.equal(storedState(w).last_alert_date, alerts.at(-1)!.alertedAt);
    assert.equal(await connector.runOnce(), true);
    assert.equal(connector.status().counters["skipped.malformed"], 1);
    assert.equal(w.bundles().length, 1);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents skips a run while the queue is above CONNECTOR_QUEUE_THRESHOLD", async () => {
  const w = await world({ alerts: [REFERENCE_ALERT], intels: INTELS }, { queueThresholdMb: 1 });
  try {
    const connector = w.connector();
    await connector.lifecycle.register();
    w.opencti.control.graphql.setQueueSize(CONNECTOR_ID, 2_000_000);
    assert.equal(await connector.runOnce(), true);
    assert.equal(w.tanium.control.counters.pageRequests, 0);
    assert.equal(works(w).length, 0);
    assert.equal(connector.status().counters["skipped.buffering"], 1);
    assert.equal(w.opencti.control.graphql.pings.at(-1)?.connectorInfo?.buffering, true);
    w.opencti.control.graphql.setQueueSize(CONNECTOR_ID, 100_000);
    assert.equal(await connector.runOnce(), true);
    assert.equal(w.bundles().length, 1);
    assert.equal(w.opencti.control.graphql.pings.at(-1)?.connectorInfo?.buffering, false);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents with import_alerts=false pushes sightings only and reads no intel", async () => {
  const alerts = generateAlerts(40, { seed: 8 });
  const w = await world({ alerts, intels: INTELS }, { importAlerts: false });
  try {
    assert.equal(await w.connector().runOnce(), true);
    const types = new Set(w.bundles().flat().map((o: StixObject) => o.type));
    assert.deepEqual([...types].sort(), ["identity", "marking-definition", "sighting"]);
    assert.equal(w.tanium.control.counters.intelRequests, 0);
    const sightings = w.bundles().flat().filter((o) => o.type === "sighting");
    const linked = alerts.filter((a) =>
      a.state !== "suppressed" && [700, 701, 702].includes(Number(a.intelDocId))
    );
    assert.equal(
      sightings.length,
      new Set(linked.map((a) => `${a.intelDocId}@${a.alertedAt}`)).size,
    );
    assert.equal(
      storedState(w).last_alert_date,
      alerts.at(-1)!.alertedAt,
      "the cursor passes alerts without output (B6)",
    );
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents goes back to the start date after a remote state reset", async () => {
  const w = await world({ alerts: [REFERENCE_ALERT], intels: INTELS }, {
    importStartDate: "2023-10-01T00:00:00.000Z",
  });
  try {
    const connector = w.connector();
    assert.equal(await connector.runOnce(), true);
    w.opencti.control.graphql.resetState(CONNECTOR_ID);
    await connector.lifecycle.ping();
    assert.deepEqual(connector.lifecycle.state, {});
    assert.equal(await connector.runOnce(), true);
    const [first, second] = w.tanium.control.requests.filter((r) => r.path.endsWith("/alerts"));
    assert.match(first!.query, /alertedAtFrom=2023-10-01T00%3A00%3A00.000Z/);
    assert.match(second!.query, /alertedAtFrom=2023-10-01T00%3A00%3A00.000Z/);
    assert.equal(w.bundles().length, 2);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents starts from now minus one year without state or start date", async () => {
  const w = await world({ alerts: [] }, { importStartDate: undefined });
  try {
    const connector = w.connector({ now: () => Date.parse("2024-06-10T06:00:00.000Z") });
    assert.equal(await connector.runOnce(), true);
    assert.match(w.tanium.control.requests[0]!.query, /alertedAtFrom=2023-06-11T06%3A00%3A00.000Z/);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents reads an upstream state written in Python isoformat", async () => {
  const alerts = generateAlerts(5, { start: "2023-10-16T12:26:50.000Z", seed: 9 });
  const w = await world({ alerts, intels: INTELS });
  try {
    const connector = w.connector();
    await connector.lifecycle.register();
    await connector.lifecycle.saveState({ last_alert_date: "2023-10-16T12:26:51+00:00" });
    assert.equal(await connector.runOnce(), true);
    // The look-back window first (the day before the cursor), then forward from the cursor.
    assert.match(
      w.tanium.control.requests[0]!.query,
      /alertedAtFrom=2023-10-15T12%3A26%3A51.000Z&.*alertedAtUntil=2023-10-16T12%3A26%3A51.000Z/,
    );
    assert.match(w.tanium.control.requests[1]!.query, /alertedAtFrom=2023-10-16T12%3A26%3A51.000Z/);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents reports an auth failure as not ready and a failed run", async () => {
  const w = await world({ alerts: [REFERENCE_ALERT], expiredTokens: [], tokens: ["other"] });
  try {
    const connector = w.connector();
    assert.equal(await connector.runOnce(), false);
    const status = connector.status();
    assert.equal(status.ready, false);
    assert.ok(status.reasons.some((r) => r.startsWith("TANIUM_INCIDENTS_TOKEN rejected")));
    assert.equal(works(w)[0]?.errors.length, 1);
  } finally {
    await w.close();
  }
});

Deno.test("tanium-incidents start() runs at once, then skips a later run while buffering", async () => {
  const w = await world({ alerts: [REFERENCE_ALERT], intels: INTELS }, {
    periodMs: 3_600_000,
    queueThresholdMb: 1,
  });
  try {
    const controller = new AbortController();
    const periods: number[] = [];
    const sleep: Sleep = (ms, signal) => {
      if (ms !== 3_600_000) {
        // The heartbeat waits until the end.
        return new Promise((_resolve, reject) =>
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true })
        );
      }
      periods.push(ms);
      if (periods.length === 2) controller.abort();
      return instantSleep(ms, signal);
    };
    const connector = w.connector({ sleep });
    const started = connector.lifecycle.register().then(() =>
      w.opencti.control.graphql.setQueueSize(CONNECTOR_ID, 5_000_000)
    );
    await started;
    await connector.start(controller.signal);
    assert.equal(w.bundles().length, 1, "the first run ignores the queue");
    assert.equal(connector.status().counters["skipped.buffering"], 1);
    assert.equal(connector.status().state, "stopped");
  } finally {
    await w.close();
  }
});
