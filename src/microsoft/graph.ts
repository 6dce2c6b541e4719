/**
 * The Microsoft Graph `tiIndicators` target (reference microsoft.md §2): maps indicators, paces
 * requests (1,000/min), batches ≤ 100, retries 429/5xx, refreshes the token once on 401, and reports
 * one result per indicator (a per-item error in a 206 fails only that indicator).
 *
 * Sync strategy (idempotent by `externalId` = STIX id, shared by all records of an indicator):
 * - upsert: list the indicator's records (`$filter=externalId eq '…'`, several ids OR-ed per
 *   request, all pages), match them to the wanted records by observable, then `submitTiIndicators`
 *   the missing ones, update the changed ones (bulk `updateTiIndicators` for Azure Sentinel; PATCH
 *   for Defender ATP, which has no bulk update and lets only expiration, severity and description
 *   change, so an action change there is a delete and a re-create), and delete leftovers (records
 *   of observables no longer in the pattern, and duplicates left by an earlier crash).
 * - remove: Azure Sentinel → `deleteTiIndicatorsByExternalId` (removes every record carrying the
 *   id); Defender ATP, whose records come back without `externalId` (lesson #3177) and which has no
 *   bulk delete → look the records up by value and `DELETE` each one.
 */
import * as v from "valibot";
import { getLogger, type Logger } from "../log.ts";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import { NetworkError, TimeoutError } from "../runtime/errors.ts";
import { excerpt, type Fetch, type HttpResponse } from "../runtime/http.ts";
import { RateLimiter } from "../runtime/rate_limiter.ts";
import type { AdoptableRecord, SyncTarget, TargetIndicator, TargetRemoval } from "./target.ts";
import { failed, type FailureScope, type ItemResult } from "../runtime/delivery.ts";
import {
  type GraphOptions,
  OBSERVABLE_KEYS,
  observableFields,
  observableKey,
  type TiIndicator,
  toTiIndicators,
} from "./graph_mapping.ts";
import { type ApiCallDeps, callApi, statusScope } from "./api_call.ts";
import { filterQuery, odataEq } from "./odata.ts";
import { fingerprintOf, projectRecord } from "./fingerprint.ts";
import { OwnedTable } from "./key_table.ts";
import { scopeFor } from "./scopes.ts";
import type { TokenSource } from "./token_source.ts";

/** The permission Graph tiIndicators needs. */
export const GRAPH_PERMISSION = "ThreatIndicators.ReadWrite.OwnedBy";

/** Options of {@linkcode GraphTarget}. */
export interface GraphTargetOptions {
  /** Hands out bearer tokens. */
  tokens: TokenSource;
  /** How indicators become records (`TARGET_PRODUCT`, `ACTION`, `TLP_LEVEL`…). */
  mapping: GraphOptions;
  /** `RESOURCE_URL`. @default "https://graph.microsoft.com" */
  baseUrl?: string;
  /** `REQUEST_URL`: a path under `baseUrl`, or a full URL. @default "/beta/security/tiIndicators" */
  requestPath?: string;
  /** Token scope. @default `<baseUrl>/.default` */
  scope?: string;
  /** Requests per minute (Graph allows 1,000 per app per tenant). @default 1000 */
  rateLimitPerMinute?: number;
  /** A limiter to share with other clients of the same app. @default a new one at `rateLimitPerMinute` */
  limiter?: RateLimiter;
  /** Records per bulk request (Graph allows 100). @default 100 */
  maxBatch?: number;
  /** Indicator ids OR-ed into one lookup `$filter`. @default 10 */
  lookupChunk?: number;
  /** Tries per request for 429, 5xx and network errors. @default 8 */
  attempts?: number;
  /** Per-request timeout in ms. @default 30000 */
  timeoutMs?: number;
  /** Base of the exponential backoff in ms. @default 1000 */
  backoffBaseMs?: number;
  /** Cap of the backoff and of `Retry-After` waits in ms. @default 60000 */
  backoffCapMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep. @default a real timer */
  sleep?: Sleep;
  /** Random source for jitter. @default Math.random */
  random?: () => number;
  /** The logger. @default getLogger("sentinel", "graph") */
  logger?: Logger;
}

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

/** A record read back from Graph. */
type Existing = Record<string, unknown> & { id: string };

/** A failure of one indicator. */
interface Failure {
  reason: string;
  scope: FailureScope;
}

