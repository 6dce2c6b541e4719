/**
 * Configuration: a YAML file (`--config`, `CONFIG_FILE`, or `./config.yml` if present), then
 * environment variables, which win, read under the upstream connectors' names and validated once
 * into one typed {@linkcode Config}. Every problem is reported at once, never with a secret.
 */
import { parse as parseYaml, YAMLParseError } from "yaml";
import {
  type BaseKey,
  CONNECTOR_PREFIX,
  connectorField,
  FIELDS,
  type FieldSpec,
  knownYamlPaths,
} from "./fields.ts";
import { chooseCredential } from "../microsoft/credential_chain.ts";
import { REDACTED } from "./printable.ts";
import { type Env, type Label, Reader } from "./source.ts";
import {
  type Config,
  CONNECTOR_NAMES,
  type ConnectorName,
  type ImportConnectorConfig,
  type LogLevel,
  type MicrosoftIncidentsConfig,
  type SentinelAuth,
  type SentinelConfig,
  type SentinelCredential,
  type SentinelTarget,
  type ServerConfig,
  type StreamConnectorConfig,
  type TaniumIncidentsConfig,
} from "./types.ts";
import * as val from "./values.ts";

export * from "./types.ts";
export { printableConfig, REDACTED, secretValues } from "./printable.ts";
export {
  BASE_FIELDS,
  baseKeys,
  CONNECTOR_PREFIX,
  connectorField,
  FIELDS,
  type FieldSpec,
  knownEnvNames,
  knownYamlPaths,
} from "./fields.ts";
export type { Env } from "./source.ts";
export { parseUtcDate } from "./values.ts";

/** The configuration is invalid; `problems` lists every problem, one line each, without secrets. */
export class ConfigError extends Error {
  /** The error's name. */
  override name = "ConfigError";
  /** One line per problem: `NAME (yaml.path): what is expected`. */
  readonly problems: readonly string[];

  /** Builds the error from its problem lines. */
  constructor(problems: readonly string[], options?: ErrorOptions) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(
      `Fix the configuration (${count}):\n${problems.map((line) => `  - ${line}`).join("\n")}`,
      options,
    );
    this.problems = problems;
  }
}

/** Options of {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /** YAML file named on the command line (`--config`). @default `CONFIG_FILE`, else `./config.yml` if present */
  file?: string;
  /** Environment variables. @default Deno.env.toObject() */
  env?: Env;
  /** Reads a text file. @default Deno.readTextFile */
  readTextFile?: (path: string) => Promise<string>;
}

/** A valid configuration with the warnings found while reading it. */
export interface LoadedConfig {
  /** The validated configuration. */
  config: Config;
  /** Things worth telling the user that do not stop the program. */
  warnings: string[];
  /** The YAML file read, if any. */
  file?: string;
}

/** The file `loadConfig` reads when neither `--config` nor `CONFIG_FILE` is given. */
export const DEFAULT_CONFIG_FILE = "./config.yml";

