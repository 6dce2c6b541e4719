/**
 * Deterministic STIX ids following the OpenCTI platform's rules (reference `opencti.md` §5):
 * contributing properties per type, RFC 8785 canonical JSON, UUID v5 in the STIX namespace.
 *
 * Use the typed helpers (`identityId`, `incidentId`, `relationshipId`…) to build ids for objects
 * this project emits, and {@linkcode standardIdOf} to compute the platform id of a whole STIX
 * object (what the platform does on import).
 *
 * @module
 */

import { canonicalize, CanonicalizeError } from "./canonical.ts";
import { uuidV5 } from "./uuid.ts";
import { PLATFORM_HASH_PREFERENCE, platformHashKey } from "./hashes.ts";
import { parseTlp, TLP_IDS } from "./markings.ts";
import type { StixObject } from "./types.ts";

/** The STIX 2.1 namespace for UUID v5 ids (the platform's `OASIS_NAMESPACE`). */
export const STIX_NAMESPACE = "00abedb4-aa42-466c-9c01-fed23315a9b7";

/** The contributing data of an object is empty, so the platform would refuse the object. */
export class MissingIdDataError extends Error {
  /** The error's name. */
  override name = "MissingIdDataError";
  /** The STIX type whose id could not be computed. */
  readonly type: string;

  /** Builds the error for a type and the properties it needs. */
  constructor(type: string, properties: readonly string[], options?: ErrorOptions) {
    super(
      `Missing required elements for ${type} creation: set ${
        properties.join(" or ")
      } to compute its id`,
      options,
    );
    this.type = type;
  }
}

/** A timestamp that cannot be read as ISO-8601. */
export class InvalidTimestampError extends Error {
  /** The error's name. */
  override name = "InvalidTimestampError";
}

/** Tells whether the platform treats a value as empty: null, undefined, `""`, `[]` or `{}`. */
export function isEmptyValue(value: unknown): boolean {
  if (value === null || value === undefined || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object" && !(value instanceof Date)) return Object.keys(value).length === 0;
  return false;
}

const ISO_RE =
  /^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Returns a timestamp in the form the platform stores and hashes: UTC, exactly three fractional
 * digits, `Z` (`2023-10-16T12:26:51+00:00` → `2023-10-16T12:26:51.000Z`). A string without a zone
 * is read as UTC; digits beyond milliseconds are cut.
 */
export function platformTimestamp(value: Date | string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) {
      throw new InvalidTimestampError("Pass a valid Date instead of an invalid one");
    }
    return value.toISOString();
  }
  const m = ISO_RE.exec(value.trim());
  if (!m) {
    throw new InvalidTimestampError(`Pass an ISO-8601 timestamp instead of "${value}"`);
  }
  const [, date, hh = "00", mm = "00", ss = "00", frac = "", zone = "Z"] = m;
  let z = zone.toUpperCase();
  if (z !== "Z") {
    const digits = z.slice(1).replace(":", "");
    z = `${z[0]}${digits.slice(0, 2)}:${digits.slice(2, 4) || "00"}`;
  }
  const day = new Date(`${date}T00:00:00Z`);
  if (
    Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== date || Number(hh) > 23 ||
    Number(mm) > 59 || Number(ss) > 59
  ) {
    throw new InvalidTimestampError(`Pass an existing date and time instead of "${value}"`);
  }
  const ms = (frac + "000").slice(0, 3);
  const d = new Date(`${date}T${hh}:${mm}:${ss}.${ms}${z}`);
  if (Number.isNaN(d.getTime())) {
    throw new InvalidTimestampError(`Pass an existing date and time instead of "${value}"`);
  }
  return d.toISOString();
}

/** The platform's name normalisation: lower-case, then trim surrounding whitespace. */
export function normalizeName(value: string): string {
  return value.toLowerCase().trim();
}

/** Reduces a hashes object to the one entry the platform hashes (keys upper-cased, by preference). */
export function reduceHashes(hashes: Record<string, unknown>): Record<string, string> | undefined {
  const byKey = new Map<string, string>();
  for (const [k, v] of Object.entries(hashes)) {
    if (typeof v !== "string" || v === "") continue;
    // The platform upper-cases keys; spellings without hyphens (`sha256`) are mapped too.
    const key = platformHashKey(k) ?? k.toUpperCase();
    if (!byKey.has(key)) byKey.set(key, v);
  }
  for (const key of PLATFORM_HASH_PREFERENCE) {
    const v = byKey.get(key);
    if (v !== undefined) return { [key]: v };
  }
  return undefined;
}

