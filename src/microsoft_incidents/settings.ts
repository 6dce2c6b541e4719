/**
 * The `microsoft-incidents` connector's options, declared once (names, YAML paths, schema,
 * default, secret flag, meaning), and the typed {@linkcode MicrosoftIncidentsSettings} the
 * connector receives. Without its own credentials it reads sentinel's (`TENANT_ID`, `CLIENT_ID`,
 * the credential, `SENTINEL_AUTH`, `LOGIN_URL`) with sentinel's rules.
 *
 * To add an option: add one `option({...})` entry to {@linkcode MICROSOFT_INCIDENTS_OPTIONS} (its
 * env name is `MICROSOFT_INCIDENTS_<SUFFIX>`, its YAML path `microsoft_incidents.<suffix>`), read
 * it in `read()` below into a field of {@linkcode MicrosoftIncidentsSettings}, then run
 * `deno task docs`.
 */
import {
  baseOptions,
  type ConnectorPrefix,
  must,
  prefixedOption,
  readBase,
  type ReadContext,
} from "../config/common_settings.ts";
import type { ConnectorSettings, PendingSettings } from "../config/connector_settings.ts";
import { option } from "../config/option.ts";
import type { ImportConnectorConfig } from "../config/types.ts";
import * as val from "../config/values.ts";
import {
  managedIdentitySecrets,
  readAzureCredential,
  readCredential,
  SENTINEL_OPTIONS,
} from "../sentinel/settings.ts";
import type { EntraAuth, EntraCredential } from "../microsoft/target_config.ts";
import { opt } from "../runtime/props.ts";

const PREFIX: ConnectorPrefix = {
  name: "microsoft-incidents",
  env: "MICROSOFT_INCIDENTS_",
  yaml: "microsoft_incidents",
};
const SECTION = "Microsoft incidents";

/** `MICROSOFT_INCIDENTS_<SUFFIX>`, YAML `microsoft_incidents.<suffix>`. */
const microsoft = prefixedOption(PREFIX, SECTION);

/** Markings `MICROSOFT_INCIDENTS_TLP` accepts. */
export const TLPS = ["clear", "white", "green", "amber", "amber+strict", "red"] as const;

/** A marking of what microsoft-incidents creates. */
export type IncidentTlp = typeof TLPS[number];

const PERIOD = { text: "PT5M", ms: 300_000 };

/** `MICROSOFT_INCIDENTS_LOOK_BACK`'s default. */
export const LOOK_BACK = { text: "PT1H", ms: 3_600_000 };

/** Days before now a first run starts when `MICROSOFT_INCIDENTS_IMPORT_START_DATE` is unset. */
export const IMPORT_START_DAYS = 7;

const BASE_DEFAULTS = {
  type: "EXTERNAL_IMPORT",
  name: "Microsoft Incidents",
  scope: ["microsoft-incidents"],
  periodRequired: false,
  periodDefault: PERIOD.text,
  sample: { durationPeriod: PERIOD.text },
} as const;

