/**
 * The `tanium-incidents` connector's options, declared once (names, YAML paths, schema, default,
 * secret flag, meaning), and the typed {@linkcode TaniumIncidentsSettings} the connector receives.
 *
 * To add an option: add one `option({...})` entry to {@linkcode TANIUM_OPTIONS} (its env name is
 * `TANIUM_INCIDENTS_<SUFFIX>`, its YAML path `tanium_incidents.<suffix>`), read it in `read()`
 * below into a field of {@linkcode TaniumIncidentsSettings}, then run `deno task docs`.
 */
import {
  baseOptions,
  type ConnectorPrefix,
  MAX_BACKOFF_DEFAULT,
  MAX_BACKOFF_DEFAULT_MS,
  must,
  prefixedOption,
  readBase,
  type ReadContext,
} from "../config/common_settings.ts";
import type { ConnectorSettings, PendingSettings } from "../config/connector_settings.ts";
import type { ImportConnectorConfig } from "../config/types.ts";
import * as val from "../config/values.ts";
import { opt } from "../runtime/props.ts";

const PREFIX: ConnectorPrefix = {
  name: "tanium-incidents",
  env: "TANIUM_INCIDENTS_",
  yaml: "tanium_incidents",
};
const SECTION = "Tanium incidents";

/** `TANIUM_INCIDENTS_<SUFFIX>`, YAML `tanium_incidents.<suffix>`. */
const tanium = prefixedOption(PREFIX, SECTION);

/** `TANIUM_INCIDENTS_LOOKBACK`'s default. */
export const LOOKBACK = { text: "P1D", ms: 86_400_000 };

/** How long before now a first run starts when `TANIUM_INCIDENTS_IMPORT_START_DATE` is unset. */
export const IMPORT_START_BACK = { text: "1 year", ms: 365 * 86_400_000 };

/**
 * The Tanium API URL and TLS options, the same in both Tanium connectors (`<PREFIX>URL`,
 * `<PREFIX>SSL_VERIFY`, `<PREFIX>CA_FILE`), from the connector's {@linkcode prefixedOption}.
 */
export function taniumApiOptions(prefixed: ReturnType<typeof prefixedOption>) {
  return {
    url: prefixed("URL", {
      schema: val.httpUrl(),
      required: "required (the Tanium API base URL)",
      meaning: "Tanium API base URL (on Tanium Cloud the `-api` host).",
      sample: "https://example-api.titankube.com",
    }),
    sslVerify: prefixed("SSL_VERIFY", {
      schema: val.boolean(),
      default: true,
      meaning: "Verify Tanium's TLS certificate.",
    }),
    caFile: prefixed("CA_FILE", {
      schema: val.text({ expected: "expected a file path" }),
      meaning: "PEM file of extra CA certificates to trust for Tanium.",
      example: "/etc/ssl/certs/tanium-ca.pem",
    }),
  } as const;
}

const API = taniumApiOptions(tanium);

const BASE_DEFAULTS = {
  type: "EXTERNAL_IMPORT",
  name: "Tanium Threat Response Incidents",
  scope: ["tanium"],
  periodRequired: true,
  sample: { id: "ChangeMe", durationPeriod: "PT12H" },
} as const;

/** The tanium-incidents connector's options. */
export const TANIUM_OPTIONS = {
  url: API.url,
  urlConsole: tanium("URL_CONSOLE", {
    schema: val.httpUrl(),
    required: "required (the Tanium console base URL, for links)",
    meaning: "Tanium console base URL, for the links on incidents.",
    sample: "https://example.titankube.com",
  }),
  sslVerify: API.sslVerify,
  caFile: API.caFile,
  token: tanium("TOKEN", {
    secret: true,
    schema: val.text({ noSpaces: true, expected: "expected a Tanium API token" }),
    required: "required (a Tanium API token)",
    meaning: "Tanium API token (sent in the `session` header). Secret.",
    sample: "ChangeMe-Tanium-token",
  }),
  importAlerts: tanium("IMPORT_ALERTS", {
    schema: val.boolean(),
    default: true,
    meaning: "`false` = create sightings only (no incidents, observables, attack patterns).",
  }),
  importStartDate: tanium("IMPORT_START_DATE", {
    schema: val.utcDate(),
    defaultDoc: `now - ${IMPORT_START_BACK.text}`,
    meaning: "Where to start when there is no saved state: `YYYY-MM-DD` or an ISO date-time, " +
      "UTC when no zone is given.",
    example: "2024-01-15",
  }),
  intelSourceNames: tanium("INTEL_SOURCE_NAMES", {
    schema: val.list(),
    default: ["Tanium Threat Response Intel", "Tanium"],
    meaning: "`source_name` values of the external references (written by the Tanium intel " +
      "stream connector) that link an alert's intel document to an OpenCTI entity.",
  }),
  pageSize: tanium("PAGE_SIZE", {
    schema: val.integer(1, 500),
    default: 500,
    meaning: "Alerts per request (1-500).",
  }),
  lookback: tanium("LOOKBACK", {
    schema: val.duration(),
    defaultDoc: `\`${LOOKBACK.text}\``,
    meaning: "ISO-8601 duration: each run re-reads this far before the newest alert already " +
      "imported, for alerts that reach Tanium late (an endpoint that was offline). `P0D` = off.",
    example: "P1D",
  }),
  maxBackoff: tanium("MAX_BACKOFF", {
    schema: val.duration(),
    defaultDoc: `\`${MAX_BACKOFF_DEFAULT}\``,
    meaning: "ISO-8601 duration: longest wait between two tries of a run that failed because " +
      "Tanium or OpenCTI is failing (the position is held; nothing is dropped).",
    example: "PT5M",
  }),
  cron: tanium("CRON", {
    schema: val.cron(),
    meaning: "Deno Deploy cron schedule (five fields, UTC), e.g. `0 * * * *`.",
    example: "0 */12 * * *",
  }),
} as const;

