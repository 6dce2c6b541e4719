/**
 * The options every connector shares, declared once: the configuration file, which connectors
 * run, the OpenCTI platform, the base connector options (pycti `CONNECTOR_*`, also accepted with a
 * connector prefix), the HTTP server and logging.
 */
import { type AnyOption, type Option, option } from "./option.ts";
import type { Label, Reader } from "./source.ts";
import type {
  BaseConnectorConfig,
  ConnectorName,
  LiveStreamConfig,
  LogLevel,
  OpenCtiConfig,
  ServerConfig,
} from "./types.ts";
import * as val from "./values.ts";
import { opt } from "../runtime/props.ts";
import { parseDuration } from "../runtime/duration.ts";

/** Levels of `CONNECTOR_LOG_LEVEL` (`warning` is read as `warn`). */
export const LOG_LEVEL = val.oneOf(["debug", "info", "warn", "error"] as const, {
  warning: "warn",
});

/** Values of `CONNECTOR_QUEUE_PROTOCOL`. */
export const QUEUE_PROTOCOL = val.oneOf(["auto", "api", "amqp"] as const);

/** Options that are not per connector. */
export const COMMON_OPTIONS = {
  configFile: option({
    env: ["CONFIG_FILE"],
    yaml: [],
    schema: val.text({ expected: "expected a file path" }),
    defaultDoc: "`./config.yml` if present",
    meaning: "YAML configuration file (the `--config` argument wins). Environment variables " +
      "override the file.",
    section: "General",
    example: "./config.yml",
  }),
  connectors: option({
    env: ["CONNECTORS"],
    yaml: ["connectors"],
    schema: val.list(),
    defaultDoc: "inferred",
    meaning: "Connectors to run: `sentinel`, `tanium-incidents`, `microsoft-incidents`, " +
      "`tanium-intel` (comma-separated). Unset: `sentinel` when `TENANT_ID` or `CLIENT_ID` is " +
      "set, `tanium-incidents` when `TANIUM_INCIDENTS_URL` is set, `microsoft-incidents` with " +
      "sentinel when `IMPORT_INCIDENTS=true`, `tanium-intel` when `TANIUM_INTEL_URL` is set.",
    section: "General",
    sample: ["sentinel", "tanium-incidents"],
  }),
  openctiUrl: option({
    env: ["OPENCTI_URL"],
    yaml: ["opencti.url"],
    schema: val.httpUrl(),
    required: "required (an http(s) URL)",
    meaning: "OpenCTI platform URL (GraphQL at `<url>/graphql`).",
    section: "OpenCTI",
    sample: "http://localhost:8080",
  }),
  openctiToken: option({
    env: ["OPENCTI_TOKEN"],
    yaml: ["opencti.token"],
    secret: true,
    schema: val.text({ noSpaces: true, expected: "expected a token" }),
    required: "required (the API token of the connector's OpenCTI user)",
    meaning: "API token of the OpenCTI user the connectors act as. Secret.",
    section: "OpenCTI",
    sample: "ChangeMe-OpenCTI-token",
  }),
  openctiSslVerify: option({
    env: ["OPENCTI_SSL_VERIFY"],
    yaml: ["opencti.ssl_verify"],
    schema: val.boolean(),
    default: true,
    meaning: "Verify the platform's TLS certificate (pycti defaults to `false`; this program " +
      "verifies unless told not to).",
    section: "OpenCTI",
  }),
  openctiCaFile: option({
    env: ["OPENCTI_CA_FILE"],
    yaml: ["opencti.ca_file"],
    schema: val.text({ expected: "expected a file path" }),
    meaning: "PEM file of extra CA certificates to trust for the platform.",
    section: "OpenCTI",
    example: "/etc/ssl/certs/opencti-ca.pem",
  }),
  serverHost: option({
    env: ["SERVER_HOST"],
    yaml: ["server.host"],
    schema: val.text({ noSpaces: true }),
    default: "0.0.0.0",
    meaning: "Interface the health/metrics server listens on.",
    section: "Server and logging",
  }),
  serverPort: option({
    env: ["SERVER_PORT"],
    yaml: ["server.port"],
    schema: val.integer(0, 65535),
    default: 8080,
    meaning: "Port of the health/metrics server.",
    section: "Server and logging",
  }),
  denoServeAddress: option({
    env: ["DENO_SERVE_ADDRESS"],
    yaml: [],
    schema: val.serveAddress(),
    meaning: "`host:port` or `tcp:host:port`; used when `SERVER_HOST`/`SERVER_PORT` are unset.",
    section: "Server and logging",
    example: "tcp:0.0.0.0:8080",
  }),
  serverAdminToken: option({
    env: ["SERVER_ADMIN_TOKEN"],
    yaml: ["server.admin_token"],
    secret: true,
    schema: val.text({ noSpaces: true, expected: "expected a token" }),
    meaning: "Bearer token for `POST /connectors/:name/run`; unset = that route is absent. Secret.",
    section: "Server and logging",
    example: "ChangeMe-a-long-random-token",
  }),
  logLevel: option({
    env: ["CONNECTOR_LOG_LEVEL"],
    yaml: ["connector.log_level"],
    schema: LOG_LEVEL,
    default: "info",
    meaning: "`debug`, `info`, `warn` (or `warning`) or `error`. Per connector: " +
      "`SENTINEL_CONNECTOR_LOG_LEVEL`, `TANIUM_INCIDENTS_CONNECTOR_LOG_LEVEL`.",
    section: "Server and logging",
    sample: "info",
  }),
  logFormat: option({
    env: ["LOG_FORMAT"],
    yaml: ["logging.format"],
    schema: val.oneOf(["json", "text", "auto"] as const),
    default: "auto",
    defaultDoc: "`auto` (from `OPENCTI_JSON_LOGGING` when that is set)",
    meaning: "`json` lines, readable `text`, or `auto` (text on a terminal, else JSON).",
    section: "Server and logging",
  }),
  openctiJsonLogging: option({
    env: ["OPENCTI_JSON_LOGGING"],
    yaml: ["opencti.json_logging"],
    schema: val.boolean(),
    defaultDoc: "none",
    meaning: "OpenCTI 7 connectors' switch: `true` = `LOG_FORMAT=json`, `false` = " +
      "`LOG_FORMAT=text` (`LOG_FORMAT` wins when both are set).",
    section: "Server and logging",
  }),
  connectorMetricsPort: option({
    env: ["CONNECTOR_METRICS_PORT"],
    yaml: ["connector.metrics_port"],
    schema: val.integer(0, 65535),
    defaultDoc: "none",
    meaning: "OpenCTI connectors' metrics port: the server (which serves `/metrics` with the " +
      "health checks) listens on it when `SERVER_PORT` is unset.",
    section: "Server and logging",
  }),
  connectorExposeMetrics: option({
    env: ["CONNECTOR_EXPOSE_METRICS"],
    yaml: ["connector.expose_metrics"],
    schema: val.boolean(),
    defaultDoc: "none",
    meaning: "OpenCTI connectors' switch; `/metrics` is always served by the server, so `true` " +
      "changes nothing and `false` is accepted with a warning.",
    section: "Server and logging",
  }),
} as const;

