/** Every variable name of issue 2 (upstream names) and of the new options, table-driven. */
import assert from "node:assert/strict";
import { type Config, knownEnvNames } from "../../src/config/mod.ts";
import { bothEnv, IDS, problemsOf, sentinelEnv, taniumEnv, valid } from "./helpers.ts";
import { SENTINEL_OPTIONS } from "../../src/sentinel/settings.ts";

type Base = "sentinel" | "tanium" | "both" | "intel" | "intelBoth";
type Row = [
  name: string,
  value: string,
  base: Base,
  read: (c: Config) => unknown,
  expected: unknown,
];

const S = (c: Config) => c.sentinel!;
const T = (c: Config) => c.taniumIncidents!;
const I = (c: Config) => c.taniumIntel!;
const INTEL_ID = "66666666-7777-4888-8999-aaaaaaaaaaaa";

/** A minimal valid tanium-intel environment. */
function intelEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OPENCTI_URL: "http://opencti.test:8080",
    OPENCTI_TOKEN: "Zq9-OPENCTI-s3cret-token",
    CONNECTOR_ID: INTEL_ID,
    CONNECTOR_LIVE_STREAM_ID: "live-intel",
    TANIUM_INTEL_URL: "https://tanium-api.test",
    TANIUM_INTEL_URL_CONSOLE: "https://tanium.test",
    TANIUM_INTEL_TOKEN: "Zq9-TANIUM-INTEL-token",
    ...extra,
  };
}

/** tanium-intel and tanium-incidents together (prefixed ids). */
function intelBothEnv(extra: Record<string, string> = {}): Record<string, string> {
  const { CONNECTOR_ID: _i, ...intel } = intelEnv();
  const { CONNECTOR_ID: _t, ...tanium } = taniumEnv();
  return {
    ...intel,
    ...tanium,
    TANIUM_INTEL_CONNECTOR_ID: INTEL_ID,
    TANIUM_INCIDENTS_CONNECTOR_ID: IDS.tanium,
    ...extra,
  };
}
const OTHER_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

