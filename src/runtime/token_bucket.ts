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
import { type Pacer, QueuedPacer } from "./pacer.ts";

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
export class TokenBucket extends QueuedPacer {
  readonly #size: number;
  readonly #perMs: number;
  #tokens: number;
  #at: number;

  /** Creates a full bucket. */
  constructor(options: TokenBucketOptions) {
    super(options.now ?? systemNow, options.sleep ?? systemSleep);
    const { size, perSecond } = options;
    if (!Number.isFinite(size) || size < 1) {
      throw new RangeError(`Cannot use a bucket of ${size} tokens: give 1 or more`);
    }
    if (!Number.isFinite(perSecond) || perSecond <= 0) {
      throw new RangeError(`Cannot refill ${perSecond} tokens a second: give a positive number`);
    }
    this.#size = size;
    this.#perMs = perSecond / 1000;
    this.#tokens = size;
    this.#at = this.now();
  }

  /** Takes the token of the request that goes. */
  protected override record(): void {
    this.#tokens -= 1;
  }

  /** How long, from `now`, until the bucket holds a token, in ms. */
  protected override wait(now: number): number {
    this.#tokens = Math.min(this.#size, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    // A hair under one token is one token (floating point after a timed wait).
    return this.#tokens >= 1 - 1e-9 ? 0 : Math.ceil((1 - this.#tokens) / this.#perMs);
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
