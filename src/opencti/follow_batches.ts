/**
 * One follow run's batches (the stream pump's `#follow`, issue 12 item 3): the flush (one at a
 * time, in calls of one kind; what a systemic failure holds is tried again, without a cap, until it
 * is delivered or the run stops), the batch timer, and the checkpoints (the saved stream position
 * follows the acknowledged frames, one save at a time).
 *
 * @module
 */
import type { Now, SetTimer, Sleep } from "../runtime/clock.ts";
import type { Degradation } from "../runtime/degraded.ts";
import { backoffDelay } from "../runtime/retry.ts";
import type { Batcher, Pending } from "./batcher.ts";
import type { CheckpointTracker } from "./checkpoint.ts";

/** Longest pause of the stream before what is pending is sent, in ms (issue 14 read-ahead). */
const IDLE_MS = 50;

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
  /** Sends one call's items. */
  send(items: Pending<T>[], tracker: CheckpointTracker): Promise<SendOutcome<T>>;
  /** Splits what a flush drains into calls (of one kind, `batchSize` each), in sending order. */
  split(items: Pending<T>[]): Pending<T>[][];
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
  /** Longest wait of a pending key before it is sent, in ms (a pause of the stream sends sooner). */
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
  /** Flushes queued or running. */
  #queued = 0;
  /** Data frames read (the timer tells a pause of the stream by it). */
  #framesSeen = 0;

  constructor(options: FollowBatchesOptions<T>) {
    this.#o = options;
    this.#savedCursor = options.startFrom;
  }

  /** Resolves when the flushes under way are done. */
  get idle(): Promise<void> {
    return this.#flushing;
  }

  /** True while a flush is queued or running. */
  get sending(): boolean {
    return this.#queued > 0;
  }

  /** True when the oldest pending key waited the batch timeout. */
  get due(): boolean {
    const oldest = this.#o.batcher.oldestAt;
    return oldest !== undefined && this.#o.now() - oldest >= this.#o.batchTimeoutMs;
  }

  /** Notes one data frame read (the timer waits while frames keep coming). */
  noteFrame(): void {
    this.#framesSeen++;
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
    this.#queued++;
    this.#flushing = this.#flushing.then(() => this.#flushNow()).finally(() => this.#queued--);
    return this.#flushing;
  }

  /**
   * Starts the batch timer, unless it runs already or nothing is pending. It sends what is pending
   * once the stream pauses (no frame for 50 ms, or the batch timeout if shorter) or once the oldest
   * pending key waited the batch timeout, whichever comes first.
   */
  armTimer(): void {
    if (this.#cancelTimer || this.#o.batcher.size === 0) return;
    const mark = this.#framesSeen;
    this.#cancelTimer = this.#o.setTimer(() => {
      this.#cancelTimer = undefined;
      if (this.#framesSeen !== mark && !this.due) return this.armTimer();
      // While a flush runs, the rest waits for it (the flush re-arms the timer).
      if (this.#queued === 0) void this.flush();
    }, Math.min(this.#o.batchTimeoutMs, IDLE_MS));
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
    try {
      if (items.length === 0) return;
      for (let step = 1;; step++) {
        const held: Pending<T>[] = [];
        let problem: SendOutcome<T>["problem"];
        for (const call of o.split(items)) {
          // After a systemic failure, the calls behind it wait with it (no pile of retries).
          if (problem) {
            held.push(...call);
            continue;
          }
          const sent = await o.send(call, o.tracker);
          held.push(...sent.held);
          problem ??= sent.problem;
          // The save runs alongside the next call instead of holding it up by an OpenCTI round
          // trip (one save at a time; the end of the run waits for it and saves the final
          // position).
          void this.checkpoint();
        }
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
    } finally {
      // What came in meanwhile leaves by size or by the timer.
      this.armTimer();
    }
  }
}
