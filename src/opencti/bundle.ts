/**
 * Pushing STIX bundles with `stixBundlePush`, split into parts when they are large.
 *
 * Splitting rule (every part is a valid bundle whose references resolve):
 * 1. Marking definitions, identities used as `created_by_ref` (the author) and whatever those
 *    reference go into **every** part.
 * 2. Other objects that reference each other (an observable and the observable it points at,
 *    e.g. `email-message.from_ref`) form one group and always travel together.
 * 3. Relationships, sightings and containers (`report`, `grouping`, `note`, `opinion`,
 *    `observed-data`) go in the same part as the objects they reference, or in a later part.
 * 4. Groups are packed greedily in that order; a group larger than the limit on its own is sent
 *    alone (the platform accepts up to `app:max_payload_body_size`, 50 MB by default).
 * References to objects outside the bundle (already in OpenCTI) are left as they are.
 */
import * as v from "valibot";
import { HttpError } from "../runtime/errors.ts";
import type { StixBundle, StixObject } from "../stix/types.ts";
import { getLogger } from "../log.ts";
import { BundleRejectedError, OpenCtiGraphqlError } from "./errors.ts";
import type { OpenCtiClient } from "./graphql.ts";

/** The platform version from which `stixBundlePush` takes `work_id` (pycti sends it from 6.5.7). */
export const WORK_ID_SINCE = "6.5.7";

/** Options of {@linkcode BundlePusher}. */
export interface BundlePusherOptions {
  /** The registered connector's id. */
  connectorId: string;
  /** Largest serialised bundle sent in one push, in bytes (UTF-8). @default 5000000 */
  maxBytes?: number;
  /** Platform version from which `work_id` is sent. @default "6.5.7" */
  workIdSince?: string;
}

/** Options of one {@linkcode BundlePusher.pushBundle} call. */
export interface PushOptions {
  /** The work the bundle belongs to (from `workAdd`). @default none (the platform creates one per push) */
  workId?: string;
  /** Aborts the pushes. @default none */
  signal?: AbortSignal;
}

/** What a push did. */
export interface PushResult {
  /** Number of `stixBundlePush` calls made. */
  parts: number;
  /** Number of objects in the original bundle. */
  objects: number;
}

const PushSchema = v.object({ stixBundlePush: v.nullable(v.boolean()) });

const PUSH_WITH_WORK =
  `mutation StixBundlePush($connectorId: String!, $bundle: String!, $work_id: String) {
  stixBundlePush(connectorId: $connectorId, bundle: $bundle, work_id: $work_id)
}`;

const PUSH = `mutation StixBundlePush($connectorId: String!, $bundle: String!) {
  stixBundlePush(connectorId: $connectorId, bundle: $bundle)
}`;

/** Sends bundles to the platform for one connector. */
export class BundlePusher {
  readonly #client: OpenCtiClient;
  readonly #connectorId: string;
  readonly #maxBytes: number;
  readonly #workIdSince: string;
  readonly #logger = getLogger("opencti", "bundle");

  /** Binds the pusher to one connector. */
  constructor(client: OpenCtiClient, options: BundlePusherOptions) {
    this.#client = client;
    this.#connectorId = options.connectorId;
    this.#maxBytes = options.maxBytes ?? 5_000_000;
    this.#workIdSince = options.workIdSince ?? WORK_ID_SINCE;
  }

  /**
   * Pushes a bundle (split when larger than `maxBytes`); `true` from the platform means queued.
   * A part the platform refuses as too large (HTTP 413, `app:max_payload_body_size`) is split in
   * halves by the same reference-safe rule and sent again, down to parts that cannot be split.
   */
  async pushBundle(bundle: StixBundle, options: PushOptions = {}): Promise<PushResult> {
    if (bundle.objects.length === 0) return { parts: 0, objects: 0 };
    const parts = splitBundle(bundle, this.#maxBytes);
    let sent = 0;
    for (const [index, part] of parts.entries()) {
      sent += await this.#pushPart(part, options, { index, count: parts.length });
    }
    this.#logger.info("Pushed a bundle of {objects} objects in {parts} part(s)", {
      objects: bundle.objects.length,
      parts: sent,
      workId: options.workId,
    });
    return { parts: sent, objects: bundle.objects.length };
  }

  /** Sends one part; on HTTP 413 splits it in halves and sends those. Returns the pushes made. */
  async #pushPart(
    part: StixBundle,
    options: PushOptions,
    where: { index: number; count: number },
  ): Promise<number> {
    const withWork = options.workId !== undefined && this.#client.supports(this.#workIdSince);
    const variables: Record<string, unknown> = {
      connectorId: this.#connectorId,
      bundle: JSON.stringify(part),
    };
    if (withWork) variables["work_id"] = options.workId;
    let data;
    try {
      data = await this.#client.request(withWork ? PUSH_WITH_WORK : PUSH, PushSchema, {
        variables,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (error instanceof HttpError && error.status === 413) {
        const bytes = byteSize(part);
        const halves = splitBundle(part, Math.floor(bytes / 2));
        if (halves.length > 1) {
          this.#logger.warn(
            "OpenCTI refused a bundle part of {bytes} bytes as too large (HTTP 413); sending it in {halves} smaller parts",
            { bytes, halves: halves.length },
          );
          let sent = 0;
          for (const half of halves) sent += await this.#pushPart(half, options, where);
          return sent;
        }
      }
      throw rejection(error, where.index, where.count, part.objects.length) ?? error;
    }
    if (data.stixBundlePush !== true) {
      throw new BundleRejectedError(
        `OpenCTI did not queue bundle part ${
          where.index + 1
        }/${where.count}: stixBundlePush answered ${JSON.stringify(data.stixBundlePush)}`,
        "Not queued",
      );
    }
    return 1;
  }
}

