/**
 * Reading the OpenCTI properties of a STIX object from the live stream: the OpenCTI extension
 * (`extension-definition--ea279b3e-…`), then the observable extension, then top-level
 * `x_opencti_*` (the order pycti applies). Each field is parsed on its own: a missing or malformed
 * field is absent in the result and never spoils the others.
 *
 * @module
 */

import * as v from "valibot";

/** Id of the OpenCTI properties extension (on every object). */
export const OPENCTI_EXTENSION_ID = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";
/** Id of the OpenCTI observable properties extension (on SCOs). */
export const OPENCTI_OBSERVABLE_EXTENSION_ID =
  "extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82";

/** One `observable_values` entry: `{type: "IPv4-Addr", value}` or `{type: "StixFile", hashes}`. */
export interface ObservableValue {
  /** OpenCTI observable type (`IPv4-Addr`, `Domain-Name`, `StixFile`…). */
  type: string;
  /** The value, for value observables. */
  value?: string;
  /** Hashes keyed by algorithm as sent (`SHA-256` or `sha256`…), for files. */
  hashes?: Record<string, string>;
}

/** OpenCTI properties of a STIX object; every field is optional. */
export interface OpenCtiProperties {
  /** Platform internal id (UUID), not the STIX id. */
  id?: string;
  /** OpenCTI entity type, e.g. `Indicator`. */
  entityType?: string;
  /** Score 0–100. */
  score?: number;
  /** Indicator `detection` flag. */
  detection?: boolean;
  /** Indicator main observable type (`IPv4-Addr`, `StixFile`…). */
  mainObservableType?: string;
  /** Observables computed by the platform from the pattern (newer platforms). */
  observableValues?: ObservableValue[];
  /** Number of `observable_values` entries skipped because they were malformed. */
  invalidObservableValues: number;
  /** Creation date in the platform (ISO). */
  createdAt?: string;
  /** Last update in the platform (ISO). */
  updatedAt?: string;
  /** Label values (observable extension or top-level `labels`). */
  labels?: string[];
  /** Whether the object was inferred by a rule. */
  isInferred?: boolean;
  /** Other STIX ids known for the object. */
  stixIds?: string[];
  /** Internal id of the author. */
  createdByRefId?: string;
  /** Internal ids of the creators. */
  creatorIds?: string[];
  /** Internal ids of the labels. */
  labelsIds?: string[];
  /** Workflow status id. */
  workflowId?: string;
}

const Str = v.pipe(v.string(), v.minLength(1));
const StrList = v.array(v.string());
const Score = v.pipe(
  v.union([v.number(), v.pipe(v.string(), v.regex(/^\s*\d+(?:\.\d+)?\s*$/), v.transform(Number))]),
  v.number(),
  v.minValue(0),
  v.maxValue(100),
);
const Bool = v.union([
  v.boolean(),
  v.pipe(
    v.picklist(["true", "false", "True", "False"]),
    v.transform((s) => s.toLowerCase() === "true"),
  ),
]);
const ObservableValueSchema = v.pipe(
  v.looseObject({
    type: Str,
    value: v.optional(v.string()),
    hashes: v.optional(v.record(v.string(), v.string())),
  }),
  v.check((o) => (o.value !== undefined && o.value !== "") || o.hashes !== undefined),
);
const Record_ = v.record(v.string(), v.unknown());

function asRecord(value: unknown): Record<string, unknown> | undefined {
  const r = v.safeParse(Record_, value);
  return r.success ? r.output : undefined;
}

/** Reads the OpenCTI properties of a STIX object (anything; non-objects give an empty result). */
export function readOpenCtiExtension(object: unknown): OpenCtiProperties {
  const top = asRecord(object) ?? {};
  const extensions = asRecord(top.extensions) ?? {};
  const sources = [
    asRecord(extensions[OPENCTI_EXTENSION_ID]) ?? {},
    asRecord(extensions[OPENCTI_OBSERVABLE_EXTENSION_ID]) ?? {},
  ];

  /** First value that parses, looking at the extensions then the top-level names. */
  function pick<T>(
    schema: v.GenericSchema<unknown, T>,
    key: string,
    topKeys: readonly string[] = [`x_opencti_${key}`],
  ): T | undefined {
    const candidates = [...sources.map((s) => s[key]), ...topKeys.map((k) => top[k])];
    for (const c of candidates) {
      if (c === undefined || c === null) continue;
      const r = v.safeParse(schema, c);
      if (r.success) return r.output;
    }
    return undefined;
  }

  const out: OpenCtiProperties = { invalidObservableValues: 0 };
  const set = <K extends keyof OpenCtiProperties>(
    k: K,
    value: OpenCtiProperties[K] | undefined,
  ) => {
    if (value !== undefined) out[k] = value;
  };
  set("id", pick(Str, "id"));
  set("entityType", pick(Str, "type"));
  set("score", pick(Score, "score"));
  set("detection", pick(Bool, "detection"));
  set("mainObservableType", pick(Str, "main_observable_type"));
  set("createdAt", pick(Str, "created_at"));
  set("updatedAt", pick(Str, "updated_at"));
  set("labels", pick(StrList, "labels", ["x_opencti_labels", "labels"]));
  set("isInferred", pick(Bool, "is_inferred"));
  set("stixIds", pick(StrList, "stix_ids"));
  set("createdByRefId", pick(Str, "created_by_ref_id"));
  set("creatorIds", pick(StrList, "creator_ids"));
  set("labelsIds", pick(StrList, "labels_ids"));
  set("workflowId", pick(Str, "workflow_id"));

  const rawValues = pick(v.array(v.unknown()), "observable_values");
  if (rawValues !== undefined) {
    const values: ObservableValue[] = [];
    for (const entry of rawValues) {
      const r = v.safeParse(ObservableValueSchema, entry);
      if (!r.success) {
        out.invalidObservableValues++;
        continue;
      }
      const ov: ObservableValue = { type: r.output.type };
      if (r.output.value !== undefined && r.output.value !== "") ov.value = r.output.value;
      if (r.output.hashes !== undefined) ov.hashes = r.output.hashes;
      values.push(ov);
    }
    out.observableValues = values;
  }
  return out;
}
