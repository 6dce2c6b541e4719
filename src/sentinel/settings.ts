/**
 * The `sentinel` connector's options, declared once: names (the upstream seed names, each also
 * accepted with a `SENTINEL_` prefix, and the new ones), YAML paths, schema, default, secret flag
 * and meaning; and the typed {@linkcode SentinelSettings} the connector receives.
 *
 * To add an option: add one `option({...})` entry to {@linkcode SENTINEL_OPTIONS}, read it in
 * `read()` below into a field of {@linkcode SentinelSettings}, then run `deno task docs`.
 */
import { parseAdoptSource } from "./adopt.ts";
import {
  type ConnectorPrefix,
  must,
  readBase,
  type ReadContext,
  readLiveStream,
  type UpstreamBaseDefaults,
} from "../config/common_settings.ts";
import {
  deliveryOptions,
  type DeliverySettings,
  readDelivery,
  streamBaseOptions,
  streamConnectorOf,
} from "../config/stream_settings.ts";
import type { ConnectorSettings, PendingSettings } from "../config/connector_settings.ts";
import { type FieldSpec, option } from "../config/option.ts";
import type { Reader } from "../config/source.ts";
import type { StreamConnectorConfig } from "../config/types.ts";
import * as val from "../config/values.ts";
import { chooseCredential } from "../microsoft/credential_chain.ts";
import {
  detectManagedIdentity,
  fabricTrustProblem,
  systemAssignedOnlyProblem,
} from "../microsoft/managed_identity.ts";
import type { IndicatorPolicy, TargetName } from "../microsoft/target.ts";
import type { EntraAuth, EntraCredential, TargetSettings } from "../microsoft/target_config.ts";
import { errorMessage } from "../runtime/errors.ts";
import { opt } from "../runtime/props.ts";

/**
 * Where the dead letters are kept when `SENTINEL_DEAD_LETTER_FILE` is unset (outside Deno Deploy):
 * the folder `deno task start`, `deno task compile` and the Docker image (a volume) grant write to.
 */
export const DEFAULT_DEAD_LETTER_FILE = "data/sentinel-dead-letters.json";

const PREFIX: ConnectorPrefix = { name: "sentinel", env: "SENTINEL_", yaml: "sentinel" };

/** `SENTINEL_RECONCILE_PERIOD`'s default (without the synchronizer's `INTERVAL`). */
const RECONCILE_PERIOD = { text: "P1D", ms: 86_400_000 };
const SECTION = "Sentinel";

/** Indicators per call of each target: the default of `SENTINEL_BATCH_SIZE`. */
export const BATCH_LIMIT: Readonly<Record<TargetName, number>> = {
  graph: 100,
  sentinel: 100,
  defender: 500,
};

/**
 * The largest `SENTINEL_BATCH_SIZE` of each target. Graph takes 100 records per request, and an
 * indicator often maps to several records, so a call of up to 2,000 indicators lets its submits
 * go out full (issue 14: only the last request of a call may be partly empty); the other targets
 * take one object per indicator.
 */
export const BATCH_MAX: Readonly<Record<TargetName, number>> = {
  graph: 2000,
  sentinel: 100,
  defender: 500,
};

/** Default pace of each target (`SENTINEL_RATE_LIMIT_PER_MINUTE`). */
export const RATE_DEFAULT: Readonly<Record<TargetName, number>> = {
  graph: 1000,
  sentinel: 100,
  defender: 30,
};

/** A seed name (`TENANT_ID`), also accepted as `SENTINEL_TENANT_ID` unless `aliases` is false. */
function seed(name: string, key: string, aliases = true) {
  return {
    env: aliases ? [name, `SENTINEL_${name}`] : [name],
    yaml: [`sentinel.${key}`],
    section: SECTION,
  };
}

/** A new option (no alias): `SENTINEL_X` or another single name. */
function named(env: string, key: string) {
  return { env: [env], yaml: [`sentinel.${key}`], section: SECTION };
}

/**
 * The upstream connectors of OpenCTI-Platform/connectors this program replaces, by the target
 * their prefix implies: `stream/microsoft-sentinel-intel`, `stream/microsoft-defender-intel` (and
 * `stream/microsoft-defender-intel-synchronizer`, same family) and the deprecated
 * `stream/microsoft-graph-security-intel`.
 */
export const UPSTREAM: Readonly<
  Record<TargetName, { env: readonly string[]; yaml: readonly string[]; connector: string }>
> = {
  sentinel: {
    env: ["MICROSOFT_SENTINEL_INTEL_"],
    yaml: ["microsoft_sentinel_intel"],
    connector: "stream/microsoft-sentinel-intel",
  },
  defender: {
    env: ["MICROSOFT_DEFENDER_INTEL_", "MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_"],
    yaml: ["microsoft_defender_intel", "microsoft_defender_intel_synchronizer"],
    connector: "stream/microsoft-defender-intel",
  },
  graph: {
    env: ["MICROSOFT_GRAPH_SECURITY_INTEL_"],
    yaml: ["microsoft_graph_security_intel"],
    connector: "stream/microsoft-graph-security-intel",
  },
};

/**
 * Adds the upstream names of an option (`upstreamEnv`, `upstreamYaml`): for each target,
 * `<PREFIX><KEY>` and `<section>.<key>`; `synchronizer`: also the Defender synchronizer's names.
 */
function upstream<S extends { env: readonly string[]; yaml: readonly string[] }>(
  spec: S,
  keys: Partial<Record<TargetName, string>>,
  synchronizer = false,
): S & { upstreamEnv: string[]; upstreamYaml: string[] } {
  const upstreamEnv: string[] = [];
  const upstreamYaml: string[] = [];
  for (const target of ["sentinel", "defender", "graph"] as const) {
    const key = keys[target];
    if (key === undefined) continue;
    const count = target === "defender" && synchronizer ? 2 : 1;
    for (let i = 0; i < count; i++) {
      upstreamEnv.push(`${UPSTREAM[target].env[i]}${key}`);
      upstreamYaml.push(`${UPSTREAM[target].yaml[i]}.${key.toLowerCase()}`);
    }
  }
  return { ...spec, upstreamEnv, upstreamYaml };
}

/** The same key in all three upstream connectors. */
const ALL = (key: string) => ({ sentinel: key, defender: key, graph: key });

const BASE_DEFAULTS = {
  type: "STREAM",
  name: "Microsoft Sentinel",
  scope: ["sentinel"],
  periodRequired: false,
  sample: { id: "ChangeMe", liveStreamId: "ChangeMe" },
} as const;

