/**
 * The Tanium Threat Response API client (reference `tanium.md` §2): `session` header, paged alert
 * listing with an explicit `limit`, intel documents, timeouts, retries with backoff, typed errors.
 *
 * TLS: build the `fetch` with `tlsFetch()` from `runtime/http.ts`. A custom CA file works per
 * client; `TANIUM_INCIDENTS_SSL_VERIFY=false` cannot be applied per client in Deno and needs the
 * process to be started with `--unsafely-ignore-certificate-errors=<tanium host>`.
 *
 * @module
 */
import * as v from "valibot";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import {
  excerpt,
  type Fetch,
  httpError,
  type HttpResponse,
  request,
  safeUrl,
} from "../runtime/http.ts";
import { isRetryable, retry } from "../runtime/retry.ts";
import { getLogger } from "../log.ts";
import {
  AlertsEnvelopeSchema,
  type IntelDoc,
  type MalformedAlert,
  readAlert,
  readIntel,
  type TaniumAlert,
} from "./schemas.ts";
import { errorMessage } from "../runtime/errors.ts";

/** Path of the alerts endpoint, appended to the API base URL. */
export const ALERTS_PATH = "/plugin/products/threat-response/api/v1/alerts";
/** Path prefix of the intel documents endpoint. */
export const INTELS_PATH = "/plugin/products/threat-response/api/v1/intels";
/** Largest `limit` Tanium accepts (a larger one is answered with HTTP 400). */
export const MAX_PAGE_SIZE = 500;
/** Sort order sent with every listing: by time, then by id so page boundaries are stable. */
export const ALERT_SORT = "alertedAt,id";

/** Tanium refused the token (HTTP 401). */
export class TaniumAuthError extends Error {
  /** The error's name. */
  override name = "TaniumAuthError";
}

/** Tanium refused access with this token (HTTP 403). */
export class TaniumForbiddenError extends Error {
  /** The error's name. */
  override name = "TaniumForbiddenError";
}

/** Tanium answered something that is not the documented JSON (truncated or another shape). */
export class TaniumResponseError extends Error {
  /** The error's name. */
  override name = "TaniumResponseError";
  /** `invalid-json` (truncated or cut body: worth a retry) or `unexpected-shape` (permanent). */
  readonly kind: "invalid-json" | "unexpected-shape";

  /** Builds the error with its kind. */
  constructor(
    message: string,
    kind: "invalid-json" | "unexpected-shape",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.kind = kind;
  }
}

/** Retry settings of the client (clock and sleep come from the client). */
export interface TaniumRetryOptions {
  /** Total attempts including the first. @default 4 */
  attempts?: number;
  /** Base delay of the exponential backoff in ms. @default 1000 */
  baseMs?: number;
  /** Largest delay between two attempts in ms. @default 30000 */
  capMs?: number;
  /** Random source in [0, 1) for jitter. @default Math.random */
  random?: () => number;
}

/** Options of {@linkcode TaniumClient}. */
export interface TaniumClientOptions {
  /** API base URL (`TANIUM_INCIDENTS_URL`); a trailing `/` is removed. */
  url: string;
  /** API token (`TANIUM_INCIDENTS_TOKEN`), sent in the `session` header. */
  token: string;
  /** The fetch to use (see `tlsFetch` for CA files). @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock (for `Retry-After` dates). @default Date.now */
  now?: Now;
  /** The sleep between retries. @default a real timer */
  sleep?: Sleep;
  /** Time allowed for one request in ms. @default 60000 */
  timeoutMs?: number;
  /** Largest response accepted, in bytes. @default 52428800 (50 MiB) */
  maxBytes?: number;
  /** Retries of 429, 5xx, timeouts, network errors and unreadable bodies. @default {} */
  retry?: TaniumRetryOptions;
}

