/**
 * Finds the OpenCTI indicators a Microsoft alert matched: by STIX id (what our targets write as
 * Graph `externalId`, Defender `externalID` and the Sentinel STIX object id), and by pattern (an
 * evidence value looked up as the pattern OpenCTI gives an indicator of that observable). One
 * resolver lives for one run and remembers its answers.
 *
 * @module
 */
import * as v from "valibot";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import type { FilterGroup } from "../opencti/lookup.ts";

const QUERY = `query IndicatorsByFilter($filters: FilterGroup, $first: Int) {
  stixDomainObjects(types: ["Indicator"], filters: $filters, first: $first) {
    edges { node { id standard_id entity_type } }
  }
}`;

const ResultSchema = v.object({
  stixDomainObjects: v.nullable(v.object({
    edges: v.array(v.object({
      node: v.object({ id: v.string(), standard_id: v.string(), entity_type: v.string() }),
    })),
  })),
});

function eq(key: string, value: string): FilterGroup {
  return {
    mode: "and",
    filterGroups: [],
    filters: [{ key: [key], values: [value], operator: "eq" }],
  };
}

/** Resolves alert candidates to OpenCTI indicator standard ids. */
export class IndicatorResolver {
  readonly #client: OpenCtiClient;
  readonly #cache = new Map<string, Promise<string[]>>();

  /** Builds a resolver over an OpenCTI client. */
  constructor(client: OpenCtiClient) {
    this.#client = client;
  }

  /** The standard id of the indicator with this STIX id (standard or former), if any. */
  async byStixId(stixId: string, signal?: AbortSignal): Promise<string | undefined> {
    return (await this.#find(eq("standard_id", stixId), signal))[0];
  }

  /** The standard ids of the indicators with exactly this pattern. */
  byPattern(pattern: string, signal?: AbortSignal): Promise<string[]> {
    return this.#find(eq("pattern", pattern), signal);
  }

  /** Forgets every answer (call at the start of a run). */
  clear(): void {
    this.#cache.clear();
  }

  #find(filters: FilterGroup, signal?: AbortSignal): Promise<string[]> {
    const key = JSON.stringify(filters);
    let pending = this.#cache.get(key);
    if (!pending) {
      pending = this.#client.request(QUERY, ResultSchema, {
        variables: { filters, first: 10 },
        ...(signal ? { signal } : {}),
      }).then((data) =>
        (data.stixDomainObjects?.edges ?? [])
          .filter((edge) => edge.node.entity_type === "Indicator")
          .map((edge) => edge.node.standard_id)
      );
      this.#cache.set(key, pending);
      pending.catch(() => this.#cache.delete(key));
    }
    return pending;
  }
}