/** The sentinel connector's options. */
export const SENTINEL_OPTIONS = {
  target: option({
    ...named("SENTINEL_TARGET", "target"),
    schema: val.oneOf(["graph", "sentinel", "defender"] as const),
    default: "graph",
    meaning: "Where indicators go: `graph` (Graph tiIndicators, retired by Microsoft in April " +
      "2026), `sentinel` (Sentinel STIX objects upload API) or `defender` (Defender for " +
      "Endpoint indicators API).",
    sample: "sentinel",
  }),
  tenantId: option({
    ...upstream(seed("TENANT_ID", "tenant_id"), ALL("TENANT_ID"), true),
    fallbackEnv: ["AZURE_TENANT_ID"],
    schema: val.tenant(),
    required: "required (the Entra ID directory (tenant) id)",
    meaning: "Entra ID directory (tenant) id or verified domain. `AZURE_TENANT_ID` " +
      "(workload identity) is the fallback.",
    sample: "ChangeMe",
  }),
  clientId: option({
    ...upstream(seed("CLIENT_ID", "client_id"), ALL("CLIENT_ID"), true),
    fallbackEnv: ["AZURE_CLIENT_ID"],
    schema: val.uuid("the application (client) id, a GUID"),
    required: "required (the application (client) id of the app registration, a GUID)",
    meaning: "Application (client) id of the app registration. `AZURE_CLIENT_ID` is the fallback.",
    sample: "ChangeMe",
  }),
  clientSecret: option({
    ...upstream(seed("CLIENT_SECRET", "client_secret"), ALL("CLIENT_SECRET"), true),
    secret: true,
    schema: val.text({ noSpaces: true, expected: "expected the client secret value" }),
    meaning: "Client secret value. Secret. Exactly one credential kind: this, the certificate " +
      "pair, or `AZURE_FEDERATED_TOKEN_FILE`.",
    sample: "ChangeMe-client-secret",
  }),
  clientCertificatePath: option({
    ...seed("CLIENT_CERTIFICATE_PATH", "client_certificate_path", false),
    schema: val.text({ expected: "expected a file path" }),
    meaning: "PEM certificate uploaded to the app registration (certificate credential; with " +
      "`CLIENT_PRIVATE_KEY_PATH`).",
    example: "/etc/octi/entra-cert.pem",
  }),
  clientPrivateKeyPath: option({
    ...seed("CLIENT_PRIVATE_KEY_PATH", "client_private_key_path", false),
    schema: val.text({ expected: "expected a file path" }),
    meaning: "PEM PKCS#8 (`BEGIN PRIVATE KEY`) RSA key of that certificate.",
    example: "/etc/octi/entra-key.pem",
  }),
  clientAssertionAlg: option({
    ...seed("CLIENT_ASSERTION_ALG", "client_assertion_alg", false),
    schema: val.oneOf(["PS256", "RS256"] as const),
    default: "PS256",
    meaning: "Client assertion signature: `PS256` (with `x5t#S256`) or `RS256` (with `x5t`).",
  }),
  federatedTokenFile: option({
    ...named("AZURE_FEDERATED_TOKEN_FILE", "federated_token_file"),
    schema: val.text({ expected: "expected a file path" }),
    meaning: "Workload identity: file holding the federated token (injected on AKS).",
    example: "/var/run/secrets/azure/tokens/azure-identity-token",
  }),
  auth: option({
    ...upstream(named("SENTINEL_AUTH", "auth"), { sentinel: "AUTH_TYPE" }),
    schema: val.oneOf(
      ["app_registration", "default", "azure_credential", "managed_identity"] as const,
    ),
    default: "app_registration",
    upstreamNote:
      "`azure_credential` = `default` (environment secret, certificate, workload identity, managed identity; no `az login`)",
    meaning: "How to authenticate: `app_registration` (exactly one client credential), " +
      "`default` (alias `azure_credential`: the first configured of environment secret, " +
      "environment certificate, workload identity, else managed identity) or " +
      "`managed_identity` (the host's managed identity only). Setting it enables sentinel.",
  }),
  azureClientSecret: option({
    env: ["AZURE_CLIENT_SECRET"],
    yaml: [],
    section: SECTION,
    secret: true,
    schema: val.text({ noSpaces: true, expected: "expected the client secret value" }),
    defaultDoc: "none",
    meaning: "`SENTINEL_AUTH=default` only: the environment secret (when `CLIENT_SECRET` is " +
      "unset). Secret.",
  }),
  azureClientCertificatePath: option({
    env: ["AZURE_CLIENT_CERTIFICATE_PATH"],
    yaml: [],
    section: SECTION,
    schema: val.text({ expected: "expected a file path" }),
    defaultDoc: "none",
    meaning: "`SENTINEL_AUTH=default` only: one PEM file holding the certificate and its " +
      "private key (when the `CLIENT_CERTIFICATE_PATH` pair is unset).",
  }),
  identityEndpoint: option({
    env: ["IDENTITY_ENDPOINT"],
    yaml: [],
    section: SECTION,
    schema: val.httpUrl(),
    defaultDoc: "set by the platform",
    meaning: "Managed identity on App Service, Functions or Container Apps: the local token " +
      "endpoint (with `IDENTITY_HEADER`); unset = IMDS.",
  }),
  identityHeader: option({
    env: ["IDENTITY_HEADER"],
    yaml: [],
    section: SECTION,
    secret: true,
    schema: val.text({ expected: "expected the header value the platform sets" }),
    defaultDoc: "set by the platform",
    meaning: "The header value that goes with `IDENTITY_ENDPOINT` (rotated by the platform). " +
      "Secret.",
  }),
  identityServerThumbprint: option({
    env: ["IDENTITY_SERVER_THUMBPRINT"],
    yaml: [],
    section: SECTION,
    schema: val.text({ noSpaces: true, expected: "expected a SHA-1 thumbprint (hex)" }),
    defaultDoc: "set by the platform",
    meaning: "Managed identity on Service Fabric: the SHA-1 thumbprint of the token service's " +
      "self-signed certificate (with `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`).",
  }),
  identityServerCertificate: option({
    ...named("SENTINEL_IDENTITY_SERVER_CERTIFICATE", "identity_server_certificate"),
    schema: val.text({ expected: "expected a file path" }),
    meaning: "Service Fabric only: PEM file of the token service's certificate (the one " +
      "`IDENTITY_SERVER_THUMBPRINT` names, issued for the endpoint's host), trusted for that " +
      "endpoint alone; required for an https `IDENTITY_ENDPOINT`, since a thumbprint cannot be " +
      "pinned and TLS checks are never turned off.",
    example: "/etc/octi/sf-identity-server.pem",
  }),
  arcImdsEndpoint: option({
    env: ["IMDS_ENDPOINT"],
    yaml: [],
    section: SECTION,
    schema: val.httpUrl(),
    defaultDoc: "set by the platform",
    meaning: "Managed identity on Azure Arc-enabled servers: set by the agent (e.g. " +
      "`http://localhost:40342`); with `IDENTITY_ENDPOINT` and no `IDENTITY_HEADER` it selects Arc.",
  }),
  msiEndpoint: option({
    env: ["MSI_ENDPOINT"],
    yaml: [],
    section: SECTION,
    schema: val.httpUrl(),
    defaultDoc: "set by the platform",
    meaning: "Managed identity through the older local endpoint: App Service's 2017-09-01 " +
      "protocol with `MSI_SECRET`, Cloud Shell without it.",
  }),
  msiSecret: option({
    env: ["MSI_SECRET"],
    yaml: [],
    section: SECTION,
    secret: true,
    schema: val.text({ expected: "expected the secret the platform sets" }),
    defaultDoc: "set by the platform",
    meaning:
      "The secret that goes with `MSI_ENDPOINT` on App Service (2017-09-01 protocol). Secret.",
  }),
  imdsEndpoint: option({
    ...named("SENTINEL_IMDS_ENDPOINT", "imds_endpoint"),
    schema: val.httpUrl(),
    default: "http://169.254.169.254/metadata/identity/oauth2/token",
    defaultDoc: "IMDS (`169.254.169.254`)",
    meaning: "Managed identity token URL of the Azure Instance Metadata Service (change it " +
      "only for the simulator).",
  }),
  loginUrl: option({
    ...upstream(
      seed("LOGIN_URL", "login_url"),
      { defender: "LOGIN_URL", graph: "LOGIN_URL" },
      true,
    ),
    fallbackEnv: ["AZURE_AUTHORITY_HOST"],
    schema: val.httpUrl(),
    default: "https://login.microsoftonline.com",
    upstreamNote:
      "their default `https://login.microsoft.com` applies when their Defender (not the synchronizer's) or Graph names are used",
    meaning: "Entra ID authority (`https://login.microsoft.com` also works; national clouds " +
      "have their own). `AZURE_AUTHORITY_HOST` is the fallback.",
  }),
  resourceUrl: option({
    ...upstream(seed("RESOURCE_URL", "resource_url"), { graph: "BASE_URL" }),
    schema: val.httpUrl(),
    default: "https://graph.microsoft.com",
    meaning: "Graph base URL (target `graph`); the token scope is `<url>/.default`.",
  }),
  requestUrl: option({
    ...upstream(seed("REQUEST_URL", "request_url"), { graph: "RESOURCE_PATH" }),
    schema: val.urlPath(),
    default: "/beta/security/tiIndicators",
    meaning: "tiIndicators path below `RESOURCE_URL` (target `graph`).",
  }),
  confidenceLevel: option({
    ...seed("CONFIDENCE_LEVEL", "confidence_level"),
    schema: val.integer(0, 100),
    default: 50,
    meaning: "0-100. When `ACTION` is unset: score at or above it is `block`, below it `alert`, " +
      "score 0 `allow`, no score `unknown` (targets `graph` and `defender`).",
  }),
  expireTime: option({
    ...upstream(seed("EXPIRE_TIME", "expire_time"), {
      defender: "EXPIRE_TIME",
      graph: "EXPIRE_TIME",
    }, true),
    schema: val.integer(1),
    default: 30,
    meaning: "Days after `updated_at` an indicator without `valid_until` expires.",
  }),
  targetProduct: option({
    ...upstream(seed("TARGET_PRODUCT", "target_product"), { graph: "TARGET_PRODUCT" }),
    schema: val.oneOf(["Azure Sentinel", "Microsoft Defender ATP"] as const),
    default: "Azure Sentinel",
    meaning:
      "Graph `targetProduct`: `Azure Sentinel` or `Microsoft Defender ATP` (target `graph`).",
  }),
  action: option({
    ...upstream(seed("ACTION", "action"), { graph: "ACTION" }),
    schema: val.oneOf(["unknown", "allow", "block", "alert"] as const),
    defaultDoc: "from the score",
    meaning: "Force the action: `unknown`, `allow`, `block` or `alert`.",
    example: "alert",
  }),
  tlpLevel: option({
    ...upstream(seed("TLP_LEVEL", "tlp_level"), { graph: "TLP_LEVEL" }),
    schema: val.oneOf(["unknown", "white", "green", "amber", "red"] as const),
    defaultDoc: "from the markings",
    meaning: "Force the TLP level: `unknown`, `white`, `green`, `amber` or `red`.",
    example: "amber",
  }),
  passiveOnly: option({
    ...upstream(seed("PASSIVE_ONLY", "passive_only"), {
      defender: "PASSIVE_ONLY",
      graph: "PASSIVE_ONLY",
    }, true),
    schema: val.boolean(),
    default: false,
    upstreamNote: "Graph `passiveOnly`; the Defender API has no such field (no effect there)",
    meaning: "Graph `passiveOnly` (audit only, no blocking).",
  }),
  workspaceId: option({
    ...upstream(named("SENTINEL_WORKSPACE_ID", "workspace_id"), { sentinel: "WORKSPACE_ID" }),
    schema: val.uuid("the workspace id, a GUID"),
    defaultDoc: "required for target `sentinel`",
    meaning: "Log Analytics workspace id (GUID) for the upload API.",
    sample: "ChangeMe",
  }),
  subscriptionId: option({
    ...upstream(named("SENTINEL_SUBSCRIPTION_ID", "subscription_id"), {
      sentinel: "SUBSCRIPTION_ID",
    }),
    schema: val.uuid("a subscription id, a GUID"),
    defaultDoc: "required for target `sentinel`",
    meaning: "Azure subscription id (GUID) of the workspace (for deletes).",
    sample: "ChangeMe",
  }),
  resourceGroup: option({
    ...upstream(named("SENTINEL_RESOURCE_GROUP", "resource_group"), { sentinel: "RESOURCE_GROUP" }),
    schema: val.text({ noSpaces: true }),
    defaultDoc: "required for target `sentinel`",
    upstreamNote: "their default `default` applies when their names are used",
    meaning: "Resource group of the workspace (for deletes).",
    sample: "ChangeMe",
  }),
  workspaceName: option({
    ...upstream(named("SENTINEL_WORKSPACE_NAME", "workspace_name"), { sentinel: "WORKSPACE_NAME" }),
    schema: val.text({ noSpaces: true }),
    defaultDoc: "required for target `sentinel`",
    meaning: "Workspace name (for deletes).",
    sample: "ChangeMe",
  }),
  sourceSystem: option({
    ...upstream(named("SENTINEL_SOURCE_SYSTEM", "source_system"), { sentinel: "SOURCE_SYSTEM" }),
    schema: val.text(),
    default: "OpenCTI",
    upstreamNote:
      "their default `Opencti Stream Connector` applies when their names are used, so deletes find what they wrote",
    meaning: "`sourcesystem` of uploads; also how deletes find our objects (`Microsoft " +
      "Sentinel` is reserved).",
  }),
  extraLabels: option({
    ...upstream(named("SENTINEL_EXTRA_LABELS", "extra_labels"), { sentinel: "EXTRA_LABELS" }),
    schema: val.list(),
    default: [],
    defaultDoc: "none",
    meaning: "Comma-separated labels added to every indicator sent.",
    example: ["opencti"],
  }),
  sentinelApiUrl: option({
    ...named("SENTINEL_API_URL", "api_url"),
    schema: val.httpUrl(),
    default: "https://api.ti.sentinel.azure.com",
    meaning: "Sentinel upload API base URL (`.us`/`.cn` in national clouds).",
  }),
  managementUrl: option({
    ...named("SENTINEL_MANAGEMENT_URL", "management_url"),
    schema: val.httpUrl(),
    default: "https://management.azure.com",
    meaning: "Azure Resource Manager URL; the upload token scope is `<url>/.default`.",
  }),
  defenderApiUrl: option({
    ...upstream(named("DEFENDER_API_URL", "defender_api_url"), { defender: "BASE_URL" }, true),
    schema: val.httpUrl(),
    default: "https://api.securitycenter.microsoft.com",
    meaning: "Defender for Endpoint API base URL (regional and government hosts exist).",
  }),
  defenderScope: option({
    ...named("DEFENDER_SCOPE", "defender_scope"),
    schema: val.text({ noSpaces: true }),
    default: "https://api.securitycenter.microsoft.com/.default",
    meaning: "Token scope for the Defender API.",
  }),
  defenderGenerateAlert: option({
    ...named("DEFENDER_GENERATE_ALERT", "defender_generate_alert"),
    schema: val.boolean(),
    default: true,
    meaning: "Defender `generateAlert` on every indicator.",
  }),
  batchSize: option({
    ...upstream(named("SENTINEL_BATCH_SIZE", "batch_size"), { sentinel: "BATCH_SIZE" }),
    schema: val.integer(1, Math.max(...Object.values(BATCH_MAX))),
    defaultDoc: "`100` (graph, sentinel), `500` (defender)",
    meaning: "Most indicators per target call. The default is also the maximum, except graph: up " +
      "to 2000 (its requests carry 100 records, and an indicator may need several: a larger " +
      "batch sends fuller requests).",
    example: 100,
  }),
  batchTimeoutMs: option({
    ...named("SENTINEL_BATCH_TIMEOUT_MS", "batch_timeout_ms"),
    schema: val.integer(0, 600_000),
    default: 1000,
    meaning: "Longest wait, in ms, for a batch to fill before it is sent.",
  }),
  rateLimitPerMinute: option({
    ...named("SENTINEL_RATE_LIMIT_PER_MINUTE", "rate_limit_per_minute"),
    schema: val.integer(1),
    defaultDoc: "`1000` (graph), `100` (sentinel), `30` (defender)",
    meaning: "Client-side pace of target calls per minute.",
    example: 100,
  }),
  eventTypes: option({
    ...upstream(named("SENTINEL_EVENT_TYPES", "event_types"), { sentinel: "EVENT_TYPES" }),
    schema: val.oneOfList(["create", "update", "delete"] as const),
    default: ["create", "update", "delete"],
    meaning: "Stream events handled (comma-separated `create`, `update`, `delete`); the others " +
      "are skipped (counted as `event_type_filtered`). Restrict it only to split the work " +
      "across instances.",
  }),
  publishIdentities: option({
    ...upstream(named("SENTINEL_PUBLISH_IDENTITIES", "publish_identities"), {
      sentinel: "PUBLISH_IDENTITIES",
    }),
    schema: val.boolean(),
    default: false,
    meaning: "Target `sentinel`: also upload the STIX `identity` of each indicator's author " +
      "(`created_by_ref`), so Sentinel shows its name instead of its id.",
  }),
  deleteExtensions: option({
    ...upstream(named("SENTINEL_DELETE_EXTENSIONS", "delete_extensions"), {
      sentinel: "DELETE_EXTENSIONS",
    }),
    schema: val.boolean(),
    default: true,
    upstreamNote: "extensions are never sent; `false` only warns",
    meaning: "Target `sentinel`: send no STIX `extensions` (always so: the objects are built " +
      "from OpenCTI's fields, OpenCTI's extensions are never sent; `false` is accepted with a " +
      "warning).",
  }),
  workspaceApiVersion: option({
    ...upstream(named("SENTINEL_WORKSPACE_API_VERSION", "workspace_api_version"), {
      sentinel: "WORKSPACE_API_VERSION",
    }),
    schema: val.text({ noSpaces: true }),
    default: "2024-02-01-preview",
    meaning: "`api-version` of the Sentinel STIX objects upload API (target `sentinel`).",
  }),
  queryApiVersion: option({
    ...upstream(named("SENTINEL_QUERY_API_VERSION", "query_api_version"), {
      sentinel: "QUERY_API_VERSION",
    }),
    schema: val.text({ noSpaces: true }),
    default: "2025-07-01-preview",
    meaning: "`api-version` of the ARM threat-intelligence query and delete calls (target " +
      "`sentinel`).",
  }),
  managementApiVersion: option({
    ...upstream(named("SENTINEL_MANAGEMENT_API_VERSION", "management_api_version"), {
      sentinel: "MANAGEMENT_API_VERSION",
    }),
    schema: val.text({ noSpaces: true }),
    defaultDoc: "none",
    upstreamNote: "accepted, no effect (unused upstream too)",
    meaning: "Accepted for the upstream connector, which no longer uses it either; no effect " +
      "(`SENTINEL_QUERY_API_VERSION` sets the ARM calls).",
  }),
  batchMode: option({
    ...upstream(named("SENTINEL_BATCH_MODE", "batch_mode"), { sentinel: "BATCH_MODE" }),
    schema: val.boolean(),
    defaultDoc: "none",
    upstreamNote: "accepted, no effect: indicators are always batched, a full batch leaves at once",
    meaning: "Accepted for the upstream connector; no effect: indicators are always batched " +
      "(`SENTINEL_BATCH_SIZE`, `SENTINEL_BATCH_TIMEOUT_MS`), a batch leaves at once when full.",
  }),
  batchTimeoutSeconds: option({
    ...upstream(named("SENTINEL_BATCH_TIMEOUT", "batch_timeout"), { sentinel: "BATCH_TIMEOUT" }),
    schema: val.integer(1, 600),
    defaultDoc: "none",
    upstreamNote: "seconds, as theirs; `SENTINEL_BATCH_TIMEOUT_MS` wins when both are set",
    meaning: "Batch timeout in seconds (the upstream unit); `SENTINEL_BATCH_TIMEOUT_MS` wins " +
      "when both are set.",
  }),
  defenderAction: option({
    ...upstream(named("DEFENDER_ACTION", "defender_action"), { defender: "ACTION" }, true),
    schema: val.oneOf(
      ["Warn", "Block", "Audit", "Alert", "AlertAndBlock", "BlockAndRemediate", "Allowed"] as const,
    ),
    defaultDoc: "from the score (`Alert` with the upstream names, `Audit` with the synchronizer's)",
    upstreamNote:
      "`Alert` is sent as `Audit` and `AlertAndBlock` as `Block`, with `generateAlert` (both retired by Microsoft); their default `Alert` applies when their names are used",
    meaning: "Target `defender`: action on every indicator. `Alert` is sent as `Audit` and " +
      "`AlertAndBlock` as `Block`, both with `generateAlert` true (Microsoft retired both in " +
      "2022); `BlockAndRemediate` becomes `Block` for network indicators. Unset: `ACTION`, " +
      "else the score (`CONFIDENCE_LEVEL`).",
    example: "Audit",
  }),
  defenderApplication: option({
    ...named("DEFENDER_APPLICATION", "defender_application"),
    schema: val.text(),
    default: "OpenCTI",
    defaultDoc: "`OpenCTI` (`OpenCTI Microsoft Defender Intel` with the upstream names, " +
      "`OpenCTI Microsoft Defender Intel Synchronizer` with the synchronizer's)",
    meaning: "Defender `application` of created indicators: also how updates and deletes find " +
      "ours, so keep the name the indicators were created with.",
  }),
  defenderResourcePath: option({
    ...upstream(named("DEFENDER_RESOURCE_PATH", "defender_resource_path"), {
      defender: "RESOURCE_PATH",
    }, true),
    schema: val.oneOf(["api/indicators", "/api/indicators"] as const),
    defaultDoc: "`api/indicators`",
    upstreamNote: "only `api/indicators` (the documented path)",
    meaning: "Defender indicators path; only the documented one is accepted (for the " +
      "upstream connector's setting).",
  }),
  maxIndicators: option({
    ...upstream(named("DEFENDER_MAX_INDICATORS", "defender_max_indicators"), {
      defender: "MAX_INDICATORS",
    }, true),
    schema: val.integer(1, 15000),
    default: 15000,
    upstreamNote: "1-15000; a value outside is an error (theirs clamps); keeps the highest-scored",
    meaning: "Target `defender`: most indicators kept in Defender (its tenant limit is 15,000); " +
      "when OpenCTI holds more, the highest-scored are kept.",
  }),
  rbacGroupNames: option({
    ...upstream(named("DEFENDER_RBAC_GROUP_NAMES", "defender_rbac_group_names"), {
      defender: "RBAC_GROUP_NAMES",
    }, true),
    schema: val.jsonOrCommaList(),
    default: [],
    defaultDoc: "none (all devices)",
    meaning: "Target `defender`: device group names the indicators apply to (comma-separated " +
      "or a JSON array).",
    example: ["Default Group"],
  }),
  recommendedActions: option({
    ...upstream(named("DEFENDER_RECOMMENDED_ACTIONS", "defender_recommended_actions"), {
      defender: "RECOMMENDED_ACTIONS",
    }, true),
    schema: val.text(),
    defaultDoc: "none",
    meaning: "Target `defender`: `recommendedActions` text of every indicator.",
  }),
  educateUrl: option({
    ...upstream(named("DEFENDER_EDUCATE_URL", "defender_educate_url"), {
      defender: "EDUCATE_URL",
    }, true),
    schema: val.httpUrl(),
    defaultDoc: "none",
    meaning: "Target `defender`: `educateUrl` shown to users on URL indicators with `Block` or " +
      "`Warn`.",
  }),
  writeBack: option({
    ...named("SENTINEL_WRITE_BACK", "write_back"),
    schema: val.boolean(),
    default: false,
    meaning: "Add an external reference to the Microsoft record on the OpenCTI indicator.",
  }),
  ...deliveryOptions(PREFIX, SECTION, {
    deadLetterFile: DEFAULT_DEAD_LETTER_FILE,
    systemic: "auth, throttling, outage, network",
  }),
  reconcilePeriod: option({
    ...named("SENTINEL_RECONCILE_PERIOD", "reconcile_period"),
    schema: val.duration(),
    defaultDoc: `\`${RECONCILE_PERIOD.text}\``,
    meaning: "ISO-8601 duration between two reconciles, which make the target hold exactly " +
      "what the stream shows (missing created, stale updated, ours no longer wanted deleted); " +
      "`0` = none scheduled (still on a first start and through the admin route).",
    example: "P1D",
  }),
  adoptSource: option({
    ...named("SENTINEL_ADOPT_SOURCE", "adopt_source"),
    schema: val.text(),
    meaning: "The upstream connector this one replaces, whose records a reconcile adopts " +
      "(removes once ours stand for the same indicator): `stream-sentinel` (graph), " +
      "`microsoft-sentinel-intel` (sentinel) or `microsoft-defender-intel` (defender), " +
      'optionally followed by ":<its sourcesystem or application>" when not the default.',
    example: "microsoft-sentinel-intel",
  }),
  taxiiCollections: option({
    ...synchronizerOnly(
      named("SENTINEL_TAXII_COLLECTIONS", "taxii_collections"),
      "TAXII_COLLECTIONS",
    ),
    schema: val.taxiiCollections(),
    defaultDoc: "none (the live stream)",
    upstreamNote:
      "the desired set of each reconcile is read from these OpenCTI TAXII collections " +
      "(`/taxii2/root/collections/<id>/objects/`) instead of the live stream, no stream is " +
      "followed; per-collection `action`, `expire_time`, `recommended_actions`, `educate_url` and " +
      "`rbac_group_names` apply, a per-collection `max_indicators` is warned about (not applied)",
    meaning: "TAXII collection ids of OpenCTI (comma-separated, a JSON array, or the upstream " +
      "synchronizer's JSON map of id to policy: `action`, `expire_time`, `recommended_actions`, " +
      "`educate_url`, `rbac_group_names`, which override the Defender settings for that " +
      "collection's indicators): when set, sentinel follows no live stream and instead " +
      "reconciles the target every `SENTINEL_RECONCILE_PERIOD` to hold exactly the indicators " +
      "of these collections (the OpenCTI user needs the TAXII API capability).",
    example: ["ChangeMe"],
  }),
  reconcileInterval: option({
    ...synchronizerOnly(named("SENTINEL_RECONCILE_INTERVAL", "reconcile_interval"), "INTERVAL"),
    schema: val.integer(1),
    defaultDoc: "none (`300` with the synchronizer's names)",
    upstreamNote:
      "seconds between two reconciles; `SENTINEL_RECONCILE_PERIOD` wins when both are set",
    meaning: "Seconds between two reconciles (the upstream unit); `SENTINEL_RECONCILE_PERIOD` " +
      "wins when both are set.",
    example: 300,
  }),
  updateOnlyOwned: option({
    ...synchronizerOnly(
      named("SENTINEL_UPDATE_ONLY_OWNED", "update_only_owned"),
      "UPDATE_ONLY_OWNED",
    ),
    schema: val.boolean(),
    default: true,
    upstreamNote: "`true` is what reconciles always do (only records of our `application` are " +
      "updated or deleted); `false` is accepted with a warning and changes nothing",
    meaning: "Reconciles update and delete only the target's records this connector owns (always " +
      "so; `false`, the upstream synchronizer's way to delete others' records too, is refused " +
      "with a warning and has no effect).",
  }),
} as const;

