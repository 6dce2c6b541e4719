/**
 * What every client-side pacer shares: callers served one at a time in arrival order, a caller
 * that gives up (abort) leaving the queue in order, and a pause for a server's `Retry-After`.
 * A pacer supplies only how long the next caller must wait ({@linkcode QueuedPacer.wait}) and
 * what it counts when a caller goes ({@linkcode QueuedPacer.record}).
 *
 * @module
 */
import { abortable } from "./abortable.ts";
import type { Now, Sleep } from "./clock.ts";

/** Paces one kind of request: `RateLimiter` (windows) or `TokenBucket`. */
export interface Pacer {
  /** Waits until one more request may be sent, then counts it; rejects when the signal aborts. */
  acquire(signal?: AbortSignal): Promise<void>;
  /** Holds every caller back for `ms` from now (a server's `Retry-After`). */
  pause(ms: number): void;
  /** How long the next caller would wait now, in ms. */
  delay(): number;
}

/** A {@linkcode Pacer} whose callers queue in order; subclasses say how long and what to count. */
export abstract class QueuedPacer implements Pacer {
  /** The clock. */
  protected readonly now: Now;
  readonly #sleep: Sleep;
  #pausedUntil = 0;
  #tail: Promise<void> = Promise.resolve();

  /** Sets the clock and the sleep used while waiting. */
  constructor(now: Now, sleep: Sleep) {
    this.now = now;
    this.#sleep = sleep;
  }

  /** How long, from `now`, the pacer's own limit holds the next caller back, in ms (≤ 0: none). */
  protected abstract wait(now: number): number;

  /** Counts one caller that goes at `now`. */
  protected abstract record(now: number): void;

  /** Waits for the callers before, then until one more request may go, then counts it. */
  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => release = resolve);
    try {
      await abortable(previous, signal);
    } catch (error) {
      // Keep the queue in order: the next caller still waits for the one before us.
      previous.then(release);
      throw error;
    }
    try {
      for (;;) {
        const wait = this.delay();
        if (wait <= 0) break;
        await this.#sleep(wait, signal);
      }
      this.record(this.now());
    } finally {
      release();
    }
  }

  /** Holds every caller back for `ms` from now (a server's `Retry-After`); never shortens a pause. */
  pause(ms: number): void {
    if (!Number.isFinite(ms) || ms <= 0) return;
    this.#pausedUntil = Math.max(this.#pausedUntil, this.now() + ms);
  }

  /** How long the next caller would wait now, in ms (0 when a request may go at once). */
  delay(): number {
    const now = this.now();
    return Math.max(0, this.#pausedUntil - now, this.wait(now));
  }
}
