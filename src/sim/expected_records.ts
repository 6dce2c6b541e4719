/**
 * What a Microsoft target should hold for an OpenCTI object, computed by the simulator itself from
 * the reference (`reference/opencti.md` §4.1-4.2 for `observable_values` and the indicator shape,
 * `reference/microsoft.md` §7.1 for which observable each target takes, §5.3-5.4 for Defender's
 * value rules) and the STIX 2.1 patterning grammar (OASIS STIX 2.1 §9). It never calls the
 * production event mapper (`src/sentinel/events.ts`), pattern reader (`src/stix/pattern.ts`) or
 * target mappers (`src/microsoft/*_mapping.ts`): an expectation derived from the code under test
 * would agree with its own bugs.
 *
 * It is deliberately minimal: simple `=` comparisons joined by `AND`/`OR`, the seven observable
 * types the connector syncs, and the value checks of the reference. Anything else yields no
 * record.
 *
 * @module
 */
import type { StixObject } from "../stix/types.ts";
import { isDnsName } from "./ms_tables.ts";
import { extensionOf } from "./opencti_store.ts";

/** One observable as the simulator reads it. */
export interface SimObservable {
  /** STIX cyber-observable type (`ipv4-addr`, …, `file`). */
  type: string;
  /** The value (for files: the hash). */
  value: string;
  /** For files: `MD5`, `SHA-1`, `SHA-256` or `SHA-512`. */
  hash?: string;
}

/** The targets whose records the simulator can predict. */
export type ExpectedTarget = "graph" | "sentinel" | "defender";

/** The observable types the connector syncs, as STIX types (reference opencti.md §4.1). */
const VALUE_TYPES = ["ipv4-addr", "ipv6-addr", "domain-name", "hostname", "url", "email-addr"];

/** `observable_values` entity types → STIX types (reference opencti.md §4.1). */
const ENTITY_TYPES: Readonly<Record<string, string>> = {
  "ipv4-addr": "ipv4-addr",
  "ipv6-addr": "ipv6-addr",
  "domain-name": "domain-name",
  "hostname": "hostname",
  "url": "url",
  "email-addr": "email-addr",
  "stixfile": "file",
  "file": "file",
};

/** Hash algorithm keys in any spelling (`sha256`, `'SHA-256'`) → their STIX name and hex length. */
const HASHES: Readonly<Record<string, { name: string; hexLength: number }>> = {
  MD5: { name: "MD5", hexLength: 32 },
  SHA1: { name: "SHA-1", hexLength: 40 },
  SHA256: { name: "SHA-256", hexLength: 64 },
  SHA512: { name: "SHA-512", hexLength: 128 },
};

function hashName(key: string): string | undefined {
  const compact = key.trim().replace(/^'(.*)'$/, "$1").toUpperCase().replace(/[-_\s]/g, "");
  return HASHES[compact]?.name;
}

// --- A minimal STIX pattern reader ---------------------------------------------------------------

/**
 * The observables of a STIX pattern made of `[type:property = 'value']` comparisons joined by
 * `AND`/`OR` inside and across brackets (with parentheses), or undefined when the pattern uses
 * anything else (other operators, qualifiers, `FOLLOWEDBY`, unknown types or properties).
 * String literals take `\'` and `\\` escapes (STIX 2.1 §9.2 "String" literal).
 */