/** Environment prefix and YAML section of a connector. */
export interface ConnectorPrefix {
  /** Connector name (`CONNECTORS`). */
  name: ConnectorName;
  /** Environment prefix, e.g. `SENTINEL_`. */
  env: string;
  /** YAML section, e.g. `sentinel`. */
  yaml: string;
}

/**
 * The declaration helper of a connector's own options: `<env prefix><SUFFIX>`, YAML
 * `<section>.<suffix>`, listed under `section` in the docs.
 */
export function prefixedOption(prefix: ConnectorPrefix, section: string) {
  return <T>(suffix: string, rest: Omit<Option<T>, "env" | "yaml" | "section">): Option<T> => ({
    env: [`${prefix.env}${suffix}`],
    yaml: [`${prefix.yaml}.${suffix.toLowerCase()}`],
    section,
    ...rest,
  });
}

/** What differs between connectors in the base options. */
export interface BaseDefaults {
  /** The type the connector always registers with. */
  type: "STREAM" | "EXTERNAL_IMPORT";
  /** Default display name. */
  name: string;
  /** Default scope. */
  scope: readonly string[];
  /** A `DURATION_PERIOD` is required (unless run-and-terminate). */
  periodRequired: boolean;
  /** The period when none is configured (documented as the default). */
  periodDefault?: string;
  /** Values `config.yml.sample` sets in this connector's `connector` section. */
  sample?: { id?: unknown; durationPeriod?: unknown; liveStreamId?: unknown };
}

function at(prefix: ConnectorPrefix, key: string) {
  const lower = key.toLowerCase();
  return {
    env: [`${prefix.env}CONNECTOR_${key}`, `CONNECTOR_${key}`],
    yaml: [`${prefix.yaml}.connector.${lower}`, `connector.${lower}`],
    section: "Connector",
  };
}

