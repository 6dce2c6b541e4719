/**
 * The `sentinel` target: the Microsoft Sentinel STIX objects upload API for creates, updates and
 * revocations, and the ARM threat-intelligence API (exact query, then DELETE) for removals.
 * Reference `microsoft.md` §3; lessons #5174 (batching), #6184 (exact delete), #12538
 * (`indicator_types`), #3032 (token refresh).
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { getLogger } from "../log.ts";
import { HttpError } from "../runtime/errors.ts";
import { excerpt, httpError, type HttpResponse } from "../runtime/http.ts";
import type { Pacer, RateLimiter } from "../runtime/rate_limiter.ts";
import { allOf, TokenBucket } from "../runtime/token_bucket.ts";
import type { StixObject } from "../stix/types.ts";
import type { AdoptableRecord, SyncTarget, TargetIndicator, TargetRemoval } from "./target.ts";
import { failed, type FailureScope, type ItemResult, missingResult } from "../runtime/delivery.ts";
import {
  type ApiCallDeps,
  apiCallDeps,
  type ApiClientOptions,
  callApi,
  errorScope,
  perMinute,
  sameOrigin,
  statusScope,
} from "./api_call.ts";
import type { TokenSource } from "./token_source.ts";
import { GRANT, SENTINEL_CHECK } from "./access_hints.ts";
import { fingerprintOf, projectRecord } from "./fingerprint.ts";
import { OwnedTable } from "./key_table.ts";
import * as v from "valibot";
import {
  armQueryByIdsBody,
  parseTryAgainMs,
  parseUploadErrors,
  RESERVED_SOURCE_SYSTEM,
  SENTINEL_MAX_OBJECTS,
  toSentinelObject,
  uploadBody,
} from "./sentinel_stix_mapping.ts";

/** Options of {@linkcode SentinelTarget}. */
export interface SentinelTargetOptions extends ApiClientOptions {
  /** Log Analytics workspace ID (GUID) used by the upload API. */
  workspaceId: string;
  /** Hands out ARM tokens. */
  tokens: TokenSource;
  /** Upload API host (`SENTINEL_API_URL`). */
  apiUrl: string;
  /** Upload path after `/workspaces/{id}/` (the connector templates spell it `threatintelligence-stix-objects:upload`). @default "threat-intelligence-stix-objects:upload" */
  uploadPath?: string;
  /** Upload `api-version` (`SENTINEL_WORKSPACE_API_VERSION`). */
  uploadApiVersion: string;
  /** Azure Resource Manager host, for deletes (`SENTINEL_MANAGEMENT_URL`). */
  managementUrl: string;
  /** ARM threat-intelligence `api-version` (`SENTINEL_QUERY_API_VERSION`). */
  armApiVersion: string;
  /** Azure subscription id holding the workspace (deletes need it). @default none: removals fail */
  subscriptionId?: string;
  /** Resource group of the workspace (deletes need it). @default none: removals fail */
  resourceGroup?: string;
  /** Workspace name (deletes need it). @default none: removals fail */
  workspaceName?: string;
  /** `sourcesystem` of the uploads; also the `source` used to find them again (`SENTINEL_SOURCE_SYSTEM`). */
  sourceSystem: string;
  /** Labels added to every uploaded indicator. @default [] */
  extraLabels?: string[];
  /** Send `indicator_types` unchanged (see `toSentinelObject`). @default false */
  keepIndicatorTypes?: boolean;
  /** What `upsert` does with a `revoked: true` indicator: re-upload it revoked (reference §3.2), or delete it. @default "upload" */
  revokeBy?: "upload" | "delete";
  /** Token scope (the scope of `SENTINEL_MANAGEMENT_URL`). */
  scope: string;
  /** Upload requests per minute, client side (`SENTINEL_RATE_LIMIT_PER_MINUTE`). */
  rateLimitPerMinute: number;
  /**
   * Also at most this many ARM requests (queries and DELETEs) a minute, on top of ARM's own token
   * buckets (see {@linkcode ARM_BUCKETS}). @default none
   */
  armRateLimitPerMinute?: number;
  /** STIX ids per ARM query of a removal (the `id` clause lists them). @default 100 */
  removeChunk?: number;
  /** Objects per upload request (at most 100). @default 100 */
  maxBatch?: number;
  /** `maxPageSize` of a reconcile listing. @default 1000 */
  listPageSize?: number;
  /** Margin added to the wait read from "Try again in N seconds", in ms. @default 1000 */
  retryMarginMs?: number;
  /** Logger. @default getLogger("sentinel", "sentinel-api") */
  logger?: Logger;
}

