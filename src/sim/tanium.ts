/**
 * The Tanium Threat Response simulator (reference `tanium.md` §2 and §6): the alerts, count and
 * intel endpoints with the real `{data, meta}` envelope, the `session` header check, paging,
 * date bounds, sorting and filters as documented, and fault injection for tests and the demo.
 *
 * Tanium's error bodies are not documented; this simulator answers `{"text": "<reason>"}`.
 * The count endpoint's body is not documented either; it answers `{"data": {"count": n}}`.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import {
  generateAlerts,
  makeAlert,
  type SimAlert,
  type SimIntel,
  taniumSeed,
} from "./tanium_seed.ts";
import { type IntelActivity, intelWriteRoutes } from "./tanium_intel_api.ts";
import {
  REPUTATION_PREFIX,
  reputationRoutes,
  type SimReputation,
} from "./tanium_reputation_api.ts";

export type { SimAlert, SimIntel } from "./tanium_seed.ts";

/** The token the simulator accepts by default. */
export const TANIUM_SIM_TOKEN = "token-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
/** Prefix of the Threat Response API. */
export const API_PREFIX = "/plugin/products/threat-response/api/v1";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;
const SORTABLE = new Set([
  "id",
  "alertedAt",
  "receivedAt",
  "createdAt",
  "updatedAt",
  "priority",
  "severity",
  "state",
  "type",
  "matchType",
  "computerName",
  "intelDocId",
]);
const DATE_COLUMNS = new Set(["alertedAt", "receivedAt", "createdAt", "updatedAt"]);
const FILTERS = [
  "state",
  "type",
  "matchType",
  "path",
  "priority",
  "severity",
  "intelDocId",
  "scanConfigId",
  "computerName",
  "computerIpAddress",
  "details",
  "guid",
];
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** Which endpoint a fault applies to. */
export type FaultTarget = "alerts" | "count" | "intels" | "any";

/** One injected fault. */
export interface TaniumFault {
  /** Endpoint it applies to. @default "any" */
  target?: FaultTarget;
  /** Matching requests to let through before the fault applies. @default 0 */
  skip?: number;
  /** How many matching requests it applies to (`-1` = until cleared). @default 1 */
  times?: number;
  /** Answer with this status instead (body `{"text": "Injected failure"}`). */
  status?: number;
  /** `Retry-After` header sent with `status`. */
  retryAfter?: string;
  /** Wait this long before answering (with the simulator's sleep). */
  delayMs?: number;
  /** Cut the JSON body in the middle. */
  truncate?: boolean;
  /** Set these alert fields to `null` in the answer (alerts only). */
  nullFields?: string[];
  /**
   * An outage: the fault applies to every matching request until the simulator's clock reaches
   * this epoch ms (then it is removed), whatever `times` says. Any length, on a fake clock.
   */
  untilMs?: number;
  /**
   * A poison request: the fault applies only to alert pages that would contain this alert id
   * (status defaults to 400, a request-level refusal that names no alert).
   */
  poisonAlertId?: number;
}

/** Request counters and log. */
export interface TaniumSimCounters {
  /** `GET …/alerts` requests answered (any status). */
  pageRequests: number;
  /** `GET …/alerts/count` requests. */
  countRequests: number;
  /** `GET …/intels/{id}` requests. */
  intelRequests: number;
  /** Intel requests by id. */
  intelRequestsById: Record<string, number>;
}

/** One recorded request. */
export interface TaniumRequestRecord {
  /** Path without the query. */
  path: string;
  /** The raw query string (without `?`). */
  query: string;
  /** Status answered. */
  status: number;
}