/** Reads the YAML file (if any) and the environment into a validated configuration; throws {@linkcode ConfigError}. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? Deno.env.toObject();
  const readTextFile = options.readTextFile ?? Deno.readTextFile;
  const fromEnv = env.CONFIG_FILE?.trim();
  const explicit = options.file ?? (fromEnv ? fromEnv : undefined);
  const label = options.file !== undefined ? "--config" : "CONFIG_FILE";
  const path = explicit ?? DEFAULT_CONFIG_FILE;
  let text: string | undefined;
  try {
    text = await readTextFile(path);
  } catch (error) {
    if (explicit === undefined && error instanceof Deno.errors.NotFound) text = undefined;
    else {
      const reason = error instanceof Deno.errors.NotFound
        ? "the file does not exist"
        : error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
        ? "reading it is not permitted (run with --allow-read)"
        : error instanceof Error
        ? error.message
        : String(error);
      throw new ConfigError(
        [`${explicit === undefined ? "config file" : label} ${path}: cannot read it: ${reason}`],
        { cause: error },
      );
    }
  }
  const doc = text === undefined ? undefined : parseDocument(text, path, env);
  const { config, warnings } = resolveConfig(doc, env);
  return text === undefined ? { config, warnings } : { config, warnings, file: path };
}

function parseDocument(text: string, path: string, env: Env): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    // Only the first line: later lines quote the source, which may hold a secret.
    const first = error instanceof YAMLParseError
      ? error.message.split("\n")[0]?.replace(/:\s*$/, "")
      : "not valid YAML";
    const problem = `config file ${path}: cannot parse it as YAML: ${first}`;
    throw new ConfigError([redactKnown(problem, envSecrets(env))], { cause: error });
  }
}

function envSecrets(env: Env): string[] {
  const specs: FieldSpec[] = [
    FIELDS.openctiToken,
    FIELDS.clientSecret,
    FIELDS.azureClientSecret,
    FIELDS.identityHeader,
    FIELDS.taniumToken,
    FIELDS.serverAdminToken,
  ];
  return specs.flatMap((spec) => spec.env.map((name) => env[name] ?? ""));
}

function redactKnown(text: string, secrets: readonly string[]): string {
  let out = text;
  const values = [...new Set(secrets.filter((secret) => secret.length >= 4))]
    .sort((a, b) => b.length - a.length);
  for (const secret of values) out = out.replaceAll(secret, REDACTED);
  return out;
}

const LOG_LEVEL = val.oneOf(["debug", "info", "warn", "error"] as const, { warning: "warn" });

/** Validates a parsed YAML document (or `undefined`) and the environment into a {@linkcode Config}; throws {@linkcode ConfigError}. */
export function resolveConfig(doc: unknown, env: Env): { config: Config; warnings: string[] } {
  const reader = new Reader(env, doc);
  if (doc !== undefined && doc !== null && (typeof doc !== "object" || Array.isArray(doc))) {
    reader.problem("config file: expected a YAML mapping (key: value lines) at the top level");
  } else if (doc !== undefined && doc !== null) {
    warnUnknownKeys(doc, reader);
  }

  const connectors = readConnectors(reader);
  const opencti = {
    url: reader.read(FIELDS.openctiUrl, val.httpUrl(), { required: "required (an http(s) URL)" }),
    token: reader.read(
      FIELDS.openctiToken,
      val.text({ noSpaces: true, expected: "expected a token" }),
      {
        required: "required (the API token of the connector's OpenCTI user)",
      },
    ),
    sslVerify: reader.read(FIELDS.openctiSslVerify, val.boolean(), { default: true }),
    caFile: reader.read(FIELDS.openctiCaFile, val.text({ expected: "expected a file path" })),
  };
  const logging = {
    level: reader.read(FIELDS.logLevel, LOG_LEVEL, { default: "info" as LogLevel }),
    format: reader.read(FIELDS.logFormat, val.oneOf(["json", "text", "auto"] as const), {
      default: "auto" as const,
    }),
  };
  const both = connectors.length > 1;
  const sentinel = connectors.includes("sentinel")
    ? readSentinel({ reader, both, level: logging.level ?? "info" })
    : undefined;
  const taniumIncidents = connectors.includes("tanium-incidents")
    ? readTanium({ reader, both, level: logging.level ?? "info" })
    : undefined;
  if (sentinel && taniumIncidents) checkDistinctIds(reader, { sentinel, tanium: taniumIncidents });
  const microsoftIncidents = connectors.includes("microsoft-incidents")
    ? readMicrosoftIncidents(
      { reader, both, level: logging.level ?? "info" },
      [sentinel?.id, taniumIncidents?.id],
    )
    : undefined;
  const server = readServer(reader);

  const secrets = reader.secretsSeen;
  if (reader.problems.length > 0) {
    // A shared option (CONNECTOR_LOG_LEVEL…) read for each connector reports its problem once.
    throw new ConfigError(unique(reader.problems.map((line) => redactKnown(line, secrets))));
  }
  const config: Config = {
    connectors,
    opencti: {
      url: must(opencti.url),
      token: must(opencti.token),
      sslVerify: must(opencti.sslVerify),
      ...opt("caFile", opencti.caFile),
    },
    ...opt("sentinel", sentinel?.value()),
    ...opt("taniumIncidents", taniumIncidents?.value()),
    ...opt("microsoftIncidents", microsoftIncidents?.value()),
    server: must(server),
    logging: { level: must(logging.level), format: must(logging.format) },
  };
  return { config, warnings: unique(reader.warnings.map((line) => redactKnown(line, secrets))) };
}

function unique(lines: readonly string[]): string[] {
  return [...new Set(lines)];
}

/** What the per-connector readers share. */
interface Context {
  /** Collects values and problems. */
  reader: Reader;
  /** Both connectors are enabled (prefixed names are the ones to name in messages). */
  both: boolean;
  /** The process log level, default of each connector's level. */
  level: LogLevel;
}

/** `{}` when the value is undefined, else `{ [key]: value }` (for exact optional properties). */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Asserts a value that validation guarantees once there are no problems. */
function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("Configuration value missing after validation (a bug)");
  return value;
}

function warnUnknownKeys(doc: object, reader: Reader): void {
  const known = knownYamlPaths();
  const prefixes = new Set<string>();
  for (const path of known) {
    const parts = path.split(".");
    for (let i = 1; i < parts.length; i++) prefixes.add(parts.slice(0, i).join("."));
  }
  const walk = (node: unknown, path: string): void => {
    if (known.has(path)) return;
    if (path !== "" && !prefixes.has(path)) {
      reader.warn(`config file: unknown key "${path}" is ignored (check its spelling)`);
      return;
    }
    if (node === null || typeof node !== "object" || Array.isArray(node)) return;
    for (const [key, value] of Object.entries(node)) {
      walk(value, path === "" ? key : `${path}.${key}`);
    }
  };
  walk(doc, "");
}

const CONNECTOR_ALIASES: Readonly<Record<string, ConnectorName>> = {
  "sentinel": "sentinel",
  "tanium-incidents": "tanium-incidents",
  "tanium_incidents": "tanium-incidents",
  "microsoft-incidents": "microsoft-incidents",
  "microsoft_incidents": "microsoft-incidents",
};

