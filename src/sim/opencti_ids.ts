/**
 * The OpenCTI simulator's own standard-id rules: how the platform computes the `standard_id` of an
 * object it imports, written from reference opencti.md §5 (algorithm §5.1, contributing
 * properties §5.2, vectors §5.3) and §4.3 (fixed TLP ids). The production id builder
 * (`src/stix/ids.ts`) is what the connectors use to name what they push; the simulator must not
 * reuse it, or a wrong rule there would agree with itself here.
 *
 * @module
 */
import type { StixObject } from "../stix/types.ts";
import { uuidV5 } from "../stix/uuid.ts";

/** The STIX 2.1 namespace the platform hashes ids in (reference §5.1, step 4). */
const OASIS_NAMESPACE = "00abedb4-aa42-466c-9c01-fed23315a9b7";

/** The fixed TLP marking-definition ids (reference §4.3). */
export const TLP_MARKING_IDS = {
  clear: "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
  green: "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
  amber: "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
  amberStrict: "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
  red: "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
} as const;

/** `TLP:<X>` (upper case) → fixed id; TLP:WHITE is TLP:CLEAR. */
const TLP_BY_DEFINITION: Readonly<Record<string, string>> = {
  "TLP:CLEAR": TLP_MARKING_IDS.clear,
  "TLP:WHITE": TLP_MARKING_IDS.clear,
  "TLP:GREEN": TLP_MARKING_IDS.green,
  "TLP:AMBER": TLP_MARKING_IDS.amber,
  "TLP:AMBER+STRICT": TLP_MARKING_IDS.amberStrict,
  "TLP:RED": TLP_MARKING_IDS.red,
};

/** Hash keys by the platform's preference for file-like ids (reference §5.2, `file` row). */
const HASH_PREFERENCE = ["MD5", "SHA-1", "SHA-256", "SHA-512", "SHA3-256", "SHA3-512", "SSDEEP"];

type Data = Record<string, unknown>;
type Source = Readonly<Record<string, unknown>>;
/** One way to build the data; undefined when a declared dependency is missing. */
type Way = (o: Source) => Data | undefined;

/** "norm": lower-case, then trim (reference §5.1). */
function norm(value: unknown): unknown {
  return typeof value === "string" ? value.toLowerCase().trim() : value;
}

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === "object" && Object.keys(value).length === 0;
}

/** Marks a contributing timestamp the platform cannot read: the object is refused. */
const UNREADABLE = Symbol("unreadable timestamp");

/** The timestamp string the platform stores: UTC, three fractional digits, `Z` (zone-less = UTC). */
function stored(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const text = value.trim();
  const zoned = /(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$/.test(text) || !/\d[T t]\d/.test(text)
    ? text
    : `${text}Z`;
  const ms = Date.parse(zoned.replace(" ", "T"));
  return Number.isNaN(ms) ? UNREADABLE : new Date(ms).toISOString();
}

/** Hashes reduced to the one entry the platform keeps, key in its upper-case spelling. */
function oneHash(value: unknown): Data | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const byKey = new Map<string, string>();
  for (const [key, hash] of Object.entries(value)) {
    if (typeof hash !== "string" || hash === "") continue;
    const upper = key.toUpperCase();
    const spelled = HASH_PREFERENCE.find((k) =>
      k === upper || k.replaceAll("-", "") === upper.replace(/[-_]/g, "")
    ) ?? upper;
    if (!byKey.has(spelled)) {
      byKey.set(spelled, hash);
    }
  }
  for (const key of HASH_PREFERENCE) {
    const hash = byKey.get(key);
    if (hash !== undefined) return { [key]: hash };
  }
  return undefined;
}

/** Picks the listed properties (through an optional normalisation), dropping empty ones. */
function pick(o: Source, ...keys: (string | [string, (v: unknown) => unknown])[]): Data {
  const data: Data = {};
  for (const entry of keys) {
    const [key, f] = typeof entry === "string" ? [entry, undefined] : entry;
    const value = o[key];
    if (isEmpty(value)) continue;
    const normalised = f ? f(value) : value;
    if (!isEmpty(normalised)) data[key] = normalised;
  }
  return data;
}

/** `main` plus `extra`, where `extra` counts only when `main` is present (else no data). */
function withMain(main: Data, extra: Data): Data | undefined {
  return Object.keys(main).length === 0 ? undefined : { ...main, ...extra };
}

