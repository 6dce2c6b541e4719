/**
 * The pure half of the Graph target: given the records an indicator should have and the records
 * Graph holds for it, what to create, update and delete. No I/O; the product's rules come from
 * its {@linkcode GraphProduct} strategy.
 *
 * Graph holds each known record as a {@linkcode KnownRecord}: its id, which observable it stands
 * for, its `action`, and one 53-bit hash per editable field (so an index of many records stays
 * small: a few hundred bytes each, not the whole record).
 *
 * @module
 */
import { observableKey, type TiIndicator } from "./graph_mapping.ts";
import type { GraphProduct } from "./graph_product.ts";

/** What the planner needs of one record Graph holds. */
export interface KnownRecord {
  /** Graph's id of the record. */
  id: string;
  /** Which observable it stands for (see {@linkcode observableKey}). */
  key: string | undefined;
  /** Its `action` (Defender ATP cannot change it in place). */
  action: string | undefined;
  /** One hash per editable field of the product, {@linkcode ABSENT} when the field is unset. */
  fields: Float64Array;
}

/** The hash of a field the record does not carry. */
export const ABSENT = -1;

/** What to do so that Graph holds exactly the wanted records. */
export interface GraphPlan {
  /** Records to create, with the indicator they belong to. */
  creates: { owner: string; record: TiIndicator }[];
  /** Records to update in place. */
  updates: { owner: string; record: TiIndicator; current: KnownRecord }[];
  /** Records to delete (leftovers, duplicates, and Defender ATP action changes). */
  deletes: { owner: string; recordId: string }[];
}

const DATE_FIELDS = new Set(["expirationDateTime", "lastReportedDateTime"]);

/** A record read back from Graph (or one we just wrote, with the id Graph gave it) as known. */
export function knownRecord(record: object, id: string, product: GraphProduct): KnownRecord {
  const values = record as Record<string, unknown>;
  const fields = new Float64Array(product.editable.length);
  product.editable.forEach((field, index) => {
    fields[index] = fieldHash(field, values[field]);
  });
  const action = values.action;
  return {
    id,
    key: observableKey(record),
    action: typeof action === "string" ? action : undefined,
    fields,
  };
}

/** `current` after an update to `record` succeeded: the fields sent replace the old ones. */
export function updatedRecord(
  current: KnownRecord,
  record: TiIndicator,
  product: GraphProduct,
): KnownRecord {
  const fields = current.fields.slice();
  product.editable.forEach((field, index) => {
    const value = (record as unknown as Record<string, unknown>)[field];
    if (value !== undefined) fields[index] = fieldHash(field, value);
  });
  return { ...current, fields };
}

/** True when a field the wanted record sets differs from what Graph holds. */
export function needsUpdate(record: TiIndicator, current: KnownRecord, product: GraphProduct) {
  const values = record as unknown as Record<string, unknown>;
  return product.editable.some((field, index) => {
    const want = values[field];
    return want !== undefined && fieldHash(field, want) !== current.fields[index];
  });
}

/**
 * Matches each wanted record to a held one by observable: unmatched wanted records are created,
 * matched ones updated when an editable field differs (or, where the product cannot change the
 * action in place, deleted and created again), and held records left over (observables no longer
 * in the pattern, duplicates left by an earlier crash) deleted. `held` returns undefined for an
 * indicator whose records could not be read: it is left out of the plan.
 */
export function planUpserts(
  wanted: ReadonlyMap<string, readonly TiIndicator[]>,
  held: (owner: string) => readonly KnownRecord[] | undefined,
  product: GraphProduct,
): GraphPlan {
  const plan: GraphPlan = { creates: [], updates: [], deletes: [] };
  for (const [owner, records] of wanted) {
    const known = held(owner);
    if (known === undefined) continue;
    const found = [...known];
    for (const record of records) {
      const key = observableKey(record);
      const index = found.findIndex((e) => e.key === key);
      if (index < 0) {
        plan.creates.push({ owner, record });
        continue;
      }
      const [current] = found.splice(index, 1) as [KnownRecord];
      if (
        product.recreateOnActionChange && current.action !== undefined &&
        current.action !== record.action
      ) {
        plan.deletes.push({ owner, recordId: current.id });
        plan.creates.push({ owner, record });
      } else if (needsUpdate(record, current, product)) {
        plan.updates.push({ owner, record, current });
      }
    }
    for (const leftover of found) plan.deletes.push({ owner, recordId: leftover.id });
  }
  return plan;
}

/** A field's value normalised (dates as epoch ms, arrays as sorted strings) and hashed. */
function fieldHash(field: string, value: unknown): number {
  if (value === undefined || value === null) return ABSENT;
  let text: string;
  if (DATE_FIELDS.has(field) && typeof value === "string" && !Number.isNaN(Date.parse(value))) {
    text = `@${Date.parse(value)}`;
  } else if (Array.isArray(value)) {
    text = JSON.stringify(value.map(String).sort());
  } else {
    text = JSON.stringify(value);
  }
  return hash53(text);
}

/** A 53-bit string hash (two 32-bit multiplicative lanes, as cyrb53): never negative. */
function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
