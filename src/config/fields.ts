/**
 * The catalogue of configuration options: for each, the environment variable names and YAML paths
 * accepted (first = the documented one), its default and its meaning. The loader reads values
 * through it, and the README table and `config.yml.sample` are checked against it.
 */
import type { ConnectorName } from "./types.ts";

/** Sections of the configuration table. */
export type Section =
  | "General"
  | "OpenCTI"
  | "Connector"
  | "Sentinel"
  | "Tanium incidents"
  | "Microsoft incidents"
  | "Server and logging";

/** One option: where it is read from and what it means. */
export interface FieldSpec {
  /** Environment variable names, tried in order; the first is the documented one. */
  env: readonly string[];
  /** YAML paths (dotted), tried in order after every environment name. */
  yaml: readonly string[];
  /** Environment names tried last, after YAML (platform-injected fallbacks). */
  fallbackEnv?: readonly string[];
  /** Never shown in messages or printed configuration. */
  secret?: boolean;
  /** The default, as documented. */
  default: string;
  /** What it does. */
  meaning: string;
  /** Table section. */
  section: Section;
}

function sentinelField(
  name: string,
  key: string,
  rest: Omit<FieldSpec, "env" | "yaml" | "section">,
  aliases = true,
): FieldSpec {
  return {
    env: aliases ? [name, `SENTINEL_${name}`] : [name],
    yaml: [`sentinel.${key}`],
    section: "Sentinel",
    ...rest,
  };
}

function taniumField(
  suffix: string,
  rest: Omit<FieldSpec, "env" | "yaml" | "section">,
): FieldSpec {
  return {
    env: [`TANIUM_INCIDENTS_${suffix}`],
    yaml: [`tanium_incidents.${suffix.toLowerCase()}`],
    section: "Tanium incidents",
    ...rest,
  };
}

function microsoftField(
  suffix: string,
  rest: Omit<FieldSpec, "env" | "yaml" | "section">,
): FieldSpec {
  return {
    env: [`MICROSOFT_INCIDENTS_${suffix}`],
    yaml: [`microsoft_incidents.${suffix.toLowerCase()}`],
    section: "Microsoft incidents",
    ...rest,
  };
}