const BASE = baseOptions(PREFIX, BASE_DEFAULTS);

/** The typed settings of the `tanium-incidents` import connector. */
export interface TaniumIncidentsSettings {
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
  /** Start when the state has no cursor: ISO date-time in UTC; unset = `importStartBackMs` before now. */
  importStartDate?: string;
  /** Without `importStartDate`, how long before now a first run starts, in ms. */
  importStartBackMs: number;
  /** `source_name` values of the intel external references to match. */
  intelSourceNames: string[];
  /** Alerts per page (1-500). */
  pageSize: number;
  /** Deno Deploy cron schedule (5 fields). */
  cron?: string;
  /** Look-back window for late alerts in ms (`TANIUM_INCIDENTS_LOOKBACK`). */
  lookbackMs: number;
  /** Longest wait between tries of a failing run in ms (`TANIUM_INCIDENTS_MAX_BACKOFF`). */
  maxBackoffMs: number;
}

function read(context: ReadContext): PendingSettings<TaniumIncidentsSettings> {
  const { reader } = context;
  const o = TANIUM_OPTIONS;
  const base = readBase(context, PREFIX, BASE, BASE_DEFAULTS.type);
  if (base.duration === undefined && base.runAndTerminate === false) {
    if (reader.find(BASE.DURATION_PERIOD)?.value === undefined) {
      reader.problem(
        `${base.durationLabel.env} (${base.durationLabel.yaml}): required unless ` +
          'CONNECTOR_RUN_AND_TERMINATE=true (an ISO-8601 duration such as "PT1H")',
      );
    }
  }
  const values = {
    url: reader.get(o.url),
    urlConsole: reader.get(o.urlConsole),
    sslVerify: reader.get(o.sslVerify),
    caFile: reader.get(o.caFile),
    token: reader.get(o.token),
    importAlerts: reader.get(o.importAlerts),
    importStartDate: reader.get(o.importStartDate),
    intelSourceNames: reader.get(o.intelSourceNames),
    pageSize: reader.get(o.pageSize),
    cron: reader.get(o.cron),
    lookback: reader.get(o.lookback),
    maxBackoff: reader.get(o.maxBackoff),
  };
  if (values.lookback !== undefined && values.lookback.ms < 0) {
    reader.problem(`${reader.label(o.lookback)}: expected a duration of 0 or more, e.g. "P1D"`);
  }
  if (values.maxBackoff !== undefined && values.maxBackoff.ms <= 0) {
    reader.problem(
      `${reader.label(o.maxBackoff)}: expected a duration longer than 0, e.g. "PT5M"`,
    );
  }
  if (values.intelSourceNames?.length === 0) {
    reader.problem(`${reader.label(o.intelSourceNames)}: expected at least one source name`);
  }
  return {
    id: base.id,
    idLabel: base.idLabel,
    value(): TaniumIncidentsSettings {
      const runAndTerminate = must(base.runAndTerminate);
      const connector: ImportConnectorConfig = {
        ...base.value(),
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
        importStartBackMs: IMPORT_START_BACK.ms,
        intelSourceNames: must(values.intelSourceNames),
        pageSize: must(values.pageSize),
        ...opt("cron", values.cron),
        lookbackMs: values.lookback?.ms ?? LOOKBACK.ms,
        maxBackoffMs: values.maxBackoff?.ms ?? MAX_BACKOFF_DEFAULT_MS,
      };
    },
  };
}

/** The tanium-incidents connector's configuration declaration. */
export const taniumIncidentsSettings: ConnectorSettings<TaniumIncidentsSettings> = {
  name: "tanium-incidents",
  prefix: PREFIX,
  section: SECTION,
  base: BASE,
  options: TANIUM_OPTIONS,
  enabledBy: [TANIUM_OPTIONS.url],
  howToEnable: "TANIUM_INCIDENTS_URL (plus TANIUM_INCIDENTS_TOKEN) for tanium-incidents",
  read,
  connectorOf: (settings) => settings.connector,
  secrets: (t) => [t.token],
};
