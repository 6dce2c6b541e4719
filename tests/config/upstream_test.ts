/**
 * The upstream connectors' configuration (OpenCTI-Platform/connectors `stream/microsoft-*-intel`):
 * their documented compose files run unchanged, each of their names reaches the option it
 * aliases, their prefix picks the target and their defaults, and mixing two is an error.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { migrationTables, withMigration } from "../../src/config/docs.ts";
import { CONNECTOR_SETTINGS, type Env } from "../../src/config/mod.ts";
import { Reader } from "../../src/config/source.ts";
import { SENTINEL_OPTIONS, UPSTREAM_DEFENDER_CONNECTOR_ID } from "../../src/sentinel/settings.ts";
import { IDS, problemsOf, runMain, valid } from "./helpers.ts";

/** The `environment` of the only service of a compose fixture (list or mapping form). */
function composeEnv(name: string): Record<string, string> {
  const text = Deno.readTextFileSync(new URL(`../fixtures/config/${name}`, import.meta.url));
  const doc = parse(text) as { services: Record<string, { environment: unknown }> };
  const [service] = Object.values(doc.services);
  assert.ok(service, `${name}: no service`);
  const env: Record<string, string> = {};
  const given = service.environment;
  if (Array.isArray(given)) {
    for (const line of given as string[]) {
      const at = line.indexOf("=");
      env[line.slice(0, at)] = line.slice(at + 1);
    }
  } else {
    for (const [key, value] of Object.entries(given as Record<string, unknown>)) {
      env[key] = String(value);
    }
  }
  return env;
}

const TENANT = "99999999-aaaa-4bbb-8ccc-dddddddddddd";
const CLIENT = "33333333-4444-4555-8666-777777777777";

const LIVE = {
  id: "live-stream-1",
  listenDelete: true,
  noDependencies: true,
  withInferences: false,
};
const OPENCTI = { url: "http://localhost", token: "[REDACTED]", sslVerify: true };
const SERVER = { host: "0.0.0.0", port: 8080 };
const GRAPH_DEFAULTS = {
  resourceUrl: "https://graph.microsoft.com",
  requestUrl: "/beta/security/tiIndicators",
  targetProduct: "Azure Sentinel",
};
const DEFENDER_DEFAULTS = {
  apiUrl: "https://api.securitycenter.microsoft.com",
  scope: "https://api.securitycenter.microsoft.com/.default",
  generateAlert: true,
  application: "OpenCTI",
  maxIndicators: 15000,
  rbacGroupNames: [],
};
const SENTINEL_API_DEFAULTS = {
  apiUrl: "https://api.ti.sentinel.azure.com",
  managementUrl: "https://management.azure.com",
  sourceSystem: "OpenCTI",
  uploadApiVersion: "2024-02-01-preview",
  armApiVersion: "2025-07-01-preview",
  publishIdentities: false,
};
const ALL_EVENTS = ["create", "update", "delete"];

/** What every upstream compose file below shares (their connector type, queue and our defaults). */
const CONNECTOR_DEFAULTS: Record<string, unknown> = {
  runAndTerminate: false,
  queueThresholdMb: 500,
  queueProtocol: "auto",
  type: "STREAM",
  liveStream: LIVE,
};
const SENTINEL_DEFAULTS = {
  tenantId: TENANT,
  clientId: CLIENT,
  credential: { kind: "secret", clientSecret: "[REDACTED]" },
  confidenceLevel: 50,
  expireTimeDays: 30,
  passiveOnly: false,
  extraLabels: [],
  batchTimeoutMs: 1000,
  writeBack: false,
  maxBackoffMs: 300_000,
  deadLetterLimit: 10000,
  eventTypes: ALL_EVENTS,
  reconcilePeriodMs: 86_400_000,
  graph: GRAPH_DEFAULTS,
  sentinelApi: SENTINEL_API_DEFAULTS,
  defender: DEFENDER_DEFAULTS,
};

/**
 * The effective configuration of one compose file: the shared defaults above with `connector`
 * and `sentinel` (what differs) laid over them, and the process log level the connector's sets.
 */
