/**
 * Simulator of the Microsoft Graph security incidents API v1.0 (`GET /v1.0/security/incidents`,
 * `$expand=alerts`), with the shapes of the public reference (Microsoft Learn "incident resource
 * type", "alert resource type", "alertEvidence resource type" and the derived evidence types):
 *
 * - bearer token for `https://graph.microsoft.com` with the application role
 *   `SecurityIncident.Read.All` (or `SecurityIncident.ReadWrite.All`), else 401/403 in Graph's
 *   error shape;
 * - `$filter` on `lastUpdateDateTime` (and `createdDateTime`) with `eq`, `ge`, `gt`, `le`, `lt`,
 *   clauses joined by `and`; anything else → 400 `BadRequest`;
 * - `$top` 1-50 (the documented largest page of incidents), `$skip`, `@odata.nextLink` carrying
 *   `$skip`; no `$orderby` (none is documented), so the order is the store's, not sorted by time;
 * - per-app throttling (429 `TooManyRequests` with `Retry-After`) and injected failures.
 *
 * It never imports the production code it checks.
 *
 * @module
 */
import { Hono } from "hono";
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
  recordRequests,
  renderGraphStyleError,
  type RunningServer,
  type SeenRequest,
  serveSim,
  TimeScale,
} from "./ms_common.ts";

/** The application permissions that allow reading incidents. */
export const INCIDENT_ROLES = ["SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"];
/** The resource of the tokens. */
export const GRAPH_SECURITY_RESOURCE = "https://graph.microsoft.com";
/** The incidents path. */
export const INCIDENTS_PATH = "/v1.0/security/incidents";
/** The largest `$top`. */
export const MAX_TOP = 50;

type Json = Record<string, unknown>;

/** Options of the simulator. */
export interface GraphSecuritySimOptions extends MsSimOptions {
  /** Requests per minute per app before 429. @default 60 */
  rateLimit?: number;
  /** Page size when `$top` is absent. @default 50 */
  defaultTop?: number;
}

/** The simulator and its controls. */
export interface GraphSecuritySim {
  /** The Hono app. */
  app: Hono<{ Variables: AuthVariables }>;
  /** Every request seen. */
  requests: SeenRequest[];
  /** Failures to inject. */
  failures: FailurePlan;
  /** The per-app window. */
  rate: RateWindow;
  /** Adds or replaces an incident (with its `alerts`). */
  upsert(incident: Json): void;
  /** Every incident stored, in store order. */
  incidents(): Json[];
  /**
   * Updates an incident as Microsoft would: sets `lastUpdateDateTime` (and the given fields),
   * keeping its place in the store.
   */
  update(id: string, at: string, fields?: Json): void;
}

/** A running simulator. */
export interface RunningGraphSecuritySim extends GraphSecuritySim, RunningServer {}

interface Clause {
  field: "lastUpdateDateTime" | "createdDateTime";
  op: "eq" | "ge" | "gt" | "le" | "lt";
  at: number;
}

/** Parses the supported `$filter` grammar; undefined when unsupported. */
function parseFilter(text: string): Clause[] | undefined {
  const clauses: Clause[] = [];
  for (const part of text.trim().split(/\s+and\s+/i)) {
    const m = /^(lastUpdateDateTime|createdDateTime)\s+(eq|ge|gt|le|lt)\s+(\S+)$/.exec(part.trim());
    if (!m) return undefined;
    const at = Date.parse(m[3]!.replace(/^'|'$/g, ""));
    if (Number.isNaN(at)) return undefined;
    clauses.push({ field: m[1] as Clause["field"], op: m[2] as Clause["op"], at });
  }
  return clauses;
}

function matches(incident: Json, clauses: Clause[]): boolean {
  return clauses.every((c) => {
    const value = Date.parse(String(incident[c.field]));
    switch (c.op) {
      case "eq":
        return value === c.at;
      case "ge":
        return value >= c.at;
      case "gt":
        return value > c.at;
      case "le":
        return value <= c.at;
      case "lt":
        return value < c.at;
    }
  });
}

