/**
 * Compact fingerprints of what a target holds for one indicator (issue 17): the reconcile compares
 * the fingerprint of the records the production mapper would send with the fingerprint of the
 * records the target lists, so the desired set keeps 16 characters per indicator, not the records.
 *
 * Both sides project records onto the same normalised fields: absent, null, false, "" and [] are
 * the same (targets omit defaults), dates compare as epoch ms, arrays as sorted strings.
 *
 * @module
 */

/** One record projected onto named fields, as a stable string. */
export function projectRecord(record: object, fields: readonly string[]): string {
  const parts: string[] = [];
  const values = record as Record<string, unknown>;
  for (const field of fields) {
    const value = normalise(values[field]);
    if (value !== undefined) parts.push(`${field}=${value}`);
  }
  return parts.join("\u0001");
}

/**
 * The fingerprint of a set of projected records (order-free): 16 hex characters, two 32-bit
 * FNV-1a hashes of each record summed modulo 2^32. The fingerprint of a set is the sum of its
 * records' ones, so a listing can add records one at a time as pages come
 * (`combineFingerprints` in `key_table.ts`) without holding them.
 */
export function fingerprintOf(projected: readonly string[]): string {
  let hi = 0;
  let lo = 0;
  for (const record of projected) {
    hi = (hi + hash32(record, 0x811c9dc5)) >>> 0;
    lo = (lo + hash32(record, 0x01000193 ^ 0x5bd1e995)) >>> 0;
  }
  return hex8(hi) + hex8(lo);
}

function normalise(value: unknown): string | undefined {
  if (value === undefined || value === null || value === false || value === "") return undefined;
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    return JSON.stringify(value.map((x) => typeof x === "string" ? x : JSON.stringify(x)).sort());
  }
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return `@${ms}`;
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** FNV-1a over UTF-16 code units from the given offset basis. */
function hash32(text: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}
