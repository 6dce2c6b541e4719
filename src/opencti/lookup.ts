/** Lookups the Tanium import needs: an external reference, then the entity that carries it. */
import * as v from "valibot";
import { getLogger } from "../log.ts";
import { FEATURES } from "./version.ts";
import type { OpenCtiClient } from "./graphql.ts";

/** One `Filter` of an OpenCTI `FilterGroup`. */
export interface Filter {
  /** Filter keys, e.g. `["external_id"]`. */
  key: string[];
  /** Values (several combine with `mode`). */
  values: unknown[];
  /** Comparison. */
  operator?: "eq" | "not_eq" | "starts_with" | "contains" | "nil" | "not_nil";
  /** How several values combine. */
  mode?: "and" | "or";
}

/** An OpenCTI `FilterGroup`. */
export interface FilterGroup {
  /** How filters and groups combine. */
  mode: "and" | "or";
  /** The filters. */
  filters: Filter[];
  /** Nested groups. */
  filterGroups: FilterGroup[];
}

/** An external reference as OpenCTI stores it. */
export interface ExternalReference {
  /** Internal id. */
  id: string;
  /** `external-reference--…` standard id. */
  standard_id: string;
  /** Source name, e.g. `Tanium Threat Response Intel`. */
  source_name: string | null;
  /** External id, e.g. the Tanium intel document id. */
  external_id: string | null;
  /** URL, if any. */
  url: string | null;
}

/** An entity found by its external reference. */
export interface EntityRef {
  /** Internal id. */
  id: string;
  /** STIX standard id, for refs in bundles. */
  standard_id: string;
  /** OpenCTI entity type, e.g. `Indicator`. */
  entity_type: string;
  /** The external reference that led to it. */
  reference: ExternalReference;
}

/** Options of the lookups. */
export interface LookupOptions {
  /** Accepted `source_name` values; empty = any source. @default [] */
  sourceNames?: readonly string[];
  /** Most references read in step 1. @default 10 */
  first?: number;
  /** Aborts the lookup. @default none */
  signal?: AbortSignal;
}

const ReferenceSchema = v.object({
  id: v.string(),
  standard_id: v.string(),
  source_name: v.nullish(v.string(), null),
  external_id: v.nullish(v.string(), null),
  url: v.nullish(v.string(), null),
});

const NodeSchema = v.object({ id: v.string(), standard_id: v.string(), entity_type: v.string() });

const ReferencesSchema = v.object({
  externalReferences: v.nullable(v.object({ edges: v.array(v.object({ node: ReferenceSchema })) })),
});
const DomainObjectsSchema = v.object({
  stixDomainObjects: v.nullable(v.object({ edges: v.array(v.object({ node: NodeSchema })) })),
});
const ObservablesSchema = v.object({
  stixCyberObservables: v.nullable(v.object({ edges: v.array(v.object({ node: NodeSchema })) })),
});

const REFERENCES = `query ExternalReferenceByExternalId($filters: FilterGroup, $first: Int) {
  externalReferences(filters: $filters, first: $first) {
    edges { node { id standard_id source_name external_id url } }
  }
}`;
const DOMAIN_OBJECTS = `query EntityByReference($filters: FilterGroup) {
  stixDomainObjects(filters: $filters, first: 1) { edges { node { id standard_id entity_type } } }
}`;
const OBSERVABLES = `query ObservableByReference($filters: FilterGroup) {
  stixCyberObservables(filters: $filters, first: 1) { edges { node { id standard_id entity_type } } }
}`;

/** The filter of step 1: `external_id` equal, and `source_name` one of the given names if any. */
export function referenceFilter(externalId: string, sourceNames: readonly string[]): FilterGroup {
  const filters: Filter[] = [{ key: ["external_id"], values: [externalId], operator: "eq" }];
  if (sourceNames.length > 0) {
    filters.push({ key: ["source_name"], values: [...sourceNames], operator: "eq", mode: "or" });
  }
  return { mode: "and", filters, filterGroups: [] };
}

const warned = new WeakSet<OpenCtiClient>();

/** False (with one warning per client) on platforms before 5.12, whose lists take no `FilterGroup`. */
function filterGroupsSupported(client: OpenCtiClient): boolean {
  if (client.supports(FEATURES.filterGroups)) return true;
  if (!warned.has(client)) {
    warned.add(client);
    getLogger("opencti", "lookup").warn(
      "OpenCTI {version} filters lists with the syntax older than 5.12, which this program does " +
        "not send: entities carrying external references are not looked up (Tanium sightings " +
        "of matched intel are not linked); upgrade OpenCTI to 5.12 or later for them",
      { version: client.version },
    );
  }
  return false;
}

/** External references whose `external_id` (and `source_name`, when given) match. */
export async function findExternalReferences(
  client: OpenCtiClient,
  externalId: string,
  options: LookupOptions = {},
): Promise<ExternalReference[]> {
  if (!filterGroupsSupported(client)) return [];
  const data = await client.request(REFERENCES, ReferencesSchema, {
    variables: {
      first: options.first ?? 10,
      filters: referenceFilter(externalId, options.sourceNames ?? []),
    },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return (data.externalReferences?.edges ?? []).map((edge) => edge.node);
}

/** The domain object (else observable) carrying a matching external reference; undefined if none. */
export async function findEntityByExternalId(
  client: OpenCtiClient,
  externalId: string,
  options: LookupOptions = {},
): Promise<EntityRef | undefined> {
  const references = await findExternalReferences(client, externalId, options);
  const signal = options.signal ? { signal: options.signal } : {};
  for (const reference of references) {
    const filters: FilterGroup = {
      mode: "and",
      filterGroups: [],
      filters: [{ key: ["externalReferences"], values: [reference.id] }],
    };
    const sdo = await client.request(DOMAIN_OBJECTS, DomainObjectsSchema, {
      variables: { filters },
      ...signal,
    });
    const found = sdo.stixDomainObjects?.edges[0]?.node;
    if (found) return { ...found, reference };
    const sco = await client.request(OBSERVABLES, ObservablesSchema, {
      variables: { filters },
      ...signal,
    });
    const observable = sco.stixCyberObservables?.edges[0]?.node;
    if (observable) return { ...observable, reference };
  }
  return undefined;
}
