/**
 * Compact key tables of the reconcile (issue 17): indicator id → 64-bit fingerprint (and, for what
 * a target lists, a record count) in typed arrays, so the desired and the listed set of 1,000,000
 * indicators take tens of MB, not the hundreds a `Map` of strings takes.
 *
 * An id of the form `<type>--<uuid>` (a STIX id) or a bare UUID (an OpenCTI internal id), in lower
 * case, is stored as its 128 bits plus a code for the prefix; a fingerprint of 16 lower-case hex
 * characters as two 32-bit words. Anything else (another id, another fingerprint) goes to a plain
 * `Map` beside the arrays, so the table is exact for every input: nothing is hashed away.
 * Open addressing with linear probing; the arrays grow by half at a load of 4/5 (so they hold
 * 32-49 bytes per id, 26 per slot; 28 with record counts; 34 with scores).
 *
 * @module
 */
import type { OwnedRecord, OwnedRecords } from "./target.ts";

const ID =
  /^(?:([a-z][a-z0-9-]*--))?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/;
const FINGERPRINT = /^[0-9a-f]{16}$/;
const EMPTY = 0;
const TOMBSTONE = 0xffff;
const MAX_PREFIXES = 0xfffe;
const MAX_COUNT = 0xffff;

/** One id parsed to words: prefix code and four 32-bit words. */
interface Words {
  prefix: number;
  w0: number;
  w1: number;
  w2: number;
  w3: number;
}

/** An entry kept outside the arrays (an id or a fingerprint of another form). */
interface Other {
  fingerprint: string;
  records: number;
  score: number;
}

/** What {@linkcode FingerprintTable.diff} finds between a desired and a listed table. */
export interface TableDiff {
  /** Desired, not held. */
  missing: string[];
  /** Held with another fingerprint (or no record). */
  stale: string[];
  /** Held, not desired. */
  orphans: string[];
  /** Desired and held with the same fingerprint. */
  unchanged: number;
}

/** Id → fingerprint, compact. Reads as a `ReadonlyMap<string, string>` (insertion order not kept). */
export class FingerprintTable implements ReadonlyMap<string, string> {
  #capacity: number;
  #keys: Uint32Array;
  #prefixOf: Uint16Array;
  #fp: Uint32Array;
  #counts: Uint16Array | undefined;
  #scores: Float64Array | undefined;
  #size = 0;
  #used = 0;
  readonly #prefixes: string[] = [];
  readonly #codes = new Map<string, number>();
  readonly #other = new Map<string, Other>();
  readonly #words: Words = { prefix: 0, w0: 0, w1: 0, w2: 0, w3: 0 };

  /**
   * An empty table.
   *
   * @param options.counted keep a record count per id (for what a target lists). @default false
   * @param options.scored keep a score per id (for a capped desired set, {@linkcode keepHighest}).
   * @default false
   * @param options.capacity initial number of slots. @default 1024
   */
  constructor(options: { counted?: boolean; scored?: boolean; capacity?: number } = {}) {
    this.#capacity = Math.max(16, Math.ceil(options.capacity ?? 1024));
    this.#keys = new Uint32Array(this.#capacity * 4);
    this.#prefixOf = new Uint16Array(this.#capacity);
    this.#fp = new Uint32Array(this.#capacity * 2);
    this.#counts = options.counted ? new Uint16Array(this.#capacity) : undefined;
    this.#scores = options.scored ? new Float64Array(this.#capacity) : undefined;
  }

  /** Number of ids held. */
  get size(): number {
    return this.#size + this.#other.size;
  }