type Norm = (value: unknown) => unknown;

interface Contribution {
  /** Property name in the input and in the hashed data. */
  readonly key: string;
  /** Normalisation applied to a non-empty value. */
  readonly norm?: Norm;
  /** Properties that must be non-empty for this one to count (else the whole data is empty). */
  readonly needs?: readonly string[];
}

type Way = readonly Contribution[];

const name: Norm = (v) => (typeof v === "string" ? normalizeName(v) : v);
const upper: Norm = (v) => (typeof v === "string" ? v.toUpperCase() : v);
const time: Norm = (v) => (typeof v === "string" || v instanceof Date ? platformTimestamp(v) : v);
const hashes: Norm = (v) =>
  v !== null && typeof v === "object" && !Array.isArray(v)
    ? reduceHashes(v as Record<string, unknown>)
    : undefined;
const sorted: Norm = (v) => (Array.isArray(v) ? [...v].sort() : v);

const NAME_ONLY: readonly Way[] = [[{ key: "name", norm: name }]];
const MITRE_OR_NAME: readonly Way[] = [[{ key: "x_mitre_id" }], [{ key: "name", norm: name }]];
const VALUE_ONLY: readonly Way[] = [[{ key: "value" }]];
const HASHES_OR = (...alternatives: string[]): readonly Way[] => [
  [{ key: "hashes", norm: hashes }],
  ...alternatives.map((key): Way => [{ key }]),
];

/** Contributing properties of each type (platform rules, §5.2), by STIX type. */
const RULES: Readonly<Record<string, readonly Way[]>> = {
  "identity": [[{ key: "name", norm: name }, {
    key: "identity_class",
    norm: name,
    needs: ["name"],
  }]],
  "indicator": [[{ key: "pattern" }]],
  "incident": [[{ key: "name", norm: name }, { key: "created", norm: time, needs: ["name"] }]],
  "case-incident": [[{ key: "name", norm: name }, {
    key: "created",
    norm: time,
    needs: ["name"],
  }]],
  "malware": NAME_ONLY,
  "tool": NAME_ONLY,
  "campaign": NAME_ONLY,
  "intrusion-set": NAME_ONLY,
  "infrastructure": NAME_ONLY,
  "vulnerability": NAME_ONLY,
  "attack-pattern": MITRE_OR_NAME,
  "course-of-action": MITRE_OR_NAME,
  "threat-actor": [[{ key: "name", norm: name }, { key: "opencti_type", needs: ["name"] }]],
  "location": [[{ key: "name", norm: name }, {
    key: "x_opencti_location_type",
    needs: ["name"],
  }]],
  "location-position": [[{ key: "latitude" }, { key: "longitude" }], [{ key: "name", norm: name }]],
  "report": [[{ key: "name", norm: name }, { key: "published", norm: time }]],
  "note": [[{ key: "content" }, { key: "created", norm: time, needs: ["content"] }]],
  "opinion": [[{ key: "opinion" }, { key: "created", norm: time, needs: ["opinion"] }]],
  "observed-data": [[{ key: "objects", norm: sorted }]],
  "relationship": [[
    { key: "relationship_type" },
    { key: "source_ref", needs: ["target_ref"] },
    { key: "target_ref", needs: ["source_ref"] },
    { key: "start_time", norm: time },
    { key: "stop_time", norm: time },
  ]],
  "sighting": [[
    { key: "type" },
    { key: "sighting_of_ref", needs: ["where_sighted_refs"] },
    { key: "where_sighted_refs", needs: ["sighting_of_ref"] },
    { key: "first_seen", norm: time },
    { key: "last_seen", norm: time },
  ]],
  "marking-definition": [[
    { key: "definition", norm: upper, needs: ["definition_type"] },
    { key: "definition_type", norm: upper },
  ]],
  "label": [[{ key: "value", norm: name }]],
  "external-reference": [[{ key: "url" }], [{ key: "source_name", needs: ["external_id"] }, {
    key: "external_id",
  }]],
  "kill-chain-phase": [[{ key: "phase_name" }, { key: "kill_chain_name" }]],
  "ipv4-addr": VALUE_ONLY,
  "ipv6-addr": VALUE_ONLY,
  "domain-name": VALUE_ONLY,
  "hostname": VALUE_ONLY,
  "url": VALUE_ONLY,
  "email-addr": VALUE_ONLY,
  "mac-addr": VALUE_ONLY,
  "user-agent": VALUE_ONLY,
  "text": VALUE_ONLY,
  "phone-number": VALUE_ONLY,
  "cryptographic-key": VALUE_ONLY,
  "cryptocurrency-wallet": VALUE_ONLY,
  "credential": VALUE_ONLY,
  "tracking-number": VALUE_ONLY,
  "file": HASHES_OR("name"),
  "artifact": HASHES_OR("url"),
  "x509-certificate": HASHES_OR("serial_number", "subject"),
  "user-account": [[{ key: "account_type" }, { key: "user_id" }, { key: "account_login" }]],
  "autonomous-system": [[{ key: "number" }]],
  "directory": [[{ key: "path" }]],
  "mutex": [[{ key: "name" }]],
  "software": [[{ key: "name" }, { key: "cpe" }, { key: "swid" }, { key: "vendor" }, {
    key: "version",
  }]],
  "email-message": [[{ key: "from_ref" }, { key: "subject" }, { key: "body" }]],
  "windows-registry-key": [[{ key: "key" }, { key: "values" }]],
};

