/**
 * A simulator of the Microsoft Sentinel STIX objects upload API and of the ARM
 * threat-intelligence query and DELETE used to remove what was uploaded, faithful to reference
 * microsoft.md §3 and the checklist in §8.3: ARM-audience bearer tokens, a Sentinel Contributor
 * assignment per workspace, `api-version` checks, body and STIX validation with per-record
 * errors in a 200 (400 when no object is valid), upsert by (source, STIX id) ordered by
 * `modified`, 100 requests a minute per identity answered with Sentinel's 429 body ("Try again
 * in N seconds"), injected failures and an inspectable store.
 *
 * Like the real service (Azure/Azure-Sentinel #12538), re-uploading an indicator with different
 * `indicator_types` adds a second row instead of updating the first (switchable).
 *
 * @module
 */
import { type Context, Hono } from "hono";
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
  seenRequest,
  serveSim,
  TimeScale,
  TokenBucketLimit,
} from "./ms_common.ts";
import {
  SENTINEL_INDICATOR_REQUIRED,
  SENTINEL_MAX_OBJECTS,
  SENTINEL_REQUIRED_TIMESTAMPS,
  SENTINEL_RESERVED_SOURCE,
  SENTINEL_SPEC_VERSIONS,
  SENTINEL_STRING_LISTS,
} from "./ms_tables.ts";

/** The upload API version the simulator accepts. */
export const UPLOAD_API_VERSION = "2024-02-01-preview";
/** The ARM threat-intelligence API version the simulator accepts. */
export const ARM_TI_API_VERSION = "2025-07-01-preview";
/** Azure Resource Manager's resource URL (token audience). */
export const ARM_RESOURCE = "https://management.azure.com";

/** One Log Analytics workspace with Sentinel enabled. */
export interface SimWorkspace {
  /** Workspace ID (GUID), used by the upload API. */
  workspaceId: string;
  /** Subscription id, used by ARM. */
  subscriptionId: string;
  /** Resource group, used by ARM. */
  resourceGroup: string;
  /** Workspace name, used by ARM. */
  workspaceName: string;
  /** App ids holding Microsoft Sentinel Contributor on it. @default undefined (every caller) */
  contributors?: string[];
}

/** A workspace tests can use without configuring one. */
export const DEFAULT_SIM_WORKSPACE: Readonly<SimWorkspace> = {
  workspaceId: "4b2a3c1d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
  subscriptionId: "00000000-1111-2222-3333-444444444444",
  resourceGroup: "rg-sentinel",
  workspaceName: "ws-sentinel",
};

/** Options of {@linkcode createSentinelSimApp}. */
export interface SentinelSimOptions extends MsSimOptions {
  /** Accepted audiences. @default ARM's two resource URLs, with and without `/` */
  audiences?: string[];
  /** Workspaces that exist. @default [DEFAULT_SIM_WORKSPACE] */
  workspaces?: SimWorkspace[];
  /** Upload requests per window per calling identity. @default 100 */
  rateLimit?: number;
  /**
   * Also at most this many ARM requests per window per calling identity, on top of ARM's
   * documented token buckets (reads 250 + 25/s, writes 200 + 10/s, deletes 200 + 10/s per
   * principal). @default none
   */
  armRateLimit?: number;
  /** Largest `stixobjects` array. @default 100 */
  maxObjects?: number;
  /** Also send `Retry-After` on 429 (the API is not documented to). @default false */
  sendRetryAfter?: boolean;
  /** Accept the template spelling `threatintelligence-stix-objects:upload` too. @default true */
  acceptAltPath?: boolean;
  /** Add a new row when `indicator_types` change (Azure-Sentinel #12538). @default true */
  duplicateOnIndicatorTypesChange?: boolean;
}

/** One stored threat-intelligence object. */
export interface StoredStixObject {
  /** ARM resource name of the row. */
  name: string;
  /** Workspace ID (GUID). */
  workspaceId: string;
  /** The `sourcesystem` it was uploaded with. */
  source: string;
  /** The STIX object as last accepted. */
  object: Record<string, unknown>;
  /** App id of the last uploader. */
  appid: string;
}