const byName: Way = (o) => pick(o, ["name", norm]);
const byValue: Way = (o) => pick(o, "value");
const hashesOr = (...others: string[]): Way[] => [
  (o) => pick(o, ["hashes", oneHash]),
  ...others.map((key): Way => (o) => pick(o, key)),
];

/** Contributing properties per STIX type (reference §5.2, platform rules), first way with data wins. */
const RULES: Readonly<Record<string, readonly Way[]>> = {
  "identity": [(o) => withMain(pick(o, ["name", norm]), pick(o, ["identity_class", norm]))],
  "indicator": [(o) => pick(o, "pattern")],
  "incident": [(o) => withMain(pick(o, ["name", norm]), pick(o, ["created", stored]))],
  "malware": [byName],
  "tool": [byName],
  "campaign": [byName],
  "intrusion-set": [byName],
  "infrastructure": [byName],
  "vulnerability": [byName],
  "attack-pattern": [(o) => pick(o, "x_mitre_id"), byName],
  "course-of-action": [(o) => pick(o, "x_mitre_id"), byName],
  "threat-actor": [(o) => withMain(pick(o, ["name", norm]), pick(o, "opencti_type"))],
  "location": [(o) => withMain(pick(o, ["name", norm]), pick(o, "x_opencti_location_type"))],
  "report": [(o) => pick(o, ["name", norm], ["published", stored])],
  "note": [(o) => withMain(pick(o, "content"), pick(o, ["created", stored]))],
  "opinion": [(o) => withMain(pick(o, "opinion"), pick(o, ["created", stored]))],
  "observed-data": [(o) => pick(o, ["objects", (v) => Array.isArray(v) ? [...v].sort() : v])],
  "relationship": [(o) => {
    const ends = pick(o, "source_ref", "target_ref");
    if (Object.keys(ends).length === 1) return undefined; // each end needs the other
    return pick(o, "relationship_type", "source_ref", "target_ref", ["start_time", stored], [
      "stop_time",
      stored,
    ]);
  }],
  "sighting": [(o) => {
    const refs = pick(o, "sighting_of_ref", "where_sighted_refs");
    if (Object.keys(refs).length === 1) return undefined;
    return pick(o, "type", "sighting_of_ref", "where_sighted_refs", ["first_seen", stored], [
      "last_seen",
      stored,
    ]);
  }],
  "marking-definition": [(o) => {
    const upper = (v: unknown) => typeof v === "string" ? v.toUpperCase() : v;
    return withMain(pick(o, ["definition_type", upper]), pick(o, ["definition", upper]));
  }],
  "label": [(o) => pick(o, ["value", norm])],
  "external-reference": [
    (o) => pick(o, "url"),
    (o) => {
      const both = pick(o, "source_name", "external_id");
      return Object.keys(both).length === 2 ? both : undefined;
    },
  ],
  "kill-chain-phase": [(o) => pick(o, "phase_name", "kill_chain_name")],
  ...Object.fromEntries(
    [
      "ipv4-addr",
      "ipv6-addr",
      "domain-name",
      "hostname",
      "url",
      "email-addr",
      "mac-addr",
      "user-agent",
      "text",
      "phone-number",
      "cryptographic-key",
      "cryptocurrency-wallet",
      "credential",
      "tracking-number",
    ].map((type) => [type, [byValue]]),
  ),
  "file": hashesOr("name"),
  "artifact": hashesOr("url"),
  "x509-certificate": hashesOr("serial_number", "subject"),
  "user-account": [(o) => pick(o, "account_type", "user_id", "account_login")],
  "autonomous-system": [(o) => pick(o, "number")],
  "directory": [(o) => pick(o, "path")],
  "mutex": [(o) => pick(o, "name")],
  "software": [(o) => pick(o, "name", "cpe", "swid", "vendor", "version")],
  "email-message": [(o) => pick(o, "from_ref", "subject", "body")],
  "windows-registry-key": [(o) => pick(o, "key", "values")],
};

/** The STIX types whose standard id the platform computes (the rest keep the id they come with). */
export const SUPPORTED_ID_TYPES: readonly string[] = Object.keys(RULES);