export function readPatternValues(pattern: string): SimObservable[] | undefined {
  const tokens = lexPattern(pattern);
  if (tokens === undefined) return undefined;
  const out: SimObservable[] = [];
  let i = 0;
  const isWord = (word: string) =>
    tokens[i]?.kind === "word" && tokens[i]?.text.toUpperCase() === word;
  const isPunct = (text: string) => tokens[i]?.kind === "punct" && tokens[i]?.text === text;
  const joined = (part: () => boolean): boolean => {
    if (!part()) return false;
    while (isWord("AND") || isWord("OR")) {
      i++;
      if (!part()) return false;
    }
    return true;
  };
  const comparison = (): boolean => {
    if (isPunct("(")) {
      i++;
      if (!joined(comparison) || !isPunct(")")) return false;
      i++;
      return true;
    }
    const type = tokens[i++];
    if (type?.kind !== "word" || !isPunct(":")) return false;
    i++;
    const path: string[] = [];
    for (;;) {
      const part = tokens[i++];
      if (part?.kind !== "word" && part?.kind !== "string") return false;
      path.push(part.kind === "string" ? `'${part.text}'` : part.text);
      if (!isPunct(".")) break;
      i++;
    }
    if (!isPunct("=")) return false;
    i++;
    const literal = tokens[i++];
    if (literal?.kind !== "string" || literal.text === "") return false;
    const observable = observableAt(type.text.toLowerCase(), path, literal.text);
    if (observable === undefined) return false;
    out.push(observable);
    return true;
  };
  const observation = (): boolean => {
    if (isPunct("(")) {
      i++;
      if (!joined(observation) || !isPunct(")")) return false;
      i++;
      return true;
    }
    if (!isPunct("[")) return false;
    i++;
    if (!joined(comparison) || !isPunct("]")) return false;
    i++;
    return true;
  };
  if (!joined(observation) || i !== tokens.length) return undefined;
  return out;
}

function observableAt(type: string, path: string[], value: string): SimObservable | undefined {
  if (VALUE_TYPES.includes(type)) {
    return path.length === 1 && path[0] === "value" ? { type, value } : undefined;
  }
  if (type === "file" && path.length === 2 && path[0] === "hashes") {
    const hash = hashName(path[1] as string);
    return hash === undefined ? undefined : { type, value, hash };
  }
  return undefined;
}

type PatternToken = { kind: "word" | "string" | "punct"; text: string };

function lexPattern(pattern: string): PatternToken[] | undefined {
  const tokens: PatternToken[] = [];
  let i = 0;
  while (i < pattern.length) {
    const char = pattern[i] as string;
    if (/\s/.test(char)) {
      i++;
    } else if (char === "'") {
      let text = "";
      i++;
      for (;;) {
        const c = pattern[i];
        if (c === undefined) return undefined;
        if (c === "\\") {
          const next = pattern[i + 1];
          if (next !== "'" && next !== "\\") return undefined;
          text += next;
          i += 2;
        } else if (c === "'") {
          i++;
          break;
        } else {
          text += c;
          i++;
        }
      }
      tokens.push({ kind: "string", text });
    } else if ("[]():.=".includes(char)) {
      tokens.push({ kind: "punct", text: char });
      i++;
    } else {
      const word = /^[A-Za-z0-9_-]+/.exec(pattern.slice(i))?.[0];
      if (word === undefined) return undefined;
      tokens.push({ kind: "word", text: word });
      i += word.length;
    }
  }
  return tokens;
}

// --- The observables of an object -----------------------------------------------------------------

/**
 * The observables of an OpenCTI object as the stream shows it: an indicator's `observable_values`
 * (reference opencti.md §4.1) when it has any, else its STIX pattern; a raw observable's `value`
 * or file `hashes`. Undefined when the object carries none the connector syncs.
 */
export function observablesOfObject(object: StixObject): SimObservable[] | undefined {
  if (object.type === "indicator") {
    const patternType = object.pattern_type;
    if (typeof patternType === "string" && patternType.toLowerCase() !== "stix") return undefined;
    const listed = extensionOf(object)?.observable_values;
    if (Array.isArray(listed) && listed.length > 0) {
      const found = listed.flatMap(fromObservableValue);
      return found.length > 0 ? found : undefined;
    }
    return typeof object.pattern === "string" ? readPatternValues(object.pattern) : undefined;
  }
  if (object.type === "file") {
    const hashes = fileHashes(object.hashes);
    return hashes.length > 0 ? hashes : undefined;
  }
  if (VALUE_TYPES.includes(object.type)) {
    return typeof object.value === "string" && object.value !== ""
      ? [{ type: object.type, value: object.value }]
      : undefined;
  }
  return undefined;
}

