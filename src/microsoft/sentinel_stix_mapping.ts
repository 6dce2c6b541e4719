/**
 * Pure mapping for the Sentinel STIX objects upload API (reference `microsoft.md` §3): the STIX
 * indicator itself, minus OpenCTI's extensions, plus the configured labels; the ARM query body
 * used to find an uploaded indicator again; and the parsers of the upload API's answers.
 *
 * @module
 */
import * as v from "valibot";
import type { StixObject } from "../stix/types.ts";
import type { TargetIndicator } from "./target.ts";

/** Objects per upload request (reference §3.2). */
export const SENTINEL_MAX_OBJECTS = 100;

/** Upload requests per minute per calling identity (reference §3.2). */
export const SENTINEL_REQUESTS_PER_MINUTE = 100;

/** The `sourcesystem` value Microsoft reserves for itself (reference §3.1). */
export const RESERVED_SOURCE_SYSTEM = "Microsoft Sentinel";

/** Options of {@linkcode toSentinelObject}. */
export interface SentinelMappingOptions {
  /** Labels added to every uploaded indicator (they show as tags in Sentinel). @default [] */
  extraLabels?: readonly string[];
  /**
   * Send the indicator's `indicator_types` as they are. Off by default: changing
   * `indicator_types` through the upload API creates a second indicator row in Sentinel
   * (Azure/Azure-Sentinel #12538), so by default they are left out of the upload and merged into
   * `labels` instead, which Sentinel updates in place.
   * @default false
   */
  keepIndicatorTypes?: boolean;
  /** The time, in epoch ms, used to give a revoked indicator a fresh `modified`. @default Date.now() */
  now?: number;
}

/** The result of mapping one indicator: the object to upload, or why it cannot be sent. */
export type SentinelMapping =
  | { ok: true; object: StixObject }
  | { ok: false; reason: string };

const STIX_ID = /^[a-z0-9-]+--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Builds the STIX object uploaded for one indicator: `extensions` and every `x_opencti_*`
 * property removed, labels merged (stream labels, then `extraLabels`, no duplicates),
 * `indicator_types` kept stable (see {@linkcode SentinelMappingOptions.keepIndicatorTypes}),
 * required properties filled from the parsed indicator when the STIX object lacks them, and a
 * revoked indicator given a `modified` no older than now so that Sentinel retires it.
 */
export function toSentinelObject(
  item: TargetIndicator,
  options: SentinelMappingOptions = {},
): SentinelMapping {
  if (item.stix.type === "identity") return toSentinelIdentity(item);
  const { extraLabels = [], keepIndicatorTypes = false, now = Date.now() } = options;
  const object: StixObject = { id: item.id, type: "indicator" };
  for (const [key, value] of Object.entries(item.stix)) {
    if (key === "extensions" || key.startsWith("x_opencti_")) continue;
    if (value === undefined || value === null) continue;
    object[key] = value;
  }
  object.id = item.id;
  object.type = "indicator";
  object.spec_version = typeof object.spec_version === "string" ? object.spec_version : "2.1";
  if (!STIX_ID.test(item.id) || !item.id.startsWith("indicator--")) {
    return { ok: false, reason: `"${item.id}" is not a STIX indicator id` };
  }

  const labels = uniqueStrings([
    ...stringsOf(item.stix.labels),
    ...item.labels,
    ...(keepIndicatorTypes ? [] : stringsOf(item.stix.indicator_types)),
    ...extraLabels,
  ]);
  if (labels.length > 0) object.labels = labels;
  else delete object.labels;
  if (!keepIndicatorTypes) delete object.indicator_types;

  fillString(object, "name", item.name);
  fillString(object, "description", item.description);
  fillString(object, "created", item.created);
  fillString(object, "modified", item.modified ?? item.updatedAt ?? stringOf(object.created));
  fillString(object, "valid_from", item.validFrom ?? stringOf(object.created));
  fillString(object, "valid_until", item.validUntil);
  if (typeof item.stix.confidence !== "number" && item.confidence !== undefined) {
    object.confidence = item.confidence;
  }

  for (const field of ["created", "modified", "pattern", "pattern_type", "valid_from"] as const) {
    if (typeof object[field] !== "string" || object[field] === "") {
      return {
        ok: false,
        reason: `Indicator ${item.id} has no "${field}", which Sentinel requires`,
      };
    }
  }
  for (const field of ["created", "modified", "valid_from"] as const) {
    if (Number.isNaN(Date.parse(object[field] as string))) {
      return {
        ok: false,
        reason: `Indicator ${item.id} has an unreadable "${field}": ${String(object[field])}`,
      };
    }
  }

  if (object.revoked === true) {
    const modified = Date.parse(object.modified as string);
    if (modified < now) object.modified = new Date(now).toISOString();
  }
  return { ok: true, object };
}