/** Id-bearing types whose ids the platform rule defines (the keys of the rule table). */
export const SUPPORTED_ID_TYPES: readonly string[] = Object.keys(RULES).filter((t) =>
  t !== "location-position"
);

function wayData(way: Way, input: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const c of way) {
    if (!(c.key in input) || input[c.key] === undefined) continue;
    if (c.needs?.some((n) => isEmptyValue(input[n]))) return {};
    const raw = input[c.key];
    data[c.key] = c.norm && !isEmptyValue(raw) ? c.norm(raw) : raw;
  }
  return compact(data);
}

function compact(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (!isEmptyValue(v)) out[k] = v;
  return out;
}

/**
 * Returns the contributing data the platform hashes for `input` of a STIX type (`"location-position"`
 * selects the Position rule), or undefined when the data is empty (the platform refuses the object)
 * or the type has no rule.
 */
export function idData(
  type: string,
  input: Readonly<Record<string, unknown>>,
): Record<string, unknown> | undefined {
  const ways = RULES[type];
  if (!ways) return undefined;
  for (const way of ways) {
    const data = wayData(way, input);
    if (Object.keys(data).length > 0) return data;
  }
  return undefined;
}

const STATIC_TLP: ReadonlyMap<string, string> = new Map(
  ["CLEAR", "WHITE", "GREEN", "AMBER", "AMBER+STRICT", "RED"].map((n) => {
    const tlp = parseTlp(n);
    return [`TLP:${n}`, tlp ? TLP_IDS[tlp] : ""];
  }),
);

/**
 * Computes `<type>--<uuid5>` from already-collected contributing data (empty values dropped,
 * RFC 8785 canonical JSON, STIX namespace). TLP marking data gets its fixed id.
 */
export async function generateId(
  type: string,
  data: Readonly<Record<string, unknown>>,
): Promise<string> {
  const clean = compact(data);
  if (Object.keys(clean).length === 0) {
    throw new MissingIdDataError(type, Object.keys(data).length ? Object.keys(data) : ["its data"]);
  }
  if (type === "marking-definition") {
    const keys = Object.keys(clean);
    if (
      keys.length === 2 && clean.definition_type === "TLP" && typeof clean.definition === "string"
    ) {
      const fixed = STATIC_TLP.get(clean.definition);
      if (fixed) return fixed;
    }
  }
  return `${type}--${await uuidV5(canonicalize(clean), STIX_NAMESPACE)}`;
}

/** Computes the platform id of a STIX type from its input properties (see {@linkcode idData}). */
export async function computeId(
  type: string,
  input: Readonly<Record<string, unknown>>,
): Promise<string> {
  const data = idData(type, input);
  const prefix = type === "location-position" ? "location" : type;
  if (!data) {
    const ways = RULES[type];
    const needed = ways ? ways.map((w) => w.map((c) => c.key).join("+")) : ["a supported type"];
    throw new MissingIdDataError(prefix, needed);
  }
  return await generateId(prefix, data);
}

