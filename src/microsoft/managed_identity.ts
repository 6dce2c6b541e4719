/**
 * Managed identity token sources: the Azure Instance Metadata Service (VMs, scale sets, AKS node
 * identity) and the App Service style local endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`:
 * App Service, Functions, Container Apps). Both take a `resource` (not a `/.default` scope),
 * cache tokens per resource, refresh ahead of expiry, and retry as Microsoft advises.
 *
 * Wire facts (sources in the README credential section and the issue 15 note):
 * - IMDS: `GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
 *   with `Metadata: true`; optional `client_id` (user-assigned). 200 body: `access_token`,
 *   `expires_in` and `expires_on` (epoch seconds), both as strings, `resource`, `token_type`.
 *   400 = no identity / identity not found; retry 404, 410 (updating, back within 70 s), 429, 5xx.
 * - App Service: `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…` with
 *   `X-IDENTITY-HEADER: {IDENTITY_HEADER}`; optional `client_id`. 200 body: `access_token`,
 *   `expires_on` (epoch seconds string), `resource`, `token_type`, `client_id`. 400 =
 *   "Unable to load the proper Managed Identity."
 */
import * as v from "valibot";
import type { Logger } from "../log.ts";
import { getLogger } from "../log.ts";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import { type Fetch, request, safeUrl } from "../runtime/http.ts";
import { parseRetryAfter } from "../runtime/retry.ts";
import { TokenError, type TokenErrorFields } from "./entra_errors.ts";
import { resourceOf } from "./scopes.ts";
import { type IssuedToken, TokenCache } from "./token_cache.ts";
import { refreshAfterSeconds } from "./token_provider.ts";
import type { TokenSource } from "./token_source.ts";
import { errorMessage } from "../runtime/errors.ts";

/** The IMDS managed identity token endpoint. */
export const IMDS_ENDPOINT = "http://169.254.169.254/metadata/identity/oauth2/token";
/** The IMDS api-version Microsoft documents for managed identity tokens. */
export const IMDS_API_VERSION = "2018-02-01";
/** The App Service / Functions / Container Apps api-version that uses `X-IDENTITY-HEADER`. */
export const APP_SERVICE_API_VERSION = "2019-08-01";

/** Where the managed identity tokens come from. */
export type ManagedIdentityEndpoint =
  | {
    /** Azure Instance Metadata Service (VMs, scale sets, AKS nodes). */
    kind: "imds";
    /** The token URL. @default IMDS_ENDPOINT */
    url?: string;
  }
  | {
    /** App Service, Functions, Container Apps: the platform's local token service. */
    kind: "app_service";
    /** `IDENTITY_ENDPOINT`. */
    url: string;
    /** `IDENTITY_HEADER` (sent as `X-IDENTITY-HEADER`). Secret. */
    header: string;
  };

/** Setting names used in error messages. */
export interface ManagedIdentitySettingNames {
  /** The user-assigned identity's client id. @default "CLIENT_ID (or AZURE_CLIENT_ID)" */
  clientId: string;
  /** The App Service endpoint. @default "IDENTITY_ENDPOINT" */
  identityEndpoint: string;
  /** The App Service header. @default "IDENTITY_HEADER" */
  identityHeader: string;
  /** The IMDS URL override. @default "SENTINEL_IMDS_ENDPOINT" */
  imdsEndpoint: string;
}

const DEFAULT_NAMES: ManagedIdentitySettingNames = {
  clientId: "CLIENT_ID (or AZURE_CLIENT_ID)",
  identityEndpoint: "IDENTITY_ENDPOINT",
  identityHeader: "IDENTITY_HEADER",
  imdsEndpoint: "SENTINEL_IMDS_ENDPOINT",
};

/** Options of {@linkcode ManagedIdentityTokenSource}. */
export interface ManagedIdentityOptions {
  /** The token endpoint. */
  endpoint: ManagedIdentityEndpoint;
  /** Client id of a user-assigned identity; unset = the system-assigned identity. @default none */
  clientId?: string;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep between retries. @default a real timer */
  sleep?: Sleep;
  /** Random source in [0, 1) for backoff jitter (±20 %). @default Math.random */
  random?: () => number;
  /** Where to log. @default getLogger("microsoft", "managed-identity") */
  logger?: Logger;
  /** Attempts per token request on 404/429/5xx/network, including the first. @default 5 */
  attempts?: number;
  /** Time allowed for one request in ms. @default 10000 */
  timeoutMs?: number;
  /** Setting names used in error messages. @default the environment names */
  settings?: Partial<ManagedIdentitySettingNames>;
}

