/**
 * The skeleton every token source shares (the Entra ID client-credential provider and the managed
 * identity sources): the injected options, the per-key {@linkcode TokenCache}, and the retry loop
 * around one token request. A source supplies the request, its retry policy and its log wording.
 */
import * as v from "valibot";
import type { Logger } from "../log.ts";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { Fetch } from "../runtime/http.ts";
import { TokenError } from "./entra_errors.ts";
import { type IssuedToken, TokenCache } from "./token_cache.ts";
import type { TokenSource } from "./token_source.ts";

/** The options every token source takes. */
export interface TokenSourceOptions {
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep between retries. @default a real timer */
  sleep?: Sleep;
  /** Random source in [0, 1) for backoff jitter. @default Math.random */
  random?: () => number;
  /** Where to log. @default the source's own logger */
  logger?: Logger;
  /** Attempts per token request, including the first. @default the source's own */
  attempts?: number;
  /** Time allowed for one token request in ms. @default the source's own */
  timeoutMs?: number;
}

/** A number, or a string of digits (token endpoints send both). */
export const NumberLike = v.pipe(
  v.union([v.number(), v.pipe(v.string(), v.regex(/^\s*\d+(\.\d+)?\s*$/))]),
  v.transform(Number),
  v.finite(),
);

/**
 * Seconds after issue at which to refresh: `refresh_in` when the service sends a usable one, else
 * `min(expires_in − 300, 0.9 × expires_in)`, but never earlier than half the lifetime (short
 * lifetimes would otherwise refresh at once).
 */
export function refreshAfterSeconds(expiresIn: number, refreshIn?: number): number {
  if (refreshIn !== undefined && refreshIn > 0 && refreshIn < expiresIn) return refreshIn;
  return Math.max(Math.min(expiresIn - 300, 0.9 * expiresIn), 0.5 * expiresIn);
}

/**
 * The cache entry of a token issued at `startedAt` (epoch ms) for `lifetimeSeconds`, refreshed as
 * {@linkcode refreshAfterSeconds} says; also returns that refresh delay in seconds.
 */
export function issuedToken(
  accessToken: string,
  startedAt: number,
  lifetimeSeconds: number,
  refreshIn?: number,
): { token: IssuedToken; refreshAfter: number } {
  const refreshAfter = refreshAfterSeconds(lifetimeSeconds, refreshIn);
  return {
    token: {
      accessToken,
      refreshAt: startedAt + refreshAfter * 1000,
      expiresAt: startedAt + lifetimeSeconds * 1000,
    },
    refreshAfter,
  };
}

/** The JSON value of a response body, or undefined when it is not JSON. */
export function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Counters a retry policy keeps for one token request (fresh for each request). */
export type RetryCounts = Record<string, number>;

/** The shared part of a token source: options, cache, and the retry loop. */
export abstract class TokenSourceBase implements TokenSource {
  /** The fetch given in the options, if any. */
  protected readonly fetch: Fetch | undefined;
  /** The clock. */
  protected readonly now: Now;
  /** The sleep between retries. */
  protected readonly sleep: Sleep;
  /** Jitter source. */
  protected readonly random: () => number;
  /** Where to log. */
  protected readonly logger: Logger;
  /** Attempts per token request, including the first (at least 1). */
  protected readonly attempts: number;
  /** Time allowed for one token request in ms. */
  protected readonly timeoutMs: number;
  readonly #cache: TokenCache;
  readonly #logSubject: string;

  /**
   * Reads the shared options, with the source's own defaults; `logSubject` starts the retry and
   * failure log lines (a logtape template, e.g. `Token request for {scope}`).
   */
  constructor(
    options: TokenSourceOptions,
    defaults: { logger: () => Logger; attempts: number; timeoutMs: number; logSubject: string },
  ) {
    this.#logSubject = defaults.logSubject;
    this.fetch = options.fetch;
    this.now = options.now ?? systemNow;
    this.sleep = options.sleep ?? systemSleep;
    this.random = options.random ?? Math.random;
    this.logger = options.logger ?? defaults.logger();
    this.attempts = Math.max(1, options.attempts ?? defaults.attempts);
    this.timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
    this.#cache = new TokenCache({
      fetchToken: (key) => this.#fetchWithRetry(key),
      now: this.now,
      logger: this.logger,
    });
  }

  /** A valid access token for the scope, from the cache or from the service. */
  getToken(scope: string, signal?: AbortSignal): Promise<string> {
    return this.#cache.get(this.cacheKey(scope), signal);
  }

  /** Drops the cached token of the scope (after a 401); a no-op while a new one is on its way. */
  invalidate(scope: string): void {
    this.#cache.invalidate(this.cacheKey(scope));
  }

  /** The cache key of a scope (the scope itself unless the source says otherwise). */
  protected cacheKey(scope: string): string {
    return scope;
  }

  /** One token request for the key; throws a {@linkcode TokenError} (anything else is wrapped by `unexpected`). */
  protected abstract requestOnce(key: string): Promise<IssuedToken>;

  /** The error a non-{@linkcode TokenError} failure becomes. */
  protected abstract unexpected(caught: unknown): TokenError;

  /** The wait before another attempt, or undefined to give up. */
  protected abstract retryDelay(
    error: TokenError,
    attempt: number,
    counts: RetryCounts,
  ): number | undefined;

  /** Structured log fields of a failure (never a secret). */
  protected abstract failureFields(key: string, error: TokenError): Record<string, unknown>;

  async #fetchWithRetry(key: string): Promise<IssuedToken> {
    const counts: RetryCounts = {};
    for (let attempt = 1;; attempt++) {
      try {
        return await this.requestOnce(key);
      } catch (caught) {
        const error = caught instanceof TokenError ? caught : this.unexpected(caught);
        const delayMs = this.retryDelay(error, attempt, counts);
        const fields = this.failureFields(key, error);
        if (delayMs === undefined) {
          this.logger.error(`${this.#logSubject} failed: {reason}`, {
            ...fields,
            reason: error.message,
            attempt,
          });
          throw error;
        }
        this.logger.warn(
          `${this.#logSubject} failed (attempt {attempt}), retrying in {delayMs} ms: {reason}`,
          {
            ...fields,
            reason: error.message,
            attempt,
            delayMs,
          },
        );
        await this.sleep(delayMs);
      }
    }
  }
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