/** The microsoft-incidents connector's options. */
export const MICROSOFT_INCIDENTS_OPTIONS = {
  importIncidents: option({
    env: ["IMPORT_INCIDENTS", "SENTINEL_IMPORT_INCIDENTS"],
    yaml: ["sentinel.import_incidents"],
    section: SECTION,
    schema: val.boolean(),
    default: false,
    meaning: "The seed's switch: `true` also runs `microsoft-incidents` whenever `sentinel` " +
      "runs, with sentinel's credentials.",
  }),
  incidentUrl: option({
    env: ["MICROSOFT_INCIDENTS_INCIDENT_URL", "INCIDENT_URL", "SENTINEL_INCIDENT_URL"],
    yaml: ["microsoft_incidents.incident_url", "sentinel.incident_url"],
    section: SECTION,
    schema: val.text({ noSpaces: true }),
    default: "/v1.0/security/incidents",
    meaning: "Graph incidents path below the resource URL (the seed's `INCIDENT_URL`), or a " +
      "full URL.",
  }),
  resourceUrl: microsoft("RESOURCE_URL", {
    schema: val.httpUrl(),
    defaultDoc: "`RESOURCE_URL`, else `https://graph.microsoft.com`",
    meaning: "Graph base URL; the token scope is `<url>/.default`.",
    example: "https://graph.microsoft.com",
  }),
  tenantId: microsoft("TENANT_ID", {
    schema: val.tenant(),
    defaultDoc: "sentinel's `TENANT_ID`",
    meaning: "Own Entra ID tenant; with `MICROSOFT_INCIDENTS_CLIENT_ID` and " +
      "`MICROSOFT_INCIDENTS_CLIENT_SECRET` replaces sentinel's credentials.",
    example: "contoso.onmicrosoft.com",
  }),
  clientId: microsoft("CLIENT_ID", {
    schema: val.uuid("the application (client) id, a GUID"),
    defaultDoc: "sentinel's `CLIENT_ID`",
    meaning: "Own application (client) id (GUID), with the two other own settings.",
    example: "00000000-0000-4000-8000-000000000000",
  }),
  clientSecret: microsoft("CLIENT_SECRET", {
    secret: true,
    schema: val.text({ noSpaces: true, expected: "expected the client secret value" }),
    defaultDoc: "sentinel's credential",
    meaning: "Own client secret, with the two other own settings. Secret.",
    example: "ChangeMe-secret",
  }),
  tlp: microsoft("TLP", {
    schema: val.oneOf(TLPS),
    default: "red",
    meaning: "Marking of what is created: `clear`, `white`, `green`, `amber`, `amber+strict`, " +
      "`red`.",
  }),
  matchByValue: microsoft("MATCH_BY_VALUE", {
    schema: val.boolean(),
    default: true,
    meaning: "Also look evidence values (IP, URL, domain, hashes, email) up against OpenCTI " +
      "indicators by pattern, besides the indicator ids named in the alert.",
  }),
  importStartDate: microsoft("IMPORT_START_DATE", {
    schema: val.utcDate(),
    defaultDoc: `now - ${IMPORT_START_DAYS} days`,
    meaning: "Where to start when there is no saved state: `YYYY-MM-DD` or an ISO date-time, " +
      "UTC when no zone is given.",
    example: "2024-01-15",
  }),
  lookBack: microsoft("LOOK_BACK", {
    schema: val.duration(),
    defaultDoc: `\`${LOOK_BACK.text}\``,
    meaning: "ISO-8601 window read again before the last update seen (late or concurrent " +
      "updates); what was already imported is not imported twice.",
    example: "PT1H",
  }),
  pageSize: microsoft("PAGE_SIZE", {
    schema: val.integer(1, 50),
    default: 50,
    meaning: "Incidents per request (`$top`, 1-50).",
  }),
} as const;

const BASE = baseOptions(PREFIX, BASE_DEFAULTS);

/** The typed settings of the `microsoft-incidents` import connector. */
export interface MicrosoftIncidentsSettings {
  /** Base connector options. */
  connector: ImportConnectorConfig;
  /** Entra ID tenant (own `MICROSOFT_INCIDENTS_TENANT_ID`, else sentinel's). */
  tenantId: string;
  /** Application (client) id (own, else sentinel's). */
  clientId: string;
  /** How the credential was chosen (sentinel's `SENTINEL_AUTH` when sharing its credential). */
  auth?: EntraAuth;
  /** The credential (own client secret, else sentinel's credential). */
  credential: EntraCredential;
  /** Entra ID authority without a trailing slash. */
  loginUrl: string;
  /** Graph base URL (`RESOURCE_URL`). */
  resourceUrl: string;
  /** Incidents path below `resourceUrl`, or a full URL (`INCIDENT_URL`). */
  incidentPath: string;
  /** Marking of what is created. */
  tlp: IncidentTlp;
  /** Sighting confidence (`CONNECTOR_CONFIDENCE_LEVEL`); unset = none. */
  confidence?: number;
  /** Look evidence values up against OpenCTI indicators by pattern. */
  matchByValue: boolean;
  /** Start when the state has no cursor (ISO, UTC); unset = `importStartBackMs` before now. */
  importStartDate?: string;
  /** Without `importStartDate`, how long before now a first run starts, in ms. */
  importStartBackMs: number;
  /** Look-back window in ms. */
  lookBackMs: number;
  /** Incidents per page (1-50). */
  pageSize: number;
}

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

