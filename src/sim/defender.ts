/**
 * A simulator of the Microsoft Defender for Endpoint indicators API, faithful to reference
 * microsoft.md §5 and the checklist in §8.4: Defender-audience bearer tokens with `Ti.ReadWrite`
 * or `Ti.ReadWrite.All`, case-sensitive body properties, enum and value validation, `import`
 * with per-item results (≤ 500), single submit, list with strict OData `$filter` parsing and
 * paging, `BatchDelete`, `DELETE` by id, the 15,000-per-tenant cap, per-operation rate limits
 * answered with 429 + `Retry-After`, injected failures and an inspectable store.
 *
 * Undocumented choices: the cap refusal text ("… reached the maximum number of active
 * indicators …"), and `BatchDelete` deletes nothing when it answers 404.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import {
  isDnsName as isDomain,
  isDottedQuad as isIpv4,
  isFullIpv6,
  MDE_ACTIONS as DEFENDER_ACTIONS,
  MDE_ACTIONS_BY_TYPE as ACTIONS_BY_TYPE,
  MDE_INDICATOR_TYPES as DEFENDER_INDICATOR_TYPES,
  MDE_MAX_IMPORT,
  MDE_SEVERITIES as DEFENDER_SEVERITIES,
  MDE_TENANT_CAP as DEFENDER_TENANT_CAP,
  type MdeAction as DefenderAction,
  mdeIdentity as indicatorKey,
  type MdeIndicatorType as DefenderIndicatorType,
} from "./ms_tables.ts";
import { readStringLiteral } from "./odata_literal.ts";
import { systemNow } from "../runtime/clock.ts";
import {
  audienceVariants,
  type AuthVariables,
  bearerAuth,
  failureMiddleware,
  FailurePlan,
  isObject,
  type MsSimOptions,
  perMinute,
  type RateWindow,
  readJson as readJsonOr,
  recordRequests,
  type RenderError,
  type RunningServer,
  type SeenRequest,
  serveSim,
  TimeScale,
} from "./ms_common.ts";

/** Defender's resource URL (token audience). */
export const DEFENDER_RESOURCE = "https://api.securitycenter.microsoft.com";
/** The permission limited to the app's own indicators. */
export const TI_READ_WRITE = "Ti.ReadWrite";
/** The permission over every indicator of the tenant. */
export const TI_READ_WRITE_ALL = "Ti.ReadWrite.All";

/** Calls allowed per window, per operation (reference §5.2). */
export interface DefenderSimLimits {
  /** `POST /api/indicators/import`. @default 30 */
  import?: number;
  /** `POST /api/indicators/BatchDelete`. @default 30 */
  batchDelete?: number;
  /** `POST /api/indicators`. @default 100 */
  submit?: number;
  /** `GET /api/indicators`. @default 100 */
  list?: number;
  /** `DELETE /api/indicators/{id}`. @default 100 */
  delete?: number;
}

/** Options of {@linkcode createDefenderSimApp}. */
export interface DefenderSimOptions extends MsSimOptions {
  /** Accepted audiences. @default Defender's two resource URLs, with and without `/` */
  audiences?: string[];
  /** Active indicators allowed per tenant. @default 15000 */
  tenantCap?: number;
  /** Refuse creating `FileMd5` indicators, as observed in practice. @default true */
  rejectMd5Create?: boolean;
  /** Calls per window per operation and identity. @default the documented limits */
  limits?: DefenderSimLimits;
  /** Page size when `$top` is absent. @default 10000 */
  pageSize?: number;
  /** Largest `import` and `BatchDelete` request. @default 500 */
  maxBatch?: number;
  /** Display names of the calling apps (`createdBySource`), by app id. @default the app id */
  appNames?: Record<string, string>;
}

/** One stored Defender indicator (the entity as the API returns it, plus its tenant). */
export interface StoredDefenderIndicator {
  /** Tenant id. */
  tid: string;
  /** The entity. */
  entity: Record<string, unknown> & {
    id: string;
    indicatorType: DefenderIndicatorType;
    indicatorValue: string;
    createdBy: string;
  };
}

/** One request the simulator saw. */
export type DefenderSeenRequest = SeenRequest;

