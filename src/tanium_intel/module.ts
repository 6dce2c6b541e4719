/**
 * The `tanium-intel` connector as the registry hosts it (`src/connectors.ts`): its settings,
 * schedules and `create`, which builds the connector from its typed settings and the injected
 * dependencies.
 *
 * @module
 */
import { getLogger } from "../log.ts";
import { streamConnectorOptions } from "../opencti/stream_pump.ts";
import type { ConnectorDeps, ConnectorModule } from "../runtime/registry.ts";
import { tlsFetch } from "../runtime/http.ts";
import {
  DeadLetters,
  type DeadLetterStore,
  FileDeadLetterStore,
  MemoryDeadLetterStore,
} from "../opencti/dead_letters.ts";
import { TaniumIntelConnector } from "./connector.ts";
import {
  DEFAULT_INTEL_DEAD_LETTER_FILE,
  type TaniumIntelSettings,
  taniumIntelSettings,
} from "./settings.ts";

/** Deno Deploy schedule of the catch-up: every minute (each run stops within its 50 s budget). */
export const TANIUM_INTEL_SCHEDULE = "* * * * *";

/**
 * Where tanium-intel keeps its dead letters: `TANIUM_INTEL_DEAD_LETTER_FILE`, memory for `none`,
 * and when unset {@linkcode DEFAULT_INTEL_DEAD_LETTER_FILE} (memory on a host without a writable
 * disk, Deno Deploy).
 */
export function intelDeadLetterStore(
  file: string | undefined,
  deps: Pick<ConnectorDeps, "diskless">,
): DeadLetterStore {
  const path = file ?? (deps.diskless ? "none" : DEFAULT_INTEL_DEAD_LETTER_FILE);
  return path === "none" ? new MemoryDeadLetterStore() : new FileDeadLetterStore(path);
}

/** The tanium-intel connector as the registry hosts it. */
export const taniumIntel: ConnectorModule<TaniumIntelSettings> = {
  name: "tanium-intel",
  settings: taniumIntelSettings,
  cronSchedule: () => TANIUM_INTEL_SCHEDULE,
  async create(s, deps) {
    const logger = getLogger("tanium-intel");
    const fetch = await tlsFetch(
      { verify: s.sslVerify, ...(s.caFile ? { caFile: s.caFile } : {}) },
      {
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
        onInsecure: (advice) => logger.warn("TANIUM_INTEL_SSL_VERIFY=false: {advice}", { advice }),
      },
    );
    return new TaniumIntelConnector({
      url: deps.opencti.url,
      token: deps.opencti.token,
      client: deps.opencti.client(),
      ...streamConnectorOptions(s.connector),
      tanium: {
        url: s.url,
        consoleUrl: s.urlConsole,
        token: s.token,
        fetch,
        deployIntel: s.deployIntel,
        autoOnDemandScan: s.autoOndemandScan,
        computerGroups: s.computerGroups,
        hashesInReputation: s.hashesInReputation,
        noHashesInIntels: s.noHashesInIntels,
      },
      // Upstream writes the reference with the connector's name as `source_name`.
      referenceSourceName: s.connector.name,
      batchSize: s.batchSize,
      maxBackoffMs: s.maxBackoffMs,
      deadLetters: new DeadLetters(
        intelDeadLetterStore(s.deadLetterFile, deps),
        s.deadLetterLimit,
      ),
      fetch: deps.opencti.fetch,
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
      ...(deps.now === undefined ? {} : { now: deps.now }),
      ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
    });
  },
};
