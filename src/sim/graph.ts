/**
 * A simulator of Microsoft Graph Security `tiIndicators` (beta), faithful to reference
 * microsoft.md §2 and the checklist in §8.2: bearer tokens from the Entra simulator, per-app
 * ownership, body validation per `targetProduct`, 206 partial failures with per-item `Error`
 * JSON strings, strict OData `$filter` parsing, paging, 1,000 requests/min with 429 +
 * `Retry-After`, injected failures, and an inspectable store.
 *
 * Duplicates: Graph treats `externalId` as a plain property, so submitting a record whose
 * `externalId` already exists creates a second object; this simulator does the same, so tests can
 * detect duplicates through {@linkcode GraphSim.store}. What a body may hold and the `$filter`
 * grammar are in `graph_rules.ts`.
 */
import { type Context, Hono } from "hono";
import { systemNow } from "../runtime/clock.ts";
import {
  audienceVariants,
  type AuthVariables,
  bearerAuth,
  failureMiddleware,
  FailurePlan,
  type MsSimOptions,
  perMinute,
  type RateWindow,
  readJson as readJsonOr,
  recordRequests,
  renderGraphStyleError,
  type RunningServer,
  type SeenRequest,
  serveSim,
  TimeScale,
} from "./ms_common.ts";

import {
  BodyProblem,
  type Clause,
  DEFENDER,
  deserialise,
  ItemProblem,
  type Json,
  matches,
  parseFilter,
  stringOf,
  validateCreate,
  validateUpdate,
} from "./graph_rules.ts";

export type { SeenRequest } from "./ms_common.ts";
export { parseFilter } from "./graph_rules.ts";

/** The Graph permission the simulator demands. */
export const GRAPH_TI_PERMISSION = "ThreatIndicators.ReadWrite.OwnedBy";
/** Microsoft Graph's resource URL (token audience). */
export const GRAPH_RESOURCE = "https://graph.microsoft.com";
/** Microsoft Graph's application id (also seen as a token audience). */
export const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";
/** The path of the collection. */
export const TI_PATH = "/beta/security/tiIndicators";

/** Options of {@linkcode createGraphSimApp}. */
export interface GraphSimOptions extends MsSimOptions {
  /** Accepted audiences. @default Graph's URL (with and without `/`) and its app id */
  audiences?: string[];
  /** Requests per window per app. @default 1000 */
  rateLimit?: number;
  /** Page size of list answers. @default 100 */
  pageSize?: number;
  /** Largest bulk request. @default 100 */
  maxBatch?: number;
  /**
   * Records for "Microsoft Defender ATP" come back without `externalId` and cannot be found by it
   * (observed upstream, lesson #3177). @default true
   */
  defenderDropsExternalId?: boolean;
  /** Answer list reads with 206 (a federated provider partly failed). @default false */
  partialReads?: boolean;
  /**
   * Accept `or` in `$filter`. Microsoft documents only `eq` and `and` for tiIndicators (reference
   * §2.7), so the simulator refuses a composite filter with 400 unless this is on. @default false
   */
  compositeFilter?: boolean;
}

/** One stored indicator. */
export interface StoredTiIndicator {
  /** System id. */
  id: string;
  /** Owning application. */
  appid: string;
  /** Owning tenant. */
  tid: string;
  /** Every property as stored (includes `externalId` even when the API hides it). */
  fields: Record<string, unknown>;
}

/** A Graph tiIndicators simulator. */
export interface GraphSim {
  /** The Hono app. */
  app: Hono<{ Variables: AuthVariables }>;
  /** Failures to inject. */
  failures: FailurePlan;
  /** The per-app request window. */
  rate: RateWindow;
  /** Every request seen, in order. */
  requests: SeenRequest[];
  /** A copy of every stored indicator. */
  store(): StoredTiIndicator[];
  /** Stored indicators with this externalId (whatever the target product). */
  findByExternalId(externalId: string): StoredTiIndicator[];
  /** Adds an indicator directly (seeding tests); returns it. */
  seed(fields: Record<string, unknown>, owner?: { appid: string; tid: string }): StoredTiIndicator;
  /**
   * Stores these request items as a `submitTiIndicators` of `owner` would (the same parsing and
   * checks), without HTTP, auth, injected failures or the rate window: fills a large store fast
   * (the reconcile bench). Throws at the first item the API would refuse.
   */
  seedSubmitted(items: readonly unknown[], owner: { appid: string; tid: string }): void;
  /**
   * Changes stored fields of one indicator behind the API's back (drift in tests), or deletes it
   * with `null`; false when there is no such id.
   */
  edit(id: string, fields: Record<string, unknown> | null): boolean;
  /** Turns the April 2026 retirement on: every call answers 410. */
  retire(on?: boolean): void;
  /** Accepts (true) or refuses with 400 (false) `or` in `$filter` from now on. */
  setCompositeFilter(on: boolean): void;
}

