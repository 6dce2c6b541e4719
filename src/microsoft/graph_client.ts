/**
 * The HTTP side of the Graph `tiIndicators` target (reference microsoft.md §2): one paced, retried
 * call, paged reads, the bulk writes and deletes with their per-item results, and Graph's error
 * bodies turned into {@linkcode GraphApiError}s and per-indicator failures. It knows nothing of
 * which records should exist: {@linkcode GraphTarget} decides that (see `graph_plan.ts`).
 *
 * @module
 */
import * as v from "valibot";
import type { Logger } from "../log.ts";
import { NetworkError, TimeoutError } from "../runtime/errors.ts";
import { excerpt, type HttpResponse } from "../runtime/http.ts";
import type { RateLimiter } from "../runtime/rate_limiter.ts";
import type { FailureScope } from "../runtime/delivery.ts";
import { type ApiCallDeps, callApi, statusScope } from "./api_call.ts";
import { filterQuery } from "./odata.ts";

import { CREDENTIAL_SETTINGS, GRANT } from "./access_hints.ts";

export { GRAPH_CHECK, GRAPH_PERMISSION } from "./access_hints.ts";

/** A Graph call that failed for good; carries Microsoft's code and request ids for the logs. */
export class GraphApiError extends Error {
  /** The error's name. */
  override name = "GraphApiError";
  /** HTTP status (0 for network failures). */
  readonly status: number;
  /** Microsoft's error code. */
  readonly code: string;
  /** Whether a later try may succeed. */
  readonly retryable: boolean;
  /** `request-id` reported by Graph. */
  readonly requestId: string | undefined;
  /** The `client-request-id` we sent. */
  readonly clientRequestId: string | undefined;

  /** Builds the error. */
  constructor(
    message: string,
    details: {
      status: number;
      code: string;
      retryable: boolean;
      requestId?: string | undefined;
      clientRequestId?: string | undefined;
    },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.status = details.status;
    this.code = details.code;
    this.retryable = details.retryable;
    this.requestId = details.requestId;
    this.clientRequestId = details.clientRequestId;
  }
}

/** A record read back from Graph. */
export type Existing = Record<string, unknown> & { id: string };

/** A failure of one indicator. */
export interface Failure {
  /** Why, for the logs and the dead letter. */
  reason: string;
  /** What the connector does with it. */
  scope: FailureScope;
}

/** Notes the first failure of an indicator. */
export type Fail = (id: string, failure: Failure) => void;

/** One record to write on behalf of an indicator (`owner`). */
export interface Write {
  /** STIX id of the indicator the record belongs to. */
  owner: string;
  /** The request body item. */
  record: object;
}

/**
 * The per-record outcome of a bulk write: the Graph id, or the failure already noted. `resent`:
 * the request went out more than once (a retry after a lost answer, a 5xx or a 429), so an
 * earlier try may have created a twin of the record that Graph did not report.
 */
export type WriteOutcome =
  | { ok: true; id: string | undefined; resent: boolean }
  | { ok: false; failure: Failure };

const ErrorBody = v.looseObject({
  error: v.looseObject({
    code: v.optional(v.string()),
    message: v.optional(v.string()),
    innerError: v.optional(v.looseObject({
      "request-id": v.optional(v.string()),
      "client-request-id": v.optional(v.string()),
    })),
  }),
});
const ListBody = v.looseObject({
  value: v.array(v.record(v.string(), v.unknown())),
  "@odata.nextLink": v.optional(v.string()),
});
const BulkBody = v.looseObject({
  value: v.array(v.looseObject({
    id: v.optional(v.string()),
    externalId: v.optional(v.nullable(v.string())),
    Error: v.optional(v.unknown()),
  })),
});
const ResultInfoBody = v.looseObject({
  value: v.array(v.looseObject({
    code: v.optional(v.number()),
    message: v.optional(v.nullable(v.string())),
    subCode: v.optional(v.nullable(v.string())),
  })),
});

/** Counters of what Graph did for us, for `/status`. */
export interface GraphCounters {
  created: number;
  updated: number;
  deleted: number;
  failed: number;
  skipped: number;
  requests: number;
}

