import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  ConfigError,
  loadConfig,
  printableConfig,
  REDACTED,
  resolveConfig,
  secretValues,
} from "../../src/config/mod.ts";
import {
  assertNoSecret,
  bothEnv,
  fixture,
  IDS,
  problemsOf,
  SECRETS,
  sentinelEnv,
  taniumEnv,
  valid,
} from "./helpers.ts";

const BASE = { OPENCTI_URL: "http://opencti.test", OPENCTI_TOKEN: SECRETS.opencti };

Deno.test("resolveConfig() lets environment variables win over YAML values", () => {
  const doc = fixture("upstream_sentinel.yml");
  const { config } = valid({
    OPENCTI_URL: "https://from-env.test",
    CONFIDENCE_LEVEL: "70",
    TLP_LEVEL: "green",
    CONNECTOR_LIVE_STREAM_ID: "env-stream",
  }, doc);
  const s = config.sentinel!;
  assert.equal(config.opencti.url, "https://from-env.test");
  assert.equal(s.confidenceLevel, 70);
  assert.equal(s.tlpLevel, "green");
  assert.equal(s.connector.liveStream.id, "env-stream");
  // Values only in YAML are kept.
  assert.equal(config.opencti.token, "yaml-opencti-token-1111");
  assert.equal(s.action, "alert");
  assert.equal(s.passiveOnly, true);
  assert.equal(s.loginUrl, "https://login.microsoft.com");
});

Deno.test("resolveConfig() reads an empty environment variable as the default, even over YAML", () => {
  const doc = fixture("upstream_sentinel.yml");
  const { config } = valid({ EXPIRE_TIME: "", TLP_LEVEL: " " }, doc);
  assert.equal(config.sentinel?.expireTimeDays, 30);
  assert.equal(config.sentinel?.tlpLevel, undefined);
});

Deno.test("resolveConfig() loads the upstream connectors' YAML layouts unchanged", () => {
  const sentinel = valid({}, fixture("upstream_sentinel.yml"));
  const s = sentinel.config.sentinel!;
  assert.deepEqual(sentinel.config.connectors, ["sentinel"]);
  assert.equal(s.connector.id, "11111111-2222-4333-8444-555555555555");
  assert.equal(s.connector.liveStream.id, "a1b2c3d4-live-stream");
  assert.equal(s.tenantId, "contoso.onmicrosoft.com");
  assert.deepEqual(s.credential, { kind: "secret", clientSecret: "yaml-client-secret-2222" });
  assert.equal(s.confidenceLevel, 50);
  assert.equal(s.graph.targetProduct, "Azure Sentinel");
  assert.ok(!sentinel.warnings.some((w) => w.includes("CONNECTOR_TYPE")));

  const tanium = valid({}, fixture("upstream_tanium_incidents.yml"));
  const t = tanium.config.taniumIncidents!;
  assert.deepEqual(tanium.config.connectors, ["tanium-incidents"]);
  assert.equal(t.connector.periodMs, 12 * 3_600_000);
  assert.equal(t.importStartDate, "2024-01-15T00:00:00.000Z");
  assert.equal(t.url, "https://example-api.titankube.com");
  assert.deepEqual(tanium.warnings, []);
});

Deno.test("resolveConfig() reads per-connector YAML sections with both connectors enabled", () => {
  const { config } = valid({}, fixture("both.yml"));
  const s = config.sentinel!;
  const t = config.taniumIncidents!;
  assert.deepEqual(config.connectors, ["sentinel", "tanium-incidents"]);
  assert.equal(s.connector.id, IDS.sentinel);
  assert.equal(t.connector.id, IDS.tanium);
  assert.equal(s.connector.liveStream.id, "stream-1");
  assert.equal(t.connector.periodMs, 1_800_000);
  // Shared `connector.*` values apply to both.
  assert.equal(config.logging.level, "warn");
  assert.equal(s.connector.logLevel, "warn");
  assert.equal(t.connector.queueThresholdMb, 250);
  assert.equal(s.connector.queueThresholdMb, 250);
  assert.equal(s.target, "defender");
  assert.equal(s.credential.kind, "certificate");
  assert.deepEqual(s.extraLabels, ["opencti", "feed-x"]);
  assert.equal(config.opencti.url, "https://opencti.example.com");
  assert.equal(config.server.port, 9090);
  assert.equal(config.logging.format, "json");
});

