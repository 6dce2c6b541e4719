/**
 * Valibot schemas that read one configuration value, from the environment (always a string) or
 * from YAML (a string, number, boolean or list), into its typed form. Issue messages say what is
 * expected and never repeat the value: the caller decides whether the value may be shown.
 */
import * as v from "valibot";
import { parseDuration } from "../runtime/duration.ts";

/** A schema reading an untyped configuration value. */
export type ValueSchema<T> = v.GenericSchema<unknown, T>;

/** The JSON Schema of a value, as OpenCTI's integration manager reads it (a subset of 2020-12). */
export interface JsonValueSchema {
  /** JSON type. */
  type: "string" | "integer" | "boolean" | "array";
  /** Allowed values. */
  enum?: readonly string[];
  /** String format (`uri`, `uuid`, `date-time`, `duration`). */
  format?: string;
  /** Smallest integer. */
  minimum?: number;
  /** Largest integer. */
  maximum?: number;
  /** Items of an array. */
  items?: { type: "string"; enum?: readonly string[] };
}

const JSON_SCHEMAS = new WeakMap<object, JsonValueSchema>();

/** The JSON Schema of a value schema built by this module; `undefined` for a foreign schema. */
export function jsonSchemaOf(schema: ValueSchema<unknown>): JsonValueSchema | undefined {
  return JSON_SCHEMAS.get(schema);
}

function described<T>(schema: ValueSchema<T>, json: JsonValueSchema): ValueSchema<T> {
  JSON_SCHEMAS.set(schema, json);
  return schema;
}

const TRUE = new Set(["true", "yes", "1"]);
const FALSE = new Set(["false", "no", "0"]);

/** Turns a scalar into trimmed text; `undefined` for lists and mappings. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim();
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  return undefined;
}

/** A schema built from a function that returns the value or an `expected …` message. */
function reader<T>(read: (value: unknown) => { ok: T } | { expected: string }): ValueSchema<T> {
  return v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const result = read(dataset.value);
      if ("ok" in result) return result.ok;
      addIssue({ message: result.expected });
      return NEVER;
    }),
  );
}

/** Non-empty text; with `noSpaces`, text without any whitespace (tokens, ids). */
export function text(options: { noSpaces?: boolean; expected?: string } = {}): ValueSchema<string> {
  const expected = options.expected ?? "expected text";
  return described(
    reader((value) => {
      const s = scalarText(value);
      if (s === undefined || s === "") return { expected };
      if (options.noSpaces && /\s/.test(s)) {
        return { expected: `${expected}, without spaces or line breaks` };
      }
      return { ok: s };
    }),
    { type: "string" },
  );
}

/** Booleans: true/false, yes/no, 1/0, in any case. */
export function boolean(): ValueSchema<boolean> {
  return described(
    reader((value) => {
      if (typeof value === "boolean") return { ok: value };
      const s = scalarText(value)?.toLowerCase();
      if (s !== undefined && TRUE.has(s)) return { ok: true };
      if (s !== undefined && FALSE.has(s)) return { ok: false };
      return { expected: "expected true or false (yes/no and 1/0 also work)" };
    }),
    { type: "boolean" },
  );
}

/** Whole numbers within bounds. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): ValueSchema<number> {
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  const expected = `expected a whole number ${range}`;
  return described(
    reader((value) => {
      const s = scalarText(value);
      if (s === undefined || !/^[+-]?\d+$/.test(s)) return { expected };
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < min || n > max) return { expected };
      return { ok: n };
    }),
    { type: "integer", minimum: min, ...(max === Number.MAX_SAFE_INTEGER ? {} : { maximum: max }) },
  );
}

/** One of fixed values, matched without regard to case; `aliases` maps extra spellings. */
export function oneOf<const T extends string>(
  values: readonly T[],
  aliases: Readonly<Record<string, T>> = {},
): ValueSchema<T> {
  const byLower = new Map<string, T>(values.map((value) => [value.toLowerCase(), value]));
  for (const [alias, value] of Object.entries(aliases)) byLower.set(alias.toLowerCase(), value);
  const expected = `expected ${describeChoices(values)}`;
  return described(
    reader((value) => {
      const s = scalarText(value);
      const found = s === undefined ? undefined : byLower.get(s.toLowerCase());
      return found === undefined ? { expected } : { ok: found };
    }),
    { type: "string", enum: [...values, ...Object.keys(aliases)] },
  );
}

