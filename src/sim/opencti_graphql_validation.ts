/**
 * Validation of operations against the simulator's schema, as a GraphQL server does before
 * executing: unknown fields and arguments (per version), missing required arguments, undefined
 * variables, leaf and object selections, fragments that can never apply, and input objects.
 *
 * @module
 */
import type { FieldNode, OperationNode } from "./opencti_graphql_parser.ts";
import { type FieldDef, type Gate, IMPLEMENTS, INPUTS, SCHEMA } from "./opencti_graphql_schema.ts";
import { asRecord, isRecord } from "./opencti_graphql_util.ts";

/** A request refused before execution (HTTP 400, `GRAPHQL_VALIDATION_FAILED`/`BAD_USER_INPUT`). */
export class ValidationError extends Error {
  /** The error's name. */
  override name = "ValidationError";
  readonly code: string;
  constructor(message: string, code = "GRAPHQL_VALIDATION_FAILED") {
    super(message);
    this.code = code;
  }
}

/** The GraphQL types an object is (its concrete type first, then its interfaces). */
export function runtimeTypes(value: unknown, declared: string): string[] {
  const types = asRecord(value).__types;
  return Array.isArray(types) ? types.map(String) : [declared];
}

/** True when a fragment on `on` may appear where `parent` is selected (same type or related). */
export function canSpread(parent: string, on: string): boolean {
  if (parent === on) return true;
  return (IMPLEMENTS[on]?.includes(parent) ?? false) || (IMPLEMENTS[parent]?.includes(on) ?? false);
}

/** Two answers for the same key (a field selected plainly and in a fragment): merged. */
export function mergeSelections(a: unknown, b: unknown): unknown {
  if (Array.isArray(a) && Array.isArray(b)) return a.map((item, i) => mergeSelections(item, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [key, value] of Object.entries(b)) {
      out[key] = Object.hasOwn(out, key) ? mergeSelections(out[key], value) : value;
    }
    return out;
  }
  return b ?? a;
}

/** A field's definition on the version `has` describes (before 6.0, label and marking lists are connections). */
export function fieldDef(
  type: string,
  name: string,
  has: (gate: Gate) => boolean,
): FieldDef | undefined {
  const def = SCHEMA[type]?.[name];
  if (def && !has("listRefs") && (name === "objectLabel" || name === "objectMarking")) {
    return {
      ...def,
      type: name === "objectLabel" ? "LabelConnection" : "MarkingDefinitionConnection",
    };
  }
  return def;
}

/** Throws {@linkcode ValidationError} when the operation does not fit the schema of this version. */
export function validateOperation(operation: OperationNode, has: (gate: Gate) => boolean): void {
  const rootType = operation.type === "mutation" ? "Mutation" : "Query";
  const visit = (parentType: string, fields: FieldNode[]) => {
    for (const field of fields) {
      const type = field.on ?? parentType;
      if (field.on !== undefined) {
        if (!SCHEMA[field.on]) throw new ValidationError(`Unknown type "${field.on}".`);
        if (!canSpread(parentType, field.on)) {
          throw new ValidationError(
            `Fragment cannot be spread here as objects of type "${parentType}" can never be of type "${field.on}".`,
          );
        }
      }
      if (field.name === "__typename") continue;
      const def = fieldDef(type, field.name, has);
      if (!def || (def.gate && !has(def.gate))) {
        throw new ValidationError(`Cannot query field "${field.name}" on type "${type}".`);
      }
      for (const arg of field.args.keys()) {
        const argDef = def.args?.[arg];
        if (!argDef || (argDef.gate && !has(argDef.gate))) {
          throw new ValidationError(
            `Unknown argument "${arg}" on field "${type}.${field.name}".`,
          );
        }
      }
      for (const [arg, argDef] of Object.entries(def.args ?? {})) {
        if (argDef.required && !field.args.has(arg)) {
          throw new ValidationError(
            `Field "${field.name}" argument "${arg}" is required, but it was not provided.`,
          );
        }
      }
      for (const value of field.args.values()) {
        if (value.kind === "variable" && !operation.variables.has(value.name)) {
          throw new ValidationError(`Variable "$${value.name}" is not defined.`);
        }
      }
      if (def.type && !field.selections) {
        throw new ValidationError(
          `Field "${field.name}" of type "${def.type}" must have a selection of subfields.`,
        );
      }
      if (!def.type && field.selections) {
        throw new ValidationError(
          `Field "${field.name}" must not have a selection since its type has no subfields.`,
        );
      }
      if (def.type && field.selections) visit(def.type, field.selections);
    }
  };
  visit(rootType, operation.selections);
}

/** Throws {@linkcode ValidationError} when a variable does not fit its input type on this version. */
export function checkInput(
  typeName: string,
  value: unknown,
  variable: string,
  has: (gate: Gate) => boolean,
): void {
  if (value === null || value === undefined) return;
  const def = INPUTS[typeName];
  if (!def) return;
  const items = Array.isArray(value) ? value : [value];
  for (const item of items) {
    if (!isRecord(item)) {
      throw new ValidationError(
        `Variable "${variable}" got invalid value ${
          JSON.stringify(item)
        }; Expected type "${typeName}" to be an object.`,
        "BAD_USER_INPUT",
      );
    }
    for (const key of Object.keys(item)) {
      const field = def[key];
      if (!field || (field.gate && !has(field.gate))) {
        throw new ValidationError(
          `Variable "${variable}" got invalid value ${
            JSON.stringify(item)
          }; Field "${key}" is not defined by type "${typeName}".`,
          "BAD_USER_INPUT",
        );
      }
      if (field.input) checkInput(field.input, item[key], variable, has);
    }
    for (const [key, field] of Object.entries(def)) {
      if (field.required && (item[key] === undefined || item[key] === null)) {
        throw new ValidationError(
          `Variable "${variable}" got invalid value ${
            JSON.stringify(item)
          }; Field "${key}" of required type was not provided.`,
          "BAD_USER_INPUT",
        );
      }
    }
  }
}
