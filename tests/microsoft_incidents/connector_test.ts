/**
 * End-to-end: Graph security simulator → microsoft-incidents connector → OpenCTI simulator, on
 * loopback, with a fake clock: paging, exactly once across runs and a restart, updates, late
 * updates, failures in the middle of a run, throttling and a missing permission.
 */
import assert from "node:assert/strict";
import { IncidentsClient } from "../../src/microsoft_incidents/client.ts";
import {
  MicrosoftIncidentsConnector,
  type MicrosoftIncidentsOptions,
  STATE_KEY,
} from "../../src/microsoft_incidents/connector.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { parseState } from "../../src/opencti/connector.ts";
import {
  type RunningGraphSecuritySim,
  sampleAlert,
  sampleIncident,
  startGraphSecuritySim,
} from "../../src/sim/graph_security.ts";
import { type OpenCtiSim, SIM_TOKEN, startOpenCtiSim } from "../../src/sim/opencti.ts";
import { indicatorId } from "../../src/stix/ids.ts";
import type { StixObject } from "../../src/stix/types.ts";
import type { Fetch } from "../../src/runtime/http.ts";
import { FakeClock } from "../runtime/fake_clock.ts";
import { FakeTokens, fakeVerifier } from "../fixtures/microsoft/sentinel/make.ts";
import {
  MICROSOFT_INCIDENTS,
  MICROSOFT_INCIDENTS_CLIENT,
  MICROSOFT_INCIDENTS_SCOPE,
  QUEUE_THRESHOLD_MB,
} from "../fixtures/settings_defaults.ts";

const CONNECTOR_ID = "5a8e6f4c-1b2d-4e3f-9a0b-1c2d3e4f5a6b";
const START = "2026-01-01T00:00:00.000Z";
const T = "#microsoft.graph.security.";

interface World {
  clock: FakeClock;
  graph: RunningGraphSecuritySim;
  opencti: OpenCtiSim;
  /** Indicators seeded in OpenCTI: one matched by STIX id, one by value. */
  indicators: { byId: string; byValue: string };
  connector(
    options?: Partial<MicrosoftIncidentsOptions>,
    fetch?: Fetch,
  ): MicrosoftIncidentsConnector;
  bundles(): StixObject[][];
  close(): Promise<void>;
}

async function world(roles = ["SecurityIncident.Read.All"], rateLimit = 600): Promise<World> {
  const clock = new FakeClock(Date.parse("2026-01-02T00:00:00Z"));
  const graph = startGraphSecuritySim({
    verify: fakeVerifier({ roles }),
    now: clock.now,
    rateLimit,
  });
  const opencti = await startOpenCtiSim();
  const indicator = async (pattern: string): Promise<StixObject> => ({
    type: "indicator",
    spec_version: "2.1",
    id: await indicatorId({ pattern }),
    created: START,
    modified: START,
    name: pattern,
    pattern,
    pattern_type: "stix",
    valid_from: START,
  });
  const byId = await indicator("[domain-name:value = 'matched-by-id.example']");
  const byValue = await indicator("[ipv4-addr:value = '203.0.113.2']");
  opencti.store.upsert(byId);
  opencti.store.upsert(byValue);
  const openctiClient = new OpenCtiClient({
    url: opencti.url,
    token: SIM_TOKEN,
    sleep: clock.sleep,
    retry: { attempts: 1, baseMs: 1 },
  });
  let bundleCounter = 0;
  return {
    clock,
    graph,
    opencti,
    indicators: { byId: byId.id, byValue: byValue.id },
    connector: (options = {}, fetch) =>
      new MicrosoftIncidentsConnector(
        new IncidentsClient({
          ...MICROSOFT_INCIDENTS_CLIENT,
          tokens: new FakeTokens(),
          resourceUrl: graph.url,
          pageSize: 2,
          maxAttempts: 3,
          now: clock.now,
          sleep: clock.sleep,
          random: () => 0.5,
          ...(fetch ? { fetch } : {}),
        }),
        openctiClient,
        {
          ...MICROSOFT_INCIDENTS,
          scope: MICROSOFT_INCIDENTS_SCOPE,
          queueThresholdMb: QUEUE_THRESHOLD_MB,
          connectorId: CONNECTOR_ID,
          importStartDate: START,
          now: clock.now,
          sleep: clock.sleep,
          random: () => 0.5,
          confidence: 80,
          uuid: () => `00000000-0000-4000-8000-${String(++bundleCounter).padStart(12, "0")}`,
          ...options,
        },
      ),
    bundles: () => opencti.control.graphql.bundles.map((b) => b.bundle.objects),
    async close() {
      await graph.close();
      await opencti.close();
    },
  };
}

