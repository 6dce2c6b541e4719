/**
 * Hash algorithm names in their many spellings (`SHA-256`, `sha256`, `'SHA256'`…).
 *
 * @module
 */

import type { HashAlgorithm } from "./types.ts";

/** Hash algorithms the platform's id rule knows, in its order of preference for file ids. */
export const PLATFORM_HASH_PREFERENCE = [
  "MD5",
  "SHA-1",
  "SHA-256",
  "SHA-512",
  "SHA3-256",
  "SHA3-512",
  "SSDEEP",
] as const;

/** One of {@linkcode PLATFORM_HASH_PREFERENCE}. */
export type PlatformHashKey = typeof PLATFORM_HASH_PREFERENCE[number];

/** Expected hex length of each supported hash algorithm's value. */
export const HASH_HEX_LENGTH: Readonly<Record<HashAlgorithm, number>> = {
  "MD5": 32,
  "SHA-1": 40,
  "SHA-256": 64,
  "SHA-512": 128,
};

const COMPACT_TO_PLATFORM: Readonly<Record<string, PlatformHashKey>> = {
  MD5: "MD5",
  SHA1: "SHA-1",
  SHA256: "SHA-256",
  SHA512: "SHA-512",
  SHA3256: "SHA3-256",
  SHA3512: "SHA3-512",
  SSDEEP: "SSDEEP",
};

/** Strips surrounding quotes, upper-cases and removes hyphens/underscores: `'sha-256'` → `SHA256`. */
function compact(key: string): string {
  return key.trim().replace(/^(['"])(.*)\1$/, "$2").toUpperCase().replace(/[-_\s]/g, "");
}

/**
 * The spellings seen on nearly every event (STIX `hashes` keys, OpenCTI `observable_values`),
 * looked up as they are: `compact` allocates four strings per key.
 */
const EXACT: ReadonlyMap<string, PlatformHashKey> = new Map<string, PlatformHashKey>(
  PLATFORM_HASH_PREFERENCE.flatMap((key) => {
    const lower = key.toLowerCase();
    return [[key, key], [lower, key], [key.replace("-", ""), key], [lower.replace("-", ""), key]];
  }),
);

/** Maps a hash key in any spelling to the platform's key (`sha256` → `SHA-256`), or undefined. */
export function platformHashKey(key: string): PlatformHashKey | undefined {
  return EXACT.get(key) ?? COMPACT_TO_PLATFORM[compact(key)];
}

/** Maps a hash key in any spelling to a {@linkcode HashAlgorithm} the targets support, or undefined. */
export function normalizeHashAlgorithm(key: string): HashAlgorithm | undefined {
  const k = platformHashKey(key);
  return k === "MD5" || k === "SHA-1" || k === "SHA-256" || k === "SHA-512" ? k : undefined;
}
