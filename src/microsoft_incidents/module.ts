/**
 * The `microsoft-incidents` connector as the registry hosts it (`src/connectors.ts`): its
 * settings, schedules and `create`, which builds the connector from its typed settings and the
 * injected dependencies.
 *
 * @module
 */
import type { ConnectorModule } from "../runtime/registry.ts";
import { FALLBACK_SCHEDULE, scheduleFromPeriod } from "../runtime/schedule.ts";
import {
  type MicrosoftIncidentsSettings,
  type MicrosoftIncidentsSettings as MicrosoftIncidentsConfig,
  microsoftIncidentsSettings,
} from "./settings.ts";
import type { Now, Sleep } from "../runtime/clock.ts";
import type { Fetch } from "../runtime/http.ts";
import type { Metrics } from "../metrics.ts";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import type { TokenSource } from "../microsoft/token_source.ts";
import { createTokenProvider } from "../microsoft/targets.ts";
import { IncidentsClient } from "./client.ts";
import { MicrosoftIncidentsConnector } from "./connector.ts";

/** Options of {@linkcode createMicrosoftIncidents}. */
export interface CreateMicrosoftIncidentsOptions {
  /** The fetch for Entra ID and Graph. @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep (retries and schedule). @default a real timer */
  sleep?: Sleep;
  /** Where metrics are counted. @default none */
  metrics?: Metrics;
  /** Tokens to use instead of building a provider from the config (tests). @default built */
  tokens?: TokenSource;
}

/** Builds the connector from its configuration slice and an OpenCTI client. */
export async function createMicrosoftIncidents(
  config: MicrosoftIncidentsConfig,
  opencti: OpenCtiClient,
  options: CreateMicrosoftIncidentsOptions = {},
): Promise<MicrosoftIncidentsConnector> {
  const time = {
    ...(options.now ? { now: options.now } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  };
  const tokens = options.tokens ??
    await createTokenProvider(config, {
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...time,
    });
  const graph = new IncidentsClient({
    tokens,
    resourceUrl: config.resourceUrl,
    incidentPath: config.incidentPath,
    pageSize: config.pageSize,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...time,
  });
  const base = config.connector;
  return new MicrosoftIncidentsConnector(graph, opencti, {
    connectorId: base.id,
    displayName: base.name,
    scope: base.scope,
    tlp: config.tlp,
    ...(config.confidence !== undefined ? { confidence: config.confidence } : {}),
    matchByValue: config.matchByValue,
    ...(config.importStartDate ? { importStartDate: config.importStartDate } : {}),
    importStartBackMs: config.importStartBackMs,
    lookBackMs: config.lookBackMs,
    periodMs: base.periodMs,
    runAndTerminate: base.runAndTerminate,
    queueThresholdMb: base.queueThresholdMb,
    queueProtocol: base.queueProtocol,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...time,
  });
}

/** The Deno Deploy schedule: derived from its period (default `PT5M`). */
export function microsoftIncidentsSchedule(config: MicrosoftIncidentsSettings): string {
  const periodMs = config.connector.periodMs;
  return periodMs > 0 ? scheduleFromPeriod(periodMs) : FALLBACK_SCHEDULE;
}

/** The microsoft-incidents connector as the registry hosts it. */
export const microsoftIncidents: ConnectorModule<MicrosoftIncidentsSettings> = {
  name: "microsoft-incidents",
  settings: microsoftIncidentsSettings,
  cronSchedule: microsoftIncidentsSchedule,
  create: (settings, deps) =>
    createMicrosoftIncidents(settings, deps.opencti.client(), {
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    }),
};