/** An incident with one alert; alert n's IP evidence is 203.0.113.n. */
function incident(n: number, updated: string, extra: Record<string, unknown> = {}) {
  const at = "2026-01-01T10:00:00Z";
  return sampleIncident(String(n), at, updated, [
    sampleAlert(n, String(n), at, {
      evidence: [{ "@odata.type": `${T}ipEvidence`, ipAddress: `203.0.113.${n}` }],
      ...extra,
    }),
  ]);
}

function cases(objects: StixObject[]): StixObject[] {
  return objects.filter((o) => o.type === "case-incident");
}

/** Case-incident external ids (Microsoft incident ids) per pushed bundle. */
function incidentIdsPerBundle(w: World): string[][] {
  return w.bundles().map((objects) =>
    cases(objects).map((o) => (o.external_references as { external_id: string }[])[0]!.external_id)
  );
}

function stored(w: World): Record<string, unknown> {
  return parseState(w.opencti.control.graphql.connectors.get(CONNECTOR_ID)?.connector_state);
}

Deno.test("microsoft-incidents pages by nextLink, pushes one bundle per page in one work, and sights the indicators matched by id and by value", async () => {
  const w = await world();
  try {
    for (let n = 1; n <= 5; n++) {
      const extra = n === 1
        ? { additionalData: { IndicatorId: w.indicators.byId, SourceSystem: "OpenCTI" } }
        : {};
      w.graph.upsert(incident(n, `2026-01-01T11:00:0${n}Z`, extra));
    }
    const connector = w.connector();
    assert.equal(await connector.runOnce(), true);
    assert.deepEqual(incidentIdsPerBundle(w), [["1", "2"], ["3", "4"], ["5"]]);
    const pages = w.graph.requests.filter((r) => r.path === "/v1.0/security/incidents");
    assert.equal(pages.length, 3);
    assert.equal(pages[0]!.filter, "lastUpdateDateTime ge 2025-12-31T23:00:00.000Z");
    const works = [...w.opencti.control.graphql.works.values()];
    assert.equal(works.length, 1);
    const sightings = w.bundles().flat().filter((o) => o.type === "sighting");
    assert.deepEqual(
      sightings.map((s) => s.sighting_of_ref).sort(),
      [
        w.indicators.byId,
        w.indicators.byValue,
      ].sort(),
    );
    assert.ok(sightings.every((s) => s.confidence === 80));
    // OpenCTI stored them (refs resolved): the sightings exist in its store.
    assert.equal(w.opencti.store.list("sighting").length, 2);
    await w.opencti.control.graphql.settled();
    const errors = works.flatMap((work) => work.errors ?? []);
    assert.deepEqual(errors, []);
    assert.equal(w.opencti.store.list("case-incident").length, 5);
    const state = stored(w)[STATE_KEY] as { watermark: string; seen: unknown[] };
    assert.equal(state.watermark, "2026-01-01T11:00:05.000Z");
    assert.equal(state.seen.length, 5);
    assert.equal(connector.status().counters["sightings"], 2);
  } finally {
    await w.close();
  }
});

