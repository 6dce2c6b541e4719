/**
 * The `microsoft-incidents` connector: Microsoft security incidents and alerts (Graph security
 * API) → OpenCTI case-incidents, incidents, observables, attack patterns and sightings of the
 * OpenCTI indicators they matched.
 *
 * @module
 */
import type { MicrosoftIncidentsConfig } from "../config/types.ts";
import type { Now, Sleep } from "../runtime/clock.ts";
import type { Fetch } from "../runtime/http.ts";
import type { Metrics } from "../metrics.ts";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import type { TokenSource } from "../microsoft/token_source.ts";
import { createTokenProvider } from "../sentinel/targets.ts";
import { IncidentsClient } from "./client.ts";
import { MicrosoftIncidentsConnector } from "./connector.ts";

export * from "./client.ts";
export * from "./connector.ts";
export * from "./converter.ts";
export * from "./resolver.ts";
export * from "./schemas.ts";

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
    lookBackMs: config.lookBackMs,
    periodMs: base.periodMs,
    runAndTerminate: base.runAndTerminate,
    queueThresholdMb: base.queueThresholdMb,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...time,
  });
}