/** Talks to one `tiIndicators` collection: paced, retried, errors read. */
export class GraphClient {
  /** Counters for `/status`. */
  readonly counters: GraphCounters = {
    created: 0,
    updated: 0,
    deleted: 0,
    failed: 0,
    skipped: 0,
    requests: 0,
  };
  /** The last error seen, for `/status`. */
  lastError: string | undefined;
  readonly #collection: string;
  readonly #origin: string;
  readonly #limiter: RateLimiter;
  readonly #api: ApiCallDeps;
  readonly #log: Logger;

  /** Builds the client for the collection URL; `api` carries pacing, retries and the token. */
  constructor(
    collection: string,
    deps: { limiter: RateLimiter; api: Omit<ApiCallDeps, "onSend">; logger: Logger },
  ) {
    this.#collection = collection;
    this.#origin = new URL(collection).origin;
    this.#limiter = deps.limiter;
    this.#log = deps.logger;
    this.#api = { ...deps.api, onSend: () => this.counters.requests++ };
  }

  /**
   * Reads every page of a `$filter` query (no filter: every record our application owns, as the
   * `OwnedBy` permission lists only those). Follows `@odata.nextLink` on the same host only.
   * With `visit`, records are handed to it instead of returned; it stops the listing with `false`.
   */
  async list(
    filter: string | undefined,
    signal: AbortSignal | undefined,
    refusalExpected = false,
    visit?: (record: Existing) => boolean | void,
  ): Promise<Existing[]> {
    let url: string | undefined = filter === undefined
      ? this.#collection
      : `${this.#collection}?${filterQuery(filter)}`;
    const out: Existing[] = [];
    while (url) {
      if (new URL(url).origin !== this.#origin) {
        throw new GraphApiError(`Refusing to follow @odata.nextLink to another host: ${url}`, {
          status: 0,
          code: "UnexpectedNextLink",
          retryable: false,
        });
      }
      // 200 and 206 (a provider partly failed) are read alike (lesson PR #2347).
      const response = await this.call(
        "GET",
        url,
        undefined,
        "List tiIndicators",
        signal,
        [],
        refusalExpected,
      );
      const body = parseBody(ListBody, response.text, "list");
      for (const record of body.value) {
        if (typeof record.id !== "string") continue;
        if (!visit) out.push(record as Existing);
        else if (visit(record as Existing) === false) return out;
      }
      url = body["@odata.nextLink"];
    }
    return out;
  }

  /**
   * One bulk create or update request; each record fails (noted with `fail`) or counts by its own
   * result. Returns one outcome per write, in order.
   */
  async bulkWrite(
    action: "submitTiIndicators" | "updateTiIndicators",
    writes: Write[],
    fail: Fail,
    signal: AbortSignal | undefined,
  ): Promise<WriteOutcome[]> {
    const create = action === "submitTiIndicators";
    const verb = create ? "create" : "update";
    let value: v.InferOutput<typeof BulkBody>["value"];
    const sent = this.counters.requests;
    try {
      const response = await this.call(
        "POST",
        `${this.#collection}/${action}`,
        { value: writes.map((w) => w.record) },
        create ? "Submit tiIndicators" : "Update tiIndicators",
        signal,
      );
      value = parseBody(BulkBody, response.text, action).value;
    } catch (error) {
      const failure = this.failureOf(error, verb, new Set(writes.map((w) => w.owner)).size);
      for (const w of writes) fail(w.owner, failure);
      return writes.map(() => ({ ok: false, failure }));
    }
    const resent = this.counters.requests - sent > 1;
    return writes.map((w, index): WriteOutcome => {
      const result = value[index];
      const failure = result === undefined
        ? { reason: "Graph answered without a result for this record", scope: "systemic" as const }
        : itemFailure(result.Error, result.id);
      if (failure) {
        this.logItem(verb, w.owner, failure);
        fail(w.owner, failure);
        return { ok: false, failure };
      }
      if (create) this.counters.created++;
      else this.counters.updated++;
      return { ok: true, id: result?.id, resent };
    });
  }

  /** `PATCH` of one record (Defender ATP has no bulk update); true when done. */
  async patch(
    owner: string,
    recordId: string,
    patch: object,
    fail: Fail,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    try {
      await this.call(
        "PATCH",
        `${this.#collection}/${encodeURIComponent(recordId)}`,
        patch,
        "Update tiIndicator",
        signal,
      );
      this.counters.updated++;
      return true;
    } catch (error) {
      fail(owner, this.failureOf(error, "update", 1));
      return false;
    }
  }