function fromObservableValue(entry: unknown): SimObservable[] {
  if (typeof entry !== "object" || entry === null) return [];
  const { type, value, hashes } = entry as Record<string, unknown>;
  const stixType = typeof type === "string" ? ENTITY_TYPES[type.toLowerCase()] : undefined;
  if (stixType === undefined) return [];
  if (stixType === "file") return fileHashes(hashes);
  return typeof value === "string" && value !== "" ? [{ type: stixType, value }] : [];
}

function fileHashes(hashes: unknown): SimObservable[] {
  if (typeof hashes !== "object" || hashes === null) return [];
  return Object.entries(hashes).flatMap(([key, value]) => {
    const hash = hashName(key);
    return hash !== undefined && typeof value === "string" && value !== ""
      ? [{ type: "file", value, hash }]
      : [];
  });
}

// --- Value checks (what a target would refuse) ----------------------------------------------------

/** True when the value is a well-formed value of its type (RFC 791, 4291, 1035, 3986, 5321). */
export function isWellFormed(o: SimObservable): boolean {
  switch (o.type) {
    case "ipv4-addr":
      return withPrefix(o.value, 32, isDottedQuadAddress);
    case "ipv6-addr":
      return withPrefix(o.value, 128, (a) => ipv6Groups(a) !== undefined);
    case "domain-name":
      return isHostName(o.value, 2);
    case "hostname":
      return isHostName(o.value, 1);
    case "url":
      return isUrl(o.value);
    case "email-addr": {
      const at = o.value.lastIndexOf("@");
      const local = o.value.slice(0, at);
      return at > 0 && local.length <= 64 && !/[\s@<>(),;:\\"[\]]/.test(local) &&
        isHostName(o.value.slice(at + 1), 2);
    }
    case "file": {
      const spec = Object.values(HASHES).find((h) => h.name === o.hash);
      return spec !== undefined && new RegExp(`^[0-9A-Fa-f]{${spec.hexLength}}$`).test(o.value);
    }
    default:
      return false;
  }
}

function withPrefix(value: string, max: number, isAddress: (a: string) => boolean): boolean {
  const [address = "", prefix, ...rest] = value.split("/");
  if (rest.length > 0) return false;
  if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= max)) return false;
  return isAddress(address);
}

function isDottedQuadAddress(value: string): boolean {
  const parts = value.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** The eight 16-bit groups of an IPv6 address (RFC 4291 §2.2 text forms), or undefined. */
function ipv6Groups(value: string): number[] | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(value)) return undefined;
  const halves = value.split("::");
  if (halves.length > 2) return undefined;
  const parse = (text: string): number[] | undefined => {
    if (text === "") return [];
    const groups: number[] = [];
    const parts = text.split(":");
    for (const [index, part] of parts.entries()) {
      if (part.includes(".") && index === parts.length - 1) {
        if (!isDottedQuadAddress(part)) return undefined;
        const [a, b, c, d] = part.split(".").map(Number) as [number, number, number, number];
        groups.push(a * 256 + b, c * 256 + d);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) {
        groups.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return groups;
  };
  const head = parse(halves[0] as string);
  const tail = halves.length === 2 ? parse(halves[1] as string) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  if ((halves[0] as string).includes(".")) return undefined; // an embedded IPv4 comes last
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...Array(missing).fill(0), ...tail] : undefined;
}