/** A Defender simulator. */
export interface DefenderSim {
  /** The Hono app. */
  app: Hono<{ Variables: AuthVariables }>;
  /** Failures to inject (per-item failures are keyed by `externalID`, else by value). */
  failures: FailurePlan;
  /** Rate windows per operation. */
  rates: Record<keyof DefenderSimLimits, RateWindow>;
  /** Every request seen, in order. */
  requests: DefenderSeenRequest[];
  /** A copy of every stored indicator. */
  store(): StoredDefenderIndicator[];
  /** Adds an indicator directly (seeding, e.g. to fill the tenant up to its cap). */
  seed(
    fields:
      & { indicatorType: DefenderIndicatorType; indicatorValue: string }
      & Record<
        string,
        unknown
      >,
    owner?: { appid: string; tid: string },
  ): StoredDefenderIndicator;
  /**
   * Stores these request items as an `import` of `owner` would (the same parsing, checks, tenant
   * cap and create-or-update by value), without HTTP, auth, injected failures or rate windows:
   * fills a large store fast (the reconcile bench). Throws at the first item the API would refuse.
   */
  seedImported(items: readonly unknown[], owner: { appid: string; tid: string }): void;
  /**
   * Changes stored fields of one indicator behind the API's back (drift in tests), or deletes it
   * with `null`; false when there is no such id.
   */
  edit(id: string, fields: Record<string, unknown> | null): boolean;
  /** Changes the tenant cap. */
  setTenantCap(cap: number): void;
}

/** A running Defender simulator. */
export interface RunningDefenderSim extends DefenderSim, RunningServer {}

type Json = Record<string, unknown>;

/** Defender's error body `{"error":{"code","message","target"}}` (`target` = correlation id). */
export const renderDefenderError: RenderError = (c, status, code, message, headers) => {
  for (const [name, value] of Object.entries(headers ?? {})) c.header(name, value);
  return c.json({ error: { code, message, target: crypto.randomUUID() } }, status as 400);
};

