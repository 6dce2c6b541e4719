/**
 * The `defender` target: the Microsoft Defender for Endpoint indicators API (reference
 * `microsoft.md` §5). Creates and updates go through `import` (≤ 500 per call, ≤ 30 calls a
 * minute); removals find our indicators with an escaped, URL-encoded `$filter` restricted to our
 * `application`, then `BatchDelete` them. When the 15,000-per-tenant cap is reached, creations
 * stop while updates and deletes go on.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { getLogger } from "../log.ts";
import type { Now } from "../runtime/clock.ts";
import { HttpError } from "../runtime/errors.ts";
import { excerpt, httpError, type HttpResponse } from "../runtime/http.ts";
import type { RateLimiter } from "../runtime/rate_limiter.ts";
import type { Observable } from "../stix/types.ts";
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
import { filterQuery, odataEq } from "./odata.ts";
import { fingerprintOf, projectRecord } from "./fingerprint.ts";
import { OwnedTable } from "./key_table.ts";
import type { TokenSource } from "./token_source.ts";
import { DEFENDER_CHECK, GRANT } from "./access_hints.ts";
import {
  batchDeleteBody,
  DEFENDER_MAX_BATCH_DELETE,
  DEFENDER_MAX_IMPORT,
  DEFENDER_TENANT_CAP,
  type DefenderIndicator,
  type DefenderMappingOptions,
  defenderTypeOf,
  importBody,
  indicatorKey,
  isTenantCapMessage,
  type ListedIndicator,
  parseDefenderError,
  parseImportAnswer,
  parseListAnswer,
  scoreCeilingOf,
  toDefenderIndicators,
} from "./defender_mapping.ts";

/** Options of {@linkcode DefenderTarget}. */
export interface DefenderTargetOptions
  extends Omit<DefenderMappingOptions, "now">, ApiClientOptions {
  /** Hands out Defender tokens. */
  tokens: TokenSource;
  /** API host (`DEFENDER_API_URL`). */
  apiUrl: string;
  /** Token scope (`DEFENDER_SCOPE`). */
  scope: string;
  /** `import` calls per minute (`SENTINEL_RATE_LIMIT_PER_MINUTE`). */
  rateLimitPerMinute: number;
  /** `BatchDelete` calls per minute. @default 30 */
  batchDeleteRateLimitPerMinute?: number;
  /** List and single-delete calls per minute. @default 100 */
  queryRateLimitPerMinute?: number;
  /**
   * Indicators per batch the connector fills (`SENTINEL_BATCH_SIZE`), and records per `import`
   * request (at most 500). @default 500
   */
  maxBatch?: number;
  /**
   * Most indicators per delivery call: the client packs a call's records into imports of
   * `maxBatch` and its ids into BatchDeletes of 500 itself, so a call may hold all the stream pump
   * read ahead and leave one partly filled request per flush instead of one per batch (an
   * indicator often maps to more than one record: 500 indicators would take an import of 500 and
   * one of a few dozen; issue 14). @default unbounded
   */
  maxCall?: number;
  /** Page size of list calls (`$top`, at most 10,000). @default 10000 */
  pageSize?: number;
  /**
   * Most indicators of ours indexed in memory to find removals without a call (about 1 KB each);
   * above it, removals look values up, and those without observables are found by one scan of
   * our indicators per call that keeps only theirs. @default 100000
   */
  ownIndexLimit?: number;
  /** Logger. @default getLogger("sentinel", "defender-api") */
  logger?: Logger;
}

type RecordOutcome =
  | { ok: true; id?: string | undefined }
  | { ok: false; reason: string; scope: FailureScope };

/**
 * Default of {@linkcode DefenderTargetOptions.ownIndexLimit}: far above the documented tenant cap
 * of 15,000; only a tenant whose cap Microsoft raised goes past it.
 */
const OWN_INDEX_LIMIT = 100_000;

