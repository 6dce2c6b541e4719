/** The typed configuration: one `Config`, and the slice each module receives. */

/** Connectors this program hosts, as named in `CONNECTORS`. */
export type ConnectorName = "sentinel" | "tanium-incidents" | "microsoft-incidents";

/** Every connector name, in the order they start. */
export const CONNECTOR_NAMES: readonly ConnectorName[] = [
  "sentinel",
  "tanium-incidents",
  "microsoft-incidents",
];

/** Levels accepted by `CONNECTOR_LOG_LEVEL` (`warning` is read as `warn`). */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** `LOG_FORMAT`: JSON lines, readable text, or text on a terminal and JSON otherwise. */
export type LogFormat = "json" | "text" | "auto";

/** Where `SENTINEL_TARGET` sends indicators. */
export type SentinelTarget = "graph" | "sentinel" | "defender";

/** Graph `targetProduct` values (`TARGET_PRODUCT`). */
export type TargetProduct = "Azure Sentinel" | "Microsoft Defender ATP";

/** Graph tiIndicator `action` values (`ACTION`). */
export type IndicatorAction = "unknown" | "allow" | "block" | "alert";

/** Graph tiIndicator `tlpLevel` values (`TLP_LEVEL`). */
export type TlpLevel = "unknown" | "white" | "green" | "amber" | "red";

/** Signing algorithm of the client assertion (`CLIENT_ASSERTION_ALG`). */
export type AssertionAlg = "PS256" | "RS256";

/** The OpenCTI platform (`OPENCTI_*`). */
export interface OpenCtiConfig {
  /** Platform base URL without a trailing slash (GraphQL at `<url>/graphql`). */
  url: string;
  /** API token of the connector's user. Secret. */
  token: string;
  /** Verify the platform's TLS certificate. */
  sslVerify: boolean;
  /** PEM bundle of extra CA certificates to trust. */
  caFile?: string;
}

/** Base options every connector registers with (pycti `CONNECTOR_*` names). */
export interface BaseConnectorConfig {
  /** Connector id registered in OpenCTI (a UUID, stable across restarts). */
  id: string;
  /** Display name in OpenCTI (also the Tanium author identity's name). */
  name: string;
  /** Connector scope, e.g. `["sentinel"]`. */
  scope: string[];
  /** Deprecated pycti confidence level (0-100), passed through when set. */
  confidenceLevel?: number;
  /** Lowest log level for this connector. */
  logLevel: LogLevel;
  /** Run one pass and exit. */
  runAndTerminate: boolean;
  /** Skip a scheduled run while the platform queue holds at least this many MB. */
  queueThresholdMb: number;
  /** ISO-8601 period between runs, as configured (e.g. `PT1H`). */
  durationPeriod?: string;
  /** The period in ms (0 = run once). */
  periodMs?: number;
}

/** Live stream options of the stream connector (`CONNECTOR_LIVE_STREAM_*`). */
export interface LiveStreamConfig {
  /** Stream collection id (`/stream/<id>`); `live` is the whole platform stream (needs BYPASS). */
  id: string;
  /** Ask the platform for delete events. */
  listenDelete: boolean;
  /** Do not send missing dependencies. */
  noDependencies: boolean;
  /** Include inferred objects. */
  withInferences: boolean;
  /** First start: recover up to this ISO date (UTC), or `false` for no recovery; unset = now. */
  recoverIsoDate?: string | false;
  /** First start: begin at this epoch-ms position instead of the beginning (`0-0`). */
  startTimestamp?: number;
}

/** Base options of the stream connector (`sentinel`). */
export interface StreamConnectorConfig extends BaseConnectorConfig {
  /** Always `STREAM`, whatever the environment says. */
  type: "STREAM";
  /** Live stream options. */
  liveStream: LiveStreamConfig;
}

/** Base options of the import connector (`tanium-incidents`). */
export interface ImportConnectorConfig extends BaseConnectorConfig {
  /** Always `EXTERNAL_IMPORT`, whatever the environment says. */
  type: "EXTERNAL_IMPORT";
  /** The period in ms; 0 when run-and-terminate or period `0` (run once). */
  periodMs: number;
}

/**
 * `SENTINEL_AUTH`: `app_registration` (exactly one client credential, the default), `default`
 * (DefaultAzureCredential's chain; upstream `azure_credential` means the same) or
 * `managed_identity` (the host's managed identity only).
 */