/** A managed identity token request that failed; the message says what to fix. */
export class ManagedIdentityError extends TokenError {
  /** The error's name. */
  override name = "ManagedIdentityError";

  /** Builds the error from its message and fields. */
  constructor(message: string, fields: TokenErrorFields, options?: ErrorOptions) {
    super(message, fields, options);
  }
}

const NumberLike = v.pipe(
  v.union([v.number(), v.pipe(v.string(), v.regex(/^\s*\d+(\.\d+)?\s*$/))]),
  v.transform(Number),
  v.finite(),
);

/** The success body of both endpoints (numbers may come as strings). */
const ManagedTokenSchema = v.object({
  access_token: v.pipe(v.string(), v.nonEmpty()),
  token_type: v.optional(v.string()),
  expires_in: v.optional(NumberLike),
  expires_on: v.optional(NumberLike),
  refresh_in: v.optional(NumberLike),
});

/** IMDS error body (`{"error": "...", "error_description": "..."}`). */
const ImdsErrorSchema = v.object({
  error: v.string(),
  error_description: v.optional(v.string()),
});

/** App Service error body (`{"statusCode": 400, "message": "...", "correlationId": "..."}`). */
const AppServiceErrorSchema = v.object({
  statusCode: v.optional(v.number()),
  message: v.string(),
  correlationId: v.optional(v.string()),
});

