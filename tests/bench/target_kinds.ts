/**
 * What each Microsoft target should hold for an indicator, for the throughput bench's floors and
 * its end-state check (issue 14). Written from the reference, never from the connector's mappers
 * or event reader: which observables a target takes and in what form comes from the simulator's
 * own reading of `reference/microsoft.md` §7.1 and §5.3-5.4 (`src/sim/expected_records.ts`); this
 * file adds what that leaves open:
 * - Sentinel keeps one STIX object per indicator (§3), and a revoked indicator stays there marked
 *   revoked (§3.2: the connector re-uploads it with `revoked: true`); an expired one goes;
 * - the Defender `indicatorType` of each observable kind (§5.3, §7.1), to fill a simulator with
 *   what the stream's history left;
 * - the object as this connector uploads it to Sentinel (README "Sentinel": OpenCTI's
 *   `extensions` and `x_opencti_*` properties left out, and `indicator_types`, whose change
 *   would add a second row, Azure-Sentinel #12538).
 *
 * @module
 */
import {
  defenderValueOf,
  expectedRecords,
  isWellFormed,
  observablesOfObject,
  type SimObservable,
} from "../../src/sim/expected_records.ts";
import type { TargetName } from "../../src/microsoft/target.ts";
import type { StixObject } from "../../src/stix/types.ts";

/** Defender `indicatorType` per STIX observable type (reference microsoft.md §5.3, §7.1). */
const DEFENDER_TYPES: Readonly<Record<string, string>> = {
  "ipv4-addr": "IpAddress",
  "ipv6-addr": "IpAddress",
  "domain-name": "DomainName",
  "hostname": "DomainName",
  "url": "Url",
};

/** Defender `indicatorType` per file hash Defender takes (MD5 is refused on creation, §5.4). */
const DEFENDER_FILE_TYPES: Readonly<Record<string, string>> = {
  "SHA-1": "FileSha1",
  "SHA-256": "FileSha256",
};

/**
 * The records a target should hold for an indicator in this state (undefined: deleted), each as
 * `<STIX id> <value>` (Sentinel: `<STIX id> live` or `<STIX id> revoked`, one object each).
 */
export function expectedKeys(
  object: StixObject | undefined,
  target: TargetName,
  now: number,
): string[] {
  if (object === undefined) return [];
  if (target !== "sentinel") return expectedRecords(object, target, now);
  if (object.revoked === true) {
    // Revoked wins over expired: the revoke is uploaded whatever `valid_until` says.
    const takes = observablesOfObject(object)?.some(isWellFormed) ?? false;
    return takes ? [`${object.id} revoked`] : [];
  }
  return expectedRecords(object, "sentinel", now).length > 0 ? [`${object.id} live`] : [];
}

/** The Defender type of one observable, or undefined when Defender does not take it. */
export function defenderTypeOf(o: SimObservable): string | undefined {
  return o.type === "file" ? DEFENDER_FILE_TYPES[o.hash ?? ""] : DEFENDER_TYPES[o.type];
}

/** The Defender records (type and value) this connector leaves for an indicator, for seeding. */
export function defenderRecordsOf(
  object: StixObject,
  now: number,
): { indicatorType: string; indicatorValue: string }[] {
  if (expectedRecords(object, "defender", now).length === 0) return [];
  const out = new Map<string, { indicatorType: string; indicatorValue: string }>();
  for (const o of observablesOfObject(object)?.filter(isWellFormed) ?? []) {
    const indicatorType = defenderTypeOf(o);
    const indicatorValue = defenderValueOf(o);
    if (indicatorType === undefined || indicatorValue === undefined) continue;
    out.set(`${indicatorType}|${indicatorValue}`, { indicatorType, indicatorValue });
  }
  return [...out.values()];
}

/** The STIX object as this connector uploads it to Sentinel, for seeding. */
export function sentinelObjectOf(object: StixObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (key === "extensions" || key === "indicator_types" || key.startsWith("x_opencti_")) continue;
    out[key] = value;
  }
  return out;
}
