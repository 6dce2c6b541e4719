/**
 * Building blocks shared by the Microsoft API simulators (Graph, Sentinel, Defender): bearer-token
 * checks, a per-identity request window, injected failures, time scaling and a loopback server.
 */
import type { Context, MiddlewareHandler } from "hono";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";

/** The claims a simulator needs from a verified access token. */
export interface AuthClaims {
  /** Tenant id. */
  tid: string;
  /** Application (client) id. */
  appid: string;
  /** Application roles (permissions) granted to the app. */
  roles: string[];
  /** The audience the token was issued for. */
  aud: string;
}

/** Verifies a bearer token for one of the audiences; throws when signature, audience or expiry is bad. */
export type VerifyToken = (token: string, audiences: string[]) => Promise<AuthClaims>;

/** Options every Microsoft API simulator takes. */
export interface MsSimOptions {
  /** Verifies bearer tokens (the Entra simulator's `verifyAccessToken`). */
  verify: VerifyToken;
  /** Accepted audiences. @default the API's resource URLs, with and without `/` */
  audiences?: string[];
  /** Scales the one-minute window (0.001 → 60 ms). @default 1 */
  timeScale?: number;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep used for injected latency. @default a real timer */
  sleep?: Sleep;
}

/** Renders an error response in the simulated API's own shape. */
export type RenderError = (
  c: Context,
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
) => Response;

/** Hono variables set by {@linkcode bearerAuth}. */
export interface AuthVariables {
  /** The verified claims of the caller. */
  auth: AuthClaims;
}

/** Options of {@linkcode bearerAuth}. */
export interface BearerAuthOptions {
  /** Checks a token (e.g. the Entra simulator's `verifyAccessToken`). */
  verify: VerifyToken;
  /** Audiences accepted by this API (see {@linkcode audienceVariants}). */
  audiences: string[];
  /** The caller needs at least one of these roles, else 403. @default [] (no role check) */
  roles?: string[];
  /** Builds the API's error body. @default a Graph-style `{"error":{"code","message"}}` body */
  renderError?: RenderError;
  /** Error code for a missing or rejected token. @default "InvalidAuthenticationToken" */
  unauthenticatedCode?: string;
  /** Error code for a missing role. @default "Forbidden" */
  forbiddenCode?: string;
  /** Text of the 403 message (the sims name the permission to grant). @default lists `roles` */
  forbiddenMessage?: string;
}

/** The accepted spellings of a resource audience: with and without the trailing slash. */
export function audienceVariants(resource: string, ...aliases: string[]): string[] {
  const base = resource.replace(/\/+$/, "");
  return [base, `${base}/`, ...aliases];
}

/** A Graph-style error body: `{"error":{"code","message","innerError":{…}}}`. */
export const renderGraphStyleError: RenderError = (c, status, code, message, headers) => {
  for (const [name, value] of Object.entries(headers ?? {})) c.header(name, value);
  return c.json(
    {
      error: {
        code,
        message,
        innerError: { "request-id": crypto.randomUUID(), date: new Date().toISOString() },
      },
    },
    status as 400,
  );
};

/** Middleware that demands `Authorization: Bearer <token>` valid for the API, and the roles. */
export function bearerAuth(
  options: BearerAuthOptions,
): MiddlewareHandler<{ Variables: AuthVariables }> {
  const render = options.renderError ?? renderGraphStyleError;
  const unauthenticated = options.unauthenticatedCode ?? "InvalidAuthenticationToken";
  const forbidden = options.forbiddenCode ?? "Forbidden";
  const roles = options.roles ?? [];
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    if (!match?.[1]) {
      return render(c, 401, unauthenticated, "Access token is empty or not a Bearer token.");
    }
    let claims: AuthClaims;
    try {
      claims = await options.verify(match[1], options.audiences);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return render(c, 401, unauthenticated, `Access token validation failure: ${why}`);
    }
    if (roles.length > 0 && !roles.some((role) => claims.roles.includes(role))) {
      return render(
        c,
        403,
        forbidden,
        options.forbiddenMessage ??
          `Insufficient privileges to complete the operation: requires one of ${roles.join(", ")}`,
      );
    }
    c.set("auth", claims);
    await next();
  };
}

/** Scales the documented time windows so tests and demos hit limits quickly. */
export class TimeScale {
  /** Multiplier applied to documented windows (0.01 makes a minute last 600 ms). */
  readonly factor: number;

  /** Builds a scale; `factor` must be positive. */
  constructor(factor = 1) {
    if (!(factor > 0)) throw new RangeError(`Time scale factor must be positive, got ${factor}`);
    this.factor = factor;
  }