/** An option the Defender synchronizer also reads, as `MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_<key>`. */
function synchronizerOnly<S extends { env: readonly string[]; yaml: readonly string[] }>(
  spec: S,
  key: string,
): S & { upstreamEnv: string[]; upstreamYaml: string[] } {
  return {
    ...spec,
    upstreamEnv: [`${UPSTREAM.defender.env[1]}${key}`],
    upstreamYaml: [`${UPSTREAM.defender.yaml[1]}.${key.toLowerCase()}`],
  };
}

const BASE = streamBaseOptions(PREFIX, BASE_DEFAULTS);

/** A live-stream event kind `SENTINEL_EVENT_TYPES` selects. */
export type StreamEventType = "create" | "update" | "delete";

/**
 * The typed settings of the `sentinel` stream connector, read from {@linkcode SENTINEL_OPTIONS}:
 * what its Microsoft target is built from ({@linkcode TargetSettings}) and the connector's own.
 */
export interface SentinelSettings extends TargetSettings, DeliverySettings {
  /** Base connector options. */
  connector: StreamConnectorConfig;
  /** Longest wait for a batch to fill, in ms. */
  batchTimeoutMs: number;
  /** Add an external reference to the target record on the OpenCTI indicator. */
  writeBack: boolean;
  /** Stream events handled (`SENTINEL_EVENT_TYPES`); the others are skipped. */
  eventTypes?: StreamEventType[];
  /** The upstream connector whose names were used (their defaults then apply); unset = none. */
  upstream?: TargetName;
  /** Time between two scheduled reconciles, in ms; 0 = none (`SENTINEL_RECONCILE_PERIOD`). */
  reconcilePeriodMs: number;
  /** The upstream connector whose records a reconcile adopts (`SENTINEL_ADOPT_SOURCE`). */
  adoptSource?: string;
  /**
   * OpenCTI TAXII collections whose indicators are the desired set (`SENTINEL_TAXII_COLLECTIONS`):
   * no live stream is followed, each reconcile reads them; unset = the live stream.
   */
  taxiiCollections?: string[];
  /** Per-collection policies (the synchronizer's JSON map form), by collection id. @default none */
  taxiiPolicies?: Record<string, IndicatorPolicy>;
  /** Reconciles plan only, change nothing (the synchronizer's `PASSIVE_ONLY`). @default false */
  reconcileDryRun?: boolean;
}

