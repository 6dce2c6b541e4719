/**
 * STIX helpers: deterministic ids, TLP markings, the OpenCTI extension, the pattern reader and
 * value validation.
 *
 * @module
 */

export * from "./types.ts";
export * from "./canonical.ts";
export * from "./uuid.ts";
export * from "./hashes.ts";
export * from "./ids.ts";
export * from "./markings.ts";
export * from "./extension.ts";
export * from "./pattern.ts";
export * from "./validate.ts";
