/**
 * The `tanium-intel` connector's options, declared once. Names, YAML paths and defaults follow
 * upstream `OpenCTI-Platform/connectors` `stream/tanium-intel` (README "Connector extra parameters",
 * `docker-compose.yml`, `src/tanium_intel_connector/config_variables.py`): `TANIUM_INTEL_*`,
 * YAML `tanium_intel.*`, including `TANIUM_INTEL_HASHES_IN_REPUTATION` and
 * `TANIUM_INTEL_NO_HASHES_IN_INTELS` (both `true` by default upstream: `config_variables.py`
 * `get_config_variable(…, False, True)`, README table, compose file).
 *
 * To add an option: add one `option({...})` entry to {@linkcode TANIUM_INTEL_OPTIONS}, read it in
 * `read()` below into a field of {@linkcode TaniumIntelSettings}, then run `deno task docs`.
 */
import {
  type ConnectorPrefix,
  must,
  prefixedOption,
  readBase,
  type ReadContext,
  readLiveStream,
} from "../config/common_settings.ts";
import {
  deliveryOptions,
  type DeliverySettings,
  readDelivery,
  streamBaseOptions,
  streamConnectorOf,
} from "../config/stream_settings.ts";
import type { ConnectorSettings, PendingSettings } from "../config/connector_settings.ts";
import type { StreamConnectorConfig } from "../config/types.ts";
import * as val from "../config/values.ts";
import { taniumApiOptions } from "../tanium/settings.ts";
import { opt } from "../runtime/props.ts";

const PREFIX: ConnectorPrefix = {
  name: "tanium-intel",
  env: "TANIUM_INTEL_",
  yaml: "tanium_intel",
};
const SECTION = "Tanium intel";

/**
 * Where the dead letters are kept when `TANIUM_INTEL_DEAD_LETTER_FILE` is unset (outside Deno
 * Deploy): the folder `deno task start`, `deno task compile` and the Docker image grant write to.
 */
export const DEFAULT_INTEL_DEAD_LETTER_FILE = "data/tanium-intel-dead-letters.json";

/** `TANIUM_INTEL_<SUFFIX>`, YAML `tanium_intel.<suffix>`. */
const intel = prefixedOption(PREFIX, SECTION);
const API = taniumApiOptions(intel);

const BASE_DEFAULTS = {
  type: "STREAM",
  name: "Tanium Threat Response Intel",
  scope: ["tanium"],
  periodRequired: false,
  sample: { id: "ChangeMe", liveStreamId: "ChangeMe" },
} as const;

/** The tanium-intel connector's options. */
export const TANIUM_INTEL_OPTIONS = {
  url: API.url,
  urlConsole: intel("URL_CONSOLE", {
    schema: val.httpUrl(),
    required: "required (the Tanium console base URL, for the reference written back)",
    meaning: "Tanium console base URL: the reference written back on each indicator links to " +
      "`<console>/#/threatresponse/intel/<id>`.",
    sample: "https://example.titankube.com",
  }),
  sslVerify: API.sslVerify,
  caFile: API.caFile,
  token: intel("TOKEN", {
    secret: true,
    schema: val.text({ noSpaces: true, expected: "expected a Tanium API token" }),
    required: "required (a Tanium API token whose persona may write Threat Response intel)",
    meaning: "Tanium API token (sent in the `session` header). Secret.",
    sample: "ChangeMe-Tanium-token",
  }),
  deployIntel: intel("DEPLOY_INTEL", {
    schema: val.boolean(),
    default: true,
    meaning: "Deploy the intel to the endpoints after each batch that changed documents.",
  }),
  autoOndemandScan: intel("AUTO_ONDEMAND_SCAN", {
    schema: val.boolean(),
    default: true,
    meaning: "Start a quick scan of `TANIUM_INTEL_COMPUTER_GROUPS` for each new document.",
  }),
  computerGroups: intel("COMPUTER_GROUPS", {
    schema: val.list(),
    default: ["1"],
    meaning: "Computer group ids (comma-separated integers) the automatic quick scan targets.",
  }),
  hashesInReputation: intel("HASHES_IN_REPUTATION", {
    schema: val.boolean(),
    default: true,
    meaning: "Put the hashes (MD5, SHA-1, SHA-256) of File and Artifact observables in the " +
      "Reputation service's custom blocklist (needs the Reputation write permission).",
  }),
  noHashesInIntels: intel("NO_HASHES_IN_INTELS", {
    schema: val.boolean(),
    default: true,
    meaning: "Do not also make an intel document of a File or Artifact observable's hashes " +
      "(indicators with hash patterns still become documents).",
  }),
  batchSize: intel("BATCH_SIZE", {
    schema: val.integer(1, 500),
    default: 50,
    meaning: "Most documents handled per batch (Tanium takes one document per request).",
  }),
  ...deliveryOptions(PREFIX, SECTION, {
    deadLetterFile: DEFAULT_INTEL_DEAD_LETTER_FILE,
    systemic: "token, permission, throttling, outage",
  }),
} as const;