/** What to check when Graph fails systemically. */
const GRAPH_CHECK = "on 401, 403 or a token error: TENANT_ID, CLIENT_ID, CLIENT_SECRET (or the " +
  "certificate), LOGIN_URL and the application permission ThreatIndicators.ReadWrite.OwnedBy; " +
  "otherwise RESOURCE_URL, network access to it and Microsoft's service status";

/** Fields Azure Sentinel records may change in an update (reference §2.4). */
const SENTINEL_EDITABLE = [
  "action",
  "additionalInformation",
  "confidence",
  "description",
  "expirationDateTime",
  "externalId",
  "killChain",
  "lastReportedDateTime",
  "passiveOnly",
  "severity",
  "tags",
  "tlpLevel",
] as const;
/** Fields Defender ATP records may change. */
const DEFENDER_EDITABLE = ["description", "expirationDateTime", "severity"] as const;
const DATE_FIELDS = new Set(["expirationDateTime", "lastReportedDateTime"]);

/** Microsoft Graph `tiIndicators` as a {@linkcode SyncTarget}. */
export class GraphTarget implements SyncTarget {
  /** Target name. */
  readonly name = "graph" as const;
  /** Indicators per `upsert`/`remove` call the connector should hand over. */
  readonly maxBatch: number;
  readonly #o: GraphTargetOptions;
  readonly #collection: string;
  readonly #origin: string;
  readonly #limiter: RateLimiter;
  readonly #api: ApiCallDeps;
  readonly #log: Logger;
  readonly #defender: boolean;
  readonly #counters = { created: 0, updated: 0, deleted: 0, failed: 0, skipped: 0, requests: 0 };
  #lastError: string | undefined;
  /** Set once Graph refused a composite `$filter` (`or`): lookups are single-clause from then on. */
  #compositeRefused = false;

