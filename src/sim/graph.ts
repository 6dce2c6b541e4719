/**
 * A simulator of Microsoft Graph Security `tiIndicators` (beta), faithful to reference
 * microsoft.md §2 and the checklist in §8.2: bearer tokens from the Entra simulator, per-app
 * ownership, body validation per `targetProduct`, 206 partial failures with per-item `Error`
 * JSON strings, strict OData `$filter` parsing, paging, 1,000 requests/min with 429 +
 * `Retry-After`, injected failures, and an inspectable store.
 *
 * Duplicates: Graph treats `externalId` as a plain property, so submitting a record whose
 * `externalId` already exists creates a second object; this simulator does the same, so tests can
 * detect duplicates through {@linkcode GraphSim.store}.
 */
import { type Context, Hono } from "hono";
import {
  TI_DESCRIPTION_MAX as DESCRIPTION_MAX,
  TI_ENUMS as ENUMS,
  TI_KILL_CHAIN as KILL_CHAIN,
  TI_TARGET_PRODUCTS as TARGET_PRODUCTS,
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
  renderGraphStyleError,
  type RunningServer,
  type SeenRequest,
  serveSim,
  TimeScale,
} from "./ms_common.ts";

export type { SeenRequest } from "./ms_common.ts";

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

type Json = Record<string, unknown>;

/** A problem with one item: business validation, reported per item (206). */
class ItemProblem extends Error {
  /** The error's name. */
  override name = "ItemProblem";
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message);
  }
}

/** A problem with the whole body: deserialisation, answered with 400. */
class BodyProblem extends Error {
  /** The error's name. */
  override name = "BodyProblem";
}