/** Options of {@linkcode createTaniumSim} and {@linkcode startTaniumSim}. */
export interface TaniumSimOptions {
  /** Accepted API tokens. @default [TANIUM_SIM_TOKEN] */
  tokens?: readonly string[];
  /** Tokens treated as expired sessions (403). @default [] */
  expiredTokens?: readonly string[];
  /** Client IPs the tokens are restricted to (others get 401); unset = any IP. @default unset */
  trustedIps?: readonly string[];
  /** Alerts to serve. @default [] (or the seed with `seed: true`) */
  alerts?: readonly SimAlert[];
  /** Intel documents to serve. @default [] (or the seed with `seed: true`) */
  intels?: readonly SimIntel[];
  /** Load {@linkcode taniumSeed}. @default false */
  seed?: boolean;
  /** The clock (live mode timestamps). @default Date.now */
  now?: Now;
  /** The sleep used by `delayMs` faults. @default a real timer */
  sleep?: Sleep;
}

interface StoredAlert {
  raw: SimAlert;
  id: number;
  alertedAtMs: number;
}

/** The simulated Tanium server's data, faults and counters. */
export class TaniumSimControl {
  /** Request counters. */
  readonly counters: TaniumSimCounters = {
    pageRequests: 0,
    countRequests: 0,
    intelRequests: 0,
    intelRequestsById: {},
  };
  /** Every request, oldest first. */
  readonly requests: TaniumRequestRecord[] = [];
  /** Accepted tokens (may be changed). */
  readonly tokens: Set<string>;
  /** Expired tokens (may be changed). */
  readonly expiredTokens: Set<string>;
  /** Trusted client IPs, or undefined for any. */
  trustedIps: Set<string> | undefined;
  readonly #alerts = new Map<number, StoredAlert>();
  readonly #intels = new Map<number, SimIntel>();
  readonly #faults: (TaniumFault & { seen: number })[] = [];
  readonly #now: Now;
  #nextId = 1;
  #lastIntelId = 0;
  /** Intel sources (`GET/POST …/sources`). */
  readonly sources: { id: number; type: string; name: string; description: string }[] = [];
  /** Deploys and quick scans asked. */
  readonly intelActivity: IntelActivity = { deploys: 0, scans: [], created: [], lookups: 0 };
  /** The Reputation service's custom list, by uploaded hash (`…/reputation/v3/…`). */
  readonly reputations = new Map<string, SimReputation>();
  /** Reputation requests (uploads and deletes), in order, with the number of entries. */
  readonly reputationActivity: { uploads: number[]; deletes: number[] } = {
    uploads: [],
    deletes: [],
  };
  /** Tokens whose persona lacks the Reputation permission (reputation calls get 403). */
  readonly noReputationTokens = new Set<string>();
  /** Intel labels (`GET/POST …/labels`). */
  readonly labels: { id: number; name: string; description: string }[] = [];

  /** Builds the control over the initial data. */
  constructor(options: TaniumSimOptions = {}) {
    this.tokens = new Set(options.tokens ?? [TANIUM_SIM_TOKEN]);
    this.expiredTokens = new Set(options.expiredTokens ?? []);
    this.trustedIps = options.trustedIps ? new Set(options.trustedIps) : undefined;
    this.#now = options.now ?? systemNow;
    if (options.seed) {
      const seed = taniumSeed();
      this.addAlerts(seed.alerts);
      this.addIntels(seed.intels);
    }
    this.addAlerts(options.alerts ?? []);
    this.addIntels(options.intels ?? []);
  }

  /** Adds (or replaces by id) alerts; `alertedAt` must be an ISO date-time. */
  addAlerts(alerts: readonly SimAlert[]): void {
    for (const alert of alerts) {
      const alertedAtMs = Date.parse(alert.alertedAt);
      if (!Number.isInteger(alert.id) || Number.isNaN(alertedAtMs)) {
        throw new TypeError(
          `Give alert ${String(alert.id)} an integer id and an ISO alertedAt to add it`,
        );
      }
      this.#alerts.set(alert.id, { raw: structuredClone(alert), id: alert.id, alertedAtMs });
      this.#nextId = Math.max(this.#nextId, alert.id + 1);
    }
  }

