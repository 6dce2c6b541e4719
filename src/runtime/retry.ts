/** Retry with exponential backoff, full jitter, a cap, and `Retry-After`. */
import { type Now, type Sleep, systemNow, systemSleep } from "./clock.ts";
import { HttpError, NetworkError, TimeoutError } from "./errors.ts";

/** Statuses worth another try. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** Options of {@linkcode retry}. */
export interface RetryOptions {
  /** Total attempts including the first. @default 5 */
  attempts?: number;
  /** Base delay of the exponential backoff in ms. @default 500 */
  baseMs?: number;
  /** Largest backoff delay between two attempts in ms (a server's `Retry-After` is not shortened). @default 30000 */
  capMs?: number;
  /**
   * Longest server-requested wait (`Retry-After`) honoured, in ms; a longer one ends the retries
   * with the error, since retrying sooner would only be throttled again. @default 300000
   */
  maxRetryAfterMs?: number;
  /** Decides whether an error is worth another try. @default isRetryable */
  shouldRetry?: (error: unknown) => boolean;
  /** Called before each wait, for logging. @default no-op */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  /** Aborts the waits and the loop. @default none */
  signal?: AbortSignal;
  /** The clock, for `Retry-After` dates. @default Date.now */
  now?: Now;
  /** The sleep. @default a real timer */
  sleep?: Sleep;
  /** Random source in [0, 1) for jitter. @default Math.random */
  random?: () => number;
}

/** True for network errors, timeouts and retryable HTTP statuses. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof HttpError) return RETRYABLE_STATUSES.has(error.status);
  if (error instanceof NetworkError || error instanceof TimeoutError) return true;
  return error instanceof TypeError; // fetch's network failure
}

/**
 * Parses `Retry-After` (delay seconds or an HTTP date) into ms from `now`.
 * Returns undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // Only the HTTP-date forms (IMF-fixdate, RFC 850, asctime) all start with a day name;
  // Date.parse alone would read "-1" or "1 2" as dates.
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s/i.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The delay before retry number `attempt` (1-based): full jitter under min(cap, base * 2^(attempt-1)). */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * The server-requested delay carried by an error, if any: its `Retry-After` header, else a
 * Sentinel-style "Try again in N seconds" in the body (plus one second of margin).
 */
export function retryAfterOf(error: unknown, now: number): number | undefined {
  if (!(error instanceof HttpError)) return undefined;
  const header = parseRetryAfter(error.headers.get("retry-after"), now);
  if (header !== undefined) return header;
  const hint = /try again in (\d+(?:\.\d+)?) seconds?/i.exec(error.body);
  return hint ? Math.round(Number(hint[1]) * 1000) + 1000 : undefined;
}

/** Runs `fn` until it succeeds, a non-retryable error occurs, or the attempts run out. */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const {
    attempts = 5,
    baseMs = 500,
    capMs = 30_000,
    maxRetryAfterMs = 300_000,
    shouldRetry = isRetryable,
    onRetry,
    signal,
    now = systemNow,
    sleep = systemSleep,
    random = Math.random,
  } = options;
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || !shouldRetry(error) || signal?.aborted) throw error;
      const requested = retryAfterOf(error, now());
      if (requested !== undefined && requested > maxRetryAfterMs) throw error;
      const delayMs = requested ?? backoffDelay(attempt, baseMs, capMs, random);
      onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, signal);
    }
  }
}