Deno.test("resolveConfig() prefers prefixed names over plain ones with both connectors enabled", () => {
  const { config } = valid(bothEnv({
    CONNECTOR_LOG_LEVEL: "error",
    SENTINEL_CONNECTOR_LOG_LEVEL: "debug",
    CONNECTOR_NAME: "Shared name",
    TANIUM_INCIDENTS_CONNECTOR_NAME: "Tanium here",
  }));
  assert.equal(config.sentinel?.connector.logLevel, "debug");
  assert.equal(config.taniumIncidents?.connector.logLevel, "error");
  assert.equal(config.sentinel?.connector.name, "Shared name");
  assert.equal(config.taniumIncidents?.connector.name, "Tanium here");
});

Deno.test("resolveConfig() rejects one connector id shared by both connectors", () => {
  const { SENTINEL_CONNECTOR_ID: _s, TANIUM_INCIDENTS_CONNECTOR_ID: _t, ...rest } = bothEnv();
  assert.deepEqual(problemsOf({ ...rest, CONNECTOR_ID: IDS.sentinel }), [
    "CONNECTOR_ID (connector.id): sentinel and tanium-incidents cannot share one connector id; " +
    "set SENTINEL_CONNECTOR_ID and TANIUM_INCIDENTS_CONNECTOR_ID to two different UUIDs",
  ]);
  assert.deepEqual(problemsOf(bothEnv({ TANIUM_INCIDENTS_CONNECTOR_ID: IDS.sentinel })), [
    "SENTINEL_CONNECTOR_ID (sentinel.connector.id) and TANIUM_INCIDENTS_CONNECTOR_ID " +
    "(tanium_incidents.connector.id): sentinel and tanium-incidents cannot share one connector " +
    "id; set SENTINEL_CONNECTOR_ID and TANIUM_INCIDENTS_CONNECTOR_ID to two different UUIDs",
  ]);
  // A plain id with one prefixed override is fine.
  const { config } = valid({
    ...rest,
    CONNECTOR_ID: IDS.sentinel,
    TANIUM_INCIDENTS_CONNECTOR_ID: IDS.tanium,
  });
  assert.equal(config.sentinel?.connector.id, IDS.sentinel);
  assert.equal(config.taniumIncidents?.connector.id, IDS.tanium);
});

Deno.test("resolveConfig() names the prefixed id as missing when both connectors are enabled", () => {
  const { SENTINEL_CONNECTOR_ID: _s, ...rest } = bothEnv();
  assert.deepEqual(problemsOf(rest), [
    "SENTINEL_CONNECTOR_ID (sentinel.connector.id): required (a UUID, stable across restarts; " +
    "generate one with uuidgen)",
  ]);
});

Deno.test("resolveConfig() infers the connectors from what is configured", () => {
  assert.deepEqual(valid(sentinelEnv()).config.connectors, ["sentinel"]);
  assert.deepEqual(valid(taniumEnv()).config.connectors, ["tanium-incidents"]);
  const { CONNECTOR_ID: _c, ...tanium } = taniumEnv();
  assert.deepEqual(
    valid({ ...tanium, ...bothEnv() }).config.connectors,
    ["sentinel", "tanium-incidents"],
  );
  // CONNECTORS wins over inference.
  const only = valid(bothEnv({ CONNECTORS: "tanium_incidents" })).config;
  assert.deepEqual(only.connectors, ["tanium-incidents"]);
  assert.equal(only.sentinel, undefined);
  // YAML list form.
  const yaml = valid(sentinelEnv(), { connectors: ["SENTINEL"] }).config;
  assert.deepEqual(yaml.connectors, ["sentinel"]);
});

Deno.test("resolveConfig() does not enable sentinel from the AKS-injected AZURE_* variables alone", () => {
  const problems = problemsOf({
    ...BASE,
    AZURE_TENANT_ID: IDS.tenant,
    AZURE_CLIENT_ID: IDS.client,
    AZURE_FEDERATED_TOKEN_FILE: "/var/run/token",
  });
  assert.ok(problems[0]?.startsWith("CONNECTORS (connectors): no connector is configured"));
});