function expectedConfig(
  connector: Record<string, unknown> & { logLevel: string },
  sentinel: Record<string, unknown>,
): unknown {
  return {
    connectors: ["sentinel"],
    opencti: OPENCTI,
    sentinel: {
      connector: { ...CONNECTOR_DEFAULTS, ...connector },
      ...SENTINEL_DEFAULTS,
      ...sentinel,
    },
    server: SERVER,
    // CONNECTOR_LOG_LEVEL also sets the process log level.
    logging: { level: connector.logLevel, format: "auto" },
  };
}

/** The effective configurations, written by hand from the fixtures and the upstream defaults. */
const EXPECTED: Record<string, unknown> = {
  "upstream_sentinel_intel.compose.yml": expectedConfig(
    { id: IDS.sentinel, name: "Microsoft Sentinel Intel", scope: ["sentinel"], logLevel: "error" },
    {
      target: "sentinel",
      loginUrl: "https://login.microsoftonline.com",
      batchSize: 100,
      rateLimitPerMinute: 100,
      upstream: "sentinel",
      sentinelApi: {
        ...SENTINEL_API_DEFAULTS,
        // Theirs, so deletes find what the upstream connector wrote.
        sourceSystem: "Opencti Stream Connector",
        workspace: {
          workspaceId: IDS.workspace,
          subscriptionId: IDS.subscription,
          resourceGroup: "default",
          workspaceName: "ws-sec",
        },
      },
    },
  ),
  "upstream_defender_intel.compose.yml": expectedConfig(
    {
      id: UPSTREAM_DEFENDER_CONNECTOR_ID,
      // Its CONNECTOR_CONFIG_DOC.md defaults (the compose leaves both unset).
      name: "Microsoft Defender Intel",
      scope: ["defender"],
      logLevel: "info",
    },
    {
      target: "defender",
      loginUrl: "https://login.microsoft.com",
      batchSize: 500,
      rateLimitPerMinute: 30,
      upstream: "defender",
      defender: {
        ...DEFENDER_DEFAULTS,
        action: "Alert",
        application: "OpenCTI Microsoft Defender Intel",
      },
    },
  ),
  "upstream_defender_intel_synchronizer.compose.yml": expectedConfig(
    {
      id: IDS.sentinel,
      name: "Microsoft Defender Intel Synchronizer",
      scope: ["sentinel"],
      logLevel: "error",
      // Not followed: the TAXII collections are the source (the default id stays).
      liveStream: { ...LIVE, id: "live" },
    },
    {
      target: "defender",
      loginUrl: "https://login.microsoftonline.com",
      batchSize: 500,
      rateLimitPerMinute: 30,
      // INTERVAL 300 (seconds).
      reconcilePeriodMs: 300_000,
      upstream: "defender",
      taxiiCollections: ["COLLECTION1", "COLLECTION2"],
      // Its per-collection policies, as its compose gives them.
      taxiiPolicies: {
        COLLECTION1: {
          action: "Block",
          expireTimeDays: 7,
          recommendedActions: "Block immediately",
          educateUrl: "https://support.example.com",
          rbacGroupNames: ["Linux Servers", "Production"],
        },
        COLLECTION2: { action: "Audit", expireTimeDays: 30 },
      },
      defender: {
        ...DEFENDER_DEFAULTS,
        action: "Audit",
        application: "OpenCTI Microsoft Defender Intel Synchronizer",
        rbacGroupNames: ["Default Group"],
      },
    },
  ),
  "upstream_graph_security_intel.compose.yml": expectedConfig(
    {
      id: IDS.sentinel,
      name: "Microsoft Graph Security Intel",
      scope: ["sentinel"],
      logLevel: "info",
    },
    {
      target: "graph",
      loginUrl: "https://login.microsoft.com",
      batchSize: 100,
      rateLimitPerMinute: 1000,
      upstream: "graph",
    },
  ),
};