// Property names and Edm types below: Graph beta "tiIndicator resource type", tables "Properties"
// and "Indicator observables - email / file / network" (reference microsoft.md §2.3).
const STRING_PROPS = new Set([
  "additionalInformation",
  "azureTenantId",
  "description",
  "externalId",
  "knownFalsePositives",
  "targetProduct",
  "action",
  "diamondModel",
  "threatType",
  "tlpLevel",
  "emailEncoding",
  "emailLanguage",
  "emailRecipient",
  "emailSenderAddress",
  "emailSenderName",
  "emailSourceDomain",
  "emailSourceIpAddress",
  "emailSubject",
  "emailXMailer",
  "fileHashType",
  "fileHashValue",
  "fileMutexName",
  "fileName",
  "filePacker",
  "filePath",
  "fileType",
  "domainName",
  "networkCidrBlock",
  "networkDestinationCidrBlock",
  "networkDestinationIPv4",
  "networkDestinationIPv6",
  "networkIPv4",
  "networkIPv6",
  "networkSourceCidrBlock",
  "networkSourceIPv4",
  "networkSourceIPv6",
  "url",
  "userAgent",
]);
const DATE_PROPS = new Set([
  "expirationDateTime",
  "lastReportedDateTime",
  "fileCompileDateTime",
  "fileCreatedDateTime",
]);
const INT_PROPS = new Set([
  "confidence",
  "severity",
  "fileSize",
  "networkDestinationAsn",
  "networkDestinationPort",
  "networkPort",
  "networkProtocol",
  "networkSourceAsn",
  "networkSourcePort",
]);
const BOOL_PROPS = new Set(["isActive", "passiveOnly"]);
const ARRAY_PROPS = new Set(["activityGroupNames", "killChain", "malwareFamilyNames", "tags"]);
const READ_ONLY = new Set(["id", "ingestedDateTime", "@odata.type"]);
const OBSERVABLE_PROPS = [...STRING_PROPS, ...INT_PROPS, ...DATE_PROPS].filter((p) =>
  /^(email|file|network|domainName$|url$|userAgent$)/.test(p) && p !== "fileHashType"
);
// Required and editable fields per targetProduct: same page, "Methods supported by each target
// product" (reference microsoft.md §2.4).
const DEFENDER_OBSERVABLES = [
  "domainName",
  "url",
  "networkDestinationIPv4",
  "networkDestinationIPv6",
  "fileHashValue",
];
const SENTINEL_EDITABLE = new Set([
  "action",
  "activityGroupNames",
  "additionalInformation",
  "confidence",
  "description",
  "diamondModel",
  "expirationDateTime",
  "externalId",
  "isActive",
  "killChain",
  "knownFalsePositives",
  "lastReportedDateTime",
  "malwareFamilyNames",
  "passiveOnly",
  "severity",
  "tags",
  "tlpLevel",
  "targetProduct",
  "id",
]);
const DEFENDER_EDITABLE = new Set([
  "expirationDateTime",
  "severity",
  "description",
  "targetProduct",
  "id",
]);
const FILTERABLE = new Set([...STRING_PROPS, "id"]);
const DEFENDER = "Microsoft Defender ATP";

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

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Checks property names and JSON types, as OData deserialisation does (400 for the request). */
function deserialise(item: unknown, allowId = false): Json {
  if (!isObject(item)) throw new BodyProblem("Each indicator must be a JSON object");
  const fields = { ...item };
  for (const [name, value] of Object.entries(fields)) {
    if (name === "id" && allowId) {
      if (typeof value !== "string") throw new BodyProblem("'id' must be a string");
      continue;
    }
    if (READ_ONLY.has(name)) {
      if (name === "@odata.type") delete fields[name];
      else throw new BodyProblem(`The property '${name}' is read-only`);
      continue;
    }
    if (value === null) continue;
    if (STRING_PROPS.has(name)) {
      if (typeof value !== "string") {
        throw new BodyProblem(
          `Cannot convert the literal '${String(value)}' of '${name}' to Edm.String`,
        );
      }
    } else if (DATE_PROPS.has(name)) {
      if (typeof value !== "string" || Number.isNaN(Date.parse(value))) {
        throw new BodyProblem(
          `Cannot convert the literal '${String(value)}' of '${name}' to Edm.DateTimeOffset`,
        );
      }
    } else if (INT_PROPS.has(name)) {
      if (typeof value !== "number" || !Number.isInteger(value)) {
        throw new BodyProblem(
          `Cannot convert the literal '${String(value)}' of '${name}' to Edm.Int32`,
        );
      }
    } else if (BOOL_PROPS.has(name)) {
      if (typeof value !== "boolean") {
        throw new BodyProblem(
          `Cannot convert the literal '${JSON.stringify(value)}' of '${name}' to Edm.Boolean`,
        );
      }
    } else if (ARRAY_PROPS.has(name)) {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
        throw new BodyProblem(`'${name}' must be a collection of strings`);
      }
    } else {
      throw new BodyProblem(
        `The property '${name}' does not exist on type 'microsoft.graph.tiIndicator'`,
      );
    }
    const allowed = ENUMS[name];
    if (allowed && !allowed.includes(value as string)) {
      throw new BodyProblem(`The value '${String(value)}' is not valid for the enum '${name}'`);
    }
  }
  if (Array.isArray(fields.killChain)) {
    for (const phase of fields.killChain) {
      if (!KILL_CHAIN.includes(phase as string)) {
        throw new BodyProblem(`The value '${String(phase)}' is not valid for 'killChain'`);
      }
    }
  }
  return fields;
}

function checkRanges(fields: Json): void {
  if (typeof fields.description === "string" && fields.description.length > DESCRIPTION_MAX) {
    throw new ItemProblem(
      "InvalidInput",
      `description is ${fields.description.length} characters long; the limit is ${DESCRIPTION_MAX}`,
    );
  }
  if (typeof fields.severity === "number" && (fields.severity < 0 || fields.severity > 5)) {
    throw new ItemProblem("InvalidInput", "severity must be between 0 and 5");
  }
  if (typeof fields.confidence === "number" && (fields.confidence < 0 || fields.confidence > 100)) {
    throw new ItemProblem("InvalidInput", "confidence must be between 0 and 100");
  }
}

function checkTargetProduct(value: unknown): void {
  if (!TARGET_PRODUCTS.includes(value as string)) {
    throw new ItemProblem(
      "InvalidInput",
      `targetProduct must be 'Azure Sentinel' or 'Microsoft Defender ATP', got '${String(value)}'`,
    );
  }
}