const ROWS: Row[] = [
  // OpenCTI and base connector (upstream names).
  [
    "OPENCTI_URL",
    "https://cti.example.org/",
    "sentinel",
    (c) => c.opencti.url,
    "https://cti.example.org",
  ],
  ["OPENCTI_TOKEN", "other-token-value", "sentinel", (c) => c.opencti.token, "other-token-value"],
  ["OPENCTI_SSL_VERIFY", "False", "sentinel", (c) => c.opencti.sslVerify, false],
  ["CONNECTOR_ID", OTHER_ID, "sentinel", (c) => S(c).connector.id, OTHER_ID],
  ["CONNECTOR_ID", OTHER_ID, "tanium", (c) => T(c).connector.id, OTHER_ID],
  ["CONNECTOR_TYPE", "STREAM", "sentinel", (c) => S(c).connector.type, "STREAM"],
  ["CONNECTOR_NAME", "My Sentinel", "sentinel", (c) => S(c).connector.name, "My Sentinel"],
  ["CONNECTOR_SCOPE", "sentinel,indicator", "sentinel", (c) => S(c).connector.scope, [
    "sentinel",
    "indicator",
  ]],
  ["CONNECTOR_CONFIDENCE_LEVEL", "75", "sentinel", (c) => S(c).connector.confidenceLevel, 75],
  ["CONNECTOR_LOG_LEVEL", "DEBUG", "sentinel", (c) => [c.logging.level, S(c).connector.logLevel], [
    "debug",
    "debug",
  ]],
  [
    "CONNECTOR_LIVE_STREAM_ID",
    "stream-42",
    "sentinel",
    (c) => S(c).connector.liveStream.id,
    "stream-42",
  ],
  [
    "CONNECTOR_LIVE_STREAM_LISTEN_DELETE",
    "no",
    "sentinel",
    (c) => S(c).connector.liveStream.listenDelete,
    false,
  ],
  [
    "CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES",
    "0",
    "sentinel",
    (c) => S(c).connector.liveStream.noDependencies,
    false,
  ],
  [
    "CONNECTOR_LIVE_STREAM_WITH_INFERENCES",
    "YES",
    "sentinel",
    (c) => S(c).connector.liveStream.withInferences,
    true,
  ],
  [
    "CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE",
    "2024-03-01",
    "sentinel",
    (c) => S(c).connector.liveStream.recoverIsoDate,
    "2024-03-01T00:00:00.000Z",
  ],
  [
    "CONNECTOR_LIVE_STREAM_START_TIMESTAMP",
    "1700000000000",
    "sentinel",
    (c) => S(c).connector.liveStream.startTimestamp,
    1700000000000,
  ],
  [
    "CONNECTOR_DURATION_PERIOD",
    "P1D",
    "tanium",
    (c) => [T(c).connector.durationPeriod, T(c).connector.periodMs],
    ["P1D", 86_400_000],
  ],
  [
    "CONNECTOR_RUN_AND_TERMINATE",
    "true",
    "tanium",
    (c) => [T(c).connector.runAndTerminate, T(c).connector.periodMs],
    [true, 0],
  ],
  ["CONNECTOR_QUEUE_THRESHOLD", "750", "tanium", (c) => T(c).connector.queueThresholdMb, 750],
  ["CONNECTOR_QUEUE_PROTOCOL", "AMQP", "tanium", (c) => T(c).connector.queueProtocol, "amqp"],
  // Sentinel seed names, and their SENTINEL_ aliases.
  [
    "TENANT_ID",
    "contoso.onmicrosoft.com",
    "sentinel",
    (c) => S(c).tenantId,
    "contoso.onmicrosoft.com",
  ],
  ["CLIENT_ID", OTHER_ID, "sentinel", (c) => S(c).clientId, OTHER_ID],
  ["CLIENT_SECRET", "another-secret", "sentinel", (c) => S(c).credential, {
    kind: "secret",
    clientSecret: "another-secret",
  }],
  [
    "LOGIN_URL",
    "https://login.microsoft.com",
    "sentinel",
    (c) => S(c).loginUrl,
    "https://login.microsoft.com",
  ],
  [
    "RESOURCE_URL",
    "https://graph.example.test",
    "sentinel",
    (c) => S(c).graph.resourceUrl,
    "https://graph.example.test",
  ],
  [
    "REQUEST_URL",
    "/v1.0/security/tiIndicators",
    "sentinel",
    (c) => S(c).graph.requestUrl,
    "/v1.0/security/tiIndicators",
  ],
  ["CONFIDENCE_LEVEL", "80", "sentinel", (c) => S(c).confidenceLevel, 80],
  ["EXPIRE_TIME", "90", "sentinel", (c) => S(c).expireTimeDays, 90],
  [
    "TARGET_PRODUCT",
    "Microsoft Defender ATP",
    "sentinel",
    (c) => S(c).graph.targetProduct,
    "Microsoft Defender ATP",
  ],
  ["ACTION", "block", "sentinel", (c) => S(c).action, "block"],
  ["TLP_LEVEL", "amber", "sentinel", (c) => S(c).tlpLevel, "amber"],
  ["PASSIVE_ONLY", "TRUE", "sentinel", (c) => S(c).passiveOnly, true],
  [
    "SENTINEL_LOGIN_URL",
    "https://login.microsoftonline.us/",
    "sentinel",
    (c) => S(c).loginUrl,
    "https://login.microsoftonline.us",
  ],
  ["SENTINEL_CONFIDENCE_LEVEL", "60", "sentinel", (c) => S(c).confidenceLevel, 60],
  ["SENTINEL_EXPIRE_TIME", "7", "sentinel", (c) => S(c).expireTimeDays, 7],
  [
    "SENTINEL_TARGET_PRODUCT",
    "azure sentinel",
    "sentinel",
    (c) => S(c).graph.targetProduct,
    "Azure Sentinel",
  ],
  ["SENTINEL_ACTION", "alert", "sentinel", (c) => S(c).action, "alert"],
  ["SENTINEL_TLP_LEVEL", "red", "sentinel", (c) => S(c).tlpLevel, "red"],
  ["SENTINEL_PASSIVE_ONLY", "yes", "sentinel", (c) => S(c).passiveOnly, true],
  [
    "SENTINEL_RESOURCE_URL",
    "https://graph.microsoft.us",
    "sentinel",
    (c) => S(c).graph.resourceUrl,
    "https://graph.microsoft.us",
  ],
  [
    "SENTINEL_REQUEST_URL",
    "/beta/security/tiindicators",
    "sentinel",
    (c) => S(c).graph.requestUrl,
    "/beta/security/tiindicators",
  ],
  // New sentinel options.
  [
    "SENTINEL_TARGET",
    "defender",
    "sentinel",
    (c) => [S(c).target, S(c).batchSize, S(c).rateLimitPerMinute],
    ["defender", 500, 30],
  ],
  [
    "SENTINEL_SOURCE_SYSTEM",
    "OpenCTI Prod",
    "sentinel",
    (c) => S(c).sentinelApi.sourceSystem,
    "OpenCTI Prod",
  ],
  ["SENTINEL_EXTRA_LABELS", "opencti, prod", "sentinel", (c) => S(c).extraLabels, [
    "opencti",
    "prod",
  ]],
  [
    "SENTINEL_API_URL",
    "https://api.ti.sentinel.azure.us",
    "sentinel",
    (c) => S(c).sentinelApi.apiUrl,
    "https://api.ti.sentinel.azure.us",
  ],
  [
    "SENTINEL_MANAGEMENT_URL",
    "https://management.usgovcloudapi.net",
    "sentinel",
    (c) => S(c).sentinelApi.managementUrl,
    "https://management.usgovcloudapi.net",
  ],
  [
    "DEFENDER_API_URL",
    "https://api-gcc.securitycenter.microsoft.us",
    "sentinel",
    (c) => S(c).defender.apiUrl,
    "https://api-gcc.securitycenter.microsoft.us",
  ],
  [
    "DEFENDER_SCOPE",
    "https://api-gcc.securitycenter.microsoft.us/.default",
    "sentinel",
    (c) => S(c).defender.scope,
    "https://api-gcc.securitycenter.microsoft.us/.default",
  ],
  ["DEFENDER_GENERATE_ALERT", "false", "sentinel", (c) => S(c).defender.generateAlert, false],
  ["SENTINEL_BATCH_SIZE", "25", "sentinel", (c) => S(c).batchSize, 25],
  ["SENTINEL_BATCH_TIMEOUT_MS", "250", "sentinel", (c) => S(c).batchTimeoutMs, 250],
  ["SENTINEL_RATE_LIMIT_PER_MINUTE", "120", "sentinel", (c) => S(c).rateLimitPerMinute, 120],
  ["SENTINEL_WRITE_BACK", "1", "sentinel", (c) => S(c).writeBack, true],
  ["SENTINEL_MAX_BACKOFF", "PT10M", "sentinel", (c) => S(c).maxBackoffMs, 600_000],
  ["SENTINEL_DEAD_LETTER_LIMIT", "500", "sentinel", (c) => S(c).deadLetterLimit, 500],
  [
    "SENTINEL_DEAD_LETTER_FILE",
    "/var/lib/x.json",
    "sentinel",
    (c) => S(c).deadLetterFile,
    "/var/lib/x.json",
  ],
  ["SENTINEL_DEAD_LETTER_FILE", "none", "sentinel", (c) => S(c).deadLetterFile, "none"],
  ["SENTINEL_RECONCILE_PERIOD", "PT6H", "sentinel", (c) => S(c).reconcilePeriodMs, 21_600_000],
  ["SENTINEL_RECONCILE_PERIOD", "0", "sentinel", (c) => S(c).reconcilePeriodMs, 0],
  [
    "SENTINEL_ADOPT_SOURCE",
    "stream-sentinel",
    "sentinel",
    (c) => S(c).adoptSource,
    "stream-sentinel",
  ],
  [
    "SENTINEL_TAXII_COLLECTIONS",
    " c1, c2 ,c1,,",
    "sentinel",
    (c) => S(c).taxiiCollections,
    ["c1", "c2"],
  ],
  [
    "SENTINEL_TAXII_COLLECTIONS",
    '{"c1": {"action": "Block"}, "c2": null}',
    "sentinel",
    (c) => S(c).taxiiCollections,
    ["c1", "c2"],
  ],
  ["SENTINEL_TAXII_COLLECTIONS", '["c3"]', "sentinel", (c) => S(c).taxiiCollections, ["c3"]],
  ["SENTINEL_RECONCILE_INTERVAL", "120", "sentinel", (c) => S(c).reconcilePeriodMs, 120_000],
  ["SENTINEL_UPDATE_ONLY_OWNED", "true", "sentinel", (c) => S(c).reconcilePeriodMs, 86_400_000],
  // Tanium seed names and new ones.
  [
    "TANIUM_INCIDENTS_URL",
    "https://other-api.test/",
    "tanium",
    (c) => T(c).url,
    "https://other-api.test",
  ],
  [
    "TANIUM_INCIDENTS_URL_CONSOLE",
    "https://other.test",
    "tanium",
    (c) => T(c).urlConsole,
    "https://other.test",
  ],
  ["TANIUM_INCIDENTS_SSL_VERIFY", "no", "tanium", (c) => T(c).sslVerify, false],
  ["TANIUM_INCIDENTS_TOKEN", "token-b", "tanium", (c) => T(c).token, "token-b"],
  ["TANIUM_INCIDENTS_IMPORT_ALERTS", "False", "tanium", (c) => T(c).importAlerts, false],
  [
    "TANIUM_INCIDENTS_IMPORT_START_DATE",
    "2024-01-15",
    "tanium",
    (c) => T(c).importStartDate,
    "2024-01-15T00:00:00.000Z",
  ],
  [
    "TANIUM_INCIDENTS_CA_FILE",
    "/etc/ssl/tanium.pem",
    "tanium",
    (c) => T(c).caFile,
    "/etc/ssl/tanium.pem",
  ],
  [
    "TANIUM_INCIDENTS_INTEL_SOURCE_NAMES",
    "Tanium Intel A,Tanium",
    "tanium",
    (c) => T(c).intelSourceNames,
    ["Tanium Intel A", "Tanium"],
  ],
  ["TANIUM_INCIDENTS_PAGE_SIZE", "200", "tanium", (c) => T(c).pageSize, 200],
  ["TANIUM_INCIDENTS_CRON", "0 * * * *", "tanium", (c) => T(c).cron, "0 * * * *"],
  ["TANIUM_INCIDENTS_LOOKBACK", "PT6H", "tanium", (c) => T(c).lookbackMs, 21_600_000],
  ["TANIUM_INCIDENTS_MAX_BACKOFF", "PT1M", "tanium", (c) => T(c).maxBackoffMs, 60_000],
  [
    "OPENCTI_CA_FILE",
    "/etc/ssl/opencti.pem",
    "tanium",
    (c) => c.opencti.caFile,
    "/etc/ssl/opencti.pem",
  ],
  // tanium-intel (upstream stream/tanium-intel names, and the new ones).
  ["TANIUM_INTEL_URL", "https://t-api.test/", "intel", (c) => I(c).url, "https://t-api.test"],
  [
    "TANIUM_INTEL_URL_CONSOLE",
    "https://t.test/",
    "intel",
    (c) => I(c).urlConsole,
    "https://t.test",
  ],
  ["TANIUM_INTEL_SSL_VERIFY", "false", "intel", (c) => I(c).sslVerify, false],
  ["TANIUM_INTEL_CA_FILE", "/etc/ca.pem", "intel", (c) => I(c).caFile, "/etc/ca.pem"],
  ["TANIUM_INTEL_TOKEN", "token-c", "intel", (c) => I(c).token, "token-c"],
  ["TANIUM_INTEL_DEPLOY_INTEL", "no", "intel", (c) => I(c).deployIntel, false],
  ["TANIUM_INTEL_AUTO_ONDEMAND_SCAN", "False", "intel", (c) => I(c).autoOndemandScan, false],
  ["TANIUM_INTEL_COMPUTER_GROUPS", "1, 7", "intel", (c) => I(c).computerGroups, [1, 7]],
  ["TANIUM_INTEL_BATCH_SIZE", "20", "intel", (c) => I(c).batchSize, 20],
  ["TANIUM_INTEL_MAX_BACKOFF", "PT2M", "intel", (c) => I(c).maxBackoffMs, 120_000],
  ["TANIUM_INTEL_HASHES_IN_REPUTATION", "false", "intel", (c) => I(c).hashesInReputation, false],
  ["TANIUM_INTEL_NO_HASHES_IN_INTELS", "false", "intel", (c) => I(c).noHashesInIntels, false],
  ["TANIUM_INTEL_DEAD_LETTER_LIMIT", "50", "intel", (c) => I(c).deadLetterLimit, 50],
  [
    "TANIUM_INTEL_DEAD_LETTER_FILE",
    "/var/lib/octi/intel.json",
    "intel",
    (c) => I(c).deadLetterFile,
    "/var/lib/octi/intel.json",
  ],
  ["TANIUM_INTEL_CONNECTOR_ID", OTHER_ID, "intelBoth", (c) => I(c).connector.id, OTHER_ID],
  ["TANIUM_INTEL_CONNECTOR_TYPE", "STREAM", "intelBoth", (c) => I(c).connector.type, "STREAM"],
  [
    "TANIUM_INTEL_CONNECTOR_NAME",
    "Intel A",
    "intelBoth",
    (c) => [I(c).connector.name, T(c).connector.name],
    ["Intel A", "Tanium Threat Response Incidents"],
  ],
  ["TANIUM_INTEL_CONNECTOR_SCOPE", "ti", "intelBoth", (c) => I(c).connector.scope, ["ti"]],
  [
    "TANIUM_INTEL_CONNECTOR_CONFIDENCE_LEVEL",
    "30",
    "intelBoth",
    (c) => I(c).connector.confidenceLevel,
    30,
  ],
  ["TANIUM_INTEL_CONNECTOR_LOG_LEVEL", "warn", "intelBoth", (c) => I(c).connector.logLevel, "warn"],
  [
    "TANIUM_INTEL_CONNECTOR_DURATION_PERIOD",
    "PT5M",
    "intelBoth",
    (c) => I(c).connector.periodMs,
    300_000,
  ],
  [
    "TANIUM_INTEL_CONNECTOR_RUN_AND_TERMINATE",
    "true",
    "intelBoth",
    (c) => I(c).connector.runAndTerminate,
    true,
  ],
  [
    "TANIUM_INTEL_CONNECTOR_QUEUE_THRESHOLD",
    "99",
    "intelBoth",
    (c) => I(c).connector.queueThresholdMb,
    99,
  ],
  [
    "TANIUM_INTEL_CONNECTOR_QUEUE_PROTOCOL",
    "amqp",
    "intelBoth",
    (c) => I(c).connector.queueProtocol,
    "amqp",
  ],
  [
    "TANIUM_INTEL_CONNECTOR_LIVE_STREAM_ID",
    "s-9",
    "intelBoth",
    (c) => I(c).connector.liveStream.id,
    "s-9",
  ],
  [
    "TANIUM_INTEL_CONNECTOR_LIVE_STREAM_LISTEN_DELETE",
    "no",
    "intelBoth",
    (c) => I(c).connector.liveStream.listenDelete,
    false,
  ],
  [
    "TANIUM_INTEL_CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES",
    "no",
    "intelBoth",
    (c) => I(c).connector.liveStream.noDependencies,
    false,
  ],
  [
    "TANIUM_INTEL_CONNECTOR_LIVE_STREAM_WITH_INFERENCES",
    "yes",
    "intelBoth",
    (c) => I(c).connector.liveStream.withInferences,
    true,
  ],
  [
    "TANIUM_INTEL_CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE",
    "false",
    "intelBoth",
    (c) => I(c).connector.liveStream.recoverIsoDate,
    false,
  ],
  [
    "TANIUM_INTEL_CONNECTOR_LIVE_STREAM_START_TIMESTAMP",
    "5",
    "intelBoth",
    (c) => I(c).connector.liveStream.startTimestamp,
    5,
  ],
  // Prefixed base names (both connectors).
  [
    "SENTINEL_CONNECTOR_NAME",
    "Sentinel A",
    "both",
    (c) => [S(c).connector.name, T(c).connector.name],
    ["Sentinel A", "Tanium Threat Response Incidents"],
  ],
  [
    "TANIUM_INCIDENTS_CONNECTOR_NAME",
    "Tanium A",
    "both",
    (c) => [S(c).connector.name, T(c).connector.name],
    ["Microsoft Sentinel", "Tanium A"],
  ],
  ["SENTINEL_CONNECTOR_SCOPE", "ms", "both", (c) => [S(c).connector.scope, T(c).connector.scope], [[
    "ms",
  ], ["tanium"]]],
  [
    "TANIUM_INCIDENTS_CONNECTOR_SCOPE",
    "tn",
    "both",
    (c) => [S(c).connector.scope, T(c).connector.scope],
    [["sentinel"], ["tn"]],
  ],
  [
    "SENTINEL_CONNECTOR_CONFIDENCE_LEVEL",
    "10",
    "both",
    (c) => [S(c).connector.confidenceLevel, T(c).connector.confidenceLevel],
    [10, undefined],
  ],
  [
    "TANIUM_INCIDENTS_CONNECTOR_CONFIDENCE_LEVEL",
    "20",
    "both",
    (c) => [S(c).connector.confidenceLevel, T(c).connector.confidenceLevel],
    [undefined, 20],
  ],
  [
    "SENTINEL_CONNECTOR_LOG_LEVEL",
    "debug",
    "both",
    (c) => [c.logging.level, S(c).connector.logLevel, T(c).connector.logLevel],
    ["info", "debug", "info"],
  ],
  [
    "TANIUM_INCIDENTS_CONNECTOR_LOG_LEVEL",
    "warning",
    "both",
    (c) => [S(c).connector.logLevel, T(c).connector.logLevel],
    ["info", "warn"],
  ],
  ["SENTINEL_CONNECTOR_LIVE_STREAM_ID", "s-1", "both", (c) => S(c).connector.liveStream.id, "s-1"],
  [
    "SENTINEL_CONNECTOR_LIVE_STREAM_LISTEN_DELETE",
    "false",
    "both",
    (c) => S(c).connector.liveStream.listenDelete,
    false,
  ],
  [
    "SENTINEL_CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES",
    "false",
    "both",
    (c) => S(c).connector.liveStream.noDependencies,
    false,
  ],
  [
    "SENTINEL_CONNECTOR_LIVE_STREAM_WITH_INFERENCES",
    "true",
    "both",
    (c) => S(c).connector.liveStream.withInferences,
    true,
  ],
  [
    "SENTINEL_CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE",
    "false",
    "both",
    (c) => S(c).connector.liveStream.recoverIsoDate,
    false,
  ],
  [
    "SENTINEL_CONNECTOR_LIVE_STREAM_START_TIMESTAMP",
    "5",
    "both",
    (c) => S(c).connector.liveStream.startTimestamp,
    5,
  ],
  [
    "TANIUM_INCIDENTS_CONNECTOR_DURATION_PERIOD",
    "PT30M",
    "both",
    (c) => T(c).connector.periodMs,
    1_800_000,
  ],
  [
    "SENTINEL_CONNECTOR_DURATION_PERIOD",
    "PT5M",
    "both",
    (c) => [S(c).connector.periodMs, T(c).connector.periodMs],
    [300_000, 3_600_000],
  ],
  [
    "TANIUM_INCIDENTS_CONNECTOR_RUN_AND_TERMINATE",
    "yes",
    "both",
    (c) => [S(c).connector.runAndTerminate, T(c).connector.runAndTerminate],
    [false, true],
  ],
  [
    "SENTINEL_CONNECTOR_RUN_AND_TERMINATE",
    "1",
    "both",
    (c) => [S(c).connector.runAndTerminate, T(c).connector.runAndTerminate],
    [true, false],
  ],
  [
    "SENTINEL_CONNECTOR_QUEUE_THRESHOLD",
    "100",
    "both",
    (c) => [S(c).connector.queueThresholdMb, T(c).connector.queueThresholdMb],
    [100, 500],
  ],
  [
    "SENTINEL_CONNECTOR_QUEUE_PROTOCOL",
    "api",
    "both",
    (c) => [S(c).connector.queueProtocol, T(c).connector.queueProtocol],
    ["api", "auto"],
  ],
  [
    "TANIUM_INCIDENTS_CONNECTOR_QUEUE_PROTOCOL",
    "amqp",
    "both",
    (c) => [S(c).connector.queueProtocol, T(c).connector.queueProtocol],
    ["auto", "amqp"],
  ],
  [
    "TANIUM_INCIDENTS_CONNECTOR_QUEUE_THRESHOLD",
    "300",
    "both",
    (c) => [S(c).connector.queueThresholdMb, T(c).connector.queueThresholdMb],
    [500, 300],
  ],
  ["SENTINEL_CONNECTOR_TYPE", "STREAM", "both", (c) => [S(c).connector.type, T(c).connector.type], [
    "STREAM",
    "EXTERNAL_IMPORT",
  ]],
  [
    "TANIUM_INCIDENTS_CONNECTOR_TYPE",
    "EXTERNAL_IMPORT",
    "both",
    (c) => T(c).connector.type,
    "EXTERNAL_IMPORT",
  ],
  // Server and logging.
  ["SERVER_HOST", "127.0.0.1", "sentinel", (c) => c.server.host, "127.0.0.1"],
  ["SERVER_PORT", "9091", "sentinel", (c) => c.server.port, 9091],
  ["DENO_SERVE_ADDRESS", "tcp:127.0.0.2:8001", "sentinel", (c) => [c.server.host, c.server.port], [
    "127.0.0.2",
    8001,
  ]],
  [
    "SERVER_ADMIN_TOKEN",
    "0123456789abcdef0123",
    "sentinel",
    (c) => c.server.adminToken,
    "0123456789abcdef0123",
  ],
  ["LOG_FORMAT", "JSON", "sentinel", (c) => c.logging.format, "json"],
  ["CONNECTORS", "sentinel", "both", (c) => [c.connectors, c.taniumIncidents], [
    ["sentinel"],
    undefined,
  ]],
];