for (const [name, expected] of Object.entries(EXPECTED)) {
  Deno.test(`${name}: --check-config exits 0 and --print-config=json gives the expected configuration`, async () => {
    const env = composeEnv(name);
    const check = await runMain(["--check-config"], env);
    assert.equal(check.code, 0, check.stderr);
    const printed = await runMain(["--print-config=json"], env);
    assert.equal(printed.code, 0, printed.stderr);
    assert.deepEqual(JSON.parse(printed.stdout), expected);
    for (const secret of ["compose-opencti-token-1111", "compose-client-secret-2222"]) {
      assert.ok(!printed.stdout.includes(secret) && !printed.stderr.includes(secret));
    }
  });
}

/** The tenant, application and secret under `prefix` (our own names without one). */
function credentials(prefix?: string): Env {
  const name = (key: string) => prefix === undefined ? key : `${prefix}_${key}`;
  return {
    [name("TENANT_ID")]: TENANT,
    [name("CLIENT_ID")]: CLIENT,
    [name("CLIENT_SECRET")]: "Zq9-CLIENT-s3cret-value",
  };
}

/** The Log Analytics workspace, with the upstream Sentinel connector's names. */
const SENTINEL_WORKSPACE: Env = {
  MICROSOFT_SENTINEL_INTEL_WORKSPACE_ID: IDS.workspace,
  MICROSOFT_SENTINEL_INTEL_WORKSPACE_NAME: "ws",
  MICROSOFT_SENTINEL_INTEL_SUBSCRIPTION_ID: IDS.subscription,
};

const BASE: Env = {
  OPENCTI_URL: "http://opencti.test",
  OPENCTI_TOKEN: "Zq9-OPENCTI-s3cret-token",
  CONNECTOR_ID: IDS.sentinel,
};

Deno.test("every upstream name reaches the option it aliases (environment and YAML)", () => {
  let checked = 0;
  for (const spec of Object.values(SENTINEL_OPTIONS)) {
    const names: readonly string[] = "upstreamEnv" in spec ? spec.upstreamEnv : [];
    const paths: readonly string[] = "upstreamYaml" in spec ? spec.upstreamYaml : [];
    assert.equal(names.length, paths.length);
    for (const [i, name] of names.entries()) {
      const path = paths[i] as string;
      const fromEnv = new Reader({ [name]: "v" }, undefined);
      assert.equal(fromEnv.find(spec)?.env, name);
      assert.equal(fromEnv.label(spec, fromEnv.find(spec)), `${name} (${path})`);
      const [section, key] = path.split(".") as [string, string];
      const fromYaml = new Reader({}, { [section]: { [key]: "v" } });
      assert.equal(fromYaml.find(spec)?.yaml, path);
      assert.equal(fromYaml.label(spec, fromYaml.find(spec)), `${name} (${path})`);
      // Our own names win over theirs.
      const both = new Reader({ [name]: "theirs", [spec.env[0] as string]: "ours" }, undefined);
      assert.equal(both.find(spec)?.value, "ours");
      checked++;
    }
  }
  assert.ok(checked >= 50, `only ${checked} upstream names`);
});

