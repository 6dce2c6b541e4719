/**
 * The Microsoft Graph `tiIndicators` target (reference microsoft.md §2): maps indicators, paces
 * requests (1,000/min), batches ≤ 100, retries 429/5xx, refreshes the token once on 401, and reports
 * one result per indicator (a per-item error in a 206 fails only that indicator).
 *
 * The parts: `graph_client.ts` talks HTTP, `graph_plan.ts` decides what to create, update and
 * delete (pure), `graph_product.ts` holds what differs between Azure Sentinel and Defender ATP,
 * and `graph_index.ts` remembers what Graph holds for us.
 *
 * Write path (issue 14). Idempotence rests on `externalId` = STIX id, shared by all records of an
 * indicator. Graph documents only `eq` and `and` for tiIndicators `$filter` (reference §2.7), so a
 * lookup costs one request per indicator (or per observable for Defender ATP), against 1,000
 * requests a minute for every tiIndicators call together ("Microsoft Graph throttling limits",
 * §2.8): looking up before every write caps the target near 8,000 indicators a minute where
 * `submitTiIndicators` takes 100 per request. So:
 * - at the first write the target lists every record our application owns (one paged `GET`; the
 *   `OwnedBy` permission lists only ours) into a {@linkcode RecordIndex}, and plans each batch
 *   from it: a create, an update or nothing, without a lookup;
 * - it applies to the index only what Graph confirmed, and looks up (strict `$filter`) only the
 *   indicators whose last write had an unknown outcome; a restart lists again, so replays and
 *   records left by a crash are found (see `graph_index.ts` for the argument);
 * - above `recordIndexLimit` records (memory) it looks every indicator up, as before.
 * Removal: Azure Sentinel → `deleteTiIndicatorsByExternalId` (removes every record carrying the
 * id, no lookup); Defender ATP, whose records come back without `externalId` (lesson #3177) and
 * which has no bulk delete → the records from the index (or a lookup by value), one `DELETE` each.
 */
import { getLogger, type Logger } from "../log.ts";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { Fetch } from "../runtime/http.ts";
import { RateLimiter } from "../runtime/rate_limiter.ts";
import type { AdoptableRecord, SyncTarget, TargetIndicator, TargetRemoval } from "./target.ts";
import { failed, type ItemResult } from "../runtime/delivery.ts";
import {
  type GraphOptions,
  OBSERVABLE_KEYS,
  observableFields,
  observableKey,
  type TiIndicator,
  toTiIndicators,
} from "./graph_mapping.ts";
import { statusScope } from "./api_call.ts";
import {
  chunks,
  type Existing,
  type Fail,
  type Failure,
  firstFailures,
  GRAPH_CHECK,
  GraphApiError,
  GraphClient,
} from "./graph_client.ts";
import { RecordIndex } from "./graph_index.ts";
import { type KnownRecord, knownRecord, planUpserts, updatedRecord } from "./graph_plan.ts";
import { type GraphProduct, graphProduct } from "./graph_product.ts";
import { odataEq } from "./odata.ts";
import { fingerprintOf, projectRecord } from "./fingerprint.ts";
import { OwnedTable } from "./key_table.ts";
import { scopeFor } from "./scopes.ts";
import type { TokenSource } from "./token_source.ts";

export { GRAPH_PERMISSION, GraphApiError } from "./graph_client.ts";

