/**
 * The `microsoft-incidents` connector: Microsoft security incidents and alerts (Graph security
 * API) → OpenCTI case-incidents, incidents, observables, attack patterns and sightings of the
 * OpenCTI indicators they matched.
 *
 * Entry point: re-exports only; the registry entry and its `create` are in `module.ts`.
 *
 * @module
 */
export * from "./client.ts";
export * from "./connector.ts";
export * from "./converter.ts";
export * from "./resolver.ts";
export * from "./schemas.ts";
export { derivedConnectorId, microsoftIncidentsSettings } from "./settings.ts";
export type { MicrosoftIncidentsSettings } from "./settings.ts";
export * from "./module.ts";