Deno.test("upstream names set the values they document", () => {
  const { config, warnings } = valid({
    ...BASE,
    ...credentials("MICROSOFT_SENTINEL_INTEL"),
    ...SENTINEL_WORKSPACE,
    MICROSOFT_SENTINEL_INTEL_RESOURCE_GROUP: "rg",
    MICROSOFT_SENTINEL_INTEL_SOURCE_SYSTEM: "Mine",
    MICROSOFT_SENTINEL_INTEL_DELETE_EXTENSIONS: "False",
    MICROSOFT_SENTINEL_INTEL_EXTRA_LABELS: "a,b",
    MICROSOFT_SENTINEL_INTEL_WORKSPACE_API_VERSION: "2024-02-01-preview",
    MICROSOFT_SENTINEL_INTEL_MANAGEMENT_API_VERSION: "2025-03-01",
    MICROSOFT_SENTINEL_INTEL_QUERY_API_VERSION: "2025-07-01-preview",
    MICROSOFT_SENTINEL_INTEL_BATCH_MODE: "true",
    MICROSOFT_SENTINEL_INTEL_BATCH_SIZE: "50",
    MICROSOFT_SENTINEL_INTEL_BATCH_TIMEOUT: "30",
    MICROSOFT_SENTINEL_INTEL_EVENT_TYPES: "create,update",
    MICROSOFT_SENTINEL_INTEL_PUBLISH_IDENTITIES: "true",
  });
  const s = config.sentinel!;
  assert.equal(s.target, "sentinel");
  assert.equal(s.sentinelApi.sourceSystem, "Mine");
  assert.equal(s.sentinelApi.workspace?.resourceGroup, "rg");
  assert.deepEqual(s.extraLabels, ["a", "b"]);
  assert.equal(s.batchSize, 50);
  assert.equal(s.batchTimeoutMs, 30_000);
  assert.deepEqual(s.eventTypes, ["create", "update"]);
  assert.equal(s.sentinelApi.publishIdentities, true);
  assert.ok(
    warnings.some((w) => w.startsWith("MICROSOFT_SENTINEL_INTEL_DELETE_EXTENSIONS")),
    warnings.join("\n"),
  );

  const defender = valid({
    ...BASE,
    ...credentials("MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER"),
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_ACTION: "AlertAndBlock",
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_RBAC_GROUP_NAMES: '["Default Group", "Linux Servers"]',
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_MAX_INDICATORS: "200",
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_RECOMMENDED_ACTIONS: "Isolate the device",
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_EDUCATE_URL: "https://support.example.com/",
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_RESOURCE_PATH: "/api/indicators",
  }).config.sentinel!;
  assert.equal(defender.target, "defender");
  assert.equal(defender.defender.action, "AlertAndBlock");
  assert.deepEqual(defender.defender.rbacGroupNames, ["Default Group", "Linux Servers"]);
  assert.equal(defender.defender.maxIndicators, 200);
  assert.equal(defender.defender.recommendedActions, "Isolate the device");
  assert.equal(defender.defender.educateUrl, "https://support.example.com");
});

Deno.test("the upstream YAML sections are read, and select the target", () => {
  const { config } = valid({}, {
    opencti: { url: "http://localhost", token: "yaml-token-1111" },
    connector: { id: IDS.sentinel, live_stream_id: "live-1" },
    microsoft_graph_security_intel: {
      tenant_id: TENANT,
      client_id: CLIENT,
      client_secret: "yaml-secret-2222",
      target_product: "Microsoft Defender ATP",
      action: "block",
      base_url: "https://graph.microsoft.us",
    },
  });
  const s = config.sentinel!;
  assert.equal(s.target, "graph");
  assert.equal(s.graph.targetProduct, "Microsoft Defender ATP");
  assert.equal(s.graph.resourceUrl, "https://graph.microsoft.us");
  assert.equal(s.action, "block");
  assert.equal(s.loginUrl, "https://login.microsoft.com");
});

Deno.test("MICROSOFT_SENTINEL_INTEL_AUTH_TYPE=azure_credential alone enables SENTINEL_AUTH=default", () => {
  const { config } = valid({
    ...BASE,
    MICROSOFT_SENTINEL_INTEL_AUTH_TYPE: "azure_credential",
    ...SENTINEL_WORKSPACE,
  });
  const s = config.sentinel!;
  assert.equal(s.target, "sentinel");
  assert.equal(s.auth, "default");
  assert.equal(s.credential.kind, "managed_identity");
});

Deno.test("two upstream prefixes for one connector are an error naming both", () => {
  const problems = problemsOf({
    ...BASE,
    ...credentials("MICROSOFT_SENTINEL_INTEL"),
    MICROSOFT_DEFENDER_INTEL_ACTION: "Block",
  });
  const line = problems.find((p) => p.includes("two upstream connectors"));
  assert.ok(line, problems.join("\n"));
  assert.match(line, /MICROSOFT_SENTINEL_INTEL_\*/);
  assert.match(line, /MICROSOFT_DEFENDER_INTEL_\* \(MICROSOFT_DEFENDER_INTEL_ACTION\)/);
  assert.match(line, /stream\/microsoft-sentinel-intel, stream\/microsoft-defender-intel/);
});