/** Options that are not per connector. */
export const FIELDS = {
  configFile: {
    env: ["CONFIG_FILE"],
    yaml: [],
    default: "`./config.yml` if present",
    meaning: "YAML configuration file (the `--config` argument wins). Environment variables " +
      "override the file.",
    section: "General",
  },
  connectors: {
    env: ["CONNECTORS"],
    yaml: ["connectors"],
    default: "inferred",
    meaning: "Connectors to run: `sentinel`, `tanium-incidents`, `microsoft-incidents` " +
      "(comma-separated). Unset: `sentinel` when `TENANT_ID` or `CLIENT_ID` is set, " +
      "`tanium-incidents` when `TANIUM_INCIDENTS_URL` is set, `microsoft-incidents` with " +
      "sentinel when `IMPORT_INCIDENTS=true`.",
    section: "General",
  },
  openctiUrl: {
    env: ["OPENCTI_URL"],
    yaml: ["opencti.url"],
    default: "required",
    meaning: "OpenCTI platform URL (GraphQL at `<url>/graphql`).",
    section: "OpenCTI",
  },
  openctiToken: {
    env: ["OPENCTI_TOKEN"],
    yaml: ["opencti.token"],
    secret: true,
    default: "required",
    meaning: "API token of the OpenCTI user the connectors act as. Secret.",
    section: "OpenCTI",
  },
  openctiSslVerify: {
    env: ["OPENCTI_SSL_VERIFY"],
    yaml: ["opencti.ssl_verify"],
    default: "`true`",
    meaning: "Verify the platform's TLS certificate (pycti defaults to `false`; this program " +
      "verifies unless told not to).",
    section: "OpenCTI",
  },
  openctiCaFile: {
    env: ["OPENCTI_CA_FILE"],
    yaml: ["opencti.ca_file"],
    default: "none",
    meaning: "PEM file of extra CA certificates to trust for the platform.",
    section: "OpenCTI",
  },

  // Sentinel: seed names, each also accepted with a SENTINEL_ prefix.
  tenantId: sentinelField("TENANT_ID", "tenant_id", {
    fallbackEnv: ["AZURE_TENANT_ID"],
    default: "required",
    meaning: "Entra ID directory (tenant) id or verified domain. `AZURE_TENANT_ID` " +
      "(workload identity) is the fallback.",
  }),
  clientId: sentinelField("CLIENT_ID", "client_id", {
    fallbackEnv: ["AZURE_CLIENT_ID"],
    default: "required",
    meaning: "Application (client) id of the app registration. `AZURE_CLIENT_ID` is the fallback.",
  }),
  clientSecret: sentinelField("CLIENT_SECRET", "client_secret", {
    secret: true,
    default: "none",
    meaning: "Client secret value. Secret. Exactly one credential kind: this, the certificate " +
      "pair, or `AZURE_FEDERATED_TOKEN_FILE`.",
  }),
  loginUrl: sentinelField("LOGIN_URL", "login_url", {
    fallbackEnv: ["AZURE_AUTHORITY_HOST"],
    default: "`https://login.microsoftonline.com`",
    meaning: "Entra ID authority (`https://login.microsoft.com` also works; national clouds " +
      "have their own). `AZURE_AUTHORITY_HOST` is the fallback.",
  }),
  resourceUrl: sentinelField("RESOURCE_URL", "resource_url", {
    default: "`https://graph.microsoft.com`",
    meaning: "Graph base URL (target `graph`); the token scope is `<url>/.default`.",
  }),
  requestUrl: sentinelField("REQUEST_URL", "request_url", {
    default: "`/beta/security/tiIndicators`",
    meaning: "tiIndicators path below `RESOURCE_URL` (target `graph`).",
  }),
  confidenceLevel: sentinelField("CONFIDENCE_LEVEL", "confidence_level", {
    default: "`50`",
    meaning: "0-100. When `ACTION` is unset: score at or above it is `block`, below it `alert`, " +
      "score 0 `allow`, no score `unknown` (target `graph`).",
  }),
  expireTime: sentinelField("EXPIRE_TIME", "expire_time", {
    default: "`30`",
    meaning: "Days after `updated_at` an indicator without `valid_until` expires.",
  }),
  targetProduct: sentinelField("TARGET_PRODUCT", "target_product", {
    default: "`Azure Sentinel`",
    meaning:
      "Graph `targetProduct`: `Azure Sentinel` or `Microsoft Defender ATP` (target `graph`).",
  }),
  action: sentinelField("ACTION", "action", {
    default: "from the score",
    meaning: "Force the action: `unknown`, `allow`, `block` or `alert`.",
  }),
  tlpLevel: sentinelField("TLP_LEVEL", "tlp_level", {
    default: "from the markings",
    meaning: "Force the TLP level: `unknown`, `white`, `green`, `amber` or `red`.",
  }),
  passiveOnly: sentinelField("PASSIVE_ONLY", "passive_only", {
    default: "`false`",
    meaning: "Graph `passiveOnly` (audit only, no blocking).",
  }),

  // Sentinel: new names (no alias).
  target: {
    env: ["SENTINEL_TARGET"],
    yaml: ["sentinel.target"],
    default: "`graph`",
    meaning: "Where indicators go: `graph` (Graph tiIndicators, retired by Microsoft in April " +
      "2026), `sentinel` (Sentinel STIX objects upload API) or `defender` (Defender for " +
      "Endpoint indicators API).",
    section: "Sentinel",
  },
  clientCertificatePath: sentinelField("CLIENT_CERTIFICATE_PATH", "client_certificate_path", {
    default: "none",
    meaning: "PEM certificate uploaded to the app registration (certificate credential; with " +
      "`CLIENT_PRIVATE_KEY_PATH`).",
  }, false),
  clientPrivateKeyPath: sentinelField("CLIENT_PRIVATE_KEY_PATH", "client_private_key_path", {
    default: "none",
    meaning: "PEM PKCS#8 (`BEGIN PRIVATE KEY`) RSA key of that certificate.",
  }, false),
  clientAssertionAlg: sentinelField("CLIENT_ASSERTION_ALG", "client_assertion_alg", {
    default: "`PS256`",
    meaning: "Client assertion signature: `PS256` (with `x5t#S256`) or `RS256` (with `x5t`).",
  }, false),
  federatedTokenFile: {
    env: ["AZURE_FEDERATED_TOKEN_FILE"],
    yaml: ["sentinel.federated_token_file"],
    default: "none",
    meaning: "Workload identity: file holding the federated token (injected on AKS).",
    section: "Sentinel",
  },
  auth: {
    env: ["SENTINEL_AUTH"],
    yaml: ["sentinel.auth"],
    default: "`app_registration`",
    meaning: "How to authenticate: `app_registration` (exactly one client credential), " +
      "`default` (alias `azure_credential`: the first configured of environment secret, " +
      "environment certificate, workload identity, else managed identity) or " +
      "`managed_identity` (the host's managed identity only).",
    section: "Sentinel",
  },
  azureClientSecret: {
    env: ["AZURE_CLIENT_SECRET"],
    yaml: [],
    secret: true,
    default: "none",
    meaning: "`SENTINEL_AUTH=default` only: the environment secret (when `CLIENT_SECRET` is " +
      "unset). Secret.",
    section: "Sentinel",
  },
  azureClientCertificatePath: {
    env: ["AZURE_CLIENT_CERTIFICATE_PATH"],
    yaml: [],
    default: "none",
    meaning: "`SENTINEL_AUTH=default` only: one PEM file holding the certificate and its " +
      "private key (when the `CLIENT_CERTIFICATE_PATH` pair is unset).",
    section: "Sentinel",
  },
  identityEndpoint: {
    env: ["IDENTITY_ENDPOINT"],
    yaml: [],
    default: "set by the platform",
    meaning: "Managed identity on App Service, Functions or Container Apps: the local token " +
      "endpoint (with `IDENTITY_HEADER`); unset = IMDS.",
    section: "Sentinel",
  },
  identityHeader: {
    env: ["IDENTITY_HEADER"],
    yaml: [],
    secret: true,
    default: "set by the platform",
    meaning: "The header value that goes with `IDENTITY_ENDPOINT` (rotated by the platform). " +
      "Secret.",
    section: "Sentinel",
  },
  imdsEndpoint: {
    env: ["SENTINEL_IMDS_ENDPOINT"],
    yaml: ["sentinel.imds_endpoint"],
    default: "IMDS (`169.254.169.254`)",
    meaning: "Managed identity token URL of the Azure Instance Metadata Service (change it " +
      "only for the simulator).",
    section: "Sentinel",
  },
  workspaceId: {
    env: ["SENTINEL_WORKSPACE_ID"],
    yaml: ["sentinel.workspace_id"],
    default: "required for target `sentinel`",
    meaning: "Log Analytics workspace id (GUID) for the upload API.",
    section: "Sentinel",
  },
  subscriptionId: {
    env: ["SENTINEL_SUBSCRIPTION_ID"],
    yaml: ["sentinel.subscription_id"],
    default: "required for target `sentinel`",
    meaning: "Azure subscription id (GUID) of the workspace (for deletes).",
    section: "Sentinel",
  },
  resourceGroup: {
    env: ["SENTINEL_RESOURCE_GROUP"],
    yaml: ["sentinel.resource_group"],
    default: "required for target `sentinel`",
    meaning: "Resource group of the workspace (for deletes).",
    section: "Sentinel",
  },
  workspaceName: {
    env: ["SENTINEL_WORKSPACE_NAME"],
    yaml: ["sentinel.workspace_name"],
    default: "required for target `sentinel`",
    meaning: "Workspace name (for deletes).",
    section: "Sentinel",
  },
  sourceSystem: {
    env: ["SENTINEL_SOURCE_SYSTEM"],
    yaml: ["sentinel.source_system"],
    default: "`OpenCTI`",
    meaning: "`sourcesystem` of uploads; also how deletes find our objects (`Microsoft " +
      "Sentinel` is reserved).",
    section: "Sentinel",
  },
  extraLabels: {
    env: ["SENTINEL_EXTRA_LABELS"],
    yaml: ["sentinel.extra_labels"],
    default: "none",
    meaning: "Comma-separated labels added to every indicator sent.",
    section: "Sentinel",
  },
  sentinelApiUrl: {
    env: ["SENTINEL_API_URL"],
    yaml: ["sentinel.api_url"],
    default: "`https://api.ti.sentinel.azure.com`",
    meaning: "Sentinel upload API base URL (`.us`/`.cn` in national clouds).",
    section: "Sentinel",
  },
  managementUrl: {
    env: ["SENTINEL_MANAGEMENT_URL"],
    yaml: ["sentinel.management_url"],
    default: "`https://management.azure.com`",
    meaning: "Azure Resource Manager URL; the upload token scope is `<url>/.default`.",
    section: "Sentinel",
  },
  defenderApiUrl: {
    env: ["DEFENDER_API_URL"],
    yaml: ["sentinel.defender_api_url"],
    default: "`https://api.securitycenter.microsoft.com`",
    meaning: "Defender for Endpoint API base URL (regional and government hosts exist).",
    section: "Sentinel",
  },
  defenderScope: {
    env: ["DEFENDER_SCOPE"],
    yaml: ["sentinel.defender_scope"],
    default: "`https://api.securitycenter.microsoft.com/.default`",
    meaning: "Token scope for the Defender API.",
    section: "Sentinel",
  },
  defenderGenerateAlert: {
    env: ["DEFENDER_GENERATE_ALERT"],
    yaml: ["sentinel.defender_generate_alert"],
    default: "`true`",
    meaning: "Defender `generateAlert` on every indicator.",
    section: "Sentinel",
  },
  batchSize: {
    env: ["SENTINEL_BATCH_SIZE"],
    yaml: ["sentinel.batch_size"],
    default: "`100` (graph, sentinel), `500` (defender)",
    meaning: "Most indicators per target call (the default is also the maximum).",
    section: "Sentinel",
  },
  batchTimeoutMs: {
    env: ["SENTINEL_BATCH_TIMEOUT_MS"],
    yaml: ["sentinel.batch_timeout_ms"],
    default: "`1000`",
    meaning: "Longest wait, in ms, for a batch to fill before it is sent.",
    section: "Sentinel",
  },
  rateLimitPerMinute: {
    env: ["SENTINEL_RATE_LIMIT_PER_MINUTE"],
    yaml: ["sentinel.rate_limit_per_minute"],
    default: "`1000` (graph), `100` (sentinel), `30` (defender)",
    meaning: "Client-side pace of target calls per minute.",
    section: "Sentinel",
  },
  writeBack: {
    env: ["SENTINEL_WRITE_BACK"],
    yaml: ["sentinel.write_back"],
    default: "`false`",
    meaning: "Add an external reference to the Microsoft record on the OpenCTI indicator.",
    section: "Sentinel",
  },

  // Tanium incidents.
  taniumUrl: taniumField("URL", {
    default: "required",
    meaning: "Tanium API base URL (on Tanium Cloud the `-api` host).",
  }),
  taniumUrlConsole: taniumField("URL_CONSOLE", {
    default: "required",
    meaning: "Tanium console base URL, for the links on incidents.",
  }),
  taniumSslVerify: taniumField("SSL_VERIFY", {
    default: "`true`",
    meaning: "Verify Tanium's TLS certificate.",
  }),
  taniumToken: taniumField("TOKEN", {
    secret: true,
    default: "required",
    meaning: "Tanium API token (sent in the `session` header). Secret.",
  }),
  taniumImportAlerts: taniumField("IMPORT_ALERTS", {
    default: "`true`",
    meaning: "`false` = create sightings only (no incidents, observables, attack patterns).",
  }),
  taniumImportStartDate: taniumField("IMPORT_START_DATE", {
    default: "now - 1 year",
    meaning: "Where to start when there is no saved state: `YYYY-MM-DD` or an ISO date-time, " +
      "UTC when no zone is given.",
  }),
  taniumCaFile: taniumField("CA_FILE", {
    default: "none",
    meaning: "PEM file of extra CA certificates to trust for Tanium.",
  }),
  taniumIntelSourceNames: taniumField("INTEL_SOURCE_NAMES", {
    default: "`Tanium Threat Response Intel,Tanium`",
    meaning: "`source_name` values of the external references (written by the Tanium intel " +
      "stream connector) that link an alert's intel document to an OpenCTI entity.",
  }),
  taniumPageSize: taniumField("PAGE_SIZE", {
    default: "`500`",
    meaning: "Alerts per request (1-500).",
  }),
  taniumCron: taniumField("CRON", {
    default: "none",
    meaning: "Deno Deploy cron schedule (five fields, UTC), e.g. `0 * * * *`.",
  }),

  // Microsoft incidents.
  importIncidents: {
    env: ["IMPORT_INCIDENTS", "SENTINEL_IMPORT_INCIDENTS"],
    yaml: ["sentinel.import_incidents"],
    default: "`false`",
    meaning:
      "The seed's switch: `true` also runs `microsoft-incidents` whenever `sentinel` runs, " +
      "with sentinel's credentials.",
    section: "Microsoft incidents",
  },
  incidentUrl: {
    env: ["MICROSOFT_INCIDENTS_INCIDENT_URL", "INCIDENT_URL", "SENTINEL_INCIDENT_URL"],
    yaml: ["microsoft_incidents.incident_url", "sentinel.incident_url"],
    default: "`/v1.0/security/incidents`",
    meaning: "Graph incidents path below the resource URL (the seed's `INCIDENT_URL`), or a full " +
      "URL.",
    section: "Microsoft incidents",
  },
  msIncidentsResourceUrl: microsoftField("RESOURCE_URL", {
    default: "`RESOURCE_URL`, else `https://graph.microsoft.com`",
    meaning: "Graph base URL; the token scope is `<url>/.default`.",
  }),
  msIncidentsTenantId: microsoftField("TENANT_ID", {
    default: "sentinel's `TENANT_ID`",
    meaning: "Own Entra ID tenant; with `MICROSOFT_INCIDENTS_CLIENT_ID` and " +
      "`MICROSOFT_INCIDENTS_CLIENT_SECRET` replaces sentinel's credentials.",
  }),
  msIncidentsClientId: microsoftField("CLIENT_ID", {
    default: "sentinel's `CLIENT_ID`",
    meaning: "Own application (client) id (GUID), with the two other own settings.",
  }),
  msIncidentsClientSecret: microsoftField("CLIENT_SECRET", {
    secret: true,
    default: "sentinel's credential",
    meaning: "Own client secret, with the two other own settings. Secret.",
  }),
  msIncidentsTlp: microsoftField("TLP", {
    default: "`red`",
    meaning: "Marking of what is created: `clear`, `white`, `green`, `amber`, `amber+strict`, " +
      "`red`.",
  }),
  msIncidentsMatchByValue: microsoftField("MATCH_BY_VALUE", {
    default: "`true`",
    meaning: "Also look evidence values (IP, URL, domain, hashes, email) up against OpenCTI " +
      "indicators by pattern, besides the indicator ids named in the alert.",
  }),
  msIncidentsImportStartDate: microsoftField("IMPORT_START_DATE", {
    default: "now - 7 days",
    meaning: "Where to start when there is no saved state: `YYYY-MM-DD` or an ISO date-time, " +
      "UTC when no zone is given.",
  }),
  msIncidentsLookBack: microsoftField("LOOK_BACK", {
    default: "`PT1H`",
    meaning: "ISO-8601 window read again before the last update seen (late or concurrent " +
      "updates); what was already imported is not imported twice.",
  }),
  msIncidentsPageSize: microsoftField("PAGE_SIZE", {
    default: "`50`",
    meaning: "Incidents per request (`$top`, 1-50).",
  }),

  // Server and logging.
  serverHost: {
    env: ["SERVER_HOST"],
    yaml: ["server.host"],
    default: "`0.0.0.0`",
    meaning: "Interface the health/metrics server listens on.",
    section: "Server and logging",
  },
  serverPort: {
    env: ["SERVER_PORT"],
    yaml: ["server.port"],
    default: "`8080`",
    meaning: "Port of the health/metrics server.",
    section: "Server and logging",
  },
  denoServeAddress: {
    env: ["DENO_SERVE_ADDRESS"],
    yaml: [],
    default: "none",
    meaning: "`host:port` or `tcp:host:port`; used when `SERVER_HOST`/`SERVER_PORT` are unset.",
    section: "Server and logging",
  },
  serverAdminToken: {
    env: ["SERVER_ADMIN_TOKEN"],
    yaml: ["server.admin_token"],
    secret: true,
    default: "none",
    meaning: "Bearer token for `POST /connectors/:name/run`; unset = that route is absent. Secret.",
    section: "Server and logging",
  },
  logLevel: {
    env: ["CONNECTOR_LOG_LEVEL"],
    yaml: ["connector.log_level"],
    default: "`info`",
    meaning: "`debug`, `info`, `warn` (or `warning`) or `error`. Per connector: " +
      "`SENTINEL_CONNECTOR_LOG_LEVEL`, `TANIUM_INCIDENTS_CONNECTOR_LOG_LEVEL`.",
    section: "Server and logging",
  },
  logFormat: {
    env: ["LOG_FORMAT"],
    yaml: ["logging.format"],
    default: "`auto`",
    meaning: "`json` lines, readable `text`, or `auto` (text on a terminal, else JSON).",
    section: "Server and logging",
  },
} as const satisfies Record<string, FieldSpec>;

