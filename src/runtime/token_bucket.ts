/**
 * Client-side pacing by token bucket: `size` requests may go at once, then `perSecond` more each
 * second. Azure Resource Manager throttles this way since 2024, per subscription, per principal
 * and per kind of operation: reads 250 refilled 25/s, writes 200 refilled 10/s, deletes 200
 * refilled 10/s ("Understand how Azure Resource Manager throttles requests", learn.microsoft.com
 * azure-resource-manager/management/request-limits-and-throttling).
 *
 * @module
 */
import { type Now, type Sleep, systemNow, systemSleep } from "./clock.ts";
import type { Pacer } from "./rate_limiter.ts";

/** Options of {@linkcode TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens when full: requests that may go at once. */
  size: number;
  /** Tokens added per second. */
  perSecond: number;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep used while waiting for a token. @default a real timer */
  sleep?: Sleep;
}

/** A token bucket shared by every caller of one kind of request; callers are served in order. */
export class TokenBucket implements Pacer {
  readonly #size: number;
  readonly #perMs: number;
  readonly #now: Now;
  readonly #sleep: Sleep;
  #tokens: number;
  #at: number;
  #pausedUntil = 0;
  #tail: Promise<void> = Promise.resolve();

  /** Creates a full bucket. */
  constructor(options: TokenBucketOptions) {
    const { size, perSecond } = options;
    if (!Number.isFinite(size) || size < 1) {
      throw new RangeError(`Cannot use a bucket of ${size} tokens: give 1 or more`);
    }
    if (!Number.isFinite(perSecond) || perSecond <= 0) {
      throw new RangeError(`Cannot refill ${perSecond} tokens a second: give a positive number`);
    }
    this.#size = size;
    this.#perMs = perSecond / 1000;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#tokens = size;
    this.#at = this.#now();
  }

  /** Waits for a token, then takes it; rejects when the signal aborts. */
  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => release = resolve);
    try {
      await abortable(previous, signal);
    } catch (error) {
      previous.then(release);
      throw error;
    }
    try {
      for (;;) {
        const wait = this.delay();
        if (wait <= 0) break;
        await this.#sleep(wait, signal);
      }
      this.#tokens -= 1;
    } finally {
      release();
    }
  }

  /** Holds every caller back for `ms` from now (a server's `Retry-After`). */
  pause(ms: number): void {
    if (!Number.isFinite(ms) || ms <= 0) return;
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + ms);
  }

  /** How long the next caller would wait now, in ms. */
  delay(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#size, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    const paused = Math.max(0, this.#pausedUntil - now);
    // A hair under one token is one token (floating point after a timed wait).
    const short = this.#tokens >= 1 - 1e-9 ? 0 : Math.ceil((1 - this.#tokens) / this.#perMs);
    return Math.max(paused, short);
  }
}

/** Paces by several pacers at once: a request waits for each in turn. */
export function allOf(...pacers: Pacer[]): Pacer {
  return {
    async acquire(signal?: AbortSignal) {
      for (const pacer of pacers) await pacer.acquire(signal);
    },
    pause(ms: number) {
      for (const pacer of pacers) pacer.pause(ms);
    },
    delay() {
      return Math.max(0, ...pacers.map((p) => p.delay()));
    },
  };
}

function abortable(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
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
