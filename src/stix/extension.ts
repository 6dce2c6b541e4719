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

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/** Where {@linkcode readOpenCtiExtension} looks, in order (the hot path reads every object). */
interface Sources {
  opencti: Readonly<Record<string, unknown>>;
  observable: Readonly<Record<string, unknown>>;
  top: Readonly<Record<string, unknown>>;
}

/** Reads one candidate; undefined when absent, null or of the wrong shape. */
function readOne<T>(read: Reader<T>, candidate: unknown): T | undefined {
  return candidate === undefined || candidate === null ? undefined : read(candidate);
}

/**
 * First value that reads, looking at the extensions then the top-level names (`topKey`, then
 * `topKey2` when given). Plain lookups: no array or string is made per field.
 */
function pick<T>(
  s: Sources,
  read: Reader<T>,
  key: string,
  topKey: string,
  topKey2?: string,
): T | undefined {
  return readOne(read, s.opencti[key]) ?? readOne(read, s.observable[key]) ??
    readOne(read, s.top[topKey]) ??
    (topKey2 === undefined ? undefined : readOne(read, s.top[topKey2]));
}

/** Reads the OpenCTI properties of a STIX object (anything; non-objects give an empty result). */
export function readOpenCtiExtension(object: unknown): OpenCtiProperties {
  const top = asRecord(object) ?? EMPTY;
  const extensions = asRecord(top.extensions) ?? EMPTY;
  const s: Sources = {
    opencti: asRecord(extensions[OPENCTI_EXTENSION_ID]) ?? EMPTY,
    observable: asRecord(extensions[OPENCTI_OBSERVABLE_EXTENSION_ID]) ?? EMPTY,
    top,
  };

  const out: OpenCtiProperties = { invalidObservableValues: 0 };
  const id = pick(s, str, "id", "x_opencti_id");
  if (id !== undefined) out.id = id;
  const entityType = pick(s, str, "type", "x_opencti_type");
  if (entityType !== undefined) out.entityType = entityType;
  const scoreValue = pick(s, score, "score", "x_opencti_score");
  if (scoreValue !== undefined) out.score = scoreValue;
  const detection = pick(s, bool, "detection", "x_opencti_detection");
  if (detection !== undefined) out.detection = detection;
  const mainObservableType = pick(s, str, "main_observable_type", "x_opencti_main_observable_type");
  if (mainObservableType !== undefined) out.mainObservableType = mainObservableType;
  const createdAt = pick(s, str, "created_at", "x_opencti_created_at");
  if (createdAt !== undefined) out.createdAt = createdAt;
  const updatedAt = pick(s, str, "updated_at", "x_opencti_updated_at");
  if (updatedAt !== undefined) out.updatedAt = updatedAt;
  const labels = pick(s, strList, "labels", "x_opencti_labels", "labels");
  if (labels !== undefined) out.labels = labels;
  const isInferred = pick(s, bool, "is_inferred", "x_opencti_is_inferred");
  if (isInferred !== undefined) out.isInferred = isInferred;
  const stixIds = pick(s, strList, "stix_ids", "x_opencti_stix_ids");
  if (stixIds !== undefined) out.stixIds = stixIds;
  const createdByRefId = pick(s, str, "created_by_ref_id", "x_opencti_created_by_ref_id");
  if (createdByRefId !== undefined) out.createdByRefId = createdByRefId;
  const creatorIds = pick(s, strList, "creator_ids", "x_opencti_creator_ids");
  if (creatorIds !== undefined) out.creatorIds = creatorIds;
  const labelsIds = pick(s, strList, "labels_ids", "x_opencti_labels_ids");
  if (labelsIds !== undefined) out.labelsIds = labelsIds;
  const workflowId = pick(s, str, "workflow_id", "x_opencti_workflow_id");
  if (workflowId !== undefined) out.workflowId = workflowId;

  const rawValues = pick(s, list, "observable_values", "x_opencti_observable_values");
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
