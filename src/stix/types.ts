/** Shared STIX types used across connectors. */

/** A STIX object as it travels in bundles and stream events (only `id` and `type` are certain). */
export interface StixObject {
  /** `<type>--<uuid>`. */
  id: string;
  /** STIX type, e.g. `indicator`. */
  type: string;
  /** Every other property, unchecked. */
  [key: string]: unknown;
}

/** A STIX 2.1 bundle. */
export interface StixBundle {
  /** Always `bundle`. */
  type: "bundle";
  /** `bundle--<uuid>`. */
  id: string;
  /** The objects, in any order. */
  objects: StixObject[];
}

/** Observable types the sentinel connector maps to Microsoft targets. */
export const OBSERVABLE_TYPES = [
  "ipv4-addr",
  "ipv6-addr",
  "domain-name",
  "hostname",
  "url",
  "email-addr",
  "file",
] as const;

/** One of {@linkcode OBSERVABLE_TYPES}. */
export type ObservableType = typeof OBSERVABLE_TYPES[number];

/** Hash algorithms, with the key spelling normalised (`sha256`, `SHA256` → `SHA-256`). */
export type HashAlgorithm = "MD5" | "SHA-1" | "SHA-256" | "SHA-512";

/** One observable value taken from an indicator's pattern or `observable_values`. */
export interface Observable {
  /** STIX cyber-observable type. */
  type: ObservableType;
  /** The value (for files: the hash value). */
  value: string;
  /** For `file` only: which hash `value` is. */
  hash?: HashAlgorithm;
}

/** TLP levels as OpenCTI names them (AMBER+STRICT counts as amber for Microsoft targets). */
export type Tlp = "clear" | "white" | "green" | "amber" | "amber+strict" | "red";