/** One page request. */
export interface AlertQuery {
  /** Inclusive lower bound on `alertedAt` (any ISO-8601; sent as given, URL-encoded). */
  alertedAtFrom: string;
  /** Exclusive upper bound on `alertedAt` (any ISO-8601). @default none */
  alertedAtUntil?: string;
  /** Page size, 1 to 500. */
  limit: number;
  /** Index of the first alert. @default 0 */
  offset?: number;
}

/** One page of alerts. */
export interface AlertPage {
  /** Usable alerts, in the order Tanium returned them. */
  alerts: TaniumAlert[];
  /** Items that could not be read (no integer id or no readable `alertedAt`). */
  malformed: MalformedAlert[];
  /** Number of items in the page, usable or not (compare with `limit` to detect the last page). */
  size: number;
  /** `meta.totalCount`, when sent. */
  totalCount: number | undefined;
  /** `meta.filteredCount`, when sent. */
  filteredCount: number | undefined;
}

/** Talks to one Tanium Threat Response API. */
export class TaniumClient {
  /** The API base URL without a trailing slash. */
  readonly url: string;
  readonly #token: string;
  readonly #fetch: Fetch;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #retry: TaniumRetryOptions;
  readonly #logger = getLogger("tanium-incidents", "client");

  /** Builds a client; nothing is sent until the first call. */
  constructor(options: TaniumClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.#token = options.token;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#maxBytes = options.maxBytes ?? 50 * 1024 * 1024;
    this.#retry = options.retry ?? {};
  }

  /** The URL of one alerts page: `alertedAtFrom`, `sort=alertedAt,id`, `limit`, `offset` (and `alertedAtUntil`). */
  alertsUrl(query: AlertQuery): string {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_PAGE_SIZE) {
      throw new RangeError(`Cannot ask Tanium for ${query.limit} alerts: use a limit of 1 to 500`);
    }
    const params = new URLSearchParams({
      alertedAtFrom: query.alertedAtFrom,
      sort: ALERT_SORT,
      limit: String(query.limit),
      offset: String(query.offset ?? 0),
    });
    if (query.alertedAtUntil !== undefined) params.set("alertedAtUntil", query.alertedAtUntil);
    // URLSearchParams encodes "+" as %2B and ":" as %3A, so an offset like +00:00 survives.
    return `${this.url}${ALERTS_PATH}?${params.toString()}`;
  }

  /** Lists one page of alerts, oldest first; each item is read on its own. */
  async listAlerts(query: AlertQuery, signal?: AbortSignal): Promise<AlertPage> {
    const url = this.alertsUrl(query);
    const json = await this.#getJson(url, "List Tanium alerts", signal);
    if (json === undefined) {
      throw new TaniumResponseError(
        `Tanium answered 404 for ${ALERTS_PATH}: check TANIUM_INCIDENTS_URL (the API host) and ` +
          `that Threat Response is installed`,
        "unexpected-shape",
      );
    }
    const envelope = v.safeParse(AlertsEnvelopeSchema, json);
    if (!envelope.success) {
      throw new TaniumResponseError(
        `Tanium ${ALERTS_PATH} did not answer {data: [...], meta}: ${
          envelope.issues[0]?.message ?? "unexpected shape"
        }`,
        "unexpected-shape",
      );
    }
    const alerts: TaniumAlert[] = [];
    const malformed: MalformedAlert[] = [];
    for (const item of envelope.output.data) {
      const read = readAlert(item);
      if ("alert" in read) alerts.push(read.alert);
      else malformed.push(read.malformed);
    }
    return {
      alerts,
      malformed,
      size: envelope.output.data.length,
      totalCount: envelope.output.meta?.totalCount ?? undefined,
      filteredCount: envelope.output.meta?.filteredCount ?? undefined,
    };
  }

  /** Reads one intel document; undefined when Tanium does not know the id (404). */
  async getIntel(id: number, signal?: AbortSignal): Promise<IntelDoc | undefined> {
    const url = `${this.url}${INTELS_PATH}/${encodeURIComponent(String(id))}`;
    const json = await this.#getJson(url, `Read Tanium intel ${id}`, signal);
    if (json === undefined) return undefined;
    try {
      return readIntel(json);
    } catch (cause) {
      throw new TaniumResponseError(
        `Tanium intel ${id} did not answer {data: {id, …}}: ${errorMessage(cause)}`,
        "unexpected-shape",
        { cause },
      );
    }
  }

  /** GET with retries; returns parsed JSON, or undefined for 404. */
  async #getJson(url: string, what: string, signal?: AbortSignal): Promise<unknown> {
    return await retry(async () => {
      const response = await request(url, {
        method: "GET",
        headers: {
          "session": this.#token,
          "content-type": "application/json",
          "accept": "application/json",
        },
      }, {
        fetch: this.#fetch,
        timeoutMs: this.#timeoutMs,
        maxBytes: this.#maxBytes,
        ...(signal ? { signal } : {}),
      });
      if (response.status === 404) return undefined;
      checkStatus(response, what, url);
      try {
        return JSON.parse(response.text) as unknown;
      } catch (cause) {
        throw new TaniumResponseError(
          `${what}: Tanium answered invalid JSON (${response.text.length} bytes, perhaps truncated): ${
            excerpt(response.text, 120)
          }`,
          "invalid-json",
          { cause },
        );
      }
    }, {
      attempts: this.#retry.attempts ?? 4,
      baseMs: this.#retry.baseMs ?? 1000,
      capMs: this.#retry.capMs ?? 30_000,
      ...(this.#retry.random ? { random: this.#retry.random } : {}),
      shouldRetry: isTransient,
      onRetry: ({ attempt, delayMs, error }) =>
        this.#logger.warn("{what} failed (attempt {attempt}), retrying in {delayMs} ms: {error}", {
          what,
          attempt,
          delayMs,
          error: errorMessage(error),
        }),
      now: this.#now,
      sleep: this.#sleep,
      ...(signal ? { signal } : {}),
    });
  }
}