/** Every upstream connector name the sentinel options read (each tested in upstream_test.ts). */
const UPSTREAM_NAMES = Object.values(SENTINEL_OPTIONS).flatMap((spec) =>
  "upstreamEnv" in spec ? [...spec.upstreamEnv] : []
);

Deno.test("resolveConfig() reads every variable name of the upstream connectors and the new options", () => {
  const bases = {
    sentinel: sentinelEnv,
    tanium: taniumEnv,
    both: bothEnv,
    intel: intelEnv,
    intelBoth: intelBothEnv,
  };
  for (const [name, value, base, read, expected] of ROWS) {
    const env = bases[base]({ [name]: value });
    const { config } = valid(env);
    assert.deepEqual(read(config), expected, `${name}=${value}`);
  }
});

Deno.test("resolveConfig() reads the SENTINEL_-prefixed aliases of the seed credential names", () => {
  const { TENANT_ID: _t, CLIENT_ID: _c, CLIENT_SECRET: _s, ...rest } = sentinelEnv();
  const { config } = valid({
    ...rest,
    SENTINEL_TENANT_ID: "fabrikam.onmicrosoft.com",
    SENTINEL_CLIENT_ID: IDS.client,
    SENTINEL_CLIENT_SECRET: "aliased-secret",
  });
  assert.equal(config.sentinel?.tenantId, "fabrikam.onmicrosoft.com");
  assert.equal(config.sentinel?.clientId, IDS.client);
  assert.deepEqual(config.sentinel?.credential, { kind: "secret", clientSecret: "aliased-secret" });
});

