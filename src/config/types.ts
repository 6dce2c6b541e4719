/**
 * The typed configuration: one `Config`, and the slice each module receives. Each connector's
 * slice is declared next to it (`src/sentinel/settings.ts`, `src/tanium/settings.ts`).
 */
import type { SentinelSettings } from "../sentinel/settings.ts";
import type { TaniumIncidentsSettings } from "../tanium/settings.ts";
import type { MicrosoftIncidentsSettings } from "../microsoft_incidents/settings.ts";
import type { TaniumIntelSettings } from "../tanium_intel/settings.ts";

export type {
  SentinelSettings,
  /** The sentinel slice under its former name. */
  SentinelSettings as SentinelConfig,
} from "../sentinel/settings.ts";
export type {
  AuthSettings,
  DefenderTargetConfig,
  EntraAuth,
  EntraCredential,
  GraphTargetConfig,
  SentinelApiConfig,
  SentinelWorkspaceConfig,
  TargetSettings,
} from "../microsoft/target_config.ts";
export type { TargetName } from "../microsoft/target.ts";
export type {
  TaniumIncidentsSettings,
  /** The tanium-incidents slice under its former name. */
  TaniumIncidentsSettings as TaniumIncidentsConfig,
} from "../tanium/settings.ts";
export type {
  IncidentTlp,
  MicrosoftIncidentsSettings,
  /** The microsoft-incidents slice under its former name. */
  MicrosoftIncidentsSettings as MicrosoftIncidentsConfig,
} from "../microsoft_incidents/settings.ts";

/** Connectors this program hosts, as named in `CONNECTORS`. */
export type ConnectorName =
  | "sentinel"
  | "tanium-incidents"
  | "microsoft-incidents"
  | "tanium-intel";

/** Every connector name, in the order they start. */
export const CONNECTOR_NAMES: readonly ConnectorName[] = [
  "sentinel",
  "tanium-incidents",
  "microsoft-incidents",
  "tanium-intel",
];

/** Levels accepted by `CONNECTOR_LOG_LEVEL` (`warning` is read as `warn`). */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** `LOG_FORMAT`: JSON lines, readable text, or text on a terminal and JSON otherwise. */
export type LogFormat = "json" | "text" | "auto";

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
  /**
   * Deprecated pycti confidence level (0-100): the confidence of the sightings microsoft-incidents
   * creates; the other connectors read it and ignore it.
   */
  confidenceLevel?: number;
  /** Lowest log level of this connector's logger (`getLogger(<name>)`). */
  logLevel: LogLevel;
  /** Run one pass and exit. */
  runAndTerminate: boolean;
  /** Skip a scheduled run while the platform queue holds at least this many MB. */
  queueThresholdMb: number;
  /** `CONNECTOR_QUEUE_PROTOCOL`: `api`, `amqp`, or `auto` (api from OpenCTI 6.3, amqp below). */
  queueProtocol: "auto" | "api" | "amqp";
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

/** Base options of the import connectors (`tanium-incidents`, `microsoft-incidents`). */
export interface ImportConnectorConfig extends BaseConnectorConfig {
  /** Always `EXTERNAL_IMPORT`, whatever the environment says. */
  type: "EXTERNAL_IMPORT";
  /** The period in ms; 0 when run-and-terminate or period `0` (run once). */
  periodMs: number;
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
  sentinel?: SentinelSettings;
  /** Present when `tanium-incidents` is enabled. */
  taniumIncidents?: TaniumIncidentsSettings;
  /** Present when `microsoft-incidents` is enabled. */
  microsoftIncidents?: MicrosoftIncidentsSettings;
  /** Present when `tanium-intel` is enabled. */
  taniumIntel?: TaniumIntelSettings;
  /** HTTP server. */
  server: ServerConfig;
  /** Logging. */
  logging: LoggingConfig;
}
