/**
 * Helpers of the OpenCTI simulator's GraphQL side: records, connections, `FilterGroup`
 * evaluation, references of objects and their import order, and the resolver error type.
 *
 * @module
 */
import type { StixObject } from "../stix/types.ts";
import { OBSERVABLE_EXTENSION } from "./opencti_graphql_schema.ts";

/** A GraphQL error raised by a resolver (rendered in the configured layout). */
export class SimGraphqlError extends Error {
  /** The error's name. */
  override name = "SimGraphqlError";
  /** Platform error name, e.g. `FunctionalError`. */
  readonly errorName: string;
  /** The specific reason. */
  readonly reason: string;
  /** Inner reason, if any. */
  readonly detail: string | undefined;

  /** Builds the error. */
  constructor(errorName: string, reason: string, detail?: string) {
    super(reason);
    this.errorName = errorName;
    this.reason = reason;
    this.detail = detail;
  }
}

/** True for a plain object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value as a record, or an empty one. */
export function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

/** The value when it is a string, else null. */
export function stringOrNull(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** The error of a filter key the simulator does not evaluate. */
export function unsupportedFilter(key: string): SimGraphqlError {
  return new SimGraphqlError(
    "UnsupportedError",
    "incorrect filter keys not existing in any schema definition",
    key,
  );
}

/** `{edges:[{node, cursor}], pageInfo}` of the first `first` items. */
export function connection(items: unknown[], first: unknown): Record<string, unknown> {
  const limit = typeof first === "number" && first >= 0 ? first : 500;
  const page = items.slice(0, limit);
  return {
    edges: page.map((node, index) => ({ node, cursor: btoa(String(index)) })),
    pageInfo: {
      startCursor: page.length ? btoa("0") : null,
      endCursor: page.length ? btoa(String(page.length - 1)) : null,
      hasNextPage: items.length > page.length,
      hasPreviousPage: false,
      globalCount: items.length,
    },
  };
}

/** Evaluates an OpenCTI `FilterGroup` against an item whose values per key come from `valuesOf`. */
export function matchesGroup(group: unknown, valuesOf: (key: string) => string[]): boolean {
  if (!isRecord(group)) return true;
  const mode = group.mode === "or" ? "or" : "and";
  const filters = Array.isArray(group.filters) ? group.filters : [];
  const groups = Array.isArray(group.filterGroups) ? group.filterGroups : [];
  const results = [
    ...filters.map((filter) => matchesFilter(filter, valuesOf)),
    ...groups.map((sub) => matchesGroup(sub, valuesOf)),
  ];
  if (results.length === 0) return true;
  return mode === "and" ? results.every(Boolean) : results.some(Boolean);
}

/** Evaluates one `Filter` of a `FilterGroup`. */
export function matchesFilter(filter: unknown, valuesOf: (key: string) => string[]): boolean {
  const f = asRecord(filter);
  const keys = Array.isArray(f.key) ? f.key.map(String) : [String(f.key)];
  const wanted = Array.isArray(f.values) ? f.values.map(String) : [String(f.values)];
  const operator = typeof f.operator === "string" ? f.operator : "eq";
  const mode = f.mode === "and" ? "and" : "or";
  const actual = keys.flatMap((key) => valuesOf(key));
  const test = (value: string): boolean => {
    switch (operator) {
      case "eq":
        return actual.includes(value);
      case "not_eq":
        return !actual.includes(value);
      case "starts_with":
        return actual.some((a) => a.startsWith(value));
      case "contains":
        return actual.some((a) => a.includes(value));
      default:
        throw new SimGraphqlError("UnsupportedError", `Unsupported filter operator: ${operator}`);
    }
  };
  if (operator === "nil") return actual.length === 0;
  if (operator === "not_nil") return actual.length > 0;
  return mode === "and" ? wanted.every(test) : wanted.some(test);
}

/** The external references an object carries (top level, or in the observable extension). */
export function referencesOf(object: StixObject): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const add = (list: unknown) => {
    if (Array.isArray(list)) { for (const item of list) if (isRecord(item)) out.push(item); }
  };
  add(object.external_references);
  add(object.x_opencti_external_references);
  const extensions = asRecord(object.extensions);
  add(asRecord(extensions[OBSERVABLE_EXTENSION]).external_references);
  return out;
}

/** Top-level `*_ref`/`*_refs` of an object rewritten through `map`. */
export function rewriteRefs(object: StixObject, map: (ref: string) => string): StixObject {
  const out: StixObject = { ...object };
  for (const [key, value] of Object.entries(object)) {
    if (key.endsWith("_ref") && typeof value === "string") out[key] = map(value);
    else if (key.endsWith("_refs") && Array.isArray(value)) {
      out[key] = value.map((ref) => typeof ref === "string" ? map(ref) : ref);
    }
  }
  return out;
}

/** Objects ordered so that each comes after the in-bundle objects it references. */
export function dependencyOrder(objects: StixObject[]): StixObject[] {
  const byId = new Map(objects.map((object) => [object.id, object]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: StixObject[] = [];
  const visit = (object: StixObject) => {
    if (done.has(object.id) || visiting.has(object.id)) return;
    visiting.add(object.id);
    for (const [key, value] of Object.entries(object)) {
      const refs = key.endsWith("_ref")
        ? [value]
        : key.endsWith("_refs") && Array.isArray(value)
        ? value
        : [];
      for (const ref of refs) {
        const target = typeof ref === "string" ? byId.get(ref) : undefined;
        if (target) visit(target);
      }
    }
    visiting.delete(object.id);
    done.add(object.id);
    out.push(object);
  };
  for (const object of objects) visit(object);
  return out;
}
