/** A batch of pending target operations, keyed by indicator: for one indicator the last event wins. */

/** One pending operation and the stream frames it stands for. */
export interface Pending<T> {
  /** The indicator's STIX id. */
  key: string;
  /** The latest operation for it. */
  op: T;
  /** Sequence numbers (from the checkpoint tracker) of every frame merged into it. */
  seqs: number[];
}

/** Collects operations until a size bound is reached; the owner flushes on size or time. */
export class Batcher<T> {
  #items = new Map<string, Pending<T>>();
  #firstAt: number | undefined;
  readonly #maxSize: number;

  /** Creates a batcher that is full at `maxSize` distinct indicators. */
  constructor(maxSize: number) {
    if (!(maxSize >= 1)) throw new RangeError(`Batch size must be at least 1, got ${maxSize}`);
    this.#maxSize = maxSize;
  }

  /** Adds an operation; an earlier one for the same key is replaced (its frames are kept). */
  add(key: string, op: T, seq: number, at: number): void {
    const existing = this.#items.get(key);
    if (existing) {
      existing.op = op;
      existing.seqs.push(seq);
      // Re-insert so iteration order follows the latest event.
      this.#items.delete(key);
      this.#items.set(key, existing);
    } else {
      this.#items.set(key, { key, op, seqs: [seq] });
    }
    this.#firstAt ??= at;
  }

  /** Puts back operations that must be tried again, unless a newer one for the key arrived. */
  requeue(items: Pending<T>[], at: number): void {
    for (const item of items) {
      const newer = this.#items.get(item.key);
      if (newer) newer.seqs.push(...item.seqs);
      else this.#items.set(item.key, { ...item, seqs: [...item.seqs] });
    }
    if (this.#items.size > 0) this.#firstAt ??= at;
  }

  /** Number of distinct indicators pending. */
  get size(): number {
    return this.#items.size;
  }

  /** True when the size bound is reached. */
  get full(): boolean {
    return this.#items.size >= this.#maxSize;
  }

  /** When the oldest pending operation arrived (epoch ms), if any. */
  get oldestAt(): number | undefined {
    return this.#firstAt;
  }

  /** True when `key` has a pending operation. */
  has(key: string): boolean {
    return this.#items.has(key);
  }

  /** Removes and returns everything pending. */
  drain(): Pending<T>[] {
    const items = [...this.#items.values()];
    this.#items.clear();
    this.#firstAt = undefined;
    return items;
  }
}