function readConnectors(reader: Reader): ConnectorName[] {
  const listed = reader.read(FIELDS.connectors, val.list());
  const chosen = new Set<ConnectorName>();
  if (listed !== undefined && listed.length > 0) {
    const unknown: string[] = [];
    for (const item of listed) {
      const name = CONNECTOR_ALIASES[item.toLowerCase()];
      if (name) chosen.add(name);
      else unknown.push(item);
    }
    if (unknown.length > 0) {
      reader.problem(
        `${reader.label(FIELDS.connectors, reader.find(FIELDS.connectors))}: expected a ` +
          `comma-separated list of ${val.describeChoices(CONNECTOR_NAMES)}; got unknown ` +
          `${unknown.map((name) => JSON.stringify(name)).join(", ")}`,
      );
      return [];
    }
  } else if (listed === undefined && reader.problems.length > 0) {
    return [];
  } else {
    const present = (spec: FieldSpec) => reader.find(spec)?.value !== undefined;
    if (
      present(withoutFallback(FIELDS.tenantId)) || present(withoutFallback(FIELDS.clientId)) ||
      present(FIELDS.auth)
    ) {
      chosen.add("sentinel");
    }
    if (present(FIELDS.taniumUrl)) chosen.add("tanium-incidents");
    if (chosen.has("sentinel") && reader.read(FIELDS.importIncidents, val.boolean()) === true) {
      chosen.add("microsoft-incidents");
    }
    if (chosen.size === 0) {
      reader.problem(
        "CONNECTORS (connectors): no connector is configured; set CONNECTORS=sentinel, " +
          "CONNECTORS=tanium-incidents or CONNECTORS=sentinel,tanium-incidents, or configure a " +
          "connector: TENANT_ID and CLIENT_ID (plus a credential) for sentinel, " +
          "TANIUM_INCIDENTS_URL (plus TANIUM_INCIDENTS_TOKEN) for tanium-incidents",
      );
    }
  }
  if (
    chosen.has("sentinel") && !chosen.has("microsoft-incidents") &&
    reader.read(FIELDS.importIncidents, val.boolean()) === true
  ) {
    chosen.add("microsoft-incidents"); // the seed's IMPORT_INCIDENTS=true
  }
  return CONNECTOR_NAMES.filter((name) => chosen.has(name));
}

function withoutFallback(spec: FieldSpec): FieldSpec {
  return { ...spec, fallbackEnv: [] };
}

/** A connector slice that can be finished once there are no problems. */
interface Pending<T> {
  value(): T;
}

const FORCED_TYPE = {
  "sentinel": "STREAM",
  "tanium-incidents": "EXTERNAL_IMPORT",
  "microsoft-incidents": "EXTERNAL_IMPORT",
} as const;
const DEFAULT_NAME = {
  "sentinel": "Microsoft Sentinel",
  "tanium-incidents": "Tanium Threat Response Incidents",
  "microsoft-incidents": "Microsoft Incidents",
} as const;
const DEFAULT_SCOPE = {
  "sentinel": ["sentinel"],
  "tanium-incidents": ["tanium"],
  "microsoft-incidents": ["microsoft-incidents"],
} as const;

function readBase({ reader, both, level }: Context, connector: ConnectorName) {
  const prefix = CONNECTOR_PREFIX[connector];
  const spec = (key: BaseKey) => connectorField(connector, key);
  const label = (key: BaseKey): Label =>
    both
      ? {
        env: `${prefix.env}CONNECTOR_${key}`,
        yaml: `${prefix.yaml}.connector.${key.toLowerCase()}`,
      }
      : { env: `CONNECTOR_${key}`, yaml: `connector.${key.toLowerCase()}` };
  const idSpec = spec("ID");
  const idFound = reader.find(idSpec);
  const id = reader.read(idSpec, val.uuid("a UUID (generate one with uuidgen)"), {
    required: "required (a UUID, stable across restarts; generate one with uuidgen)",
    label: label("ID"),
  });
  const type = reader.read(spec("TYPE"), val.text());
  if (type !== undefined && type.toUpperCase() !== FORCED_TYPE[connector]) {
    const where = reader.label(spec("TYPE"), reader.find(spec("TYPE")));
    reader.warn(
      `${where}: ${connector} always registers as ${FORCED_TYPE[connector]}; ` +
        `the configured ${JSON.stringify(type)} is ignored`,
    );
  }
  const duration = reader.read(spec("DURATION_PERIOD"), val.duration(), {
    label: label("DURATION_PERIOD"),
  });
  return {
    id,
    idLabel: reader.label(idSpec, idFound, label("ID")),
    name: reader.read(spec("NAME"), val.text(), { default: DEFAULT_NAME[connector] }),
    scope: reader.read(spec("SCOPE"), val.list(), { default: [...DEFAULT_SCOPE[connector]] }),
    confidenceLevel: reader.read(spec("CONFIDENCE_LEVEL"), val.integer(0, 100)),
    logLevel: reader.read(spec("LOG_LEVEL"), LOG_LEVEL, { default: level }),
    runAndTerminate: reader.read(spec("RUN_AND_TERMINATE"), val.boolean(), { default: false }),
    queueThresholdMb: reader.read(spec("QUEUE_THRESHOLD"), val.integer(1), { default: 500 }),
    duration,
    durationLabel: label("DURATION_PERIOD"),
  };
}