/** `SENTINEL_BATCH_TIMEOUT` (seconds) as the default of `SENTINEL_BATCH_TIMEOUT_MS`, when set. */
function fromSeconds(seconds: number | undefined): { default?: number } {
  return seconds === undefined ? {} : { default: seconds * 1000 };
}

function read(context: ReadContext): PendingSettings<SentinelSettings> {
  const { reader } = context;
  const o = SENTINEL_OPTIONS;
  const upstreamTarget = upstreamInUse(reader);
  const theirs = <T>(target: TargetName, value: T): { default?: T } =>
    upstreamTarget === target ? { default: value } : {};
  const synchronizer = upstreamTarget === "defender" && synchronizerInUse(reader);
  const base = readBase(
    context,
    PREFIX,
    BASE,
    BASE_DEFAULTS.type,
    upstreamTarget === undefined ? {} : upstreamBaseDefaults(upstreamTarget, synchronizer),
  );
  const liveStream = readLiveStream(reader, BASE);

  const target = readTarget(reader, upstreamTarget);
  if (target === "graph") {
    reader.warn(
      "SENTINEL_TARGET (sentinel.target) is graph: Microsoft retires Graph tiIndicators in " +
        "April 2026; set SENTINEL_TARGET=sentinel or SENTINEL_TARGET=defender",
    );
  }
  const authValue = reader.get(o.auth);
  const auth: EntraAuth = authValue === "azure_credential"
    ? "default"
    : authValue ?? "app_registration";
  const appRegistration = auth === "app_registration";
  // TENANT_ID and CLIENT_ID are required by an app registration only.
  const ids = (spec: typeof o.tenantId | typeof o.clientId) =>
    appRegistration ? reader.get(spec) : reader.read(spec, spec.schema);
  const tenantId = ids(o.tenantId);
  const clientId = ids(o.clientId);
  const credential = appRegistration
    ? readCredential(reader)
    : readAzureCredential(reader, auth, { tenantId, clientId });
  const values = {
    loginUrl: reader.get(o.loginUrl, {
      ...(synchronizer ? {} : theirs("defender", "https://login.microsoft.com")),
      ...theirs("graph", "https://login.microsoft.com"),
    }),
    resourceUrl: reader.get(o.resourceUrl),
    requestUrl: reader.get(o.requestUrl),
    targetProduct: reader.get(o.targetProduct),
    confidenceLevel: reader.get(o.confidenceLevel),
    expireTimeDays: reader.get(o.expireTime),
    action: reader.get(o.action),
    tlpLevel: reader.get(o.tlpLevel),
    passiveOnly: reader.get(o.passiveOnly),
    extraLabels: reader.get(o.extraLabels),
    batchTimeoutMs: reader.get(o.batchTimeoutMs, fromSeconds(reader.get(o.batchTimeoutSeconds))),
    writeBack: reader.get(o.writeBack),
    reconcilePeriod: reader.get(o.reconcilePeriod),
    adoptSource: reader.get(o.adoptSource),
  };
  const delivery = readDelivery(reader, o);
  const taxii = readTaxii(reader, synchronizer);
  if (values.adoptSource !== undefined && target !== undefined) {
    try {
      parseAdoptSource(values.adoptSource, target);
    } catch (error) {
      reader.problem(
        `${reader.label(o.adoptSource)}: ${errorMessage(error)}`,
      );
    }
  }
  const maxBatch = BATCH_MAX[target ?? "graph"];
  const batchSize = reader.read(o.batchSize, val.integer(1, maxBatch), {
    default: BATCH_LIMIT[target ?? "graph"],
  });
  const rateLimitPerMinute = reader.get(o.rateLimitPerMinute, {
    default: RATE_DEFAULT[target ?? "graph"],
  });

  const required = (what: string) =>
    target === "sentinel" ? { required: `required with SENTINEL_TARGET=sentinel (${what})` } : {};
  const ws = {
    workspaceId: reader.get(o.workspaceId, required("the Log Analytics workspace id, a GUID")),
    subscriptionId: reader.get(
      o.subscriptionId,
      required("the Azure subscription id of the workspace, a GUID"),
    ),
    // The upstream connector defaults it to "default"; then it is not required.
    resourceGroup: reader.get(
      o.resourceGroup,
      upstreamTarget === "sentinel"
        ? theirs("sentinel", "default")
        : required("the resource group of the workspace"),
    ),
    workspaceName: reader.get(o.workspaceName, required("the workspace name")),
  };
  const sourceSystem = reader.get(o.sourceSystem, theirs("sentinel", UPSTREAM_SOURCE_SYSTEM));
  if (sourceSystem?.toLowerCase() === "microsoft sentinel") {
    reader.problem(
      `${reader.label(o.sourceSystem, reader.find(o.sourceSystem))}: ` +
        `"Microsoft Sentinel" is reserved by Microsoft; choose another name such as "OpenCTI"`,
    );
  }
  const sentinelApi = {
    apiUrl: reader.get(o.sentinelApiUrl),
    managementUrl: reader.get(o.managementUrl),
    uploadApiVersion: reader.get(o.workspaceApiVersion),
    armApiVersion: reader.get(o.queryApiVersion),
    publishIdentities: reader.get(o.publishIdentities),
  };
  if (sentinelApi.publishIdentities === true && target !== undefined && target !== "sentinel") {
    reader.warn(
      `${reader.label(o.publishIdentities, reader.find(o.publishIdentities))}: identities are ` +
        `published to Sentinel only; it has no effect with SENTINEL_TARGET=${target}`,
    );
  }
  reader.get(o.managementApiVersion);
  reader.get(o.batchMode);
  reader.get(o.defenderResourcePath);
  if (reader.get(o.deleteExtensions) === false) {
    reader.warn(
      `${reader.label(o.deleteExtensions, reader.find(o.deleteExtensions))}: false has no ` +
        "effect: the STIX objects sent are built from OpenCTI's fields and never carry its " +
        "extensions",
    );
  }
  const eventTypes = reader.get(o.eventTypes);
  if (eventTypes !== undefined && eventTypes.length === 0) {
    reader.problem(
      `${reader.label(o.eventTypes, reader.find(o.eventTypes))}: expected at least one of ` +
        '"create", "update" or "delete"',
    );
  }
  const defender = {
    apiUrl: reader.get(o.defenderApiUrl),
    scope: reader.get(o.defenderScope),
    generateAlert: reader.get(o.defenderGenerateAlert),
    action: reader.get(o.defenderAction, theirs("defender", synchronizer ? "Audit" : "Alert")),
    application: reader.get(
      o.defenderApplication,
      theirs("defender", synchronizer ? UPSTREAM_SYNCHRONIZER_APPLICATION : UPSTREAM_APPLICATION),
    ),
    maxIndicators: reader.get(o.maxIndicators),
    rbacGroupNames: reader.get(o.rbacGroupNames),
    recommendedActions: reader.get(o.recommendedActions),
    educateUrl: reader.get(o.educateUrl),
  };

  return {
    id: base.id,
    idLabel: base.idLabel,
    value(): SentinelSettings {
      const connector = streamConnectorOf(base, liveStream);
      const hasWorkspace = ws.workspaceId !== undefined && ws.subscriptionId !== undefined &&
        ws.resourceGroup !== undefined && ws.workspaceName !== undefined;
      return {
        connector,
        target: must(target),
        tenantId: appRegistration ? must(tenantId) : tenantId ?? "",
        clientId: appRegistration ? must(clientId) : clientId ?? "",
        ...(appRegistration ? {} : { auth }),
        credential: must(credential),
        loginUrl: must(values.loginUrl),
        confidenceLevel: must(values.confidenceLevel),
        expireTimeDays: must(values.expireTimeDays),
        ...opt("action", values.action),
        ...opt("tlpLevel", values.tlpLevel),
        passiveOnly: must(values.passiveOnly),
        extraLabels: must(values.extraLabels),
        batchSize: must(batchSize),
        batchTimeoutMs: must(values.batchTimeoutMs),
        rateLimitPerMinute: must(rateLimitPerMinute),
        writeBack: must(values.writeBack),
        ...delivery(),
        eventTypes: must(eventTypes),
        ...opt("upstream", upstreamTarget),
        reconcilePeriodMs: values.reconcilePeriod?.ms ??
          (taxii.intervalSeconds === undefined
            ? RECONCILE_PERIOD.ms
            : taxii.intervalSeconds * 1000),
        ...opt("adoptSource", values.adoptSource),
        ...opt("taxiiCollections", taxii.collections),
        ...opt("taxiiPolicies", taxii.policies),
        ...(taxii.collections !== undefined && synchronizer && values.passiveOnly === true
          ? { reconcileDryRun: true }
          : {}),
        graph: {
          resourceUrl: must(values.resourceUrl),
          requestUrl: must(values.requestUrl),
          targetProduct: must(values.targetProduct),
        },
        sentinelApi: {
          apiUrl: must(sentinelApi.apiUrl),
          managementUrl: must(sentinelApi.managementUrl),
          sourceSystem: must(sourceSystem),
          uploadApiVersion: must(sentinelApi.uploadApiVersion),
          armApiVersion: must(sentinelApi.armApiVersion),
          publishIdentities: must(sentinelApi.publishIdentities),
          ...opt(
            "workspace",
            hasWorkspace
              ? {
                workspaceId: must(ws.workspaceId),
                subscriptionId: must(ws.subscriptionId),
                resourceGroup: must(ws.resourceGroup),
                workspaceName: must(ws.workspaceName),
              }
              : undefined,
          ),
        },
        defender: {
          apiUrl: must(defender.apiUrl),
          scope: must(defender.scope),
          generateAlert: must(defender.generateAlert),
          ...opt("action", defender.action),
          application: must(defender.application),
          maxIndicators: must(defender.maxIndicators),
          rbacGroupNames: must(defender.rbacGroupNames),
          ...opt("recommendedActions", defender.recommendedActions),
          ...opt("educateUrl", defender.educateUrl),
        },
      };
    },
  };
}