/** Writes OpenCTI indicators to Microsoft Sentinel through the STIX objects upload API. */
export class SentinelTarget implements SyncTarget {
  /** Target name. */
  readonly name = "sentinel" as const;
  /** Indicators per `upsert` call (one STIX object each). */
  readonly maxBatch: number;
  /** A revoked indicator is re-uploaded with `revoked: true` unless `revokeBy` is `delete`. */
  get revokeByUpload(): boolean {
    return this.#o.revokeBy === "upload";
  }

  /** The upload API takes STIX indicators; raw observables from the stream are not sent. */
  rejects(item: TargetIndicator): string | undefined {
    return item.stix.type === "indicator"
      ? undefined
      : `Sentinel's upload API takes indicators, not raw ${item.stix.type} observables`;
  }
  readonly #o: Required<
    Omit<
      SentinelTargetOptions,
      | "subscriptionId"
      | "resourceGroup"
      | "workspaceName"
      | "logger"
      | "tokens"
      | "armRateLimitPerMinute"
      | keyof ApiClientOptions
    >
  >;
  readonly #api: ApiCallDeps;
  readonly #armBase: string | undefined;
  readonly #upload: RateLimiter;
  /** ARM pacing per kind of operation (reads, writes, deletes), see {@linkcode ARM_BUCKETS}. */
  readonly #arm: { read: Pacer; write: Pacer; delete: Pacer };
  readonly #log: Logger;
  #lastError: string | undefined;
  #counters = { uploaded: 0, rejected: 0, deleted: 0, throttled: 0 };