/** One request the simulator saw. */
export interface SentinelSeenRequest extends SeenRequest {
  /** Objects in an upload request. */
  objects?: number;
}

/** A Sentinel simulator. */
export interface SentinelSim {
  /** The Hono app. */
  app: Hono<{ Variables: AuthVariables }>;
  /** Failures to inject (per-record failures are keyed by STIX id). */
  failures: FailurePlan;
  /** The per-identity upload request window. */
  rate: RateWindow;
  /** The per-identity ARM request window. */
  armRate: RateWindow;
  /** Every request seen, in order. */
  requests: SentinelSeenRequest[];
  /** A copy of every stored row. */
  store(): StoredStixObject[];
  /** Rows holding this STIX id (any source). */
  findById(stixId: string): StoredStixObject[];
  /** Stores an object as if `source` had uploaded it (seeding tests); returns the row. */
  seed(object: Record<string, unknown>, source: string, workspaceId?: string): StoredStixObject;
  /**
   * Stores these objects as an upload of `appid` with this `sourcesystem` would (the same checks,
   * one row per workspace, source and STIX id), without HTTP, auth, injected failures or the rate
   * window: fills a large store fast (the reconcile bench). Throws at the first object the API
   * would refuse.
   */
  seedUploaded(
    objects: readonly unknown[],
    source: string,
    options: { appid: string; workspaceId?: string },
  ): void;
  /**
   * Changes fields of one row's object behind the API's back (drift in tests), or deletes the row
   * with `null`; false when there is no such row.
   */
  edit(name: string, fields: Record<string, unknown> | null): boolean;
}

/** A running Sentinel simulator. */
export interface RunningSentinelSim extends SentinelSim, RunningServer {}

type Json = Record<string, unknown>;

/** An ARM-style error body `{"error":{"code","message"}}`. */
export const renderArmError: RenderError = (c, status, code, message, headers) => {
  for (const [name, value] of Object.entries(headers ?? {})) c.header(name, value);
  return c.json({ error: { code, message } }, status as 400);
};

/** Page size of the ARM query when `maxPageSize` is absent, and its largest value. */
const QUERY_DEFAULT_PAGE = 100;
const QUERY_MAX_PAGE = 10_000;
const STIX_ID = /^([a-z0-9-]+)--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const ARM_PREFIX =
  "/subscriptions/:sub/resourceGroups/:rg/providers/Microsoft.OperationalInsights/workspaces/:ws/providers/Microsoft.SecurityInsights/threatIntelligence/main";