Deno.test("resolveConfig() says what to set when no connector is configured", () => {
  const problems = problemsOf({});
  assert.equal(problems.length, 3);
  const first = problems[0] ?? "";
  for (const name of ["CONNECTORS", "TENANT_ID", "CLIENT_ID", "TANIUM_INCIDENTS_URL"]) {
    assert.ok(first.includes(name), `${name} in ${first}`);
  }
  assert.equal(problems[1], "OPENCTI_URL (opencti.url): required (an http(s) URL)");
});

Deno.test("resolveConfig() rejects unknown connector names", () => {
  assert.deepEqual(problemsOf({ ...BASE, CONNECTORS: "sentinel,splunk" }), [
    'CONNECTORS (connectors): expected a comma-separated list of "sentinel", ' +
    '"tanium-incidents", "microsoft-incidents" or "tanium-intel"; got unknown "splunk"',
  ]);
});

Deno.test("resolveConfig() reports every problem at once with variable names and YAML paths", () => {
  const problems = problemsOf({
    CONNECTORS: "sentinel,tanium-incidents",
    OPENCTI_URL: "opencti:8080",
    OPENCTI_SSL_VERIFY: "maybe",
    SENTINEL_CONNECTOR_ID: "ChangeMe",
    TANIUM_INCIDENTS_CONNECTOR_ID: IDS.tanium,
    CLIENT_ID: IDS.client,
    CONFIDENCE_LEVEL: "high",
    TARGET_PRODUCT: "Microsoft Sentinel",
    SENTINEL_TARGET: "sentinel",
    SENTINEL_WORKSPACE_ID: IDS.workspace,
    SENTINEL_SUBSCRIPTION_ID: IDS.subscription,
    SENTINEL_RESOURCE_GROUP: "rg",
    SENTINEL_WORKSPACE_NAME: "ws",
    SENTINEL_BATCH_SIZE: "500",
    TANIUM_INCIDENTS_URL: "https://tanium-api.test",
    TANIUM_INCIDENTS_IMPORT_START_DATE: "2024-15-01",
    TANIUM_INCIDENTS_PAGE_SIZE: "1000",
    SERVER_PORT: "http",
  });
  assert.deepEqual(problems, [
    'OPENCTI_URL (opencti.url): expected an http:// or https:// URL; got "opencti:8080"',
    "OPENCTI_TOKEN (opencti.token): required (the API token of the connector's OpenCTI user)",
    "OPENCTI_SSL_VERIFY (opencti.ssl_verify): expected true or false (yes/no and 1/0 also " +
    'work); got "maybe"',
    "SENTINEL_CONNECTOR_ID (sentinel.connector.id): expected a UUID (generate one with uuidgen) " +
    'such as 8f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9; got "ChangeMe"',
    "TENANT_ID (sentinel.tenant_id): required (the Entra ID directory (tenant) id)",
    "CLIENT_SECRET (sentinel.client_secret): required (a credential): set CLIENT_SECRET, or " +
    "CLIENT_CERTIFICATE_PATH and CLIENT_PRIVATE_KEY_PATH, or AZURE_FEDERATED_TOKEN_FILE",
    'TARGET_PRODUCT (sentinel.target_product): expected "Azure Sentinel" or "Microsoft ' +
    'Defender ATP"; got "Microsoft Sentinel"',
    'CONFIDENCE_LEVEL (sentinel.confidence_level): expected a whole number from 0 to 100; got "high"',
    'SENTINEL_BATCH_SIZE (sentinel.batch_size): expected a whole number from 1 to 100; got "500"',
    "TANIUM_INCIDENTS_CONNECTOR_DURATION_PERIOD (tanium_incidents.connector.duration_period): " +
    'required unless CONNECTOR_RUN_AND_TERMINATE=true (an ISO-8601 duration such as "PT1H")',
    "TANIUM_INCIDENTS_URL_CONSOLE (tanium_incidents.url_console): required (the Tanium console " +
    "base URL, for links)",
    "TANIUM_INCIDENTS_TOKEN (tanium_incidents.token): required (a Tanium API token)",
    "TANIUM_INCIDENTS_IMPORT_START_DATE (tanium_incidents.import_start_date): expected a date " +
    'YYYY-MM-DD or an ISO-8601 date-time (no zone means UTC); got "2024-15-01"',
    'TANIUM_INCIDENTS_PAGE_SIZE (tanium_incidents.page_size): expected a whole number from 1 to 500; got "1000"',
    'SERVER_PORT (server.port): expected a whole number from 0 to 65535; got "http"',
  ]);
});

