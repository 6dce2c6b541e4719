/**
 * Reading the OpenCTI properties of a STIX object from the live stream: the OpenCTI extension
 * (`extension-definition--ea279b3e-…`), then the observable extension, then top-level
 * `x_opencti_*` (the order pycti applies). Each field is parsed on its own: a missing or malformed
 * field is absent in the result and never spoils the others.
 *
 * @module
 */

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

/** Readers of one field value: the parsed value, or undefined when it has the wrong shape. */
type Reader<T> = (value: unknown) => T | undefined;

const str: Reader<string> = (value) =>
  typeof value === "string" && value.length > 0 ? value : undefined;
const strList: Reader<string[]> = (value) =>
  Array.isArray(value) && value.every((item) => typeof item === "string")
    ? value as string[]
    : undefined;
const NUMERIC = /^\s*\d+(?:\.\d+)?\s*$/;
const score: Reader<number> = (value) => {
  const n = typeof value === "number"
    ? value
    : typeof value === "string" && NUMERIC.test(value)
    ? Number(value)
    : NaN;
  return n >= 0 && n <= 100 ? n : undefined;
};
const bool: Reader<boolean> = (value) => {
  if (typeof value === "boolean") return value;
  if (value === "true" || value === "True") return true;
  if (value === "false" || value === "False") return false;
  return undefined;
};
const list: Reader<unknown[]> = (value) => Array.isArray(value) ? value : undefined;

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/** One `observable_values` entry: a non-empty `type`, and a non-empty `value` or string `hashes`. */
function observableValue(entry: unknown): ObservableValue | undefined {
  const record = asRecord(entry);
  const type = str(record?.type);
  if (record === undefined || type === undefined) return undefined;
  const value = record.value;
  if (value !== undefined && typeof value !== "string") return undefined;
  let hashes: Record<string, string> | undefined;
  if (record.hashes !== undefined) {
    const raw = asRecord(record.hashes);
    if (raw === undefined || !Object.values(raw).every((h) => typeof h === "string")) {
      return undefined;
    }
    hashes = raw as Record<string, string>;
  }
  if ((value === undefined || value === "") && hashes === undefined) return undefined;
  const out: ObservableValue = { type };
  if (value !== undefined && value !== "") out.value = value;
  if (hashes !== undefined) out.hashes = hashes;
  return out;
}

/** Reads the OpenCTI properties of a STIX object (anything; non-objects give an empty result). */
export function readOpenCtiExtension(object: unknown): OpenCtiProperties {
  const top = asRecord(object) ?? {};
  const extensions = asRecord(top.extensions) ?? {};
  const opencti = asRecord(extensions[OPENCTI_EXTENSION_ID]) ?? {};
  const observable = asRecord(extensions[OPENCTI_OBSERVABLE_EXTENSION_ID]) ?? {};

  /** First value that reads, looking at the extensions then the top-level names. */
  function pick<T>(read: Reader<T>, key: string, topKeys?: readonly string[]): T | undefined {
    for (const candidate of [opencti[key], observable[key]]) {
      if (candidate === undefined || candidate === null) continue;
      const value = read(candidate);
      if (value !== undefined) return value;
    }
    for (const name of topKeys ?? [`x_opencti_${key}`]) {
      const candidate = top[name];
      if (candidate === undefined || candidate === null) continue;
      const value = read(candidate);
      if (value !== undefined) return value;
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
  set("id", pick(str, "id"));
  set("entityType", pick(str, "type"));
  set("score", pick(score, "score"));
  set("detection", pick(bool, "detection"));
  set("mainObservableType", pick(str, "main_observable_type"));
  set("createdAt", pick(str, "created_at"));
  set("updatedAt", pick(str, "updated_at"));
  set("labels", pick(strList, "labels", ["x_opencti_labels", "labels"]));
  set("isInferred", pick(bool, "is_inferred"));
  set("stixIds", pick(strList, "stix_ids"));
  set("createdByRefId", pick(str, "created_by_ref_id"));
  set("creatorIds", pick(strList, "creator_ids"));
  set("labelsIds", pick(strList, "labels_ids"));
  set("workflowId", pick(str, "workflow_id"));

  const rawValues = pick(list, "observable_values");
  if (rawValues !== undefined) {
    const values: ObservableValue[] = [];
    for (const entry of rawValues) {
      const value = observableValue(entry);
      if (value === undefined) out.invalidObservableValues++;
      else values.push(value);
    }
    out.observableValues = values;
  }
  return out;
}
