/**
 * The stream cursor that is safe to save: the id of the newest frame such that every frame up to
 * it was acknowledged by the target or definitively failed. Frames complete out of order (a
 * skipped event completes at once, a batched one when its batch is acknowledged).
 */
export class CheckpointTracker {
  // Frames in arrival order from `#head` on (sequence number `#first`): their ids, and whether
  // each finished. Sequence numbers are consecutive, so two arrays replace a map and a set (no
  // hashing and no table per event; this runs once per stream frame).
  #ids: (string | undefined)[] = [];
  #done: boolean[] = [];
  #head = 0;
  #first = 0;
  #safeId: string | undefined;

  /** Starts from the cursor loaded from the state (undefined on first start). */
  constructor(initial?: string) {
    this.#safeId = initial;
  }

  /** Registers a frame in arrival order and returns its sequence number. */
  track(frameId: string | undefined): number {
    const seq = this.#first + this.#ids.length - this.#head;
    this.#ids.push(frameId);
    this.#done.push(false);
    return seq;
  }

  /** Marks frames as finished (acknowledged, skipped or definitively failed). */
  complete(...seqs: number[]): void {
    const ids = this.#ids;
    const done = this.#done;
    for (const seq of seqs) {
      // Only frames still tracked count: unknown, passed or repeated completions change nothing.
      const index = this.#head + seq - this.#first;
      if (Number.isInteger(seq) && index >= this.#head && index < ids.length) done[index] = true;
    }
    let head = this.#head;
    while (head < ids.length && done[head]) {
      const id = ids[head];
      if (id !== undefined) this.#safeId = id;
      ids[head] = undefined; // passed: not kept alive
      head++;
    }
    this.#first += head - this.#head;
    if (head === ids.length) {
      ids.length = 0;
      done.length = 0;
      head = 0;
    } else if (head >= 1024 && head * 2 >= ids.length) {
      this.#ids = ids.slice(head);
      this.#done = done.slice(head);
      head = 0;
    }
    this.#head = head;
  }

  /** The newest frame id that may be saved as `start_from`. */
  get cursor(): string | undefined {
    return this.#safeId;
  }

  /** Number of frames seen but not finished yet. */
  get inFlight(): number {
    return this.#ids.length - this.#head;
  }
}