Deno.test("resolveConfig() names the YAML path a bad value came from", () => {
  const problems = problemsOf({}, {
    opencti: { url: "http://x.test", token: "t0k3n-value" },
    connector: { id: IDS.sentinel },
    sentinel: {
      tenant_id: IDS.tenant,
      client_id: IDS.client,
      client_secret: "s3cr3t-value",
      expire_time: "thirty",
      passive_only: "sometimes",
      extra_labels: { a: 1 },
    },
  });
  assert.deepEqual(problems, [
    'EXPIRE_TIME (sentinel.expire_time): expected a whole number of at least 1; got "thirty"',
    'PASSIVE_ONLY (sentinel.passive_only): expected true or false (yes/no and 1/0 also work); got "sometimes"',
    "SENTINEL_EXTRA_LABELS (sentinel.extra_labels): expected a comma-separated list; got a mapping",
  ]);
});

Deno.test("resolveConfig() requires exactly one credential kind", () => {
  assert.deepEqual(problemsOf(sentinelEnv({ AZURE_FEDERATED_TOKEN_FILE: "/run/token" })), [
    "CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE: set exactly one credential kind (client secret, " +
    "certificate pair, or federated token file); remove the others",
  ]);
  const { CLIENT_SECRET: _s, ...noSecret } = sentinelEnv();
  assert.deepEqual(problemsOf({ ...noSecret, CLIENT_CERTIFICATE_PATH: "/run/cert.pem" }), [
    "CLIENT_PRIVATE_KEY_PATH (sentinel.client_private_key_path): required with " +
    "CLIENT_CERTIFICATE_PATH (the certificate's PEM PKCS#8 private key)",
  ]);
  assert.deepEqual(
    problemsOf({
      ...noSecret,
      CLIENT_CERTIFICATE_PATH: "/run/cert.pem",
      CLIENT_PRIVATE_KEY_PATH: "/run/key.pem",
      CLIENT_ASSERTION_ALG: "ES256",
    }),
    ['CLIENT_ASSERTION_ALG (sentinel.client_assertion_alg): expected "PS256" or "RS256"; got "ES256"'],
  );
});

Deno.test("resolveConfig() requires the workspace for SENTINEL_TARGET=sentinel", () => {
  assert.deepEqual(
    problemsOf(sentinelEnv({ SENTINEL_TARGET: "sentinel" })).map((p) => p.split(":")[0]),
    [
      "SENTINEL_WORKSPACE_ID (sentinel.workspace_id)",
      "SENTINEL_SUBSCRIPTION_ID (sentinel.subscription_id)",
      "SENTINEL_RESOURCE_GROUP (sentinel.resource_group)",
      "SENTINEL_WORKSPACE_NAME (sentinel.workspace_name)",
    ],
  );
  assert.deepEqual(
    problemsOf(sentinelEnv({ SENTINEL_TARGET: "splunk" })),
    ['SENTINEL_TARGET (sentinel.target): expected "graph", "sentinel" or "defender"; got "splunk"'],
  );
  assert.deepEqual(problemsOf(sentinelEnv({ SENTINEL_SOURCE_SYSTEM: "Microsoft Sentinel" })), [
    'SENTINEL_SOURCE_SYSTEM (sentinel.source_system): "Microsoft Sentinel" is reserved by ' +
    'Microsoft; choose another name such as "OpenCTI"',
  ]);
});

Deno.test("resolveConfig() forces each connector's type and warns about another value", () => {
  const { config, warnings } = valid(taniumEnv({ CONNECTOR_TYPE: "STREAM" }));
  assert.equal(config.taniumIncidents?.connector.type, "EXTERNAL_IMPORT");
  assert.deepEqual(warnings, [
    "CONNECTOR_TYPE (connector.type): tanium-incidents always registers as EXTERNAL_IMPORT; the " +
    'configured "STREAM" is ignored',
  ]);
  const s = valid(sentinelEnv({ SENTINEL_TARGET: "defender" }), {
    connector: { type: "EXTERNAL_IMPORT" },
  });
  assert.equal(s.config.sentinel?.connector.type, "STREAM");
  assert.deepEqual(s.warnings, [
    "CONNECTOR_TYPE (connector.type): sentinel always registers as STREAM; the configured " +
    '"EXTERNAL_IMPORT" is ignored',
  ]);
});