/** `sourcesystem` the upstream Sentinel connector writes (its default), so deletes find those. */
export const UPSTREAM_SOURCE_SYSTEM = "Opencti Stream Connector";

/** `application` the upstream Defender connector writes, so updates and deletes find those. */
export const UPSTREAM_APPLICATION = "OpenCTI Microsoft Defender Intel";

/**
 * `application` the upstream Defender synchronizer writes (`_build_request_body` in its
 * api_handler.py), so a reconcile finds what it wrote.
 */
export const UPSTREAM_SYNCHRONIZER_APPLICATION = "OpenCTI Microsoft Defender Intel Synchronizer";

/** `CONNECTOR_ID` default of the upstream Defender connector (its compose leaves it unset). */
export const UPSTREAM_DEFENDER_CONNECTOR_ID = "4aa40d9f-bee0-466e-a72e-6878c13bde08";

/**
 * `CONNECTOR_ID`, `CONNECTOR_NAME` and `CONNECTOR_SCOPE` defaults of each upstream connector, from
 * its `__metadata__/CONNECTOR_CONFIG_DOC.md` (OpenCTI-Platform/connectors, 2026-08):
 * microsoft-sentinel-intel `MicrosoftSentinelIntel` / `["sentinel"]`; microsoft-defender-intel
 * `Microsoft Defender Intel` / `["defender"]` and its fixed id. The synchronizer and
 * microsoft-graph-security-intel document none (pycti requires `CONNECTOR_NAME`): ours apply.
 */
