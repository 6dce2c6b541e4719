/**
 * A per-key bearer token cache: one in-flight request per key shared by concurrent callers,
 * refresh ahead of expiry, and the cached token kept while a refresh fails and it is still valid.
 * The managed identity sources use it; the rules are those of the Entra ID token provider.
 */
import type { Logger } from "../log.ts";
import type { Now } from "../runtime/clock.ts";
import { errorMessage } from "../runtime/errors.ts";
import { abortable } from "../runtime/abortable.ts";

/** A token with its schedule (epoch ms). */
export interface IssuedToken {
  /** The bearer token. */
  accessToken: string;
  /** When to fetch a new one (ahead of expiry). */
  refreshAt: number;
  /** When it stops being valid. */
  expiresAt: number;
}

/** Options of {@linkcode TokenCache}. */
export interface TokenCacheOptions {
  /** Fetches a new token for the key (retries included). */
  fetchToken: (key: string) => Promise<IssuedToken>;
  /** The clock. */
  now: Now;
  /** Where a failed early refresh is reported. */
  logger: Logger;
  /** A cached token is served after a failed refresh until this long before it expires, in ms. @default 30000 */
  expiryMarginMs?: number;
}

/** Caches tokens per key (a scope or a resource). */
export class TokenCache {
  readonly #options: TokenCacheOptions;
  readonly #cache = new Map<string, IssuedToken>();
  readonly #inflight = new Map<string, Promise<IssuedToken>>();

  /** Builds an empty cache. */
  constructor(options: TokenCacheOptions) {
    this.#options = options;
  }

  /** A valid token for the key, from the cache or from `fetchToken` (shared by concurrent callers). */
  async get(key: string, signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const cached = this.#cache.get(key);
    if (cached && this.#options.now() < cached.refreshAt) return cached.accessToken;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#refresh(key, cached).finally(() => this.#inflight.delete(key));
      pending.catch(() => {}); // callers that gave up must not leave an unhandled rejection
      this.#inflight.set(key, pending);
    }
    return (await abortable(pending, signal)).accessToken;
  }

  /** Drops the cached token of the key (after a 401); a no-op while a new one is on its way. */
  invalidate(key: string): void {
    if (this.#inflight.has(key)) return;
    this.#cache.delete(key);
  }

  async #refresh(key: string, previous: IssuedToken | undefined): Promise<IssuedToken> {
    try {
      const entry = await this.#options.fetchToken(key);
      this.#cache.set(key, entry);
      return entry;
    } catch (error) {
      const margin = this.#options.expiryMarginMs ?? 30_000;
      if (previous && this.#options.now() < previous.expiresAt - margin) {
        this.#options.logger.warn(
          "Token refresh for {key} failed; using the cached token until it expires: {reason}",
          { key, reason: errorMessage(error) },
        );
        return previous;
      }
      throw error;
    }
  }
}