/** "a", "a or b", "a, b or c", each quoted. */
export function describeChoices(values: readonly string[]): string {
  const quoted = values.map((value) => `"${value}"`);
  if (quoted.length <= 1) return quoted.join("");
  return `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`;
}

/** An absolute http(s) URL, returned without a trailing slash. */
export function httpUrl(): ValueSchema<string> {
  const expected = "expected an http:// or https:// URL";
  return described(
    reader((value) => {
      const s = scalarText(value);
      if (s === undefined || /\s/.test(s) || !URL.canParse(s)) return { expected };
      const url = new URL(s);
      if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
        return { expected };
      }
      return { ok: s.replace(/\/+$/, "") };
    }),
    { type: "string", format: "uri" },
  );
}

/** A URL path that starts with `/`, returned without a trailing slash. */
export function urlPath(): ValueSchema<string> {
  return described(
    reader((value) => {
      const s = scalarText(value);
      if (s === undefined || !/^\/\S*$/.test(s)) {
        return {
          expected: "expected a path starting with / (such as /beta/security/tiIndicators)",
        };
      }
      return { ok: s.length > 1 ? s.replace(/\/+$/, "") : s };
    }),
    { type: "string" },
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID/GUID (`8-4-4-4-12` hex digits), returned in lower case. */
export function uuid(what = "a UUID"): ValueSchema<string> {
  return described(
    reader((value) => {
      const s = scalarText(value);
      if (s === undefined || !UUID.test(s)) {
        return { expected: `expected ${what} such as 8f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9` };
      }
      return { ok: s.toLowerCase() };
    }),
    { type: "string", format: "uuid" },
  );
}

/** An Entra ID tenant: a GUID or a verified domain; never `common`, `consumers`, `organizations`. */
export function tenant(): ValueSchema<string> {
  const expected = "expected the directory (tenant) id, a GUID, or a verified domain " +
    "such as contoso.onmicrosoft.com (not common, consumers or organizations)";
  return described(
    reader((value) => {
      const s = scalarText(value);
      if (s === undefined) return { expected };
      if (UUID.test(s)) return { ok: s.toLowerCase() };
      const domain = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
      return domain.test(s) ? { ok: s } : { expected };
    }),
    { type: "string" },
  );
}

/** A comma-separated list (or a YAML list), trimmed, empty entries dropped. */
export function list(): ValueSchema<string[]> {
  return described(
    reader((value) => {
      const items = Array.isArray(value)
        ? value
        : typeof value === "string"
        ? value.split(",")
        : [];
      if (!Array.isArray(value) && typeof value !== "string") {
        return { expected: "expected a comma-separated list" };
      }
      const out: string[] = [];
      for (const item of items) {
        const s = scalarText(item);
        if (s === undefined) return { expected: "expected a list of texts" };
        if (s !== "") out.push(s);
      }
      return { ok: out };
    }),
    { type: "array", items: { type: "string" } },
  );
}

/**
 * A list given as a YAML list, a JSON array text (`'["Default Group"]'`, as the upstream Defender
 * synchronizer documents) or a comma-separated text; trimmed, empty entries dropped.
 */
export function jsonOrCommaList(): ValueSchema<string[]> {
  const plain = list();
  return described(
    reader((value) => {
      if (typeof value === "string" && value.trim().startsWith("[")) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(value);
        } catch {
          return { expected: "expected a JSON array of texts or a comma-separated list" };
        }
        if (!Array.isArray(parsed) || parsed.some((item) => typeof item !== "string")) {
          return { expected: "expected a JSON array of texts" };
        }
        return { ok: parsed.map((item: string) => item.trim()).filter((item) => item !== "") };
      }
      const result = v.safeParse(plain, value);
      return result.success ? { ok: result.output } : { expected: "expected a list of texts" };
    }),
    { type: "array", items: { type: "string" } },
  );
}