function sample(value: unknown): { sample?: unknown } {
  return value === undefined ? {} : { sample: value };
}

/** The base connector options (pycti `CONNECTOR_*`) of one connector: prefixed names first. */
export function baseOptions(prefix: ConnectorPrefix, defaults: BaseDefaults) {
  return {
    ID: option({
      ...at(prefix, "ID"),
      schema: val.uuid("a UUID (generate one with uuidgen)"),
      required: "required (a UUID, stable across restarts; generate one with uuidgen)",
      meaning: "Connector id in OpenCTI: a UUID, stable across restarts.",
      example: "ChangeMe",
      ...sample(defaults.sample?.id),
    }),
    TYPE: option({
      ...at(prefix, "TYPE"),
      schema: val.text(),
      defaultDoc: `\`${defaults.type}\``,
      meaning: "Always the connector's own type; another value is ignored with a warning.",
      example: defaults.type,
    }),
    NAME: option({
      ...at(prefix, "NAME"),
      schema: val.text(),
      default: defaults.name,
      meaning: "Display name in OpenCTI (for tanium-incidents also the author of what it creates).",
    }),
    SCOPE: option({
      ...at(prefix, "SCOPE"),
      schema: val.list(),
      default: [...defaults.scope],
      meaning: "Connector scope (comma-separated).",
    }),
    CONFIDENCE_LEVEL: option({
      ...at(prefix, "CONFIDENCE_LEVEL"),
      schema: val.integer(0, 100),
      meaning: "pycti confidence level (0-100), deprecated by OpenCTI: the confidence of the " +
        "sightings microsoft-incidents creates; the other connectors read it and ignore it.",
      example: 80,
    }),
    LOG_LEVEL: option({
      ...at(prefix, "LOG_LEVEL"),
      schema: LOG_LEVEL,
      defaultDoc: "`CONNECTOR_LOG_LEVEL`",
      meaning: "This connector's log level (its logger's lowest level).",
      example: "info",
    }),
    DURATION_PERIOD: option({
      ...at(prefix, "DURATION_PERIOD"),
      schema: val.duration(),
      defaultDoc: defaults.periodRequired
        ? "required"
        : defaults.periodDefault !== undefined
        ? `\`${defaults.periodDefault}\``
        : "none",
      meaning: "ISO-8601 period between runs (`PT1H`, `P1D`, `PT30M`; `0` = run once).",
      example: "PT1H",
      ...sample(defaults.sample?.durationPeriod),
    }),
    RUN_AND_TERMINATE: option({
      ...at(prefix, "RUN_AND_TERMINATE"),
      schema: val.boolean(),
      default: false,
      meaning: "Run once and exit.",
    }),
    QUEUE_THRESHOLD: option({
      ...at(prefix, "QUEUE_THRESHOLD"),
      schema: val.integer(1),
      default: 500,
      meaning: "Skip a scheduled run while the platform's queue for this connector holds at " +
        "least this many MB.",
    }),
    QUEUE_PROTOCOL: option({
      ...at(prefix, "QUEUE_PROTOCOL"),
      schema: QUEUE_PROTOCOL,
      default: "auto",
      meaning: "How bundles reach OpenCTI: `api` (`stixBundlePush`, OpenCTI 6.3+), `amqp` (the " +
        "platform's RabbitMQ, as pycti), or `auto` (api from 6.3, amqp below) (tanium-incidents).",
    }),
  };
}

/** The live stream options of a stream connector (`CONNECTOR_LIVE_STREAM_*`). */
export function liveStreamOptions(prefix: ConnectorPrefix, defaults: BaseDefaults) {
  return {
    LIVE_STREAM_ID: option({
      ...at(prefix, "LIVE_STREAM_ID"),
      schema: val.text({ noSpaces: true }),
      default: "live",
      meaning: "Live stream (collection) id to read; `live` = the whole platform stream, which " +
        "needs the BYPASS capability.",
      ...sample(defaults.sample?.liveStreamId),
    }),
    LIVE_STREAM_LISTEN_DELETE: option({
      ...at(prefix, "LIVE_STREAM_LISTEN_DELETE"),
      schema: val.boolean(),
      default: true,
      meaning: "Receive delete events (needed to remove indicators).",
    }),
    LIVE_STREAM_NO_DEPENDENCIES: option({
      ...at(prefix, "LIVE_STREAM_NO_DEPENDENCIES"),
      schema: val.boolean(),
      default: true,
      meaning: "Do not ask the stream for dependencies.",
    }),
    LIVE_STREAM_WITH_INFERENCES: option({
      ...at(prefix, "LIVE_STREAM_WITH_INFERENCES"),
      schema: val.boolean(),
      default: false,
      meaning: "Include inferred objects.",
    }),
    LIVE_STREAM_RECOVER_ISO_DATE: option({
      ...at(prefix, "LIVE_STREAM_RECOVER_ISO_DATE"),
      schema: val.dateOrFalse(),
      defaultDoc: "start time",
      meaning: "First start only: replay objects updated up to this date (UTC when no zone), " +
        "or `false` for no replay.",
      example: "2024-01-15",
    }),
    LIVE_STREAM_START_TIMESTAMP: option({
      ...at(prefix, "LIVE_STREAM_START_TIMESTAMP"),
      schema: val.integer(0),
      defaultDoc: "`0` (the beginning)",
      meaning: "First start only: stream position as epoch milliseconds.",
      example: 0,
    }),
  };
}

