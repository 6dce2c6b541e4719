/**
 * UUID version 5 (name-based, SHA-1 through Web Crypto) and version 4 (random).
 *
 * @module
 */

/** A string that is not a UUID in `8-4-4-4-12` hex form. */
export class InvalidUuidError extends Error {
  /** The error's name. */
  override name = "InvalidUuidError";
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Tells whether a string is a UUID in `8-4-4-4-12` hex form (any version). */
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

/** Parses a UUID string into its 16 bytes. */
export function uuidToBytes(uuid: string): Uint8Array {
  if (!isUuid(uuid)) {
    throw new InvalidUuidError(`Pass a UUID in 8-4-4-4-12 hex form instead of "${uuid}"`);
  }
  const hex = uuid.replaceAll("-", "");
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Formats 16 bytes as a lower-case `8-4-4-4-12` UUID string. */
export function bytesToUuid(bytes: Uint8Array): string {
  const hex = Array.from(bytes.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20, 32)
  }`;
}

/** Computes the version 5 UUID of `name` (UTF-8) in `namespace` (RFC 9562 §5.5). */
export async function uuidV5(name: string, namespace: string): Promise<string> {
  const ns = uuidToBytes(namespace);
  const text = new TextEncoder().encode(name);
  const input = new Uint8Array(ns.length + text.length);
  input.set(ns, 0);
  input.set(text, ns.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", input));
  const bytes = digest.slice(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytesToUuid(bytes);
}

/** Options of {@linkcode uuidV4}. */
export interface UuidV4Options {
  /**
   * Fills a buffer with random bytes (tests inject a deterministic source).
   * @default crypto.getRandomValues
   */
  random?: (bytes: Uint8Array) => void;
}

/** Makes a random version 4 UUID. */
export function uuidV4(options: UuidV4Options = {}): string {
  const bytes = new Uint8Array(16);
  if (options.random) options.random(bytes);
  else crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytesToUuid(bytes);
}