/** A running Graph simulator. */
export interface RunningGraphSim extends GraphSim, RunningServer {}

/** Builds the simulator app (no server). */
export function createGraphSimApp(options: GraphSimOptions): GraphSim {
  const now = options.now ?? systemNow;
  const scale = new TimeScale(options.timeScale ?? 1);
  const pageSize = options.pageSize ?? 100;
  const maxBatch = options.maxBatch ?? 100;
  const dropsExternalId = options.defenderDropsExternalId ?? true;
  const failures = new FailurePlan();
  const rate = perMinute(options.rateLimit ?? 1000, scale, now);
  const requests: SeenRequest[] = [];
  const records = new Map<string, StoredTiIndicator>();
  const index = new OwnerIndex();
  let retired = false;
  let compositeFilter = options.compositeFilter ?? false;

  const app = new Hono<{ Variables: AuthVariables }>({
    getPath: (request) => new URL(request.url).pathname.toLowerCase(),
  });
  const base = TI_PATH.toLowerCase();

  app.use("*", recordRequests(requests, now));
  app.use("*", failureMiddleware(failures, { sleep: options.sleep }));
  app.use("*", async (c, next) => {
    if (!retired) return await next();
    return renderGraphStyleError(
      c,
      410,
      "Gone",
      "The tiIndicator entity was removed from Microsoft Graph in April 2026",
    );
  });
  app.use(
    "*",
    bearerAuth({
      verify: options.verify,
      audiences: options.audiences ?? audienceVariants(GRAPH_RESOURCE, GRAPH_APP_ID),
      roles: [GRAPH_TI_PERMISSION],
      forbiddenCode: "accessDenied",
      forbiddenMessage:
        `Insufficient privileges to complete the operation: grant the application permission ${GRAPH_TI_PERMISSION} with admin consent`,
    }),
  );
  app.use("*", async (c, next) => {
    const auth = c.get("auth");
    const decision = rate.take(`${auth.tid}/${auth.appid}`);
    if (decision.ok) return await next();
    return renderGraphStyleError(
      c,
      429,
      "activityLimitReached",
      "The request has been throttled. Retry after the time given in Retry-After",
      { "Retry-After": scale.retryAfter(decision.retryAfterMs) },
    );
  });

  const owned = (c: Context<{ Variables: AuthVariables }>) => {
    const { appid, tid } = c.get("auth");
    return index.owned(appid, tid);
  };
  const store = (record: StoredTiIndicator) => {
    records.set(record.id, record);
    index.add(record);
  };
  const drop = (record: StoredTiIndicator) => {
    records.delete(record.id);
    index.remove(record);
  };
  const change = (record: StoredTiIndicator, fields: Json) =>
    index.change(record, () => Object.assign(record.fields, fields));
  const context = (c: Context, suffix: string) =>
    `${new URL(c.req.url).origin}/beta/$metadata#${suffix}`;
  const entity = (record: StoredTiIndicator): Json => {
    const out: Json = { "@odata.type": "#microsoft.graph.tiIndicator", ...record.fields };
    if (dropsExternalId && record.fields.targetProduct === DEFENDER) delete out.externalId;
    return out;
  };
  const create = (fields: Json, owner: { appid: string; tid: string }) => {
    const id = crypto.randomUUID();
    const stored: StoredTiIndicator = {
      id,
      appid: owner.appid,
      tid: owner.tid,
      fields: {
        id,
        azureTenantId: owner.tid,
        ingestedDateTime: new Date(now()).toISOString(),
        isActive: true,
        passiveOnly: false,
        severity: 3,
        ...fields,
      },
    };
    store(stored);
    return stored;
  };

  // List with $filter and paging.
  app.get(base, (c) => {
    let items: readonly StoredTiIndicator[] = owned(c);
    const filterText = c.req.query("$filter");
    if (filterText !== undefined) {
      let filter: Clause[][];
      try {
        filter = parseFilter(filterText);
        if (filter.length > 1 && !compositeFilter) {
          throw new Error(
            "Invalid filter clause: the 'or' operator is not supported on tiIndicator; use 'eq' and 'and'",
          );
        }
      } catch (error) {
        return renderGraphStyleError(c, 400, "BadRequest", (error as Error).message);
      }
      const { appid, tid } = c.get("auth");
      items = (index.candidates(appid, tid, filter) ?? items).filter((r) =>
        matches(r, filter, dropsExternalId)
      );
    }
    const top = Number(c.req.query("$top") ?? pageSize);
    const size = Number.isInteger(top) && top > 0 ? Math.min(top, pageSize) : pageSize;
    const skip = Number(c.req.query("$skiptoken") ?? "0") || 0;
    const page = items.slice(skip, skip + size);
    const body: Json = {
      "@odata.context": context(c, "security/tiIndicators"),
      value: page.map(entity),
    };
    if (skip + size < items.length) {
      const next = new URL(c.req.url);
      next.searchParams.set("$skiptoken", String(skip + size));
      body["@odata.nextLink"] = next.toString();
    }
    return c.json(body, options.partialReads ? 206 : 200);
  });

  app.get(`${base}/:id`, (c) => {
    const { appid, tid } = c.get("auth");
    const record = records.get(c.req.param("id"));
    if (!record || record.appid !== appid || record.tid !== tid) return notFound(c);
    return c.json({
      "@odata.context": context(c, "security/tiIndicators/$entity"),
      ...entity(record),
    });
  });

  // Single create.
  app.post(base, async (c) => {
    const body = await readJson(c);
    if (body instanceof Response) return body;
    try {
      const fields = deserialise(body);
      validateCreate(fields);
      const stored = create(fields, c.get("auth"));
      return c.json(
        { "@odata.context": context(c, "security/tiIndicators/$entity"), ...entity(stored) },
        201,
      );
    } catch (error) {
      return problemResponse(c, error);
    }
  });

  /** Answers a bulk write: per item its entity, or its input with an `Error` (then 206). */
  const bulkWrite = async (
    c: Context<{ Variables: AuthVariables }>,
    allowId: boolean,
    write: (fields: Json) => Json,
  ) => {
    const items = await readBulk(c, maxBatch);
    if (items instanceof Response) return items;
    let parsed: Json[];
    try {
      parsed = items.map((item) => deserialise(item, allowId));
    } catch (error) {
      return problemResponse(c, error);
    }
    let failed = false;
    const value = parsed.map((fields) => {
      try {
        return write(fields);
      } catch (error) {
        failed = true;
        return { ...fields, Error: itemError(error) };
      }
    });
    return c.json(
      { "@odata.context": context(c, "Collection(microsoft.graph.tiIndicator)"), value },
      failed ? 206 : 200,
    );
  };

  app.post(`${base}/submittiindicators`, (c) =>
    bulkWrite(c, false, (fields) => {
      const injected = failures.takePartial(stringOf(fields.externalId));
      if (injected) throw new ItemProblem(injected.code, injected.message, 500);
      validateCreate(fields);
      return entity(create(fields, c.get("auth")));
    }));

  app.post(`${base}/updatetiindicators`, (c) =>
    bulkWrite(c, true, (fields) => {
      const { appid, tid } = c.get("auth");
      const id = stringOf(fields.id);
      const record = id === undefined ? undefined : records.get(id);
      if (!record || record.appid !== appid || record.tid !== tid) {
        throw new ItemProblem("itemNotFound", `No indicator with id ${id}`, 404);
      }
      const injected = failures.takePartial(stringOf(record.fields.externalId));
      if (injected) throw new ItemProblem(injected.code, injected.message, 500);
      if (record.fields.targetProduct === DEFENDER) {
        throw new ItemProblem(
          "InvalidInput",
          "Bulk update is not supported for the Microsoft Defender ATP target: use PATCH",
        );
      }
      validateUpdate(fields, record);
      change(record, fields);
      return entity(record);
    }));

  const bulkDelete = (
    c: Context<{ Variables: AuthVariables }>,
    keys: string[],
    pick: (key: string, appid: string, tid: string) => StoredTiIndicator[],
  ) => {
    const { appid, tid } = c.get("auth");
    let failed = false;
    const value = keys.map((key) => {
      const result = (code: number, message: string, subCode?: string) => {
        if (code !== 200) failed = true;
        return {
          "@odata.type": "#microsoft.graph.resultInfo",
          code,
          message,
          ...(subCode ? { subCode } : {}),
        };
      };
      const injected = failures.takePartial(key);
      if (injected) return result(500, injected.message, injected.code);
      const found = pick(key, appid, tid);
      if (found.length === 0) return result(404, `No indicator found for ${key}`, "itemNotFound");
      if (found.some((r) => r.fields.targetProduct === DEFENDER)) {
        return result(
          400,
          "Bulk delete is not supported for the Microsoft Defender ATP target",
          "InvalidInput",
        );
      }
      for (const record of found) drop(record);
      return result(200, `Deleted ${found.length} indicator(s)`);
    });
    return c.json(
      { "@odata.context": context(c, "Collection(microsoft.graph.resultInfo)"), value },
      failed ? 206 : 200,
    );
  };

  app.post(`${base}/deletetiindicators`, async (c) => {
    const keys = await readKeys(c, maxBatch);
    if (keys instanceof Response) return keys;
    return bulkDelete(c, keys, (key, appid, tid) => {
      const record = records.get(key);
      return record && record.appid === appid && record.tid === tid ? [record] : [];
    });
  });

  app.post(`${base}/deletetiindicatorsbyexternalid`, async (c) => {
    const keys = await readKeys(c, maxBatch);
    if (keys instanceof Response) return keys;
    return bulkDelete(c, keys, (key, appid, tid) => index.byExternalId(appid, tid, key));
  });

  app.patch(`${base}/:id`, async (c) => {
    const record = records.get(c.req.param("id"));
    if (!record) return notFound(c);
    const { appid, tid } = c.get("auth");
    if (record.appid !== appid || record.tid !== tid) {
      return renderGraphStyleError(c, 403, "accessDenied", "The indicator belongs to another app");
    }
    const body = await readJson(c);
    if (body instanceof Response) return body;
    try {
      const fields = deserialise(body, true);
      validateUpdate(fields, record);
      change(record, fields);
    } catch (error) {
      return problemResponse(c, error);
    }
    if ((c.req.header("prefer") ?? "").includes("return=representation")) {
      return c.json({
        "@odata.context": context(c, "security/tiIndicators/$entity"),
        ...entity(record),
      });
    }
    return c.body(null, 204);
  });

  app.delete(`${base}/:id`, (c) => {
    const record = records.get(c.req.param("id"));
    if (!record) return notFound(c);
    const { appid, tid } = c.get("auth");
    if (record.appid !== appid || record.tid !== tid) {
      return renderGraphStyleError(c, 403, "accessDenied", "The indicator belongs to another app");
    }
    drop(record);
    return c.body(null, 204);
  });

  app.notFound((c) =>
    renderGraphStyleError(
      c,
      400,
      "BadRequest",
      `Resource not found for the segment '${c.req.path}'`,
    )
  );

  const copy = (r: StoredTiIndicator): StoredTiIndicator => ({
    ...r,
    fields: structuredClone(r.fields),
  });
  return {
    app,
    failures,
    rate,
    requests,
    store: () => [...records.values()].map(copy),
    findByExternalId: (externalId) => index.anyByExternalId(externalId).map(copy),
    seed: (fields, owner = { appid: "seed-app", tid: "seed-tenant" }) =>
      copy(create(fields, owner)),
    seedSubmitted: (items, owner) => {
      for (const item of items) {
        const fields = deserialise(item);
        validateCreate(fields);
        create(fields, owner);
      }
    },
    edit: (id, fields) => {
      const record = records.get(id);
      if (!record) return false;
      if (fields === null) drop(record);
      else change(record, structuredClone(fields));
      return true;
    },
    retire: (on = true) => {
      retired = on;
    },
    setCompositeFilter: (on) => {
      compositeFilter = on;
    },
  };
}