/** Builds the simulator app (no server). */
export function createGraphSecuritySimApp(options: GraphSecuritySimOptions): GraphSecuritySim {
  const now = options.now ?? systemNow;
  const scale = new TimeScale(options.timeScale ?? 1);
  const failures = new FailurePlan();
  const rate = perMinute(options.rateLimit ?? 60, scale, now);
  const requests: SeenRequest[] = [];
  const store = new Map<string, Json>();
  const app = new Hono<{ Variables: AuthVariables }>();

  app.use("*", recordRequests(requests, now));
  app.use("*", failureMiddleware(failures, { sleep: options.sleep }));
  app.use(
    "*",
    bearerAuth({
      verify: options.verify,
      audiences: options.audiences ?? audienceVariants(GRAPH_SECURITY_RESOURCE),
      roles: INCIDENT_ROLES,
      forbiddenCode: "Forbidden",
      forbiddenMessage: `Missing application roles. API required roles: ${
        INCIDENT_ROLES.join(",")
      }. Grant one of them to the application with admin consent`,
    }),
  );
  app.use("*", async (c, next) => {
    const auth = c.get("auth");
    const decision = rate.take(`${auth.tid}/${auth.appid}`);
    if (decision.ok) return await next();
    return renderGraphStyleError(
      c,
      429,
      "TooManyRequests",
      "Too many requests. Retry after the time given in Retry-After",
      { "Retry-After": scale.retryAfter(decision.retryAfterMs) },
    );
  });

  app.get(INCIDENTS_PATH, (c) => {
    const url = new URL(c.req.url);
    const known = new Set(["$expand", "$filter", "$top", "$skip", "$count"]);
    for (const key of url.searchParams.keys()) {
      if (!known.has(key)) {
        return renderGraphStyleError(
          c,
          400,
          "BadRequest",
          `Query option '${key}' is not supported`,
        );
      }
    }
    const expand = url.searchParams.get("$expand");
    if (expand !== null && expand !== "alerts") {
      return renderGraphStyleError(c, 400, "BadRequest", `Could not expand '${expand}'`);
    }
    const topText = url.searchParams.get("$top");
    const top = topText === null ? options.defaultTop ?? MAX_TOP : Number(topText);
    if (!Number.isInteger(top) || top < 1 || top > MAX_TOP) {
      return renderGraphStyleError(
        c,
        400,
        "BadRequest",
        `Invalid $top value '${topText}': the maximum page size is ${MAX_TOP}`,
      );
    }
    const skip = Number(url.searchParams.get("$skip") ?? "0");
    if (!Number.isInteger(skip) || skip < 0) {
      return renderGraphStyleError(c, 400, "BadRequest", "Invalid $skip value");
    }
    const filterText = url.searchParams.get("$filter");
    const clauses = filterText === null ? [] : parseFilter(filterText);
    if (clauses === undefined) {
      return renderGraphStyleError(
        c,
        400,
        "BadRequest",
        `Invalid filter clause: '${filterText}' (supported: lastUpdateDateTime or createdDateTime ` +
          "with eq, ge, gt, le, lt, joined by and)",
      );
    }
    const selected = [...store.values()].filter((incident) => matches(incident, clauses));
    const page = selected.slice(skip, skip + top).map((incident) => {
      const copy = structuredClone(incident);
      if (expand !== "alerts") delete copy.alerts;
      return copy;
    });
    const body: Json = {
      "@odata.context": `${url.origin}/v1.0/$metadata#security/incidents`,
      value: page,
    };
    if (skip + top < selected.length) {
      const next = new URL(url);
      next.searchParams.set("$skip", String(skip + top));
      next.searchParams.set("$top", String(top));
      body["@odata.nextLink"] = next.toString();
    }
    return c.json(body);
  });

  app.all(
    "*",
    (c) =>
      renderGraphStyleError(
        c,
        404,
        "UnknownError",
        `Resource not found for the segment '${c.req.path}'`,
      ),
  );

  return {
    app,
    requests,
    failures,
    rate,
    upsert(incident) {
      store.set(String(incident.id), structuredClone(incident));
    },
    incidents: () => [...store.values()].map((i) => structuredClone(i)),
    update(id, at, fields = {}) {
      const incident = store.get(id);
      if (!incident) throw new Error(`No incident ${id} in the simulator`);
      Object.assign(incident, fields, { lastUpdateDateTime: at });
    },
  };
}

/** Starts the simulator on loopback. */
export function startGraphSecuritySim(options: GraphSecuritySimOptions): RunningGraphSecuritySim {
  return serveSim(createGraphSecuritySimApp(options));
}

// ---------------------------------------------------------------------------------------------
// Sample data (shapes of the public reference)

const NS = "#microsoft.graph.security.";

function evidenceBase(kind: string, createdDateTime: string, verdict = "suspicious"): Json {
  return {
    "@odata.type": `${NS}${kind}`,
    createdDateTime,
    verdict,
    remediationStatus: "none",
    remediationStatusDetails: null,
    roles: [],
    detailedRoles: [],
    tags: [],
  };
}

