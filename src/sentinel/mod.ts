/**
 * The `sentinel` stream connector: OpenCTI indicators (live stream) → Microsoft Graph
 * tiIndicators, the Sentinel STIX objects upload API, or Defender for Endpoint indicators.
 *
 * Entry point: re-exports only; the registry entry and its `create` are in `module.ts`.
 *
 * @module
 */
export { sentinelSettings } from "./settings.ts";
export type { SentinelSettings } from "./settings.ts";
export * from "./module.ts";
