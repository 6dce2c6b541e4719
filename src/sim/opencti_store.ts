/**
 * The OpenCTI simulator's store: current STIX objects (with the OpenCTI extension) and the
 * history of live-stream events with Redis-style ids, as `reference/opencti.md` §3–§4 describe.
 */
import { type Now, systemNow } from "../runtime/clock.ts";
import type { StixObject } from "../stix/types.ts";

/** Id of the OpenCTI properties extension carried by every object in the stream. */
export const OPENCTI_EXTENSION = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

/** Internal id of the simulated admin user, used in `origin` and `creator_ids`. */
export const SIM_USER_ID = "88ec0c6a-13ce-5e39-b486-354fe4a7084f";

/** Names of live-stream data events. */
export type StreamEventName = "create" | "update" | "delete" | "merge";

/** One event of the live stream as the platform stores it. */
export interface StreamEvent {
  /** Redis-style `<ms>-<seq>`, strictly increasing. */
  id: string;
  /** The stored event type. */
  event: StreamEventName;
  /** The STIX object (after the change; before deletion for deletes), with the OpenCTI extension. */
  data: StixObject;
  /** Human text, e.g. ``creates a Indicator `1.2.3.4` ``. */
  message: string;
  /** Who caused it: `{ip, user_id, applicant_id, …}`, `{}` for system changes. */
  origin: Record<string, unknown>;
  /** Update/merge details: `patch`, `reverse_patch`, merge `sources`. */
  context?: Record<string, unknown>;
  /** For updates and merges: the object before the change (used to re-evaluate stream filters). */
  before?: StixObject;
}

/** Options of {@linkcode OpenCtiStore}. */
export interface OpenCtiStoreOptions {
  /** The clock for event ids and `created_at`/`updated_at`. @default Date.now */
  now?: Now;
  /** Generator of internal UUIDs (the extension's `id`). @default a deterministic counter-based UUID */
  uuid?: () => string;
  /** `origin` of events when a call gives none. @default {ip: "::ffff:127.0.0.1", user_id: SIM_USER_ID, applicant_id: SIM_USER_ID} */
  origin?: Record<string, unknown>;
}

/** Options of {@linkcode OpenCtiStore.upsert}. */
export interface UpsertOptions {
  /** The event's `origin`. @default the store's origin */
  origin?: Record<string, unknown>;
  /** Marks the object as inferred (`is_inferred: true`, only sent with `with-inferences`). @default false */
  inferred?: boolean;
}

/** Parses a Redis stream id `<ms>-<seq>` (or `<ms>`) into numbers; undefined when unreadable. */
export function parseEventId(id: string): [number, number] | undefined {
  const match = /^(\d+)(?:-(\d+))?$/.exec(id.trim());
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2] ?? "0")];
}

/** Compares two stream ids numerically on both parts (negative, zero or positive). */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = parseEventId(a) ?? [0, 0];
  const [bm, bs] = parseEventId(b) ?? [0, 0];
  return am !== bm ? am - bm : as - bs;
}

/** The in-memory platform: objects by standard id and the live-stream history. */
export class OpenCtiStore {
  readonly #now: Now;
  readonly #uuid: () => string;
  readonly #origin: Record<string, unknown>;
  readonly #objects = new Map<string, StixObject>();
  /** Any known id (extra STIX ids, internal id) → standard id. */
  readonly #aliases = new Map<string, string>();
  readonly #history: StreamEvent[] = [];
  readonly #listeners = new Set<(event: StreamEvent) => void>();
  #lastMs = 0;
  #lastSeq = -1;
  #uuidCounter = 0;

  /** Creates an empty store. */
  constructor(options: OpenCtiStoreOptions = {}) {
    this.#now = options.now ?? systemNow;
    this.#uuid = options.uuid ?? (() => counterUuid(++this.#uuidCounter));
    this.#origin = options.origin ??
      { ip: "::ffff:127.0.0.1", user_id: SIM_USER_ID, applicant_id: SIM_USER_ID };
  }

  /** The object with this standard id, extra STIX id or internal id. */
  get(id: string): StixObject | undefined {
    const standard = this.#objects.has(id) ? id : this.#aliases.get(id);
    return standard === undefined ? undefined : this.#objects.get(standard);
  }