Deno.test("resolveConfig() warns that the Graph target is retired", () => {
  const { warnings } = valid(sentinelEnv());
  assert.ok(warnings.some((w) => w.startsWith("SENTINEL_TARGET (sentinel.target) is graph")));
});

Deno.test("resolveConfig() runs tanium-incidents once without a period when run-and-terminate is set", () => {
  const { CONNECTOR_DURATION_PERIOD: _d, ...noPeriod } = taniumEnv();
  const once = valid({ ...noPeriod, CONNECTOR_RUN_AND_TERMINATE: "yes" }).config.taniumIncidents!;
  assert.equal(once.connector.periodMs, 0);
  assert.equal(once.connector.durationPeriod, undefined);
  const zero = valid(taniumEnv({ CONNECTOR_DURATION_PERIOD: "0" })).config.taniumIncidents!;
  assert.equal(zero.connector.periodMs, 0);
  assert.deepEqual(problemsOf(taniumEnv({ CONNECTOR_DURATION_PERIOD: "hourly" })), [
    "CONNECTOR_DURATION_PERIOD (connector.duration_period): expected an ISO-8601 duration such " +
    'as "PT1H", "PT30M" or "P1D" (or "0" to run once); got "hourly"',
  ]);
});

Deno.test("resolveConfig() honours DENO_SERVE_ADDRESS only where SERVER_* are unset", () => {
  const address = { DENO_SERVE_ADDRESS: "tcp:127.0.0.3:8100" };
  assert.deepEqual(valid(sentinelEnv(address)).config.server, { host: "127.0.0.3", port: 8100 });
  assert.deepEqual(
    valid(sentinelEnv({ ...address, SERVER_PORT: "9000" })).config.server,
    { host: "127.0.0.3", port: 9000 },
  );
  assert.deepEqual(
    valid(sentinelEnv(address), { server: { host: "::" } }).config.server,
    { host: "::", port: 8100 },
  );
});

Deno.test("resolveConfig() warns about unknown YAML keys", () => {
  const { warnings } = valid(sentinelEnv(), {
    sentinel: { tenantid: "x", connector: { live_stream_id: "s" } },
    tanium_incidents: { connector: { live_stream_id: "t" } },
    extra: 1,
  });
  assert.deepEqual(warnings.filter((w) => w.startsWith("config file")), [
    'config file: unknown key "sentinel.tenantid" is ignored (check its spelling)',
    'config file: unknown key "tanium_incidents.connector.live_stream_id" is ignored (check its spelling)',
    'config file: unknown key "extra" is ignored (check its spelling)',
  ]);
  assert.deepEqual(problemsOf(sentinelEnv(), ["a", "b"]), [
    "config file: expected a YAML mapping (key: value lines) at the top level",
  ]);
});

Deno.test("printableConfig() replaces every secret and secretValues() lists them", () => {
  const { config } = valid(bothEnv({ SERVER_ADMIN_TOKEN: SECRETS.admin }));
  const printed = JSON.stringify(printableConfig(config));
  assertNoSecret(printed);
  assert.equal(printed.split(REDACTED).length - 1, 4);
  assert.deepEqual(secretValues(config).sort(), Object.values(SECRETS).sort());
  // The original is untouched.
  assert.equal(config.opencti.token, SECRETS.opencti);
});

Deno.test("printableConfig() also hides a secret repeated in a non-secret field", () => {
  const { config } = valid(sentinelEnv({ CONNECTOR_NAME: `name ${SECRETS.client}` }));
  assertNoSecret(JSON.stringify(printableConfig(config)));
});

