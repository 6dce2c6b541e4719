/** Client-side pacing: a sliding-window limiter shared by every caller of one remote API. */
import { type Now, type Sleep, systemNow, systemSleep } from "./clock.ts";

/** Paces one kind of request: {@linkcode RateLimiter} (windows) or `TokenBucket`. */
export interface Pacer {
  /** Waits until one more request may be sent, then counts it; rejects when the signal aborts. */
  acquire(signal?: AbortSignal): Promise<void>;
  /** Holds every caller back for `ms` from now (a server's `Retry-After`). */
  pause(ms: number): void;
  /** How long the next caller would wait now, in ms. */
  delay(): number;
}

/** Options of {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Requests allowed in any window. @default 60 */
  limit?: number;
  /** Window length in ms. @default 60000 */
  windowMs?: number;
  /**
   * Further limits on the same requests, e.g. Defender's 1,500 calls per hour on top of 100 per
   * minute. @default none
   */
  also?: readonly { limit: number; windowMs: number }[];
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep used while waiting for a free slot. @default a real timer */
  sleep?: Sleep;
}

/**
 * Sliding-window rate limiter: never more than `limit` acquisitions in any `windowMs` span.
 *
 * Callers are served in order. {@linkcode RateLimiter.pause} holds every caller back, for a
 * server's `Retry-After`.
 *
 * @example
 * const graph = new RateLimiter({ limit: 1000, windowMs: 60_000 });
 * await graph.acquire(signal);
 */
export class RateLimiter implements Pacer {
  /** Every limit, as [limit, window]; the longest window decides how much history is kept. */
  readonly #windows: readonly (readonly [number, number])[];
  readonly #keepMs: number;
  readonly #now: Now;
  readonly #sleep: Sleep;
  /** Times of the acquisitions still inside the window, oldest first. */
  readonly #sent: number[] = [];
  #pausedUntil = 0;
  #tail: Promise<void> = Promise.resolve();

  /** Creates a limiter of `limit` requests per `windowMs`. */
  constructor(options: RateLimiterOptions = {}) {
    const { limit = 60, windowMs = 60_000, now = systemNow, sleep = systemSleep } = options;
    const windows = [{ limit, windowMs }, ...(options.also ?? [])];
    for (const { limit, windowMs } of windows) {
      if (!Number.isInteger(limit) || limit < 1) {
        throw new RangeError(`Cannot limit to ${limit} requests: give a whole number of 1 or more`);
      }
      if (!Number.isFinite(windowMs) || windowMs <= 0) {
        throw new RangeError(`Cannot use a window of ${windowMs} ms: give a positive number`);
      }
    }
    this.#windows = windows.map((w) => [w.limit, w.windowMs] as const);
    this.#keepMs = Math.max(...windows.map((w) => w.windowMs));
    this.#now = now;
    this.#sleep = sleep;
  }

  /** Waits until one more request may be sent, then counts it; rejects when the signal aborts. */
  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => release = resolve);
    try {
      await waitOrAbort(previous, signal);
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
      this.#sent.push(this.#now());
    } finally {
      release();
    }
  }

  /** Holds every caller back for `ms` from now (a server's `Retry-After`); never shortens a pause. */
  pause(ms: number): void {
    if (!Number.isFinite(ms) || ms <= 0) return;
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + ms);
  }

  /** How long the next caller would wait now, in ms (0 when a request may go at once). */
  delay(): number {
    const now = this.#now();
    const sent = this.#sent;
    while (sent.length > 0 && (sent[0] as number) <= now - this.#keepMs) sent.shift();
    let wait = Math.max(0, this.#pausedUntil - now);
    for (const [limit, windowMs] of this.#windows) {
      if (sent.length < limit) continue;
      // The limit-th newest request must leave this window before one more may go.
      const oldest = sent[sent.length - limit] as number;
      wait = Math.max(wait, oldest + windowMs - now);
    }
    return wait;
  }
}

function waitOrAbort(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