/** What the per-connector readers share. */
export interface ReadContext {
  /** Collects values and problems. */
  reader: Reader;
  /** Both connectors are enabled (prefixed names are the ones to name in messages). */
  both: boolean;
  /** The process log level, default of each connector's level. */
  level: LogLevel;
  /** Ids of the enabled connectors read before this one (`undefined` where invalid). */
  otherIds?: readonly (string | undefined)[];
}

/**
 * The defaults an upstream connector documents for the base options, applied instead of ours when
 * its names are in use (its `CONNECTOR_CONFIG_DOC.md`).
 */
export interface UpstreamBaseDefaults {
  /** Its `CONNECTOR_ID` default (then the id is not required). @default none */
  id?: string;
  /** Its `CONNECTOR_NAME` default. @default ours */
  name?: string;
  /** Its `CONNECTOR_SCOPE` default. @default ours */
  scope?: readonly string[];
}

/** Base options as read, before the connector adds its own type and period. */
export interface BaseRead {
  /** The connector id, when valid. */
  id: string | undefined;
  /** How to name the id in a message. */
  idLabel: string;
  /** The period, when given and valid. */
  duration: { text: string; ms: number } | undefined;
  /** How to name the period in a message. */
  durationLabel: Label;
  /** Finishes the common part once there are no problems. */
  value(): Omit<BaseConnectorConfig, "durationPeriod" | "periodMs">;
  /** Run-and-terminate as read. */
  runAndTerminate: boolean | undefined;
}

/** Reads the base options of one connector (warns about a foreign `CONNECTOR_TYPE`). */
export function readBase(
  { reader, both, level }: ReadContext,
  prefix: ConnectorPrefix,
  base: ReturnType<typeof baseOptions>,
  type: "STREAM" | "EXTERNAL_IMPORT",
  theirs: UpstreamBaseDefaults = {},
): BaseRead {
  const idDefault = theirs.id;
  const label = (key: string): Label =>
    both
      ? {
        env: `${prefix.env}CONNECTOR_${key}`,
        yaml: `${prefix.yaml}.connector.${key.toLowerCase()}`,
      }
      : { env: `CONNECTOR_${key}`, yaml: `connector.${key.toLowerCase()}` };
  const idFound = reader.find(base.ID);
  // A connector whose upstream documents a fixed id default (the Defender one) requires none.
  const id = idDefault === undefined
    ? reader.get(base.ID, { label: label("ID") })
    : reader.read(base.ID, base.ID.schema, { label: label("ID"), default: idDefault });
  const configuredType = reader.get(base.TYPE);
  if (configuredType !== undefined && configuredType.toUpperCase() !== type) {
    reader.warn(
      `${reader.label(base.TYPE, reader.find(base.TYPE))}: ${prefix.name} always registers as ` +
        `${type}; the configured ${JSON.stringify(configuredType)} is ignored`,
    );
  }
  const duration = reader.get(base.DURATION_PERIOD, { label: label("DURATION_PERIOD") });
  const values = {
    name: reader.get(base.NAME, theirs.name === undefined ? {} : { default: theirs.name }),
    scope: reader.get(base.SCOPE, theirs.scope === undefined ? {} : { default: [...theirs.scope] }),
    confidenceLevel: reader.get(base.CONFIDENCE_LEVEL),
    logLevel: reader.get(base.LOG_LEVEL, { default: level }),
    runAndTerminate: reader.get(base.RUN_AND_TERMINATE),
    queueThresholdMb: reader.get(base.QUEUE_THRESHOLD),
    queueProtocol: reader.get(base.QUEUE_PROTOCOL),
  };
  return {
    id,
    idLabel: reader.label(base.ID, idFound, label("ID")),
    duration,
    durationLabel: label("DURATION_PERIOD"),
    runAndTerminate: values.runAndTerminate,
    value: () => ({
      id: must(id),
      name: must(values.name),
      scope: must(values.scope),
      ...opt("confidenceLevel", values.confidenceLevel),
      logLevel: must(values.logLevel),
      runAndTerminate: must(values.runAndTerminate),
      queueThresholdMb: must(values.queueThresholdMb),
      queueProtocol: must(values.queueProtocol),
    }),
  };
}