/** Business rules of a create (reported per item). */
function validateCreate(fields: Json): void {
  checkTargetProduct(fields.targetProduct);
  checkRanges(fields);
  const has = (name: string) => typeof fields[name] === "string" && fields[name] !== "";
  if (fields.targetProduct === DEFENDER) {
    if (!has("action")) throw new ItemProblem("InvalidInput", "Missing required field: action");
    if (
      (has("networkDestinationIPv4") && !has("networkIPv4")) ||
      (has("networkDestinationIPv6") && !has("networkIPv6"))
    ) {
      throw new ItemProblem("InvalidInput", "Missing indicators value");
    }
    if (has("fileHashValue") && !has("fileHashType")) {
      throw new ItemProblem("InvalidInput", "fileHashValue needs fileHashType");
    }
    if (!DEFENDER_OBSERVABLES.some(has)) {
      throw new ItemProblem(
        "InvalidInput",
        "Missing indicators value: Microsoft Defender ATP takes domainName, url, " +
          "networkDestinationIPv4, networkDestinationIPv6 or fileHashValue",
      );
    }
    return;
  }
  for (
    const name of [
      "action",
      "description",
      "expirationDateTime",
      "threatType",
      "tlpLevel",
    ]
  ) {
    if (!has(name)) throw new ItemProblem("InvalidInput", `Missing required field: ${name}`);
  }
  if (!OBSERVABLE_PROPS.some((p) => fields[p] !== undefined && fields[p] !== null)) {
    throw new ItemProblem(
      "InvalidInput",
      "An indicator needs at least one email, file or network observable",
    );
  }
}

/** Rules of an update (PATCH or bulk item). */
function validateUpdate(fields: Json, record: StoredTiIndicator): void {
  if (typeof fields.expirationDateTime !== "string") {
    throw new ItemProblem("InvalidInput", "Missing required field: expirationDateTime");
  }
  checkTargetProduct(fields.targetProduct);
  if (fields.targetProduct !== record.fields.targetProduct) {
    throw new ItemProblem("InvalidInput", "targetProduct cannot be changed");
  }
  checkRanges(fields);
  const editable = record.fields.targetProduct === DEFENDER ? DEFENDER_EDITABLE : SENTINEL_EDITABLE;
  for (const name of Object.keys(fields)) {
    if (!editable.has(name)) {
      throw new ItemProblem("InvalidInput", `The property '${name}' cannot be updated`);
    }
  }
}

/** One `field eq 'value'` comparison. */
interface Clause {
  field: string;
  value: string;
}

/**
 * Parses `a eq 'x' and b eq 'y' or c eq 'z'` into OR-groups of AND-clauses, strictly: an
 * unterminated literal or anything else is rejected like the real OData parser.
 */
export function parseFilter(text: string): Clause[][] {
  const groups: Clause[][] = [[]];
  let i = 0;
  const skipSpaces = () => {
    while (text[i] === " ") i++;
  };
  for (;;) {
    skipSpaces();
    const field = /^[A-Za-z][A-Za-z0-9]*/.exec(text.slice(i))?.[0];
    if (!field) throw new Error(`Invalid filter clause: expected a property at position ${i}`);
    if (!FILTERABLE.has(field)) {
      throw new Error(`Invalid filter clause: could not find a property named '${field}'`);
    }
    i += field.length;
    skipSpaces();
    if (text.slice(i, i + 2) !== "eq") {
      throw new Error(`Invalid filter clause: only 'eq' is supported (position ${i})`);
    }
    i += 2;
    skipSpaces();
    if (text[i] !== "'") {
      throw new Error(`Invalid filter clause: expected a string literal at position ${i}`);
    }
    const literal = readStringLiteral(text, i);
    if (!literal) {
      throw new Error(`Invalid filter clause: unterminated string literal at position ${i}`);
    }
    (groups[groups.length - 1] as Clause[]).push({ field, value: literal.value });
    i = literal.end;
    if (i < text.length && text[i] !== " ") {
      throw new Error(`Invalid filter clause: syntax error at position ${i}`);
    }
    skipSpaces();
    if (i >= text.length) return groups;
    const word = /^(and|or)\b/.exec(text.slice(i))?.[0];
    if (!word) throw new Error(`Invalid filter clause: syntax error at position ${i}`);
    if (word === "or") groups.push([]);
    i += word.length;
  }
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

function matches(record: StoredTiIndicator, filter: Clause[][], dropsExternalId: boolean): boolean {
  return filter.some((group) =>
    group.every((clause) => {
      if (
        clause.field === "externalId" && dropsExternalId &&
        record.fields.targetProduct === DEFENDER
      ) {
        return false;
      }
      return record.fields[clause.field] === clause.value;
    })
  );
}