/** Exponential backoff of Microsoft's IMDS retry guidance: ~2, 6, 14, 30 s, at most 60 s. */
export function managedIdentityBackoffMs(retry: number, random: () => number): number {
  const base = Math.min(60_000, 2_000 * (2 ** retry - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** IMDS answers 410 while it updates and is back within 70 s: wait 10 s, up to 7 times. */
const GONE_DELAY_MS = 10_000;
const GONE_RETRIES = 7;

/** Gets tokens of a managed identity, cached per resource. */
export class ManagedIdentityTokenSource implements TokenSource {
  /** `imds` or `app_service`. */
  readonly kind: ManagedIdentityEndpoint["kind"];
  /** The endpoint URL (without credentials). */
  readonly endpointUrl: string;
  /** The user-assigned identity's client id, or undefined for the system-assigned one. */
  readonly clientId: string | undefined;
  readonly #endpoint: ManagedIdentityEndpoint;
  readonly #fetch: Fetch | undefined;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #attempts: number;
  readonly #timeoutMs: number;
  readonly #names: ManagedIdentitySettingNames;
  readonly #cache: TokenCache;

  /** Checks the options; throws a {@linkcode ManagedIdentityError} naming the setting when one is unusable. */
  constructor(options: ManagedIdentityOptions) {
    this.#names = { ...DEFAULT_NAMES, ...options.settings };
    const n = this.#names;
    this.#endpoint = options.endpoint;
    this.kind = options.endpoint.kind;
    const clientId = options.clientId?.trim();
    this.clientId = clientId === "" ? undefined : clientId;
    const url = options.endpoint.url ?? IMDS_ENDPOINT;
    const setting = this.kind === "imds" ? n.imdsEndpoint : n.identityEndpoint;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (cause) {
      throw configError(`${setting} "${url}" is not a URL: set it to the token endpoint`, setting, {
        cause,
      });
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw configError(`${setting} "${url}" must be an http(s) URL`, setting);
    }
    if (options.endpoint.kind === "app_service" && options.endpoint.header.trim() === "") {
      throw configError(
        `${n.identityHeader} missing: ${n.identityEndpoint} is set, so the platform (App Service, ` +
          `Functions, Container Apps) must also set ${n.identityHeader}; enable the app's managed ` +
          `identity, or unset ${n.identityEndpoint} to use IMDS`,
        n.identityHeader,
      );
    }
    this.endpointUrl = safeUrl(url);
    this.#fetch = options.fetch;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger ?? getLogger("microsoft", "managed-identity");
    this.#attempts = Math.max(1, options.attempts ?? 5);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#cache = new TokenCache({
      fetchToken: (resource) => this.#fetchWithRetry(resource),
      now: this.#now,
      logger: this.#logger,
    });
  }

  /** What the log says about this source (never the header or a token). */
  describe(): string {
    const where = this.kind === "imds" ? "IMDS" : "IDENTITY_ENDPOINT";
    const who = this.clientId
      ? `user-assigned identity ${this.clientId}`
      : "system-assigned identity";
    return `managed identity (${who} via ${where} ${this.endpointUrl})`;
  }

  /** A valid token for the scope's resource (`https://graph.microsoft.com/.default` → `https://graph.microsoft.com`). */
  async getToken(scope: string, signal?: AbortSignal): Promise<string> {
    return await this.#cache.get(managedIdentityResource(scope), signal);
  }

  /** Drops the cached token of the scope's resource (after a 401). */
  invalidate(scope: string): void {
    this.#cache.invalidate(managedIdentityResource(scope));
  }

  async #fetchWithRetry(resource: string): Promise<IssuedToken> {
    let retries = 0;
    let goneRetries = 0;
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#requestOnce(resource);
      } catch (caught) {
        const error = caught instanceof ManagedIdentityError ? caught : this.#unexpected(caught);
        let delayMs: number | undefined;
        if (error.status === 410 && this.kind === "imds" && goneRetries < GONE_RETRIES) {
          goneRetries++;
          delayMs = GONE_DELAY_MS;
        } else if (error.retryable && retries + 1 < this.#attempts) {
          retries++;
          delayMs = error.retryAfterMs !== undefined
            ? Math.min(error.retryAfterMs, 60_000)
            : managedIdentityBackoffMs(retries, this.#random);
        }
        const fields = {
          resource,
          source: this.kind,
          identity: this.clientId ?? "system-assigned",
          status: error.status,
          error: error.error,
          setting: error.setting,
          attempt,
        };
        if (delayMs === undefined) {
          this.#logger.error("Managed identity token for {resource} failed: {reason}", {
            ...fields,
            reason: error.message,
          });
          throw error;
        }
        this.#logger.warn(
          "Managed identity token for {resource} failed (attempt {attempt}), retrying in {delayMs} ms: {reason}",
          { ...fields, reason: error.message, delayMs },
        );
        await this.#sleep(delayMs);
      }
    }
  }

  #unexpected(caught: unknown): ManagedIdentityError {
    return new ManagedIdentityError(
      `Cannot get a managed identity token from ${this.endpointUrl}: ${errorMessage(caught)}`,
      { error: "unexpected", retryable: false },
      { cause: caught },
    );
  }

  #url(resource: string): string {
    const url = new URL(this.#endpoint.url ?? IMDS_ENDPOINT);
    url.searchParams.set(
      "api-version",
      this.kind === "imds" ? IMDS_API_VERSION : APP_SERVICE_API_VERSION,
    );
    url.searchParams.set("resource", resource);
    if (this.clientId) url.searchParams.set("client_id", this.clientId);
    return url.toString();
  }

  async #requestOnce(resource: string): Promise<IssuedToken> {
    const startedAt = this.#now();
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#endpoint.kind === "imds") headers["metadata"] = "true";
    else headers["x-identity-header"] = this.#endpoint.header;
    let response;
    try {
      response = await request(this.#url(resource), { method: "GET", headers }, {
        timeoutMs: this.#timeoutMs,
        ...(this.#fetch ? { fetch: this.#fetch } : {}),
      });
    } catch (cause) {
      const setting = this.kind === "imds"
        ? this.#names.imdsEndpoint
        : this.#names.identityEndpoint;
      const hint = this.kind === "imds"
        ? "this program must run on an Azure VM, scale set or AKS node with a managed identity " +
          `(IMDS is not reachable through a proxy); elsewhere set ${this.#names.identityEndpoint} ` +
          "or use a client credential"
        : `check ${this.#names.identityEndpoint}`;
      throw new ManagedIdentityError(
        `Cannot reach the managed identity endpoint ${this.endpointUrl}: ${
          errorMessage(cause)
        }; ${hint}`,
        { error: "network", retryable: true, setting },
        { cause },
      );
    }
    if (response.status !== 200) throw this.#errorOf(response, resource);
    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch {
      json = undefined;
    }
    const parsed = v.safeParse(ManagedTokenSchema, json);
    const invalid = () =>
      new ManagedIdentityError(
        `The managed identity endpoint ${this.endpointUrl} answered 200 without a usable bearer ` +
          "token and expiry (expires_in or expires_on)",
        { error: "invalid_response", retryable: false, status: 200 },
      );
    if (!parsed.success) throw invalid();
    const body = parsed.output;
    if (body.token_type !== undefined && body.token_type.toLowerCase() !== "bearer") {
      throw invalid();
    }
    // expires_in is relative (immune to clock skew); App Service sends only expires_on.
    const lifetimeSeconds = body.expires_in !== undefined
      ? body.expires_in
      : body.expires_on !== undefined
      ? body.expires_on - startedAt / 1000
      : undefined;
    if (lifetimeSeconds === undefined || lifetimeSeconds <= 0) throw invalid();
    const refreshAfter = refreshAfterSeconds(lifetimeSeconds, body.refresh_in);
    this.#logger.info(
      "Got a managed identity token for {resource} from {source}, valid for {expiresInSeconds} s, refresh in {refreshInSeconds} s",
      {
        resource,
        source: this.kind,
        identity: this.clientId ?? "system-assigned",
        expiresInSeconds: Math.round(lifetimeSeconds),
        refreshInSeconds: Math.round(refreshAfter),
      },
    );
    return {
      accessToken: body.access_token,
      refreshAt: startedAt + refreshAfter * 1000,
      expiresAt: startedAt + lifetimeSeconds * 1000,
    };
  }

  #errorOf(
    response: { status: number; headers: Headers; text: string },
    resource: string,
  ): ManagedIdentityError {
    const n = this.#names;
    const status = response.status;
    const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), this.#now());
    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch {
      json = undefined;
    }
    const imds = v.safeParse(ImdsErrorSchema, json);
    const app = v.safeParse(AppServiceErrorSchema, json);
    const detail = imds.success
      ? `${imds.output.error}${
        imds.output.error_description ? `: ${imds.output.error_description}` : ""
      }`
      : app.success
      ? app.output.message
      : `HTTP ${status}`;
    const correlationId = app.success ? app.output.correlationId : undefined;
    const base = { status, correlationId, retryAfterMs };
    const where = this.kind === "imds" ? "this VM (or scale set, or AKS node pool)" : "this app";
    const source = `the managed identity endpoint ${this.endpointUrl}`;
    if (status === 400) {
      const description = imds.success ? imds.output.error_description ?? "" : "";
      if (imds.success && imds.output.error === "bad_request_102") {
        return new ManagedIdentityError(
          `${source} rejected the request (${detail}): the Metadata header is missing, which a ` +
            "proxy between this program and IMDS can cause: bypass proxies for 169.254.169.254",
          { ...base, error: "bad_request_102", retryable: false },
        );
      }
      if (
        (imds.success && imds.output.error === "invalid_resource") ||
        /AADSTS500011/.test(description)
      ) {
        return new ManagedIdentityError(
          `${source} does not know the resource "${resource}" (${detail}): check the resource ` +
            "URL setting of the target (RESOURCE_URL, the Sentinel management URL or the Defender scope)",
          { ...base, error: "invalid_resource", retryable: false },
        );
      }
      if (this.clientId) {
        return new ManagedIdentityError(
          `user-assigned identity ${this.clientId} not found on ${where} (${source}: ${detail}): ` +
            `assign that identity to ${where}, or fix ${n.clientId}`,
          { ...base, error: "identity_not_found", retryable: false, setting: n.clientId },
        );
      }
      return new ManagedIdentityError(
        `no managed identity is assigned to ${where} (${source}: ${detail}): enable its ` +
          `system-assigned identity, or assign a user-assigned identity and set ${n.clientId} ` +
          "to its client id",
        { ...base, error: "no_identity", retryable: false, setting: n.clientId },
      );
    }
    if ((status === 401 || status === 403) && this.kind === "app_service") {
      return new ManagedIdentityError(
        `${source} rejected ${n.identityHeader} (HTTP ${status}: ${detail}): pass the ` +
          `${n.identityHeader} value the platform sets (it rotates; do not copy it into the ` +
          "configuration) and restart the app",
        { ...base, error: "identity_header", retryable: false, setting: n.identityHeader },
      );
    }
    const retryable = status === 404 || status === 408 || status === 410 || status === 429 ||
      status >= 500;
    const hint = status === 429
      ? "throttled"
      : status === 410 || (status === 404 && this.kind === "imds")
      ? "IMDS is updating"
      : status >= 500
      ? "transient error of the managed identity service"
      : "the request was rejected";
    return new ManagedIdentityError(
      `${source} answered HTTP ${status} (${hint}: ${detail})`,
      {
        ...base,
        error: `http_${status}`,
        retryable: retryable && (this.kind === "imds" || status !== 404),
      },
    );
  }
}

/**
 * The managed identity `resource` of a v2 scope: `https://graph.microsoft.com/.default` →
 * `https://graph.microsoft.com`. A bare resource passes unchanged; several scopes are refused.
 */
export function managedIdentityResource(scope: string): string {
  const trimmed = scope.trim();
  if (trimmed === "" || /\s/.test(trimmed)) {
    throw new ManagedIdentityError(
      `Cannot ask a managed identity for "${scope}": give exactly one resource or one ` +
        "`<resource>/.default` scope",
      { error: "config", retryable: false },
    );
  }
  return resourceOf(trimmed);
}

function configError(
  message: string,
  setting: string,
  options?: ErrorOptions,
): ManagedIdentityError {
  return new ManagedIdentityError(message, { error: "config", retryable: false, setting }, options);
}