/**
 * True for errors worth trying again later: 408/429/5xx, timeouts, network errors and invalid
 * (truncated) JSON. Auth errors, other 4xx and unexpected shapes are not.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof TaniumResponseError) return error.kind === "invalid-json";
  return isRetryable(error);
}

function checkStatus(response: HttpResponse, what: string, url: string): void {
  const { status } = response;
  if (status >= 200 && status < 300) return;
  if (status === 401) {
    throw new TaniumAuthError(
      "TANIUM_INCIDENTS_TOKEN rejected (expired, or this machine's IP is not in the token's " +
        `trusted list): ${what} at ${safeUrl(url)} answered HTTP 401`,
    );
  }
  if (status === 403) {
    throw new TaniumForbiddenError(
      `${what} at ${safeUrl(url)} answered HTTP 403: the persona of TANIUM_INCIDENTS_TOKEN lacks ` +
        `the rights to read Threat Response alerts and intel (or its session expired); grant ` +
        `them or issue a new token`,
    );
  }
  throw httpError(response, what);
}

/** Intel documents read at most once per run (404s are remembered too). */
export class IntelCache {
  readonly #client: TaniumClient;
  readonly #cache = new Map<number, Promise<IntelDoc | undefined>>();

  /** A fresh cache over a client; make one per run. */
  constructor(client: TaniumClient) {
    this.#client = client;
  }

  /** The intel document, from the cache or Tanium; a failed read is not cached. */
  get(id: number, signal?: AbortSignal): Promise<IntelDoc | undefined> {
    let pending = this.#cache.get(id);
    if (!pending) {
      pending = this.#client.getIntel(id, signal);
      this.#cache.set(id, pending);
      pending.catch(() => this.#cache.delete(id));
    }
    return pending;
  }

  /** Number of documents requested so far. */
  get size(): number {
    return this.#cache.size;
  }
}