/** Options of {@linkcode GraphTarget}. */
export interface GraphTargetOptions {
  /** Hands out bearer tokens. */
  tokens: TokenSource;
  /** How indicators become records (`TARGET_PRODUCT`, `ACTION`, `TLP_LEVEL`…). */
  mapping: Omit<GraphOptions, "now">;
  /** Graph base URL (`RESOURCE_URL`). */
  baseUrl: string;
  /** tiIndicators path under `baseUrl`, or a full URL (`REQUEST_URL`). */
  requestPath: string;
  /** Token scope. @default the scope of `baseUrl` (`<baseUrl>/.default`) */
  scope?: string;
  /** Requests per minute (Graph allows 1,000 per app per tenant; `SENTINEL_RATE_LIMIT_PER_MINUTE`). */
  rateLimitPerMinute: number;
  /** A limiter to share with other clients of the same app. @default a new one at `rateLimitPerMinute` */
  limiter?: RateLimiter;
  /**
   * Indicators per `upsert`/`remove` call the connector should hand over (`SENTINEL_BATCH_SIZE`).
   * More indicators than records per request lets the submits go out full: an indicator often
   * maps to more than one record. @default 2000
   */
  maxBatch?: number;
  /**
   * Most indicators per delivery call: the client packs a call's records into requests itself, so
   * a call may hold all the stream pump read ahead (issue 14). @default unbounded
   */
  maxCall?: number;
  /** Records (or ids) per bulk request: Graph documents 100 at most. @default 100 */
  recordsPerRequest?: number;
  /** Indicator ids OR-ed into one lookup `$filter`. @default 10 */
  lookupChunk?: number;
  /**
   * Most records of our application kept in memory to write without lookups (a few hundred bytes
   * each); above it, or at 0, every indicator is looked up before it is written. @default 100000
   */
  recordIndexLimit?: number;
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

/** The index is not kept: too many records, or turned off. */
const NO_INDEX = "off" as const;

/** One indicator to find records for: its id and the `$filter` clauses of its observables. */
interface Wanted {
  id: string;
  clauses: [string, string][];
}

/** Microsoft Graph `tiIndicators` as a {@linkcode SyncTarget}. */
export class GraphTarget implements SyncTarget {
  /** Target name. */
  readonly name = "graph" as const;
  /** Indicators per `upsert`/`remove` call the connector should hand over. */
  readonly maxBatch: number;
  /** Most indicators per delivery call (see {@linkcode GraphTargetOptions.maxCall}). */
  readonly maxCall: number;
  readonly #o: GraphTargetOptions;
  readonly #now: Now;
  readonly #product: GraphProduct;
  readonly #http: GraphClient;
  readonly #log: Logger;
  readonly #indexLimit: number;
  readonly #perRequest: number;
  #index: RecordIndex | typeof NO_INDEX | undefined;
  #loading: Promise<RecordIndex | typeof NO_INDEX> | undefined;
  /** Indicators an `upsert` or `remove` is working on, with how many calls work on each. */
  readonly #writing = new Map<string, number>();
  /** While a listing runs: indicators written meanwhile (the listing may or may not show them). */
  #listingSeen: Set<string> | undefined;
  /** Set once Graph refused a composite `$filter` (`or`): lookups are single-clause from then on. */
  #compositeRefused = false;

  /** Builds the client; nothing is sent until the first call. */
  constructor(options: GraphTargetOptions) {
    this.#o = options;
    const baseUrl = options.baseUrl.replace(/\/+$/, "");
    const path = options.requestPath;
    const collection = /^https?:\/\//i.test(path)
      ? path.replace(/\/+$/, "")
      : `${baseUrl}/${path.replace(/^\/+/, "").replace(/\/+$/, "")}`;
    const now = options.now ?? systemNow;
    this.#now = now;
    const sleep = options.sleep ?? systemSleep;
    const limiter = options.limiter ?? new RateLimiter({
      limit: options.rateLimitPerMinute,
      windowMs: 60_000,
      now,
      sleep,
    });
    this.maxBatch = Math.max(1, options.maxBatch ?? 2000);
    this.maxCall = Math.max(1, options.maxCall ?? Number.POSITIVE_INFINITY);
    this.#perRequest = Math.max(1, Math.min(options.recordsPerRequest ?? 100, 100));
    this.#log = options.logger ?? getLogger("sentinel", "graph");
    this.#product = graphProduct(options.mapping.targetProduct);
    this.#indexLimit = options.recordIndexLimit ?? 100_000;
    if (this.#indexLimit <= 0) this.#index = NO_INDEX;
    this.#http = new GraphClient(collection, {
      limiter,
      logger: this.#log,
      api: {
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
      },
    });
  }

  /** Counters and the last error, for `/status`. */
  status(): Record<string, unknown> {
    const index = this.#index;
    const lastError = this.#http.lastError;
    return {
      targetProduct: this.#o.mapping.targetProduct,
      ...this.#http.counters,
      compositeLookups: !this.#compositeRefused,
      indexedRecords: index === undefined
        ? "not listed yet"
        : index === NO_INDEX
        ? "off"
        : index.size,
      ...(lastError ? { lastError } : {}),
    };
  }

