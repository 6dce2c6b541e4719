/** The demo's parts: its configuration, the routed fetch, and the summary's verdicts. */
import assert from "node:assert/strict";
import { resolveConfig } from "../../src/config/mod.ts";
import {
  DEMO_MS_INCIDENTS_ID,
  DEMO_SENTINEL_ID,
  DEMO_TANIUM_ID,
  demoEnv,
  routedFetch,
  startDemoSims,
  summaryProblems,
  type SummaryReport,
} from "../../src/demo/mod.ts";

Deno.test("demoEnv() gives the real configuration loader the three connectors pointed at the simulators", async () => {
  const sims = await startDemoSims({ target: "sentinel" });
  try {
    const { config } = resolveConfig({}, demoEnv(sims, { serverPort: "0" }));
    assert.deepEqual(config.connectors, [
      "sentinel",
      "tanium-incidents",
      "microsoft-incidents",
      "tanium-intel",
    ]);
    assert.equal(config.taniumIntel?.url, sims.tanium.url);
    assert.equal(config.taniumIntel?.connector.liveStream.id, "live-indicators");
    assert.equal(config.microsoftIncidents?.connector.id, DEMO_MS_INCIDENTS_ID);
    assert.equal(config.microsoftIncidents?.clientId, config.sentinel?.clientId);
    assert.equal(
      config.microsoftIncidents?.incidentPath,
      `${sims.incidents.url}/v1.0/security/incidents`,
    );
    assert.equal(config.microsoftIncidents?.resourceUrl, "https://graph.microsoft.com");
    assert.equal(config.opencti.url, sims.stack.opencti.url);
    assert.equal(config.sentinel?.target, "sentinel");
    assert.equal(config.sentinel?.connector.id, DEMO_SENTINEL_ID);
    assert.equal(config.sentinel?.loginUrl, sims.stack.entra.url);
    assert.ok(config.sentinel?.sentinelApi.workspace, "the workspace is configured");
    assert.equal(config.taniumIncidents?.url, sims.tanium.url);
    assert.equal(config.taniumIncidents?.connector.id, DEMO_TANIUM_ID);
    assert.equal(config.server.port, 0);
    assert.equal(config.server.host, "127.0.0.1");
    assert.equal(sims.routes["https://management.azure.com"], sims.stack.targetUrl);
    assert.equal(sims.routes["https://api.ti.sentinel.azure.com"], sims.stack.targetUrl);
  } finally {
    await sims.close();
  }
});

Deno.test("routedFetch() sends routed origins to their simulator with path and query, others unchanged", async () => {
  const seen: string[] = [];
  const base = (input: string | URL | Request) => {
    seen.push(input instanceof Request ? `${input.method} ${input.url}` : `GET ${input}`);
    return Promise.resolve(new Response("ok"));
  };
  const fetch = routedFetch({ "https://graph.microsoft.com": "http://127.0.0.1:4000" }, {
    fetch: base,
  });
  await fetch("https://graph.microsoft.com/beta/security/tiIndicators?$filter=a%20eq%20'b'");
  await fetch(new Request("https://graph.microsoft.com/beta/x", { method: "POST", body: "{}" }));
  await fetch("https://login.microsoftonline.com/t/oauth2/v2.0/token");
  assert.deepEqual(seen, [
    // As fetch itself would send it: the URL parser encodes ' in a query.
    "GET http://127.0.0.1:4000/beta/security/tiIndicators?$filter=a%20eq%20%27b%27",
    "POST http://127.0.0.1:4000/beta/x",
    "GET https://login.microsoftonline.com/t/oauth2/v2.0/token",
  ]);
});

function report(overrides: Partial<SummaryReport> = {}): SummaryReport {
  return {
    summary: {
      target: "graph",
      sentinel: { expected: 10, present: 10, duplicates: 0, skipped: { expired: 1 } },
      tanium: { alerts: 12, incidents: 10, sightings: 4, bundles: 1, works: 1 },
      microsoft_incidents: { incidents: 3, alerts: 5, sightings: 3, bundles: 1, works: 1 },
      tanium_intel: { documents: 5, sightings_linked: 2 },
    },
    missing: [],
    unexpected: [],
    unfinishedWorks: [],
    indicators: 14,
    importable: 10,
    msIncidentsServed: 3,
    unsighted: [],
    sightedNotInTarget: [],
    msUnfinishedWorks: [],
    ...overrides,
  };
}

Deno.test("summaryProblems() accepts a run where the target matches OpenCTI and every alert was imported", () => {
  assert.deepEqual(summaryProblems(report()), []);
});

Deno.test("summaryProblems() names missing, stale and duplicate records and unimported alerts", () => {
  const bad = report({
    missing: ["indicator--a 1.2.3.4"],
    unexpected: ["indicator--b evil.example"],
    importable: 11,
    unfinishedWorks: ["work_1 (progress, 0 errors)"],
  });
  bad.summary.sentinel.duplicates = 2;
  const problems = summaryProblems(bad);
  assert.equal(problems.length, 5, problems.join("\n"));
  assert.match(problems[0] ?? "", /1 records missing from graph: indicator--a 1\.2\.3\.4/);
  assert.match(problems[1] ?? "", /no longer wants there: indicator--b evil\.example/);
  assert.match(problems[2] ?? "", /2 duplicate records/);
  assert.match(problems[3] ?? "", /11 Tanium alerts to import .* but 10 incidents/);
  assert.match(problems[4] ?? "", /unfinished tanium-incidents works/);
});

Deno.test("summaryProblems() names Microsoft incidents not imported, indicators not sighted and sightings of indicators the target does not hold", () => {
  const bad = report({
    msIncidentsServed: 4,
    unsighted: ["indicator--c"],
    sightedNotInTarget: ["indicator--d"],
    msUnfinishedWorks: ["work_2 (progress, 0 errors)"],
  });
  const problems = summaryProblems(bad);
  assert.equal(problems.length, 4, problems.join("\n"));
  assert.match(problems[0] ?? "", /4 Microsoft incidents served but 3 case-incidents/);
  assert.match(problems[1] ?? "", /unfinished microsoft-incidents works/);
  assert.match(problems[2] ?? "", /without a sighting: indicator--c/);
  assert.match(problems[3] ?? "", /graph does not hold: indicator--d/);
});