// ---------------------------------------------------------------------------------------------
// Typed helpers

/** Id of an identity (`name` and `identity_class` normalised). */
export function identityId(input: { name: string; identity_class: string }): Promise<string> {
  return computeId("identity", input);
}

/** Id of an indicator: its pattern, raw (send patterns already trimmed). */
export function indicatorId(input: { pattern: string }): Promise<string> {
  return computeId("indicator", input);
}

/** Id of an incident: normalised name and `created` in the stored form (`…T12:26:51.000Z`). */
export function incidentId(input: { name: string; created?: Date | string }): Promise<string> {
  return computeId("incident", input);
}

/** Id of a Case-Incident (`case-incident`): normalised name and `created`, as for an incident. */
export function caseIncidentId(input: { name: string; created?: Date | string }): Promise<string> {
  return computeId("case-incident", input);
}

/** Types whose id is the normalised name only. */
export type NamedSdoType =
  | "malware"
  | "tool"
  | "campaign"
  | "intrusion-set"
  | "infrastructure"
  | "vulnerability";

/** Id of a malware, tool, campaign, intrusion set, infrastructure or vulnerability (normalised name). */
export function namedObjectId(type: NamedSdoType, name: string): Promise<string> {
  return computeId(type, { name });
}

/** Id of a malware (normalised name). */
export function malwareId(name: string): Promise<string> {
  return computeId("malware", { name });
}

/** Id of an attack pattern: `x_mitre_id` raw (e.g. `T1134.002`), else the normalised name. */
export function attackPatternId(input: { x_mitre_id?: string; name?: string }): Promise<string> {
  return computeId("attack-pattern", input);
}

/** Id of a course of action: `x_mitre_id` raw, else the normalised name. */
export function courseOfActionId(input: { x_mitre_id?: string; name?: string }): Promise<string> {
  return computeId("course-of-action", input);
}

/** Id of a threat actor (`opencti_type` is `Threat-Actor-Group` or `Threat-Actor-Individual`). */
export function threatActorId(
  input: { name: string; opencti_type?: "Threat-Actor-Group" | "Threat-Actor-Individual" },
): Promise<string> {
  return computeId("threat-actor", { opencti_type: "Threat-Actor-Group", ...input });
}

/** Id of a relationship; `source_ref`/`target_ref` must be the standard ids of both ends. */
export function relationshipId(input: {
  relationship_type: string;
  source_ref: string;
  target_ref: string;
  start_time?: Date | string;
  stop_time?: Date | string;
}): Promise<string> {
  return computeId("relationship", input);
}

/**
 * Id of a sighting; `where_sighted_refs` is hashed as a list holding the first where-sighted
 * standard id (the platform rule), whether a list or one id is passed.
 */
export function sightingId(input: {
  sighting_of_ref: string;
  where_sighted_refs: readonly string[] | string;
  first_seen?: Date | string;
  last_seen?: Date | string;
}): Promise<string> {
  const first = typeof input.where_sighted_refs === "string"
    ? input.where_sighted_refs
    : input.where_sighted_refs[0];
  return computeId("sighting", {
    ...input,
    type: "sighting",
    where_sighted_refs: first === undefined ? [] : [first],
  });
}

/** Id of a marking definition: the fixed TLP id, else from upper-cased definition and type. */
export function markingDefinitionId(
  input: { definition_type: string; definition: string },
): Promise<string> {
  return computeId("marking-definition", input);
}

/** Id of a label (`label--…`, normalised value). */
export function labelId(value: string): Promise<string> {
  return computeId("label", { value });
}

/** Id of an external reference (`external-reference--…`): `url`, else `source_name` + `external_id`. */
export function externalReferenceId(
  input: { url?: string; source_name?: string; external_id?: string },
): Promise<string> {
  return computeId("external-reference", input);
}

/** Id of a kill chain phase (`kill-chain-phase--…`). */
export function killChainPhaseId(
  input: { kill_chain_name: string; phase_name: string },
): Promise<string> {
  return computeId("kill-chain-phase", input);
}