/** Builds the simulator app (no server). */
export function createSentinelSimApp(options: SentinelSimOptions): SentinelSim {
  const now = options.now ?? systemNow;
  const scale = new TimeScale(options.timeScale ?? 1);
  const workspaces = options.workspaces ?? [DEFAULT_SIM_WORKSPACE];
  const maxObjects = options.maxObjects ?? SENTINEL_MAX_OBJECTS;
  const acceptAltPath = options.acceptAltPath ?? true;
  const duplicateOnTypes = options.duplicateOnIndicatorTypesChange ?? true;
  const failures = new FailurePlan();
  const rate = perMinute(options.rateLimit ?? 100, scale, now);
  const armRate = perMinute(options.armRateLimit ?? Number.MAX_SAFE_INTEGER, scale, now);
  // ARM's token buckets per principal and kind of operation (a POST action is a write).
  const armBuckets = {
    read: new TokenBucketLimit(250, 25, scale, now),
    write: new TokenBucketLimit(200, 10, scale, now),
    delete: new TokenBucketLimit(200, 10, scale, now),
  };
  const requests: SentinelSeenRequest[] = [];
  const rows = new Map<string, StoredStixObject>();
  /**
   * Rows by workspace, source and STIX id (an upload finds its row without a scan, so filling the
   * simulator with 1,000,000 objects stays linear, issue 17); each set keeps creation order.
   */
  const byKey = new Map<string, Set<StoredStixObject>>();
  const keyOf = (row: { workspaceId: string; source: string; object: Json }) =>
    `${row.workspaceId}\u0000${row.source}\u0000${String(row.object.id)}`;
  const link = (row: StoredStixObject) => {
    const key = keyOf(row);
    let set = byKey.get(key);
    if (!set) byKey.set(key, set = new Set());
    set.add(row);
  };
  const unlink = (row: StoredStixObject) => {
    const key = keyOf(row);
    const set = byKey.get(key);
    set?.delete(row);
    if (set?.size === 0) byKey.delete(key);
  };
  const drop = (row: StoredStixObject) => {
    rows.delete(row.name);
    unlink(row);
  };

  const app = new Hono<{ Variables: AuthVariables }>();
  app.use("*", recordRequests(requests, now));
  app.use("*", failureMiddleware(failures, { renderError: renderArmError, sleep: options.sleep }));
  app.use(
    "*",
    bearerAuth({
      verify: options.verify,
      audiences: options.audiences ??
        [
          ...audienceVariants(ARM_RESOURCE),
          ...audienceVariants("https://management.core.windows.net"),
        ],
      renderError: renderArmError,
      unauthenticatedCode: "InvalidAuthenticationToken",
    }),
  );

  const contributor = (c: Context<{ Variables: AuthVariables }>, ws: SimWorkspace) => {
    const { appid } = c.get("auth");
    if (ws.contributors === undefined || ws.contributors.includes(appid)) return undefined;
    return renderArmError(
      c,
      403,
      "AuthorizationFailed",
      `The client '${appid}' does not have authorization to perform action on workspace ` +
        `'${ws.workspaceName}': assign the Microsoft Sentinel Contributor role`,
    );
  };

  // Upload.
  app.post("/workspaces/:workspaceId/:operation", async (c) => {
    const operation = c.req.param("operation");
    const paths = ["threat-intelligence-stix-objects:upload"];
    if (acceptAltPath) paths.push("threatintelligence-stix-objects:upload");
    if (!paths.includes(operation)) {
      return renderArmError(c, 404, "NotFound", `No operation '${operation}'`);
    }
    const { appid } = c.get("auth");
    const decision = rate.take(appid);
    if (!decision.ok) {
      const seconds = scale.factor === 1
        ? String(decision.retryAfterSeconds)
        : scale.retryAfter(decision.retryAfterMs);
      if (options.sendRetryAfter) c.header("Retry-After", scale.retryAfter(decision.retryAfterMs));
      return c.json({
        statusCode: 429,
        message: `Rate limit is exceeded. Try again in ${seconds} seconds.`,
      }, 429);
    }
    const version = c.req.query("api-version");
    if (version !== UPLOAD_API_VERSION) {
      return renderArmError(
        c,
        400,
        "InvalidApiVersion",
        `The api-version '${version ?? ""}' is not supported: use ${UPLOAD_API_VERSION}`,
      );
    }
    const ws = workspaces.find((w) => w.workspaceId === c.req.param("workspaceId"));
    if (!ws) {
      return renderArmError(
        c,
        404,
        "WorkspaceNotFound",
        `Workspace '${c.req.param("workspaceId")}' was not found`,
      );
    }
    const denied = contributor(c, ws);
    if (denied) return denied;
    const body = await readJson(c);
    if (body instanceof Response) return body;
    if (!isObject(body)) return renderArmError(c, 400, "BadRequest", "The body must be an object");
    // Not a string reads as missing.
    const source = typeof body.sourcesystem === "string" ? body.sourcesystem : "";
    const refused = sourceRefusal(source);
    if (refused !== undefined) return renderArmError(c, 400, "BadRequest", refused);
    const objects = body.stixobjects;
    if (!Array.isArray(objects) || objects.length === 0) {
      return renderArmError(
        c,
        400,
        "BadRequest",
        "The stixobjects field must be a non-empty array",
      );
    }
    const seen: SentinelSeenRequest | undefined = seenRequest(c);
    if (seen) seen.objects = objects.length;
    if (objects.length > maxObjects) {
      return renderArmError(
        c,
        400,
        "BadRequest",
        `Too many objects: ${objects.length}; at most ${maxObjects} per request`,
      );
    }
    const errors: { recordIndex: number; errorMessages: string[] }[] = [];
    objects.forEach((object, recordIndex) => {
      const problems = validateStix(object);
      const injected = isObject(object) && typeof object.id === "string"
        ? failures.takePartial(object.id)
        : undefined;
      if (injected) problems.push(`Error for Property=id: ${injected.message}.`);
      if (problems.length > 0) {
        errors.push({ recordIndex, errorMessages: problems });
        return;
      }
      upsert(ws.workspaceId, source, object as Json, appid);
    });
    if (errors.length === objects.length) return c.json({ errors }, 400);
    if (errors.length > 0) return c.json({ errors }, 200);
    return c.body(null, 200);
  });

  const armWorkspace = (c: Context<{ Variables: AuthVariables }>) => {
    const sub = c.req.param("sub") ?? "";
    const rg = (c.req.param("rg") ?? "").toLowerCase();
    const name = (c.req.param("ws") ?? "").toLowerCase();
    return workspaces.find((w) =>
      w.subscriptionId === sub && w.resourceGroup.toLowerCase() === rg &&
      w.workspaceName.toLowerCase() === name
    );
  };
  const armPreamble = (c: Context<{ Variables: AuthVariables }>) => {
    const appid = c.get("auth").appid;
    const kind = c.req.method === "GET" ? "read" : c.req.method === "DELETE" ? "delete" : "write";
    let decision = armBuckets[kind].take(appid);
    if (decision.ok) decision = armRate.take(appid);
    if (!decision.ok) {
      return renderArmError(
        c,
        429,
        "TooManyRequests",
        "The request is being throttled. Retry after the time given in Retry-After",
        { "Retry-After": scale.retryAfter(decision.retryAfterMs) },
      );
    }
    const version = c.req.query("api-version");
    if (version !== ARM_TI_API_VERSION) {
      return renderArmError(
        c,
        400,
        "InvalidApiVersionParameter",
        `The api-version '${version ?? ""}' is invalid: use ${ARM_TI_API_VERSION}`,
      );
    }
    const ws = armWorkspace(c);
    if (!ws) {
      return renderArmError(c, 404, "ResourceNotFound", "The workspace was not found");
    }
    return contributor(c, ws) ?? ws;
  };
  const armId = (ws: SimWorkspace, name: string) =>
    `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}` +
    `/providers/Microsoft.OperationalInsights/workspaces/${ws.workspaceName}` +
    `/providers/Microsoft.SecurityInsights/threatIntelligence/main/indicators/${name}`;

  app.post(`${ARM_PREFIX}/query`, async (c) => {
    const ws = armPreamble(c);
    if (ws instanceof Response) return ws;
    const body = await readJson(c);
    if (body instanceof Response) return body;
    let predicate: (row: StoredStixObject) => boolean;
    try {
      predicate = parseCondition(body);
    } catch (error) {
      return renderArmError(c, 400, "BadRequest", (error as Error).message);
    }
    // Paging (ThreatIntelligenceQuery `maxPageSize`); the next pages are read with a GET on the
    // answer's `nextLink`, as for every ARM pageable operation.
    const maxPageSize = isObject(body) ? body.maxPageSize : undefined;
    if (
      maxPageSize !== undefined &&
      (typeof maxPageSize !== "number" || !Number.isInteger(maxPageSize) || maxPageSize < 1 ||
        maxPageSize > QUERY_MAX_PAGE)
    ) {
      return renderArmError(
        c,
        400,
        "BadRequest",
        `maxPageSize must be a whole number from 1 to ${QUERY_MAX_PAGE}`,
      );
    }
    const names = [...rows.values()]
      .filter((row) => row.workspaceId === ws.workspaceId && predicate(row))
      .map((row) => row.name);
    const size = typeof maxPageSize === "number" ? maxPageSize : QUERY_DEFAULT_PAGE;
    return queryPage(c, ws, { names, size }, 0);
  });

  app.get(`${ARM_PREFIX}/query`, (c) => {
    const ws = armPreamble(c);
    if (ws instanceof Response) return ws;
    const [token, offsetText] = (c.req.query("$skipToken") ?? "").split(":");
    const listing = token === undefined ? undefined : listings.get(token);
    const offset = Number(offsetText);
    if (!listing || !Number.isInteger(offset) || offset < 0) {
      return renderArmError(c, 400, "BadRequest", "Invalid or expired $skipToken");
    }
    return queryPage(c, ws, listing, offset);
  });

  /** Open listings of the query API, by skip token. */
  const listings = new Map<string, { names: string[]; size: number }>();
  const queryPage = (
    c: Context<{ Variables: AuthVariables }>,
    ws: SimWorkspace,
    listing: { names: string[]; size: number },
    offset: number,
  ) => {
    const value = listing.names.slice(offset, offset + listing.size).flatMap((name) => {
      const row = rows.get(name);
      return row
        ? [{
          id: armId(ws, row.name),
          name: row.name,
          type: "Microsoft.SecurityInsights/threatIntelligence",
          // Serialised at once by c.json, so no caller can reach the stored object: no copy
          // (as Defender's list pages; a structuredClone per row per page).
          properties: { source: row.source, stixObject: row.object },
        }]
        : [];
    });
    const answer: { value: typeof value; nextLink?: string } = { value };
    if (offset + listing.size < listing.names.length) {
      const token = crypto.randomUUID();
      listings.set(token, listing);
      const next = new URL(c.req.url);
      next.search = "";
      next.searchParams.set("api-version", ARM_TI_API_VERSION);
      next.searchParams.set("$skipToken", `${token}:${offset + listing.size}`);
      answer.nextLink = next.toString();
    }
    return c.json(answer);
  };

  app.delete(`${ARM_PREFIX}/indicators/:name`, (c) => {
    const ws = armPreamble(c);
    if (ws instanceof Response) return ws;
    const name = c.req.param("name");
    const row = rows.get(name);
    if (!row || row.workspaceId !== ws.workspaceId) {
      return renderArmError(
        c,
        404,
        "NotFound",
        `Threat intelligence indicator '${name}' not found`,
      );
    }
    drop(row);
    return c.body(null, 200);
  });

  app.notFound((c) => renderArmError(c, 404, "NotFound", `No route for ${c.req.path}`));

  function upsert(workspaceId: string, source: string, object: Json, appid: string): void {
    const same = [...byKey.get(keyOf({ workspaceId, source, object })) ?? []];
    const types = typesKey(object);
    const match = duplicateOnTypes ? same.find((row) => typesKey(row.object) === types) : same[0];
    if (!match) {
      const name = crypto.randomUUID();
      const row = { name, workspaceId, source, object: structuredClone(object), appid };
      rows.set(name, row);
      link(row);
      return;
    }
    const stored = Date.parse(String(match.object.modified));
    if (Date.parse(String(object.modified)) < stored) return; // an older version: ignored
    unlink(match);
    match.object = structuredClone(object);
    match.appid = appid;
    link(match);
  }

  const copy = (row: StoredStixObject): StoredStixObject => ({
    ...row,
    object: structuredClone(row.object),
  });
  return {
    app,
    failures,
    rate,
    armRate,
    requests,
    store: () => [...rows.values()].map(copy),
    findById: (stixId) => [...rows.values()].filter((row) => row.object.id === stixId).map(copy),
    seed: (object, source, workspaceId = workspaces[0]?.workspaceId ?? "") => {
      upsert(workspaceId, source, structuredClone(object) as Json, "seed-app");
      const row = [...byKey.get(keyOf({ workspaceId, source, object: object as Json })) ?? []][0];
      if (!row) throw new Error(`Cannot seed ${String(object.id)}`);
      return copy(row);
    },
    seedUploaded: (objects, source, { appid, workspaceId }) => {
      const ws = workspaceId ?? workspaces[0]?.workspaceId ?? "";
      const refused = sourceRefusal(source);
      if (refused !== undefined) throw new Error(`The upload API refuses: ${refused}`);
      for (const object of objects) {
        const problems = validateStix(object);
        if (problems.length > 0) throw new Error(`The upload API refuses ${problems.join(" ")}`);
        upsert(ws, source, object as Json, appid);
      }
    },
    edit: (name, fields) => {
      const row = rows.get(name);
      if (!row) return false;
      if (fields === null) {
        drop(row);
      } else {
        unlink(row);
        Object.assign(row.object, structuredClone(fields));
        link(row);
      }
      return true;
    },
  };
}