/** A problem with one indicator (per item in `import`, 400 for a single submit). */
class ItemProblem extends Error {
  /** The error's name. */
  override name = "ItemProblem";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** A problem with the whole body: answered with 400. */
class BodyProblem extends Error {
  /** The error's name. */
  override name = "BodyProblem";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

// Request fields, required ones and filterable properties: Defender for Endpoint "Submit or Update
// Indicator API" (request body) and "List Indicators API" (reference microsoft.md §5.2-5.3).
const REQUEST_FIELDS = [
  "id",
  "indicatorValue",
  "indicatorType",
  "action",
  "application",
  "title",
  "description",
  "expirationTime",
  "severity",
  "recommendedActions",
  "rbacGroupNames",
  "educateUrl",
  "generateAlert",
  "externalID",
] as const;
const REQUIRED = ["indicatorValue", "indicatorType", "action", "title", "description"] as const;
const FILTERABLE: Record<string, string> = {
  application: "application",
  createdByDisplayName: "createdBySource",
  expirationTime: "expirationTime",
  generateAlert: "generateAlert",
  title: "title",
  rbacGroupNames: "rbacGroupNames",
  rbacGroupIds: "rbacGroupIds",
  indicatorValue: "indicatorValue",
  indicatorType: "indicatorType",
  creationTimeDateTimeUtc: "creationTimeDateTimeUtc",
  createdBy: "createdBy",
  action: "action",
  severity: "severity",
};
/** The message of a creation refused because the tenant is full (wording not documented). */
export const CAP_MESSAGE =
  "The tenant has reached the maximum number of active indicators (limit of {cap} indicators)";

/** Builds the simulator app (no server). */
export function createDefenderSimApp(options: DefenderSimOptions): DefenderSim {
  const now = options.now ?? systemNow;
  const scale = new TimeScale(options.timeScale ?? 1);
  let cap = options.tenantCap ?? DEFENDER_TENANT_CAP;
  const rejectMd5 = options.rejectMd5Create ?? true;
  const pageSize = options.pageSize ?? 10_000;
  const maxBatch = options.maxBatch ?? MDE_MAX_IMPORT;
  const limits = options.limits ?? {};
  const rate = (limit: number) => perMinute(limit, scale, now);
  const rates = {
    import: rate(limits.import ?? 30),
    batchDelete: rate(limits.batchDelete ?? 30),
    submit: rate(limits.submit ?? 100),
    list: rate(limits.list ?? 100),
    delete: rate(limits.delete ?? 100),
  };
  const failures = new FailurePlan();
  const requests: DefenderSeenRequest[] = [];
  const records = new Map<string, StoredDefenderIndicator>();
  let nextId = 1;

  const app = new Hono<{ Variables: AuthVariables }>();
  app.use("*", recordRequests(requests, now));
  app.use(
    "*",
    failureMiddleware(failures, { renderError: renderDefenderError, sleep: options.sleep }),
  );
  app.use(
    "*",
    bearerAuth({
      verify: options.verify,
      audiences: options.audiences ?? [
        ...audienceVariants(DEFENDER_RESOURCE),
        ...audienceVariants("https://securitycenter.onmicrosoft.com/windowsatpservice"),
      ],
      roles: [TI_READ_WRITE, TI_READ_WRITE_ALL],
      renderError: renderDefenderError,
      unauthenticatedCode: "Unauthorized",
      forbiddenCode: "Forbidden",
      forbiddenMessage:
        "The application does not have the required permission: grant Ti.ReadWrite or Ti.ReadWrite.All of WindowsDefenderATP",
    }),
  );

  type Ctx = Context<{ Variables: AuthVariables }>;
  const throttle = (c: Ctx, op: keyof DefenderSimLimits): Response | undefined => {
    const { tid, appid } = c.get("auth");
    const decision = rates[op].take(`${tid}/${appid}`);
    if (decision.ok) return undefined;
    return renderDefenderError(
      c,
      429,
      "TooManyRequests",
      "API calls quota exceeded! Maximum allowed calls per minute reached. Retry after the time given in Retry-After",
      { "Retry-After": scale.retryAfter(decision.retryAfterMs) },
    );
  };
  /**
   * Every change bumps `version`; a caller's visible list is built once per version and reused by
   * the pages that follow, so listing 1,000,000 indicators stays linear (issue 17).
   */
  let version = 0;
  const views = new Map<string, { version: number; items: StoredDefenderIndicator[] }>();
  const visible = (c: Ctx, filter?: (entity: Json) => boolean, filterText = "") => {
    const { tid, appid, roles } = c.get("auth");
    const all = roles.includes(TI_READ_WRITE_ALL);
    const seen = (r: StoredDefenderIndicator) =>
      r.tid === tid && (all || r.entity.createdBy === appid) && (!filter || filter(r.entity));
    const named = filter && keysUnique ? keyOfFilter(filterText) : undefined;
    if (named) {
      const found = byKey(tid, named.type, named.value);
      return found && seen(found) ? [found] : [];
    }
    const key = `${tid}|${all ? "*" : appid}|${filterText}`;
    const view = views.get(key);
    if (view?.version === version) return view.items;
    const items = [...records.values()].filter(seen);
    if (views.size > 64) views.clear();
    views.set(key, { version, items });
    return items;
  };
  /** False once a seed made two indicators of one type and value (the index then holds one). */
  let keysUnique = true;
  /** Indicators per tenant (the tenant cap). */
  const perTenant = new Map<string, number>();
  /** `tid|type|value` → id, kept in step with `records` through `put` and `drop`. */
  const index = new Map<string, string>();
  const indexKey = (tid: string, type: string, value: string) =>
    `${tid}|${indicatorKey(type, value)}`;
  const put = (stored: StoredDefenderIndicator) => {
    version++;
    if (!records.has(stored.entity.id)) {
      perTenant.set(stored.tid, (perTenant.get(stored.tid) ?? 0) + 1);
    }
    records.set(stored.entity.id, stored);
    const held = index.get(
      indexKey(stored.tid, stored.entity.indicatorType, stored.entity.indicatorValue),
    );
    if (held !== undefined && held !== stored.entity.id) keysUnique = false;
    index.set(
      indexKey(stored.tid, stored.entity.indicatorType, stored.entity.indicatorValue),
      stored.entity.id,
    );
  };
  const drop = (id: string) => {
    const stored = records.get(id);
    if (!stored) return;
    version++;
    perTenant.set(stored.tid, (perTenant.get(stored.tid) ?? 1) - 1);
    records.delete(id);
    index.delete(indexKey(stored.tid, stored.entity.indicatorType, stored.entity.indicatorValue));
  };
  const byKey = (tid: string, type: string, value: string) => {
    const id = index.get(indexKey(tid, type, value));
    return id === undefined ? undefined : records.get(id);
  };
  const count = (tid: string) => perTenant.get(tid) ?? 0;
  const entityOut = (r: StoredDefenderIndicator) => structuredClone(r.entity);

  /** Creates or updates one validated indicator; throws ItemProblem. */
  const submit = (fields: Json, auth: { tid: string; appid: string }) => {
    const type = fields.indicatorType as DefenderIndicatorType;
    const value = fields.indicatorValue as string;
    const existing = byKey(auth.tid, type, value);
    const stamp = new Date(now()).toISOString();
    const source = options.appNames?.[auth.appid] ?? auth.appid;
    if (existing) {
      const { application: _ignored, id: _id, ...rest } = fields;
      Object.assign(existing.entity, rest, { lastUpdateTime: stamp, lastUpdatedBy: source });
      version++;
      return existing;
    }
    if (type === "FileMd5" && rejectMd5) {
      throw new ItemProblem("InvalidInput", "Creating FileMd5 indicators is not supported");
    }
    if (count(auth.tid) >= cap) {
      throw new ItemProblem("BadRequest", CAP_MESSAGE.replace("{cap}", String(cap)));
    }
    return create(fields, auth, stamp, source);
  };
  const create = (
    fields: Json,
    auth: { tid: string; appid: string },
    stamp: string,
    source: string,
  ): StoredDefenderIndicator => {
    const id = String(nextId++);
    const { id: _ignored, ...rest } = fields;
    const stored: StoredDefenderIndicator = {
      tid: auth.tid,
      entity: {
        id,
        indicatorValue: String(fields.indicatorValue),
        indicatorType: fields.indicatorType as DefenderIndicatorType,
        action: "Audit",
        application: null,
        source,
        sourceType: "AadApp",
        createdBy: auth.appid,
        createdBySource: source,
        creationTimeDateTimeUtc: stamp,
        lastUpdateTime: stamp,
        lastUpdatedBy: source,
        expirationTime: null,
        severity: "Informational",
        title: "",
        description: "",
        recommendedActions: "",
        rbacGroupNames: [],
        rbacGroupIds: [],
        generateAlert: false,
        externalID: null,
        ...rest,
      },
    };
    put(stored);
    return stored;
  };

  app.post("/api/indicators/import", async (c) => {
    const limited = throttle(c, "import");
    if (limited) return limited;
    const body = await readJson(c);
    if (body instanceof Response) return body;
    let items: Json[];
    try {
      items = wrapped(body, "Indicators", maxBatch).map((item) => deserialise(item));
    } catch (error) {
      return problem(c, error);
    }
    const auth = c.get("auth");
    const value = items.map((fields) => {
      const indicator = typeof fields.indicatorValue === "string" ? fields.indicatorValue : null;
      try {
        const injected = failures.takePartial(
          typeof fields.externalID === "string" ? fields.externalID : indicator ?? undefined,
        );
        if (injected) throw new ItemProblem(injected.code, injected.message);
        validate(fields);
        const stored = submit(fields, auth);
        return { id: stored.entity.id, indicator, isFailed: false, failureReason: null };
      } catch (error) {
        if (!(error instanceof ItemProblem)) throw error;
        return { id: null, indicator, isFailed: true, failureReason: error.message };
      }
    });
    return c.json({
      "@odata.context": `${
        new URL(c.req.url).origin
      }/api/$metadata#Collection(microsoft.windowsDefenderATP.api.ImportTiIndicatorResult)`,
      value,
    });
  });

  app.post("/api/indicators/BatchDelete", async (c) => {
    const limited = throttle(c, "batchDelete");
    if (limited) return limited;
    const body = await readJson(c);
    if (body instanceof Response) return body;
    let ids: unknown[];
    try {
      ids = wrapped(body, "IndicatorIds", maxBatch);
    } catch (error) {
      return problem(c, error);
    }
    if (ids.some((id) => typeof id !== "string" || !/^\d+$/.test(id))) {
      return renderDefenderError(c, 400, "InvalidInput", "Every indicator id must be a number");
    }
    const { tid, appid, roles } = c.get("auth");
    const mine = (id: string) => {
      const r = records.get(id);
      return r !== undefined && r.tid === tid &&
        (roles.includes(TI_READ_WRITE_ALL) || r.entity.createdBy === appid);
    };
    const missing = (ids as string[]).filter((id) => !mine(id));
    if (missing.length > 0) {
      return renderDefenderError(
        c,
        404,
        "NotFound",
        `Indicators not found: ${missing.join(", ")}`,
      );
    }
    for (const id of ids as string[]) drop(id);
    return c.body(null, 204);
  });

  app.post("/api/indicators", async (c) => {
    const limited = throttle(c, "submit");
    if (limited) return limited;
    const body = await readJson(c);
    if (body instanceof Response) return body;
    try {
      const fields = deserialise(body);
      validate(fields);
      const stored = submit(fields, c.get("auth"));
      return c.json({
        "@odata.context": `${new URL(c.req.url).origin}/api/$metadata#Indicators/$entity`,
        ...entityOut(stored),
      });
    } catch (error) {
      return problem(c, error);
    }
  });

  app.get("/api/indicators", (c) => {
    const limited = throttle(c, "list");
    if (limited) return limited;
    let items: StoredDefenderIndicator[];
    const filterText = c.req.query("$filter");
    if (filterText !== undefined) {
      let test: (entity: Json) => boolean;
      try {
        test = parseDefenderFilter(filterText);
      } catch (error) {
        return renderDefenderError(c, 400, "ODataError", (error as Error).message);
      }
      items = visible(c, test, filterText);
    } else {
      items = visible(c);
    }
    const topText = c.req.query("$top");
    const skipText = c.req.query("$skip");
    const top = topText === undefined ? pageSize : Number(topText);
    const skip = skipText === undefined ? 0 : Number(skipText);
    if (!Number.isInteger(top) || top < 0 || top > 10_000) {
      return renderDefenderError(c, 400, "ODataError", "$top must be a whole number up to 10000");
    }
    if (!Number.isInteger(skip) || skip < 0) {
      return renderDefenderError(c, 400, "ODataError", "$skip must be a whole number");
    }
    const size = Math.min(top, pageSize);
    const page = items.slice(skip, skip + size);
    const body: Json = {
      "@odata.context": `${new URL(c.req.url).origin}/api/$metadata#Indicators`,
      // Serialised at once by c.json: no copy needed (a structuredClone per entity made a
      // listing of 1,000,000 take minutes, issue 17).
      value: page.map((r) => r.entity),
    };
    if (skip + size < items.length && size > 0) {
      const next = new URL(c.req.url);
      next.searchParams.set("$skip", String(skip + size));
      body["@odata.nextLink"] = next.toString();
    }
    return c.json(body);
  });

  app.delete("/api/indicators/:id", (c) => {
    const limited = throttle(c, "delete");
    if (limited) return limited;
    const id = c.req.param("id");
    const { tid, appid, roles } = c.get("auth");
    const record = records.get(id);
    if (
      !record || record.tid !== tid ||
      (!roles.includes(TI_READ_WRITE_ALL) && record.entity.createdBy !== appid)
    ) return renderDefenderError(c, 404, "NotFound", `Indicator ${id} was not found`);
    drop(id);
    return c.body(null, 204);
  });

  app.notFound((c) => renderDefenderError(c, 404, "ResourceNotFound", `No route ${c.req.path}`));

  return {
    app,
    failures,
    rates,
    requests,
    store: () =>
      [...records.values()].map((r) => ({ tid: r.tid, entity: structuredClone(r.entity) })),
    seed: (fields, owner = { appid: "seed-app", tid: "seed-tenant" }) => {
      const stamp = new Date(now()).toISOString();
      const stored = create(
        { action: "Audit", title: fields.indicatorValue, description: "seeded", ...fields },
        owner,
        stamp,
        owner.appid,
      );
      return { tid: stored.tid, entity: structuredClone(stored.entity) };
    },
    seedImported: (items, owner) => {
      for (const item of items) {
        const fields = deserialise(item);
        validate(fields);
        submit(fields, owner);
      }
    },
    edit: (id, fields) => {
      const record = records.get(id);
      if (!record) return false;
      if (fields === null) {
        drop(id);
      } else {
        drop(id);
        Object.assign(record.entity, structuredClone(fields));
        put(record);
      }
      return true;
    },
    setTenantCap: (value) => {
      cap = value;
    },
  };
}

/** Starts the simulator on 127.0.0.1 with a free port. */
export function startDefenderSim(options: DefenderSimOptions): RunningDefenderSim {
  return serveSim(createDefenderSimApp(options));
}

function problem(c: Context, error: unknown): Response {
  if (error instanceof BodyProblem || error instanceof ItemProblem) {
    return renderDefenderError(c, 400, error.code, error.message);
  }
  throw error;
}

function readJson(c: Context): Promise<unknown | Response> {
  return readJsonOr(
    c,
    (c) => renderDefenderError(c, 400, "InvalidRequestBody", "Request body is incorrect"),
  );
}

/** The array under `key` (exact case) of a wrapper body; throws BodyProblem. */
function wrapped(body: unknown, key: string, max: number): unknown[] {
  if (!isObject(body)) throw new BodyProblem("InvalidRequestBody", "Request body is incorrect");
  checkCase(body, [key]);
  const list = body[key];
  if (list === undefined) {
    throw new BodyProblem("MissingRequiredParameter", `The parameter ${key} is missing`);
  }
  if (!Array.isArray(list)) throw new BodyProblem("InvalidRequestBody", `${key} must be a list`);
  if (list.length === 0) throw new BodyProblem("InvalidRequestBody", `${key} must not be empty`);
  if (list.length > max) {
    throw new BodyProblem(
      "MaximumBatchSizeExceeded",
      `Maximum batch size exceeded: received ${list.length}, allowed ${max}`,
    );
  }
  return list;
}

/** Rejects properties spelled in another case than Defender's (the body is case-sensitive). */
function checkCase(body: Json, known: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (known.includes(key)) continue;
    const meant = known.find((k) => k.toLowerCase() === key.toLowerCase());
    if (meant) {
      throw new BodyProblem(
        "InvalidRequestBody",
        `Request body is incorrect: the parameters are case-sensitive, send '${meant}' instead of '${key}'`,
      );
    }
  }
}

function deserialise(item: unknown): Json {
  if (!isObject(item)) throw new BodyProblem("InvalidRequestBody", "Request body is incorrect");
  checkCase(item, REQUEST_FIELDS);
  const out: Json = {};
  for (const key of REQUEST_FIELDS) if (item[key] !== undefined) out[key] = item[key];
  return out;
}

/** Validates one indicator's fields; throws ItemProblem. */
function validate(fields: Json): void {
  for (const key of REQUIRED) {
    const value = fields[key];
    if (value === undefined || value === null || value === "") {
      throw new ItemProblem("MissingRequiredParameter", `The parameter ${key} is missing`);
    }
  }
  for (
    const key of [
      "indicatorValue",
      "indicatorType",
      "action",
      "title",
      "description",
      "application",
      "expirationTime",
      "severity",
      "recommendedActions",
      "educateUrl",
      "externalID",
    ]
  ) {
    const value = fields[key];
    if (value !== undefined && value !== null && typeof value !== "string") {
      throw new ItemProblem("InvalidInput", `The parameter ${key} must be a string`);
    }
  }
  if (fields.generateAlert !== undefined && typeof fields.generateAlert !== "boolean") {
    throw new ItemProblem("InvalidInput", "The parameter generateAlert must be a boolean");
  }
  const groups = fields.rbacGroupNames;
  if (
    groups !== undefined && typeof groups !== "string" &&
    !(Array.isArray(groups) && groups.every((g) => typeof g === "string"))
  ) {
    throw new ItemProblem("InvalidInput", "The parameter rbacGroupNames must be a list of names");
  }
  const type = fields.indicatorType as string;
  if (!(DEFENDER_INDICATOR_TYPES as readonly string[]).includes(type)) {
    throw new ItemProblem("InvalidInput", `Unknown indicatorType '${type}'`);
  }
  const action = fields.action as string;
  if (!(DEFENDER_ACTIONS as readonly string[]).includes(action)) {
    throw new ItemProblem("InvalidInput", `Unknown or retired action '${action}'`);
  }
  if (!ACTIONS_BY_TYPE[type as DefenderIndicatorType].includes(action as DefenderAction)) {
    throw new ItemProblem("InvalidInput", `The action '${action}' is not allowed for ${type}`);
  }
  if (action === "Audit" && fields.generateAlert !== true) {
    throw new ItemProblem("InvalidInput", "generateAlert must be true when the action is Audit");
  }
  const severity = fields.severity;
  if (
    severity !== undefined && severity !== null &&
    !(DEFENDER_SEVERITIES as readonly string[]).includes(severity as string)
  ) {
    throw new ItemProblem("InvalidInput", `Unknown severity '${String(severity)}'`);
  }
  const expiry = fields.expirationTime;
  if (typeof expiry === "string" && Number.isNaN(Date.parse(expiry))) {
    throw new ItemProblem("InvalidInput", `expirationTime '${expiry}' is not a date`);
  }
  const value = fields.indicatorValue as string;
  switch (type as DefenderIndicatorType) {
    case "FileSha1":
    case "CertificateThumbprint":
      if (!/^[0-9a-f]{40}$/i.test(value)) {
        throw new ItemProblem("InvalidHashValue", `'${value}' is not a SHA-1 hash`);
      }
      break;
    case "FileSha256":
      if (!/^[0-9a-f]{64}$/i.test(value)) {
        throw new ItemProblem("InvalidHashValue", `'${value}' is not a SHA-256 hash`);
      }
      break;
    case "FileMd5":
      if (!/^[0-9a-f]{32}$/i.test(value)) {
        throw new ItemProblem("InvalidHashValue", `'${value}' is not an MD5 hash`);
      }
      break;
    case "IpAddress":
      if (
        !isIpv4(value) &&
        !isFullIpv6(value)
      ) {
        throw new ItemProblem(
          "InvalidIpAddress",
          `'${value}' is not an IP address (no CIDR; IPv6 with all eight groups)`,
        );
      }
      break;
    case "DomainName":
      if (!isDomain(value)) {
        throw new ItemProblem("InvalidDomainName", `'${value}' is not a domain name`);
      }
      break;
    case "Url":
      if (/\s/.test(value) || !canParseUrl(value)) {
        throw new ItemProblem("InvalidUrl", `'${value}' is not a URL`);
      }
      break;
  }
}

function canParseUrl(value: string): boolean {
  return URL.canParse(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
}

type Literal = string | number | boolean | null;
interface Token {
  kind: "name" | "literal" | "open" | "close";
  text: string;
  value?: Literal;
  at: number;
}

/**
 * Parses a Defender `$filter` strictly (`eq`/`ne` comparisons joined by `and`/`or`, parentheses,
 * string literals with `''` escapes, numbers, `true`/`false`/`null`) into a predicate over
 * entities; throws an Error with an OData-like message ("unterminated string literal…").
 */
export function parseDefenderFilter(text: string): (entity: Json) => boolean {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const fail = (message: string): never => {
    throw new Error(`Invalid $filter '${text}': ${message}`);
  };
  const comparison = (): (entity: Json) => boolean => {
    const token = tokens[pos++];
    if (!token) return fail("an expression is missing at the end");
    if (token.kind === "open") {
      const inner = or();
      if (tokens[pos++]?.kind !== "close") fail(`')' expected at position ${token.at}`);
      return inner;
    }
    if (token.kind !== "name") return fail(`a property name expected at position ${token.at}`);
    const property = FILTERABLE[token.text];
    if (property === undefined) {
      return fail(`could not find a filterable property named '${token.text}'`);
    }
    const op = tokens[pos++];
    if (op?.kind !== "name" || (op.text !== "eq" && op.text !== "ne")) {
      return fail(`'eq' or 'ne' expected after '${token.text}'`);
    }
    const literal = tokens[pos++];
    if (literal?.kind !== "literal") return fail(`a literal expected after '${op.text}'`);
    const wanted = literal.value ?? null;
    const equal = (entity: Json) => {
      const actual = entity[property];
      if (Array.isArray(actual)) return actual.some((x) => same(x, wanted));
      return same(actual ?? null, wanted);
    };
    return op.text === "eq" ? equal : (entity) => !equal(entity);
  };
  const and = () => {
    let left = comparison();
    while (peek()?.kind === "name" && peek()?.text === "and") {
      pos++;
      const l = left, r = comparison();
      left = (e) => l(e) && r(e);
    }
    return left;
  };
  const or = () => {
    let left = and();
    while (peek()?.kind === "name" && peek()?.text === "or") {
      pos++;
      const l = left, r = and();
      left = (e) => l(e) || r(e);
    }
    return left;
  };
  const predicate = or();
  if (pos < tokens.length) fail(`unexpected '${tokens[pos]?.text}' at position ${tokens[pos]?.at}`);
  return predicate;
}

/**
 * The type and value a filter pins down (`indicatorType eq '…' and indicatorValue eq '…'`, with
 * other `eq` terms, no `or`, `ne` or parentheses), else undefined. At most one indicator matches
 * (Defender keeps one per type and value), so the list answers from the index; the caller still
 * applies the whole filter. A filter that does not parse gives undefined.
 */
function keyOfFilter(text: string): { type: string; value: string } | undefined {
  let tokens: Token[];
  try {
    tokens = tokenize(text);
  } catch {
    return undefined;
  }
  let type: string | undefined;
  let value: string | undefined;
  for (let i = 0; i < tokens.length; i += 4) {
    const [name, op, literal, next] = tokens.slice(i, i + 4);
    if (name?.kind !== "name" || op?.text !== "eq" || literal?.kind !== "literal") return undefined;
    if (next !== undefined && (next.kind !== "name" || next.text !== "and")) return undefined;
    if (typeof literal.value !== "string") continue;
    if (name.text === "indicatorType") {
      const wanted = literal.value.toLowerCase();
      type = DEFENDER_INDICATOR_TYPES.find((t) => t.toLowerCase() === wanted) ?? literal.value;
    } else if (name.text === "indicatorValue") value = literal.value;
  }
  return type !== undefined && value !== undefined ? { type, value } : undefined;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i] as string;
    if (/\s/.test(char)) {
      i++;
    } else if (char === "(" || char === ")") {
      tokens.push({ kind: char === "(" ? "open" : "close", text: char, at: i });
      i++;
    } else if (char === "'") {
      const read = readStringLiteral(text, i);
      if (!read) {
        throw new Error(`Invalid $filter '${text}': unterminated string literal at position ${i}`);
      }
      tokens.push({ kind: "literal", text: text.slice(i, read.end), value: read.value, at: i });
      i = read.end;
    } else {
      const match = /^[A-Za-z0-9_.:+-]+/.exec(text.slice(i));
      if (!match) {
        throw new Error(
          `Invalid $filter '${text}': unexpected character '${char}' at position ${i}`,
        );
      }
      const word = match[0];
      let token: Token = { kind: "name", text: word, at: i };
      if (word === "true" || word === "false") {
        token = { ...token, kind: "literal", value: word === "true" };
      } else if (word === "null") token = { ...token, kind: "literal", value: null };
      else if (/^-?\d+(\.\d+)?$/.test(word)) {
        token = { ...token, kind: "literal", value: Number(word) };
      }
      tokens.push(token);
      i += word.length;
    }
  }
  return tokens;
}

function same(actual: unknown, wanted: Literal): boolean {
  if (typeof actual === "string" && typeof wanted === "string") {
    return actual.toLowerCase() === wanted.toLowerCase();
  }
  return actual === wanted;
}