  /**
   * Adds `count` generated alerts that arrive now but were detected at `alertedAt` (an endpoint
   * that was offline): new ids after every id served so far, `receivedAt`/`createdAt` = now.
   */
  addLateAlerts(count: number, alertedAt: string): SimAlert[] {
    const received = new Date(this.#now()).toISOString();
    const alerts = generateAlerts(count, {
      firstId: this.#nextId,
      start: alertedAt,
      seed: this.#nextId,
    }).map((alert) => ({ ...alert, receivedAt: received, createdAt: received }));
    this.addAlerts(alerts);
    return alerts;
  }

  /** Adds `count` generated alerts at the current time (live mode); returns them. */
  addLiveAlerts(count: number): SimAlert[] {
    const alerts = generateAlerts(count, {
      firstId: this.#nextId,
      start: new Date(Math.floor(this.#now() / 1000) * 1000).toISOString(),
      sameSecond: true,
      seed: this.#nextId,
    });
    this.addAlerts(alerts);
    return alerts;
  }

  /**
   * Changes the fields an alert is served with (sorting and date filters keep using the stored
   * `alertedAt` unless the patch carries a readable one). Use it to serve malformed alerts.
   */
  patchAlert(id: number, patch: Record<string, unknown>): boolean {
    const stored = this.#alerts.get(id);
    if (!stored) return false;
    stored.raw = { ...stored.raw, ...patch } as SimAlert;
    const at = typeof patch.alertedAt === "string" ? Date.parse(patch.alertedAt) : NaN;
    if (!Number.isNaN(at)) stored.alertedAtMs = at;
    return true;
  }

  /** Removes alerts detected before `before` (Threat Response's pruning); returns how many. */
  prune(before: string): number {
    const limit = Date.parse(before);
    let removed = 0;
    for (const [id, alert] of this.#alerts) {
      if (alert.alertedAtMs < limit) {
        this.#alerts.delete(id);
        removed += 1;
      }
    }
    return removed;
  }

  /** Adds (or replaces by id) intel documents. */
  addIntels(intels: readonly SimIntel[]): void {
    for (const intel of intels) this.#intels.set(intel.id, structuredClone(intel));
  }

  /** Number of alerts held. */
  get alertCount(): number {
    return this.#alerts.size;
  }

  /** Adds a fault for the next matching requests. */
  injectFault(fault: TaniumFault): void {
    this.#faults.push({ ...fault, seen: 0 });
  }

  /** Removes every fault. */
  clearFaults(): void {
    this.#faults.length = 0;
  }

  /** Resets the counters and the request log. */
  resetCounters(): void {
    this.counters.pageRequests = 0;
    this.counters.countRequests = 0;
    this.counters.intelRequests = 0;
    this.counters.intelRequestsById = {};
    this.requests.length = 0;
  }

  /**
   * Takes the fault that applies to this request, if any (internal); with `alertIds` (the ids of
   * the page about to be served) only poison faults are considered.
   */
  takeFault(
    target: Exclude<FaultTarget, "any">,
    alertIds?: ReadonlySet<number>,
  ): TaniumFault | undefined {
    for (const [index, fault] of this.#faults.entries()) {
      if (fault.target !== undefined && fault.target !== "any" && fault.target !== target) continue;
      // Poison faults are matched against the page's alert ids (second call), others first.
      if (fault.poisonAlertId !== undefined) {
        if (alertIds === undefined || !alertIds.has(fault.poisonAlertId)) continue;
      } else if (alertIds !== undefined) continue;
      if (fault.untilMs !== undefined) {
        if (this.#now() >= fault.untilMs) {
          this.#faults.splice(index, 1);
          return this.takeFault(target, alertIds);
        }
        return fault;
      }
      fault.seen += 1;
      if (fault.seen <= (fault.skip ?? 0)) return undefined;
      const times = fault.times ?? 1;
      if (times !== -1 && fault.seen - (fault.skip ?? 0) >= times) this.#faults.splice(index, 1);
      return fault;
    }
    return undefined;
  }

  /** The stored alerts (internal). */
  storedAlerts(): StoredAlert[] {
    return [...this.#alerts.values()];
  }

  /** One intel document (internal). */
  intel(id: number): SimIntel | undefined {
    return this.#intels.get(id);
  }

  /** The simulator's clock, as an ISO date-time. */
  isoNow(): string {
    return new Date(this.#now()).toISOString();
  }

  /** Every intel document, by id. */
  intels(): SimIntel[] {
    return [...this.#intels.values()];
  }

  /** Removes an intel document; false when absent. */
  deleteIntel(id: number): boolean {
    return this.#intels.delete(id);
  }

  /** A fresh intel document id (larger than every id held so far). */
  nextIntelId(): number {
    this.#lastIntelId = Math.max(this.#lastIntelId, ...this.#intels.keys()) + 1;
    return this.#lastIntelId;
  }

  /**
   * What Threat Response does once a deployed intel document matches on an endpoint: raises an
   * alert for that document, detected now. Returns it, or undefined when the document is unknown.
   */
  raiseAlertFor(intelId: number, computerName?: string): SimAlert | undefined {
    if (!this.#intels.has(intelId)) return undefined;
    const id = this.#nextId;
    const alert = makeAlert({
      id,
      alertedAt: new Date(Math.floor(this.#now() / 1000) * 1000).toISOString(),
      intelDocId: intelId,
      ...(computerName !== undefined ? { computerName } : {}),
    });
    this.addAlerts([alert]);
    return alert;
  }
}

/** The app and its control, for in-process use. */
export interface TaniumSimApp {
  /** The Hono app. */
  app: Hono<{ Bindings: SimBindings }>;
  /** Data, faults and counters. */
  control: TaniumSimControl;
}

/** Per-request values passed by the server. */
export interface SimBindings {
  /** The client's IP address. */
  remoteAddr?: string;
}

/** A running simulator on loopback. */
export interface TaniumSim {
  /** Base URL (use as `TANIUM_INCIDENTS_URL`). */
  url: string;
  /** Data, faults and counters. */
  control: TaniumSimControl;
  /** Stops live mode and the server. */
  close(): Promise<void>;
}

/** One-line docs of the control routes (served at `GET /_sim/`). */
export const TANIUM_CONTROL_ROUTES: Readonly<Record<string, string>> = {
  "GET /_sim/": "This list",
  "POST /_sim/alerts": "Add alerts: an alert, an array, or {alerts:[…]}",
  "POST /_sim/alerts/generate": "Add generated alerts now: {count}",
  "PATCH /_sim/alerts/:id": "Change the fields an alert is served with",
  "POST /_sim/prune": "Remove alerts detected before {before}",
  "POST /_sim/intels": "Add intel documents: one, an array, or {intels:[…]}",
  "POST /_sim/faults":
    "Inject a fault: {target?, skip?, times?, status?, retryAfter?, delayMs?, truncate?, nullFields?, untilMs?, poisonAlertId?}",
  "DELETE /_sim/faults": "Remove every fault",
  "GET /_sim/counters": "Page, count and intel request counters",
  "GET /_sim/requests": "Every request with its query and status",
};

/** Builds the simulator app (no server). */
export function createTaniumSim(options: TaniumSimOptions = {}): TaniumSimApp {
  const control = new TaniumSimControl(options);
  const sleep = options.sleep ?? systemSleep;
  const app = new Hono<{ Bindings: SimBindings }>();

  app.use(`${API_PREFIX}/*`, async (c, next) => {
    const token = c.req.header("session");
    const url = new URL(c.req.url);
    const record = (status: number) =>
      control.requests.push({ path: url.pathname, query: url.search.slice(1), status });
    const ip = c.env?.remoteAddr;
    if (token === undefined || token === "") {
      record(401);
      return c.json({ text: "Unauthorized: send the API token in the session header" }, 401);
    }
    if (control.expiredTokens.has(token)) {
      record(403);
      return c.json({ text: "Forbidden: the session has expired" }, 403);
    }
    if (!control.tokens.has(token)) {
      record(401);
      return c.json({ text: "Unauthorized: invalid token" }, 401);
    }
    if (control.trustedIps && (ip === undefined || !control.trustedIps.has(ip))) {
      record(401);
      return c.json({ text: "Unauthorized: client IP is not in the token's trusted list" }, 401);
    }
    await next();
    record(c.res.status);
  });

  const applyFault = async (
    target: Exclude<FaultTarget, "any">,
    alertIds?: ReadonlySet<number>,
  ): Promise<{ response?: Response; fault?: TaniumFault }> => {
    const fault = control.takeFault(target, alertIds);
    if (!fault) return {};
    if (fault.delayMs) await sleep(fault.delayMs);
    if (fault.poisonAlertId !== undefined) {
      return {
        response: new Response(JSON.stringify({ text: "Bad Request" }), {
          status: fault.status ?? 400,
          headers: { "content-type": "application/json" },
        }),
      };
    }
    if (fault.status !== undefined) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (fault.retryAfter) headers["retry-after"] = fault.retryAfter;
      return {
        response: new Response(JSON.stringify({ text: "Injected failure" }), {
          status: fault.status,
          headers,
        }),
      };
    }
    return { fault };
  };

  const answer = (body: unknown, fault: TaniumFault | undefined): Response => {
    let text = JSON.stringify(body);
    if (fault?.truncate) text = text.slice(0, Math.max(1, Math.floor(text.length / 2)));
    return new Response(text, { status: 200, headers: { "content-type": "application/json" } });
  };

  app.get(`${API_PREFIX}/alerts/count`, async (c) => {
    control.counters.countRequests += 1;
    const { response, fault } = await applyFault("count");
    if (response) return response;
    const selected = select(control, new URL(c.req.url).searchParams);
    if ("error" in selected) return c.json({ text: selected.error }, 400);
    return answer({ data: { count: selected.alerts.length } }, fault);
  });

  app.get(`${API_PREFIX}/alerts`, async (c) => {
    control.counters.pageRequests += 1;
    const { response, fault } = await applyFault("alerts");
    if (response) return response;
    const params = new URL(c.req.url).searchParams;
    const limit = readCount(params.get("limit"), DEFAULT_LIMIT);
    if (limit === undefined || limit < 1 || limit > MAX_LIMIT) {
      return c.json({ text: `Invalid limit "${params.get("limit")}": use 1 to ${MAX_LIMIT}` }, 400);
    }
    const offset = readCount(params.get("offset"), 0);
    if (offset === undefined) {
      return c.json({ text: `Invalid offset "${params.get("offset")}"` }, 400);
    }
    const selected = select(control, params);
    if ("error" in selected) return c.json({ text: selected.error }, 400);
    const sorted = sortAlerts(selected.alerts, params.get("sort"));
    if ("error" in sorted) return c.json({ text: sorted.error }, 400);
    const slice = sorted.alerts.slice(offset, offset + limit);
    const poisoned = await applyFault("alerts", new Set(slice.map((alert) => alert.id)));
    if (poisoned.response) return poisoned.response;
    const page = slice.map((alert) => {
      const raw: Record<string, unknown> = structuredClone(alert.raw);
      for (const field of fault?.nullFields ?? []) raw[field] = null;
      return raw;
    });
    return answer({
      data: page,
      meta: { totalCount: control.alertCount, filteredCount: selected.alerts.length },
    }, fault);
  });

  app.get(`${API_PREFIX}/intels/:id`, async (c) => {
    const id = c.req.param("id");
    control.counters.intelRequests += 1;
    control.counters.intelRequestsById[id] = (control.counters.intelRequestsById[id] ?? 0) + 1;
    const { response, fault } = await applyFault("intels");
    if (response) return response;
    const intel = /^\d+$/.test(id) ? control.intel(Number(id)) : undefined;
    if (!intel) return c.json({ text: `Intel document ${id} not found` }, 404);
    return answer({ data: intel }, fault);
  });

  intelWriteRoutes(app, control, API_PREFIX);
  reputationRoutes(app, control, REPUTATION_PREFIX);
  app.route("/_sim", controlRoutes(control));
  return { app, control };
}

/** Starts the simulator on 127.0.0.1 with a free port; `liveEveryMs` adds an alert periodically. */
export function startTaniumSim(
  options: TaniumSimOptions & {
    /** Add one generated alert this often (live mode), in ms. @default off */
    liveEveryMs?: number;
  } = {},
): TaniumSim {
  const { app, control } = createTaniumSim(options);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) => app.fetch(request, { remoteAddr: info.remoteAddr.hostname }),
  );
  const live = options.liveEveryMs
    ? setInterval(() => control.addLiveAlerts(1), options.liveEveryMs)
    : undefined;
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    control,
    async close() {
      if (live !== undefined) clearInterval(live);
      await server.shutdown();
    },
  };
}

function readCount(text: string | null, fallback: number): number | undefined {
  if (text === null) return fallback;
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

function readDate(text: string): number | undefined {
  if (!ISO_DATE.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function select(
  control: TaniumSimControl,
  params: URLSearchParams,
): { alerts: StoredAlert[] } | { error: string } {
  let from: number | undefined;
  let until: number | undefined;
  const fromText = params.get("alertedAtFrom");
  if (fromText !== null) {
    from = readDate(fromText);
    if (from === undefined) {
      return { error: `Invalid alertedAtFrom "${fromText}": expected an ISO-8601 date-time` };
    }
  }
  const untilText = params.get("alertedAtUntil");
  if (untilText !== null) {
    until = readDate(untilText);
    if (until === undefined) {
      return { error: `Invalid alertedAtUntil "${untilText}": expected an ISO-8601 date-time` };
    }
  }
  const filters = FILTERS.map((name) => [name, params.getAll(name)] as const)
    .filter(([, values]) => values.length > 0);
  const alerts = control.storedAlerts().filter((alert) => {
    if (from !== undefined && alert.alertedAtMs < from) return false;
    if (until !== undefined && alert.alertedAtMs >= until) return false;
    return filters.every(([name, values]) => {
      const value = alert.raw[name];
      if (value === null || value === undefined) return false;
      const text = String(value).toLowerCase();
      return values.some((wanted) => text.includes(wanted.toLowerCase()));
    });
  });
  return { alerts };
}

function sortAlerts(
  alerts: StoredAlert[],
  sort: string | null,
): { alerts: StoredAlert[] } | { error: string } {
  const columns: { name: string; direction: 1 | -1 }[] = [];
  for (const part of (sort ?? "id").split(",")) {
    const trimmed = part.trim();
    if (trimmed === "") continue;
    const direction = trimmed.startsWith("-") ? -1 : 1;
    const name = trimmed.replace(/^[+-]/, "");
    if (!SORTABLE.has(name)) {
      return { error: `Invalid sort column "${name}" (an unencoded "+" arrives as a space)` };
    }
    columns.push({ name, direction });
  }
  const key = (alert: StoredAlert, name: string): number | string => {
    if (name === "alertedAt") return alert.alertedAtMs;
    if (name === "id") return alert.id;
    const value = alert.raw[name];
    if (DATE_COLUMNS.has(name) && typeof value === "string") return Date.parse(value);
    if (typeof value === "number") return value;
    return value === null || value === undefined ? "" : String(value);
  };
  const sorted = [...alerts].sort((a, b) => {
    for (const { name, direction } of columns) {
      const x = key(a, name);
      const y = key(b, name);
      if (x < y) return -direction;
      if (x > y) return direction;
    }
    return 0;
  });
  return { alerts: sorted };
}

async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    return undefined;
  }
}

function listOf(body: unknown, key: string): unknown[] {
  if (Array.isArray(body)) return body;
  if (typeof body === "object" && body !== null) {
    const inner = (body as Record<string, unknown>)[key];
    return Array.isArray(inner) ? inner : [body];
  }
  return [];
}

function controlRoutes(control: TaniumSimControl): Hono<{ Bindings: SimBindings }> {
  const app = new Hono<{ Bindings: SimBindings }>();
  app.get("/", (c) => c.json(TANIUM_CONTROL_ROUTES));
  app.post("/alerts", async (c) => {
    const alerts = listOf(await readJson(c), "alerts").filter((item): item is SimAlert =>
      typeof item === "object" && item !== null &&
      typeof (item as Record<string, unknown>).id === "number" &&
      typeof (item as Record<string, unknown>).alertedAt === "string"
    );
    if (alerts.length === 0) return c.json({ text: "Send alerts with an id and alertedAt" }, 400);
    try {
      control.addAlerts(alerts);
    } catch (error) {
      return c.json({ text: error instanceof Error ? error.message : String(error) }, 400);
    }
    return c.json({ added: alerts.length });
  });
  app.post("/alerts/generate", async (c) => {
    const body = await readJson(c);
    const count = typeof body === "object" && body !== null
      ? Number((body as Record<string, unknown>).count)
      : NaN;
    if (!Number.isInteger(count) || count < 1) return c.json({ text: "Send {count: n}" }, 400);
    return c.json({ added: control.addLiveAlerts(count).map((alert) => alert.id) });
  });
  app.patch("/alerts/:id", async (c) => {
    const body = await readJson(c);
    if (typeof body !== "object" || body === null) return c.json({ text: "Send an object" }, 400);
    return control.patchAlert(Number(c.req.param("id")), body as Record<string, unknown>)
      ? c.json({ patched: true })
      : c.json({ text: "No alert with this id" }, 404);
  });
  app.post("/prune", async (c) => {
    const body = await readJson(c);
    const before = typeof body === "object" && body !== null
      ? (body as Record<string, unknown>).before
      : undefined;
    if (typeof before !== "string" || Number.isNaN(Date.parse(before))) {
      return c.json({ text: "Send {before: ISO date}" }, 400);
    }
    return c.json({ removed: control.prune(before) });
  });
  app.post("/intels", async (c) => {
    const intels = listOf(await readJson(c), "intels").filter((item): item is SimIntel =>
      typeof item === "object" && item !== null &&
      Number.isInteger((item as Record<string, unknown>).id)
    );
    if (intels.length === 0) return c.json({ text: "Send intel documents with an id" }, 400);
    control.addIntels(intels);
    return c.json({ added: intels.length });
  });
  app.post("/faults", async (c) => {
    const body = await readJson(c);
    if (typeof body !== "object" || body === null) return c.json({ text: "Send a fault" }, 400);
    const raw = body as Record<string, unknown>;
    const fault: TaniumFault = {};
    if (["alerts", "count", "intels", "any"].includes(String(raw.target))) {
      fault.target = raw.target as FaultTarget;
    }
    if (typeof raw.skip === "number") fault.skip = raw.skip;
    if (typeof raw.times === "number") fault.times = raw.times;
    if (typeof raw.status === "number") fault.status = raw.status;
    if (typeof raw.retryAfter === "string") fault.retryAfter = raw.retryAfter;
    if (typeof raw.delayMs === "number") fault.delayMs = raw.delayMs;
    if (raw.truncate === true) fault.truncate = true;
    if (Array.isArray(raw.nullFields)) fault.nullFields = raw.nullFields.map(String);
    if (typeof raw.untilMs === "number") fault.untilMs = raw.untilMs;
    if (typeof raw.poisonAlertId === "number") fault.poisonAlertId = raw.poisonAlertId;
    control.injectFault(fault);
    return c.json({ injected: fault });
  });
  app.delete("/faults", (c) => {
    control.clearFaults();
    return c.json({ cleared: true });
  });
  app.get("/counters", (c) => c.json(control.counters));
  app.get("/requests", (c) => c.json(control.requests));
  return app;
}