Deno.test("resolveConfig() reads the certificate and workload-identity credentials", () => {
  const { CLIENT_SECRET: _s, ...noSecret } = sentinelEnv();
  const cert = valid({
    ...noSecret,
    CLIENT_CERTIFICATE_PATH: "/run/cert.pem",
    CLIENT_PRIVATE_KEY_PATH: "/run/key.pem",
    CLIENT_ASSERTION_ALG: "rs256",
  }).config;
  assert.deepEqual(cert.sentinel?.credential, {
    kind: "certificate",
    certificatePath: "/run/cert.pem",
    privateKeyPath: "/run/key.pem",
    alg: "RS256",
  });
  const certDefault = valid({
    ...noSecret,
    CLIENT_CERTIFICATE_PATH: "/run/cert.pem",
    CLIENT_PRIVATE_KEY_PATH: "/run/key.pem",
  }).config;
  assert.equal(
    certDefault.sentinel?.credential.kind === "certificate" && certDefault.sentinel.credential.alg,
    "PS256",
  );

  const { TENANT_ID: _t, CLIENT_ID: _c, ...bare } = noSecret;
  const federated = valid({
    ...bare,
    CONNECTORS: "sentinel",
    AZURE_TENANT_ID: IDS.tenant,
    AZURE_CLIENT_ID: IDS.client,
    AZURE_AUTHORITY_HOST: "https://login.microsoftonline.com/",
    AZURE_FEDERATED_TOKEN_FILE: "/var/run/secrets/azure/tokens/azure-identity-token",
  }).config;
  assert.deepEqual(federated.sentinel?.credential, {
    kind: "federated",
    tokenFile: "/var/run/secrets/azure/tokens/azure-identity-token",
  });
  assert.equal(federated.sentinel?.tenantId, IDS.tenant);
  assert.equal(federated.sentinel?.clientId, IDS.client);
  assert.equal(federated.sentinel?.loginUrl, "https://login.microsoftonline.com");
});