Deno.test("microsoft-incidents imports a same-second flood exactly once across runs and a restart, and an update after import updates the case", async () => {
  const w = await world();
  try {
    const second = "2026-01-01T12:00:00Z";
    for (let n = 1; n <= 7; n++) w.graph.upsert(incident(n, second));
    // Run 1 stops after 2 pages (4 incidents), as if the run were cut short.
    assert.equal(await w.connector({ maxPagesPerRun: 2 }).runOnce(), true);
    assert.deepEqual(incidentIdsPerBundle(w).flat(), ["1", "2", "3", "4"]);
    // A restart: a new instance reads the saved state and imports only the rest.
    const restarted = w.connector();
    assert.equal(await restarted.runOnce(), true);
    assert.deepEqual(incidentIdsPerBundle(w).flat(), ["1", "2", "3", "4", "5", "6", "7"]);
    // Nothing new: nothing pushed.
    const before = w.bundles().length;
    assert.equal(await w.connector().runOnce(), true);
    assert.equal(w.bundles().length, before);
    // Incident 3 is updated at Microsoft (same second as the flood + 30 s).
    const firstCase = cases(w.bundles().flat()).find((c) => c.name === "Microsoft incident 3")!;
    w.graph.update("3", "2026-01-01T12:00:30Z", {
      status: "resolved",
      classification: "truePositive",
    });
    assert.equal(await w.connector().runOnce(), true);
    assert.deepEqual(incidentIdsPerBundle(w).slice(before).flat(), ["3"]);
    const updated = cases(w.bundles().at(-1)!)[0]!;
    assert.equal(updated.id, firstCase.id, "same deterministic id: updated, not duplicated");
    assert.equal(updated.modified, "2026-01-01T12:00:30.000Z");
    assert.deepEqual(updated.labels, ["status:resolved", "classification:truePositive"]);
    await w.opencti.control.graphql.settled();
    assert.equal(w.opencti.store.list("case-incident").length, 7);
    assert.equal(w.opencti.store.list("incident").length, 7);
  } finally {
    await w.close();
  }
});

Deno.test("microsoft-incidents reads again inside the look-back window and imports an incident that Graph listed late", async () => {
  const w = await world();
  try {
    w.graph.upsert(incident(1, "2026-01-01T12:00:00Z"));
    assert.equal(await w.connector({ lookBackMs: 600_000 }).runOnce(), true);
    // Incident 2 was updated before the watermark but only shows up now.
    w.graph.upsert(incident(2, "2026-01-01T11:55:00Z"));
    // Incident 3 was updated before the look-back window: out of reach (documented limit).
    w.graph.upsert(incident(3, "2026-01-01T11:40:00Z"));
    assert.equal(await w.connector({ lookBackMs: 600_000 }).runOnce(), true);
    assert.deepEqual(incidentIdsPerBundle(w), [["1"], ["2"]]);
    const filters = w.graph.requests.map((r) => r.filter);
    assert.equal(filters.at(-1), "lastUpdateDateTime ge 2026-01-01T11:50:00.000Z");
  } finally {
    await w.close();
  }
});

Deno.test("microsoft-incidents holds the cursor at the last pushed page when Graph fails mid-run, reports degraded, and resumes without duplicates", async () => {
  const w = await world();
  try {
    for (let n = 1; n <= 5; n++) w.graph.upsert(incident(n, `2026-01-01T11:00:0${n}Z`));
    let failing = true;
    const flaky: Fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (failing && url.includes("%24skip=2")) {
        return Promise.resolve(new Response("{}", { status: 503 }));
      }
      return fetch(input, init);
    };
    const connector = w.connector({}, flaky);
    assert.equal(await connector.runOnce(), false);
    assert.deepEqual(incidentIdsPerBundle(w), [["1", "2"]]);
    const status = connector.status();
    assert.ok(status.degraded, "degraded while Graph fails");
    assert.match(status.degraded.reason, /503/);
    const state = stored(w)[STATE_KEY] as { watermark: string; seen: unknown[]; high?: string };
    assert.equal(state.seen.length, 2, "the pushed page is saved");
    assert.equal(state.watermark, START, "the watermark waits for a complete run");
    // The simulated platform imports pushed bundles asynchronously (as OpenCTI's workers do): the
    // work completes once its imports are processed.
    await w.opencti.control.graphql.settled();
    const work = [...w.opencti.control.graphql.works.values()][0]!;
    assert.equal(work.status, "complete");
    assert.ok((work.errors ?? []).length > 0, "the work is marked in error");

    failing = false;
    assert.equal(await connector.runOnce(), true);
    assert.equal(connector.status().degraded, undefined);
    assert.deepEqual(incidentIdsPerBundle(w).flat(), ["1", "2", "3", "4", "5"]);
  } finally {
    await w.close();
  }
});