export function upstreamBaseDefaults(
  target: TargetName,
  synchronizer = false,
): UpstreamBaseDefaults {
  switch (target) {
    case "sentinel":
      return { name: "MicrosoftSentinelIntel", scope: ["sentinel"] };
    case "defender":
      return synchronizer ? {} : {
        id: UPSTREAM_DEFENDER_CONNECTOR_ID,
        name: "Microsoft Defender Intel",
        scope: ["defender"],
      };
    case "graph":
      return {};
  }
}

/** True when the Defender synchronizer's own names (`MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_*`) are used. */
function synchronizerInUse(reader: Reader): boolean {
  const [env, yaml] = [UPSTREAM.defender.env[1], UPSTREAM.defender.yaml[1]];
  const doc = reader.doc;
  const sections = doc !== null && typeof doc === "object" && !Array.isArray(doc)
    ? Object.keys(doc)
    : [];
  return Object.keys(reader.env).some((name) =>
    env !== undefined && name.startsWith(env) && reader.env[name] !== undefined
  ) || sections.some((key) => key === yaml);
}

/** Which upstream prefixes are used, each once: environment names or top-level YAML sections. */
export function upstreamTargetsIn(
  env: Readonly<Record<string, string | undefined>>,
  doc: unknown,
): { target: TargetName; names: string[] }[] {
  const found: { target: TargetName; names: string[] }[] = [];
  const sections = doc !== null && typeof doc === "object" && !Array.isArray(doc)
    ? Object.keys(doc)
    : [];
  for (const target of ["sentinel", "defender", "graph"] as const) {
    const { env: prefixes, yaml } = UPSTREAM[target];
    const names = [
      ...Object.keys(env).filter((name) =>
        env[name] !== undefined && prefixes.some((prefix) => name.startsWith(prefix))
      ),
      ...sections.filter((key) => yaml.includes(key)),
    ];
    if (names.length > 0) found.push({ target, names: names.sort() });
  }
  return found;
}