  /** The scaled length of a documented window in ms. */
  window(documentedMs: number): number {
    return Math.max(1, Math.round(documentedMs * this.factor));
  }

  /**
   * A `Retry-After` header value for a wait of `ms`: whole seconds (rounded up) at the real scale,
   * fractional seconds when scaled (clients accept both).
   */
  retryAfter(ms: number): string {
    if (this.factor === 1) return String(Math.max(1, Math.ceil(ms / 1000)));
    return (Math.max(1, ms) / 1000).toFixed(3);
  }
}

/** Options of {@linkcode RateWindow}. */
export interface RateWindowOptions {
  /** Requests allowed per window. */
  limit: number;
  /** Window length in ms (sliding). @default 60000 */
  windowMs?: number;
  /** The clock. @default Date.now */
  now?: Now;
}

/** Outcome of {@linkcode RateWindow.take}. */
export type RateDecision =
  | { ok: true }
  | { ok: false; retryAfterMs: number; retryAfterSeconds: number };

/** A {@linkcode RateWindow} of `limit` requests per documented minute, scaled by `scale`. */
export function perMinute(limit: number, scale: TimeScale, now: Now): RateWindow {
  return new RateWindow({ limit, windowMs: scale.window(60_000), now });
}

/** A sliding-window request counter per key (calling identity); over the limit → wait this long. */
export class RateWindow {
  #limit: number;
  #windowMs: number;
  #now: Now;
  #hits = new Map<string, number[]>();
  #peak = new Map<string, number>();
  /** Requests refused so far (for assertions). */
  refused = 0;