function isHostName(value: string, minLabels: number): boolean {
  if (value === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /[/?#@\s:]/.test(value)) {
    return false;
  }
  let ascii = value.endsWith(".") ? value.slice(0, -1) : value;
  if (/[\u0080-\uffff]/.test(ascii)) {
    try {
      ascii = new URL(`http://${ascii}/`).hostname; // IDNA → punycode
    } catch {
      return false;
    }
  }
  if (ascii.length > 253) return false;
  const labels = ascii.split(".");
  if (labels.length < minLabels) return false;
  if (labels.length > 1 && /^\d+$/.test(labels[labels.length - 1] as string)) return false;
  return labels.every((l) =>
    /^[A-Za-z0-9_-]{1,63}$/.test(l) && !l.startsWith("-") && !l.endsWith("-")
  );
}

function isUrl(value: string): boolean {
  if (/\s/.test(value) || !URL.canParse(value)) return false;
  return new URL(value).hostname !== "";
}

// --- Records per target -----------------------------------------------------------------------------

/** The key of one record: `<STIX id> <value as the target compares it>`. */
export type RecordKey = string;

/**
 * The records a target should hold for one object (none when it is revoked, expired at `now`, or
 * has nothing the target takes), one key per observable, duplicates merged.
 */
export function expectedRecords(
  object: StixObject,
  target: ExpectedTarget,
  now: number,
): RecordKey[] {
  if (object.revoked === true) return [];
  const validUntil = typeof object.valid_until === "string" ? Date.parse(object.valid_until) : NaN;
  if (!Number.isNaN(validUntil) && validUntil <= now) return [];
  const observables = observablesOfObject(object)?.filter(isWellFormed) ?? [];
  const keys = new Set<RecordKey>();
  for (const o of observables) {
    const value = target === "defender"
      ? defenderValueOf(o)
      : target === "graph"
      ? graphValueOf(o)
      : sentinelValueOf(o);
    if (value !== undefined) keys.add(`${object.id} ${value}`);
  }
  return [...keys];
}

/**
 * An observable of a STIX object uploaded to Sentinel, as records are compared: the value as
 * written, file hashes in lower case (hex case carries no meaning).
 */
export function sentinelValueOf(o: SimObservable): string {
  return o.type === "file" ? o.value.toLowerCase() : o.value;
}

/**
 * The value a Graph `tiIndicator` holds for an observable (reference microsoft.md §7.1,
 * `Azure Sentinel` product): addresses without a one-address prefix, CIDR ranges as such
 * (`networkCidrBlock`), hashes MD5/SHA-1/SHA-256 only (`fileHashType` has no SHA-512), in lower
 * case (hex case carries no meaning).
 */
export function graphValueOf(o: SimObservable): string | undefined {
  switch (o.type) {
    case "ipv4-addr":
      return o.value.endsWith("/32") ? o.value.slice(0, -3) : o.value;
    case "ipv6-addr":
      return o.value.endsWith("/128") ? o.value.slice(0, -4) : o.value;
    case "file":
      return o.hash === "SHA-512" ? undefined : o.value.toLowerCase();
    default:
      return o.value;
  }
}

/**
 * The value a Defender indicator holds for an observable, in the form
 * {@linkcode canonicalDefenderValue} compares (reference microsoft.md §5.3-5.4, §7.1): single IP
 * addresses only (no CIDR), domains and hostnames of two labels or more, URLs, SHA-1 and SHA-256
 * files; no e-mail addresses, no MD5 (refused on creation), no SHA-512.
 */
export function defenderValueOf(o: SimObservable): string | undefined {
  switch (o.type) {
    case "ipv4-addr": {
      const address = o.value.endsWith("/32") ? o.value.slice(0, -3) : o.value;
      return isDottedQuadAddress(address) ? address : undefined;
    }
    case "ipv6-addr": {
      const address = o.value.endsWith("/128") ? o.value.slice(0, -4) : o.value;
      return canonicalDefenderValue("IpAddress", address);
    }
    case "domain-name":
    case "hostname": {
      const name = o.value.toLowerCase().replace(/\.$/, "");
      return isDnsName(name) ? name : undefined;
    }
    case "url":
      return o.value;
    case "file":
      return o.hash === "SHA-1" || o.hash === "SHA-256" ? o.value.toLowerCase() : undefined;
    default:
      return undefined;
  }
}

/**
 * A Defender `indicatorValue` in the form two values are compared in: IPv6 as eight lower-case
 * groups without leading zeros (the documented example `2001:4860:4860:0:0:0:0:8888`), domains and
 * hashes in lower case (Defender matches them case-insensitively), anything else as it is.
 * Undefined for an IPv6 value that is not an address.
 */
export function canonicalDefenderValue(type: string, value: string): string | undefined {
  if (type === "IpAddress" && value.includes(":")) {
    return ipv6Groups(value)?.map((g) => g.toString(16)).join(":");
  }
  if (type === "Url") return value;
  return value.toLowerCase();
}