Deno.test("SENTINEL_TARGET contradicting the upstream prefix is an error", () => {
  const problems = problemsOf({
    ...BASE,
    SENTINEL_TARGET: "graph",
    ...credentials("MICROSOFT_DEFENDER_INTEL"),
  });
  assert.ok(
    problems.some((p) =>
      p.startsWith("SENTINEL_TARGET (sentinel.target): graph contradicts") &&
      p.includes("SENTINEL_TARGET=defender")
    ),
    problems.join("\n"),
  );
});

Deno.test("the new options reject what they cannot take, naming the variable", () => {
  const env = {
    ...BASE,
    ...credentials(),
  };
  const cases: [Env, RegExp][] = [
    [
      { SENTINEL_EVENT_TYPES: "create,merge" },
      /^SENTINEL_EVENT_TYPES \(sentinel\.event_types\): expected a comma-separated list of "create", "update" or "delete"/,
    ],
    [
      { SENTINEL_EVENT_TYPES: "," },
      /^SENTINEL_EVENT_TYPES \(sentinel\.event_types\): expected at least one/,
    ],
    [
      { DEFENDER_ACTION: "Quarantine" },
      /^DEFENDER_ACTION \(sentinel\.defender_action\): expected "Warn", "Block"/,
    ],
    [
      { MICROSOFT_DEFENDER_INTEL_MAX_INDICATORS: "20000" },
      /^MICROSOFT_DEFENDER_INTEL_MAX_INDICATORS \(microsoft_defender_intel\.max_indicators\): expected a whole number from 1 to 15000/,
    ],
    [
      { DEFENDER_RBAC_GROUP_NAMES: '["a", 1]' },
      /^DEFENDER_RBAC_GROUP_NAMES \(sentinel\.defender_rbac_group_names\): expected a JSON array of texts/,
    ],
    [{ DEFENDER_RESOURCE_PATH: "api/v2/indicators" }, /^DEFENDER_RESOURCE_PATH/],
  ];
  for (const [extra, pattern] of cases) {
    const problems = problemsOf({ ...env, ...extra });
    assert.ok(
      problems.some((p) => pattern.test(p)),
      `${JSON.stringify(extra)}: ${problems.join("\n")}`,
    );
  }
});

Deno.test("README's migration tables are generated from the declarations (deno task docs)", () => {
  const readme = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
  assert.equal(readme, withMigration(readme, migrationTables(CONNECTOR_SETTINGS)));
  for (
    const source of [
      "stream/microsoft-sentinel-intel",
      "stream/microsoft-defender-intel",
      "stream/microsoft-graph-security-intel",
    ]
  ) {
    assert.ok(readme.includes(`### \`${source}\``), source);
  }
});

Deno.test("SENTINEL_PUBLISH_IDENTITIES with another target warns that it has no effect", () => {
  const { warnings } = valid({
    ...BASE,
    ...credentials("MICROSOFT_DEFENDER_INTEL"),
    SENTINEL_PUBLISH_IDENTITIES: "true",
  });
  assert.ok(
    warnings.some((w) =>
      w.startsWith("SENTINEL_PUBLISH_IDENTITIES (sentinel.publish_identities): identities") &&
      w.endsWith("SENTINEL_TARGET=defender")
    ),
    warnings.join("\n"),
  );
});