/** Observable types whose id is their raw `value`. */
export type ValueObservableType =
  | "ipv4-addr"
  | "ipv6-addr"
  | "domain-name"
  | "hostname"
  | "url"
  | "email-addr"
  | "mac-addr"
  | "user-agent"
  | "text"
  | "phone-number"
  | "cryptographic-key"
  | "cryptocurrency-wallet"
  | "credential"
  | "tracking-number";

/** Id of a value observable (`value` raw, no lower-casing). */
export function observableId(type: ValueObservableType, value: string): Promise<string> {
  return computeId(type, { value });
}

/** Id of a file: one hash (keys upper-cased, MD5 > SHA-1 > SHA-256 > …), else its name. */
export function fileId(input: { hashes?: Record<string, string>; name?: string }): Promise<string> {
  return computeId("file", input);
}

/** Id of a user account (those of `account_type`, `user_id`, `account_login` present). */
export function userAccountId(
  input: { account_type?: string; user_id?: string; account_login?: string },
): Promise<string> {
  return computeId("user-account", input);
}

// ---------------------------------------------------------------------------------------------
// Whole objects

const OPENCTI_EXT = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

function openctiType(object: StixObject): string | undefined {
  const ext = (object.extensions as Record<string, unknown> | undefined)?.[OPENCTI_EXT];
  if (ext !== null && typeof ext === "object" && "type" in ext && typeof ext.type === "string") {
    return ext.type;
  }
  return typeof object.x_opencti_type === "string" ? object.x_opencti_type : undefined;
}

function markingDefinitionString(object: StixObject): string | undefined {
  const type = typeof object.definition_type === "string" ? object.definition_type : undefined;
  if (typeof object.name === "string" && object.name !== "") return object.name;
  const def = object.definition;
  if (typeof def === "string") return def;
  if (type && def !== null && typeof def === "object") {
    const v = (def as Record<string, unknown>)[type.toLowerCase()];
    if (typeof v === "string") {
      return type.toUpperCase() === "TLP" && !/^tlp:/i.test(v) ? `TLP:${v}` : v;
    }
  }
  return undefined;
}

/** Options of {@linkcode standardIdOf}. */
export interface StandardIdOptions {
  /**
   * Maps a referenced id (relationship ends, sighting refs, `from_ref`, observed-data objects) to
   * the standard id of the object it names; return undefined to keep the id as given.
   * @default keeps every reference as given
   */
  resolveRef?: (id: string) => string | undefined;
}

/**
 * Computes the platform's standard id of a whole STIX object (what the platform does on import),
 * or undefined when the type has no rule or the object lacks its contributing properties.
 */
export async function standardIdOf(
  object: StixObject,
  options: StandardIdOptions = {},
): Promise<string | undefined> {
  const ref = (v: unknown): unknown => typeof v === "string" ? (options.resolveRef?.(v) ?? v) : v;
  const input: Record<string, unknown> = { ...object };
  let type = object.type;
  switch (object.type) {
    case "relationship":
      input.source_ref = ref(object.source_ref);
      input.target_ref = ref(object.target_ref);
      break;
    case "sighting": {
      const where = object.where_sighted_refs;
      const first = Array.isArray(where) ? where[0] : where;
      input.type = "sighting";
      input.sighting_of_ref = ref(object.sighting_of_ref);
      input.where_sighted_refs = typeof first === "string" ? [ref(first)] : [];
      break;
    }
    case "threat-actor":
      input.opencti_type = openctiType(object) === "Threat-Actor-Individual"
        ? "Threat-Actor-Individual"
        : "Threat-Actor-Group";
      break;
    case "location": {
      const lt = openctiType(object) ?? object.x_opencti_location_type;
      if (lt === "Position") type = "location-position";
      else if (typeof lt === "string") input.x_opencti_location_type = lt;
      break;
    }
    case "marking-definition":
      input.definition = markingDefinitionString(object);
      break;
    case "email-message":
      input.from_ref = ref(object.from_ref);
      break;
    case "observed-data":
      input.objects = Array.isArray(object.object_refs) ? object.object_refs.map(ref) : undefined;
      break;
  }
  try {
    const data = idData(type, input);
    if (!data) return undefined;
    return await generateId(type === "location-position" ? "location" : type, data);
  } catch (error) {
    if (
      error instanceof MissingIdDataError || error instanceof InvalidTimestampError ||
      error instanceof CanonicalizeError
    ) {
      return undefined;
    }
    throw error;
  }
}
