/**
 * The Graph security incidents client: `GET /v1.0/security/incidents?$expand=alerts` with
 * `$filter=lastUpdateDateTime ge <since>`, paged by `@odata.nextLink`, through the shared
 * Microsoft call loop (token with one refresh on 401, 429 `Retry-After`, backoff on 5xx and
 * network errors). Needs the application permission `SecurityIncident.Read.All`.
 *
 * @module
 */
import * as v from "valibot";
import { getLogger, type Logger } from "../log.ts";
import { excerpt, httpError } from "../runtime/http.ts";
import type { RateLimiter } from "../runtime/rate_limiter.ts";
import {
  type ApiCallDeps,
  apiCallDeps,
  type ApiClientOptions,
  callApi,
  perMinute,
  sameOrigin,
} from "../microsoft/api_call.ts";
import { scopeFor } from "../microsoft/scopes.ts";
import type { TokenSource } from "../microsoft/token_source.ts";
import {
  IncidentPageSchema,
  type MalformedIncident,
  type MsIncident,
  readIncident,
} from "./schemas.ts";
import { GRANT } from "../microsoft/access_hints.ts";

export { INCIDENTS_PERMISSION } from "../microsoft/access_hints.ts";

/** The settings of the credential microsoft-incidents uses (its own, else sentinel's). */
export const INCIDENTS_CREDENTIAL_SETTINGS = "TENANT_ID, CLIENT_ID and the credential (or " +
  "MICROSOFT_INCIDENTS_TENANT_ID, _CLIENT_ID, _CLIENT_SECRET)";
/** Incidents per page (`$top`); Graph documents 50 as the largest page of incidents. */
export const MAX_PAGE_SIZE = 50;

/** Graph refused the token (401 after one refresh): a credential problem. */
export class IncidentsAuthError extends Error {
  /** The error's name. */
  override name = "IncidentsAuthError";
}

/** Graph answered 403: the app lacks `SecurityIncident.Read.All` (or admin consent). */
export class IncidentsForbiddenError extends Error {
  /** The error's name. */
  override name = "IncidentsForbiddenError";
}

/** Graph answered something that is not a page of incidents. */
export class IncidentsResponseError extends Error {
  /** The error's name. */
  override name = "IncidentsResponseError";
}

/** One page of incidents. */
export interface IncidentPage {
  /** Incidents read. */
  incidents: MsIncident[];
  /** Incidents that could not be read. */
  malformed: MalformedIncident[];
  /** Items on the page as sent. */
  size: number;
  /** The next page's URL, when there is one. */
  nextLink?: string;
}

/** Options of {@linkcode IncidentsClient}. */
export interface IncidentsClientOptions extends ApiClientOptions {
  /** Hands out bearer tokens. */
  tokens: TokenSource;
  /** Graph base URL (`RESOURCE_URL`). */
  resourceUrl: string;
  /** Incidents path below `resourceUrl`, or a full URL (`MICROSOFT_INCIDENTS_INCIDENT_URL`). */
  incidentPath: string;
  /** Token scope. @default `<resourceUrl>/.default` */
  scope?: string;
  /** `$top` (1-50). @default 50 */
  pageSize?: number;
  /** Requests per minute, client side. @default 600 */
  rateLimitPerMinute?: number;
  /** The logger. @default getLogger("microsoft-incidents", "graph") */
  logger?: Logger;
}

/** Reads Microsoft security incidents with their alerts. */
export class IncidentsClient {
  readonly #url: string;
  readonly #pageSize: number;
  readonly #limiter: RateLimiter;
  readonly #deps: ApiCallDeps;

  /** Builds the client; nothing is sent until {@linkcode IncidentsClient.listPage}. */
  constructor(options: IncidentsClientOptions) {
    const resource = options.resourceUrl.replace(/\/+$/, "");
    const path = options.incidentPath;
    this.#url = /^https?:\/\//i.test(path)
      ? path
      : `${resource}${path.startsWith("/") ? "" : "/"}${path}`;
    this.#pageSize = options.pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1 || this.#pageSize > MAX_PAGE_SIZE) {
      throw new RangeError(`Cannot page incidents by ${this.#pageSize}: use 1 to ${MAX_PAGE_SIZE}`);
    }
    const base = apiCallDeps(options, {
      tokens: options.tokens,
      scope: options.scope ?? scopeFor(resource),
      logger: options.logger ?? getLogger("microsoft-incidents", "graph"),
    });
    this.#deps = base;
    this.#limiter = perMinute(base, options.rateLimitPerMinute ?? 600);
  }

  /** The first page's URL for incidents updated at or after `since` (ISO, UTC). */
  firstPageUrl(since: string): string {
    const url = new URL(this.#url);
    url.searchParams.set("$expand", "alerts");
    url.searchParams.set("$filter", `lastUpdateDateTime ge ${since}`);
    url.searchParams.set("$top", String(this.#pageSize));
    return url.toString();
  }

  /** Reads one page: the first (from `since`) or the one a `nextLink` names. */
  async listPage(
    from: { since: string } | { nextLink: string },
    signal?: AbortSignal,
  ): Promise<IncidentPage> {
    const url = "nextLink" in from ? from.nextLink : this.firstPageUrl(from.since);
    if (!sameOrigin(url, this.#url)) {
      throw new IncidentsResponseError(
        `Graph sent a nextLink to another origin (${new URL(url).origin}); refusing to follow it`,
      );
    }
    const response = await callApi({
      method: "GET",
      url,
      what: "Graph security incidents",
      limiter: this.#limiter,
      headers: { prefer: "include-unknown-enum-members" },
      signal,
    }, this.#deps);
    if (response.status === 401) {
      throw new IncidentsAuthError(
        `Graph refused the token for security incidents (401): check ` +
          `${INCIDENTS_CREDENTIAL_SETTINGS}: ${excerpt(response.text)}`,
        { cause: httpError(response, "Graph security incidents") },
      );
    }
    if (response.status === 403) {
      throw new IncidentsForbiddenError(
        `Graph denied access to security incidents (403): ${GRANT.incidents}: ${
          excerpt(response.text)
        }`,
        { cause: httpError(response, "Graph security incidents") },
      );
    }
    if (response.status < 200 || response.status >= 300) {
      throw httpError(response, "Graph security incidents");
    }
    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch (cause) {
      throw new IncidentsResponseError(
        `Graph security incidents answered invalid JSON: ${excerpt(response.text)}`,
        { cause },
      );
    }
    const page = v.safeParse(IncidentPageSchema, json);
    if (!page.success) {
      throw new IncidentsResponseError(
        `Graph security incidents answered no "value" list: ${excerpt(response.text)}`,
      );
    }
    const incidents: MsIncident[] = [];
    const malformed: MalformedIncident[] = [];
    for (const item of page.output.value) {
      const read = readIncident(item);
      if ("incident" in read) incidents.push(read.incident);
      else malformed.push(read.malformed);
    }
    const next = page.output["@odata.nextLink"];
    return {
      incidents,
      malformed,
      size: page.output.value.length,
      ...(next ? { nextLink: next } : {}),
    };
  }
}
