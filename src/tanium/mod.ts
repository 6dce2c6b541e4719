/**
 * The `tanium-incidents` connector: Tanium Threat Response alerts → OpenCTI incidents,
 * observables, attack patterns, relationships and sightings.
 *
 * Entry point: re-exports only; the registry entry and its `create` are in `module.ts`.
 *
 * @module
 */
export * from "./client.ts";
export * from "./converter.ts";
export * from "./connector.ts";
export * from "./cursor.ts";
export * from "./seen.ts";
export { taniumIncidentsSettings } from "./settings.ts";
export type { TaniumIncidentsSettings } from "./settings.ts";
export {
  type AlertDetails,
  type AlertFile,
  type IntelDoc,
  type MalformedAlert,
  readAlert,
  readDetails,
  readIntel,
  type TaniumAlert,
  type Technique,
} from "./schemas.ts";
export * from "./module.ts";