Deno.test("validation errors and warnings never show a secret value", () => {
  const cases = [
    // Bad values of secret fields are described, not echoed.
    sentinelEnv({ OPENCTI_TOKEN: `${SECRETS.opencti} x`, CLIENT_SECRET: `${SECRETS.client}\nx` }),
    taniumEnv({ TANIUM_INCIDENTS_TOKEN: ` ${SECRETS.tanium} trailing`, CONNECTOR_ID: "bad" }),
    // A secret pasted into a non-secret field is masked.
    sentinelEnv({ OPENCTI_URL: SECRETS.opencti, CONNECTOR_ID: SECRETS.client }),
    bothEnv({ SERVER_ADMIN_TOKEN: SECRETS.admin, SERVER_HOST: `${SECRETS.admin} x` }),
  ];
  for (const env of cases) {
    const problems = problemsOf(env);
    assert.ok(problems.length > 0);
    for (const line of problems) assertNoSecret(line);
  }
  const error = (() => {
    try {
      resolveConfig(undefined, sentinelEnv({ CLIENT_SECRET: `${SECRETS.client} space` }));
    } catch (e) {
      return e as ConfigError;
    }
  })();
  assert.ok(error instanceof ConfigError);
  assertNoSecret(error.message);
  assert.match(
    error.message,
    /CLIENT_SECRET \(sentinel\.client_secret\): .*the value is not shown/,
  );
  const { warnings } = valid(sentinelEnv({ SERVER_ADMIN_TOKEN: "short-Zq9" }));
  for (const warning of warnings) assert.ok(!warning.includes("short-Zq9"));
});

function files(map: Record<string, string>): (path: string) => Promise<string> {
  return (path) => {
    const text = map[path];
    return text === undefined
      ? Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`))
      : Promise.resolve(text);
  };
}

const SENTINEL_YAML = Deno.readTextFileSync(
  new URL("../fixtures/config/upstream_sentinel.yml", import.meta.url),
);

Deno.test("loadConfig() reads --config, else CONFIG_FILE, else ./config.yml if present", async () => {
  const read = files({
    "a.yml": SENTINEL_YAML,
    "b.yml": SENTINEL_YAML,
    "./config.yml": SENTINEL_YAML,
  });
  assert.equal((await loadConfig({ file: "a.yml", env: {}, readTextFile: read })).file, "a.yml");
  assert.equal(
    (await loadConfig({ env: { CONFIG_FILE: "b.yml" }, readTextFile: read })).file,
    "b.yml",
  );
  const fallback = await loadConfig({ env: {}, readTextFile: read });
  assert.equal(fallback.file, "./config.yml");
  assert.equal(fallback.config.sentinel?.tenantId, "contoso.onmicrosoft.com");
  const none = await loadConfig({ env: sentinelEnv(), readTextFile: files({}) });
  assert.equal(none.file, undefined);
  assert.deepEqual(none.config.connectors, ["sentinel"]);
});

Deno.test("loadConfig() fails clearly when a named file is missing", async () => {
  await assert.rejects(
    loadConfig({ file: "missing.yml", env: sentinelEnv(), readTextFile: files({}) }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        "--config missing.yml: cannot read it: the file does not exist",
      ]);
      return true;
    },
  );
  await assert.rejects(
    loadConfig({ env: sentinelEnv({ CONFIG_FILE: "gone.yml" }), readTextFile: files({}) }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems[0] === "CONFIG_FILE gone.yml: cannot read it: the file does not exist",
  );
});

Deno.test("loadConfig() reports invalid YAML without quoting the file", async () => {
  const text = `opencti:\n  token: ${SECRETS.opencti}: nested: bad\n`;
  assert.throws(() => parse(text));
  await assert.rejects(
    loadConfig({ file: "c.yml", env: {}, readTextFile: files({ "c.yml": text }) }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.problems.length, 1);
      assert.match(
        error.problems[0] ?? "",
        /^config file c\.yml: cannot parse it as YAML: .+line 2/,
      );
      assertNoSecret(error.message);
      return true;
    },
  );
});

Deno.test("resolveConfig() reports a bad shared option once, not once per connector", () => {
  assert.deepEqual(problemsOf(bothEnv({ CONNECTOR_LOG_LEVEL: "verbose" })), [
    'CONNECTOR_LOG_LEVEL (connector.log_level): expected "debug", "info", "warn" or "error"; ' +
    'got "verbose"',
  ]);
});