  /** Creates or updates the records of each indicator so they match it exactly. */
  upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
    return this.#working(items, () => this.#upsert(items, signal));
  }

  /** Removes every record of each indicator; an indicator with no record is a success. */
  remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
    return this.#working(items, () => this.#remove(items, signal));
  }

  /** Runs a write call, noting which indicators it works on (see {@linkcode #listAll}). */
  async #working<T>(items: readonly { id: string }[], run: () => Promise<T>): Promise<T> {
    const owners = [...new Set(items.map((item) => item.id))];
    for (const owner of owners) {
      this.#writing.set(owner, (this.#writing.get(owner) ?? 0) + 1);
      this.#listingSeen?.add(owner);
    }
    try {
      return await run();
    } finally {
      for (const owner of owners) {
        const count = (this.#writing.get(owner) ?? 1) - 1;
        if (count > 0) this.#writing.set(owner, count);
        else this.#writing.delete(owner);
      }
    }
  }

  async #upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
    const { failures, fail } = firstFailures();
    const wanted = new Map<string, TiIndicator[]>();
    for (const item of items) {
      const { records, skipped } = toTiIndicators(item, { ...this.#o.mapping, now: this.#now() });
      for (const skip of skipped) {
        this.#http.counters.skipped++;
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
    const held = await this.#held(
      [...wanted].map(([id, records]) => ({ id, clauses: records.map(lookupClause) })),
      fail,
      signal,
    );
    const plan = planUpserts(wanted, (owner) => held.get(owner), this.#product);
    await this.#create(plan.creates, fail, signal);
    await this.#update(plan.updates, fail, signal);
    await this.#deleteByIds(plan.deletes, fail, signal);
    return this.#results(items, failures, signal);
  }

  async #remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
    const { failures, fail } = firstFailures();
    if (this.#product.matchByValue) {
      const product = this.#product.name;
      const held = await this.#held(
        items.map((item) => ({
          id: item.id,
          clauses: (item.observables ?? []).flatMap((o) => {
            const fields = observableFields(o, product);
            return typeof fields === "string" ? [] : [lookupClause(fields)];
          }),
        })),
        fail,
        signal,
      );
      const deletes = items.flatMap((item) =>
        (held.get(item.id) ?? []).map((known) => ({ owner: item.id, recordId: known.id }))
      );
      await this.#deleteByIds(deletes, fail, signal);
    } else {
      const index = this.#index;
      for (const chunk of chunks(items, this.#perRequest)) {
        const gone = await this.#http.bulkDelete(
          "deleteTiIndicatorsByExternalId",
          chunk.map((item) => ({ owner: item.id, key: item.id })),
          fail,
          signal,
        );
        if (index instanceof RecordIndex) {
          chunk.forEach((item, n) =>
            gone[n] ? index.forget(item.id) : index.markUncertain(item.id)
          );
        }
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
    // The same listing renews the write index: a reconcile heals what changed behind our back.
    // Records go to the compact table one at a time (fingerprints add up), so 1,000,000 fit.
    const index = await this.#listAll(signal, [], (record) => {
      const key = record.externalId;
      if (typeof key !== "string" || key === "") return;
      owned.add(key, fingerprintOf([projectRecord(record, projection)]));
    });
    const current = this.#index;
    if (index instanceof RecordIndex && current instanceof RecordIndex) {
      // A listing that runs beside writes can miss records (its pages shift as records come and
      // go): an indicator with a record the index held and the listing did not show is looked up
      // before its next write, so a missed record is found, not created a second time.
      for (const owner of current.ownersMissingIn(index)) index.markUncertain(owner);
    } else if (index instanceof RecordIndex && index.uncertain > 0) {
      // Written beside the listing, with no index to compare: the next write lists again.
      return owned;
    }
    if (current !== NO_INDEX || this.#indexLimit > 0) this.#index = index;
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
    await this.#http.list(undefined, signal, false, (record) => {
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
    const { records } = toTiIndicators(item, { ...this.#o.mapping, now: this.#now() });
    if (records.length === 0) return undefined;
    return fingerprintOf(records.map((record) => projectRecord(record, this.#projection)));
  }

  /** The fields a reconcile compares: the observable and what an update may change. */
  get #projection(): readonly string[] {
    return [...OBSERVABLE_KEYS, ...this.#product.editable.filter((f) => f !== "externalId")];
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
        this.#http.counters.failed++;
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
   * What Graph holds for each indicator: from the index, and by lookup for the indicators it is
   * not sure of (or all of them when there is no index). An indicator whose records could not be
   * read is failed (noted with `fail`) and left out of the answer.
   */
  async #held(
    wanted: Wanted[],
    fail: Fail,
    signal: AbortSignal | undefined,
  ): Promise<Map<string, KnownRecord[]>> {
    const out = new Map<string, KnownRecord[]>();
    let index: RecordIndex | typeof NO_INDEX;
    try {
      index = await this.#ensureIndex(signal, wanted.map((w) => w.id));
    } catch (error) {
      // A failed listing is no verdict on any indicator (never one indicator's request).
      const failure = this.#http.failureOf(error, "list our records", 2);
      for (const w of wanted) fail(w.id, failure);
      return out;
    }
    const toLookUp = index === NO_INDEX ? wanted : wanted.filter((w) => index.isUncertain(w.id));
    if (toLookUp.length > 0) {
      const lookupFailed = new Set<string>();
      const found = await this.#lookup(toLookUp, (id, failure) => {
        lookupFailed.add(id);
        fail(id, failure);
      }, signal);
      for (const w of toLookUp) {
        if (lookupFailed.has(w.id)) continue;
        const known = (found.get(w.id) ?? []).map((e) => knownRecord(e, e.id, this.#product));
        if (index === NO_INDEX) out.set(w.id, known);
        else index.replace(w.id, keysOf(w), known);
      }
    }
    if (index !== NO_INDEX) {
      for (const w of wanted) {
        if (!index.isUncertain(w.id)) out.set(w.id, index.recordsOf(w.id, keysOf(w)));
      }
    }
    return out;
  }

  /** The index, listed at the first call (shared by concurrent callers). */
  async #ensureIndex(
    signal: AbortSignal | undefined,
    mine: readonly string[],
  ): Promise<RecordIndex | typeof NO_INDEX> {
    if (this.#index !== undefined) return this.#index;
    this.#loading ??= this.#listAll(signal, mine).finally(() => this.#loading = undefined);
    return this.#index = await this.#loading;
  }

  /**
   * Lists every record of our application into a new index (and hands each to `visit`). An
   * indicator another call writes while the listing runs may or may not show in it: it is marked
   * uncertain (looked up before its next write). `mine`: the calling write's own indicators,
   * which it has not written yet. Past the limit the index is dropped ("off").
   */
  async #listAll(
    signal: AbortSignal | undefined,
    mine: readonly string[],
    visit?: (record: Existing) => void,
  ): Promise<RecordIndex | typeof NO_INDEX> {
    const own = new Map<string, number>();
    for (const owner of mine) own.set(owner, (own.get(owner) ?? 0) + 1);
    const seen = new Set(
      [...this.#writing].filter(([owner, n]) => n > (own.get(owner) ?? 0)).map(([o]) => o),
    );
    this.#listingSeen = seen;
    const index = new RecordIndex(this.#product);
    let over = this.#indexLimit <= 0;
    try {
      await this.#http.list(undefined, signal, false, (record) => {
        visit?.(record);
        if (over) return visit !== undefined;
        if (index.size >= this.#indexLimit) {
          over = true;
          return visit !== undefined;
        }
        index.addListed(record);
      });
    } finally {
      if (this.#listingSeen === seen) this.#listingSeen = undefined;
    }
    if (over) {
      if (this.#indexLimit > 0) this.#dropIndex();
      return NO_INDEX;
    }
    // Written by other calls before or while the listing ran (every later call enters `seen`).
    for (const owner of seen) index.markUncertain(owner);
    this.#log.info("Listed {count} Graph records of this application: writing without lookups", {
      count: index.size,
    });
    return index;
  }

  /** Creates records in bulk; the index learns the ones Graph confirmed. */
  async #create(
    creates: { owner: string; record: TiIndicator }[],
    fail: Fail,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (const chunk of chunks(creates, this.#perRequest)) {
      const outcomes = await this.#http.bulkWrite("submitTiIndicators", chunk, fail, signal);
      const index = this.#index;
      if (!(index instanceof RecordIndex)) continue;
      chunk.forEach((c, n) => {
        const outcome = outcomes[n];
        if (outcome?.ok && outcome.id !== undefined && !outcome.resent) {
          index.add(c.owner, knownRecord(c.record, outcome.id, this.#product));
        } else index.markUncertain(c.owner);
      });
      if (index.size > this.#indexLimit) this.#dropIndex();
    }
  }

  /** Stops keeping the index (past the limit): every indicator is looked up from now on. */
  #dropIndex(): void {
    this.#index = NO_INDEX;
    this.#log.warn(
      "Graph holds more than {limit} records of this application: looking each indicator up before writing it",
      { limit: this.#indexLimit },
    );
  }

  /** Updates records: in bulk where the product allows it, else one `PATCH` each. */
  async #update(
    updates: { owner: string; record: TiIndicator; current: KnownRecord }[],
    fail: Fail,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const product = this.#product;
    const learn = (u: (typeof updates)[number], ok: boolean) => {
      const index = this.#index;
      if (!(index instanceof RecordIndex)) return;
      if (ok) index.update(updatedRecord(u.current, u.record, product));
      else index.markUncertain(u.owner);
    };
    if (!product.bulkUpdate) {
      for (const u of updates) {
        const body = product.updateBody(u.record, u.current.id);
        learn(u, await this.#http.patch(u.owner, u.current.id, body, fail, signal));
      }
      return;
    }
    for (const chunk of chunks(updates, this.#perRequest)) {
      const writes = chunk.map((u) => ({
        owner: u.owner,
        record: product.updateBody(u.record, u.current.id),
      }));
      const outcomes = await this.#http.bulkWrite("updateTiIndicators", writes, fail, signal);
      chunk.forEach((u, n) => learn(u, outcomes[n]?.ok === true));
    }
  }

  /** Deletes records by Graph id: in bulk where the product allows it, else one `DELETE` each. */
  async #deleteByIds(
    deletes: { owner: string; recordId: string }[],
    fail: Fail,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const learn = (d: (typeof deletes)[number], gone: boolean) => {
      const index = this.#index;
      if (!(index instanceof RecordIndex)) return;
      if (gone) index.remove(d.recordId);
      else index.markUncertain(d.owner);
    };
    if (!this.#product.bulkDelete) {
      for (const d of deletes) {
        learn(d, await this.#http.deleteOne(d.owner, d.recordId, fail, signal));
      }
      return;
    }
    for (const chunk of chunks(deletes, this.#perRequest)) {
      const gone = await this.#http.bulkDelete(
        "deleteTiIndicators",
        chunk.map((d) => ({ owner: d.owner, key: d.recordId })),
        fail,
        signal,
      );
      chunk.forEach((d, n) => learn(d, gone[n] === true));
    }
  }

  /**
   * Lists the records of each indicator: by `externalId`, and for Defender ATP (whose records
   * come back without it) also by observable value, keeping records that carry no other id.
   */
  async #lookup(
    items: Wanted[],
    fail: Fail,
    signal: AbortSignal | undefined,
  ): Promise<Map<string, Existing[]>> {
    const out = new Map<string, Existing[]>();
    const byValue = this.#product.matchByValue;
    const chunkSize = this.#compositeRefused ? 1 : this.#o.lookupChunk ?? 10;
    for (const chunk of chunks(items, chunkSize)) {
      const clauses = chunk.map((item) => odataEq("externalId", item.id));
      if (byValue) {
        for (const item of chunk) {
          for (const [field, value] of item.clauses) clauses.push(odataEq(field, value));
        }
      }
      const groupSize = this.#compositeRefused ? 1 : chunkSize;
      for (const group of chunks([...new Set(clauses)], groupSize)) {
        let records: Existing[];
        try {
          records = await this.#listGroup(group, signal);
        } catch (error) {
          // One clause for one item: the failure is that item's; else no verdict on any item.
          const failure = this.#http.failureOf(
            error,
            "look up",
            group.length > 1 ? 2 : chunk.length,
          );
          for (const item of chunk) fail(item.id, failure);
          continue;
        }
        for (const item of chunk) {
          const keys = new Set(keysOf(item));
          const mine = records.filter((r) =>
            r.externalId === item.id ||
            (byValue && (r.externalId === undefined || r.externalId === null) &&
              keys.has(observableKey(r) ?? ""))
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
      for (const clause of group) out.push(...await this.#http.list(clause, signal));
      return out;
    }
    try {
      // A refusal here is expected from a Graph that keeps to its documentation: not an error line.
      return await this.#http.list(group.join(" or "), signal, true);
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
}

/** The `$filter` field and value that find a record by its observable. */
function lookupClause(fields: Partial<TiIndicator>): [string, string] {
  for (const field of OBSERVABLE_KEYS) {
    const value = fields[field];
    if (typeof value === "string") return [field, value];
  }
  return ["externalId", ""];
}

/** The observable keys of an indicator's lookup clauses. */
function keysOf(wanted: Wanted): string[] {
  return wanted.clauses.map(([field, value]) => observableKey({ [field]: value }) ?? "");
}
