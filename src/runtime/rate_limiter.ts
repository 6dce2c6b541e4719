/** Client-side pacing: a sliding-window limiter shared by every caller of one remote API. */
import { type Now, type Sleep, systemNow, systemSleep } from "./clock.ts";
import { QueuedPacer } from "./pacer.ts";

export type { Pacer } from "./pacer.ts";

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
export class RateLimiter extends QueuedPacer {
  /** Every limit, as [limit, window]; the longest window decides how much history is kept. */
  readonly #windows: readonly (readonly [number, number])[];
  readonly #keepMs: number;
  /** Times of the acquisitions still inside the window, oldest first. */
  readonly #sent: number[] = [];

  /** Creates a limiter of `limit` requests per `windowMs`. */
  constructor(options: RateLimiterOptions = {}) {
    const { limit = 60, windowMs = 60_000, now = systemNow, sleep = systemSleep } = options;
    super(now, sleep);
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
  }

  /** Counts the request that goes at `now`. */
  protected override record(now: number): void {
    this.#sent.push(now);
  }

  /** How long the windows hold the next request back from `now`, in ms. */
  protected override wait(now: number): number {
    const sent = this.#sent;
    while (sent.length > 0 && (sent[0] as number) <= now - this.#keepMs) sent.shift();
    let wait = 0;
    for (const [limit, windowMs] of this.#windows) {
      if (sent.length < limit) continue;
      // The limit-th newest request must leave this window before one more may go.
      const oldest = sent[sent.length - limit] as number;
      wait = Math.max(wait, oldest + windowMs - now);
    }
    return wait;
  }
}