/** Starts the simulator on 127.0.0.1 with a free port. */
export function startSentinelSim(options: SentinelSimOptions): RunningSentinelSim {
  return serveSim(createSentinelSimApp(options));
}

/** Why the upload API refuses this `sourcesystem` (required, not the reserved one), or undefined. */
function sourceRefusal(source: string): string | undefined {
  if (source.trim() === "") return "The sourcesystem field is required";
  if (source === SENTINEL_RESERVED_SOURCE) {
    return `The sourcesystem '${SENTINEL_RESERVED_SOURCE}' is reserved`;
  }
  return undefined;
}

/**
 * Checks one STIX object as the upload API does; returns the messages, in Sentinel's
 * "Error for Property=<p>: <reason>. Actual value: <v>." form (empty = valid).
 */
export function validateStix(object: unknown): string[] {
  const problems: string[] = [];
  const fail = (property: string, reason: string, actual: unknown) =>
    problems.push(
      `Error for Property=${property}: ${reason}. Actual value: ${
        actual === undefined || actual === null ? "NULL" : JSON.stringify(actual)
      }.`,
    );
  if (!isObject(object)) {
    fail("object", "A STIX object must be a JSON object", object);
    return problems;
  }
  const { type, id } = object;
  if (typeof type !== "string" || type === "") fail("type", "Required property is missing", type);
  if (typeof id !== "string" || id === "") {
    fail("id", "Required property is missing", id);
  } else {
    const match = STIX_ID.exec(id);
    if (!match) fail("id", "Not a valid STIX identifier", id);
    else if (typeof type === "string" && match[1] !== type) {
      fail("id", `The identifier prefix does not match the type '${type}'`, id);
    }
  }
  if (
    object.spec_version !== undefined &&
    !SENTINEL_SPEC_VERSIONS.includes(String(object.spec_version))
  ) {
    fail("spec_version", "Only STIX 2.0 and 2.1 are supported", object.spec_version);
  }
  for (const field of SENTINEL_REQUIRED_TIMESTAMPS) {
    const value = object[field];
    if (value === undefined || value === null) fail(field, "Required property is missing", value);
    else if (typeof value !== "string" || !TIMESTAMP.test(value)) {
      fail(field, "Not a valid RFC 3339 UTC timestamp", value);
    }
  }
  if (
    typeof object.created === "string" && typeof object.modified === "string" &&
    Date.parse(object.modified) < Date.parse(object.created)
  ) {
    fail("modified", "Must not be earlier than created", object.modified);
  }
  if (object.revoked !== undefined && typeof object.revoked !== "boolean") {
    fail("revoked", "Must be a boolean", object.revoked);
  }
  if (
    object.confidence !== undefined &&
    !(Number.isInteger(object.confidence) && (object.confidence as number) >= 0 &&
      (object.confidence as number) <= 100)
  ) {
    fail("confidence", "Must be an integer from 0 to 100", object.confidence);
  }
  for (const field of SENTINEL_STRING_LISTS) {
    const value = object[field];
    if (
      value !== undefined && !(Array.isArray(value) && value.every((x) => typeof x === "string"))
    ) {
      fail(field, "Must be a list of strings", value);
    }
  }
  if (type === "indicator") {
    for (const field of SENTINEL_INDICATOR_REQUIRED) {
      const value = object[field];
      if (typeof value !== "string" || value === "") {
        fail(field, "Required property is missing", value);
      }
    }
    if (typeof object.valid_from === "string" && !TIMESTAMP.test(object.valid_from)) {
      fail("valid_from", "Not a valid RFC 3339 UTC timestamp", object.valid_from);
    }
    if (object.valid_until !== undefined) {
      if (typeof object.valid_until !== "string" || !TIMESTAMP.test(object.valid_until)) {
        fail("valid_until", "Not a valid RFC 3339 UTC timestamp", object.valid_until);
      } else if (
        typeof object.valid_from === "string" &&
        Date.parse(object.valid_until) <= Date.parse(object.valid_from)
      ) {
        fail("valid_until", "Must be later than valid_from", object.valid_until);
      }
    }
    if (
      object.pattern_type === "stix" && typeof object.pattern === "string" &&
      !/^\s*\[.*\]\s*(?:(?:AND|OR|FOLLOWEDBY|WITHIN|REPEATS|START|STOP)\b.*)?$/s.test(
        object.pattern,
      )
    ) {
      fail("pattern", "Not a valid STIX pattern", object.pattern);
    }
  }
  return problems;
}