function read(context: ReadContext): PendingSettings<MicrosoftIncidentsSettings> {
  const { reader } = context;
  const o = MICROSOFT_INCIDENTS_OPTIONS;
  const s = SENTINEL_OPTIONS;
  const base = readBase(context, PREFIX, BASE, BASE_DEFAULTS.type);
  const own = {
    tenantId: reader.get(o.tenantId),
    clientId: reader.get(o.clientId),
    secret: reader.get(o.clientSecret),
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
  const authValue = useOwn ? undefined : reader.get(s.auth);
  const auth: EntraAuth = authValue === "azure_credential"
    ? "default"
    : authValue ?? "app_registration";
  const appRegistration = auth === "app_registration";
  const shared = useOwn ? undefined : (() => {
    const tenantId = reader.read(
      s.tenantId,
      s.tenantId.schema,
      appRegistration
        ? { required: "required for microsoft-incidents (the Entra ID tenant id)" }
        : {},
    );
    const clientId = reader.read(
      s.clientId,
      s.clientId.schema,
      appRegistration
        ? { required: "required for microsoft-incidents (the application (client) id, a GUID)" }
        : {},
    );
    const credential = appRegistration
      ? readCredential(reader)
      : readAzureCredential(reader, auth, { tenantId, clientId });
    return { tenantId, clientId, credential };
  })();
  const loginUrl = reader.get(s.loginUrl);
  const resourceUrl = reader.get(o.resourceUrl) ?? reader.get(s.resourceUrl);
  const values = {
    incidentPath: reader.get(o.incidentUrl),
    tlp: reader.get(o.tlp),
    matchByValue: reader.get(o.matchByValue),
    importStartDate: reader.get(o.importStartDate),
    lookBack: reader.get(o.lookBack),
    pageSize: reader.get(o.pageSize),
  };
  // The seed has one CONNECTOR_ID for sentinel and its incident loop: derive a distinct one.
  const ownId = reader.find(BASE.ID);
  const prefixed = ownId?.env?.startsWith(PREFIX.env) === true ||
    ownId?.yaml?.startsWith(`${PREFIX.yaml}.`) === true;
  let id = base.id;
  let reported = false;
  if (id !== undefined && (context.otherIds ?? []).includes(id)) {
    if (prefixed) {
      reader.problem(
        `${base.idLabel}: microsoft-incidents cannot share its connector id with another ` +
          "connector; set MICROSOFT_INCIDENTS_CONNECTOR_ID to a UUID of its own",
      );
      reported = true;
    } else {
      id = derivedConnectorId(id);
      reader.warn(
        `microsoft-incidents shares ${base.idLabel} with another connector; it registers as ` +
          `${id} (set MICROSOFT_INCIDENTS_CONNECTOR_ID to choose its id)`,
      );
    }
  }
  return {
    // A shared prefixed id is reported above, once.
    id: reported ? undefined : id,
    idLabel: base.idLabel,
    value(): MicrosoftIncidentsSettings {
      const runAndTerminate = must(base.runAndTerminate);
      const connector: ImportConnectorConfig = {
        ...base.value(),
        id: must(id),
        type: "EXTERNAL_IMPORT",
        durationPeriod: base.duration?.text ?? PERIOD.text,
        periodMs: runAndTerminate ? 0 : base.duration?.ms ?? PERIOD.ms,
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
        ...opt("confidence", connector.confidenceLevel),
        matchByValue: must(values.matchByValue),
        ...opt("importStartDate", values.importStartDate),
        importStartBackMs: IMPORT_START_DAYS * 86_400_000,
        lookBackMs: values.lookBack?.ms ?? LOOK_BACK.ms,
        pageSize: must(values.pageSize),
      };
    },
  };
}

/** The microsoft-incidents connector's configuration declaration. */
export const microsoftIncidentsSettings: ConnectorSettings<MicrosoftIncidentsSettings> = {
  name: "microsoft-incidents",
  prefix: PREFIX,
  section: SECTION,
  base: BASE,
  options: MICROSOFT_INCIDENTS_OPTIONS,
  // Never enabled by its own options alone: by CONNECTORS, or by the seed's switch with sentinel.
  enabledBy: [],
  enabledWith: { connector: "sentinel", option: MICROSOFT_INCIDENTS_OPTIONS.importIncidents },
  howToEnable: "IMPORT_INCIDENTS=true next to sentinel's options for microsoft-incidents",
  read,
  connectorOf: (settings) => settings.connector,
  secrets: (m) =>
    m.credential.kind === "secret"
      ? [m.credential.clientSecret]
      : m.credential.kind === "managed_identity"
      ? managedIdentitySecrets(m.credential)
      : [],
};