Deno.test("microsoft-incidents waits out 429 Retry-After from Graph and completes the run", async () => {
  const w = await world(["SecurityIncident.Read.All"], 1);
  try {
    for (let n = 1; n <= 3; n++) w.graph.upsert(incident(n, `2026-01-01T11:00:0${n}Z`));
    const connector = w.connector();
    assert.equal(await connector.runOnce(), true);
    assert.deepEqual(incidentIdsPerBundle(w).flat(), ["1", "2", "3"]);
    assert.ok(w.graph.rate.refused >= 1, "Graph throttled at least once");
    assert.ok(w.clock.sleeps.some((ms) => ms >= 59_000), "waited for the Retry-After");
  } finally {
    await w.close();
  }
});

Deno.test("microsoft-incidents names the missing SecurityIncident.Read.All permission and imports nothing", async () => {
  const w = await world(["ThreatIndicators.ReadWrite.OwnedBy"]);
  try {
    w.graph.upsert(incident(1, "2026-01-01T11:00:00Z"));
    const connector = w.connector();
    assert.equal(await connector.runOnce(), false);
    const status = connector.status();
    assert.equal(status.ready, false);
    assert.match(status.reasons.join(" "), /403.*SecurityIncident\.Read\.All/);
    assert.match(status.degraded?.check ?? "", /SecurityIncident\.Read\.All/);
    assert.equal(w.bundles().length, 0);
    assert.equal(stored(w)[STATE_KEY], undefined);
  } finally {
    await w.close();
  }
});

Deno.test("microsoft-incidents start() retries a failing Graph after a jittered backoff, then returns to its period", async () => {
  const w = await world();
  try {
    w.graph.upsert(incident(1, "2026-01-01T11:00:00Z"));
    let failing = true;
    const flaky: Fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (failing && url.includes("/v1.0/security/incidents")) {
        return Promise.resolve(new Response("{}", { status: 503 }));
      }
      return fetch(input, init);
    };
    const stop = new AbortController();
    const waits: number[] = [];
    const degraded: boolean[] = [];
    const ref: { connector?: MicrosoftIncidentsConnector } = {};
    const sleep = async (ms: number, signal?: AbortSignal) => {
      if (ms >= 999_000_000) {
        return await new Promise<void>((_, reject) => {
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        }); // the heartbeat: waits until the stop
      }
      waits.push(ms);
      degraded.push(ref.connector?.status().degraded !== undefined);
      if (waits.length === 3) failing = false;
      if (waits.length === 4) stop.abort();
      await w.clock.sleep(ms, signal);
    };
    const connector = w.connector({
      periodMs: 600_000,
      backoffBaseMs: 30_000,
      pingIntervalMs: 999_999_999,
      sleep,
    }, flaky);
    ref.connector = connector;
    await connector.start(stop.signal);
    // Full jitter at random() = 0.5 under 30 s, 60 s, 120 s; then the period.
    assert.deepEqual(waits, [15_000, 30_000, 60_000, 600_000]);
    assert.deepEqual(degraded, [true, true, true, false]);
    assert.deepEqual(incidentIdsPerBundle(w), [["1"]]);
  } finally {
    await w.close();
  }
});