  /** Builds the client; nothing is sent until the first call. */
  constructor(options: GraphTargetOptions) {
    this.#o = options;
    const baseUrl = (options.baseUrl ?? "https://graph.microsoft.com").replace(/\/+$/, "");
    const path = options.requestPath ?? "/beta/security/tiIndicators";
    this.#collection = /^https?:\/\//i.test(path)
      ? path.replace(/\/+$/, "")
      : `${baseUrl}/${path.replace(/^\/+/, "").replace(/\/+$/, "")}`;
    this.#origin = new URL(this.#collection).origin;
    const now = options.now ?? systemNow;
    const sleep = options.sleep ?? systemSleep;
    this.#limiter = options.limiter ?? new RateLimiter({
      limit: options.rateLimitPerMinute ?? 1000,
      windowMs: 60_000,
      now,
      sleep,
    });
    this.maxBatch = options.maxBatch ?? 100;
    this.#log = options.logger ?? getLogger("sentinel", "graph");
    this.#defender = options.mapping.targetProduct === "Microsoft Defender ATP";
    this.#api = {
      tokens: options.tokens,
      scope: options.scope ?? scopeFor(baseUrl),
      fetch: options.fetch ?? globalThis.fetch,
      timeoutMs: options.timeoutMs ?? 30_000,
      now,
      sleep,
      random: options.random ?? Math.random,
      logger: this.#log,
      maxAttempts: options.attempts ?? 8,
      backoffBaseMs: options.backoffBaseMs ?? 1000,
      backoffCapMs: options.backoffCapMs ?? 60_000,
      retryStatus: (status) => status === 429 || status >= 500,
      atLeastBackoff: true,
      onSend: () => this.#counters.requests++,
    };
  }

  /** Counters and the last error, for `/status`. */
  status(): Record<string, unknown> {
    return {
      targetProduct: this.#o.mapping.targetProduct,
      ...this.#counters,
      compositeLookups: !this.#compositeRefused,
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
    };
  }

  /** Creates or updates the records of each indicator so they match it exactly. */
  async upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
    const { failures, fail } = firstFailures();
    const wanted = new Map<string, TiIndicator[]>();
    for (const item of items) {
      const { records, skipped } = toTiIndicators(item, this.#o.mapping);
      for (const skip of skipped) {
        this.#counters.skipped++;
        this.#log.warn("Skipped observable {value} of {id}: {reason}", {
          id: item.id,
          value: skip.value,
          reason: skip.reason,
        });
      }
      wanted.set(item.id, records);
      if (records.length === 0) {
        // Nothing sendable: still clean up whatever an earlier version left on Graph.
        fail(item.id, {
          reason: `No observable Graph can take: ${
            skipped.map((s) => `${s.value}: ${s.reason}`).join("; ") || "the indicator has none"
          }`,
          scope: "unsupported",
        });
      }
    }

    const existing = await this.#lookup(
      items.map((item) => ({ id: item.id, keys: (wanted.get(item.id) ?? []).map(lookupClause) })),
      fail,
      signal,
    );

    const creates: { id: string; record: TiIndicator }[] = [];
    const updates: { id: string; record: TiIndicator; current: Existing }[] = [];
    const deletes: { id: string; recordId: string }[] = [];
    for (const item of items) {
      if (failures.has(item.id) && (wanted.get(item.id) ?? []).length > 0) continue; // lookup failed
      const found = [...(existing.get(item.id) ?? [])];
      for (const record of wanted.get(item.id) ?? []) {
        const key = observableKey(record);
        const index = found.findIndex((e) => observableKey(e) === key);
        if (index < 0) {
          creates.push({ id: item.id, record });
          continue;
        }
        const [current] = found.splice(index, 1) as [Existing];
        if (this.#defender && current.action !== undefined && current.action !== record.action) {
          // Defender ATP cannot change the action in place: delete and create again.
          deletes.push({ id: item.id, recordId: current.id });
          creates.push({ id: item.id, record });
        } else if (this.#changed(record, current)) {
          updates.push({ id: item.id, record, current });
        }
      }
      for (const leftover of found) deletes.push({ id: item.id, recordId: leftover.id });
    }

    await this.#submit(creates, fail, signal);
    await this.#update(updates, fail, signal);
    await this.#deleteByIds(deletes, fail, signal);
    return this.#results(items, failures, signal);
  }

  /** Removes every record of each indicator; an indicator with no record is a success. */
  async remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
    const { failures, fail } = firstFailures();
    if (this.#defender) {
      const product = this.#o.mapping.targetProduct;
      const existing = await this.#lookup(
        items.map((item) => ({
          id: item.id,
          keys: (item.observables ?? []).flatMap((o) => {
            const fields = observableFields(o, product);
            return typeof fields === "string" ? [] : [lookupClause(fields)];
          }),
        })),
        fail,
        signal,
      );
      const deletes = items.flatMap((item) =>
        failures.has(item.id)
          ? []
          : (existing.get(item.id) ?? []).map((e) => ({ id: item.id, recordId: e.id }))
      );
      await this.#deleteByIds(deletes, fail, signal);
    } else {
      for (const chunk of chunks(items, this.maxBatch)) {
        await this.#deleteByExternalIds(chunk.map((i) => i.id), fail, signal);
      }
    }
    return this.#results(items, failures, signal);
  }

  /**
   * Every record of our application (the `OwnedBy` permission lists only those), grouped by
   * `externalId` (issue 17). Records without one (Defender ATP answers omit it, lesson #3177)
   * cannot be keyed and are left out.
   */
  async listOwned(signal?: AbortSignal): Promise<OwnedTable> {
    const owned = new OwnedTable();
    const projection = this.#projection;
    await this.#scan(undefined, signal, false, (record) => {
      const key = record.externalId;
      if (typeof key !== "string" || key === "") return;
      owned.add(key, fingerprintOf([projectRecord(record, projection)]));
    });
    return owned;
  }

  /**
   * Records the seed-era stream/sentinel connector left with our application (issue 17 adoption):
   * it set `externalId` to the OpenCTI internal id (`get_attribute_in_extension("id", data)` in
   * stream/sentinel/src/sentinel.py), not a STIX id. Graph lists only our app's records
   * (`OwnedBy`), so `source` is not used; the handle is the `externalId` (deleted in bulk by it).
   */
  async listAdoptable(_source: string, signal?: AbortSignal): Promise<AdoptableRecord[]> {
    const keys = new Set<string>();
    await this.#scan(undefined, signal, false, (record) => {
      const key = record.externalId;
      if (typeof key === "string" && key !== "" && !key.includes("--")) keys.add(key);
    });
    return [...keys].map((key) => ({ key, handle: key }));
  }

  /** Deletes every record carrying these `externalId`s (Azure Sentinel product only). */
  removeRecords(handles: string[], signal?: AbortSignal): Promise<ItemResult[]> {
    return this.remove(handles.map((id) => ({ id })), signal);
  }

  /** The fingerprint of the records `upsert` would leave for this indicator. */
  fingerprint(item: TargetIndicator): string | undefined {
    const { records } = toTiIndicators(item, this.#o.mapping);
    if (records.length === 0) return undefined;
    return fingerprintOf(records.map((record) => projectRecord(record, this.#projection)));
  }

  /** The fields a reconcile compares: the observable and what an update may change. */
  get #projection(): readonly string[] {
    return [
      ...OBSERVABLE_KEYS,
      ...(this.#defender ? DEFENDER_EDITABLE : SENTINEL_EDITABLE).filter((f) => f !== "externalId"),
    ];
  }

  /** One result per item: the first failure noted for it, else success; throws once aborted. */
  #results(
    items: { id: string }[],
    failures: Map<string, Failure>,
    signal: AbortSignal | undefined,
  ): ItemResult[] {
    signal?.throwIfAborted();
    return items.map((item) => {
      const failure = failures.get(item.id);
      if (failure) {
        this.#counters.failed++;
        return failed(
          item.id,
          failure.reason,
          failure.scope,
          failure.scope === "systemic" ? GRAPH_CHECK : undefined,
        );
      }
      return { id: item.id, ok: true };
    });
  }

  /**
   * Lists the records of each indicator: by `externalId`, and for Defender ATP (whose records
   * come back without it) also by observable value, keeping records that carry no other id.
   */
  async #lookup(
    items: { id: string; keys: [string, string][] }[],
    fail: (id: string, failure: Failure) => void,
    signal: AbortSignal | undefined,
  ): Promise<Map<string, Existing[]>> {
    const out = new Map<string, Existing[]>();
    const chunkSize = this.#compositeRefused ? 1 : this.#o.lookupChunk ?? 10;
    for (const chunk of chunks(items, chunkSize)) {
      const clauses = chunk.map((item) => odataEq("externalId", item.id));
      if (this.#defender) {
        for (const item of chunk) {
          for (const [field, value] of item.keys) clauses.push(odataEq(field, value));
        }
      }
      const groupSize = this.#compositeRefused ? 1 : chunkSize;
      for (const group of chunks([...new Set(clauses)], groupSize)) {
        let records: Existing[];
        try {
          records = await this.#listGroup(group, signal);
        } catch (error) {
          // One clause for one item: the failure is that item's; else no verdict on any item.
          const failure = this.#failureOf(error, "look up", group.length > 1 ? 2 : chunk.length);
          for (const item of chunk) fail(item.id, failure);
          continue;
        }
        for (const item of chunk) {
          const keys = new Set(item.keys.map(([f, val]) => observableKey({ [f]: val })));
          const mine = records.filter((r) =>
            r.externalId === item.id ||
            (this.#defender && (r.externalId === undefined || r.externalId === null) &&
              keys.has(observableKey(r)))
          );
          const list = out.get(item.id) ?? [];
          for (const record of mine) {
            if (!list.some((e) => e.id === record.id)) list.push(record);
          }
          out.set(item.id, list);
        }
      }
    }
    return out;
  }

  /**
   * Reads the records matching any of the clauses: one `or` query while Graph takes them (it
   * documents only `eq` and `and` for tiIndicators, reference §2.7), else one query per clause.
   * A composite query refused with a 4xx is asked again clause by clause, and remembered.
   */
  async #listGroup(group: string[], signal: AbortSignal | undefined): Promise<Existing[]> {
    if (group.length === 1 || this.#compositeRefused) {
      const out: Existing[] = [];
      for (const clause of group) out.push(...await this.#list(clause, signal));
      return out;
    }
    try {
      // A refusal here is expected from a Graph that keeps to its documentation: not an error line.
      return await this.#list(group.join(" or "), signal, true);
    } catch (error) {
      if (!(error instanceof GraphApiError) || statusScope(error.status, 2) !== "request") {
        throw error;
      }
      this.#compositeRefused = true;
      this.#log.warn(
        "Graph refused a composite $filter ({status} {code}): looking indicators up one value at a time from now on",
        { status: error.status, code: error.code },
      );
      return this.#listGroup(group, signal);
    }
  }

  /** Reads every page of a `$filter` query (no filter: the whole collection we may see). */
  async #list(
    filter: string | undefined,
    signal: AbortSignal | undefined,
    refusalExpected = false,
  ): Promise<Existing[]> {
    const out: Existing[] = [];
    await this.#scan(filter, signal, refusalExpected, (record) => out.push(record));
    return out;
  }

  /** Hands each record of every page of a `$filter` query to `visit`, page by page. */
  async #scan(
    filter: string | undefined,
    signal: AbortSignal | undefined,
    refusalExpected: boolean,
    visit: (record: Existing) => void,
  ): Promise<void> {
    let url: string | undefined = filter === undefined
      ? this.#collection
      : `${this.#collection}?${filterQuery(filter)}`;
    while (url) {
      if (new URL(url).origin !== this.#origin) {
        throw new GraphApiError(`Refusing to follow @odata.nextLink to another host: ${url}`, {
          status: 0,
          code: "UnexpectedNextLink",
          retryable: false,
        });
      }
      // 200 and 206 (a provider partly failed) are read alike (lesson PR #2347).
      const response = await this.#call(
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
        if (typeof record.id === "string") visit(record as Existing);
      }
      url = body["@odata.nextLink"];
    }
  }

  async #submit(
    creates: { id: string; record: TiIndicator }[],
    fail: (id: string, failure: Failure) => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (const chunk of chunks(creates, this.maxBatch)) {
      await this.#bulkWrite(
        "submitTiIndicators",
        chunk.map((c) => ({ owner: c.id, record: c.record })),
        fail,
        signal,
      );
    }
  }

  async #update(
    updates: { id: string; record: TiIndicator; current: Existing }[],
    fail: (id: string, failure: Failure) => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const product = this.#o.mapping.targetProduct;
    if (this.#defender) {
      for (const u of updates) {
        const patch: Record<string, unknown> = { targetProduct: product };
        for (const field of DEFENDER_EDITABLE) patch[field] = u.record[field];
        try {
          await this.#call(
            "PATCH",
            `${this.#collection}/${encodeURIComponent(u.current.id)}`,
            patch,
            "Update tiIndicator",
            signal,
          );
          this.#counters.updated++;
        } catch (error) {
          fail(u.id, this.#failureOf(error, "update", 1));
        }
      }
      return;
    }
    for (const chunk of chunks(updates, this.maxBatch)) {
      const writes = chunk.map((u) => {
        const record: Record<string, unknown> = { id: u.current.id, targetProduct: product };
        for (const field of SENTINEL_EDITABLE) {
          if (u.record[field] !== undefined) record[field] = u.record[field];
        }
        return { owner: u.id, record };
      });
      await this.#bulkWrite("updateTiIndicators", writes, fail, signal);
    }
  }

  /** One bulk create or update request; each record fails or counts by its own result. */
  async #bulkWrite(
    action: "submitTiIndicators" | "updateTiIndicators",
    writes: { owner: string; record: object }[],
    fail: (id: string, failure: Failure) => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const create = action === "submitTiIndicators";
    const verb = create ? "create" : "update";
    let value: v.InferOutput<typeof BulkBody>["value"];
    try {
      const response = await this.#call(
        "POST",
        `${this.#collection}/${action}`,
        { value: writes.map((w) => w.record) },
        create ? "Submit tiIndicators" : "Update tiIndicators",
        signal,
      );
      value = parseBody(BulkBody, response.text, action).value;
    } catch (error) {
      const failure = this.#failureOf(error, verb, new Set(writes.map((w) => w.owner)).size);
      for (const w of writes) fail(w.owner, failure);
      return;
    }
    writes.forEach((w, index) => {
      const result = value[index];
      const failure = result === undefined
        ? { reason: "Graph answered without a result for this record", scope: "systemic" as const }
        : itemFailure(result.Error, result.id);
      if (failure) {
        this.#logItem(verb, w.owner, failure);
        fail(w.owner, failure);
      } else if (create) this.#counters.created++;
      else this.#counters.updated++;
    });
  }

  /** Deletes records by Graph id: bulk for Azure Sentinel, one `DELETE` each for Defender ATP. */
  async #deleteByIds(
    deletes: { id: string; recordId: string }[],
    fail: (id: string, failure: Failure) => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (this.#defender) {
      for (const d of deletes) {
        try {
          await this.#call(
            "DELETE",
            `${this.#collection}/${encodeURIComponent(d.recordId)}`,
            undefined,
            "Delete tiIndicator",
            signal,
            [404],
          );
          this.#counters.deleted++;
        } catch (error) {
          fail(d.id, this.#failureOf(error, "delete", 1));
        }
      }
      return;
    }
    for (const chunk of chunks(deletes, this.maxBatch)) {
      await this.#bulkDelete(
        "deleteTiIndicators",
        chunk.map((d) => ({ owner: d.id, key: d.recordId })),
        fail,
        signal,
      );
    }
  }

  #deleteByExternalIds(
    ids: string[],
    fail: (id: string, failure: Failure) => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    return this.#bulkDelete(
      "deleteTiIndicatorsByExternalId",
      ids.map((id) => ({ owner: id, key: id })),
      fail,
      signal,
    );
  }

  async #bulkDelete(
    action: "deleteTiIndicators" | "deleteTiIndicatorsByExternalId",
    keys: { owner: string; key: string }[],
    fail: (id: string, failure: Failure) => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let value: v.InferOutput<typeof ResultInfoBody>["value"];
    try {
      const response = await this.#call(
        "POST",
        `${this.#collection}/${action}`,
        { value: keys.map((k) => k.key) },
        "Delete tiIndicators",
        signal,
      );
      value = parseBody(ResultInfoBody, response.text, action).value;
    } catch (error) {
      const failure = this.#failureOf(error, "delete", new Set(keys.map((k) => k.owner)).size);
      for (const k of keys) fail(k.owner, failure);
      return;
    }
    keys.forEach((k, index) => {
      const result = value[index];
      if (result === undefined) {
        const failure: Failure = {
          reason: `Graph answered ${action} without a result for ${k.key}`,
          scope: "systemic",
        };
        this.#logItem("delete", k.owner, failure);
        fail(k.owner, failure);
        return;
      }
      const code = result.code ?? 0;
      // resultInfo codes are not documented: 0 (the documented example) and 2xx are done, 404
      // means already gone (removal is idempotent).
      if ((code >= 200 && code < 300) || code === 404 || code === 0) {
        this.#counters.deleted++;
        return;
      }
      const failure: Failure = {
        reason: `Graph could not delete ${k.key}: ${result?.subCode ?? code} ${
          result?.message ?? ""
        }`
          .trim(),
        scope: code === 429 || code >= 500 ? "systemic" : "item",
      };
      this.#logItem("delete", k.owner, failure);
      fail(k.owner, failure);
    });
  }

  /** True when an editable field differs between the wanted record and the stored one. */
  #changed(record: TiIndicator, current: Existing): boolean {
    const fields = this.#defender ? DEFENDER_EDITABLE : SENTINEL_EDITABLE;
    return fields.some((field) => {
      const want = record[field];
      const have = current[field];
      if (want === undefined) return false;
      if (DATE_FIELDS.has(field) && typeof want === "string" && typeof have === "string") {
        return Date.parse(want) !== Date.parse(have);
      }
      if (Array.isArray(want) && Array.isArray(have)) {
        return JSON.stringify([...want].sort()) !== JSON.stringify([...have].map(String).sort());
      }
      return JSON.stringify(want) !== JSON.stringify(have);
    });
  }

  /**
   * Sends one request with pacing and retries (see {@linkcode callApi}); a network failure after
   * the last try or a status other than 2xx and `okStatuses` throws a {@linkcode GraphApiError}.
   */
  async #call(
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
    this.#lastError = message;
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
  #failureOf(error: unknown, what: string, items: number): Failure {
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
    this.#lastError = message;
    return { reason: `Cannot ${what} on Graph: ${message}`, scope: "systemic" };
  }

  #logItem(what: string, id: string, failure: Failure): void {
    this.#lastError = failure.reason;
    this.#log.warn("Graph rejected the {what} of {id}: {reason}", {
      what,
      id,
      reason: failure.reason,
      scope: failure.scope,
    });
  }
}

/** A map of the first failure of each indicator, and the function that notes one. */
function firstFailures(): {
  failures: Map<string, Failure>;
  fail: (id: string, failure: Failure) => void;
} {
  const failures = new Map<string, Failure>();
  const fail = (id: string, failure: Failure) => {
    if (!failures.has(id)) failures.set(id, failure);
  };
  return { failures, fail };
}

/** The `$filter` field and value that find a record by its observable. */
function lookupClause(fields: Partial<TiIndicator>): [string, string] {
  for (const field of OBSERVABLE_KEYS) {
    const value = fields[field];
    if (typeof value === "string") return [field, value];
  }
  return ["externalId", ""];
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
    return `${base}. Grant the application the Microsoft Graph application permission ` +
      `${GRAPH_PERMISSION} and give admin consent`;
  }
  if (status === 401) {
    return `${base}. Check the tenant id, client id and secret or certificate, and that the token ` +
      `is for https://graph.microsoft.com`;
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
  // A per-item error is that item's own, unless it names a passing condition (throttling, outage).
  const scope: FailureScope = /invalid|badrequest|notsupported|missing/i.test(code)
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

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
