/**
 * The stream cursor that is safe to save: the id of the newest frame such that every frame up to
 * it was acknowledged by the target or definitively failed. Frames complete out of order (a
 * skipped event completes at once, a batched one when its batch is acknowledged).
 */
export class CheckpointTracker {
  #next = 0;
  #pending = new Map<number, string | undefined>();
  #doneUpTo = -1;
  #completed = new Set<number>();
  #safeId: string | undefined;

  /** Starts from the cursor loaded from the state (undefined on first start). */
  constructor(initial?: string) {
    this.#safeId = initial;
  }

  /** Registers a frame in arrival order and returns its sequence number. */
  track(frameId: string | undefined): number {
    const seq = this.#next++;
    this.#pending.set(seq, frameId);
    return seq;
  }

  /** Marks frames as finished (acknowledged, skipped or definitively failed). */
  complete(...seqs: number[]): void {
    for (const seq of seqs) {
      if (this.#pending.has(seq)) this.#completed.add(seq);
    }
    while (this.#completed.has(this.#doneUpTo + 1)) {
      const seq = ++this.#doneUpTo;
      this.#completed.delete(seq);
      const id = this.#pending.get(seq);
      this.#pending.delete(seq);
      if (id !== undefined) this.#safeId = id;
    }
  }

  /** The newest frame id that may be saved as `start_from`. */
  get cursor(): string | undefined {
    return this.#safeId;
  }

  /** Number of frames seen but not finished yet. */
  get inFlight(): number {
    return this.#pending.size;
  }
}