  /** Current objects, optionally of one STIX type, in insertion order. */
  list(type?: string): StixObject[] {
    const all = [...this.#objects.values()];
    return type === undefined ? all : all.filter((object) => object.type === type);
  }

  /** Creates or updates an object, adds/refreshes its OpenCTI extension and emits the event. */
  upsert(
    object: StixObject,
    options: UpsertOptions = {},
  ): { event: StreamEvent; created: boolean } {
    const nowMs = this.#now();
    const nowIso = new Date(nowMs).toISOString();
    const existingId = this.#objects.has(object.id) ? object.id : this.#aliases.get(object.id);
    const previous = existingId === undefined ? undefined : this.#objects.get(existingId);
    const incoming = structuredClone(object);
    if (previous !== undefined && existingId !== undefined && existingId !== incoming.id) {
      addStixId(incoming, incoming.id);
      incoming.id = existingId;
    }
    const previousExt = previous === undefined ? undefined : extensionOf(previous);
    const stored = normalise(incoming, {
      internalId: typeof previousExt?.id === "string" ? previousExt.id : this.#uuid(),
      createdAt: typeof previousExt?.created_at === "string" ? previousExt.created_at : nowIso,
      updatedAt: nowIso,
      inferred: options.inferred ?? previousExt?.is_inferred === true,
      previousExt,
    });
    if (previous !== undefined && stored.modified === previous.modified && "modified" in stored) {
      stored.modified = nowIso;
    }
    this.#objects.set(stored.id, stored);
    this.#index(stored);
    const origin = options.origin ?? this.#origin;
    if (previous === undefined) {
      const event = this.#append({
        event: "create",
        data: structuredClone(stored),
        message: `creates a ${entityTypeOf(stored)} \`${displayName(stored)}\``,
        origin,
      });
      return { event, created: true };
    }
    const patch = jsonDiff(previous, stored);
    const reversePatch = jsonDiff(stored, previous);
    const event = this.#append({
      event: "update",
      data: structuredClone(stored),
      message: describePatch(patch),
      origin,
      context: { patch, reverse_patch: reversePatch },
      before: structuredClone(previous),
    });
    return { event, created: false };
  }

  /** Deletes an object (by any of its ids) and emits `delete`; undefined when unknown. */
  remove(id: string, options: { origin?: Record<string, unknown> } = {}): StreamEvent | undefined {
    const object = this.get(id);
    if (object === undefined) return undefined;
    this.#forget(object);
    return this.#append({
      event: "delete",
      data: structuredClone(object),
      message: `deletes a ${entityTypeOf(object)} \`${displayName(object)}\``,
      origin: options.origin ?? this.#origin,
    });
  }

  /** Merges `sourceIds` into `targetId` (sources removed, their ids kept as extra ids) and emits `merge`. */
  merge(
    targetId: string,
    sourceIds: readonly string[],
    options: { origin?: Record<string, unknown> } = {},
  ): StreamEvent | undefined {
    const target = this.get(targetId);
    if (target === undefined) return undefined;
    const sources = sourceIds.map((id) => this.get(id)).filter((o): o is StixObject =>
      o !== undefined && o.id !== target.id
    );
    const before = structuredClone(target);
    const after = structuredClone(target);
    for (const source of sources) {
      this.#forget(source);
      addStixId(after, source.id);
    }
    const ext = extensionOf(after);
    if (ext) ext.updated_at = new Date(this.#now()).toISOString();
    this.#objects.set(after.id, after);
    this.#index(after);
    return this.#append({
      event: "merge",
      data: structuredClone(after),
      message: `merges ${entityTypeOf(after)} ${
        sources.map((s) => `\`${displayName(s)}\``).join(", ")
      } in \`${displayName(after)}\``,
      origin: options.origin ?? this.#origin,
      context: {
        patch: jsonDiff(before, after),
        reverse_patch: jsonDiff(after, before),
        sources: structuredClone(sources),
      },
      before,
    });
  }

  /** The retained stream history, oldest first. */
  events(): readonly StreamEvent[] {
    return this.#history;
  }

  /** The first retained event strictly after `id`, or undefined when caught up. */
  eventAfter(id: string): StreamEvent | undefined {
    let low = 0;
    let high = this.#history.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const event = this.#history[mid];
      if (event !== undefined && compareEventIds(event.id, id) <= 0) low = mid + 1;
      else high = mid;
    }
    return this.#history[low];
  }

  /** The id of the newest event ever emitted (kept after trimming); undefined before the first. */
  lastEventId(): string | undefined {
    return this.#lastSeq < 0 ? undefined : `${this.#lastMs}-${this.#lastSeq}`;
  }

  /** The id of the oldest retained event. */
  firstEventId(): string | undefined {
    return this.#history[0]?.id;
  }

  /** Drops old history like Redis trimming: keeps the newest `keep` events, or those after `before`. Returns how many were dropped. */
  trim(options: { keep?: number; before?: string }): number {
    let drop = 0;
    if (options.keep !== undefined) drop = Math.max(0, this.#history.length - options.keep);
    if (options.before !== undefined) {
      const before = options.before;
      const index = this.#history.findIndex((e) => compareEventIds(e.id, before) >= 0);
      drop = Math.max(drop, index < 0 ? this.#history.length : index);
    }
    this.#history.splice(0, drop);
    return drop;
  }

  /** Calls `listener` after each new event; returns the unsubscribe function. */
  subscribe(listener: (event: StreamEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #append(fields: Omit<StreamEvent, "id">): StreamEvent {
    const ms = Math.max(Math.floor(this.#now()), this.#lastMs);
    this.#lastSeq = ms === this.#lastMs ? this.#lastSeq + 1 : 0;
    this.#lastMs = ms;
    const event: StreamEvent = { id: `${ms}-${this.#lastSeq}`, ...fields };
    this.#history.push(event);
    for (const listener of [...this.#listeners]) listener(event);
    return event;
  }

  #index(object: StixObject): void {
    const ext = extensionOf(object);
    if (typeof ext?.id === "string") this.#aliases.set(ext.id, object.id);
    const stixIds = ext?.stix_ids;
    if (Array.isArray(stixIds)) {
      for (const extra of stixIds) {
        if (typeof extra === "string") this.#aliases.set(extra, object.id);
      }
    }
  }

  #forget(object: StixObject): void {
    this.#objects.delete(object.id);
    for (const [alias, standard] of this.#aliases) {
      if (standard === object.id) this.#aliases.delete(alias);
    }
  }
}

/** The OpenCTI extension of an object, if present. */
export function extensionOf(object: StixObject): Record<string, unknown> | undefined {
  const extensions = object.extensions;
  if (!isRecord(extensions)) return undefined;
  const ext = extensions[OPENCTI_EXTENSION];
  return isRecord(ext) ? ext : undefined;
}

/** `updated_at` of an object in epoch ms (from its OpenCTI extension; 0 when absent). */
export function updatedAtMs(object: StixObject): number {
  const value = extensionOf(object)?.updated_at;
  const ms = typeof value === "string" ? Date.parse(value) : NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

/** The OpenCTI entity type of a STIX object (`Indicator`, `IPv4-Addr`, `StixFile`, …). */
export function entityTypeOf(object: StixObject): string {
  const ext = extensionOf(object);
  if (typeof ext?.type === "string") return ext.type;
  return defaultEntityType(object);
}

function defaultEntityType(object: StixObject): string {
  const special: Record<string, string> = {
    "file": "StixFile",
    "ipv4-addr": "IPv4-Addr",
    "ipv6-addr": "IPv6-Addr",
    "url": "Url",
    "relationship": "stix-core-relationship",
    "sighting": "stix-sighting-relationship",
    "marking-definition": "Marking-Definition",
  };
  const known = special[object.type];
  if (known !== undefined) return known;
  if (object.type === "identity") {
    return object.identity_class === "individual" ? "Individual" : "Organization";
  }
  return object.type.split("-").map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("-");
}

function displayName(object: StixObject): string {
  for (const key of ["name", "value", "pattern"]) {
    const value = object[key];
    if (typeof value === "string" && value !== "") return value;
  }
  return object.id;
}

interface NormaliseInput {
  internalId: string;
  createdAt: string;
  updatedAt: string;
  inferred: boolean;
  previousExt: Record<string, unknown> | undefined;
}

/** Moves top-level `x_opencti_*` properties into the extension and fills its fields. */
function normalise(object: StixObject, input: NormaliseInput): StixObject {
  const extensions = isRecord(object.extensions) ? { ...object.extensions } : {};
  const given = isRecord(extensions[OPENCTI_EXTENSION])
    ? { ...extensions[OPENCTI_EXTENSION] as Record<string, unknown> }
    : {};
  const topLevel: Record<string, unknown> = {};
  for (const key of Object.keys(object)) {
    if (key.startsWith("x_opencti_")) {
      topLevel[key.slice("x_opencti_".length)] = object[key];
      delete object[key];
    }
  }
  const stixIds = new Set<string>();
  for (const source of [input.previousExt?.stix_ids, given.stix_ids, topLevel.stix_ids]) {
    if (Array.isArray(source)) {
      for (const id of source) if (typeof id === "string" && id !== object.id) stixIds.add(id);
    }
  }
  const ext: Record<string, unknown> = {
    extension_type: "property-extension",
    ...given,
    id: input.internalId,
    type: typeof given.type === "string" ? given.type : defaultEntityType(object),
    created_at: input.createdAt,
    updated_at: input.updatedAt,
    is_inferred: input.inferred,
    creator_ids: Array.isArray(given.creator_ids) ? given.creator_ids : [SIM_USER_ID],
  };
  if (stixIds.size > 0) ext.stix_ids = [...stixIds];
  else delete ext.stix_ids;
  if (object.type === "indicator") {
    const pick = (key: string, fallback: unknown) =>
      topLevel[key] ?? given[key] ?? input.previousExt?.[key] ?? fallback;
    ext.score = pick("score", 50);
    ext.detection = pick("detection", false);
    const values = object.pattern_type === "stix" && typeof object.pattern === "string"
      ? observableValues(object.pattern)
      : [];
    const main = topLevel.main_observable_type ?? given.main_observable_type ??
      values[0]?.type ?? input.previousExt?.main_observable_type ?? "Unknown";
    ext.main_observable_type = main;
    if (values.length > 0) ext.observable_values = values;
    else delete ext.observable_values;
    delete ext.create_observables;
  }
  extensions[OPENCTI_EXTENSION] = ext;
  object.extensions = extensions;
  return object;
}

const OBSERVABLE_TYPES: Record<string, string> = {
  "ipv4-addr": "IPv4-Addr",
  "ipv6-addr": "IPv6-Addr",
  "domain-name": "Domain-Name",
  "hostname": "Hostname",
  "url": "Url",
  "email-addr": "Email-Addr",
  "file": "StixFile",
  "x509-certificate": "X509-Certificate",
};

/** The platform's `observable_values` for a STIX pattern (simple comparisons only). */
export function observableValues(pattern: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const comparison = /([a-z0-9-]+):([A-Za-z0-9_.'-]+)\s*=\s*'((?:[^'\\]|\\.)*)'/g;
  for (const match of pattern.matchAll(comparison)) {
    const [, stixType = "", property = "", raw = ""] = match;
    const type = OBSERVABLE_TYPES[stixType];
    if (type === undefined) continue;
    const value = raw.replace(/\\(.)/g, "$1");
    if (stixType === "file" || stixType === "x509-certificate") {
      const hash = /^hashes\.'?([^']+)'?$/.exec(property)?.[1];
      if (hash !== undefined) out.push({ type, hashes: { [hash]: value } });
      continue;
    }
    if (property === "value") out.push({ type, value });
  }
  return out;
}

/** A minimal RFC 6902 diff (objects recursed, arrays and scalars replaced). */
export function jsonDiff(before: unknown, after: unknown, path = ""): Record<string, unknown>[] {
  if (isRecord(before) && isRecord(after)) {
    const ops: Record<string, unknown>[] = [];
    for (const key of Object.keys(before)) {
      if (!(key in after)) ops.push({ op: "remove", path: `${path}/${escapePointer(key)}` });
    }
    for (const [key, value] of Object.entries(after)) {
      const child = `${path}/${escapePointer(key)}`;
      if (!(key in before)) ops.push({ op: "add", path: child, value });
      else ops.push(...jsonDiff(before[key], value, child));
    }
    return ops;
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  return [{ op: "replace", path, value: after }];
}

function describePatch(patch: Record<string, unknown>[]): string {
  const meaningful = patch.filter((op) =>
    typeof op.path === "string" && !/updated_at|\/modified$/.test(op.path)
  );
  if (meaningful.length === 0) return "updates the object";
  return meaningful.slice(0, 3).map((op) => {
    const field = String(op.path).split("/").pop() ?? "";
    const verb = op.op === "add" ? "adds" : op.op === "remove" ? "removes" : "replaces";
    return op.op === "remove"
      ? `${verb} \`${field}\``
      : `${verb} \`${JSON.stringify(op.value)}\` in \`${field}\``;
  }).join(" - ");
}

function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

function addStixId(object: StixObject, id: string): void {
  const extensions = isRecord(object.extensions) ? object.extensions : {};
  const ext = isRecord(extensions[OPENCTI_EXTENSION])
    ? extensions[OPENCTI_EXTENSION] as Record<string, unknown>
    : {};
  const ids = Array.isArray(ext.stix_ids) ? ext.stix_ids : [];
  if (!ids.includes(id)) ext.stix_ids = [...ids, id];
  extensions[OPENCTI_EXTENSION] = ext;
  object.extensions = extensions;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A deterministic, well-formed v4-shaped UUID from a counter (simulator only). */
function counterUuid(n: number): string {
  const hex = n.toString(16).padStart(12, "0").slice(-12);
  return `5b0f3a57-0000-4000-8000-${hex}`;
}