/** Starts the simulator on 127.0.0.1 with a free port. */
export function startGraphSim(options: GraphSimOptions): RunningGraphSim {
  return serveSim(createGraphSimApp(options));
}

function notFound(c: Context): Response {
  return renderGraphStyleError(c, 404, "itemNotFound", "The indicator does not exist");
}

function readJson(c: Context): Promise<unknown | Response> {
  return readJsonOr(
    c,
    (c) => renderGraphStyleError(c, 400, "BadRequest", "Unable to read JSON request payload"),
  );
}

async function readBulk(c: Context, max: number): Promise<unknown[] | Response> {
  const body = await readJson(c);
  if (body instanceof Response) return body;
  const value = (body as Json | null)?.value;
  if (!Array.isArray(value) || value.length === 0) {
    return renderGraphStyleError(
      c,
      400,
      "BadRequest",
      "The request body needs a non-empty 'value'",
    );
  }
  if (value.length > max) {
    return renderGraphStyleError(
      c,
      400,
      "BadRequest",
      `Too many items: ${value.length}; a request may carry at most ${max}`,
    );
  }
  return value;
}

async function readKeys(c: Context, max: number): Promise<string[] | Response> {
  const value = await readBulk(c, max);
  if (value instanceof Response) return value;
  if (!value.every((v) => typeof v === "string")) {
    return renderGraphStyleError(c, 400, "BadRequest", "'value' must be an array of strings");
  }
  return value as string[];
}