  /** Builds the target; throws a TypeError on an unusable option. */
  constructor(options: SentinelTargetOptions) {
    this.#o = {
      workspaceId: options.workspaceId,
      apiUrl: trimSlash(options.apiUrl),
      uploadPath: options.uploadPath ?? "threat-intelligence-stix-objects:upload",
      uploadApiVersion: options.uploadApiVersion,
      managementUrl: trimSlash(options.managementUrl),
      armApiVersion: options.armApiVersion,
      sourceSystem: options.sourceSystem,
      extraLabels: options.extraLabels ?? [],
      keepIndicatorTypes: options.keepIndicatorTypes ?? false,
      revokeBy: options.revokeBy ?? "upload",
      scope: options.scope,
      rateLimitPerMinute: options.rateLimitPerMinute,
      removeChunk: Math.max(1, options.removeChunk ?? 100),
      maxBatch: Math.min(options.maxBatch ?? SENTINEL_MAX_OBJECTS, SENTINEL_MAX_OBJECTS),
      listPageSize: options.listPageSize ?? LIST_PAGE_SIZE,
      retryMarginMs: options.retryMarginMs ?? 1000,
    };
    if (!/^[0-9a-f-]{36}$/i.test(this.#o.workspaceId)) {
      throw new TypeError(
        `The Sentinel workspace id "${this.#o.workspaceId}" is not a GUID: set the workspace ID (not its name)`,
      );
    }
    if (this.#o.sourceSystem.trim() === "" || this.#o.sourceSystem === RESERVED_SOURCE_SYSTEM) {
      throw new TypeError(
        `The Sentinel source system "${this.#o.sourceSystem}" is empty or reserved: choose another name`,
      );
    }
    if (this.#o.maxBatch < 1) throw new TypeError("Set maxBatch to 1 or more");
    this.maxBatch = this.#o.maxBatch;
    const { subscriptionId, resourceGroup, workspaceName } = options;
    this.#armBase = subscriptionId && resourceGroup && workspaceName
      ? `${this.#o.managementUrl}/subscriptions/${encodeURIComponent(subscriptionId)}` +
        `/resourceGroups/${encodeURIComponent(resourceGroup)}` +
        `/providers/Microsoft.OperationalInsights/workspaces/${encodeURIComponent(workspaceName)}` +
        `/providers/Microsoft.SecurityInsights/threatIntelligence/main`
      : undefined;
    this.#log = options.logger ?? getLogger("sentinel", "sentinel-api");
    const margin = this.#o.retryMarginMs;
    this.#api = apiCallDeps(options, {
      tokens: options.tokens,
      scope: this.#o.scope,
      logger: this.#log,
      bodyWaitMs: (text) => {
        const told = parseTryAgainMs(text);
        return told === undefined ? undefined : told + margin;
      },
      onThrottled: () => this.#counters.throttled++,
    });
    this.#upload = perMinute(this.#api, this.#o.rateLimitPerMinute);
    const bucket = (kind: keyof typeof ARM_BUCKETS) =>
      new TokenBucket({ ...ARM_BUCKETS[kind], now: this.#api.now, sleep: this.#api.sleep });
    const cap = options.armRateLimitPerMinute;
    const armCap = cap === undefined ? undefined : perMinute(this.#api, cap);
    const paced = (kind: keyof typeof ARM_BUCKETS) =>
      armCap ? allOf(bucket(kind), armCap) : bucket(kind);
    this.#arm = { read: paced("read"), write: paced("write"), delete: paced("delete") };
  }

  /** Uploads the indicators in batches of up to 100 objects; a rejected record fails only its item. */
  async upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
    const results = new Map<string, ItemResult>();
    const toUpload = new Map<string, StixObject>();
    const toDelete: TargetRemoval[] = [];
    for (const item of items) {
      if (item.stix.revoked === true && this.#o.revokeBy === "delete") {
        toDelete.push({ id: item.id });
        toUpload.delete(item.id);
        continue;
      }
      const mapped = toSentinelObject(item, {
        extraLabels: this.#o.extraLabels,
        keepIndicatorTypes: this.#o.keepIndicatorTypes,
        now: this.#api.now(),
      });
      if (mapped.ok) {
        toUpload.set(item.id, mapped.object);
        results.delete(item.id);
      } else {
        toUpload.delete(item.id);
        results.set(item.id, failed(item.id, mapped.reason, "unsupported"));
        this.#log.warn("Skipped indicator {id}: {reason}", { id: item.id, reason: mapped.reason });
      }
    }
    const objects = [...toUpload.values()];
    for (let start = 0; start < objects.length; start += this.maxBatch) {
      const chunk = objects.slice(start, start + this.maxBatch);
      for (const result of await this.#uploadChunk(chunk, signal)) results.set(result.id, result);
    }
    if (toDelete.length > 0) {
      for (const result of await this.remove(toDelete, signal)) results.set(result.id, result);
    }
    return items.map((item) => results.get(item.id) ?? missingResult(item.id));
  }

  /**
   * Deletes every Sentinel indicator holding these STIX ids from our source; absent = success.
   * One ARM query finds the indicators of up to `removeChunk` ids (their `id` clause lists them,
   * all pages), then each found indicator is deleted (ARM has no bulk delete).
   */
  async remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
    if (this.#armBase === undefined) {
      return items.map((item) =>
        failed(
          item.id,
          "Cannot delete from Sentinel: set the subscription id, resource group and " +
            "workspace name of the workspace",
          "unsupported",
        )
      );
    }
    const results = new Map<string, ItemResult>();
    const ids = [...new Set(items.map((item) => item.id))];
    for (let start = 0; start < ids.length; start += this.#o.removeChunk) {
      const chunk = ids.slice(start, start + this.#o.removeChunk);
      for (const result of await this.#removeChunk(chunk, signal)) results.set(result.id, result);
    }
    return items.map((item) => results.get(item.id) ?? missingResult(item.id));
  }

  /**
   * Every indicator of our `sourcesystem` in the workspace (issue 17): the ARM query by `source`
   * alone, `maxPageSize` per page, following `nextLink` (same host only) with the same body.
   * Throws when a page fails or the ARM coordinates are missing.
   */
  async listOwned(signal?: AbortSignal): Promise<OwnedTable> {
    const owned = new OwnedTable();
    await this.#query(this.#o.sourceSystem, signal, (object) => {
      owned.add(object.id, fingerprintOf([projectRecord(object, SENTINEL_PROJECTION)]));
    });
    return owned;
  }

  /**
   * The indicators another connector uploaded under `source` (issue 17 adoption): keyed by their
   * STIX id, as upstream stream/microsoft-sentinel-intel uploads the OpenCTI STIX indicator
   * unchanged (its `sourcesystem` defaults to "Opencti Stream Connector"); the handle is the ARM
   * resource id to delete.
   */
  async listAdoptable(source: string, signal?: AbortSignal): Promise<AdoptableRecord[]> {
    if (source === this.#o.sourceSystem) return [];
    const out: AdoptableRecord[] = [];
    await this.#query(source, signal, (object, resourceId) => {
      out.push({ key: object.id, handle: resourceId });
    });
    return out;
  }