/** One TAXII collection of {@linkcode taxiiCollections}: its id and the keys of its own policy. */
export interface TaxiiCollectionEntry {
  /** The collection id. */
  id: string;
  /** The per-collection policy given for it (the map form), as given; empty when none. */
  policy: Record<string, unknown>;
}

/**
 * TAXII collection ids in the forms the upstream Defender synchronizer accepts
 * (`_parse_taxii_collections` in its config_variables.py): a comma-separated list, a JSON (or
 * YAML) list, or a JSON (or YAML) map of id → per-collection policy (`null`, `{}` or an object).
 * Ids are trimmed, blanks dropped, a repeated id keeps its first entry; empty is refused.
 */
export function taxiiCollections(): ValueSchema<TaxiiCollectionEntry[]> {
  const expected = "expected TAXII collection ids: a comma-separated list, a JSON array, or a " +
    'JSON map of id to policy such as {"<id>": {"action": "Block"}}';
  const entries = (pairs: [unknown, unknown][]): TaxiiCollectionEntry[] | undefined => {
    const out: TaxiiCollectionEntry[] = [];
    for (const [key, policy] of pairs) {
      if (typeof key !== "string") return undefined;
      const id = key.trim();
      if (id === "" || out.some((e) => e.id === id)) continue;
      out.push({
        id,
        policy: policy !== null && typeof policy === "object" && !Array.isArray(policy)
          ? { ...policy }
          : {},
      });
    }
    return out;
  };
  return described(
    reader((value) => {
      let parsed: unknown = value;
      if (typeof value === "string") {
        const text = value.trim();
        if (text.startsWith("[") || text.startsWith("{")) {
          try {
            parsed = JSON.parse(text);
          } catch {
            return { expected };
          }
        } else parsed = text.split(",");
      }
      const found = Array.isArray(parsed)
        ? entries(parsed.map((id): [unknown, unknown] => [id, null]))
        : parsed !== null && typeof parsed === "object"
        ? entries(Object.entries(parsed))
        : undefined;
      if (found === undefined) return { expected };
      if (found.length === 0) return { expected: "expected at least one TAXII collection id" };
      return { ok: found };
    }),
    { type: "array", items: { type: "string" } },
  );
}

/** A comma-separated list (or YAML list) of fixed values, each matched without regard to case. */
export function oneOfList<const T extends string>(values: readonly T[]): ValueSchema<T[]> {
  const plain = list();
  const one = oneOf(values);
  const expected = `expected a comma-separated list of ${describeChoices(values)}`;
  return described(
    reader((value) => {
      const items = v.safeParse(plain, value);
      if (!items.success) return { expected };
      const out: T[] = [];
      for (const item of items.output) {
        const parsed = v.safeParse(one, item);
        if (!parsed.success) return { expected };
        if (!out.includes(parsed.output)) out.push(parsed.output);
      }
      return { ok: out };
    }),
    { type: "array", items: { type: "string", enum: [...values] } },
  );
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Reads a date or date-time into an ISO string in UTC. A value without a zone is UTC:
 * `2024-01-15` gives `2024-01-15T00:00:00.000Z`.
 */
export function parseUtcDate(input: string): string | undefined {
  const s = input.trim();
  let normalised: string;
  if (DATE_ONLY.test(s)) normalised = `${s}T00:00:00Z`;
  else if (DATE_TIME.test(s)) {
    normalised = s.replace(" ", "T");
    if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(normalised)) normalised += "Z";
    normalised = normalised.replace(/([+-]\d{2})(\d{2})$/, "$1:$2");
    // Keep milliseconds only: Date parsing rejects more than 3 fraction digits on some engines.
    normalised = normalised.replace(/(\.\d{3})\d+/, "$1");
  } else return undefined;
  const date = new Date(normalised);
  if (Number.isNaN(date.getTime())) return undefined;
  // Reject dates that roll over (2024-02-30 → March).
  const [y, m, d] = s.slice(0, 10).split("-").map(Number) as [number, number, number];
  const check = new Date(Date.UTC(y, m - 1, d));
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d) {
    return undefined;
  }
  return date.toISOString();
}

