/** Stream frames → what the target must do: upsert an indicator, remove one, or skip with a reason. */
import { type OpenCtiProperties, readOpenCtiExtension } from "../stix/extension.ts";
import { tlpOf } from "../stix/markings.ts";
import { normalizeHashAlgorithm } from "../stix/hashes.ts";
import { dedupe, observablesOf } from "../stix/pattern.ts";
import {
  type Observable,
  OBSERVABLE_TYPES,
  type ObservableType,
  type StixObject,
} from "../stix/types.ts";
import { isValidObservable } from "../stix/validate.ts";
import type { TargetIndicator, TargetRemoval } from "../microsoft/target.ts";

/** Stable reasons a frame is skipped (metric label values). */
export type SkipReason =
  | "malformed_event"
  | "unsupported_entity_type"
  | "unsupported_pattern_type"
  | "unreadable_pattern"
  | "invalid_value"
  | "unknown_event"
  | "event_type_filtered";

/** What one stream frame asks of the target. */
export type Intent =
  | { kind: "upsert"; indicator: TargetIndicator; dropped: { value: string; reason: string }[] }
  | {
    kind: "remove";
    removal: TargetRemoval;
    why: "deleted" | "revoked" | "expired" | "merged";
    /** For a revoked indicator: the indicator itself, for targets that re-send it revoked. */
    indicator?: TargetIndicator;
  }
  | { kind: "skip"; id?: string; reason: SkipReason; detail: string };

/** Observable types sent as raw observables (not indicators), as the upstream connector did. */
const RAW_OBSERVABLE_TYPES: ReadonlySet<string> = new Set(OBSERVABLE_TYPES);

function isStixShape(value: unknown): value is StixObject {
  return typeof value === "object" && value !== null &&
    typeof (value as StixObject).id === "string" && (value as StixObject).id !== "" &&
    typeof (value as StixObject).type === "string";
}

/** Options of {@linkcode intentsOf}. */
export interface IntentOptions {
  /** Current time in epoch ms, to remove indicators whose `valid_until` has passed. */
  now: number;
  /**
   * Stream events handled (`SENTINEL_EVENT_TYPES`); a `create`, `update` or `delete` not listed is
   * skipped as `event_type_filtered`, a `merge` counts as an `update`. @default all
   */
  eventTypes?: readonly string[];
  /** Turn `identity` creates and updates into upserts (`SENTINEL_PUBLISH_IDENTITIES`). @default false */
  publishIdentities?: boolean;
}

/**
 * Turns one data frame (`create`, `update`, `delete`, `merge`; `data` already JSON-parsed) into
 * intents. Branches on the SSE event name, never on `data.type` (an update that leaves the
 * stream's filter arrives as `delete`).
 */
export function intentsOf(event: string, data: unknown, options: IntentOptions): Intent[] {
  const envelope = typeof data === "object" && data !== null
    ? data as { data?: unknown; context?: { sources?: unknown } }
    : undefined;
  if (!envelope || !isStixShape(envelope.data)) {
    return [{
      kind: "skip",
      reason: "malformed_event",
      detail: "event data is not a STIX envelope: data needs a STIX object with an id and a type",
    }];
  }
  const object = envelope.data;
  const filtered = filteredEvent(event, options.eventTypes);
  if (filtered !== undefined) {
    return [{ kind: "skip", id: object.id, reason: "event_type_filtered", detail: filtered }];
  }
  if (options.publishIdentities && object.type === "identity" && event !== "delete") {
    return [identityUpsert(object)];
  }
  switch (event) {
    case "create":
    case "update":
      return [upsertOrRemove(object, options)];
    case "delete":
      return [removal(object, "deleted")];
    case "merge": {
      const listed = envelope.context?.sources;
      const sources = (Array.isArray(listed) ? listed : [])
        .filter(isStixShape)
        .filter((s) => isSynced(s.type))
        .map((s) => removal(s, "merged"));
      return [...sources, upsertOrRemove(object, options)];
    }
    default:
      return [{
        kind: "skip",
        id: object.id,
        reason: "unknown_event",
        detail: `unknown event "${event}"`,
      }];
  }
}

/** Why `SENTINEL_EVENT_TYPES` excludes this event, or undefined when it is handled. */
function filteredEvent(
  event: string,
  eventTypes: readonly string[] | undefined,
): string | undefined {
  if (eventTypes === undefined) return undefined;
  const kind = event === "merge" ? "update" : event;
  if (!["create", "update", "delete"].includes(kind) || eventTypes.includes(kind)) return undefined;
  return `${event} events are not handled (SENTINEL_EVENT_TYPES=${eventTypes.join(",")})`;
}

/** An author `identity` to publish as it is (the target maps it; no observables). */
function identityUpsert(object: StixObject): Intent {
  if (object.revoked === true) {
    return {
      kind: "skip",
      id: object.id,
      reason: "unsupported_entity_type",
      detail: "a revoked identity is not published",
    };
  }
  return { kind: "upsert", indicator: toTargetIndicator(object, []), dropped: [] };
}

function isSynced(type: string): boolean {
  return type === "indicator" || RAW_OBSERVABLE_TYPES.has(type);
}

function notSynced(object: StixObject): Intent {
  return {
    kind: "skip",
    id: object.id,
    reason: "unsupported_entity_type",
    detail: `entity type "${object.type}" is not synced`,
  };
}