  /** `DELETE` of one record (Defender ATP has no bulk delete); a 404 is already gone. */
  async deleteOne(
    owner: string,
    recordId: string,
    fail: Fail,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    try {
      await this.call(
        "DELETE",
        `${this.#collection}/${encodeURIComponent(recordId)}`,
        undefined,
        "Delete tiIndicator",
        signal,
        [404],
      );
      this.counters.deleted++;
      return true;
    } catch (error) {
      fail(owner, this.failureOf(error, "delete", 1));
      return false;
    }
  }

  /**
   * One bulk delete (by Graph id or by `externalId`); returns, per key, whether it is gone (done,
   * or already absent).
   */
  async bulkDelete(
    action: "deleteTiIndicators" | "deleteTiIndicatorsByExternalId",
    keys: { owner: string; key: string }[],
    fail: Fail,
    signal: AbortSignal | undefined,
  ): Promise<boolean[]> {
    let value: v.InferOutput<typeof ResultInfoBody>["value"];
    try {
      const response = await this.call(
        "POST",
        `${this.#collection}/${action}`,
        { value: keys.map((k) => k.key) },
        "Delete tiIndicators",
        signal,
      );
      value = parseBody(ResultInfoBody, response.text, action).value;
    } catch (error) {
      const failure = this.failureOf(error, "delete", new Set(keys.map((k) => k.owner)).size);
      for (const k of keys) fail(k.owner, failure);
      return keys.map(() => false);
    }
    return keys.map((k, index) => {
      const result = value[index];
      if (result === undefined) {
        const failure: Failure = {
          reason: `Graph answered ${action} without a result for ${k.key}`,
          scope: "systemic",
        };
        this.logItem("delete", k.owner, failure);
        fail(k.owner, failure);
        return false;
      }
      const code = result.code ?? 0;
      // resultInfo codes are not documented: 0 (the documented example) and 2xx are done, 404
      // means already gone (removal is idempotent).
      if ((code >= 200 && code < 300) || code === 404 || code === 0) {
        this.counters.deleted++;
        return true;
      }
      const failure: Failure = {
        reason: `Graph could not delete ${k.key}: ${result?.subCode ?? code} ${
          result?.message ?? ""
        }`
          .trim(),
        scope: code === 429 || code >= 500 ? "systemic" : "item",
      };
      this.logItem("delete", k.owner, failure);
      fail(k.owner, failure);
      return false;
    });
  }

  /**
   * Sends one request with pacing and retries (see {@linkcode callApi}); a network failure after
   * the last try or a status other than 2xx and `okStatuses` throws a {@linkcode GraphApiError}.
   */
  async call(
    method: string,
    url: string,
    body: unknown,
    what: string,
    signal: AbortSignal | undefined,
    okStatuses: number[] = [],
    refusalExpected = false,
  ): Promise<HttpResponse> {
    const clientRequestId = crypto.randomUUID();
    let response: HttpResponse;
    try {
      response = await callApi({
        method,
        url,
        body: body === undefined ? undefined : JSON.stringify(body),
        what,
        limiter: this.#limiter,
        headers: { "client-request-id": clientRequestId },
        signal,
      }, this.#api);
    } catch (error) {
      if (!(error instanceof NetworkError || error instanceof TimeoutError)) throw error;
      throw new GraphApiError(`${what} failed: ${error.message}`, {
        status: 0,
        code: error.name,
        retryable: true,
        clientRequestId,
      }, { cause: error });
    }
    const { status } = response;
    if ((status >= 200 && status < 300) || okStatuses.includes(status)) return response;
    const info = errorInfo(response.text);
    const requestId = info.requestId ?? response.headers.get("request-id") ?? undefined;
    const message = describeFailure(what, status, info, requestId, clientRequestId);
    this.lastError = message;
    const level = refusalExpected && status >= 400 && status < 500 ? "debug" : "error";
    this.#log[level]("{what} failed: HTTP {status} {code}: {message}", {
      what,
      status,
      code: info.code,
      message: info.message,
      requestId,
      clientRequestId,
    });
    throw new GraphApiError(message, {
      status,
      code: info.code,
      retryable: status === 429 || status >= 500 || status === 401 || status === 403,
      requestId,
      clientRequestId,
    });
  }

  /** The failure of a call that carried `items` indicators (see {@linkcode statusScope}). */
  failureOf(error: unknown, what: string, items: number): Failure {
    if (error instanceof GraphApiError) {
      return {
        reason: error.message,
        scope: error.retryable || error.status === 0
          ? "systemic"
          : statusScope(error.status, items),
      };
    }
    if (signalAbort(error)) throw error;
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = message;
    return { reason: `Cannot ${what} on Graph: ${message}`, scope: "systemic" };
  }

  /** Logs a per-item refusal. */
  logItem(what: string, id: string, failure: Failure): void {
    this.lastError = failure.reason;
    this.#log.warn("Graph rejected the {what} of {id}: {reason}", {
      what,
      id,
      reason: failure.reason,
      scope: failure.scope,
    });
  }
}