function problemResponse(c: Context, error: unknown): Response {
  if (error instanceof ItemProblem) {
    return renderGraphStyleError(c, error.status, error.code, error.message);
  }
  if (error instanceof BodyProblem) {
    return renderGraphStyleError(c, 400, "BadRequest", error.message);
  }
  throw error;
}

function itemError(error: unknown): string {
  const code = error instanceof ItemProblem ? error.code : "InternalServerError";
  const message = error instanceof Error ? error.message : String(error);
  return JSON.stringify({ error: { code, message, target: `|${crypto.randomUUID()}_` } });
}

/**
 * The stored records by owner (app and tenant) and by `externalId`, so reads and bulk deletes
 * cost what they return rather than a scan of every record: a 1,000,000-record fill stays linear
 * (issue 17). Lists keep the creation order (a stable order for `$skiptoken` offsets); an owner's
 * full list is built once per change and reused by the pages that follow.
 */
class OwnerIndex {
  readonly #owners = new Map<string, {
    all: Map<string, StoredTiIndicator>;
    byExternal: Map<string, Set<StoredTiIndicator>>;
    list?: StoredTiIndicator[];
  }>();
  readonly #order = new WeakMap<StoredTiIndicator, number>();
  #next = 0;

  #owner(appid: string, tid: string) {
    const key = `${appid}\u0000${tid}`;
    let owner = this.#owners.get(key);
    if (!owner) this.#owners.set(key, owner = { all: new Map(), byExternal: new Map() });
    return owner;
  }

  add(record: StoredTiIndicator): void {
    const owner = this.#owner(record.appid, record.tid);
    this.#order.set(record, this.#next++);
    owner.all.set(record.id, record);
    delete owner.list;
    this.#link(record);
  }

  remove(record: StoredTiIndicator): void {
    const owner = this.#owner(record.appid, record.tid);
    owner.all.delete(record.id);
    delete owner.list;
    this.#unlink(record);
  }

  /** Applies a change of fields (the record keeps its place in the lists). */
  change(record: StoredTiIndicator, apply: () => void): void {
    this.#unlink(record);
    apply();
    this.#link(record);
    delete this.#owner(record.appid, record.tid).list;
  }

  #link(record: StoredTiIndicator): void {
    const key = record.fields.externalId;
    if (typeof key !== "string") return;
    const owner = this.#owner(record.appid, record.tid);
    let set = owner.byExternal.get(key);
    if (!set) owner.byExternal.set(key, set = new Set());
    set.add(record);
  }

  #unlink(record: StoredTiIndicator): void {
    const key = record.fields.externalId;
    if (typeof key !== "string") return;
    const owner = this.#owner(record.appid, record.tid);
    const set = owner.byExternal.get(key);
    set?.delete(record);
    if (set?.size === 0) owner.byExternal.delete(key);
  }

  /** The owner's records in creation order (do not change the array). */
  owned(appid: string, tid: string): readonly StoredTiIndicator[] {
    const owner = this.#owner(appid, tid);
    owner.list ??= [...owner.all.values()];
    return owner.list;
  }

  /** The owner's records with this `externalId`, in creation order. */
  byExternalId(appid: string, tid: string, key: string): StoredTiIndicator[] {
    return this.#sorted(this.#owner(appid, tid).byExternal.get(key) ?? []);
  }

  /** Every owner's records with this `externalId`. */
  anyByExternalId(key: string): StoredTiIndicator[] {
    const out: StoredTiIndicator[] = [];
    for (const owner of this.#owners.values()) out.push(...owner.byExternal.get(key) ?? []);
    return this.#sorted(out);
  }

  /**
   * A superset of the records `filter` can match when every `or` group names an `externalId`
   * (the caller still applies the filter), else undefined (scan the owner's list).
   */
  candidates(appid: string, tid: string, filter: Clause[][]): StoredTiIndicator[] | undefined {
    const found = new Set<StoredTiIndicator>();
    for (const group of filter) {
      const clause = group.find((c) => c.field === "externalId");
      if (!clause) return undefined;
      for (const record of this.byExternalId(appid, tid, clause.value)) found.add(record);
    }
    return this.#sorted(found);
  }

  #sorted(records: Iterable<StoredTiIndicator>): StoredTiIndicator[] {
    return [...records].sort((a, b) => (this.#order.get(a) ?? 0) - (this.#order.get(b) ?? 0));
  }
}