/** A date (`YYYY-MM-DD`) or ISO date-time; no zone means UTC. Returns an ISO string. */
export function utcDate(): ValueSchema<string> {
  return described(
    reader((value) => {
      const s = scalarText(value);
      const iso = s === undefined ? undefined : parseUtcDate(s);
      return iso === undefined
        ? { expected: "expected a date YYYY-MM-DD or an ISO-8601 date-time (no zone means UTC)" }
        : { ok: iso };
    }),
    { type: "string", format: "date-time" },
  );
}

/** A recovery date, or `false`/`no`/`none` for no recovery. */
export function dateOrFalse(): ValueSchema<string | false> {
  return described(
    reader<string | false>((value) => {
      if (value === false) return { ok: false };
      const s = scalarText(value);
      if (s !== undefined && ["false", "no", "none"].includes(s.toLowerCase())) {
        return { ok: false };
      }
      const iso = s === undefined ? undefined : parseUtcDate(s);
      return iso === undefined
        ? { expected: "expected an ISO-8601 date or date-time (UTC when no zone), or false" }
        : { ok: iso };
    }),
    { type: "string" },
  );
}

/** An ISO-8601 duration (`PT1H`, `P1D`, `PT30M`; `0` = run once), read with `parseDuration`. */
export function duration(): ValueSchema<{ text: string; ms: number }> {
  return described(
    reader((value) => {
      const s = scalarText(value);
      const expected = 'expected an ISO-8601 duration such as "PT1H", "PT30M" or "P1D" ' +
        '(or "0" to run once)';
      if (s === undefined) return { expected };
      try {
        return { ok: { text: s, ms: parseDuration(s) } };
      } catch {
        return { expected };
      }
    }),
    { type: "string", format: "duration" },
  );
}

const CRON_FIELD = /^[0-9*?,/LW#A-Z-]+$/i;

/** A five-field cron schedule as `Deno.cron` takes it (`*\/15 * * * *`). */
export function cron(): ValueSchema<string> {
  return described(
    reader((value) => {
      const s = scalarText(value);
      const fields = s === undefined ? [] : s.split(/\s+/);
      if (fields.length !== 5 || !fields.every((field) => CRON_FIELD.test(field))) {
        return {
          expected: 'expected a five-field cron schedule such as "*/15 * * * *" (minute hour ' +
            "day-of-month month day-of-week, UTC)",
        };
      }
      return { ok: fields.join(" ") };
    }),
    { type: "string" },
  );
}

/** `host:port` or `tcp:host:port` (IPv6 hosts in brackets), as in `DENO_SERVE_ADDRESS`. */
export function serveAddress(): ValueSchema<{ host: string; port: number }> {
  return described(
    reader((value) => {
      const s = scalarText(value);
      const expected = "expected host:port or tcp:host:port (such as tcp:0.0.0.0:8080)";
      if (s === undefined) return { expected };
      const body = s.startsWith("tcp:") ? s.slice(4) : s;
      const match = /^(\[[0-9a-f:.]+\]|[^:\s[\]]+):(\d{1,5})$/i.exec(body);
      if (!match?.[1] || !match[2]) return { expected };
      const port = Number(match[2]);
      if (port > 65535) return { expected };
      return { ok: { host: match[1].replace(/^\[|\]$/g, ""), port } };
    }),
    { type: "string" },
  );
}

/** Runs a schema; returns the output or the first issue's message. */
export function readValue<T>(
  schema: ValueSchema<T>,
  value: unknown,
): { ok: true; value: T } | { ok: false; message: string } {
  const result = v.safeParse(schema, value);
  if (result.success) return { ok: true, value: result.output };
  return { ok: false, message: result.issues[0]?.message ?? "invalid value" };
}