/**
 * `SENTINEL_TAXII_COLLECTIONS` and its companions: the ids, and the reconcile interval (the
 * synchronizer's `INTERVAL`, default 300 s with its names). Per-collection policies are warned
 * about (not applied); `UPDATE_ONLY_OWNED=false` is warned about (never done).
 */
function readTaxii(
  reader: Reader,
  synchronizer: boolean,
): {
  collections?: string[];
  policies?: Record<string, IndicatorPolicy>;
  intervalSeconds?: number;
} {
  const o = SENTINEL_OPTIONS;
  const entries = reader.get(o.taxiiCollections);
  const intervalSeconds = reader.get(o.reconcileInterval, synchronizer ? { default: 300 } : {});
  if (reader.get(o.updateOnlyOwned) === false) {
    reader.warn(
      `${reader.label(o.updateOnlyOwned, reader.find(o.updateOnlyOwned))}: false is not done: ` +
        "a reconcile never updates or deletes records this connector does not own (remove it, " +
        "or name the old connector's records with SENTINEL_ADOPT_SOURCE to take them over)",
    );
  }
  if (entries === undefined) return { ...opt("intervalSeconds", intervalSeconds) };
  const label = reader.label(o.taxiiCollections, reader.find(o.taxiiCollections));
  const policies: Record<string, IndicatorPolicy> = {};
  for (const entry of entries) {
    const policy = readPolicy(reader, `${label}: ${entry.id}`, entry.policy);
    if (Object.keys(policy).length > 0) policies[entry.id] = policy;
  }
  if (reader.get(o.reconcilePeriod)?.ms === 0) {
    reader.problem(
      `${reader.label(o.reconcilePeriod, reader.find(o.reconcilePeriod))}: 0 turns reconciles ` +
        "off, but with SENTINEL_TAXII_COLLECTIONS they are all the connector does; set a period " +
        'such as "PT5M"',
    );
  }
  return {
    collections: entries.map((e) => e.id),
    ...(Object.keys(policies).length > 0 ? { policies } : {}),
    ...opt("intervalSeconds", intervalSeconds),
  };
}

/**
 * One collection's policy, as the upstream synchronizer reads it (`_normalize_policy`): `action`,
 * `expire_time`, `recommended_actions`, `educate_url`, `rbac_group_names` (a name or a list);
 * a wrong value is a problem; `max_indicators` and unknown keys are warned about (not applied).
 */
function readPolicy(
  reader: Reader,
  where: string,
  raw: Record<string, unknown>,
): IndicatorPolicy {
  const policy: IndicatorPolicy = {};
  const take = <T>(key: string, schema: val.ValueSchema<T>, set: (value: T) => void) => {
    const value = raw[key];
    if (value === undefined || value === null) return;
    const read = val.readValue(schema, typeof value === "number" ? String(value) : value);
    if (read.ok) set(read.value);
    else reader.problem(`${where}.${key}: ${read.message}`);
  };
  take("action", SENTINEL_OPTIONS.defenderAction.schema, (v) => policy.action = v);
  take("expire_time", val.integer(1), (v) => policy.expireTimeDays = v);
  take("recommended_actions", val.text(), (v) => policy.recommendedActions = v);
  take("educate_url", val.httpUrl(), (v) => policy.educateUrl = v);
  take(
    "rbac_group_names",
    val.jsonOrCommaList(),
    (v) => policy.rbacGroupNames = v,
  );
  const ignored = Object.keys(raw).filter((key) =>
    !["action", "expire_time", "recommended_actions", "educate_url", "rbac_group_names"]
      .includes(key)
  );
  if (ignored.length > 0) {
    reader.warn(
      `${where}: ${ignored.join(", ")} not applied (a per-collection max_indicators is not ` +
        "supported: DEFENDER_MAX_INDICATORS caps all collections together, the highest-scored kept)",
    );
  }
  return policy;
}

/** The upstream target in use; two of them is a problem naming both. */
function upstreamInUse(reader: Reader): TargetName | undefined {
  const found = upstreamTargetsIn(reader.env, reader.doc);
  if (found.length > 1) {
    const shown = found.map((f) =>
      `${UPSTREAM[f.target].env[0]}* (${f.names[0]}${f.names.length > 1 ? ", …" : ""})`
    );
    reader.problem(
      `${shown.join(" and ")}: the names of two upstream connectors (${
        found.map((f) => UPSTREAM[f.target].connector).join(", ")
      }) are set, but one sentinel connector sends to one target; keep one prefix (run a ` +
        "second instance for the other target)",
    );
    return undefined;
  }
  return found[0]?.target;
}

/** `SENTINEL_TARGET`, or the target the upstream prefix implies; a contradiction is a problem. */
function readTarget(
  reader: Reader,
  upstreamTarget: TargetName | undefined,
): TargetName | undefined {
  const o = SENTINEL_OPTIONS;
  const explicit = reader.find(o.target)?.value !== undefined;
  const target = reader.get(o.target, upstreamTarget ? { default: upstreamTarget } : {});
  if (
    explicit && upstreamTarget !== undefined && target !== undefined && target !== upstreamTarget
  ) {
    reader.problem(
      `${reader.label(o.target, reader.find(o.target))}: ${target} contradicts the ` +
        `${UPSTREAM[upstreamTarget].env[0]}* names in use (they configure ${upstreamTarget}); ` +
        `set SENTINEL_TARGET=${upstreamTarget} or remove it`,
    );
  }
  return target;
}

/** Reads the one client credential of `SENTINEL_AUTH=app_registration` (shared with microsoft-incidents). */
export function readCredential(reader: Reader): EntraCredential | undefined {
  const o = SENTINEL_OPTIONS;
  const secret = reader.get(o.clientSecret);
  const certificatePath = reader.get(o.clientCertificatePath);
  const privateKeyPath = reader.get(o.clientPrivateKeyPath);
  const alg = reader.get(o.clientAssertionAlg);
  const tokenFile = reader.get(o.federatedTokenFile);
  // A value that failed to parse was already reported; count what was given at all.
  const given = (spec: FieldSpec) => reader.find(spec)?.value !== undefined;
  const kinds: string[] = [];
  if (given(o.clientSecret)) kinds.push("CLIENT_SECRET");
  if (given(o.clientCertificatePath) || given(o.clientPrivateKeyPath)) {
    kinds.push("CLIENT_CERTIFICATE_PATH/CLIENT_PRIVATE_KEY_PATH");
    if (!given(o.clientCertificatePath)) {
      reader.problem(
        `${reader.label(o.clientCertificatePath)}: required with CLIENT_PRIVATE_KEY_PATH ` +
          "(the PEM certificate uploaded to the app registration)",
      );
    }
    if (!given(o.clientPrivateKeyPath)) {
      reader.problem(
        `${reader.label(o.clientPrivateKeyPath)}: required with CLIENT_CERTIFICATE_PATH ` +
          "(the certificate's PEM PKCS#8 private key)",
      );
    }
  }
  if (given(o.federatedTokenFile)) kinds.push("AZURE_FEDERATED_TOKEN_FILE");
  if (kinds.length === 0) {
    reader.problem(
      `${reader.label(o.clientSecret)}: required (a credential): set CLIENT_SECRET, or ` +
        "CLIENT_CERTIFICATE_PATH and CLIENT_PRIVATE_KEY_PATH, or AZURE_FEDERATED_TOKEN_FILE",
    );
    return undefined;
  }
  if (kinds.length > 1) {
    reader.problem(
      `${kinds.join(", ")}: set exactly one credential kind (client secret, certificate pair, ` +
        "or federated token file); remove the others",
    );
    return undefined;
  }
  if (secret !== undefined) return { kind: "secret", clientSecret: secret };
  if (certificatePath !== undefined && privateKeyPath !== undefined && alg !== undefined) {
    return { kind: "certificate", certificatePath, privateKeyPath, alg };
  }
  if (tokenFile !== undefined) return { kind: "federated", tokenFile };
  return undefined;
}

/**
 * The credential of `SENTINEL_AUTH=default` (the first configured source of the chain, see
 * `chooseCredential`) or `managed_identity`.
 */
