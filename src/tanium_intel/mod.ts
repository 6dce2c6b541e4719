/**
 * The `tanium-intel` stream connector: OpenCTI indicators (live stream) → Tanium Threat Response
 * intel documents, with the document written back on each indicator for tanium-incidents.
 *
 * Entry point: re-exports only; the registry entry and its `create` are in `module.ts`.
 *
 * @module
 */
export { taniumIntelSettings } from "./settings.ts";
export type { TaniumIntelSettings } from "./settings.ts";
export * from "./module.ts";