/** Keys sorted at every level, no whitespace: RFC 8785 for strings, numbers, arrays and objects. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value).sort();
    return `{${
      keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Data)[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(value);
}

async function idFrom(type: string, data: Data): Promise<string> {
  return `${type}--${await uuidV5(canonical(data), OASIS_NAMESPACE)}`;
}

const OPENCTI_EXTENSION = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

function entityType(object: StixObject): unknown {
  const extensions = object.extensions;
  const ext = typeof extensions === "object" && extensions !== null
    ? (extensions as Record<string, unknown>)[OPENCTI_EXTENSION]
    : undefined;
  const type = typeof ext === "object" && ext !== null
    ? (ext as Record<string, unknown>).type
    : undefined;
  return type ?? object.x_opencti_type;
}

/** The `TLP:<X>`-style definition of a marking: its name, a string definition, or `{tlp: "x"}`. */
function markingDefinition(object: StixObject): unknown {
  if (typeof object.name === "string" && object.name !== "") return object.name;
  const definition = object.definition;
  if (typeof definition === "string") return definition;
  const type = typeof object.definition_type === "string" ? object.definition_type : "";
  if (typeof definition === "object" && definition !== null) {
    const value = (definition as Record<string, unknown>)[type.toLowerCase()];
    if (typeof value === "string") {
      return type.toUpperCase() === "TLP" && !/^tlp:/i.test(value) ? `TLP:${value}` : value;
    }
  }
  return undefined;
}

/**
 * The standard id the platform gives a whole STIX object on import (its references already
 * rewritten to standard ids), or undefined when its type has a rule but the object lacks the
 * contributing properties ("Missing required elements for <type> creation") or has no rule.
 */
export async function standardIdOf(object: StixObject): Promise<string | undefined> {
  const source: Record<string, unknown> = { ...object };
  let rules = RULES[object.type];
  switch (object.type) {
    case "sighting": {
      const where = object.where_sighted_refs;
      const first = Array.isArray(where) ? where[0] : where;
      source.type = "sighting";
      source.where_sighted_refs = typeof first === "string" ? [first] : [];
      break;
    }
    case "threat-actor":
      source.opencti_type = entityType(object) === "Threat-Actor-Individual"
        ? "Threat-Actor-Individual"
        : "Threat-Actor-Group";
      break;
    case "location": {
      const kind = entityType(object) ?? object.x_opencti_location_type;
      if (kind === "Position") {
        rules = [(o) => {
          const both = pick(o, "latitude", "longitude");
          return Object.keys(both).length === 2 ? both : undefined;
        }, byName];
      } else if (typeof kind === "string") source.x_opencti_location_type = kind;
      break;
    }
    case "marking-definition":
      source.definition = markingDefinition(object);
      break;
    case "observed-data":
      source.objects = object.object_refs;
      break;
  }
  if (rules === undefined) return undefined;
  for (const way of rules) {
    const data = way(source);
    if (data === undefined || Object.keys(data).length === 0) continue;
    if (Object.values(data).includes(UNREADABLE)) return undefined;
    if (object.type === "marking-definition" && data.definition_type === "TLP") {
      const fixed = TLP_BY_DEFINITION[String(data.definition)];
      if (fixed !== undefined && Object.keys(data).length === 2) return fixed;
    }
    return await idFrom(object.type, data);
  }
  return undefined;
}

/** The id of an external reference: its `url`, else `source_name` with `external_id`. */
export async function externalReferenceId(
  input: { url?: string; source_name?: string; external_id?: string },
): Promise<string> {
  for (const way of RULES["external-reference"] ?? []) {
    const data = way(input);
    if (data !== undefined && Object.keys(data).length > 0) {
      return await idFrom("external-reference", data);
    }
  }
  throw new Error("An external reference needs a url, or a source_name with an external_id");
}

/** The id of an indicator: its pattern, raw (reference §5.2). */
export function indicatorIdOf(pattern: string): Promise<string> {
  return idFrom("indicator", { pattern });
}

/** The id of a file: its one preferred hash (reference §5.2). */
export function fileIdOf(hashes: Record<string, string>): Promise<string> {
  const one = oneHash(hashes);
  if (one === undefined) throw new Error("A file id needs an MD5, SHA-1, SHA-256 or SHA-512 hash");
  return idFrom("file", { hashes: one });
}
