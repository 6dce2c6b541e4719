/** The microsoft-incidents options: how it is enabled, its credentials, id and each variable. */
import assert from "node:assert/strict";
import type { Config } from "../../src/config/mod.ts";
import { derivedConnectorId } from "../../src/microsoft_incidents/settings.ts";
import { IDS, problemsOf, sentinelEnv, valid } from "./helpers.ts";

const MI_ID = "66666666-7777-4888-8999-aaaaaaaaaaaa";
const M = (c: Config) => c.microsoftIncidents!;

/** sentinel plus microsoft-incidents with its own id. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  const { CONNECTOR_ID: _id, ...rest } = sentinelEnv();
  return {
    ...rest,
    CONNECTORS: "sentinel,microsoft-incidents",
    SENTINEL_CONNECTOR_ID: IDS.sentinel,
    MICROSOFT_INCIDENTS_CONNECTOR_ID: MI_ID,
    ...extra,
  };
}

Deno.test("resolveConfig() runs microsoft-incidents with sentinel's credentials and the documented defaults", () => {
  const { config, warnings } = valid(env());
  assert.deepEqual(config.connectors, ["sentinel", "microsoft-incidents"]);
  const m = M(config);
  assert.equal(m.connector.id, MI_ID);
  assert.equal(m.connector.type, "EXTERNAL_IMPORT");
  assert.equal(m.connector.name, "Microsoft Incidents");
  assert.deepEqual(m.connector.scope, ["microsoft-incidents"]);
  assert.equal(m.connector.periodMs, 300_000);
  assert.equal(m.tenantId, IDS.tenant);
  assert.equal(m.clientId, IDS.client);
  assert.equal(m.credential.kind, "secret");
  assert.equal(m.resourceUrl, "https://graph.microsoft.com");
  assert.equal(m.incidentPath, "/v1.0/security/incidents");
  assert.equal(m.tlp, "red");
  assert.equal(m.matchByValue, true);
  assert.equal(m.lookBackMs, 3_600_000);
  assert.equal(m.pageSize, 50);
  assert.equal(m.confidence, undefined);
  assert.equal(m.importStartDate, undefined);
  assert.deepEqual(warnings.filter((w) => /microsoft-incidents/.test(w)), []);
});

Deno.test("resolveConfig() enables microsoft-incidents with the seed's IMPORT_INCIDENTS=true and derives its id from the shared CONNECTOR_ID", () => {
  const { config, warnings } = valid(sentinelEnv({ IMPORT_INCIDENTS: "true" }));
  assert.deepEqual(config.connectors, ["sentinel", "microsoft-incidents"]);
  assert.equal(config.sentinel?.connector.id, IDS.sentinel);
  const derived = derivedConnectorId(IDS.sentinel);
  assert.equal(M(config).connector.id, derived);
  assert.notEqual(derived, IDS.sentinel);
  assert.match(derived, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok(
    warnings.some((w) => w.includes(derived) && /MICROSOFT_INCIDENTS_CONNECTOR_ID/.test(w)),
  );
  // The seed's alias, and the switch off.
  assert.deepEqual(
    valid(sentinelEnv({ SENTINEL_IMPORT_INCIDENTS: "1" })).config.connectors,
    ["sentinel", "microsoft-incidents"],
  );
  assert.deepEqual(valid(sentinelEnv({ IMPORT_INCIDENTS: "false" })).config.connectors, [
    "sentinel",
  ]);
  // Explicit CONNECTORS=sentinel plus the seed switch.
  assert.deepEqual(
    valid(sentinelEnv({ CONNECTORS: "sentinel", IMPORT_INCIDENTS: "true" })).config.connectors,
    ["sentinel", "microsoft-incidents"],
  );
});

Deno.test("resolveConfig() refuses a prefixed microsoft-incidents id shared with sentinel", () => {
  const problems = problemsOf(env({ MICROSOFT_INCIDENTS_CONNECTOR_ID: IDS.sentinel }));
  assert.ok(problems.some((p) => /MICROSOFT_INCIDENTS_CONNECTOR_ID/.test(p)), problems.join("\n"));
});

Deno.test("resolveConfig() uses the connector's own credentials when all three are given, and names them when some are missing", () => {
  const own = valid(env({
    MICROSOFT_INCIDENTS_TENANT_ID: "fabrikam.onmicrosoft.com",
    MICROSOFT_INCIDENTS_CLIENT_ID: "77777777-8888-4999-8aaa-bbbbbbbbbbbb",
    MICROSOFT_INCIDENTS_CLIENT_SECRET: "own-secret-value",
  })).config;
  assert.equal(M(own).tenantId, "fabrikam.onmicrosoft.com");
  assert.equal(M(own).clientId, "77777777-8888-4999-8aaa-bbbbbbbbbbbb");
  assert.deepEqual(M(own).credential, { kind: "secret", clientSecret: "own-secret-value" });
  assert.equal(own.sentinel?.clientId, IDS.client);

  const problems = problemsOf(env({ MICROSOFT_INCIDENTS_TENANT_ID: "fabrikam.onmicrosoft.com" }));
  assert.ok(problems.some((p) => /MICROSOFT_INCIDENTS_CLIENT_SECRET/.test(p)), problems.join("\n"));
});

Deno.test("resolveConfig() runs microsoft-incidents alone with the seed's credential names", () => {
  const { CONNECTOR_ID: _id, ...rest } = sentinelEnv();
  const { config } = valid({ ...rest, CONNECTORS: "microsoft-incidents", CONNECTOR_ID: MI_ID });
  assert.deepEqual(config.connectors, ["microsoft-incidents"]);
  assert.equal(M(config).connector.id, MI_ID);
  assert.equal(M(config).clientId, IDS.client);
});

Deno.test("resolveConfig() reads every microsoft-incidents variable", () => {
  const rows: Array<[Record<string, string>, (c: Config) => unknown, unknown]> = [
    [
      { MICROSOFT_INCIDENTS_INCIDENT_URL: "/beta/security/incidents" },
      (c) => M(c).incidentPath,
      "/beta/security/incidents",
    ],
    [
      { INCIDENT_URL: "/v1.0/security/incidents" },
      (c) => M(c).incidentPath,
      "/v1.0/security/incidents",
    ],
    [
      { SENTINEL_INCIDENT_URL: "https://graph.microsoft.us/v1.0/security/incidents" },
      (c) => M(c).incidentPath,
      "https://graph.microsoft.us/v1.0/security/incidents",
    ],
    [
      { MICROSOFT_INCIDENTS_RESOURCE_URL: "https://graph.microsoft.us/" },
      (c) => M(c).resourceUrl,
      "https://graph.microsoft.us",
    ],
    [
      { RESOURCE_URL: "https://dod-graph.microsoft.us" },
      (c) => M(c).resourceUrl,
      "https://dod-graph.microsoft.us",
    ],
    [{ MICROSOFT_INCIDENTS_TLP: "amber+strict" }, (c) => M(c).tlp, "amber+strict"],
    [{ MICROSOFT_INCIDENTS_MATCH_BY_VALUE: "false" }, (c) => M(c).matchByValue, false],
    [
      { MICROSOFT_INCIDENTS_IMPORT_START_DATE: "2025-06-01" },
      (c) => M(c).importStartDate,
      "2025-06-01T00:00:00.000Z",
    ],
    [{ MICROSOFT_INCIDENTS_LOOK_BACK: "PT30M" }, (c) => M(c).lookBackMs, 1_800_000],
    [{ MICROSOFT_INCIDENTS_PAGE_SIZE: "10" }, (c) => M(c).pageSize, 10],
    [
      { MICROSOFT_INCIDENTS_CONNECTOR_TYPE: "EXTERNAL_IMPORT" },
      (c) => M(c).connector.type,
      "EXTERNAL_IMPORT",
    ],
    [
      { MICROSOFT_INCIDENTS_CONNECTOR_NAME: "Defender XDR" },
      (c) => M(c).connector.name,
      "Defender XDR",
    ],
    [{ MICROSOFT_INCIDENTS_CONNECTOR_SCOPE: "microsoft,incident" }, (c) => M(c).connector.scope, [
      "microsoft",
      "incident",
    ]],
    [{ MICROSOFT_INCIDENTS_CONNECTOR_CONFIDENCE_LEVEL: "85" }, (c) => M(c).confidence, 85],
    [{ CONNECTOR_CONFIDENCE_LEVEL: "60" }, (c) => M(c).confidence, 60],
    [{ MICROSOFT_INCIDENTS_CONNECTOR_LOG_LEVEL: "debug" }, (c) => M(c).connector.logLevel, "debug"],
    [
      { MICROSOFT_INCIDENTS_CONNECTOR_DURATION_PERIOD: "PT10M" },
      (c) => M(c).connector.periodMs,
      600_000,
    ],
    [
      { MICROSOFT_INCIDENTS_CONNECTOR_RUN_AND_TERMINATE: "true" },
      (c) => M(c).connector.periodMs,
      0,
    ],
    [
      { MICROSOFT_INCIDENTS_CONNECTOR_QUEUE_THRESHOLD: "42" },
      (c) => M(c).connector.queueThresholdMb,
      42,
    ],
    [
      { MICROSOFT_INCIDENTS_CONNECTOR_QUEUE_PROTOCOL: "amqp" },
      (c) => M(c).connector.queueProtocol,
      "amqp",
    ],
  ];
  for (const [extra, read, expected] of rows) {
    assert.deepEqual(read(valid(env(extra)).config), expected, JSON.stringify(extra));
  }
  const bad = problemsOf(
    env({ MICROSOFT_INCIDENTS_PAGE_SIZE: "51", MICROSOFT_INCIDENTS_TLP: "pink" }),
  );
  assert.ok(bad.some((p) => p.startsWith("MICROSOFT_INCIDENTS_PAGE_SIZE")), bad.join("\n"));
  assert.ok(bad.some((p) => p.startsWith("MICROSOFT_INCIDENTS_TLP")), bad.join("\n"));
});