Deno.test("resolveConfig() prefers TENANT_ID and CLIENT_ID over the AZURE_* fallbacks", () => {
  const { config } = valid(sentinelEnv({
    AZURE_TENANT_ID: "fallback.onmicrosoft.com",
    AZURE_CLIENT_ID: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
  }));
  assert.equal(config.sentinel?.tenantId, IDS.tenant);
  assert.equal(config.sentinel?.clientId, IDS.client);
});

Deno.test("resolveConfig() fills the workspace when SENTINEL_TARGET=sentinel", () => {
  const { config } = valid(sentinelEnv({
    SENTINEL_TARGET: "Sentinel",
    SENTINEL_WORKSPACE_ID: IDS.workspace,
    SENTINEL_SUBSCRIPTION_ID: IDS.subscription,
    SENTINEL_RESOURCE_GROUP: "rg-sec",
    SENTINEL_WORKSPACE_NAME: "ws-sec",
  }));
  assert.equal(config.sentinel?.target, "sentinel");
  assert.equal(config.sentinel?.batchSize, 100);
  assert.equal(config.sentinel?.rateLimitPerMinute, 100);
  assert.deepEqual(config.sentinel?.sentinelApi.workspace, {
    workspaceId: IDS.workspace,
    subscriptionId: IDS.subscription,
    resourceGroup: "rg-sec",
    workspaceName: "ws-sec",
  });
});