function typesKey(object: Json): string {
  const types = Array.isArray(object.indicator_types) ? object.indicator_types.map(String) : [];
  return [...new Set(types)].sort().join("|");
}

/** Turns an ARM threat-intelligence query `condition` into a row predicate; throws on a bad one. */
function parseCondition(body: unknown): (row: StoredStixObject) => boolean {
  if (!isObject(body) || !isObject(body.condition)) {
    throw new Error("The request must carry a condition object");
  }
  const { stixObjectType, conditionConnective = "And", clauses } = body.condition;
  if (conditionConnective !== "And" && conditionConnective !== "Or") {
    throw new Error(`Unknown conditionConnective '${String(conditionConnective)}'`);
  }
  if (!Array.isArray(clauses) || clauses.length === 0) {
    throw new Error("The condition must carry clauses");
  }
  const tests = clauses.map((clause) => {
    if (!isObject(clause)) throw new Error("Each clause must be an object");
    const { field, operator, values, clauseConnective = "Or" } = clause;
    if (operator !== "Equals") throw new Error(`Unsupported operator '${String(operator)}'`);
    if (!Array.isArray(values) || values.some((v) => typeof v !== "string")) {
      throw new Error("Clause values must be a list of strings");
    }
    // `clauseConnective` joins the clause's values (ThreatIntelligenceQueryConditionClause).
    if (clauseConnective !== "And" && clauseConnective !== "Or") {
      throw new Error(`Unknown clauseConnective '${String(clauseConnective)}'`);
    }
    // One field holds one value: "And" over two different values matches nothing.
    const wanted = clauseConnective === "And" && new Set(values).size > 1 ? [] : values as string[];
    switch (field) {
      case "id":
        return (row: StoredStixObject) => wanted.includes(String(row.object.id));
      case "source":
        return (row: StoredStixObject) => wanted.includes(row.source);
      case "type":
        return (row: StoredStixObject) => wanted.includes(String(row.object.type));
      default:
        throw new Error(`Unsupported clause field '${String(field)}'`);
    }
  });
  return (row) => {
    if (typeof stixObjectType === "string" && row.object.type !== stixObjectType) return false;
    return conditionConnective === "And" ? tests.every((t) => t(row)) : tests.some((t) => t(row));
  };
}

function readJson(c: Context): Promise<unknown | Response> {
  return readJsonOr(
    c,
    (c) => renderArmError(c, 400, "BadRequest", "The request body is not valid JSON"),
  );
}