export type SentinelAuth = "app_registration" | "default" | "managed_identity";

/** How the sentinel connector proves its identity to Entra ID: exactly one kind. */
export type SentinelCredential =
  | {
    /** A client secret (`CLIENT_SECRET`). */
    kind: "secret";
    /** The secret value. Secret. */
    clientSecret: string;
  }
  | {
    /** A certificate: signed client assertion. */
    kind: "certificate";
    /** PEM certificate file (`CLIENT_CERTIFICATE_PATH`). */
    certificatePath: string;
    /** PEM PKCS#8 private key file (`CLIENT_PRIVATE_KEY_PATH`). */
    privateKeyPath: string;
    /** `PS256` (with `x5t#S256`) or `RS256` (with `x5t`). */
    alg: AssertionAlg;
  }
  | {
    /** Workload identity: a federated token file as injected on AKS. */
    kind: "federated";
    /** File holding the federated token (`AZURE_FEDERATED_TOKEN_FILE`), re-read on each use. */
    tokenFile: string;
  }
  | {
    /** The host's managed identity (IMDS, or `IDENTITY_ENDPOINT` when the platform sets it). */
    kind: "managed_identity";
    /** Client id of a user-assigned identity (`CLIENT_ID` / `AZURE_CLIENT_ID`); unset = system-assigned. */
    clientId?: string;
    /** App Service, Functions, Container Apps token endpoint (`IDENTITY_ENDPOINT`); unset = IMDS. */
    identityEndpoint?: string;
    /** The header value that goes with it (`IDENTITY_HEADER`). Secret. */
    identityHeader?: string;
    /** The IMDS token URL (`SENTINEL_IMDS_ENDPOINT`). */
    imdsEndpoint: string;
  };

/** Graph tiIndicators target options (seed names). */
export interface GraphTargetConfig {
  /** Graph base URL (`RESOURCE_URL`). */
  resourceUrl: string;
  /** tiIndicators path below the base URL (`REQUEST_URL`). */
  requestUrl: string;
  /** `targetProduct` sent on every indicator. */
  targetProduct: TargetProduct;
}

/** The Log Analytics workspace behind Microsoft Sentinel. */
export interface SentinelWorkspaceConfig {
  /** Workspace id (GUID), for the upload API. */
  workspaceId: string;
  /** Azure subscription id (GUID), for ARM deletes. */
  subscriptionId: string;
  /** Resource group of the workspace, for ARM deletes. */
  resourceGroup: string;
  /** Workspace name, for ARM deletes. */
  workspaceName: string;
}

/** Sentinel STIX objects upload target options. */
export interface SentinelApiConfig {
  /** Upload API base URL. */
  apiUrl: string;
  /** Azure Resource Manager base URL (deletes, scope `<url>/.default`). */
  managementUrl: string;
  /** `sourcesystem` sent with each upload and used to find our objects again. */
  sourceSystem: string;
  /** The workspace; always present when `target` is `sentinel`. */
  workspace?: SentinelWorkspaceConfig;
}

/** Defender for Endpoint indicators target options. */
export interface DefenderTargetConfig {
  /** API base URL. */
  apiUrl: string;
  /** Token scope. */
  scope: string;
  /** `generateAlert` sent on every indicator. */
  generateAlert: boolean;
}

/** The `sentinel` stream connector. */
export interface SentinelConfig {
  /** Base connector options. */
  connector: StreamConnectorConfig;
  /** Which Microsoft store receives the indicators. */
  target: SentinelTarget;
  /** Entra ID tenant (GUID or verified domain); "" when a managed identity needs none. */
  tenantId: string;
  /** Application (client) id, a GUID; "" with a system-assigned managed identity. */
  clientId: string;
  /** How the credential was chosen (`SENTINEL_AUTH`); unset = `app_registration`. */
  auth?: SentinelAuth;
  /** The one configured (or, with `auth` `default`, chosen) credential. */
  credential: SentinelCredential;
  /** Entra ID authority without a trailing slash. */
  loginUrl: string;
  /** Score at or above which an indicator is blocked (when `action` is unset); 0 allows. */
  confidenceLevel: number;
  /** Days added to `updated_at` for the expiry when an indicator has no `valid_until`. */
  expireTimeDays: number;
  /** Action forced on every indicator; unset = derived from the score. */
  action?: IndicatorAction;
  /** TLP level forced on every indicator; unset = derived from the markings. */
  tlpLevel?: TlpLevel;
  /** Graph `passiveOnly`. */
  passiveOnly: boolean;
  /** Labels added to every indicator sent. */
  extraLabels: string[];
  /** Most indicators per target call. */
  batchSize: number;
  /** Longest wait for a batch to fill, in ms. */
  batchTimeoutMs: number;
  /** Client-side pace of target calls per minute. */
  rateLimitPerMinute: number;
  /** Add an external reference to the target record on the OpenCTI indicator. */
  writeBack: boolean;
  /** Graph target options. */
  graph: GraphTargetConfig;
  /** Sentinel upload target options. */
  sentinelApi: SentinelApiConfig;
  /** Defender target options. */
  defender: DefenderTargetConfig;
}