Deno.test("resolveConfig() applies the documented defaults", () => {
  const { config } = valid(sentinelEnv());
  const s = config.sentinel!;
  assert.deepEqual(config.connectors, ["sentinel"]);
  assert.equal(config.opencti.sslVerify, true);
  assert.equal(s.connector.type, "STREAM");
  assert.equal(s.connector.name, "Microsoft Sentinel");
  assert.deepEqual(s.connector.scope, ["sentinel"]);
  assert.equal(s.connector.logLevel, "info");
  assert.equal(s.connector.queueThresholdMb, 500);
  assert.equal(s.connector.runAndTerminate, false);
  assert.deepEqual(s.connector.liveStream, {
    id: "live",
    listenDelete: true,
    noDependencies: true,
    withInferences: false,
  });
  assert.equal(s.target, "graph");
  assert.equal(s.loginUrl, "https://login.microsoftonline.com");
  assert.deepEqual(s.graph, {
    resourceUrl: "https://graph.microsoft.com",
    requestUrl: "/beta/security/tiIndicators",
    targetProduct: "Azure Sentinel",
  });
  assert.equal(s.confidenceLevel, 50);
  assert.equal(s.expireTimeDays, 30);
  assert.equal(s.action, undefined);
  assert.equal(s.tlpLevel, undefined);
  assert.equal(s.passiveOnly, false);
  assert.equal(s.batchSize, 100);
  assert.equal(s.batchTimeoutMs, 1000);
  assert.equal(s.rateLimitPerMinute, 1000);
  assert.equal(s.writeBack, false);
  assert.equal(s.maxBackoffMs, 300_000);
  assert.equal(s.deadLetterLimit, 10_000);
  assert.equal(s.deadLetterFile, undefined, "unset: the runtime's default (data/ or memory)");
  assert.deepEqual(s.sentinelApi, {
    apiUrl: "https://api.ti.sentinel.azure.com",
    managementUrl: "https://management.azure.com",
    sourceSystem: "OpenCTI",
    uploadApiVersion: "2024-02-01-preview",
    armApiVersion: "2025-07-01-preview",
    publishIdentities: false,
  });
  assert.deepEqual(s.defender, {
    apiUrl: "https://api.securitycenter.microsoft.com",
    scope: "https://api.securitycenter.microsoft.com/.default",
    generateAlert: true,
    application: "OpenCTI",
    maxIndicators: 15000,
    rbacGroupNames: [],
  });
  assert.deepEqual(s.eventTypes, ["create", "update", "delete"]);
  assert.equal(s.upstream, undefined);
  assert.deepEqual(config.server, { host: "0.0.0.0", port: 8080 });
  assert.deepEqual(config.logging, { level: "info", format: "auto" });

  const t = valid(taniumEnv()).config.taniumIncidents!;
  assert.equal(t.connector.type, "EXTERNAL_IMPORT");
  assert.equal(t.connector.name, "Tanium Threat Response Incidents");
  assert.deepEqual(t.connector.scope, ["tanium"]);
  assert.equal(t.connector.periodMs, 3_600_000);
  assert.equal(t.sslVerify, true);
  assert.equal(t.importAlerts, true);
  assert.equal(t.importStartDate, undefined);
  assert.deepEqual(t.intelSourceNames, ["Tanium Threat Response Intel", "Tanium"]);
  assert.equal(t.pageSize, 500);
  assert.equal(t.cron, undefined);
});

