/**
 * One follow run's batches (the stream pump's `#follow`, issue 12 item 3): the flush (one batch at
 * a time; a batch held by a systemic failure is tried again, without a cap, until it is delivered
 * or the run stops), the batch timer, and the checkpoints (the saved stream position follows the
 * acknowledged frames, one save at a time).
 *
 * @module
 */
import type { Now, SetTimer, Sleep } from "../runtime/clock.ts";
import type { Degradation } from "../runtime/degraded.ts";
import { backoffDelay } from "../runtime/retry.ts";
import type { Batcher, Pending } from "./batcher.ts";
import type { CheckpointTracker } from "./checkpoint.ts";

/** What a batch send reports: the items a systemic failure holds, and why. */
export interface SendOutcome<T> {
  /** Items held (their frames stay open); empty when everything was settled. */
  held: Pending<T>[];
  /** The failure that held them. */
  problem?: { reason: string; check?: string };
}

/** Options of {@linkcode FollowBatches}: the run's tracker and batcher, and the pump's I/O. */
export interface FollowBatchesOptions<T> {
  /** The run's frame tracker (the cursor it may save). */
  tracker: CheckpointTracker;
  /** The run's batcher. */
  batcher: Batcher<T>;
  /** The position the run started from (saved already). */
  startFrom: string | undefined;
  /** Sends one batch. */
  send(items: Pending<T>[], tracker: CheckpointTracker): Promise<SendOutcome<T>>;
  /** Saves the stream position in OpenCTI. */
  save(cursor: string): Promise<void>;
  /** Records an error that does not stop the run. */
  noteError(what: string, error: unknown): void;
  /** The pump's degraded state (set while a batch is held). */
  degradation: Degradation;
  /** Target name in the degraded reason. */
  targetName: string;
  /** True once the run stops (the reader's signal aborted, or a reset was asked for). */
  stopped(): boolean;
  /** The reader's signal: it ends a backoff sleep. */
  signal: AbortSignal;
  /** First backoff delay of a held batch, in ms. */
  backoffBaseMs: number;
  /** Longest backoff delay, in ms. */
  maxBackoffMs: number;
  /** Longest wait for a batch to fill, in ms. */
  batchTimeoutMs: number;
  now: Now;
  sleep: Sleep;
  random: () => number;
  setTimer: SetTimer;
}

/** The batches of one follow run. */
export class FollowBatches<T> {
  readonly #o: FollowBatchesOptions<T>;
  #flushing: Promise<void> = Promise.resolve();
  #cancelTimer: (() => void) | undefined;
  #saving: Promise<void> | undefined;
  #savedCursor: string | undefined;

  constructor(options: FollowBatchesOptions<T>) {
    this.#o = options;
    this.#savedCursor = options.startFrom;
  }

  /** Resolves when the flushes under way are done. */
  get idle(): Promise<void> {
    return this.#flushing;
  }

  /** Saves the tracker's cursor unless saved already (one save at a time; errors are noted). */
  checkpoint(): Promise<void> {
    if (this.#saving) return this.#saving;
    const cursor = this.#o.tracker.cursor;
    if (cursor === undefined || cursor === this.#savedCursor) return Promise.resolve();
    this.#saving = this.#o.save(cursor)
      .then(() => {
        this.#savedCursor = cursor;
      })
      .catch((error) =>
        this.#o.noteError("saving the stream position in OpenCTI failed (will retry)", error)
      )
      .finally(() => this.#saving = undefined);
    return this.#saving;
  }

  /** Flushes the batcher after the flushes under way. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushNow());
    return this.#flushing;
  }

  /** Starts the batch timer, unless it runs already or nothing is pending. */
  armTimer(): void {
    if (this.#cancelTimer || this.#o.batcher.size === 0) return;
    this.#cancelTimer = this.#o.setTimer(() => {
      this.#cancelTimer = undefined;
      void this.flush();
    }, this.#o.batchTimeoutMs);
  }

  /**
   * Ends the run: finishes in-flight work and whatever is pending, then saves the position (the
   * caller's catch-up budget still bounds this: a held batch stays unacknowledged and the cursor
   * before it). `cancelBudget` runs before the last save, as the run's other timer.
   */
  async finish(resetRequested: () => boolean, cancelBudget?: () => void): Promise<void> {
    const { batcher, signal } = this.#o;
    await this.#flushing;
    while (batcher.size > 0 && !resetRequested()) {
      const before = batcher.size;
      await this.flush();
      if (signal.aborted && batcher.size >= before) break;
    }
    cancelBudget?.();
    this.#cancelTimer?.();
    await this.#saving;
    if (!resetRequested()) await this.checkpoint();
  }

  // A batch held by a systemic failure is tried again, without a cap, until it is delivered
  // (or the run stops): the cursor stays before it and, while held, no frame is read.
  async #flushNow(): Promise<void> {
    const o = this.#o;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    let items = o.batcher.drain();
    if (items.length === 0) return;
    for (let step = 1;; step++) {
      const { held, problem } = await o.send(items, o.tracker);
      // The save runs alongside the next batch instead of holding it up by an OpenCTI round trip
      // (one save at a time; the end of the run waits for it and saves the final position).
      void this.checkpoint();
      if (held.length === 0) {
        o.degradation.clear();
        return;
      }
      const delay = backoffDelay(step, o.backoffBaseMs, o.maxBackoffMs, o.random);
      // Degraded even when the run is already stopping (the catch-up budget ran out during
      // this try): the items are held, so the run must not report success.
      o.degradation.step(
        `${o.targetName} failed for ${held.length} held item(s): ${problem?.reason ?? "unknown"}`,
        { ...(problem?.check ? { check: problem.check } : {}), retryInMs: delay },
      );
      if (!o.stopped()) await o.sleep(delay, o.signal).catch(() => {});
      if (o.stopped()) {
        o.batcher.requeue(held, o.now());
        return;
      }
      items = held;
    }
  }
}