function upsertOrRemove(object: StixObject, options: IntentOptions): Intent {
  if (!isSynced(object.type)) return notSynced(object);
  if (object.revoked === true) return removal(object, "revoked");
  const validUntil = typeof object.valid_until === "string" ? Date.parse(object.valid_until) : NaN;
  if (!Number.isNaN(validUntil) && validUntil <= options.now) return removal(object, "expired");

  const ext = readOpenCtiExtension(object);
  const found = object.type === "indicator"
    ? indicatorObservables(object, ext)
    : rawObservable(object);
  if ("reason" in found) return { kind: "skip", id: object.id, ...found };
  const dropped: { value: string; reason: string }[] = [];
  const observables = found.observables.filter((o) => {
    const problem = isValidObservable(o);
    if (problem) dropped.push({ value: o.value, reason: problem });
    return problem === undefined;
  });
  if (observables.length === 0) {
    return {
      kind: "skip",
      id: object.id,
      reason: "invalid_value",
      detail: dropped.map((d) => `${d.value}: ${d.reason}`).join("; ") || "no observable",
    };
  }
  return { kind: "upsert", indicator: toTargetIndicator(object, observables, ext), dropped };
}

function indicatorObservables(
  object: StixObject,
  extension: OpenCtiProperties,
): { observables: Observable[] } | { reason: SkipReason; detail: string } {
  const patternType = typeof object.pattern_type === "string"
    ? object.pattern_type.toLowerCase()
    : "stix";
  if (patternType !== "stix") {
    return {
      reason: "unsupported_pattern_type",
      detail: `pattern_type "${patternType}" is not a STIX pattern`,
    };
  }
  const result = observablesOf(object, { extension });
  if ("error" in result) return { reason: "unreadable_pattern", detail: result.error };
  return { observables: result.observables };
}

function rawObservable(
  object: StixObject,
): { observables: Observable[] } | { reason: SkipReason; detail: string } {
  if (object.type === "file") {
    const hashes = typeof object.hashes === "object" && object.hashes !== null
      ? object.hashes as Record<string, unknown>
      : {};
    const observables: Observable[] = [];
    for (const [key, value] of Object.entries(hashes)) {
      const hash = normalizeHashAlgorithm(key);
      if (hash && typeof value === "string") observables.push({ type: "file", value, hash });
    }
    if (observables.length === 0) {
      return { reason: "invalid_value", detail: "file has no MD5, SHA-1, SHA-256 or SHA-512 hash" };
    }
    return { observables: dedupe(observables) };
  }
  if (typeof object.value !== "string" || object.value === "") {
    return { reason: "invalid_value", detail: `${object.type} has no value` };
  }
  return { observables: [{ type: object.type as ObservableType, value: object.value }] };
}

function removal(object: StixObject, why: "deleted" | "revoked" | "expired" | "merged"): Intent {
  if (!isSynced(object.type)) return notSynced(object);
  const ext = readOpenCtiExtension(object);
  const found = object.type === "indicator"
    ? indicatorObservables(object, ext)
    : rawObservable(object);
  const removal: TargetRemoval = { id: object.id };
  if (!("observables" in found)) return { kind: "remove", removal, why };
  removal.observables = found.observables;
  return why === "revoked"
    ? { kind: "remove", removal, why, indicator: toTargetIndicator(object, found.observables, ext) }
    : { kind: "remove", removal, why };
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The `phase_name` of each well-formed kill chain phase. */
function phaseNames(phases: unknown): string[] {
  const names: string[] = [];
  if (!Array.isArray(phases)) return names;
  for (const phase of phases) {
    if (typeof phase !== "object" || phase === null) continue;
    const name = (phase as Record<string, unknown>).phase_name;
    if (typeof name === "string") names.push(name);
  }
  return names;
}

/** Builds the target-neutral view of an indicator or raw observable. */
export function toTargetIndicator(
  object: StixObject,
  observables: Observable[],
  ext: OpenCtiProperties = readOpenCtiExtension(object),
): TargetIndicator {
  const labels = Array.isArray(object.labels)
    ? object.labels.filter((l): l is string => typeof l === "string")
    : ext.labels ?? [];
  const indicator: TargetIndicator = {
    id: object.id,
    stix: object,
    observables,
    name: str(object.name) ?? observables[0]?.value ?? object.id,
    labels,
    killChainPhases: phaseNames(object.kill_chain_phases),
  };
  // Plain assignments in one order: every indicator gets the same few hidden classes (no object
  // per field and no dictionary-mode objects on the hot path).
  if (ext.id !== undefined) indicator.openctiId = ext.id;
  const description = str(object.description) ?? str(object.x_opencti_description);
  if (description !== undefined) indicator.description = description;
  if (ext.score !== undefined) indicator.score = ext.score;
  const confidence = num(object.confidence);
  if (confidence !== undefined) indicator.confidence = confidence;
  const tlp = Array.isArray(object.object_marking_refs)
    ? tlpOf(object.object_marking_refs.filter((m): m is string => typeof m === "string"))
    : undefined;
  if (tlp !== undefined) indicator.tlp = tlp;
  const validFrom = str(object.valid_from);
  if (validFrom !== undefined) indicator.validFrom = validFrom;
  const validUntil = str(object.valid_until);
  if (validUntil !== undefined) indicator.validUntil = validUntil;
  const created = str(object.created);
  if (created !== undefined) indicator.created = created;
  const modified = str(object.modified);
  if (modified !== undefined) indicator.modified = modified;
  if (ext.updatedAt !== undefined) indicator.updatedAt = ext.updatedAt;
  if (ext.detection !== undefined) indicator.detection = ext.detection;
  return indicator;
}