/** Names exercised by the dedicated tests above rather than by the table. */
/** The names this file covers (tests/config/microsoft_incidents_test.ts). */
const MICROSOFT_INCIDENTS_NAMES = [
  "IMPORT_INCIDENTS",
  "SENTINEL_IMPORT_INCIDENTS",
  "MICROSOFT_INCIDENTS_INCIDENT_URL",
  "INCIDENT_URL",
  "SENTINEL_INCIDENT_URL",
  "MICROSOFT_INCIDENTS_RESOURCE_URL",
  "MICROSOFT_INCIDENTS_TENANT_ID",
  "MICROSOFT_INCIDENTS_CLIENT_ID",
  "MICROSOFT_INCIDENTS_CLIENT_SECRET",
  "MICROSOFT_INCIDENTS_TLP",
  "MICROSOFT_INCIDENTS_MATCH_BY_VALUE",
  "MICROSOFT_INCIDENTS_IMPORT_START_DATE",
  "MICROSOFT_INCIDENTS_LOOK_BACK",
  "MICROSOFT_INCIDENTS_PAGE_SIZE",
  "MICROSOFT_INCIDENTS_CONNECTOR_ID",
  "MICROSOFT_INCIDENTS_CONNECTOR_TYPE",
  "MICROSOFT_INCIDENTS_CONNECTOR_NAME",
  "MICROSOFT_INCIDENTS_CONNECTOR_SCOPE",
  "MICROSOFT_INCIDENTS_CONNECTOR_CONFIDENCE_LEVEL",
  "MICROSOFT_INCIDENTS_CONNECTOR_LOG_LEVEL",
  "MICROSOFT_INCIDENTS_CONNECTOR_DURATION_PERIOD",
  "MICROSOFT_INCIDENTS_CONNECTOR_RUN_AND_TERMINATE",
  "MICROSOFT_INCIDENTS_CONNECTOR_QUEUE_THRESHOLD",
  "MICROSOFT_INCIDENTS_CONNECTOR_QUEUE_PROTOCOL",
];

