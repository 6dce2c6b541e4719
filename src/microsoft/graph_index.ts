/**
 * What the Graph target knows Graph holds for our application, so that it writes without looking
 * each indicator up first (issue 14).
 *
 * Why this is safe (no duplicates, deletes that really delete, across restarts and replays):
 * - The index starts from a full paged listing of the collection. With the `OwnedBy` permission a
 *   `GET` lists only the records our application created ("an app sees and changes only the
 *   indicators it created", Graph beta "tiIndicator resource type"; reference §2.2), so the listing
 *   is exactly the set our writes can collide with. It is taken again at every process start,
 *   so a replay after a restart finds every record an earlier run left.
 * - Every write this process makes is applied to the index only when Graph confirmed it (a
 *   result with an `id`, a `resultInfo` code of success, a 2xx). A write whose outcome is unknown
 *   (timeout, 5xx, 429, a missing result, a record gone behind our back) marks its indicator
 *   _uncertain_: its next write looks it up with a strict `$filter` (`externalId eq '…'`, and the
 *   observable values for Defender ATP) before planning, exactly as without an index.
 * - Defender ATP records come back without `externalId` (lesson #3177): they are indexed by
 *   observable value as well, and matched as the value lookups match them.
 * - Above `limit` records the index is not kept (memory): the target looks every indicator up.
 *
 * @module
 */
import type { Existing } from "./graph_client.ts";
import { type KnownRecord, knownRecord } from "./graph_plan.ts";
import type { GraphProduct } from "./graph_product.ts";

/** The records of our application on Graph, by indicator and (for ownerless ones) by value. */
export class RecordIndex {
  readonly #product: GraphProduct;
  /** Graph id → the record and the indicator it belongs to (undefined: listed without one). */
  readonly #records = new Map<string, { owner: string | undefined; known: KnownRecord }>();
  /** Indicator STIX id → Graph ids. */
  readonly #byOwner = new Map<string, Set<string>>();
  /** Observable key → Graph ids of records without an owner (Defender ATP listings). */
  readonly #byKey = new Map<string, Set<string>>();
  /** Indicators whose records may differ from the index: look them up before writing. */
  readonly #uncertain = new Set<string>();

  /** An empty index for one product. */
  constructor(product: GraphProduct) {
    this.#product = product;
  }

  /** Records held. */
  get size(): number {
    return this.#records.size;
  }

  /** Indicators to look up before their next write. */
  get uncertain(): number {
    return this.#uncertain.size;
  }

  /** Adds a record as listed by Graph (owner = its `externalId`, when Graph gave one). */
  addListed(record: Existing): void {
    const owner = typeof record.externalId === "string" && record.externalId !== ""
      ? record.externalId
      : undefined;
    this.add(owner, knownRecord(record, record.id, this.#product));
  }

  /** Adds (or replaces) one record. */
  add(owner: string | undefined, known: KnownRecord): void {
    this.remove(known.id);
    this.#records.set(known.id, { owner, known });
    if (owner !== undefined) addTo(this.#byOwner, owner, known.id);
    else if (known.key !== undefined) addTo(this.#byKey, known.key, known.id);
  }

  /** Replaces a record after an update. */
  update(known: KnownRecord): void {
    const entry = this.#records.get(known.id);
    if (entry) entry.known = known;
  }

  /** Drops one record (deleted). */
  remove(id: string): void {
    const entry = this.#records.get(id);
    if (!entry) return;
    this.#records.delete(id);
    if (entry.owner !== undefined) removeFrom(this.#byOwner, entry.owner, id);
    else if (entry.known.key !== undefined) removeFrom(this.#byKey, entry.known.key, id);
  }

  /** Drops every record of an indicator (deleted by `externalId`) and its uncertainty. */
  forget(owner: string): void {
    for (const id of [...this.#byOwner.get(owner) ?? []]) this.remove(id);
    this.#uncertain.delete(owner);
  }

  /**
   * The records of an indicator: those carrying its id and, where the product lists records
   * without one, the ownerless records of its observables (`keys`).
   */
  recordsOf(owner: string, keys: readonly string[]): KnownRecord[] {
    const out: KnownRecord[] = [];
    for (const id of this.#byOwner.get(owner) ?? []) {
      const entry = this.#records.get(id);
      if (entry) out.push(entry.known);
    }
    if (this.#product.matchByValue) {
      for (const key of new Set(keys)) {
        for (const id of this.#byKey.get(key) ?? []) {
          const entry = this.#records.get(id);
          if (entry) out.push(entry.known);
        }
      }
    }
    return out;
  }

  /** The indicators of which this index holds a record that `other` does not hold. */
  *ownersMissingIn(other: RecordIndex): Generator<string> {
    for (const [owner, ids] of this.#byOwner) {
      for (const id of ids) {
        if (!other.#records.has(id)) {
          yield owner;
          break;
        }
      }
    }
  }

  /** True when the indicator must be looked up before its next write. */
  isUncertain(owner: string): boolean {
    return this.#uncertain.has(owner);
  }

  /** Marks an indicator whose write outcome is unknown. */
  markUncertain(owner: string): void {
    this.#uncertain.add(owner);
  }

  /**
   * Replaces what is known of an indicator by a fresh lookup: its records and the ownerless
   * records of its observables are dropped, the ones found added, and it is certain again.
   */
  replace(owner: string, keys: readonly string[], found: readonly KnownRecord[]): void {
    for (const known of this.recordsOf(owner, keys)) this.remove(known.id);
    for (const known of found) this.add(owner, known);
    this.#uncertain.delete(owner);
  }
}

function addTo(map: Map<string, Set<string>>, key: string, id: string): void {
  let set = map.get(key);
  if (!set) map.set(key, set = new Set());
  set.add(id);
}

function removeFrom(map: Map<string, Set<string>>, key: string, id: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(id);
  if (set.size === 0) map.delete(key);
}