  /** Deletes records listed by {@linkcode listAdoptable}, by ARM resource id; absent = success. */
  async removeRecords(handles: string[], signal?: AbortSignal): Promise<ItemResult[]> {
    const version = `api-version=${encodeURIComponent(this.#o.armApiVersion)}`;
    const results: ItemResult[] = [];
    for (const handle of handles) {
      try {
        if (!/^\/subscriptions\/[^?#]+$/.test(handle) || handle.includes("..")) {
          throw new Error(`Unexpected Sentinel resource id "${handle}"`);
        }
        const response = await callApi({
          method: "DELETE",
          url: `${this.#o.managementUrl}${handle}?${version}`,
          limiter: this.#arm.delete,
          what: "Sentinel indicator delete",
          signal,
        }, this.#api);
        if (response.status !== 404 && (response.status < 200 || response.status >= 300)) {
          throw httpError(response, "Sentinel indicator delete");
        }
        if (response.status !== 404) this.#counters.deleted++;
        results.push({ id: handle, ok: true });
      } catch (error) {
        if (signal?.aborted) throw error;
        results.push(failed(handle, this.#note(error), errorScope(error, 1), SENTINEL_CHECK));
      }
    }
    return results;
  }

  /**
   * Every indicator of one `source` (all pages): the first page is a POST of the query with
   * `maxPageSize`, the next ones a GET on `nextLink`, as ARM pageable operations are read
   * (upstream stream/microsoft-sentinel-intel client.py `_iter_pages` reads them the same way).
   */
  async #query(
    source: string,
    signal: AbortSignal | undefined,
    visit: (object: { id: string } & Record<string, unknown>, resourceId: string) => void,
  ): Promise<void> {
    if (this.#armBase === undefined) {
      throw new Error(
        "Cannot list Sentinel indicators: set the subscription id, resource group and workspace " +
          "name of the workspace",
      );
    }
    const body = JSON.stringify({
      condition: {
        stixObjectType: "indicator",
        conditionConnective: "And",
        clauses: [{ field: "source", operator: "Equals", values: [source] }],
      },
      maxPageSize: this.#o.listPageSize,
    });
    await this.#queryPages(body, "Sentinel threat-intelligence list", signal, visit);
  }

  /**
   * Every page of one ARM threat-intelligence query: a POST of the body (an ARM write), then a
   * GET on each same-host `nextLink` (an ARM read). Throws when a page fails.
   */
  async #queryPages(
    body: string,
    what: string,
    signal: AbortSignal | undefined,
    visit: (object: { id: string } & Record<string, unknown>, resourceId: string) => void,
  ): Promise<void> {
    const version = `api-version=${encodeURIComponent(this.#o.armApiVersion)}`;
    let pages = 0;
    let next: string | undefined = `${this.#armBase}/query?${version}`;
    while (next !== undefined) {
      const first = pages === 0;
      pages++;
      const response = await callApi({
        method: first ? "POST" : "GET",
        url: next,
        ...(first ? { body } : {}),
        limiter: first ? this.#arm.write : this.#arm.read,
        what,
        signal,
      }, this.#api);
      if (response.status !== 200) throw httpError(response, what);
      let json: unknown;
      try {
        json = JSON.parse(response.text);
      } catch {
        json = undefined;
      }
      const parsed = v.safeParse(ListPage, json);
      if (!parsed.success) {
        throw new HttpError(
          `${what} answered an unreadable body: ${excerpt(response.text)}`,
          response.status,
          excerpt(response.text, 4096),
        );
      }
      for (const entry of parsed.output.value) {
        const object = entry.properties?.stixObject;
        if (!object || typeof object.id !== "string") continue;
        visit(object as { id: string } & Record<string, unknown>, entry.id);
      }
      const link = parsed.output.nextLink ?? undefined;
      next = link && sameOrigin(link, this.#o.managementUrl) ? link : undefined;
      if (pages >= LIST_MAX_PAGES && next !== undefined) {
        throw new Error(
          `${what} still had pages after ${LIST_MAX_PAGES}: a partial listing is never used`,
        );
      }
    }
  }

  /** The fingerprint of what `upsert` would leave in Sentinel for this indicator. */
  fingerprint(item: TargetIndicator): string | undefined {
    if (this.rejects(item) !== undefined) return undefined;
    if (item.stix.revoked === true && this.#o.revokeBy === "delete") return undefined;
    const mapped = toSentinelObject(item, {
      extraLabels: this.#o.extraLabels,
      keepIndicatorTypes: this.#o.keepIndicatorTypes,
      now: 0,
    });
    return mapped.ok
      ? fingerprintOf([projectRecord(mapped.object, SENTINEL_PROJECTION)])
      : undefined;
  }

  /** Counters and the last error, for `/status`. */
  status(): Record<string, unknown> {
    const status: Record<string, unknown> = {
      workspaceId: this.#o.workspaceId,
      sourceSystem: this.#o.sourceSystem,
      deletesConfigured: this.#armBase !== undefined,
      ...this.#counters,
    };
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    return status;
  }

  async #uploadChunk(chunk: StixObject[], signal?: AbortSignal): Promise<ItemResult[]> {
    const url = `${this.#o.apiUrl}/workspaces/${encodeURIComponent(this.#o.workspaceId)}/` +
      `${this.#o.uploadPath}?api-version=${encodeURIComponent(this.#o.uploadApiVersion)}`;
    const fail = (reason: string, scope: FailureScope, check?: string): ItemResult[] =>
      chunk.map((object) => failed(object.id, reason, scope, check));
    let response: HttpResponse;
    try {
      response = await callApi({
        method: "POST",
        url,
        body: uploadBody(this.#o.sourceSystem, chunk),
        limiter: this.#upload,
        what: "Sentinel upload",
        signal,
      }, this.#api);
    } catch (error) {
      if (signal?.aborted) throw error;
      return fail(this.#note(error), errorScope(error, chunk.length), SENTINEL_CHECK);
    }
    const errors = parseUploadErrors(response.text);
    if (response.status === 200) {
      if (errors === undefined) {
        this.#log.warn("Sentinel upload answered 200 with an unexpected body: {body}", {
          body: excerpt(response.text),
        });
      }
      const rejected = new Map<number, string>();
      for (const error of errors ?? []) {
        const message = error.errorMessages.join("; ") || "rejected by Sentinel";
        rejected.set(error.recordIndex, `${rejected.has(error.recordIndex) ? "; " : ""}${message}`);
      }
      const results = chunk.map((object, index): ItemResult => {
        const reason = rejected.get(index);
        return reason === undefined
          ? { id: object.id, ok: true }
          : failed(object.id, `Sentinel rejected it: ${reason}`, "item");
      });
      const rejectedCount = results.filter((r) => !r.ok).length;
      this.#counters.uploaded += chunk.length - rejectedCount;
      this.#counters.rejected += rejectedCount;
      this.#log.info("Uploaded {count} indicators to Sentinel, {failed} rejected", {
        count: chunk.length - rejectedCount,
        failed: rejectedCount,
      });
      for (const result of results) {
        if (!result.ok) {
          this.#log.warn("Sentinel rejected indicator {id}: {reason}", {
            id: result.id,
            reason: result.reason,
          });
        }
      }
      return results;
    }
    if (response.status === 400 && errors && errors.length > 0) {
      // Nothing was valid: Sentinel names each record's problem.
      this.#counters.rejected += chunk.length;
      const byIndex = new Map(errors.map((e) => [e.recordIndex, e.errorMessages.join("; ")]));
      // A record Sentinel names is proven bad; one it does not name is only part of a bad request.
      return chunk.map((object, index) => {
        const named = byIndex.get(index);
        return named === undefined
          ? failed(
            object.id,
            `Sentinel refused the request: ${excerpt(response.text)}`,
            chunk.length > 1 ? "request" : "item",
          )
          : failed(object.id, `Sentinel rejected it: ${named}`, "item");
      });
    }
    return fail(
      this.#note(httpError(response, "Sentinel upload")),
      statusScope(response.status, chunk.length),
      SENTINEL_CHECK,
    );
  }

  /** Finds the indicators of these STIX ids with one query (all pages), then deletes each. */
  async #removeChunk(stixIds: string[], signal?: AbortSignal): Promise<ItemResult[]> {
    const wanted = new Set(stixIds);
    const found = new Map<string, Set<string>>();
    try {
      await this.#queryPages(
        armQueryByIdsBody(stixIds, this.#o.sourceSystem, this.#o.listPageSize),
        "Sentinel threat-intelligence query",
        signal,
        (object, resourceId) => {
          if (!wanted.has(object.id)) return;
          const set = found.get(object.id) ?? new Set<string>();
          set.add(resourceId);
          found.set(object.id, set);
        },
      );
    } catch (error) {
      if (signal?.aborted) throw error;
      const reason = this.#note(error);
      const scope = errorScope(error, stixIds.length);
      return stixIds.map((id) => failed(id, reason, scope, SENTINEL_CHECK));
    }
    const version = `api-version=${encodeURIComponent(this.#o.armApiVersion)}`;
    let deleted = 0;
    const results: ItemResult[] = [];
    for (const stixId of stixIds) {
      try {
        for (const resourceId of found.get(stixId) ?? []) {
          if (!/^\/subscriptions\/[^?#]+$/.test(resourceId) || resourceId.includes("..")) {
            throw new Error(`Sentinel returned an unexpected resource id "${resourceId}"`);
          }
          const response = await callApi({
            method: "DELETE",
            url: `${this.#o.managementUrl}${resourceId}?${version}`,
            limiter: this.#arm.delete,
            what: "Sentinel indicator delete",
            signal,
          }, this.#api);
          if (response.status === 404) continue;
          if (response.status < 200 || response.status >= 300) {
            throw httpError(response, "Sentinel indicator delete");
          }
          this.#counters.deleted++;
          deleted++;
        }
        results.push({ id: stixId, ok: true });
      } catch (error) {
        if (signal?.aborted) throw error;
        results.push(failed(stixId, this.#note(error), errorScope(error, 1), SENTINEL_CHECK));
      }
    }
    this.#log.info("Deleted {count} Sentinel indicators for {ids} STIX ids ({absent} had none)", {
      count: deleted,
      ids: stixIds.length,
      absent: stixIds.filter((id) => !found.has(id)).length,
    });
    return results;
  }

  #note(error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    const advice = error instanceof HttpError && (error.status === 401 || error.status === 403)
      ? `: ${GRANT.sentinel}`
      : "";
    this.#lastError = `${message}${advice}`;
    this.#log.error("Sentinel call failed: {error}", { error: this.#lastError });
    return this.#lastError;
  }
}

/**
 * ARM's token buckets per subscription, principal and kind of operation (since 2024): reads 250
 * refilled 25/s, writes 200 refilled 10/s, deletes 200 refilled 10/s ("Understand how Azure
 * Resource Manager throttles requests", learn.microsoft.com
 * azure-resource-manager/management/request-limits-and-throttling). The query is a POST: a write.
 */
export const ARM_BUCKETS = {
  read: { size: 250, perSecond: 25 },
  write: { size: 200, perSecond: 10 },
  delete: { size: 200, perSecond: 10 },
} as const;

/** Indicators per page of a reconcile listing. */
const LIST_PAGE_SIZE = 1000;
/** Pages of a reconcile listing before giving up (10 million indicators). */
const LIST_MAX_PAGES = 10_000;

/**
 * Fields a reconcile compares. `modified` is left out: a revoked indicator is uploaded with a
 * fresh one (reference §3.2), so it would never match.
 */
const SENTINEL_PROJECTION = [
  "type",
  "pattern",
  "pattern_type",
  "name",
  "description",
  "confidence",
  "labels",
  "indicator_types",
  "valid_from",
  "valid_until",
  "revoked",
  "kill_chain_phases",
  "object_marking_refs",
] as const;

const ListPage = v.looseObject({
  value: v.array(v.looseObject({
    id: v.string(),
    properties: v.optional(v.looseObject({
      stixObject: v.optional(v.looseObject({ id: v.optional(v.string()) })),
    })),
  })),
  nextLink: v.optional(v.nullable(v.string())),
});

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