const COVERED_ELSEWHERE = [
  "SENTINEL_TENANT_ID",
  "SENTINEL_CLIENT_ID",
  "SENTINEL_CLIENT_SECRET",
  "CLIENT_CERTIFICATE_PATH",
  "CLIENT_PRIVATE_KEY_PATH",
  "CLIENT_ASSERTION_ALG",
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_ID",
  "AZURE_AUTHORITY_HOST",
  "SENTINEL_WORKSPACE_ID",
  "SENTINEL_SUBSCRIPTION_ID",
  "SENTINEL_RESOURCE_GROUP",
  "SENTINEL_WORKSPACE_NAME",
  "SENTINEL_CONNECTOR_ID",
  "TANIUM_INCIDENTS_CONNECTOR_ID",
  "CONFIG_FILE",
  // tests/config/auth_test.ts
  "SENTINEL_AUTH",
  "AZURE_CLIENT_SECRET",
  "AZURE_CLIENT_CERTIFICATE_PATH",
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "SENTINEL_IMDS_ENDPOINT",
  "IMDS_ENDPOINT",
  "MSI_ENDPOINT",
  "MSI_SECRET",
  "IDENTITY_SERVER_THUMBPRINT",
  "SENTINEL_IDENTITY_SERVER_CERTIFICATE",
  // tests/config/microsoft_incidents_test.ts
  ...MICROSOFT_INCIDENTS_NAMES,
  // tests/config/upstream_test.ts (every upstream name, and the options they brought)
  ...UPSTREAM_NAMES,
  "SENTINEL_EVENT_TYPES",
  "SENTINEL_PUBLISH_IDENTITIES",
  "SENTINEL_DELETE_EXTENSIONS",
  "SENTINEL_WORKSPACE_API_VERSION",
  "SENTINEL_QUERY_API_VERSION",
  "SENTINEL_MANAGEMENT_API_VERSION",
  "SENTINEL_BATCH_MODE",
  "SENTINEL_BATCH_TIMEOUT",
  "DEFENDER_ACTION",
  "DEFENDER_APPLICATION",
  "DEFENDER_RESOURCE_PATH",
  "DEFENDER_MAX_INDICATORS",
  "DEFENDER_RBAC_GROUP_NAMES",
  "DEFENDER_RECOMMENDED_ACTIONS",
  "DEFENDER_EDUCATE_URL",
  // tests/config/opencti7_test.ts
  "OPENCTI_JSON_LOGGING",
  "CONNECTOR_METRICS_PORT",
  "CONNECTOR_EXPOSE_METRICS",
];

Deno.test("the variable tests cover every environment name the loader reads", () => {
  const tested = new Set([...ROWS.map(([name]) => name), ...COVERED_ELSEWHERE]);
  const missing = [...knownEnvNames()].filter((name) => !tested.has(name));
  assert.deepEqual(missing, []);
});

Deno.test("resolveConfig() refuses a zero SENTINEL_MAX_BACKOFF and a dead-letter limit out of range; an empty SENTINEL_DEAD_LETTER_FILE is unset", () => {
  const cases: [Record<string, string>, string][] = [
    [{ SENTINEL_MAX_BACKOFF: "PT0S" }, "SENTINEL_MAX_BACKOFF"],
    [{ SENTINEL_DEAD_LETTER_LIMIT: "0" }, "SENTINEL_DEAD_LETTER_LIMIT"],
    [{ SENTINEL_DEAD_LETTER_LIMIT: "1000001" }, "SENTINEL_DEAD_LETTER_LIMIT"],
  ];
  for (const [extra, name] of cases) {
    const problems = problemsOf(sentinelEnv(extra));
    assert.ok(problems.some((p) => p.includes(name)), `${JSON.stringify(extra)}: ${problems}`);
  }
  // Like every option, an empty value means unset: the default file, never a file named "".
  const empty = valid(sentinelEnv({ SENTINEL_DEAD_LETTER_FILE: "" })).config.sentinel!;
  assert.equal(empty.deadLetterFile, undefined);
});

Deno.test("resolveConfig() gives tanium-intel upstream's reputation defaults and a dead-letter file option like sentinel's", () => {
  const intel = valid(intelEnv()).config.taniumIntel!;
  // Upstream stream/tanium-intel config_variables.py: both default to true.
  assert.equal(intel.hashesInReputation, true);
  assert.equal(intel.noHashesInIntels, true);
  assert.equal(intel.deadLetterLimit, 10_000);
  assert.equal(intel.deadLetterFile, undefined);
  const problems = problemsOf(intelEnv({ TANIUM_INTEL_DEAD_LETTER_LIMIT: "0" }));
  assert.ok(problems.some((p) => p.includes("TANIUM_INTEL_DEAD_LETTER_LIMIT")), `${problems}`);
  const off = valid(intelEnv({ TANIUM_INTEL_HASHES_IN_REPUTATION: "no" })).config.taniumIntel!;
  assert.equal(off.hashesInReputation, false);
});
