/**
 * The request loop shared by the Microsoft target clients (Graph `tiIndicators`, Sentinel, Defender),
 * reference `microsoft.md` §6: client-side pacing, a bearer token with one refresh on 401, 429
 * honouring `Retry-After` (or a hint in the body) by pausing the limiter, and backoff on 5xx and
 * network errors. Also the small error helpers the clients share.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import { HttpError } from "../runtime/errors.ts";
import { type Fetch, type HttpResponse, request } from "../runtime/http.ts";
import { type Pacer, RateLimiter, type RateLimiterOptions } from "../runtime/rate_limiter.ts";
import { backoffDelay, isRetryable, parseRetryAfter } from "../runtime/retry.ts";
import type { FailureScope } from "../runtime/delivery.ts";
import type { TokenSource } from "./token_source.ts";

/** One logical request: sent again on 401 (once), 429, retryable statuses and network errors. */
export interface ApiCallSpec {
  /** HTTP method. */
  method: string;
  /** Full URL. */
  url: string;
  /** JSON body text; sets `content-type: application/json`. @default none */
  body?: string | undefined;
  /** Names the call in logs, e.g. "Defender import". */
  what: string;
  /** The limiter (sliding windows or a token bucket) that paces this kind of call. */
  limiter: Pacer;
  /** Extra request headers (e.g. Graph's `client-request-id`). @default none */
  headers?: Record<string, string>;
  /** Aborts the waits and the request. @default none */
  signal?: AbortSignal | undefined;
}

/** What every call of one client shares: token, transport, clock and retry policy. */
export interface ApiCallDeps {
  /** Hands out bearer tokens. */
  tokens: TokenSource;
  /** Token scope of the API. */
  scope: string;
  /** The fetch to use. */
  fetch: Fetch;
  /** Time allowed for one HTTP exchange, in ms. */
  timeoutMs: number;
  /** The clock (for `Retry-After` dates). */
  now: Now;
  /** The sleep. */
  sleep: Sleep;
  /** Random source in [0, 1) for jitter. */
  random: () => number;
  /** Where retries are logged. */
  logger: Logger;
  /** Attempts per request on retryable statuses and network errors (a 401 refresh is not counted). */
  maxAttempts: number;
  /** Base of the exponential backoff in ms. */
  backoffBaseMs: number;
  /** Largest backoff or server-requested wait in ms. */
  backoffCapMs: number;
  /** Statuses sent again after a wait. @default 408, 429 and 5xx */
  retryStatus?: (status: number) => boolean;
  /** A wait the server names in the body (Sentinel's "Try again in N seconds"), in ms. @default none */
  bodyWaitMs?: (text: string) => number | undefined;
  /** On 408/5xx wait at least the backoff even when `Retry-After` asks for less. @default false */
  atLeastBackoff?: boolean;
  /** Called before each request is sent (for a request counter). @default none */
  onSend?: () => void;
  /** Called on each 429 that is waited out (for a throttling counter). @default none */
  onThrottled?: () => void;
}

/** The transport and retry options of a target client (Sentinel, Defender). */
export interface ApiClientOptions {
  /** Attempts per request on 429, 5xx and network errors (a 401 adds one after a token refresh). @default 6 */
  maxAttempts?: number;
  /** Base of the exponential backoff in ms. @default 1000 */
  backoffBaseMs?: number;
  /** Largest backoff or server-requested wait in ms. @default 60000 */
  backoffCapMs?: number;
  /** Time allowed for one HTTP exchange, in ms. @default 30000 */
  timeoutMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep. @default a real timer */
  sleep?: Sleep;
  /** Random source in [0, 1) for jitter. @default Math.random */
  random?: () => number;
}

/** {@linkcode ApiCallDeps} from a client's options, with the defaults of {@linkcode ApiClientOptions}. */
export function apiCallDeps(
  options: ApiClientOptions,
  rest: Omit<ApiCallDeps, keyof ApiClientOptions>,
): ApiCallDeps {
  return {
    maxAttempts: options.maxAttempts ?? 6,
    backoffBaseMs: options.backoffBaseMs ?? 1000,
    backoffCapMs: options.backoffCapMs ?? 60_000,
    timeoutMs: options.timeoutMs ?? 30_000,
    fetch: options.fetch ?? globalThis.fetch,
    now: options.now ?? systemNow,
    sleep: options.sleep ?? systemSleep,
    random: options.random ?? Math.random,
    ...rest,
  };
}

/**
 * A limiter of `limit` calls a minute on the client's clock (`also`: further windows on the same
 * calls, e.g. Defender's 1,500 an hour).
 */
export function perMinute(
  deps: Pick<ApiCallDeps, "now" | "sleep">,
  limit: number,
  also?: RateLimiterOptions["also"],
): RateLimiter {
  return new RateLimiter({
    limit,
    windowMs: 60_000,
    now: deps.now,
    sleep: deps.sleep,
    ...(also ? { also } : {}),
  });
}

