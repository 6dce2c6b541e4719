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

/** True when every own enumerable value of `record` is a string (`Object.values` without the array). */
function allStrings(record: Record<string, unknown>): boolean {
  for (const key in record) {
    if (Object.hasOwn(record, key) && typeof record[key] !== "string") return false;
  }
  return true;
}

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
const strList: Reader<string[]> = (value) => {
  if (!Array.isArray(value)) return undefined;
  for (const item of value) if (typeof item !== "string") return undefined;
  return value as string[];
};
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
    if (raw === undefined || !allStrings(raw)) return undefined;
    hashes = raw as Record<string, string>;
  }
  if ((value === undefined || value === "") && hashes === undefined) return undefined;
  const out: ObservableValue = { type };
  if (value !== undefined && value !== "") out.value = value;
  if (hashes !== undefined) out.hashes = hashes;
  return out;
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/** Reads one candidate; undefined when absent, null or of the wrong shape. */
function readOne<T>(read: Reader<T>, candidate: unknown): T | undefined {
  return candidate === undefined || candidate === null ? undefined : read(candidate);
}

/**
 * First candidate that reads, in the order given: the OpenCTI extension, the observable extension,
 * then the top-level names. The callers load each candidate with a property name written out, so
 * every load site stays monomorphic (a shared helper doing `record[key]` was megamorphic).
 */
function first<T>(read: Reader<T>, a: unknown, b: unknown, c: unknown, d?: unknown): T | undefined {
  return readOne(read, a) ?? readOne(read, b) ?? readOne(read, c) ?? readOne(read, d);
}

/** Reads the OpenCTI properties of a STIX object (anything; non-objects give an empty result). */
export function readOpenCtiExtension(object: unknown): OpenCtiProperties {
  const top = asRecord(object) ?? EMPTY;
  const extensions = asRecord(top.extensions) ?? EMPTY;
  const o = asRecord(extensions[OPENCTI_EXTENSION_ID]) ?? EMPTY;
  const b = asRecord(extensions[OPENCTI_OBSERVABLE_EXTENSION_ID]) ?? EMPTY;

  const out: OpenCtiProperties = { invalidObservableValues: 0 };
  const id = first(str, o.id, b.id, top.x_opencti_id);
  if (id !== undefined) out.id = id;
  const entityType = first(str, o.type, b.type, top.x_opencti_type);
  if (entityType !== undefined) out.entityType = entityType;
  const scoreValue = first(score, o.score, b.score, top.x_opencti_score);
  if (scoreValue !== undefined) out.score = scoreValue;
  const detection = first(bool, o.detection, b.detection, top.x_opencti_detection);
  if (detection !== undefined) out.detection = detection;
  const mainObservableType = first(
    str,
    o.main_observable_type,
    b.main_observable_type,
    top.x_opencti_main_observable_type,
  );
  if (mainObservableType !== undefined) out.mainObservableType = mainObservableType;
  const createdAt = first(str, o.created_at, b.created_at, top.x_opencti_created_at);
  if (createdAt !== undefined) out.createdAt = createdAt;
  const updatedAt = first(str, o.updated_at, b.updated_at, top.x_opencti_updated_at);
  if (updatedAt !== undefined) out.updatedAt = updatedAt;
  const labels = first(strList, o.labels, b.labels, top.x_opencti_labels, top.labels);
  if (labels !== undefined) out.labels = labels;
  const isInferred = first(bool, o.is_inferred, b.is_inferred, top.x_opencti_is_inferred);
  if (isInferred !== undefined) out.isInferred = isInferred;
  const stixIds = first(strList, o.stix_ids, b.stix_ids, top.x_opencti_stix_ids);
  if (stixIds !== undefined) out.stixIds = stixIds;
  const createdByRefId = first(
    str,
    o.created_by_ref_id,
    b.created_by_ref_id,
    top.x_opencti_created_by_ref_id,
  );
  if (createdByRefId !== undefined) out.createdByRefId = createdByRefId;
  const creatorIds = first(strList, o.creator_ids, b.creator_ids, top.x_opencti_creator_ids);
  if (creatorIds !== undefined) out.creatorIds = creatorIds;
  const labelsIds = first(strList, o.labels_ids, b.labels_ids, top.x_opencti_labels_ids);
  if (labelsIds !== undefined) out.labelsIds = labelsIds;
  const workflowId = first(str, o.workflow_id, b.workflow_id, top.x_opencti_workflow_id);
  if (workflowId !== undefined) out.workflowId = workflowId;

  const rawValues = first(
    list,
    o.observable_values,
    b.observable_values,
    top.x_opencti_observable_values,
  );
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