/** A map of the first failure of each indicator, and the function that notes one. */
export function firstFailures(): { failures: Map<string, Failure>; fail: Fail } {
  const failures = new Map<string, Failure>();
  const fail: Fail = (id, failure) => {
    if (!failures.has(id)) failures.set(id, failure);
  };
  return { failures, fail };
}

/** `items` cut into arrays of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function errorInfo(text: string): { code: string; message: string; requestId?: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { code: "Unknown", message: excerpt(text) };
  }
  const parsed = v.safeParse(ErrorBody, json);
  if (!parsed.success) return { code: "Unknown", message: excerpt(text) };
  const error = parsed.output.error;
  const out: { code: string; message: string; requestId?: string } = {
    code: error.code ?? "Unknown",
    message: error.message ?? "",
  };
  const requestId = error.innerError?.["request-id"];
  if (requestId) out.requestId = requestId;
  return out;
}

function describeFailure(
  what: string,
  status: number,
  info: { code: string; message: string },
  requestId: string | undefined,
  clientRequestId: string,
): string {
  const ids = `request-id ${requestId ?? "none"}, client-request-id ${clientRequestId}`;
  const base = `${what} failed with HTTP ${status} ${info.code}: ${excerpt(info.message)} (${ids})`;
  if (status === 403) {
    return `${base}: ${GRANT.graph}`;
  }
  if (status === 401) {
    return `${base}: check ${CREDENTIAL_SETTINGS}, and that the token is for RESOURCE_URL`;
  }
  return base;
}

/** The failure carried by a bulk result item, if any (a success has an `id` and no `Error`). */
function itemFailure(error: unknown, id: string | undefined): Failure | undefined {
  if (error === undefined || error === null) {
    return id
      ? undefined
      : { reason: "Graph returned the record without an id", scope: "systemic" };
  }
  let code = "Unknown";
  let message = typeof error === "string" ? error : JSON.stringify(error);
  try {
    const parsed = v.safeParse(ErrorBody, typeof error === "string" ? JSON.parse(error) : error);
    if (parsed.success) {
      code = parsed.output.error.code ?? code;
      message = parsed.output.error.message ?? message;
    }
  } catch {
    // not JSON: keep the text
  }
  // A per-item error is that item's own, unless it names a passing condition (throttling, outage)
  // or a record that is gone (someone deleted it behind our back: look it up and create again).
  const scope: FailureScope = /notfound/i.test(code)
    ? "systemic"
    : /invalid|badrequest|notsupported|missing/i.test(code)
    ? "item"
    : /throttl|toomany|unavailable|timeout|internal|serviceerror/i.test(code)
    ? "systemic"
    : "item";
  return { reason: `Graph rejected the record: ${code}: ${excerpt(message)}`, scope };
}

function parseBody<T extends v.GenericSchema>(
  schema: T,
  text: string,
  what: string,
): v.InferOutput<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new GraphApiError(`Graph answered ${what} with invalid JSON: ${excerpt(text)}`, {
      status: 0,
      code: "InvalidResponse",
      retryable: true,
    }, { cause });
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) {
    throw new GraphApiError(
      `Graph answered ${what} with an unexpected body: ${v.summarize(parsed.issues)}`,
      { status: 0, code: "InvalidResponse", retryable: true },
    );
  }
  return parsed.output;
}

function signalAbort(error: unknown): boolean {
  return error instanceof DOMException &&
    (error.name === "AbortError" || error.name === "TimeoutError");
}