/**
 * An author `identity` as uploaded (`SENTINEL_PUBLISH_IDENTITIES`): the STIX object minus
 * OpenCTI's extensions and `x_opencti_*` properties; `id`, `created`, `modified` and `name` are
 * required.
 */
export function toSentinelIdentity(item: TargetIndicator): SentinelMapping {
  const object: StixObject = { id: item.id, type: "identity" };
  for (const [key, value] of Object.entries(item.stix)) {
    if (key === "extensions" || key.startsWith("x_opencti_")) continue;
    if (value === undefined || value === null) continue;
    object[key] = value;
  }
  object.id = item.id;
  object.type = "identity";
  object.spec_version = typeof object.spec_version === "string" ? object.spec_version : "2.1";
  if (!STIX_ID.test(item.id) || !item.id.startsWith("identity--")) {
    return { ok: false, reason: `"${item.id}" is not a STIX identity id` };
  }
  for (const field of ["created", "modified", "name"] as const) {
    if (typeof object[field] !== "string" || object[field] === "") {
      return {
        ok: false,
        reason: `Identity ${item.id} has no "${field}", which Sentinel requires`,
      };
    }
  }
  return { ok: true, object };
}

/** The upload request body: `{"sourcesystem": …, "stixobjects": […]}`. */
export function uploadBody(sourceSystem: string, objects: StixObject[]): string {
  return JSON.stringify({ sourcesystem: sourceSystem, stixobjects: objects });
}

/** The ARM threat-intelligence query that finds one STIX object by exact id and source (lesson #6184). */
export function armQueryBody(stixId: string, source: string, stixObjectType = "indicator"): string {
  return JSON.stringify({
    condition: {
      stixObjectType,
      conditionConnective: "And",
      clauses: [
        { field: "id", operator: "Equals", values: [stixId] },
        { field: "source", operator: "Equals", values: [source] },
      ],
    },
  });
}

/** One rejected record of a 200 upload answer. */
export interface UploadRecordError {
  /** 0-based index into the request's `stixobjects`. */
  recordIndex: number;
  /** Microsoft's messages for it. */
  errorMessages: string[];
}

const UploadAnswer = v.object({
  errors: v.optional(
    v.array(
      v.object({
        recordIndex: v.pipe(v.number(), v.integer()),
        errorMessages: v.optional(v.array(v.string()), []),
      }),
    ),
    [],
  ),
});

/**
 * Reads the per-record errors of a 200 upload answer (empty body = all accepted). Returns
 * undefined when the body is not the documented shape.
 */
export function parseUploadErrors(text: string): UploadRecordError[] | undefined {
  if (text.trim() === "") return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = v.safeParse(UploadAnswer, json);
  return parsed.success ? parsed.output.errors : undefined;
}

const ArmQueryAnswer = v.object({
  value: v.array(v.looseObject({ id: v.string(), name: v.optional(v.string()) })),
  nextLink: v.optional(v.nullable(v.string())),
});

/** The ARM resource ids of a threat-intelligence query answer, or undefined when unreadable. */
export function parseArmQuery(
  text: string,
): { ids: string[]; nextLink?: string } | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = v.safeParse(ArmQueryAnswer, json);
  if (!parsed.success) return undefined;
  const ids = parsed.output.value.map((entry) => entry.id);
  return parsed.output.nextLink ? { ids, nextLink: parsed.output.nextLink } : { ids };
}

/**
 * The wait asked for by Sentinel's 429 message ("Rate limit is exceeded. Try again in 12
 * seconds."), in ms, or undefined when the text carries none.
 */
export function parseTryAgainMs(text: string): number | undefined {
  const match = /try again in (\d+(?:\.\d+)?) seconds?/i.exec(text);
  if (!match?.[1]) return undefined;
  return Math.round(Number(match[1]) * 1000);
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((x): x is string => typeof x === "string") : [];
}

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function uniqueStrings(values: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const value of values) {
    const trimmed = value.trim();
    if (trimmed === "" || seen.has(trimmed.toLowerCase())) continue;
    seen.add(trimmed.toLowerCase());
    out.push(trimmed);
  }
  return out;
}

function fillString(object: StixObject, key: string, value: string | undefined): void {
  if (typeof object[key] === "string" && object[key] !== "") return;
  if (value !== undefined && value !== "") object[key] = value;
}