/** Reads the live stream options; the result is finished once there are no problems. */
export function readLiveStream(
  reader: Reader,
  options: ReturnType<typeof liveStreamOptions>,
): () => LiveStreamConfig {
  const values = {
    id: reader.get(options.LIVE_STREAM_ID),
    listenDelete: reader.get(options.LIVE_STREAM_LISTEN_DELETE),
    noDependencies: reader.get(options.LIVE_STREAM_NO_DEPENDENCIES),
    withInferences: reader.get(options.LIVE_STREAM_WITH_INFERENCES),
    recoverIsoDate: reader.get(options.LIVE_STREAM_RECOVER_ISO_DATE),
    startTimestamp: reader.get(options.LIVE_STREAM_START_TIMESTAMP),
  };
  return () => ({
    id: must(values.id),
    listenDelete: must(values.listenDelete),
    noDependencies: must(values.noDependencies),
    withInferences: must(values.withInferences),
    ...opt("recoverIsoDate", values.recoverIsoDate),
    ...opt("startTimestamp", values.startTimestamp),
  });
}

/** Reads the OpenCTI options. */
export function readOpenCti(reader: Reader): () => OpenCtiConfig {
  const o = COMMON_OPTIONS;
  const values = {
    url: reader.get(o.openctiUrl),
    token: reader.get(o.openctiToken),
    sslVerify: reader.get(o.openctiSslVerify),
    caFile: reader.get(o.openctiCaFile),
  };
  return () => ({
    url: must(values.url),
    token: must(values.token),
    sslVerify: must(values.sslVerify),
    ...opt("caFile", values.caFile),
  });
}

/** Reads the server options (`DENO_SERVE_ADDRESS` fills what `SERVER_*` leave unset). */
export function readServer(reader: Reader): ServerConfig {
  const o = COMMON_OPTIONS;
  const host = reader.read(o.serverHost, o.serverHost.schema);
  const port = reader.read(o.serverPort, o.serverPort.schema);
  const address = reader.get(o.denoServeAddress);
  const adminToken = reader.get(o.serverAdminToken);
  if (adminToken !== undefined && adminToken.length < 16) {
    reader.warn(
      "SERVER_ADMIN_TOKEN (server.admin_token) is shorter than 16 characters; use a long " +
        "random token (e.g. openssl rand -hex 32)",
    );
  }
  const metricsPort = reader.get(o.connectorMetricsPort);
  if (metricsPort !== undefined && port !== undefined && port !== metricsPort) {
    reader.warn(
      `CONNECTOR_METRICS_PORT (connector.metrics_port) ${metricsPort} is not used: /metrics is ` +
        `served with the health checks on SERVER_PORT ${port}; unset one of them`,
    );
  }
  if (reader.get(o.connectorExposeMetrics) === false) {
    reader.warn(
      "CONNECTOR_EXPOSE_METRICS (connector.expose_metrics) is false, but /metrics is always " +
        "served with the health checks (SERVER_PORT); it has no effect",
    );
  }
  return {
    host: host ?? address?.host ?? must(o.serverHost.default),
    port: port ?? address?.port ?? metricsPort ?? must(o.serverPort.default),
    ...opt("adminToken", adminToken),
  };
}

/** Asserts a value that validation guarantees once there are no problems. */
export function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("Configuration value missing after validation (a bug)");
  return value;
}

/**
 * Default of the stream connectors' `*_MAX_BACKOFF` (the longest wait between two tries of a
 * batch held by a systemic failure), declared once for sentinel and tanium-intel.
 */
export const MAX_BACKOFF_DEFAULT = "PT5M";

/** {@linkcode MAX_BACKOFF_DEFAULT} in ms. */
export const MAX_BACKOFF_DEFAULT_MS = parseDuration(MAX_BACKOFF_DEFAULT);

/** Every option of a record of declarations, in declaration order. */
export function optionsOf(record: Readonly<Record<string, AnyOption>>): AnyOption[] {
  return Object.values(record);
}