const BASE = streamBaseOptions(PREFIX, BASE_DEFAULTS);

/** The typed settings of the `tanium-intel` stream connector. */
export interface TaniumIntelSettings extends DeliverySettings {
  /** Base connector options; `connector.name` is also the written reference's `source_name`. */
  connector: StreamConnectorConfig;
  /** Tanium API base URL without a trailing slash. */
  url: string;
  /** Tanium console base URL without a trailing slash. */
  urlConsole: string;
  /** Verify Tanium's TLS certificate. */
  sslVerify: boolean;
  /** PEM bundle of extra CA certificates to trust for Tanium. */
  caFile?: string;
  /** Tanium API token. Secret. */
  token: string;
  /** Deploy the intel after a changed batch. */
  deployIntel: boolean;
  /** Quick-scan new documents. */
  autoOndemandScan: boolean;
  /** Computer groups of the quick scan. */
  computerGroups: number[];
  /** File and Artifact hashes to the Reputation service's blocklist. */
  hashesInReputation: boolean;
  /** No intel document for File and Artifact hashes. */
  noHashesInIntels: boolean;
  /** Documents per batch. */
  batchSize: number;
}

function read(context: ReadContext): PendingSettings<TaniumIntelSettings> {
  const { reader } = context;
  const o = TANIUM_INTEL_OPTIONS;
  const base = readBase(context, PREFIX, BASE, BASE_DEFAULTS.type);
  const liveStream = readLiveStream(reader, BASE);
  const values = {
    url: reader.get(o.url),
    urlConsole: reader.get(o.urlConsole),
    sslVerify: reader.get(o.sslVerify),
    caFile: reader.get(o.caFile),
    token: reader.get(o.token),
    deployIntel: reader.get(o.deployIntel),
    autoOndemandScan: reader.get(o.autoOndemandScan),
    computerGroups: reader.get(o.computerGroups),
    hashesInReputation: reader.get(o.hashesInReputation),
    noHashesInIntels: reader.get(o.noHashesInIntels),
    batchSize: reader.get(o.batchSize),
  };
  const groups = (values.computerGroups ?? []).map((g) => g.trim());
  if (groups.some((g) => !/^\d+$/.test(g))) {
    reader.problem(
      `${reader.label(o.computerGroups)}: expected comma-separated computer group ids ` +
        `(integers), got ${JSON.stringify(groups.join(","))}`,
    );
  }
  const delivery = readDelivery(reader, o);
  return {
    id: base.id,
    idLabel: base.idLabel,
    value(): TaniumIntelSettings {
      return {
        connector: streamConnectorOf(base, liveStream),
        url: must(values.url),
        urlConsole: must(values.urlConsole),
        sslVerify: must(values.sslVerify),
        ...opt("caFile", values.caFile),
        token: must(values.token),
        deployIntel: must(values.deployIntel),
        autoOndemandScan: must(values.autoOndemandScan),
        computerGroups: groups.map(Number),
        hashesInReputation: must(values.hashesInReputation),
        noHashesInIntels: must(values.noHashesInIntels),
        batchSize: must(values.batchSize),
        ...delivery(),
      };
    },
  };
}

/** The tanium-intel connector's configuration declaration. */
export const taniumIntelSettings: ConnectorSettings<TaniumIntelSettings> = {
  name: "tanium-intel",
  prefix: PREFIX,
  section: SECTION,
  base: BASE,
  options: TANIUM_INTEL_OPTIONS,
  enabledBy: [TANIUM_INTEL_OPTIONS.url],
  howToEnable: "TANIUM_INTEL_URL (plus TANIUM_INTEL_TOKEN) for tanium-intel",
  read,
  connectorOf: (settings) => settings.connector,
  secrets: (t) => [t.token],
};