function rejection(
  error: unknown,
  index: number,
  count: number,
  objects: number,
): BundleRejectedError | undefined {
  const where = `bundle part ${index + 1}/${count} (${objects} objects)`;
  if (error instanceof OpenCtiGraphqlError) {
    return new BundleRejectedError(
      `OpenCTI rejected ${where}: ${error.reason}${error.detail ? ` (${error.detail})` : ""}. ` +
        `Check that the connector is registered and the bundle is a STIX 2.1 bundle`,
      error.reason,
      error.detail,
      { cause: error },
    );
  }
  if (error instanceof HttpError && error.status === 413) {
    return new BundleRejectedError(
      `OpenCTI refused ${where} as too large (HTTP 413) and it cannot be split further: ` +
        `raise app:max_payload_body_size on the platform or lower the bundle size limit`,
      "Payload too large",
      undefined,
      { cause: error },
    );
  }
  return undefined;
}

const CONTAINER_TYPES = new Set([
  "relationship",
  "sighting",
  "report",
  "grouping",
  "note",
  "opinion",
  "observed-data",
]);

/** Every id an object references (`*_ref` and `*_refs` properties, at any depth). */
export function refsOf(object: StixObject): string[] {
  const out = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (typeof value !== "object" || value === null) return;
    for (const [key, item] of Object.entries(value)) {
      if (key.endsWith("_ref") && typeof item === "string") out.add(item);
      else if (key.endsWith("_refs") && Array.isArray(item)) {
        for (const ref of item) if (typeof ref === "string") out.add(ref);
      } else visit(item);
    }
  };
  visit(object);
  out.delete(object.id);
  return [...out];
}

const encoder = new TextEncoder();

function byteSize(value: unknown): number {
  return encoder.encode(JSON.stringify(value)).byteLength;
}

/** Splits a bundle into parts of at most `maxBytes` (when possible) following the module's rule. */
export function splitBundle(bundle: StixBundle, maxBytes: number): StixBundle[] {
  if (byteSize(bundle) <= maxBytes) return [bundle];
  const objects = bundle.objects;
  const byId = new Map<string, number>();
  objects.forEach((object, index) => byId.set(object.id, index));
  const refs = objects.map((object) => refsOf(object).filter((ref) => byId.has(ref)));

  // 1. shared objects: markings, authors, and their closure
  const shared = new Set<number>();
  const share = (index: number): void => {
    if (shared.has(index)) return;
    shared.add(index);
    for (const ref of refs[index] ?? []) share(byId.get(ref)!);
  };
  objects.forEach((object, index) => {
    if (object.type === "marking-definition") share(index);
    const author = object["created_by_ref"];
    if (typeof author === "string" && byId.has(author)) share(byId.get(author)!);
  });

  // 2. groups of plain objects linked by references (union-find)
  const parent = objects.map((_, index) => index);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  const plain = (i: number) => !shared.has(i) && !CONTAINER_TYPES.has(objects[i]!.type);
  objects.forEach((_, index) => {
    if (!plain(index)) return;
    for (const ref of refs[index] ?? []) {
      const target = byId.get(ref)!;
      if (plain(target)) parent[find(index)] = find(target);
    }
  });

  // 3. units: one per group of plain objects, one per relationship/sighting/container
  const unitOf = new Map<number, number>();
  const units: { members: number[]; deps: Set<number>; size: number }[] = [];
  objects.forEach((_, index) => {
    if (shared.has(index)) return;
    const key = plain(index) ? find(index) : index;
    let unit = unitOf.get(key);
    if (unit === undefined) {
      unit = units.length;
      units.push({ members: [], deps: new Set(), size: 0 });
      unitOf.set(key, unit);
    }
    unitOf.set(index, unit);
    units[unit]!.members.push(index);
    units[unit]!.size += byteSize(objects[index]) + 1;
  });
  units.forEach((unit, u) => {
    for (const member of unit.members) {
      for (const ref of refs[member] ?? []) {
        const target = unitOf.get(byId.get(ref)!);
        if (target !== undefined && target !== u) unit.deps.add(target);
      }
    }
  });

  // 4. order units so that each comes after its dependencies (original order otherwise)
  const order: number[] = [];
  const placed = new Set<number>();
  while (order.length < units.length) {
    let next = units.findIndex((unit, u) =>
      !placed.has(u) && [...unit.deps].every((dep) => placed.has(dep))
    );
    if (next < 0) next = units.findIndex((_, u) => !placed.has(u)); // a reference cycle
    placed.add(next);
    order.push(next);
  }

  // 5. greedy packing
  const sharedObjects = objects.filter((_, index) => shared.has(index));
  const base = byteSize({ type: "bundle", id: bundle.id, objects: sharedObjects });
  const parts: StixObject[][] = [];
  let current: number[] = [];
  let size = base;
  for (const u of order) {
    const unit = units[u]!;
    if (current.length > 0 && size + unit.size > maxBytes) {
      parts.push(current.map((i) => objects[i]!));
      current = [];
      size = base;
    }
    current.push(...unit.members);
    size += unit.size;
  }
  if (current.length > 0) parts.push(current.map((i) => objects[i]!));
  if (parts.length === 0) return [bundle];
  return parts.map((members, index) => ({
    type: "bundle",
    id: index === 0 ? bundle.id : `bundle--${crypto.randomUUID()}`,
    objects: [...sharedObjects, ...members.sort((a, b) => byId.get(a.id)! - byId.get(b.id)!)],
  }));
}