/** One evidence item of each documented kind this project reads, for one alert. */
export function sampleEvidence(n: number, at: string): Json[] {
  const md5 = n.toString(16).padStart(32, "a");
  const sha1 = n.toString(16).padStart(40, "b");
  const sha256 = n.toString(16).padStart(64, "c");
  const fileDetails = {
    sha1,
    sha256,
    md5,
    fileName: `tool${n}.exe`,
    filePath: "C:\\Users\\Public",
    fileSize: 1024 * n,
    filePublisher: null,
    signer: null,
    issuer: null,
  };
  const userAccount = {
    accountName: `user${n}`,
    domainName: "CONTOSO",
    userSid: `S-1-5-21-1-2-3-${1000 + n}`,
    azureAdUserId: null,
    userPrincipalName: `user${n}@contoso.com`,
    displayName: `User ${n}`,
  };
  return [
    {
      ...evidenceBase("ipEvidence", at, "malicious"),
      ipAddress: `203.0.113.${n % 250}`,
      countryLetterCode: "US",
    },
    { ...evidenceBase("urlEvidence", at), url: `http://phish${n}.example.net/login` },
    {
      ...evidenceBase("deviceEvidence", at),
      deviceDnsName: `host${n}.contoso.local`,
      mdeDeviceId: `dev${n}`,
      osPlatform: "Windows10",
      healthStatus: "active",
      ipInterfaces: ["10.0.0.4"],
    },
    { ...evidenceBase("userEvidence", at), userAccount },
    { ...evidenceBase("fileEvidence", at, "malicious"), fileDetails, detectionStatus: "detected" },
    {
      ...evidenceBase("processEvidence", at),
      processId: 4000 + n,
      processCommandLine: `tool${n}.exe -run`,
      imageFile: fileDetails,
      userAccount,
      detectionStatus: "detected",
    },
    {
      ...evidenceBase("mailboxEvidence", at),
      primaryAddress: `victim${n}@contoso.com`,
      displayName: `Victim ${n}`,
      userAccount,
    },
    {
      ...evidenceBase("analyzedMessageEvidence", at),
      networkMessageId: crypto.randomUUID(),
      internetMessageId: `<msg${n}@example.org>`,
      subject: `Invoice ${n}`,
      senderIp: `198.51.100.${n % 250}`,
      recipientEmailAddress: `victim${n}@contoso.com`,
      p1Sender: {
        emailAddress: `sender${n}@phish.example.org`,
        displayName: "Billing",
        domainName: "phish.example.org",
      },
      p2Sender: {
        emailAddress: `sender${n}@phish.example.org`,
        displayName: "Billing",
        domainName: "phish.example.org",
      },
      urls: [`http://phish${n}.example.net/login`],
      urlCount: 1,
      attachmentsCount: 0,
      deliveryAction: "delivered",
      deliveryLocation: "inbox",
    },
    {
      ...evidenceBase("dnsEvidence", at),
      domainName: `c2-${n}.example.com`,
      hostIpAddress: `192.0.2.${n % 250}`,
    },
  ];
}

/** Options of {@linkcode sampleAlert}. */
export interface SampleAlertOptions {
  /** Evidence to send instead of one item of each kind. @default sampleEvidence(n) */
  evidence?: Json[];
  /** `detectionSource`. @default "customTi" */
  detectionSource?: string;
  /** `additionalData` (custom details). @default {} */
  additionalData?: Json;
  /** `mitreTechniques`. @default ["T1566.002", "T1059.001"] */
  mitreTechniques?: string[];
}

/** An alert (v2) in the documented shape. */
export function sampleAlert(
  n: number,
  incidentId: string,
  at: string,
  options: SampleAlertOptions = {},
): Json {
  const id = `da63${String(n).padStart(14, "0")}_${1000 + n}`;
  return {
    id,
    providerAlertId: id,
    incidentId,
    status: "new",
    severity: "medium",
    classification: null,
    determination: null,
    serviceSource: "microsoftDefenderForEndpoint",
    detectionSource: options.detectionSource ?? "customTi",
    detectorId: `detector-${n}`,
    tenantId: "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c",
    title: `Sample alert ${n}`,
    description: `A connection to a known malicious destination was seen (sample ${n})`,
    recommendedActions: "Isolate the device",
    category: "CommandAndControl",
    assignedTo: null,
    alertWebUrl: `https://security.microsoft.com/alerts/${id}`,
    incidentWebUrl: `https://security.microsoft.com/incidents/${incidentId}`,
    actorDisplayName: null,
    threatDisplayName: null,
    threatFamilyName: null,
    mitreTechniques: options.mitreTechniques ?? ["T1566.002", "T1059.001"],
    createdDateTime: at,
    lastUpdateDateTime: at,
    resolvedDateTime: null,
    firstActivityDateTime: at,
    lastActivityDateTime: at,
    comments: [],
    evidence: options.evidence ?? sampleEvidence(n, at),
    systemTags: [],
    additionalData: options.additionalData ?? {},
  };
}

/** An incident in the documented shape, with its alerts. */
export function sampleIncident(
  id: string,
  createdDateTime: string,
  lastUpdateDateTime: string,
  alerts: Json[],
): Json {
  return {
    id,
    tenantId: "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c",
    status: "active",
    incidentWebUrl: `https://security.microsoft.com/incidents/${id}?tid=b3c1b5fc`,
    redirectIncidentId: null,
    displayName: `Multi-stage incident ${id}`,
    description: null,
    createdDateTime,
    lastUpdateDateTime,
    assignedTo: null,
    classification: "unknown",
    determination: "unknown",
    severity: "medium",
    customTags: [],
    systemTags: [],
    summary: null,
    comments: [],
    alerts,
  };
}