  /** Builds a window with its limit. */
  constructor(options: RateWindowOptions) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? systemNow;
  }

  /** Changes the limit (tests). */
  setLimit(limit: number): void {
    this.#limit = limit;
  }

  /** Counts one request for `key` if allowed; else says how long until a slot frees. */
  take(key = "default"): RateDecision {
    const now = this.#now();
    const hits = (this.#hits.get(key) ?? []).filter((t) => t > now - this.#windowMs);
    if (hits.length >= this.#limit) {
      this.#hits.set(key, hits);
      this.refused++;
      const oldest = hits[0] ?? now;
      const retryAfterMs = Math.max(1, oldest + this.#windowMs - now);
      return { ok: false, retryAfterMs, retryAfterSeconds: Math.ceil(retryAfterMs / 1000) };
    }
    hits.push(now);
    this.#hits.set(key, hits);
    this.#peak.set(key, Math.max(this.#peak.get(key) ?? 0, hits.length));
    return { ok: true };
  }

  /** The most requests accepted for `key` within one window so far. */
  peak(key = "default"): number {
    return this.#peak.get(key) ?? 0;
  }

  /** Requests accepted for `key` in the current window. */
  count(key = "default"): number {
    const now = this.#now();
    return (this.#hits.get(key) ?? []).filter((t) => t > now - this.#windowMs).length;
  }
}

/**
 * A token bucket per key (calling identity): `size` requests at once, then `perSecond` more each
 * second (the documented second is scaled by `scale`). Azure Resource Manager throttles this way
 * per subscription, principal and kind of operation ("Understand how Azure Resource Manager
 * throttles requests": reads 250 refilled 25/s, writes and deletes 200 refilled 10/s).
 */
export class TokenBucketLimit {
  readonly #size: number;
  readonly #perMs: number;
  readonly #now: Now;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  /** Requests refused so far (for assertions). */
  refused = 0;

  /** Builds full buckets of `size`, refilled at `perSecond` per documented second. */
  constructor(size: number, perSecond: number, scale: TimeScale, now: Now) {
    this.#size = size;
    this.#perMs = perSecond / scale.window(1000);
    this.#now = now;
  }

  /** Takes a token for `key` if there is one; else says how long until there is. */
  take(key = "default"): RateDecision {
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#size, at: now };
    bucket.tokens = Math.min(this.#size, bucket.tokens + (now - bucket.at) * this.#perMs);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    // A hair under one token counts as one (floating point after a timed wait).
    if (bucket.tokens < 1 - 1e-9) {
      this.refused++;
      const retryAfterMs = Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs));
      return { ok: false, retryAfterMs, retryAfterSeconds: Math.ceil(retryAfterMs / 1000) };
    }
    bucket.tokens -= 1;
    return { ok: true };
  }
}

/** One injected whole-request failure. */
export interface InjectedFailure {
  /** HTTP status to answer. */
  status: number;
  /** Body to send as JSON (or as text when a string); default: the API's error shape. */
  body?: unknown;
  /** Extra response headers (e.g. `Retry-After`). */
  headers?: Record<string, string>;
}

/** One injected per-item failure inside a bulk request. */
export interface PartialFailure {
  /** Error code reported for the item. @default "InternalServerError" */
  code: string;
  /** Error message reported for the item. */
  message: string;
}

/** The error Deno's fetch throws when nothing listens on the port. */
export class ConnectionRefusedError extends TypeError {
  /** Builds the error for `url`. */
  constructor(url: string) {
    super(
      `error sending request for url (${url}): client error (Connect): tcp connect error: ` +
        "Connection refused (os error 111)",
    );
  }
}

/** A fetch function (the simulators' own type, so they import nothing they check). */
export type SimFetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** A queue of failures a test wants the simulator to produce. */
export class FailurePlan {
  #queue: InjectedFailure[] = [];
  #partial = new Map<string, PartialFailure>();
  #outages: { active: () => boolean; failure: InjectedFailure | "refused" }[] = [];
  #poison = new Set<string>();
  /** Delay added before every answer, in ms. */
  latencyMs = 0;

  /** The next `count` requests fail with `status` (and `body`, else the API's error shape). */
  failNext(
    status: number,
    count = 1,
    body?: unknown,
    options: { headers?: Record<string, string> } = {},
  ): void {
    for (let i = 0; i < count; i++) {
      const failure: InjectedFailure = { status };
      if (body !== undefined) failure.body = body;
      if (options.headers) failure.headers = options.headers;
      this.#queue.push(failure);
    }
  }

  /**
   * An outage of any length on any clock: while `active()` is true, every request is answered
   * with `failure` (e.g. 503, or 429 with `Retry-After`), or, for `"refused"`, the fetch from
   * {@linkcode FailurePlan.fetch} fails as if nothing listened on the port.
   */
  failWhile(active: () => boolean, failure: InjectedFailure | "refused"): void {
    this.#outages.push({ active, failure });
  }

  /**
   * A poison item: every request whose body carries `key` (a STIX id, an externalId, a value) is
   * refused with 400, as a real API refuses a whole request for one bad item, until
   * {@linkcode FailurePlan.cure} forgets it.
   */
  poison(key: string): void {
    this.#poison.add(key);
  }

  /** Forgets a poison item. */
  cure(key: string): void {
    this.#poison.delete(key);
  }

  /** True while at least one poison item is set. */
  get poisoned(): boolean {
    return this.#poison.size > 0;
  }

  /** The poison item a request body carries, if any. */
  poisonIn(body: string): string | undefined {
    for (const key of this.#poison) if (body.includes(key)) return key;
    return undefined;
  }

  /** The whole-request outage failure active now, if any (`"refused"` ones are the fetch's). */
  activeOutage(): InjectedFailure | undefined {
    this.#outages = this.#outages.filter((o) => o.active());
    const outage = this.#outages.find((o) => o.failure !== "refused");
    return outage?.failure === "refused" ? undefined : outage?.failure;
  }

  /** True while a `"refused"` outage is active. */
  refusing(): boolean {
    return this.#outages.some((o) => o.failure === "refused" && o.active());
  }

  /** Wraps a fetch so that requests fail with "connection refused" while such an outage lasts. */
  fetch(inner: SimFetch = globalThis.fetch): SimFetch {
    return (input, init) => {
      if (!this.refusing()) return inner(input, init);
      const url = input instanceof Request ? input.url : String(input);
      return Promise.reject(new ConnectionRefusedError(url));
    };
  }

  /** Delays every answer by `ms`. */
  setLatencyMs(ms: number): void {
    this.latencyMs = ms;
  }

  /** The next bulk item carrying each key (externalId, STIX id…) fails once with this error. */
  partialNext(
    keys: Iterable<string>,
    error: Partial<PartialFailure> = {},
  ): void {
    for (const key of keys) {
      this.#partial.set(key, {
        code: error.code ?? "InternalServerError",
        message: error.message ?? "Injected item failure",
      });
    }
  }

  /** Takes the next whole-request failure, if any. */
  takeFailure(): InjectedFailure | undefined {
    return this.#queue.shift();
  }

  /** Takes the per-item failure planned for `key`, if any. */
  takePartial(key: string | undefined): PartialFailure | undefined {
    if (key === undefined) return undefined;
    const failure = this.#partial.get(key);
    if (failure) this.#partial.delete(key);
    return failure;
  }

  /** Forgets every planned failure and the latency. */
  clear(): void {
    this.#queue = [];
    this.#partial.clear();
    this.#outages = [];
    this.#poison.clear();
    this.latencyMs = 0;
  }
}