Deno.test("each upstream connector's CONNECTOR_NAME and CONNECTOR_SCOPE defaults apply with its names only", () => {
  const sentinelNames = { ...credentials("MICROSOFT_SENTINEL_INTEL"), ...SENTINEL_WORKSPACE };
  const sentinel = valid({ ...BASE, CONNECTOR_LIVE_STREAM_ID: "live-1", ...sentinelNames })
    .config.sentinel!;
  assert.equal(sentinel.connector.name, "MicrosoftSentinelIntel");
  assert.deepEqual(sentinel.connector.scope, ["sentinel"]);
  // A name the user sets wins.
  const named = valid({
    ...BASE,
    CONNECTOR_LIVE_STREAM_ID: "live-1",
    CONNECTOR_NAME: "Mine",
    CONNECTOR_SCOPE: "a,b",
    ...sentinelNames,
  }).config.sentinel!;
  assert.equal(named.connector.name, "Mine");
  assert.deepEqual(named.connector.scope, ["a", "b"]);

  const defender = valid({
    OPENCTI_URL: "http://opencti.test",
    OPENCTI_TOKEN: "Zq9-OPENCTI-s3cret-token",
    CONNECTOR_LIVE_STREAM_ID: "live-1",
    ...credentials("MICROSOFT_DEFENDER_INTEL"),
  }).config.sentinel!;
  assert.equal(defender.connector.name, "Microsoft Defender Intel");
  assert.deepEqual(defender.connector.scope, ["defender"]);
  assert.equal(defender.connector.id, UPSTREAM_DEFENDER_CONNECTOR_ID);

  // The synchronizer documents none (its compose sets them): ours, and its own application and action.
  const synchronizer = valid({
    ...BASE,
    CONNECTOR_LIVE_STREAM_ID: "live-1",
    ...credentials("MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER"),
  }).config.sentinel!;
  assert.equal(synchronizer.connector.name, "Microsoft Sentinel");
  assert.equal(synchronizer.defender.application, "OpenCTI Microsoft Defender Intel Synchronizer");
  assert.equal(synchronizer.defender.action, "Audit");

  // Our own names keep ours.
  const ours = valid({
    ...BASE,
    CONNECTOR_LIVE_STREAM_ID: "live-1",
    SENTINEL_TARGET: "defender",
    ...credentials(),
  }).config.sentinel!;
  assert.equal(ours.connector.name, "Microsoft Sentinel");
  assert.deepEqual(ours.connector.scope, ["sentinel"]);
});

Deno.test("the synchronizer's TAXII settings: its policies are read, max_indicators and UPDATE_ONLY_OWNED=false warn, bad policies, empty collections and a zero period are refused", () => {
  const names = {
    ...BASE,
    ...credentials("MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER"),
  };
  const { config, warnings } = valid({
    ...names,
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_TAXII_COLLECTIONS:
      '{"c1": {"action": "Block", "max_indicators": 10}, "c2": {}}',
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_UPDATE_ONLY_OWNED: "false",
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_PASSIVE_ONLY: "true",
  });
  const s = config.sentinel!;
  assert.deepEqual(s.taxiiCollections, ["c1", "c2"]);
  assert.equal(s.reconcilePeriodMs, 300_000);
  // Their emulate-only mode: every reconcile plans and changes nothing.
  assert.equal(s.reconcileDryRun, true);
  assert.deepEqual(s.taxiiPolicies, { c1: { action: "Block" } });
  assert.ok(
    warnings.some((w) => w.includes(": c1: max_indicators not applied")),
    warnings.join("\n"),
  );
  const bad = problemsOf({
    ...names,
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_TAXII_COLLECTIONS:
      '{"c1": {"action": "Nuke", "expire_time": "forever"}}',
  });
  assert.ok(bad.some((p) => p.includes(": c1.action: expected")), bad.join("\n"));
  assert.ok(bad.some((p) => p.includes(": c1.expire_time: expected")), bad.join("\n"));
  assert.ok(
    warnings.some((w) =>
      w.startsWith("MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_UPDATE_ONLY_OWNED") &&
      w.includes("never updates or deletes records this connector does not own")
    ),
    warnings.join("\n"),
  );
  // SENTINEL_RECONCILE_PERIOD wins over INTERVAL.
  assert.equal(
    valid({
      ...names,
      MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_TAXII_COLLECTIONS: "c1",
      MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_INTERVAL: "60",
      SENTINEL_RECONCILE_PERIOD: "PT1H",
    }).config.sentinel!.reconcilePeriodMs,
    3_600_000,
  );
  const empty = problemsOf({
    ...names,
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_TAXII_COLLECTIONS: " , ",
  });
  assert.ok(
    empty.some((p) => p.includes("expected at least one TAXII collection id")),
    empty.join("\n"),
  );
  const off = problemsOf({
    ...names,
    MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_TAXII_COLLECTIONS: "c1",
    SENTINEL_RECONCILE_PERIOD: "0",
  });
  assert.ok(off.some((p) => p.includes("they are all the connector does")), off.join("\n"));
});