/** Key of a non-connector option. */
export type FieldKey = keyof typeof FIELDS;

/** The base connector options (pycti `CONNECTOR_*`), by suffix. */
export const BASE_FIELDS = {
  ID: { default: "required", meaning: "Connector id in OpenCTI: a UUID, stable across restarts." },
  TYPE: {
    default: "`STREAM` (sentinel), `EXTERNAL_IMPORT` (tanium-incidents, microsoft-incidents)",
    meaning: "Always the connector's own type; another value is ignored with a warning.",
  },
  NAME: {
    default: "`Microsoft Sentinel`, `Tanium Threat Response Incidents`, `Microsoft Incidents`",
    meaning: "Display name in OpenCTI (for tanium-incidents also the author of what it creates).",
  },
  SCOPE: {
    default: "`sentinel`, `tanium`, `microsoft-incidents`",
    meaning: "Connector scope (comma-separated).",
  },
  CONFIDENCE_LEVEL: {
    default: "none",
    meaning: "pycti confidence level (0-100), deprecated by OpenCTI; passed through. For " +
      "microsoft-incidents: the confidence of the sightings it creates.",
  },
  LOG_LEVEL: {
    default: "`CONNECTOR_LOG_LEVEL`",
    meaning: "This connector's log level.",
  },
  LIVE_STREAM_ID: {
    default: "`live`",
    meaning: "Live stream (collection) id to read (sentinel); `live` = the whole platform " +
      "stream, which needs the BYPASS capability.",
  },
  LIVE_STREAM_LISTEN_DELETE: {
    default: "`true`",
    meaning: "Receive delete events (sentinel; needed to remove indicators).",
  },
  LIVE_STREAM_NO_DEPENDENCIES: {
    default: "`true`",
    meaning: "Do not ask the stream for dependencies (sentinel).",
  },
  LIVE_STREAM_WITH_INFERENCES: {
    default: "`false`",
    meaning: "Include inferred objects (sentinel).",
  },
  LIVE_STREAM_RECOVER_ISO_DATE: {
    default: "start time",
    meaning: "First start only: replay objects updated up to this date (UTC when no zone), " +
      "or `false` for no replay (sentinel).",
  },
  LIVE_STREAM_START_TIMESTAMP: {
    default: "`0` (the beginning)",
    meaning: "First start only: stream position as epoch milliseconds (sentinel).",
  },
  DURATION_PERIOD: {
    default: "required for tanium-incidents; `PT5M` for microsoft-incidents",
    meaning: "ISO-8601 period between runs (`PT1H`, `P1D`, `PT30M`; `0` = run once).",
  },
  RUN_AND_TERMINATE: {
    default: "`false`",
    meaning: "Run once and exit.",
  },
  QUEUE_THRESHOLD: {
    default: "`500`",
    meaning: "Skip a scheduled run while the platform's queue for this connector holds at " +
      "least this many MB.",
  },
} as const satisfies Record<string, { default: string; meaning: string }>;