/** The `tanium-incidents` import connector. */
export interface TaniumIncidentsConfig {
  /** Base connector options. */
  connector: ImportConnectorConfig;
  /** Tanium API base URL without a trailing slash. */
  url: string;
  /** Tanium console base URL without a trailing slash (for links). */
  urlConsole: string;
  /** Verify Tanium's TLS certificate. */
  sslVerify: boolean;
  /** PEM bundle of extra CA certificates to trust for Tanium. */
  caFile?: string;
  /** Tanium API token (`session` header). Secret. */
  token: string;
  /** `false` = sightings only. */
  importAlerts: boolean;
  /** Start when the state has no cursor: ISO date-time in UTC; unset = now - 1 year. */
  importStartDate?: string;
  /** `source_name` values of the intel external references to match. */
  intelSourceNames: string[];
  /** Alerts per page (1-500). */
  pageSize: number;
  /** Deno Deploy cron schedule (5 fields). */
  cron?: string;
}

/** The `microsoft-incidents` import connector (Graph security incidents → OpenCTI). */
export interface MicrosoftIncidentsConfig {
  /** Base connector options. */
  connector: ImportConnectorConfig;
  /** Entra ID tenant (own `MICROSOFT_INCIDENTS_TENANT_ID`, else sentinel's). */
  tenantId: string;
  /** Application (client) id (own, else sentinel's). */
  clientId: string;
  /** How the credential was chosen (sentinel's `SENTINEL_AUTH` when sharing its credential). */
  auth?: SentinelAuth;
  /** The credential (own client secret, else sentinel's credential). */
  credential: SentinelCredential;
  /** Entra ID authority without a trailing slash. */
  loginUrl: string;
  /** Graph base URL (`RESOURCE_URL`). */
  resourceUrl: string;
  /** Incidents path below `resourceUrl`, or a full URL (`INCIDENT_URL`). */
  incidentPath: string;
  /** Marking of what is created. */
  tlp: "clear" | "white" | "green" | "amber" | "amber+strict" | "red";
  /** Sighting confidence (`CONNECTOR_CONFIDENCE_LEVEL`); unset = none. */
  confidence?: number;
  /** Look evidence values up against OpenCTI indicators by pattern. */
  matchByValue: boolean;
  /** Start when the state has no cursor (ISO, UTC); unset = now - 7 days. */
  importStartDate?: string;
  /** Look-back window in ms. */
  lookBackMs: number;
  /** Incidents per page (1-50). */
  pageSize: number;
}

/** The HTTP server (`SERVER_*`). */
export interface ServerConfig {
  /** Interface to listen on. */
  host: string;
  /** TCP port (0 = any free port). */
  port: number;
  /** Bearer token for `POST /connectors/:name/run`; unset = route absent. Secret. */
  adminToken?: string;
}

/** Process-wide logging. */
export interface LoggingConfig {
  /** Lowest level written. */
  level: LogLevel;
  /** Output format. */
  format: LogFormat;
}

/** The whole, validated configuration. */
export interface Config {
  /** Enabled connectors, in start order. */
  connectors: ConnectorName[];
  /** OpenCTI platform. */
  opencti: OpenCtiConfig;
  /** Present when `sentinel` is enabled. */
  sentinel?: SentinelConfig;
  /** Present when `tanium-incidents` is enabled. */
  taniumIncidents?: TaniumIncidentsConfig;
  /** Present when `microsoft-incidents` is enabled. */
  microsoftIncidents?: MicrosoftIncidentsConfig;
  /** HTTP server. */
  server: ServerConfig;
  /** Logging. */
  logging: LoggingConfig;
}
