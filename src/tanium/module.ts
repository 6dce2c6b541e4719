/**
 * The `tanium-incidents` connector as the registry hosts it (`src/connectors.ts`): its settings,
 * schedules and `create`, which builds the connector from its typed settings and the injected
 * dependencies.
 *
 * @module
 */
import type { ConnectorModule } from "../runtime/registry.ts";
import { FALLBACK_SCHEDULE, scheduleFromPeriod } from "../runtime/schedule.ts";
import {
  type TaniumIncidentsSettings,
  type TaniumIncidentsSettings as TaniumIncidentsConfig,
  taniumIncidentsSettings,
} from "./settings.ts";
import type { Now, Sleep } from "../runtime/clock.ts";
import { type Fetch, tlsFetch } from "../runtime/http.ts";
import { getLogger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import { TaniumClient } from "./client.ts";
import { TaniumIncidentsConnector } from "./connector.ts";

/** Options of {@linkcode createTaniumIncidents}. */
export interface CreateTaniumIncidentsOptions {
  /** Base fetch for Tanium (wrapped with the CA file, if any). @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep (retries and schedule). @default a real timer */
  sleep?: Sleep;
  /** Where metrics are counted. @default none */
  metrics?: Metrics;
}

/**
 * Builds the connector from its configuration slice and an OpenCTI client. With
 * `sslVerify: false` a warning says that Deno needs `--unsafely-ignore-certificate-errors`.
 */
export async function createTaniumIncidents(
  config: TaniumIncidentsConfig,
  opencti: OpenCtiClient,
  options: CreateTaniumIncidentsOptions = {},
): Promise<TaniumIncidentsConnector> {
  const logger = getLogger("tanium-incidents");
  const fetch = await tlsFetch(
    { verify: config.sslVerify, ...(config.caFile ? { caFile: config.caFile } : {}) },
    {
      ...(options.fetch ? { fetch: options.fetch } : {}),
      onInsecure: (advice) =>
        logger.warn("TANIUM_INCIDENTS_SSL_VERIFY=false: {advice}", { advice }),
    },
  );
  const tanium = new TaniumClient({
    url: config.url,
    token: config.token,
    fetch,
    ...(options.now ? { now: options.now } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  const base = config.connector;
  return new TaniumIncidentsConnector(tanium, opencti, {
    connectorId: base.id,
    consoleUrl: config.urlConsole,
    displayName: base.name,
    scope: base.scope,
    importAlerts: config.importAlerts,
    ...(config.importStartDate ? { importStartDate: config.importStartDate } : {}),
    importStartBackMs: config.importStartBackMs,
    intelSourceNames: config.intelSourceNames,
    pageSize: config.pageSize,
    periodMs: base.periodMs,
    runAndTerminate: base.runAndTerminate,
    queueThresholdMb: base.queueThresholdMb,
    lookbackMs: config.lookbackMs,
    maxBackoffMs: config.maxBackoffMs,
    queueProtocol: base.queueProtocol,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
}

/** The Deno Deploy schedule: `TANIUM_INCIDENTS_CRON`, else derived from its period. */
export function taniumSchedule(config: TaniumIncidentsSettings): string {
  if (config.cron !== undefined && config.cron.trim() !== "") return config.cron.trim();
  return config.connector.periodMs > 0
    ? scheduleFromPeriod(config.connector.periodMs)
    : FALLBACK_SCHEDULE;
}

/** The tanium-incidents connector as the registry hosts it. */
export const taniumIncidents: ConnectorModule<TaniumIncidentsSettings> = {
  name: "tanium-incidents",
  settings: taniumIncidentsSettings,
  cronSchedule: taniumSchedule,
  create: (settings, deps) =>
    createTaniumIncidents(settings, deps.opencti.client(), {
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    }),
};