/** Suffix of a base connector option (`ID`, `LOG_LEVEL`…). */
export type BaseKey = keyof typeof BASE_FIELDS;

/** Environment prefix and YAML section of each connector. */
export const CONNECTOR_PREFIX: Readonly<Record<ConnectorName, { env: string; yaml: string }>> = {
  "sentinel": { env: "SENTINEL_", yaml: "sentinel" },
  "tanium-incidents": { env: "TANIUM_INCIDENTS_", yaml: "tanium_incidents" },
  "microsoft-incidents": { env: "MICROSOFT_INCIDENTS_", yaml: "microsoft_incidents" },
};

/** The base options that apply to a connector (live stream options are for `sentinel` only). */
export function baseKeys(connector: ConnectorName): BaseKey[] {
  const keys = Object.keys(BASE_FIELDS) as BaseKey[];
  return connector === "sentinel" ? keys : keys.filter((key) => !key.startsWith("LIVE_STREAM_"));
}

/** The spec of a base option for one connector: prefixed names first, then the shared ones. */
export function connectorField(connector: ConnectorName, key: BaseKey): FieldSpec {
  const prefix = CONNECTOR_PREFIX[connector];
  const lower = key.toLowerCase();
  return {
    env: [`${prefix.env}CONNECTOR_${key}`, `CONNECTOR_${key}`],
    yaml: [`${prefix.yaml}.connector.${lower}`, `connector.${lower}`],
    section: "Connector",
    ...BASE_FIELDS[key],
  };
}

/** Every YAML path the loader reads, for the unknown-key warning. */
export function knownYamlPaths(): Set<string> {
  const paths = new Set<string>();
  for (const spec of Object.values(FIELDS) as FieldSpec[]) {
    for (const path of spec.yaml) paths.add(path);
  }
  for (const connector of Object.keys(CONNECTOR_PREFIX) as ConnectorName[]) {
    for (const key of baseKeys(connector)) {
      for (const path of connectorField(connector, key).yaml) paths.add(path);
    }
  }
  return paths;
}

/** Every environment variable name the loader reads. */
export function knownEnvNames(): Set<string> {
  const names = new Set<string>();
  for (const spec of Object.values(FIELDS) as FieldSpec[]) {
    for (const name of [...spec.env, ...(spec.fallbackEnv ?? [])]) names.add(name);
  }
  for (const connector of Object.keys(CONNECTOR_PREFIX) as ConnectorName[]) {
    for (const key of baseKeys(connector)) {
      for (const name of connectorField(connector, key).env) names.add(name);
    }
  }
  return names;
}