/** Options of {@linkcode failureMiddleware}. */
export interface FailureMiddlewareOptions {
  /** Builds the API's error body when a failure has none. @default Graph-style */
  renderError?: RenderError;
  /** The sleep used for latency. @default a real timer */
  sleep?: Sleep | undefined;
}

/** Middleware that applies the plan's latency and queued whole-request failures. */
export function failureMiddleware(
  plan: FailurePlan,
  options: FailureMiddlewareOptions = {},
): MiddlewareHandler {
  const render = options.renderError ?? renderGraphStyleError;
  const sleep = options.sleep ?? systemSleep;
  return async (c, next) => {
    if (plan.latencyMs > 0) await sleep(plan.latencyMs, c.req.raw.signal);
    const failure = plan.activeOutage() ?? plan.takeFailure();
    if (!failure && plan.poisoned && c.req.raw.body !== null) {
      const poison = plan.poisonIn(await c.req.raw.clone().text());
      if (poison !== undefined) {
        return render(
          c,
          400,
          "BadRequest",
          `The request carries an invalid item (${poison}): nothing in it was processed`,
        );
      }
    }
    if (!failure) return await next();
    if (failure.body === undefined) {
      return render(
        c,
        failure.status,
        defaultCode(failure.status),
        "Injected failure",
        failure.headers,
      );
    }
    const headers = new Headers(failure.headers);
    if (typeof failure.body === "string") {
      return new Response(failure.body, { status: failure.status, headers });
    }
    headers.set("content-type", "application/json");
    return new Response(JSON.stringify(failure.body), { status: failure.status, headers });
  };
}

/** One request a simulator saw. */
export interface SeenRequest {
  /** HTTP method. */
  method: string;
  /** Path as sent. */
  path: string;
  /** Decoded `$filter`, if any. */
  filter?: string;
  /** HTTP status answered. */
  status: number;
  /** Simulator time of the request. */
  at: number;
}

const seenOf = new WeakMap<Request, SeenRequest>();

/** Middleware that appends every request to `requests` and fills in its status once answered. */
export function recordRequests(requests: SeenRequest[], now: Now): MiddlewareHandler {
  return async (c, next) => {
    const seen: SeenRequest = {
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      status: 0,
      at: now(),
    };
    const filter = c.req.query("$filter");
    if (filter !== undefined) seen.filter = filter;
    requests.push(seen);
    seenOf.set(c.req.raw, seen);
    await next();
    seen.status = c.res.status;
  };
}

/** The entry {@linkcode recordRequests} made for this request, to add details to. */
export function seenRequest(c: Context): SeenRequest | undefined {
  return seenOf.get(c.req.raw);
}

/** The JSON body, or the API's 400 from `invalid` when the body is not JSON. */
export async function readJson(
  c: Context,
  invalid: (c: Context) => Response,
): Promise<unknown | Response> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch {
    return invalid(c);
  }
}

/** True for a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A conventional error code for an HTTP status. */
export function defaultCode(status: number): string {
  switch (status) {
    case 400:
      return "BadRequest";
    case 401:
      return "InvalidAuthenticationToken";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "GatewayTimeout";
    default:
      return status >= 500 ? "InternalServerError" : "BadRequest";
  }
}

/** A running simulator on loopback. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Stops the server and waits for it to finish. */
  close(): Promise<void>;
  /**
   * Stops listening (clients get "connection refused") until {@linkcode RunningServer.listen};
   * the port is kept. @default not supported
   */
  refuse?(): Promise<void>;
  /** Listens again on the same port after {@linkcode RunningServer.refuse}. */
  listen?(): void;
}

/** Serves a simulator on 127.0.0.1 with a free port; the result is the simulator and its server. */
export function serveSim<
  S extends { app: { fetch(request: Request): Response | Promise<Response> } },
>(
  sim: S,
): S & RunningServer {
  const server = serveOnLoopback(sim.app);
  return { ...sim, ...server };
}

/** Serves a Hono app on 127.0.0.1 with a free port. */
export function serveOnLoopback(
  app: { fetch(request: Request): Response | Promise<Response> },
): RunningServer {
  const start = (port: number) =>
    Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (request) => app.fetch(request));
  let server: Deno.HttpServer<Deno.NetAddr> | undefined = start(0);
  const address = server.addr;
  const shutdown = async () => {
    const running = server;
    server = undefined;
    await running?.shutdown();
  };
  return {
    url: `http://${address.hostname}:${address.port}`,
    close: shutdown,
    refuse: shutdown,
    listen: () => {
      server ??= start(address.port);
    },
  };
}