/** The default {@linkcode ApiCallDeps.retryStatus}: 408, 429 and 5xx. */
export function isRetryStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Sends one request until it gets an answer worth returning: any status but 401 (refreshed once)
 * and retryable ones (sent again while attempts remain; the last answer is returned as it is).
 * A network error or timeout is retried with backoff, then thrown as it came.
 */
export async function callApi(spec: ApiCallSpec, deps: ApiCallDeps): Promise<HttpResponse> {
  const { what, limiter, signal } = spec;
  const retryStatus = deps.retryStatus ?? isRetryStatus;
  const backoff = (attempt: number) =>
    backoffDelay(attempt, deps.backoffBaseMs, deps.backoffCapMs, deps.random);
  let refreshed = false;
  for (let attempt = 1;; attempt++) {
    // Token first: a slow token request must not eat into the slot the limiter grants.
    const token = await deps.tokens.getToken(deps.scope, signal);
    await limiter.acquire(signal);
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: "application/json",
      ...spec.headers,
    };
    const init: RequestInit = { method: spec.method, headers };
    if (spec.body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = spec.body;
    }
    deps.onSend?.();
    let response: HttpResponse;
    try {
      response = await request(spec.url, init, {
        fetch: deps.fetch,
        timeoutMs: deps.timeoutMs,
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted || !isRetryable(error) || attempt >= deps.maxAttempts) throw error;
      const delayMs = backoff(attempt);
      deps.logger.warn("{what} failed, retrying in {delayMs} ms: {error}", {
        what,
        delayMs,
        error: String(error),
      });
      await deps.sleep(delayMs, signal);
      continue;
    }
    const { status } = response;
    if (status === 401 && !refreshed) {
      refreshed = true;
      attempt--; // the refresh is not a retry of a failure
      deps.tokens.invalidate(deps.scope);
      deps.logger.info("{what} answered 401: refreshing the token once", { what });
      continue;
    }
    if (!retryStatus(status) || attempt >= deps.maxAttempts) return response;
    const hinted = parseRetryAfter(response.headers.get("retry-after"), deps.now()) ??
      deps.bodyWaitMs?.(response.text);
    const throttled = status === 429;
    const wanted = !throttled && deps.atLeastBackoff
      ? Math.max(hinted ?? 0, backoff(attempt))
      : hinted ?? backoff(attempt);
    const delayMs = Math.min(wanted, deps.backoffCapMs);
    if (throttled) {
      // Every caller of this API waits, not just this one: the limiter holds them all back.
      deps.onThrottled?.();
      limiter.pause(delayMs);
      deps.logger.warn("{what} throttled (429): waiting {delayMs} ms", { what, delayMs });
    } else {
      deps.logger.warn("{what} answered {status}: retrying in {delayMs} ms", {
        what,
        status,
        delayMs,
      });
      await deps.sleep(delayMs, signal);
    }
  }
}

/** Payload problems (400, 413, 422) are final; throttling, server and permission problems are worth a later try. */
export function statusRetryable(status: number): boolean {
  return status !== 400 && status !== 413 && status !== 422;
}

/** Whether a failed call is worth a later try: by HTTP status, an error's own `retryable`, else yes. */
export function retryableError(error: unknown): boolean {
  if (error instanceof HttpError) return statusRetryable(error.status);
  if (error instanceof Error && "retryable" in error && typeof error.retryable === "boolean") {
    return error.retryable;
  }
  return true;
}

/**
 * The scope of a target answer with this status, for a request that carried `items` items
 * (issue 11): 401/403 (after the one token refresh), 404 (a wrong URL or workspace), 408, 429 and
 * 5xx are systemic; any other 4xx is item-level when the request carried one item (and no
 * composite lookup), else request-level.
 */
export function statusScope(status: number, items: number): FailureScope {
  if (status === 0 || status === 401 || status === 403 || status === 404) return "systemic";
  if (status === 408 || status === 429 || status >= 500 || status < 400) return "systemic";
  return items <= 1 ? "item" : "request";
}

/**
 * The scope of a failed call (see {@linkcode statusScope}): an HTTP error by its status, an error
 * that is final by its own `retryable: false` (a payload problem) by the number of items, and
 * everything else (network, timeout, token, invalid answer) systemic.
 */
export function errorScope(error: unknown, items: number): FailureScope {
  if (error instanceof HttpError) return statusScope(error.status, items);
  if (
    error instanceof Error && "status" in error && typeof error.status === "number" &&
    error.status > 0 && error.name !== "TokenError"
  ) {
    return statusScope(error.status, items);
  }
  return "systemic";
}

/** True when both URLs parse and share scheme, host and port (a `nextLink` must not leave the API). */
export function sameOrigin(url: string, base: string): boolean {
  try {
    return new URL(url).origin === new URL(base).origin;
  } catch {
    return false;
  }
}