  /** Bytes held by the arrays (the `Map` of other ids is not counted). */
  get arrayBytes(): number {
    return this.#keys.byteLength + this.#prefixOf.byteLength + this.#fp.byteLength +
      (this.#counts?.byteLength ?? 0) + (this.#scores?.byteLength ?? 0);
  }

  /** The fingerprint held for `id`. */
  get(id: string): string | undefined {
    const slot = this.#parse(id) ? this.#find() : -1;
    if (slot >= 0) return this.#fingerprintAt(slot);
    return this.#other.get(id)?.fingerprint;
  }

  /** True when `id` is held. */
  has(id: string): boolean {
    return (this.#parse(id) && this.#find() >= 0) || this.#other.has(id);
  }

  /** Records counted for `id` (0 when absent; saturates at 65,535 in the arrays). */
  records(id: string): number {
    const slot = this.#parse(id) ? this.#find() : -1;
    if (slot >= 0) return this.#counts?.[slot] ?? 1;
    const other = this.#other.get(id);
    return other === undefined ? 0 : other.records;
  }

  /**
   * Sets the fingerprint of `id` (its record count becomes 1) and, in a scored table, its score
   * (`-1`, below every score, when not given).
   */
  set(id: string, fingerprint: string, score = -1): this {
    this.#put(id, fingerprint, false, score);
    return this;
  }

  /** The score of `id` in a scored table (`-1` when it has none), undefined when absent. */
  score(id: string): number | undefined {
    const slot = this.#parse(id) ? this.#find() : -1;
    if (slot >= 0) return this.#scores?.[slot] ?? -1;
    return this.#other.get(id)?.score;
  }

  /**
   * Keeps the `capacity` ids of highest score (ties: the smaller id, in string order) and deletes
   * the others, without building a string per id; returns how many it deleted.
   */
  keepHighest(capacity: number): number {
    if (this.size <= capacity) return 0;
    const ranked: (number | string)[] = [];
    for (let slot = 0; slot < this.#capacity; slot++) {
      const code = this.#prefixOf[slot] ?? EMPTY;
      if (code !== EMPTY && code !== TOMBSTONE) ranked.push(slot);
    }
    for (const id of this.#other.keys()) ranked.push(id);
    const scores = this.#scores;
    const scoreOf = (x: number | string) =>
      typeof x === "number" ? (scores?.[x] ?? -1) : (this.#other.get(x)?.score ?? -1);
    const prefixOf = this.#prefixOf;
    const keys = this.#keys;
    const idOf = (x: number | string) => typeof x === "number" ? this.#idAt(x) : x;
    ranked.sort((a, b) => {
      const byScore = scoreOf(b) - scoreOf(a);
      if (byScore !== 0) return byScore;
      if (typeof a === "number" && typeof b === "number" && prefixOf[a] === prefixOf[b]) {
        // One prefix, fixed-width lower-case hex: string order is the words' order.
        for (let w = 0; w < 4; w++) {
          const x = keys[a * 4 + w] ?? 0;
          const y = keys[b * 4 + w] ?? 0;
          if (x !== y) return x < y ? -1 : 1;
        }
        return 0;
      }
      const x = idOf(a);
      const y = idOf(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    for (let i = capacity; i < ranked.length; i++) {
      const x = ranked[i] as number | string;
      if (typeof x === "string") {
        this.#other.delete(x);
      } else {
        this.#prefixOf[x] = TOMBSTONE;
        this.#size--;
      }
    }
    return ranked.length - capacity;
  }

  /**
   * Adds one record's fingerprint to `id`: the first sets it, the next ones are combined with
   * {@linkcode combineFingerprints} (order-free), and the record count grows.
   */
  add(id: string, fingerprint: string): this {
    this.#put(id, fingerprint, true, -1);
    return this;
  }

  /** Removes `id`; true when it was held. */
  delete(id: string): boolean {
    const slot = this.#parse(id) ? this.#find() : -1;
    if (slot < 0) return this.#other.delete(id);
    this.#prefixOf[slot] = TOMBSTONE;
    this.#size--;
    return true;
  }

  /** Removes everything (the arrays keep their size). */
  clear(): void {
    this.#prefixOf.fill(EMPTY);
    this.#size = 0;
    this.#used = 0;
    this.#other.clear();
  }

  /** Every `[id, fingerprint]`. */
  *entries(): MapIterator<[string, string]> {
    for (let slot = 0; slot < this.#capacity; slot++) {
      const code = this.#prefixOf[slot] ?? EMPTY;
      if (code !== EMPTY && code !== TOMBSTONE) {
        yield [this.#idAt(slot), this.#fingerprintAt(slot)];
      }
    }
    for (const [id, other] of this.#other) yield [id, other.fingerprint];
  }

  /** Every id. */
  *keys(): MapIterator<string> {
    for (const [id] of this.entries()) yield id;
  }

  /** Every fingerprint. */
  *values(): MapIterator<string> {
    for (const [, fingerprint] of this.entries()) yield fingerprint;
  }

  /** Every `[id, fingerprint]`. */
  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries();
  }

  /** Calls `callback` for each entry. */
  forEach(
    callback: (value: string, key: string, map: ReadonlyMap<string, string>) => void,
    thisArg?: unknown,
  ): void {
    for (const [id, fingerprint] of this.entries()) callback.call(thisArg, fingerprint, id, this);
  }

  /**
   * Compares `desired` with `held` (what a target listed, with record counts) as
   * {@linkcode planReconcile} compares a map with a listing, without building a string or an
   * object per id: ids and fingerprints held in the arrays are compared as words, and only the ids
   * that differ (and those held aside, of another form) become strings. Lists are unsorted.
   */
  static diff(desired: FingerprintTable, held: FingerprintTable): TableDiff {
    const out: TableDiff = { missing: [], stale: [], orphans: [], unchanged: 0 };
    const prefixIn = (from: FingerprintTable, to: FingerprintTable) =>
      from.#prefixes.map((text) => to.#codes.get(text) ?? EMPTY);
    const toHeld = prefixIn(desired, held);
    const toDesired = prefixIn(held, desired);
    const heldAside = held.#other.size > 0;
    const desiredAside = desired.#other.size > 0;
    /** What `held.get(id)` and `held.records(id)` answer, compared with `fingerprint`. */
    const compareAside = (id: string, fingerprint: string) => {
      const other = held.#other.get(id);
      if (other === undefined) out.missing.push(id);
      else if (other.fingerprint !== fingerprint || other.records < 1) out.stale.push(id);
      else out.unchanged++;
    };
    const keys = desired.#keys;
    const fp = desired.#fp;
    for (let slot = 0; slot < desired.#capacity; slot++) {
      const code = desired.#prefixOf[slot] ?? EMPTY;
      if (code === EMPTY || code === TOMBSTONE) continue;
      const found = held.#slotOfWordsAt(toHeld[code - 1] ?? EMPTY, keys, slot);
      if (found < 0) {
        // Not in the arrays: absent, or held aside (a fingerprint of another form).
        const id = desired.#idAt(slot);
        if (heldAside) compareAside(id, desired.#fingerprintAt(slot));
        else out.missing.push(id);
      } else if (
        held.#fp[found * 2] !== fp[slot * 2] || held.#fp[found * 2 + 1] !== fp[slot * 2 + 1] ||
        (held.#counts?.[found] ?? 1) < 1
      ) {
        out.stale.push(desired.#idAt(slot));
      } else {
        out.unchanged++;
      }
    }
    for (const [id, other] of desired.#other) {
      const fingerprint = held.get(id);
      if (fingerprint === undefined) out.missing.push(id);
      else if (fingerprint !== other.fingerprint || held.records(id) < 1) out.stale.push(id);
      else out.unchanged++;
    }
    const heldKeys = held.#keys;
    for (let slot = 0; slot < held.#capacity; slot++) {
      const code = held.#prefixOf[slot] ?? EMPTY;
      if (code === EMPTY || code === TOMBSTONE) continue;
      const found = desired.#slotOfWordsAt(toDesired[code - 1] ?? EMPTY, heldKeys, slot);
      if (found >= 0) continue;
      const id = held.#idAt(slot);
      if (!desiredAside || !desired.#other.has(id)) out.orphans.push(id);
    }
    for (const id of held.#other.keys()) if (!desired.has(id)) out.orphans.push(id);
    return out;
  }

  #put(id: string, fingerprint: string, combine: boolean, score: number): void {
    const compact = FINGERPRINT.test(fingerprint) && this.#parse(id);
    const slot = compact ? this.#find() : -1;
    if (slot >= 0) {
      if (this.#scores && !combine) this.#scores[slot] = score;
      const count = this.#counts;
      if (combine) {
        this.#setFingerprint(slot, combineFingerprints(this.#fingerprintAt(slot), fingerprint));
        if (count) count[slot] = Math.min(MAX_COUNT, (count[slot] ?? 0) + 1);
      } else {
        this.#setFingerprint(slot, fingerprint);
        if (count) count[slot] = 1;
      }
      return;
    }
    const other = this.#other.get(id);
    if (other) {
      // Held aside already: stays aside (an id is in one place only).
      other.fingerprint = combine
        ? combineFingerprints(other.fingerprint, fingerprint)
        : fingerprint;
      other.records = combine ? other.records + 1 : 1;
      if (!combine) other.score = score;
      return;
    }
    if (!compact) {
      if (this.#parse(id)) {
        const held = this.#find();
        if (held >= 0) {
          // A compact id given a fingerprint of another form: move it aside.
          const records = this.#counts?.[held] ?? 1;
          const before = this.#fingerprintAt(held);
          const scoreBefore = this.#scores?.[held] ?? -1;
          this.#prefixOf[held] = TOMBSTONE;
          this.#size--;
          this.#other.set(id, {
            fingerprint: combine ? combineFingerprints(before, fingerprint) : fingerprint,
            records: combine ? records + 1 : 1,
            score: combine ? scoreBefore : score,
          });
          return;
        }
      }
      this.#other.set(id, { fingerprint, records: 1, score });
      return;
    }
    this.#insert(fingerprint, score);
  }

  /** Inserts the parsed id (known absent) with this fingerprint. */
  #insert(fingerprint: string, score: number): void {
    if ((this.#used + 1) * 5 > this.#capacity * 4) {
      // Mostly live: grow by half; mostly tombstones: rebuild at the same size.
      this.#resize(
        this.#size * 2 >= this.#capacity ? Math.ceil(this.#capacity * 1.5) : this.#capacity,
      );
    }
    const { prefix, w0, w1, w2, w3 } = this.#words;
    const capacity = this.#capacity;
    let slot = slotOf(hashWords(prefix, w0, w1, w2, w3), capacity);
    for (;;) {
      const code = this.#prefixOf[slot] ?? EMPTY;
      if (code === EMPTY || code === TOMBSTONE) break;
      if (++slot === capacity) slot = 0;
    }
    if (this.#prefixOf[slot] === EMPTY) this.#used++;
    this.#prefixOf[slot] = prefix;
    this.#keys.set([w0, w1, w2, w3], slot * 4);
    this.#setFingerprint(slot, fingerprint);
    if (this.#counts) this.#counts[slot] = 1;
    if (this.#scores) this.#scores[slot] = score;
    this.#size++;
  }

  #resize(capacity: number): void {
    const keys = this.#keys;
    const prefixOf = this.#prefixOf;
    const fp = this.#fp;
    const counts = this.#counts;
    const scores = this.#scores;
    const old = this.#capacity;
    this.#capacity = capacity;
    this.#keys = new Uint32Array(capacity * 4);
    this.#prefixOf = new Uint16Array(capacity);
    this.#fp = new Uint32Array(capacity * 2);
    this.#counts = counts ? new Uint16Array(capacity) : undefined;
    this.#scores = scores ? new Float64Array(capacity) : undefined;
    this.#used = this.#size;
    for (let from = 0; from < old; from++) {
      const prefix = prefixOf[from] ?? EMPTY;
      if (prefix === EMPTY || prefix === TOMBSTONE) continue;
      const w = keys.subarray(from * 4, from * 4 + 4);
      let slot = slotOf(hashWords(prefix, w[0] ?? 0, w[1] ?? 0, w[2] ?? 0, w[3] ?? 0), capacity);
      while (this.#prefixOf[slot] !== EMPTY) if (++slot === capacity) slot = 0;
      this.#prefixOf[slot] = prefix;
      this.#keys.set(w, slot * 4);
      this.#fp[slot * 2] = fp[from * 2] ?? 0;
      this.#fp[slot * 2 + 1] = fp[from * 2 + 1] ?? 0;
      if (counts && this.#counts) this.#counts[slot] = counts[from] ?? 0;
      if (scores && this.#scores) this.#scores[slot] = scores[from] ?? -1;
    }
    // The old arrays are freed now rather than at the next collection: growing to 1,000,000 ids
    // leaves about twice the final size behind, which would otherwise count in the peak RSS.
    for (const old of [keys, prefixOf, fp, counts, scores]) release(old?.buffer);
  }

  /** The slot of the parsed id, or -1. */
  #find(): number {
    const { prefix, w0, w1, w2, w3 } = this.#words;
    return this.#slotOfWords(prefix, w0, w1, w2, w3);
  }

  /**
   * The slot here of the id at `slot` of another table, whose key words are `keys` and whose
   * prefix is `prefix` in this table's codes (EMPTY: a prefix this table lacks), or -1.
   */
  #slotOfWordsAt(prefix: number, keys: Uint32Array, slot: number): number {
    if (prefix === EMPTY) return -1;
    const at = slot * 4;
    return this.#slotOfWords(
      prefix,
      keys[at] ?? 0,
      keys[at + 1] ?? 0,
      keys[at + 2] ?? 0,
      keys[at + 3] ?? 0,
    );
  }

  /** The slot of the id with this prefix code (of this table) and these words, or -1. */
  #slotOfWords(prefix: number, w0: number, w1: number, w2: number, w3: number): number {
    const capacity = this.#capacity;
    const keys = this.#keys;
    let slot = slotOf(hashWords(prefix, w0, w1, w2, w3), capacity);
    for (;;) {
      const code = this.#prefixOf[slot] ?? EMPTY;
      if (code === EMPTY) return -1;
      const at = slot * 4;
      if (
        code === prefix && keys[at] === w0 && keys[at + 1] === w1 && keys[at + 2] === w2 &&
        keys[at + 3] === w3
      ) {
        return slot;
      }
      if (++slot === capacity) slot = 0;
    }
  }

  /** Parses `id` into {@linkcode #words}; false when it has another form. */
  #parse(id: string): boolean {
    const match = ID.exec(id);
    if (!match) return false;
    const prefixText = match[1] ?? "";
    let prefix = this.#codes.get(prefixText);
    if (prefix === undefined) {
      if (this.#prefixes.length >= MAX_PREFIXES) return false;
      this.#prefixes.push(prefixText);
      prefix = this.#prefixes.length;
      this.#codes.set(prefixText, prefix);
    }
    const words = this.#words;
    const p4 = match[4] ?? "";
    const p5 = match[5] ?? "";
    const p6 = match[6] ?? "";
    words.prefix = prefix;
    words.w0 = Number.parseInt(match[2] ?? "", 16) >>> 0;
    words.w1 = Number.parseInt(`${match[3] ?? ""}${p4}`, 16) >>> 0;
    words.w2 = Number.parseInt(`${p5}${p6.slice(0, 4)}`, 16) >>> 0;
    words.w3 = Number.parseInt(p6.slice(4), 16) >>> 0;
    return true;
  }

  #idAt(slot: number): string {
    const at = slot * 4;
    const w1 = hex8(this.#keys[at + 1] ?? 0);
    const w2 = hex8(this.#keys[at + 2] ?? 0);
    return `${this.#prefixes[(this.#prefixOf[slot] ?? 1) - 1] ?? ""}${hex8(this.#keys[at] ?? 0)}-${
      w1.slice(0, 4)
    }-${w1.slice(4)}-${w2.slice(0, 4)}-${w2.slice(4)}${hex8(this.#keys[at + 3] ?? 0)}`;
  }

  #fingerprintAt(slot: number): string {
    return hex8(this.#fp[slot * 2] ?? 0) + hex8(this.#fp[slot * 2 + 1] ?? 0);
  }

  #setFingerprint(slot: number, fingerprint: string): void {
    this.#fp[slot * 2] = Number.parseInt(fingerprint.slice(0, 8), 16) >>> 0;
    this.#fp[slot * 2 + 1] = Number.parseInt(fingerprint.slice(8, 16), 16) >>> 0;
  }
}

/**
 * Two fingerprints of record sets → the fingerprint of their union: each 32-bit half added modulo
 * 2^32 (order-free, so records of one indicator listed on different pages combine as they come).
 * A fingerprint of another form is combined as text (stable, order-dependent).
 */
export function combineFingerprints(a: string, b: string): string {
  if (!FINGERPRINT.test(a) || !FINGERPRINT.test(b)) return a <= b ? `${a}+${b}` : `${b}+${a}`;
  const hi = (Number.parseInt(a.slice(0, 8), 16) + Number.parseInt(b.slice(0, 8), 16)) >>> 0;
  const lo = (Number.parseInt(a.slice(8), 16) + Number.parseInt(b.slice(8), 16)) >>> 0;
  return hex8(hi) + hex8(lo);
}

/** Detaches a buffer no view uses any more, so its memory goes back at once. */
function release(buffer: ArrayBufferLike | undefined): void {
  const transfer = (buffer as { transfer?: (length: number) => ArrayBuffer } | undefined)?.transfer;
  if (buffer && transfer) transfer.call(buffer, 0);
}

/** A 32-bit hash → a slot in [0, capacity) (multiply and shift, any capacity). */
function slotOf(hash: number, capacity: number): number {
  return Math.floor((hash * capacity) / 4294967296);
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** Slot hash of a parsed id (murmur3's finaliser over the mixed words). */
function hashWords(prefix: number, w0: number, w1: number, w2: number, w3: number): number {
  let h = (w3 ^ Math.imul(w2, 0x85ebca77) ^ Math.imul(w1, 0xc2b2ae3d) ^ Math.imul(w0, 0x27d4eb2f) ^
    Math.imul(prefix, 0x165667b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** What a target holds for us, by id (compact): what `listOwned` returns (issue 17). */
export class OwnedTable implements OwnedRecords {
  readonly #table: FingerprintTable;
  /** Score ceilings, for the records that have one (Defender's, whose tenant cap bounds them). */
  readonly #ceilings = new Map<string, number>();

  /** An empty table; `capacity` as for {@linkcode FingerprintTable}. */
  constructor(options: { capacity?: number } = {}) {
    this.#table = new FingerprintTable({ ...options, counted: true });
  }

  /** Number of ids held. */
  get size(): number {
    return this.#table.size;
  }

  /** Bytes held by the arrays. */
  get arrayBytes(): number {
    return this.#table.arrayBytes;
  }

  /**
   * Adds one listed record (its projected fingerprint) to the indicator `id`; `scoreAtMost`, the
   * highest score the record's fields allow (see {@linkcode OwnedRecord.scoreAtMost}), keeps the
   * largest of its records'.
   */
  add(id: string, fingerprint: string, scoreAtMost?: number): void {
    this.#table.add(id, fingerprint);
    if (scoreAtMost !== undefined) {
      this.#ceilings.set(id, Math.max(scoreAtMost, this.#ceilings.get(id) ?? 0));
    }
  }

  /**
   * What `desired` lacks, holds otherwise and no longer wants compared with this table
   * ({@linkcode FingerprintTable.diff}): the plan of a reconcile without an object per id.
   */
  diff(desired: FingerprintTable): TableDiff {
    return FingerprintTable.diff(desired, this.#table);
  }

  /** What is held for `id`. */
  get(id: string): OwnedRecord | undefined {
    const fingerprint = this.#table.get(id);
    return fingerprint === undefined ? undefined : this.#record(id, fingerprint);
  }

  /** Every indicator held. */
  *[Symbol.iterator](): Iterator<OwnedRecord> {
    for (const [id, fingerprint] of this.#table) yield this.#record(id, fingerprint);
  }

  #record(id: string, fingerprint: string): OwnedRecord {
    const scoreAtMost = this.#ceilings.get(id);
    return {
      id,
      fingerprint,
      records: this.#table.records(id),
      ...(scoreAtMost === undefined ? {} : { scoreAtMost }),
    };
  }
}