function finishBase(base: ReturnType<typeof readBase>) {
  return {
    id: must(base.id),
    name: must(base.name),
    scope: must(base.scope),
    ...opt("confidenceLevel", base.confidenceLevel),
    logLevel: must(base.logLevel),
    runAndTerminate: must(base.runAndTerminate),
    queueThresholdMb: must(base.queueThresholdMb),
  };
}

interface ConnectorSlice<T> extends Pending<T> {
  id: string | undefined;
  idLabel: string;
}

const BATCH = { graph: 100, sentinel: 100, defender: 500 } as const;
const RATE = { graph: 1000, sentinel: 100, defender: 30 } as const;

function readSentinel(context: Context): ConnectorSlice<SentinelConfig> {
  const { reader } = context;
  const base = readBase(context, "sentinel");
  const spec = (key: BaseKey) => connectorField("sentinel", key);
  const liveStream = {
    id: reader.read(spec("LIVE_STREAM_ID"), val.text({ noSpaces: true }), { default: "live" }),
    listenDelete: reader.read(spec("LIVE_STREAM_LISTEN_DELETE"), val.boolean(), { default: true }),
    noDependencies: reader.read(spec("LIVE_STREAM_NO_DEPENDENCIES"), val.boolean(), {
      default: true,
    }),
    withInferences: reader.read(spec("LIVE_STREAM_WITH_INFERENCES"), val.boolean(), {
      default: false,
    }),
    recoverIsoDate: reader.read(spec("LIVE_STREAM_RECOVER_ISO_DATE"), val.dateOrFalse()),
    startTimestamp: reader.read(spec("LIVE_STREAM_START_TIMESTAMP"), val.integer(0)),
  };

  const target = reader.read(FIELDS.target, val.oneOf(["graph", "sentinel", "defender"] as const), {
    default: "graph" as SentinelTarget,
  });
  if (target === "graph") {
    reader.warn(
      "SENTINEL_TARGET (sentinel.target) is graph: Microsoft retires Graph tiIndicators in " +
        "April 2026; set SENTINEL_TARGET=sentinel or SENTINEL_TARGET=defender",
    );
  }
  const authValue = reader.read(
    FIELDS.auth,
    val.oneOf(["app_registration", "default", "azure_credential", "managed_identity"] as const),
    { default: "app_registration" as const },
  );
  const auth: SentinelAuth = authValue === "azure_credential"
    ? "default"
    : authValue ?? "app_registration";
  const appRegistration = auth === "app_registration";
  const tenantId = reader.read(
    FIELDS.tenantId,
    val.tenant(),
    appRegistration ? { required: "required (the Entra ID directory (tenant) id)" } : {},
  );
  const clientId = reader.read(
    FIELDS.clientId,
    val.uuid("the application (client) id, a GUID"),
    appRegistration
      ? { required: "required (the application (client) id of the app registration, a GUID)" }
      : {},
  );
  const credential = appRegistration
    ? readCredential(reader)
    : readAzureCredential(reader, auth, { tenantId, clientId });
  const loginUrl = reader.read(FIELDS.loginUrl, val.httpUrl(), {
    default: "https://login.microsoftonline.com",
  });
  const graph = {
    resourceUrl: reader.read(FIELDS.resourceUrl, val.httpUrl(), {
      default: "https://graph.microsoft.com",
    }),
    requestUrl: reader.read(FIELDS.requestUrl, val.urlPath(), {
      default: "/beta/security/tiIndicators",
    }),
    targetProduct: reader.read(
      FIELDS.targetProduct,
      val.oneOf(["Azure Sentinel", "Microsoft Defender ATP"] as const),
      { default: "Azure Sentinel" as const },
    ),
  };
  const common = {
    confidenceLevel: reader.read(FIELDS.confidenceLevel, val.integer(0, 100), { default: 50 }),
    expireTimeDays: reader.read(FIELDS.expireTime, val.integer(1), { default: 30 }),
    action: reader.read(FIELDS.action, val.oneOf(["unknown", "allow", "block", "alert"] as const)),
    tlpLevel: reader.read(
      FIELDS.tlpLevel,
      val.oneOf(["unknown", "white", "green", "amber", "red"] as const),
    ),
    passiveOnly: reader.read(FIELDS.passiveOnly, val.boolean(), { default: false }),
    extraLabels: reader.read(FIELDS.extraLabels, val.list(), { default: [] }),
    batchTimeoutMs: reader.read(FIELDS.batchTimeoutMs, val.integer(0, 600_000), {
      default: 1000,
    }),
    writeBack: reader.read(FIELDS.writeBack, val.boolean(), { default: false }),
  };
  const maxBatch = BATCH[target ?? "graph"];
  const batchSize = reader.read(FIELDS.batchSize, val.integer(1, maxBatch), { default: maxBatch });
  const rateLimitPerMinute = reader.read(FIELDS.rateLimitPerMinute, val.integer(1), {
    default: RATE[target ?? "graph"],
  });

  const needWorkspace = target === "sentinel";
  const required = (what: string) =>
    needWorkspace ? { required: `required with SENTINEL_TARGET=sentinel (${what})` } : {};
  const workspace = {
    workspaceId: reader.read(FIELDS.workspaceId, val.uuid("the workspace id, a GUID"), {
      ...required("the Log Analytics workspace id, a GUID"),
    }),
    subscriptionId: reader.read(FIELDS.subscriptionId, val.uuid("a subscription id, a GUID"), {
      ...required("the Azure subscription id of the workspace, a GUID"),
    }),
    resourceGroup: reader.read(FIELDS.resourceGroup, val.text({ noSpaces: true }), {
      ...required("the resource group of the workspace"),
    }),
    workspaceName: reader.read(FIELDS.workspaceName, val.text({ noSpaces: true }), {
      ...required("the workspace name"),
    }),
  };
  const sourceSystem = reader.read(FIELDS.sourceSystem, val.text(), { default: "OpenCTI" });
  if (sourceSystem?.toLowerCase() === "microsoft sentinel") {
    reader.problem(
      `${reader.label(FIELDS.sourceSystem, reader.find(FIELDS.sourceSystem))}: ` +
        `"Microsoft Sentinel" is reserved by Microsoft; choose another name such as "OpenCTI"`,
    );
  }
  const sentinelApi = {
    apiUrl: reader.read(FIELDS.sentinelApiUrl, val.httpUrl(), {
      default: "https://api.ti.sentinel.azure.com",
    }),
    managementUrl: reader.read(FIELDS.managementUrl, val.httpUrl(), {
      default: "https://management.azure.com",
    }),
  };
  const defender = {
    apiUrl: reader.read(FIELDS.defenderApiUrl, val.httpUrl(), {
      default: "https://api.securitycenter.microsoft.com",
    }),
    scope: reader.read(FIELDS.defenderScope, val.text({ noSpaces: true }), {
      default: "https://api.securitycenter.microsoft.com/.default",
    }),
    generateAlert: reader.read(FIELDS.defenderGenerateAlert, val.boolean(), { default: true }),
  };

  return {
    id: base.id,
    idLabel: base.idLabel,
    value(): SentinelConfig {
      const connector: StreamConnectorConfig = {
        ...finishBase(base),
        type: "STREAM",
        ...opt("durationPeriod", base.duration?.text),
        ...opt("periodMs", base.duration?.ms),
        liveStream: {
          id: must(liveStream.id),
          listenDelete: must(liveStream.listenDelete),
          noDependencies: must(liveStream.noDependencies),
          withInferences: must(liveStream.withInferences),
          ...opt("recoverIsoDate", liveStream.recoverIsoDate),
          ...opt("startTimestamp", liveStream.startTimestamp),
        },
      };
      const ws = workspace;
      const hasWorkspace = ws.workspaceId !== undefined && ws.subscriptionId !== undefined &&
        ws.resourceGroup !== undefined && ws.workspaceName !== undefined;
      return {
        connector,
        target: must(target),
        tenantId: appRegistration ? must(tenantId) : tenantId ?? "",
        clientId: appRegistration ? must(clientId) : clientId ?? "",
        ...(appRegistration ? {} : { auth }),
        credential: must(credential),
        loginUrl: must(loginUrl),
        confidenceLevel: must(common.confidenceLevel),
        expireTimeDays: must(common.expireTimeDays),
        ...opt("action", common.action),
        ...opt("tlpLevel", common.tlpLevel),
        passiveOnly: must(common.passiveOnly),
        extraLabels: must(common.extraLabels),
        batchSize: must(batchSize),
        batchTimeoutMs: must(common.batchTimeoutMs),
        rateLimitPerMinute: must(rateLimitPerMinute),
        writeBack: must(common.writeBack),
        graph: {
          resourceUrl: must(graph.resourceUrl),
          requestUrl: must(graph.requestUrl),
          targetProduct: must(graph.targetProduct),
        },
        sentinelApi: {
          apiUrl: must(sentinelApi.apiUrl),
          managementUrl: must(sentinelApi.managementUrl),
          sourceSystem: must(sourceSystem),
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
        },
      };
    },
  };
}