/**
 * Our indicators on Defender (issue 14): Defender id and `externalID` by type and value, and by
 * `externalID`. Listed once (one paged `GET` of our `application`: with `Ti.ReadWrite` a list
 * returns only the app's own indicators, and the tenant holds at most 15,000, so one or two
 * pages of `$top=10000`; reference §5.2 and §5.4), then kept up to date from the ids `import`
 * answers with and the ids deleted, so a removal needs no list call (100 calls/min and 1,500/h).
 * An import whose outcome is unknown drops it: the next removal lists again.
 */
class OwnIndicators {
  readonly #byId = new Map<string, ListedIndicator>();
  readonly #byKey = new Map<string, Set<string>>();
  readonly #byExternal = new Map<string, Set<string>>();

  /** Builds the index from a listing of our application's indicators. */
  constructor(listed: readonly ListedIndicator[]) {
    for (const item of listed) this.add(item);
  }

  /** Adds (or replaces, by Defender id) one indicator. */
  add(item: ListedIndicator): void {
    this.removeId(item.id);
    this.#byId.set(item.id, item);
    push(this.#byKey, indicatorKey(item.indicatorType, item.indicatorValue), item.id);
    if (item.externalID !== undefined) push(this.#byExternal, item.externalID, item.id);
  }

  /** Drops one indicator by Defender id. */
  removeId(id: string): void {
    const item = this.#byId.get(id);
    if (!item) return;
    this.#byId.delete(id);
    drop(this.#byKey, indicatorKey(item.indicatorType, item.indicatorValue), id);
    if (item.externalID !== undefined) drop(this.#byExternal, item.externalID, id);
  }

  /** What a value lookup and an `externalID` scan would have found for one removal. */
  candidates(externalID: string, keys: readonly string[]): ListedIndicator[] {
    const ids = new Set(this.#byExternal.get(externalID));
    for (const key of keys) for (const id of this.#byKey.get(key) ?? []) ids.add(id);
    return [...ids].flatMap((id) => this.#byId.get(id) ?? []);
  }
}

function push(map: Map<string, Set<string>>, key: string, id: string): void {
  const set = map.get(key);
  if (set) set.add(id);
  else map.set(key, new Set([id]));
}

function drop(map: Map<string, Set<string>>, key: string, id: string): void {
  const set = map.get(key);
  set?.delete(id);
  if (set?.size === 0) map.delete(key);
}

/** Reason given for creations refused while the tenant cap is reached. */
export const CAP_REACHED_REASON =
  "Defender's tenant cap of 15,000 active indicators is reached: delete indicators (or let them expire) to make room";

/** Writes OpenCTI indicators to Microsoft Defender for Endpoint. */
export class DefenderTarget implements SyncTarget {
  /** Target name. */
  readonly name = "defender" as const;
  /** Indicators per batch, and records per `import` request. */
  readonly maxBatch: number;
  /** Most indicators per delivery call (see {@linkcode DefenderTargetOptions.maxCall}). */
  readonly maxCall: number;
  /**
   * Removals per call for a reconcile's orphans: above `ownIndexLimit` each call scans our
   * indicators once, so 10,000 orphans of 1,000,000 take one scan, not twenty.
   */
  readonly maxRemoveBatch = 10_000;
  readonly #mapping: Omit<DefenderMappingOptions, "now">;
  readonly #application: string;
  readonly #apiUrl: string;
  readonly #pageSize: number;
  readonly #ownIndexLimit: number;
  readonly #now: Now;
  readonly #api: ApiCallDeps;
  readonly #import: RateLimiter;
  readonly #batchDelete: RateLimiter;
  readonly #query: RateLimiter;
  readonly #log: Logger;
  #capReached = false;
  #capReachedAt: string | undefined;
  /** Keys (type|value) of our indicators known to exist; loaded when the cap is reached. */
  #existing: Set<string> | undefined;
  /** Our indicators by value and `externalID`, once listed (see {@linkcode OwnIndicators}). */
  #own: OwnIndicators | undefined;
  /** Our indicators were more than the index limit at the last listing. */
  #tooManyToIndex = false;
  #lastError: string | undefined;
  #counters = { imported: 0, rejected: 0, skippedObservables: 0, deleted: 0, throttled: 0 };

  /** Why Defender cannot take this observable (e-mail, MD5 on creation, CIDR...), or undefined. */
  unsupported(observable: Observable): string | undefined {
    const typed = defenderTypeOf(observable, this.#mapping.allowMd5 ?? false);
    return typed.ok ? undefined : typed.reason;
  }

  /** Builds the target; throws a TypeError on an unusable option. */
  constructor(options: DefenderTargetOptions) {
    const {
      tokens,
      apiUrl,
      scope,
      rateLimitPerMinute,
      batchDeleteRateLimitPerMinute = 30,
      queryRateLimitPerMinute = 100,
      maxBatch = DEFENDER_MAX_IMPORT,
      maxCall = Number.POSITIVE_INFINITY,
      pageSize = 10_000,
      ownIndexLimit = OWN_INDEX_LIMIT,
      logger,
      // Taken out of the mapping options; apiCallDeps() reads them from `options`.
      maxAttempts: _maxAttempts,
      backoffBaseMs: _backoffBaseMs,
      backoffCapMs: _backoffCapMs,
      timeoutMs: _timeoutMs,
      fetch: _fetch,
      now: _now,
      sleep: _sleep,
      random: _random,
      ...mapping
    } = options;
    this.#application = mapping.application;
    if (this.#application.trim() === "") {
      throw new TypeError("Set a Defender application name: it is how our indicators are found");
    }
    this.#mapping = { ...mapping, application: this.#application };
    this.#apiUrl = apiUrl.replace(/\/+$/, "");
    this.maxBatch = Math.max(1, Math.min(maxBatch, DEFENDER_MAX_IMPORT));
    this.maxCall = Math.max(1, maxCall);
    this.#pageSize = Math.max(1, Math.min(pageSize, 10_000));
    this.#ownIndexLimit = Math.max(0, ownIndexLimit);
    this.#log = logger ?? getLogger("sentinel", "defender-api");
    this.#api = apiCallDeps(options, {
      tokens,
      scope,
      logger: this.#log,
      onThrottled: () => this.#counters.throttled++,
    });
    this.#now = this.#api.now;
    this.#import = perMinute(this.#api, rateLimitPerMinute);
    // List, delete and BatchDelete are also limited to 1,500 calls an hour (reference §5.2).
    const hourly = [{ limit: 1_500, windowMs: 3_600_000 }];
    this.#batchDelete = perMinute(this.#api, batchDeleteRateLimitPerMinute, hourly);
    this.#query = perMinute(this.#api, queryRateLimitPerMinute, hourly);
  }

  /**
   * Creates or updates one Defender indicator per supported observable. An observable Defender
   * cannot take is dropped (and logged) when the indicator has others; an indicator with none
   * fails with the reasons, not retryable. While the tenant cap is reached only indicators that
   * already exist are sent (updates); the others fail with {@linkcode CAP_REACHED_REASON}.
   */
  async upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
    const results = new Map<string, ItemResult>();
    /** For each item still in play, the keys of its records and the failures seen so far. */
    const pending = new Map<string, { keys: string[]; failures: string[]; scope: FailureScope }>();
    const records = new Map<string, DefenderIndicator>();
    const now = this.#now();
    for (const item of items) {
      const mapped = toDefenderIndicators(item, { ...this.#mapping, now });
      for (const skip of mapped.skipped) {
        this.#counters.skippedObservables++;
        this.#log.warn("Dropped observable {value} of {id}: {reason}", {
          id: item.id,
          value: skip.observable.value,
          reason: skip.reason,
        });
      }
      if (mapped.records.length === 0) {
        const reasons = mapped.skipped.map((s) => s.reason);
        const reason = reasons.length > 0
          ? `Nothing Defender can take: ${[...new Set(reasons)].join("; ")}`
          : "The indicator has no observable";
        pending.delete(item.id);
        results.set(item.id, failed(item.id, reason, "unsupported"));
        continue;
      }
      const keys: string[] = [];
      for (const record of mapped.records) {
        const key = indicatorKey(record.indicatorType, record.indicatorValue);
        keys.push(key);
        records.set(key, record);
      }
      results.delete(item.id);
      pending.set(item.id, { keys, failures: [], scope: "item" });
    }

    const failedKeys = new Map<string, { reason: string; scope: FailureScope }>();
    let toSend = [...records.entries()];
    if (this.#capReached) {
      try {
        const existing = await this.#knownKeys(signal);
        toSend = toSend.filter(([key]) => {
          if (existing.has(key)) return true;
          failedKeys.set(key, { reason: CAP_REACHED_REASON, scope: "item" });
          return false;
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        const reason = this.#note(error, "Defender list");
        for (const [key] of toSend) failedKeys.set(key, { reason, scope: "systemic" });
        toSend = [];
      }
    }

    for (let start = 0; start < toSend.length; start += this.maxBatch) {
      const chunk = toSend.slice(start, start + this.maxBatch);
      const outcomes = await this.#importChunk(chunk.map(([, record]) => record), signal);
      chunk.forEach(([key], index) => {
        const outcome = outcomes[index];
        if (outcome === undefined) {
          failedKeys.set(key, { reason: "Defender returned no result for it", scope: "systemic" });
          this.#own = undefined; // outcome unknown: list again before the next removal
        } else if (!outcome.ok) {
          failedKeys.set(key, { reason: outcome.reason, scope: outcome.scope });
          if (outcome.scope !== "item") this.#own = undefined;
        } else {
          this.#existing?.add(key);
          const record = chunk[index]?.[1];
          if (outcome.id === undefined || !record) this.#own = undefined;
          else {
            this.#own?.add({
              id: outcome.id,
              indicatorType: record.indicatorType,
              indicatorValue: record.indicatorValue,
              application: this.#application,
              ...(record.externalID === undefined ? {} : { externalID: record.externalID }),
            });
          }
        }
      });
    }

    for (const [id, state] of pending) {
      for (const key of state.keys) {
        const failure = failedKeys.get(key);
        if (!failure) continue;
        state.failures.push(`${key.split("|").slice(1).join("|")}: ${failure.reason}`);
        state.scope = widerScope(state.scope, failure.scope);
      }
      results.set(
        id,
        state.failures.length === 0
          ? { id, ok: true }
          : failed(id, state.failures.join("; "), state.scope, DEFENDER_CHECK),
      );
    }
    return items.map((item) => results.get(item.id) ?? missingResult(item.id));
  }

  /**
   * Deletes our Defender indicators for these OpenCTI indicators: found by type and value (or, with
   * no observables given, by a scan of our application's indicators), kept only when their
   * `externalID` is this indicator's, then removed with `BatchDelete`. Absent = success.
   *
   * Finding them (issue 14): once our indicators are listed ({@linkcode OwnIndicators}) they are
   * found there without a call. Before that, a batch with more values to look up than a listing
   * has pages (at most 15,000 indicators per tenant: two pages of 10,000) lists them all once;
   * a smaller one looks each value up with an escaped `$filter`. Above `ownIndexLimit`
   * indicators (memory; a raised tenant cap, issue 17), values are looked up and items without
   * observables are found by one scan that keeps only theirs (by `externalID`: an indicator of
   * ours without one is never taken for theirs).
   */
  async remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
    const results = new Map<string, ItemResult>();
    const idsOf = new Map<string, Set<string>>();
    const keyOfId = new Map<string, string>();
    const keysOf = (item: TargetRemoval) =>
      (item.observables ?? []).flatMap((o) => {
        const typed = defenderTypeOf(o, true);
        return typed.ok ? [indicatorKey(typed.type, typed.value)] : [];
      });
    if (this.#own === undefined && !this.#tooManyToIndex) {
      const lookups = new Set(items.flatMap(keysOf)).size;
      const scanNeeded = items.some((item) => !item.observables || item.observables.length === 0);
      if (scanNeeded || lookups > Math.ceil(DEFENDER_TENANT_CAP / this.#pageSize)) {
        try {
          this.#own = await this.#indexOwn(signal);
        } catch (error) {
          if (signal?.aborted) throw error;
          // A failed listing is no verdict on any indicator.
          const reason = this.#note(error, "Defender list");
          return items.map((item) => failed(item.id, reason, "systemic", DEFENDER_CHECK));
        }
      }
    }
    const own = this.#own;
    let scan: Map<string, ListedIndicator[]> | undefined;
    const unobserved = new Set(
      items.filter((i) => !(i.observables && i.observables.length > 0)).map((i) => i.id),
    );
    for (const item of items) {
      if (idsOf.has(item.id) || results.has(item.id)) continue;
      try {
        let found: ListedIndicator[];
        if (own) found = own.candidates(item.id, keysOf(item));
        else if (!unobserved.has(item.id)) {
          found = await this.#findByObservables(item.observables ?? [], signal);
        } else {
          scan ??= await this.#scanFor(unobserved, signal);
          found = scan.get(item.id) ?? [];
        }
        const mine = found.filter((x) =>
          x.externalID === item.id ||
          (x.externalID === undefined && item.observables !== undefined &&
            x.application === this.#application)
        );
        const ids = new Set(mine.map((x) => x.id));
        for (const x of mine) keyOfId.set(x.id, indicatorKey(x.indicatorType, x.indicatorValue));
        idsOf.set(item.id, ids);
      } catch (error) {
        if (signal?.aborted) throw error;
        results.set(
          item.id,
          failed(
            item.id,
            this.#note(error, "Defender lookup"),
            errorScope(error, 1),
            DEFENDER_CHECK,
          ),
        );
      }
    }

    const allIds = [...new Set([...idsOf.values()].flatMap((ids) => [...ids]))];
    const failedIds = new Map<string, { reason: string; scope: FailureScope }>();
    for (let start = 0; start < allIds.length; start += DEFENDER_MAX_BATCH_DELETE) {
      const chunk = allIds.slice(start, start + DEFENDER_MAX_BATCH_DELETE);
      for (const [id, failure] of await this.#deleteChunk(chunk, signal)) {
        failedIds.set(id, failure);
      }
    }
    let deleted = 0;
    for (const id of allIds) {
      if (failedIds.has(id)) continue;
      deleted++;
      this.#own?.removeId(id);
      const key = keyOfId.get(id);
      if (key !== undefined) this.#existing?.delete(key);
    }
    this.#counters.deleted += deleted;
    if (deleted > 0 && this.#capReached) {
      this.#capReached = false;
      this.#capReachedAt = undefined;
      this.#log.info("Deleted {count} Defender indicators: creating again", { count: deleted });
    }

    for (const [id, ids] of idsOf) {
      const failures = [...ids].map((x) => failedIds.get(x)).filter((f) => f !== undefined);
      results.set(
        id,
        failures.length === 0 ? { id, ok: true } : failed(
          id,
          failures.map((f) => f.reason).join("; "),
          failures.reduce<FailureScope>((scope, f) => widerScope(scope, f.scope), "item"),
          DEFENDER_CHECK,
        ),
      );
    }
    return items.map((item) => results.get(item.id) ?? missingResult(item.id));
  }

  /**
   * Every indicator of our `application` (all pages, `$top`/`$skip` then `@odata.nextLink`),
   * grouped by `externalID` (issue 17). Ours without an `externalID` cannot be keyed and are
   * left out.
   */
  async listOwned(signal?: AbortSignal): Promise<OwnedTable> {
    // A reconcile looks for drift made behind our back: list again before the next removal.
    this.#own = undefined;
    this.#tooManyToIndex = false;
    const owned = new OwnedTable();
    await this.#scan(odataEq("application", this.#application), signal, (listed) => {
      if (listed.application !== undefined && listed.application !== this.#application) return;
      const key = listed.externalID;
      if (key === undefined || key === "") return;
      owned.add(
        key,
        fingerprintOf([projectRecord({ ...listed.fields, ...listed }, DEFENDER_PROJECTION)]),
        scoreCeilingOf(listed.fields?.severity),
      );
    });
    return owned;
  }

  /**
   * The indicators another connector created under `application` (issue 17 adoption), keyed by
   * their `externalId`: upstream stream/microsoft-defender-intel sends the OpenCTI internal id
   * there (`get_attribute_in_extension("id", …)` in api_handler.py, application "OpenCTI
   * Microsoft Defender Intel"; "… Synchronizer" in older versions). The handle is the Defender id.
   */
  async listAdoptable(application: string, signal?: AbortSignal): Promise<AdoptableRecord[]> {
    if (application === this.#application) {
      // The upstream names in use (issue 15) make its application ours: its records are then
      // among ours, told apart by their key (an OpenCTI internal id, never a STIX id).
      return (await this.#listOwn(signal)).flatMap((x) =>
        (x.application === undefined || x.application === this.#application) &&
          x.externalID !== undefined && x.externalID !== "" && !x.externalID.includes("--")
          ? [{ key: x.externalID, handle: x.id }]
          : []
      );
    }
    const found = await this.#list(odataEq("application", application), signal);
    return found.flatMap((x) =>
      x.externalID !== undefined && x.externalID !== "" ? [{ key: x.externalID, handle: x.id }] : []
    );
  }

  /** Deletes records found by {@linkcode listAdoptable} (BatchDelete, ≤ 500 per call). */
  async removeRecords(handles: string[], signal?: AbortSignal): Promise<ItemResult[]> {
    const results: ItemResult[] = [];
    for (let start = 0; start < handles.length; start += DEFENDER_MAX_BATCH_DELETE) {
      const chunk = handles.slice(start, start + DEFENDER_MAX_BATCH_DELETE);
      const failures = await this.#deleteChunk(chunk, signal);
      for (const id of chunk) {
        const failure = failures.get(id);
        results.push(
          failure ? failed(id, failure.reason, failure.scope, DEFENDER_CHECK) : { id, ok: true },
        );
      }
    }
    return results;
  }

  /** The fingerprint of the records `upsert` would leave for this indicator. */
  fingerprint(item: TargetIndicator): string | undefined {
    const { records } = toDefenderIndicators(item, { ...this.#mapping, now: this.#now() });
    if (records.length === 0) return undefined;
    return fingerprintOf(records.map((r) => projectRecord(r, DEFENDER_PROJECTION)));
  }

  /** Cap state, counters and the last error, for `/status`. */
  status(): Record<string, unknown> {
    const status: Record<string, unknown> = {
      application: this.#application,
      capReached: this.#capReached,
      ...this.#counters,
    };
    if (this.#capReachedAt !== undefined) status.capReachedAt = this.#capReachedAt;
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    return status;
  }

  async #importChunk(
    chunk: DefenderIndicator[],
    signal?: AbortSignal,
  ): Promise<RecordOutcome[]> {
    const fail = (reason: string, scope: FailureScope): RecordOutcome[] =>
      chunk.map(() => ({ ok: false, reason, scope }));
    const owners = new Set(chunk.map((record) => record.externalID)).size;
    let response: HttpResponse;
    try {
      response = await callApi({
        method: "POST",
        url: `${this.#apiUrl}/api/indicators/import`,
        body: importBody(chunk),
        limiter: this.#import,
        what: "Defender import",
        signal,
      }, this.#api);
    } catch (error) {
      if (signal?.aborted) throw error;
      return fail(this.#note(error, "Defender import"), errorScope(error, owners));
    }
    if (response.status !== 200) {
      const error = httpError(response, "Defender import");
      if (isTenantCapMessage(response.text)) this.#reachCap(response.text);
      return fail(this.#note(error, "Defender import"), statusScope(response.status, owners));
    }
    const outcomes = parseImportAnswer(response.text);
    if (!outcomes) {
      return fail(
        this.#note(
          new Error(`Defender import answered an unreadable body: ${excerpt(response.text)}`),
          "Defender import",
        ),
        "systemic",
      );
    }
    const byValue = new Map<string, (typeof outcomes)[number]>();
    for (const outcome of outcomes) {
      if (outcome.indicator !== undefined) byValue.set(outcome.indicator.toLowerCase(), outcome);
    }
    let refused = 0;
    const results = chunk.map((record, index): RecordOutcome => {
      const outcome = outcomes.length === chunk.length
        ? outcomes[index]
        : byValue.get(record.indicatorValue.toLowerCase());
      if (!outcome) {
        refused++;
        return {
          ok: false as const,
          reason: "Defender returned no result for it",
          scope: "systemic",
        };
      }
      if (!outcome.isFailed) return { ok: true as const, id: outcome.id };
      refused++;
      const reason = outcome.failureReason ?? "Defender refused it";
      if (isTenantCapMessage(reason)) {
        this.#reachCap(reason);
        return {
          ok: false as const,
          reason: `${CAP_REACHED_REASON} (${reason})`,
          scope: "item",
        };
      }
      this.#log.warn("Defender refused {value}: {reason}", {
        value: record.indicatorValue,
        externalID: record.externalID,
        reason,
      });
      return { ok: false as const, reason: `Defender refused it: ${reason}`, scope: "item" };
    });
    this.#counters.imported += chunk.length - refused;
    this.#counters.rejected += refused;
    this.#log.info("Imported {count} Defender indicators, {failed} refused", {
      count: chunk.length - refused,
      failed: refused,
    });
    return results;
  }

  /** Deletes the ids; returns the ids that could not be deleted with the reason. */
  async #deleteChunk(
    ids: string[],
    signal?: AbortSignal,
  ): Promise<Map<string, { reason: string; scope: FailureScope }>> {
    const failures = new Map<string, { reason: string; scope: FailureScope }>();
    try {
      const response = await callApi({
        method: "POST",
        url: `${this.#apiUrl}/api/indicators/BatchDelete`,
        body: batchDeleteBody(ids),
        limiter: this.#batchDelete,
        what: "Defender BatchDelete",
        signal,
      }, this.#api);
      if (response.status >= 200 && response.status < 300) return failures;
      if (response.status !== 404) throw httpError(response, "Defender BatchDelete");
      // One of the ids is already gone: delete the rest one by one (404 = already gone).
      this.#log.info("BatchDelete answered 404: deleting {count} indicators one by one", {
        count: ids.length,
      });
      for (const id of ids) {
        try {
          const single = await callApi({
            method: "DELETE",
            url: `${this.#apiUrl}/api/indicators/${encodeURIComponent(id)}`,
            limiter: this.#query,
            what: "Defender delete",
            signal,
          }, this.#api);
          if (single.status === 404 || (single.status >= 200 && single.status < 300)) continue;
          throw httpError(single, "Defender delete");
        } catch (error) {
          if (signal?.aborted) throw error;
          failures.set(id, {
            reason: this.#note(error, "Defender delete"),
            scope: errorScope(error, 1),
          });
        }
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      const reason = this.#note(error, "Defender BatchDelete");
      for (const id of ids) failures.set(id, { reason, scope: errorScope(error, ids.length) });
    }
    return failures;
  }

  async #findByObservables(
    observables: Observable[],
    signal?: AbortSignal,
  ): Promise<ListedIndicator[]> {
    const found: ListedIndicator[] = [];
    const seen = new Set<string>();
    for (const observable of observables) {
      const typed = defenderTypeOf(observable, true);
      if (!typed.ok) continue;
      const key = indicatorKey(typed.type, typed.value);
      if (seen.has(key)) continue;
      seen.add(key);
      const filter = [
        odataEq("application", this.#application),
        odataEq("indicatorType", typed.type),
        odataEq("indicatorValue", typed.value),
      ].join(" and ");
      found.push(...await this.#list(filter, signal));
    }
    return found;
  }

  /** Our indicators whose `externalID` is one of `keys` (all pages), by `externalID`. */
  async #scanFor(
    keys: ReadonlySet<string>,
    signal?: AbortSignal,
  ): Promise<Map<string, ListedIndicator[]>> {
    const byKey = new Map<string, ListedIndicator[]>();
    await this.#scan(odataEq("application", this.#application), signal, (listed) => {
      const key = listed.externalID;
      if (key === undefined || !keys.has(key)) return;
      if (listed.application !== undefined && listed.application !== this.#application) return;
      const list = byKey.get(key);
      if (list) list.push(listed);
      else byKey.set(key, [listed]);
    });
    return byKey;
  }

  /**
   * Our indicators, indexed; undefined (and {@linkcode #tooManyToIndex} set until the next
   * `listOwned`) when they are more than `ownIndexLimit`.
   */
  async #indexOwn(signal?: AbortSignal): Promise<OwnIndicators | undefined> {
    const own = new OwnIndicators([]);
    const limit = this.#ownIndexLimit;
    let count = 0;
    await this.#scan(odataEq("application", this.#application), signal, (listed) => {
      if (++count > limit) return false;
      if (listed.application === undefined || listed.application === this.#application) {
        own.add(listed);
      }
    });
    this.#tooManyToIndex = count > limit;
    return this.#tooManyToIndex ? undefined : own;
  }

  /** Every indicator of our application (all pages). */
  #listOwn(signal?: AbortSignal): Promise<ListedIndicator[]> {
    return this.#list(odataEq("application", this.#application), signal);
  }

  async #list(filter: string, signal?: AbortSignal): Promise<ListedIndicator[]> {
    const out: ListedIndicator[] = [];
    await this.#scan(filter, signal, (item) => {
      out.push(item);
    });
    return out;
  }

  /** Hands each indicator of every page of a `$filter` query to `visit`, page by page. */
  async #scan(
    filter: string,
    signal: AbortSignal | undefined,
    visit: (item: ListedIndicator) => boolean | void,
  ): Promise<void> {
    let url: string | undefined = `${this.#apiUrl}/api/indicators?${
      filterQuery(filter)
    }&$top=${this.#pageSize}`;
    for (let page = 0; url !== undefined && page < 1000; page++) {
      const response = await callApi({
        method: "GET",
        url,
        limiter: this.#query,
        what: "Defender list",
        signal,
      }, this.#api);
      if (response.status !== 200) throw httpError(response, "Defender list");
      const parsed = parseListAnswer(response.text);
      if (!parsed) {
        throw new Error(`Defender list answered an unreadable body: ${excerpt(response.text)}`);
      }
      for (const item of parsed.items) if (visit(item) === false) return;
      url = parsed.nextLink && sameOrigin(parsed.nextLink, this.#apiUrl)
        ? parsed.nextLink
        : undefined;
    }
  }

  async #knownKeys(signal?: AbortSignal): Promise<Set<string>> {
    if (this.#existing) return this.#existing;
    const own = await this.#listOwn(signal);
    this.#existing = new Set(own.map((x) => indicatorKey(x.indicatorType, x.indicatorValue)));
    this.#log.info("Defender cap reached: {count} of our indicators exist and can be updated", {
      count: this.#existing.size,
    });
    return this.#existing;
  }

  #reachCap(reason: string): void {
    if (!this.#capReached) {
      this.#capReached = true;
      this.#capReachedAt = new Date(this.#now()).toISOString();
      this.#existing = undefined;
      this.#log.error(
        "Defender tenant cap reached ({reason}): no more creations, updates and deletes go on",
        { reason },
      );
    }
  }

  #note(error: unknown, what: string): string {
    let message = error instanceof Error ? error.message : String(error);
    if (error instanceof HttpError) {
      const parsed = parseDefenderError(error.body);
      if (parsed) {
        message = `${what} failed with HTTP ${error.status} ${parsed.code}: ${parsed.message}` +
          (parsed.target ? ` (correlation id ${parsed.target})` : "");
      }
      if (error.status === 401 || error.status === 403) {
        message += `: ${GRANT.defender}`;
      }
    }
    this.#lastError = message;
    this.#log.error("{what} failed: {error}", { what, error: message });
    return message;
  }
}

/**
 * Fields a reconcile compares. `expirationTime` is left out: without `valid_until` it moves with
 * the clock, and Defender lets it expire on its own.
 */
const DEFENDER_PROJECTION = [
  "indicatorType",
  "indicatorValue",
  "action",
  "title",
  "description",
  "severity",
  "generateAlert",
] as const;

/** The scope that decides for an item with failures of both scopes: systemic, then request, then item. */
function widerScope(a: FailureScope, b: FailureScope): FailureScope {
  const order: FailureScope[] = ["systemic", "request", "item", "unsupported"];
  return order[Math.min(order.indexOf(a), order.indexOf(b))] ?? a;
}