export function readAzureCredential(
  reader: Reader,
  auth: "default" | "managed_identity",
  ids: { tenantId: string | undefined; clientId: string | undefined },
): EntraCredential | undefined {
  const o = SENTINEL_OPTIONS;
  const managed = (): EntraCredential | undefined => {
    const identityEndpoint = reader.get(o.identityEndpoint);
    const identityHeader = reader.get(o.identityHeader);
    const imdsEndpoint = reader.get(o.imdsEndpoint);
    const identityServerThumbprint = reader.get(o.identityServerThumbprint);
    const identityServerCertificate = reader.get(o.identityServerCertificate);
    const arcImdsEndpoint = reader.get(o.arcImdsEndpoint);
    const msiEndpoint = reader.get(o.msiEndpoint);
    const msiSecret = reader.get(o.msiSecret);
    const detected = detectManagedIdentity({
      identityEndpoint,
      identityHeader,
      identityServerThumbprint,
      arcImdsEndpoint,
      msiEndpoint,
      msiSecret,
    });
    if (!detected.ok) {
      reader.problem(`${reader.label(o.identityHeader)}: ${detected.problem}`);
      return undefined;
    }
    const untrusted = fabricTrustProblem(
      detected.endpoint,
      identityServerCertificate !== undefined,
    );
    if (untrusted !== undefined) {
      reader.problem(`${reader.label(o.identityServerCertificate)}: ${untrusted}`);
      return undefined;
    }
    const systemOnly = systemAssignedOnlyProblem(detected.endpoint.kind, ids.clientId);
    if (systemOnly !== undefined) {
      reader.problem(`${reader.label(o.clientId)}: ${systemOnly}`);
      return undefined;
    }
    if (imdsEndpoint === undefined) return undefined;
    const set = <K extends string, V>(key: K, value: V | undefined) =>
      value === undefined ? {} : { [key]: value } as Record<K, V>;
    return {
      kind: "managed_identity",
      imdsEndpoint,
      ...(ids.clientId ? { clientId: ids.clientId } : {}),
      ...set("identityEndpoint", identityEndpoint),
      ...set("identityHeader", identityHeader),
      ...set("identityServerThumbprint", identityServerThumbprint),
      ...set("identityServerCertificate", identityServerCertificate),
      ...set("arcImdsEndpoint", arcImdsEndpoint),
      ...set("msiEndpoint", msiEndpoint),
      ...set("msiSecret", msiSecret),
    };
  };
  if (auth === "managed_identity") return managed();
  const secret = reader.get(o.clientSecret) ?? reader.get(o.azureClientSecret);
  const certificatePath = reader.get(o.clientCertificatePath);
  const privateKeyPath = reader.get(o.clientPrivateKeyPath);
  const bundlePath = reader.get(o.azureClientCertificatePath);
  const alg = reader.get(o.clientAssertionAlg) ?? "PS256";
  const tokenFile = reader.get(o.federatedTokenFile);
  const pair = certificatePath !== undefined && privateKeyPath !== undefined
    ? { certificatePath, privateKeyPath }
    : bundlePath !== undefined
    ? { certificatePath: bundlePath, privateKeyPath: bundlePath }
    : undefined;
  const choice = chooseCredential({
    tenantId: ids.tenantId,
    clientId: ids.clientId,
    secret: secret !== undefined,
    certificate: pair !== undefined,
    federatedTokenFile: tokenFile !== undefined,
  });
  for (const line of choice.incomplete) {
    reader.warn(`SENTINEL_AUTH=default: ${line}; it is skipped`);
  }
  switch (choice.source) {
    case "environment secret":
      return secret === undefined ? undefined : { kind: "secret", clientSecret: secret };
    case "environment certificate":
      return pair === undefined ? undefined : { kind: "certificate", ...pair, alg };
    case "workload identity":
      return tokenFile === undefined ? undefined : { kind: "federated", tokenFile };
    case "managed identity":
      return managed();
  }
}

/** The secret values of a managed identity credential (`IDENTITY_HEADER`, `MSI_SECRET`). */
export function managedIdentitySecrets(
  credential: { identityHeader?: string; msiSecret?: string },
): string[] {
  return [credential.identityHeader, credential.msiSecret].filter((x): x is string =>
    x !== undefined
  );
}

/** The sentinel connector's configuration declaration. */
export const sentinelSettings: ConnectorSettings<SentinelSettings> = {
  name: "sentinel",
  prefix: PREFIX,
  section: SECTION,
  base: BASE,
  options: SENTINEL_OPTIONS,
  // Only the names the user sets: the AZURE_* fallbacks that AKS injects do not enable it.
  enabledBy: [
    { ...SENTINEL_OPTIONS.tenantId, fallbackEnv: [] },
    { ...SENTINEL_OPTIONS.clientId, fallbackEnv: [] },
    // SENTINEL_AUTH alone enables it (a managed identity needs no TENANT_ID or CLIENT_ID).
    SENTINEL_OPTIONS.auth,
  ],
  howToEnable: "TENANT_ID and CLIENT_ID (plus a credential) for sentinel",
  upstream: [
    {
      source: UPSTREAM.sentinel.connector,
      envPrefixes: ["MICROSOFT_SENTINEL_INTEL_"],
      effect: "Its names (and its `microsoft_sentinel_intel` YAML section) select " +
        "`SENTINEL_TARGET=sentinel`, with its defaults `CONNECTOR_NAME` `MicrosoftSentinelIntel` " +
        "and `CONNECTOR_SCOPE` `sentinel`; `OPENCTI_*` and `CONNECTOR_*` keep their names. Its compose " +
        "file runs unchanged (`tests/fixtures/config/upstream_sentinel_intel.compose.yml`).",
      notApplicable: [],
    },
    {
      source: UPSTREAM.defender.connector,
      envPrefixes: ["MICROSOFT_DEFENDER_INTEL_"],
      effect: "Its names (and its `microsoft_defender_intel` YAML section) select " +
        "`SENTINEL_TARGET=defender`, with its defaults: `CONNECTOR_ID` " +
        `\`${UPSTREAM_DEFENDER_CONNECTOR_ID}\`, \`CONNECTOR_NAME\` \`Microsoft Defender Intel\`, ` +
        "`CONNECTOR_SCOPE` `defender`, " +
        `application \`${UPSTREAM_APPLICATION}\` ` +
        "(so updates and deletes find what it wrote), action `Alert`. The synchronizer's " +
        "`MAX_INDICATORS`, `RBAC_GROUP_NAMES`, `RECOMMENDED_ACTIONS` and `EDUCATE_URL` are also " +
        "read with this prefix. Its compose file runs unchanged " +
        "(`tests/fixtures/config/upstream_defender_intel.compose.yml`).",
      notApplicable: [],
    },
    {
      source: "stream/microsoft-defender-intel-synchronizer",
      envPrefixes: ["MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_"],
      effect: "Its names select `SENTINEL_TARGET=defender` with its defaults (application " +
        `\`${UPSTREAM_SYNCHRONIZER_APPLICATION}\`, action \`Audit\`, interval 300 s). Like it, ` +
        "sentinel then follows no live stream: every `INTERVAL` a reconcile makes Defender hold " +
        "exactly the indicators of its `TAXII_COLLECTIONS` (read from OpenCTI's TAXII API; the " +
        "highest-scored up to `MAX_INDICATORS`), and `PASSIVE_ONLY=true` makes each reconcile a " +
        "dry run, as its emulate-only mode. Its compose file runs unchanged " +
        "(`tests/fixtures/config/upstream_defender_intel_synchronizer.compose.yml`).",
      notApplicable: [],
    },
    {
      source: UPSTREAM.graph.connector,
      envPrefixes: ["MICROSOFT_GRAPH_SECURITY_INTEL_"],
      effect: "Its names (and its `microsoft_graph_security_intel` YAML section) select " +
        "`SENTINEL_TARGET=graph` (retired by Microsoft in April 2026; move to `sentinel` or " +
        "`defender`). Its compose file runs unchanged " +
        "(`tests/fixtures/config/upstream_graph_security_intel.compose.yml`).",
      notApplicable: [],
    },
  ],
  read,
  connectorOf: (settings) => settings.connector,
  secrets: (s) =>
    s.credential.kind === "secret"
      ? [s.credential.clientSecret]
      : s.credential.kind === "managed_identity"
      ? managedIdentitySecrets(s.credential)
      : [],
};
