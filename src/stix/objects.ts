/**
 * Builders of the STIX 2.1 objects the import connectors share (author identity, observables,
 * attack patterns, sightings, relationships, the bundle), with the platform's deterministic ids.
 * `marked` is the `created_by_ref` / `object_marking_refs` pair each connector puts on its objects.
 *
 * @module
 */
import {
  attackPatternId,
  identityId,
  observableId,
  relationshipId,
  sightingId,
  userAccountId,
} from "./ids.ts";
import type { StixBundle, StixObject } from "./types.ts";

/** The `created_by_ref` and `object_marking_refs` of an object. */
export type Marked = Record<string, unknown>;

/** An organization identity (a connector's author) with its description. */
export async function organizationIdentity(
  name: string,
  created: string,
  description: string,
): Promise<StixObject> {
  return {
    type: "identity",
    spec_version: "2.1",
    id: await identityId({ name, identity_class: "organization" }),
    created,
    modified: created,
    name,
    identity_class: "organization",
    description,
  };
}

/** A relationship `source --type--> target`, created at `now`. */
export async function relationshipObject(
  type: string,
  source: string,
  target: string,
  now: string,
  marked: Marked,
): Promise<StixObject> {
  return {
    type: "relationship",
    spec_version: "2.1",
    id: await relationshipId({ relationship_type: type, source_ref: source, target_ref: target }),
    created: now,
    modified: now,
    relationship_type: type,
    source_ref: source,
    target_ref: target,
    ...marked,
  };
}

/** An observable identified by its `value` (IP, hostname, URL, domain, e-mail). */
export async function valueObservable(
  type: "ipv4-addr" | "ipv6-addr" | "url" | "domain-name" | "hostname" | "email-addr",
  value: string,
  marked: Marked,
  extra: Record<string, unknown> = {},
): Promise<StixObject> {
  return {
    type,
    spec_version: "2.1",
    id: await observableId(type, value),
    value,
    ...extra,
    ...marked,
  };
}

/** A user account identified by its login. */
export async function userAccountObject(
  login: string,
  marked: Marked,
  extra: Record<string, unknown> = {},
): Promise<StixObject> {
  return {
    type: "user-account",
    spec_version: "2.1",
    id: await userAccountId({ account_login: login }),
    account_login: login,
    ...extra,
    ...marked,
  };
}

/** The attack pattern of a MITRE technique (unmarked, as the platform's own). */
export async function attackPatternObject(
  mitreId: string,
  name: string,
  now: string,
): Promise<StixObject> {
  return {
    type: "attack-pattern",
    spec_version: "2.1",
    id: await attackPatternId({ x_mitre_id: mitreId }),
    created: now,
    modified: now,
    name,
    x_mitre_id: mitreId,
  };
}

/** What a sighting is of, where, and when. */
export interface SightingFacts {
  /** The sighted object (an indicator's STIX id). */
  of: string;
  /** Where it was sighted (identity ids). */
  where: string[];
  /** First time seen (ISO). */
  firstSeen: string;
  /** Last time seen (ISO). */
  lastSeen: string;
}

/** A sighting counted once, created at `now`; `extra` goes before the marking. */
export async function sightingObject(
  facts: SightingFacts,
  now: string,
  marked: Marked,
  extra: Record<string, unknown> = {},
): Promise<StixObject> {
  return {
    type: "sighting",
    spec_version: "2.1",
    id: await sightingId({
      sighting_of_ref: facts.of,
      where_sighted_refs: facts.where,
      first_seen: facts.firstSeen,
      last_seen: facts.lastSeen,
    }),
    created: now,
    modified: now,
    sighting_of_ref: facts.of,
    where_sighted_refs: facts.where,
    first_seen: facts.firstSeen,
    last_seen: facts.lastSeen,
    count: 1,
    ...extra,
    ...marked,
  };
}

/** Options of {@linkcode markedBundle}. */
export interface MarkedBundleOptions {
  /** Makes the bundle id's UUID. @default crypto.randomUUID */
  uuid?: () => string;
  /** Of objects with the same id, keep the last copy (in the first's place). @default first */
  keepLast?: boolean;
}

/**
 * One bundle: the marking definition, the author, then the objects with duplicates (same id)
 * removed. Undefined when there is nothing but the author and marking to send.
 */
export function markedBundle(
  marking: StixObject,
  author: StixObject,
  objects: readonly StixObject[],
  options: MarkedBundleOptions = {},
): StixBundle | undefined {
  const byId = new Map<string, StixObject>();
  for (const object of objects) {
    if (options.keepLast || !byId.has(object.id)) byId.set(object.id, object);
  }
  byId.delete(author.id);
  byId.delete(marking.id);
  if (byId.size === 0) return undefined;
  const uuid = options.uuid ?? (() => crypto.randomUUID());
  return {
    type: "bundle",
    id: `bundle--${uuid()}`,
    objects: [{ ...marking }, author, ...byId.values()],
  };
}