function readCredential(reader: Reader): SentinelCredential | undefined {
  const secret = reader.read(
    FIELDS.clientSecret,
    val.text({ noSpaces: true, expected: "expected the client secret value" }),
  );
  const certificatePath = reader.read(
    FIELDS.clientCertificatePath,
    val.text({ expected: "expected a file path" }),
  );
  const privateKeyPath = reader.read(
    FIELDS.clientPrivateKeyPath,
    val.text({ expected: "expected a file path" }),
  );
  const alg = reader.read(FIELDS.clientAssertionAlg, val.oneOf(["PS256", "RS256"] as const), {
    default: "PS256" as const,
  });
  const tokenFile = reader.read(
    FIELDS.federatedTokenFile,
    val.text({ expected: "expected a file path" }),
  );
  // A value that failed to parse was already reported; count what was given at all.
  const given = (spec: FieldSpec) => reader.find(spec)?.value !== undefined;
  const kinds: string[] = [];
  if (given(FIELDS.clientSecret)) kinds.push("CLIENT_SECRET");
  if (given(FIELDS.clientCertificatePath) || given(FIELDS.clientPrivateKeyPath)) {
    kinds.push("CLIENT_CERTIFICATE_PATH/CLIENT_PRIVATE_KEY_PATH");
    if (!given(FIELDS.clientCertificatePath)) {
      reader.problem(
        `${reader.label(FIELDS.clientCertificatePath)}: required with CLIENT_PRIVATE_KEY_PATH ` +
          "(the PEM certificate uploaded to the app registration)",
      );
    }
    if (!given(FIELDS.clientPrivateKeyPath)) {
      reader.problem(
        `${reader.label(FIELDS.clientPrivateKeyPath)}: required with CLIENT_CERTIFICATE_PATH ` +
          "(the certificate's PEM PKCS#8 private key)",
      );
    }
  }
  if (given(FIELDS.federatedTokenFile)) kinds.push("AZURE_FEDERATED_TOKEN_FILE");
  if (kinds.length === 0) {
    reader.problem(
      `${reader.label(FIELDS.clientSecret)}: required (a credential): set CLIENT_SECRET, or ` +
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
function readAzureCredential(
  reader: Reader,
  auth: "default" | "managed_identity",
  ids: { tenantId: string | undefined; clientId: string | undefined },
): SentinelCredential | undefined {
  const managed = (): SentinelCredential | undefined => {
    const identityEndpoint = reader.read(FIELDS.identityEndpoint, val.httpUrl());
    const identityHeader = reader.read(
      FIELDS.identityHeader,
      val.text({ expected: "expected the header value the platform sets" }),
    );
    const imdsEndpoint = reader.read(FIELDS.imdsEndpoint, val.httpUrl(), {
      default: "http://169.254.169.254/metadata/identity/oauth2/token",
    });
    if (identityEndpoint !== undefined && identityHeader === undefined) {
      reader.problem(
        `${reader.label(FIELDS.identityHeader)}: IDENTITY_HEADER missing: IDENTITY_ENDPOINT is ` +
          "set, so the platform (App Service, Functions, Container Apps) must also set " +
          "IDENTITY_HEADER; enable the app's managed identity, or unset IDENTITY_ENDPOINT to use IMDS",
      );
      return undefined;
    }
    if (imdsEndpoint === undefined) return undefined;
    return {
      kind: "managed_identity",
      imdsEndpoint,
      ...(ids.clientId ? { clientId: ids.clientId } : {}),
      ...(identityEndpoint !== undefined && identityHeader !== undefined
        ? { identityEndpoint, identityHeader }
        : {}),
    };
  };
  if (auth === "managed_identity") return managed();
  const secret = reader.read(
    FIELDS.clientSecret,
    val.text({ noSpaces: true, expected: "expected the client secret value" }),
  ) ?? reader.read(
    FIELDS.azureClientSecret,
    val.text({ noSpaces: true, expected: "expected the client secret value" }),
  );
  const certificatePath = reader.read(
    FIELDS.clientCertificatePath,
    val.text({ expected: "expected a file path" }),
  );
  const privateKeyPath = reader.read(
    FIELDS.clientPrivateKeyPath,
    val.text({ expected: "expected a file path" }),
  );
  const bundlePath = reader.read(
    FIELDS.azureClientCertificatePath,
    val.text({ expected: "expected a file path" }),
  );
  const alg = reader.read(FIELDS.clientAssertionAlg, val.oneOf(["PS256", "RS256"] as const), {
    default: "PS256" as const,
  }) ?? "PS256";
  const tokenFile = reader.read(
    FIELDS.federatedTokenFile,
    val.text({ expected: "expected a file path" }),
  );
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

function readTanium(context: Context): ConnectorSlice<TaniumIncidentsConfig> {
  const { reader } = context;
  const base = readBase(context, "tanium-incidents");
  if (base.duration === undefined && base.runAndTerminate === false) {
    const found = reader.find(connectorField("tanium-incidents", "DURATION_PERIOD"));
    if (found?.value === undefined) {
      reader.problem(
        `${base.durationLabel.env} (${base.durationLabel.yaml}): required unless ` +
          'CONNECTOR_RUN_AND_TERMINATE=true (an ISO-8601 duration such as "PT1H")',
      );
    }
  }
  const values = {
    url: reader.read(FIELDS.taniumUrl, val.httpUrl(), {
      required: "required (the Tanium API base URL)",
    }),
    urlConsole: reader.read(FIELDS.taniumUrlConsole, val.httpUrl(), {
      required: "required (the Tanium console base URL, for links)",
    }),
    sslVerify: reader.read(FIELDS.taniumSslVerify, val.boolean(), { default: true }),
    caFile: reader.read(FIELDS.taniumCaFile, val.text({ expected: "expected a file path" })),
    token: reader.read(
      FIELDS.taniumToken,
      val.text({ noSpaces: true, expected: "expected a Tanium API token" }),
      { required: "required (a Tanium API token)" },
    ),
    importAlerts: reader.read(FIELDS.taniumImportAlerts, val.boolean(), { default: true }),
    importStartDate: reader.read(FIELDS.taniumImportStartDate, val.utcDate()),
    intelSourceNames: reader.read(FIELDS.taniumIntelSourceNames, val.list(), {
      default: ["Tanium Threat Response Intel", "Tanium"],
    }),
    pageSize: reader.read(FIELDS.taniumPageSize, val.integer(1, 500), { default: 500 }),
    cron: reader.read(FIELDS.taniumCron, val.cron()),
  };
  if (values.intelSourceNames?.length === 0) {
    reader.problem(
      `${reader.label(FIELDS.taniumIntelSourceNames)}: expected at least one source name`,
    );
  }
  return {
    id: base.id,
    idLabel: base.idLabel,
    value(): TaniumIncidentsConfig {
      const runAndTerminate = must(base.runAndTerminate);
      const connector: ImportConnectorConfig = {
        ...finishBase(base),
        type: "EXTERNAL_IMPORT",
        ...opt("durationPeriod", base.duration?.text),
        periodMs: runAndTerminate ? 0 : must(base.duration).ms,
      };
      return {
        connector,
        url: must(values.url),
        urlConsole: must(values.urlConsole),
        sslVerify: must(values.sslVerify),
        ...opt("caFile", values.caFile),
        token: must(values.token),
        importAlerts: must(values.importAlerts),
        ...opt("importStartDate", values.importStartDate),
        intelSourceNames: must(values.intelSourceNames),
        pageSize: must(values.pageSize),
        ...opt("cron", values.cron),
      };
    },
  };
}

const TLPS = ["clear", "white", "green", "amber", "amber+strict", "red"] as const;

/**
 * The id microsoft-incidents uses when it would share the seed's one `CONNECTOR_ID` with another
 * connector: the same UUID with its last 12 hex digits XOR-ed with "micros" (stable, distinct,
 * version and variant kept).
 */
export function derivedConnectorId(id: string): string {
  const tail = id.slice(-12);
  const mixed = (BigInt(`0x${tail}`) ^ 0x6d6963726f73n).toString(16).padStart(12, "0");
  return `${id.slice(0, -12)}${mixed}`;
}

function readMicrosoftIncidents(
  context: Context,
  otherIds: readonly (string | undefined)[],
): Pending<MicrosoftIncidentsConfig> {
  const { reader } = context;
  const base = readBase(context, "microsoft-incidents");
  const own = {
    tenantId: reader.read(FIELDS.msIncidentsTenantId, val.tenant()),
    clientId: reader.read(
      FIELDS.msIncidentsClientId,
      val.uuid("the application (client) id, a GUID"),
    ),
    secret: reader.read(
      FIELDS.msIncidentsClientSecret,
      val.text({ noSpaces: true, expected: "expected the client secret value" }),
    ),
  };
  const ownCount = [own.tenantId, own.clientId, own.secret].filter((x) => x !== undefined).length;
  if (ownCount > 0 && ownCount < 3) {
    reader.problem(
      "MICROSOFT_INCIDENTS_TENANT_ID, MICROSOFT_INCIDENTS_CLIENT_ID and " +
        "MICROSOFT_INCIDENTS_CLIENT_SECRET (microsoft_incidents.*): set all three, or none to use " +
        "sentinel's credentials (TENANT_ID, CLIENT_ID and a credential)",
    );
  }
  const useOwn = ownCount === 3;
  // Sentinel's credentials, read with the same rules as the sentinel connector.
  const authValue = useOwn ? undefined : reader.read(
    FIELDS.auth,
    val.oneOf(["app_registration", "default", "azure_credential", "managed_identity"] as const),
    { default: "app_registration" as const },
  );
  const auth: SentinelAuth = authValue === "azure_credential"
    ? "default"
    : authValue ?? "app_registration";
  const appRegistration = auth === "app_registration";
  const shared = useOwn ? undefined : (() => {
    const tenantId = reader.read(
      FIELDS.tenantId,
      val.tenant(),
      appRegistration
        ? { required: "required for microsoft-incidents (the Entra ID tenant id)" }
        : {},
    );
    const clientId = reader.read(
      FIELDS.clientId,
      val.uuid("the application (client) id, a GUID"),
      appRegistration
        ? { required: "required for microsoft-incidents (the application (client) id, a GUID)" }
        : {},
    );
    const credential = appRegistration
      ? readCredential(reader)
      : readAzureCredential(reader, auth, { tenantId, clientId });
    return { tenantId, clientId, credential };
  })();
  const loginUrl = reader.read(FIELDS.loginUrl, val.httpUrl(), {
    default: "https://login.microsoftonline.com",
  });
  const resourceUrl = reader.read(FIELDS.msIncidentsResourceUrl, val.httpUrl()) ??
    reader.read(FIELDS.resourceUrl, val.httpUrl(), { default: "https://graph.microsoft.com" });
  const values = {
    incidentPath: reader.read(FIELDS.incidentUrl, val.text({ noSpaces: true }), {
      default: "/v1.0/security/incidents",
    }),
    tlp: reader.read(FIELDS.msIncidentsTlp, val.oneOf(TLPS), { default: "red" as const }),
    matchByValue: reader.read(FIELDS.msIncidentsMatchByValue, val.boolean(), { default: true }),
    importStartDate: reader.read(FIELDS.msIncidentsImportStartDate, val.utcDate()),
    lookBack: reader.read(FIELDS.msIncidentsLookBack, val.duration(), {
      default: { text: "PT1H", ms: 3_600_000 },
    }),
    pageSize: reader.read(FIELDS.msIncidentsPageSize, val.integer(1, 50), { default: 50 }),
  };
  // The seed has one CONNECTOR_ID for sentinel and its incident loop: derive a distinct one.
  const ownId = reader.find(connectorField("microsoft-incidents", "ID"));
  const prefixed = ownId?.env?.startsWith("MICROSOFT_INCIDENTS_") === true ||
    ownId?.yaml?.startsWith("microsoft_incidents.") === true;
  let id = base.id;
  if (id !== undefined && otherIds.includes(id)) {
    if (prefixed) {
      reader.problem(
        `${base.idLabel}: microsoft-incidents cannot share its connector id with another ` +
          "connector; set MICROSOFT_INCIDENTS_CONNECTOR_ID to a UUID of its own",
      );
    } else {
      id = derivedConnectorId(id);
      reader.warn(
        `microsoft-incidents shares ${base.idLabel} with another connector; it registers as ` +
          `${id} (set MICROSOFT_INCIDENTS_CONNECTOR_ID to choose its id)`,
      );
    }
  }
  return {
    value(): MicrosoftIncidentsConfig {
      const runAndTerminate = must(base.runAndTerminate);
      const connector: ImportConnectorConfig = {
        ...finishBase(base),
        id: must(id),
        type: "EXTERNAL_IMPORT",
        durationPeriod: base.duration?.text ?? "PT5M",
        periodMs: runAndTerminate ? 0 : base.duration?.ms ?? 300_000,
      };
      const credentials = useOwn
        ? {
          tenantId: must(own.tenantId),
          clientId: must(own.clientId),
          credential: { kind: "secret", clientSecret: must(own.secret) } as const,
        }
        : {
          tenantId: appRegistration ? must(shared?.tenantId) : shared?.tenantId ?? "",
          clientId: appRegistration ? must(shared?.clientId) : shared?.clientId ?? "",
          ...(appRegistration ? {} : { auth }),
          credential: must(shared?.credential),
        };
      return {
        connector,
        ...credentials,
        loginUrl: must(loginUrl),
        resourceUrl: must(resourceUrl),
        incidentPath: must(values.incidentPath),
        tlp: must(values.tlp),
        ...opt("confidence", base.confidenceLevel),
        matchByValue: must(values.matchByValue),
        ...opt("importStartDate", values.importStartDate),
        lookBackMs: must(values.lookBack).ms,
        pageSize: must(values.pageSize),
      };
    },
  };
}

function checkDistinctIds(
  reader: Reader,
  { sentinel, tanium }: {
    sentinel: ConnectorSlice<SentinelConfig>;
    tanium: ConnectorSlice<TaniumIncidentsConfig>;
  },
): void {
  if (sentinel.id === undefined || sentinel.id !== tanium.id) return;
  const where = sentinel.idLabel === tanium.idLabel
    ? sentinel.idLabel
    : `${sentinel.idLabel} and ${tanium.idLabel}`;
  reader.problem(
    `${where}: sentinel and tanium-incidents cannot share one connector id; set ` +
      "SENTINEL_CONNECTOR_ID and TANIUM_INCIDENTS_CONNECTOR_ID to two different UUIDs",
  );
}

function readServer(reader: Reader): ServerConfig | undefined {
  const host = reader.read(FIELDS.serverHost, val.text({ noSpaces: true }));
  const port = reader.read(FIELDS.serverPort, val.integer(0, 65535));
  const address = reader.read(FIELDS.denoServeAddress, val.serveAddress());
  const adminToken = reader.read(
    FIELDS.serverAdminToken,
    val.text({ noSpaces: true, expected: "expected a token" }),
  );
  if (adminToken !== undefined && adminToken.length < 16) {
    reader.warn(
      "SERVER_ADMIN_TOKEN (server.admin_token) is shorter than 16 characters; use a long " +
        "random token (e.g. openssl rand -hex 32)",
    );
  }
  return {
    host: host ?? address?.host ?? "0.0.0.0",
    port: port ?? address?.port ?? 8080,
    ...opt("adminToken", adminToken),
  };
}
