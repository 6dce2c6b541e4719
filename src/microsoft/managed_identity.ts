/**
 * Managed identity token sources, one per hosting platform, detected from the environment in
 * azure-identity's order (Python `ManagedIdentityCredential`; see {@linkcode detectManagedIdentity}).
 * All take a `resource` (not a `/.default` scope), cache tokens per resource, refresh ahead of
 * expiry, and retry as Microsoft advises.
 *
 * Wire facts (sources in the README credential section and the issue 15 note):
 * - IMDS (VMs, scale sets, AKS nodes): `GET http://169.254.169.254/metadata/identity/oauth2/token
 *   ?api-version=2018-02-01&resource=…` with `Metadata: true`; optional `client_id`. 200 body:
 *   `access_token`, `expires_in` and `expires_on` (epoch seconds, as strings). 400 = no identity /
 *   identity not found; retry 404, 410 (updating, back within 70 s), 429, 5xx.
 * - App Service, Functions, Container Apps: `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&…`
 *   with `X-IDENTITY-HEADER: {IDENTITY_HEADER}`; optional `client_id`. 200 body has `expires_on`
 *   (epoch seconds string). 400 `{"statusCode":400,"message":"Unable to load the proper Managed Identity.",…}`.
 * - App Service 2017 protocol: `GET {MSI_ENDPOINT}?api-version=2017-09-01&…` with
 *   `secret: {MSI_SECRET}`; user-assigned identity as `clientid`. `expires_on` is documented as
 *   epoch seconds but Microsoft's own example sends `"09/14/2017 00:00:00 PM +00:00"`: both parse.
 * - Service Fabric: `GET {IDENTITY_ENDPOINT}?api-version=2019-07-01-preview&resource=…` with
 *   `Secret: {IDENTITY_HEADER}`, over HTTPS with the cluster's self-signed certificate whose SHA-1
 *   thumbprint is `IDENTITY_SERVER_THUMBPRINT`. Errors `{"error":{"code","message","correlationId"}}`
 *   (`SecretHeaderNotFound`, `ManagedIdentityNotFound` 404, `ArgumentNullOrEmpty`,
 *   `InvalidApiVersion`); retry 429 and 5xx, never 404.
 * - Azure Arc: `GET {IDENTITY_ENDPOINT}?api-version=2019-11-01&resource=…` with `Metadata: true`
 *   answers 401 `WWW-Authenticate: Basic realm=<key file>`; the file must be a `.key` file directly
 *   in `/var/opt/azcmagent/tokens/` (Linux) or `%ProgramData%\AzureConnectedMachineAgent\Tokens\`
 *   (Windows), at most 4096 bytes; the same request again with `Authorization: Basic <content>`
 *   gets the token. System-assigned only.
 * - Cloud Shell: `POST {MSI_ENDPOINT}` with `Metadata: true` and the form `resource=…`.
 *   System-assigned only (the token is the signed-in user's).
 */
import * as v from "valibot";
import { getLogger } from "../log.ts";
import { type Fetch, request, safeUrl } from "../runtime/http.ts";
import { parseRetryAfter } from "../runtime/retry.ts";
import { certificateDer } from "./assertion.ts";
import { TokenError, type TokenErrorFields } from "./entra_errors.ts";
import { resourceOf } from "./scopes.ts";
import type { IssuedToken } from "./token_cache.ts";
import type { TokenSource } from "./token_source.ts";
import {
  issuedToken,
  jsonOf,
  messageOf,
  NumberLike,
  type RetryCounts,
  TokenSourceBase,
  type TokenSourceOptions,
} from "./token_source_base.ts";

/** The IMDS managed identity token endpoint. */
export const IMDS_ENDPOINT = "http://169.254.169.254/metadata/identity/oauth2/token";
/** The IMDS api-version Microsoft documents for managed identity tokens. */
export const IMDS_API_VERSION = "2018-02-01";
/** The App Service / Functions / Container Apps api-version that uses `X-IDENTITY-HEADER`. */
export const APP_SERVICE_API_VERSION = "2019-08-01";
/** The older App Service api-version (`MSI_ENDPOINT` + `MSI_SECRET`, `secret` header). */
export const APP_SERVICE_2017_API_VERSION = "2017-09-01";
/** The only api-version the Service Fabric managed identity token service accepts. */
export const SERVICE_FABRIC_API_VERSION = "2019-07-01-preview";
/** The Azure Arc (himds) api-version, as azure-identity for JS and MSAL Node send it. */
export const AZURE_ARC_API_VERSION = "2019-11-01";
/** Largest Azure Arc key file read, in bytes (checked before reading). */
export const AZURE_ARC_KEY_MAX_BYTES = 4096;
/** Where the Azure Arc agent writes its key files, per operating system. */
export const AZURE_ARC_KEY_DIRECTORIES: Readonly<Record<"linux" | "windows", () => string>> = {
  linux: () => "/var/opt/azcmagent/tokens/",
  windows: () =>
    `${Deno.env.get("ProgramData") ?? "C:\\ProgramData"}\\AzureConnectedMachineAgent\\Tokens\\`,
};

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
  }
  | {
    /** App Service's 2017-09-01 protocol (`MSI_ENDPOINT` + `MSI_SECRET`). */
    kind: "app_service_2017";
    /** `MSI_ENDPOINT`. */
    url: string;
    /** `MSI_SECRET` (sent as `secret`). Secret. */
    secret: string;
  }
  | {
    /** Service Fabric applications. */
    kind: "service_fabric";
    /** `IDENTITY_ENDPOINT` (HTTPS, self-signed certificate). */
    url: string;
    /** `IDENTITY_HEADER` (sent as `Secret`). Secret. */
    header: string;
    /** `IDENTITY_SERVER_THUMBPRINT`: SHA-1 thumbprint (hex) of the token service's certificate. */
    thumbprint: string;
    /** That certificate in PEM, trusted for this endpoint only (required for an https URL). */
    certificatePem?: string;
  }
  | {
    /** Azure Arc-enabled servers (the himds agent). */
    kind: "azure_arc";
    /** `IDENTITY_ENDPOINT`, e.g. `http://localhost:40342/metadata/identity/oauth2/token`. */
    url: string;
  }
  | {
    /** Azure Cloud Shell. */
    kind: "cloud_shell";
    /** `MSI_ENDPOINT`. */
    url: string;
  };

/** The kinds of managed identity endpoint. */
export type ManagedIdentityKind = ManagedIdentityEndpoint["kind"];

/** How each kind is named in the log (never a secret). */
export const MANAGED_IDENTITY_KIND_NAMES: Readonly<Record<ManagedIdentityKind, string>> = {
  imds: "IMDS",
  app_service: "IDENTITY_ENDPOINT",
  app_service_2017: "MSI_ENDPOINT (App Service, 2017-09-01)",
  service_fabric: "IDENTITY_ENDPOINT (Service Fabric)",
  azure_arc: "IDENTITY_ENDPOINT (Azure Arc)",
  cloud_shell: "MSI_ENDPOINT (Cloud Shell)",
};

/** Setting names used in error messages. */
export interface ManagedIdentitySettingNames {
  /** The user-assigned identity's client id. @default "CLIENT_ID (or AZURE_CLIENT_ID)" */
  clientId: string;
  /** The App Service / Service Fabric / Arc endpoint. @default "IDENTITY_ENDPOINT" */
  identityEndpoint: string;
  /** The App Service / Service Fabric header. @default "IDENTITY_HEADER" */
  identityHeader: string;
  /** The IMDS URL override. @default "SENTINEL_IMDS_ENDPOINT" */
  imdsEndpoint: string;
  /** The Service Fabric certificate thumbprint. @default "IDENTITY_SERVER_THUMBPRINT" */
  identityServerThumbprint: string;
  /** The Service Fabric certificate file. @default "SENTINEL_IDENTITY_SERVER_CERTIFICATE" */
  identityServerCertificate: string;
  /** The 2017 App Service and Cloud Shell endpoint. @default "MSI_ENDPOINT" */
  msiEndpoint: string;
  /** The 2017 App Service secret. @default "MSI_SECRET" */
  msiSecret: string;
}

const DEFAULT_NAMES: ManagedIdentitySettingNames = {
  clientId: "CLIENT_ID (or AZURE_CLIENT_ID)",
  identityEndpoint: "IDENTITY_ENDPOINT",
  identityHeader: "IDENTITY_HEADER",
  imdsEndpoint: "SENTINEL_IMDS_ENDPOINT",
  identityServerThumbprint: "IDENTITY_SERVER_THUMBPRINT",
  identityServerCertificate: "SENTINEL_IDENTITY_SERVER_CERTIFICATE",
  msiEndpoint: "MSI_ENDPOINT",
  msiSecret: "MSI_SECRET",
};

/** File access of the Azure Arc key file (injected in tests). */
export interface ArcKeyFiles {
  /** The file's size in bytes. */
  size(path: string): Promise<number>;
  /** The file's text. */
  read(path: string): Promise<string>;
}

/** Options of {@linkcode ManagedIdentityTokenSource} (`attempts` defaults to 5, `timeoutMs` to 10000). */
export interface ManagedIdentityOptions extends TokenSourceOptions {
  /** The token endpoint. */
  endpoint: ManagedIdentityEndpoint;
  /** Client id of a user-assigned identity; unset = the system-assigned identity. @default none */
  clientId?: string;
  /** Setting names used in error messages. @default the environment names */
  settings?: Partial<ManagedIdentitySettingNames>;
  /** Azure Arc: the directory the key file must be in (ends with a separator). @default per OS, AZURE_ARC_KEY_DIRECTORIES */
  arcKeyDirectory?: string;
  /** Azure Arc: reads the key file. @default Deno.stat and Deno.readTextFile */
  arcKeyFiles?: ArcKeyFiles;
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

/** The success body of every endpoint (numbers may come as strings; `expires_on` also as a date). */
const ManagedTokenSchema = v.object({
  access_token: v.pipe(v.string(), v.nonEmpty()),
  token_type: v.optional(v.string()),
  expires_in: v.optional(NumberLike),
  expires_on: v.optional(v.union([v.number(), v.string()])),
  refresh_in: v.optional(NumberLike),
});

/** IMDS (and Arc, Cloud Shell) error body (`{"error": "...", "error_description": "..."}`). */
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

/** Service Fabric error body (`{"error": {"code": "...", "message": "...", "correlationId": "..."}}`). */
const FabricErrorSchema = v.object({
  error: v.object({
    code: v.string(),
    message: v.optional(v.string()),
    correlationId: v.optional(v.string()),
  }),
});

/**
 * Epoch seconds of an `expires_on` value: a number, a string of digits, or the App Service 2017
 * example's `MM/DD/YYYY hh:mm:ss [AM|PM] ±hh:mm`. Undefined when it is none of these.
 */
export function parseExpiresOn(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const m = text.match(
    /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?: ?(AM|PM))? ?(?:([+-])(\d{2}):?(\d{2})|Z|UTC)?$/i,
  );
  if (!m) return undefined;
  const [, month, day, year, hourText, minute, second, half, sign, offH, offM] = m;
  let hour = Number(hourText);
  if (half?.toUpperCase() === "PM" && hour < 12) hour += 12;
  if (half?.toUpperCase() === "AM" && hour === 12) hour = 0;
  if (hour > 23) return undefined;
  const offsetMinutes = sign ? (sign === "-" ? -1 : 1) * (Number(offH) * 60 + Number(offM)) : 0;
  const utc = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    hour,
    Number(minute),
    Number(second),
  );
  return utc / 1000 - offsetMinutes * 60;
}

/** Exponential backoff of Microsoft's IMDS retry guidance: ~2, 6, 14, 30 s, at most 60 s. */
export function managedIdentityBackoffMs(retry: number, random: () => number): number {
  const base = Math.min(60_000, 2_000 * (2 ** retry - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** IMDS answers 410 while it updates and is back within 70 s: wait 10 s, up to 7 times. */
const GONE_DELAY_MS = 10_000;
const GONE_RETRIES = 7;

/** Where the error messages say the identity must be assigned. */
const HOSTS: Readonly<Record<ManagedIdentityKind, string>> = {
  imds: "this VM (or scale set, or AKS node pool)",
  app_service: "this app",
  app_service_2017: "this app",
  service_fabric: "this Service Fabric application",
  azure_arc: "this Azure Arc-enabled server",
  cloud_shell: "this Cloud Shell session",
};

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Gets tokens of a managed identity, cached per resource. */
export class ManagedIdentityTokenSource extends TokenSourceBase implements TokenSource {
  /** Which platform endpoint this source calls. */
  readonly kind: ManagedIdentityKind;
  /** The endpoint URL (without credentials). */
  readonly endpointUrl: string;
  /** The user-assigned identity's client id, or undefined for the system-assigned one. */
  readonly clientId: string | undefined;
  readonly #endpoint: ManagedIdentityEndpoint;
  readonly #names: ManagedIdentitySettingNames;
  readonly #arcKeyDirectory: string | undefined;
  readonly #arcKeyFiles: ArcKeyFiles;
  #fabricFetch: Promise<Fetch | undefined> | undefined;

  /** Checks the options; throws a {@linkcode ManagedIdentityError} naming the setting when one is unusable. */
  constructor(options: ManagedIdentityOptions) {
    super(options, {
      logger: () => getLogger("microsoft", "managed-identity"),
      attempts: 5,
      timeoutMs: 10_000,
      logSubject: "Managed identity token for {resource}",
    });
    this.#names = { ...DEFAULT_NAMES, ...options.settings };
    const n = this.#names;
    const endpoint = options.endpoint;
    this.#endpoint = endpoint;
    this.kind = endpoint.kind;
    const clientId = options.clientId?.trim();
    this.clientId = clientId === "" ? undefined : clientId;
    const url = endpoint.url ?? IMDS_ENDPOINT;
    const setting = this.#urlSetting();
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
    if (endpoint.kind === "app_service" && endpoint.header.trim() === "") {
      throw configError(
        `${n.identityHeader} missing: ${n.identityEndpoint} is set, so the platform (App Service, ` +
          `Functions, Container Apps) must also set ${n.identityHeader}; enable the app's managed ` +
          `identity, or unset ${n.identityEndpoint} to use IMDS`,
        n.identityHeader,
      );
    }
    if (endpoint.kind === "app_service_2017" && endpoint.secret.trim() === "") {
      throw configError(
        `${n.msiSecret} missing: App Service sets it with ${n.msiEndpoint}; restart the app after ` +
          "enabling its identity",
        n.msiSecret,
      );
    }
    if (endpoint.kind === "service_fabric") {
      if (endpoint.header.trim() === "") {
        throw configError(
          `${n.identityHeader} missing: the Service Fabric runtime sets it with ` +
            `${n.identityEndpoint} and ${n.identityServerThumbprint}`,
          n.identityHeader,
        );
      }
      if (parsed.protocol === "https:" && endpoint.certificatePem === undefined) {
        throw configError(fabricTrustAdvice(n, url), n.identityServerCertificate);
      }
      if (parsed.protocol === "http:" && !LOOPBACK_HOSTS.has(parsed.hostname)) {
        throw configError(
          `${n.identityEndpoint} "${safeUrl(url)}" is plain http on another host: the Service ` +
            `Fabric token service is https; fix ${n.identityEndpoint}`,
          n.identityEndpoint,
        );
      }
    }
    const systemOnly = systemAssignedOnlyProblem(endpoint.kind, this.clientId, n);
    if (systemOnly !== undefined) throw configError(systemOnly, n.clientId);
    this.endpointUrl = safeUrl(url);
    this.#arcKeyDirectory = options.arcKeyDirectory;
    this.#arcKeyFiles = options.arcKeyFiles ?? {
      size: async (path) => (await Deno.stat(path)).size,
      read: (path) => Deno.readTextFile(path),
    };
  }

  /** What the log says about this source (never a header, secret or token). */
  describe(): string {
    const who = this.clientId
      ? `user-assigned identity ${this.clientId}`
      : "system-assigned identity";
    return `managed identity (${who} via ${
      MANAGED_IDENTITY_KIND_NAMES[this.kind]
    } ${this.endpointUrl})`;
  }

  /** Managed identities are asked for a resource: `https://graph.microsoft.com/.default` → `https://graph.microsoft.com`. */
  protected override cacheKey(scope: string): string {
    return managedIdentityResource(scope);
  }

  /** 410 from IMDS every 10 s (7 times); else what is retryable, with Microsoft's backoff. */
  protected retryDelay(
    error: TokenError,
    _attempt: number,
    counts: RetryCounts,
  ): number | undefined {
    const gone = counts["gone"] ?? 0;
    const retries = counts["retries"] ?? 0;
    if (error.status === 410 && this.kind === "imds" && gone < GONE_RETRIES) {
      counts["gone"] = gone + 1;
      return GONE_DELAY_MS;
    }
    if (!error.retryable || retries + 1 >= this.attempts) return undefined;
    counts["retries"] = retries + 1;
    return error.retryAfterMs !== undefined
      ? Math.min(error.retryAfterMs, 60_000)
      : managedIdentityBackoffMs(retries + 1, this.random);
  }

  protected failureFields(resource: string, error: TokenError): Record<string, unknown> {
    return {
      resource,
      source: this.kind,
      identity: this.clientId ?? "system-assigned",
      status: error.status,
      error: error.error,
      setting: error.setting,
    };
  }

  protected unexpected(caught: unknown): ManagedIdentityError {
    return new ManagedIdentityError(
      `Cannot get a managed identity token from ${this.endpointUrl}: ${messageOf(caught)}`,
      { error: "unexpected", retryable: false },
      { cause: caught },
    );
  }

  #urlSetting(): string {
    const n = this.#names;
    switch (this.kind) {
      case "imds":
        return n.imdsEndpoint;
      case "app_service_2017":
      case "cloud_shell":
        return n.msiEndpoint;
      default:
        return n.identityEndpoint;
    }
  }

  /** The request of this kind for the resource (the Arc key, once known, as `authorization`). */
  #request(resource: string, authorization?: string): { url: string; init: RequestInit } {
    const e = this.#endpoint;
    const url = new URL(e.url ?? IMDS_ENDPOINT);
    const headers: Record<string, string> = { accept: "application/json" };
    const query = (apiVersion: string, clientIdName = "client_id") => {
      url.searchParams.set("api-version", apiVersion);
      url.searchParams.set("resource", resource);
      if (this.clientId) url.searchParams.set(clientIdName, this.clientId);
    };
    switch (e.kind) {
      case "imds":
        query(IMDS_API_VERSION);
        headers["metadata"] = "true";
        break;
      case "app_service":
        query(APP_SERVICE_API_VERSION);
        headers["x-identity-header"] = e.header;
        break;
      case "app_service_2017":
        query(APP_SERVICE_2017_API_VERSION, "clientid");
        headers["secret"] = e.secret;
        break;
      case "service_fabric":
        // The identity is chosen in the application manifest; a client id is not sent.
        url.searchParams.set("api-version", SERVICE_FABRIC_API_VERSION);
        url.searchParams.set("resource", resource);
        headers["secret"] = e.header;
        break;
      case "azure_arc":
        // The agent listens on IPv4 loopback; "localhost" may resolve to ::1 first (MSAL Node
        // makes the same substitution).
        if (url.hostname === "localhost") url.hostname = "127.0.0.1";
        query(AZURE_ARC_API_VERSION);
        headers["metadata"] = "true";
        if (authorization !== undefined) headers["authorization"] = authorization;
        break;
      case "cloud_shell":
        headers["metadata"] = "true";
        headers["content-type"] = "application/x-www-form-urlencoded";
        return {
          url: url.toString(),
          init: {
            method: "POST",
            headers,
            body: new URLSearchParams({ resource }).toString(),
          },
        };
    }
    return { url: url.toString(), init: { method: "GET", headers } };
  }

  async #send(resource: string, authorization?: string) {
    const { url, init } = this.#request(resource, authorization);
    const fetch = this.kind === "service_fabric" ? await this.#trustedFabricFetch() : this.fetch;
    try {
      return await request(url, init, {
        timeoutMs: this.timeoutMs,
        ...(fetch ? { fetch } : {}),
      });
    } catch (cause) {
      const setting = this.#urlSetting();
      const hint = this.kind === "imds"
        ? "this program must run on an Azure VM, scale set or AKS node with a managed identity " +
          `(IMDS is not reachable through a proxy); elsewhere set ${this.#names.identityEndpoint} ` +
          "or use a client credential"
        : this.kind === "service_fabric"
        ? `check ${setting}, and that ${this.#names.identityServerCertificate} holds the ` +
          "certificate the token service presents, issued for the endpoint's host name"
        : `check ${setting}`;
      throw new ManagedIdentityError(
        `Cannot reach the managed identity endpoint ${this.endpointUrl}: ${
          messageOf(cause)
        }; ${hint}`,
        { error: "network", retryable: true, setting },
        { cause },
      );
    }
  }

  /**
   * Service Fabric: a fetch that trusts exactly the configured certificate, after checking that
   * its SHA-1 thumbprint is `IDENTITY_SERVER_THUMBPRINT`. Deno cannot pin a thumbprint during the
   * handshake, so the certificate itself becomes the only trust anchor of this endpoint; TLS
   * verification (signature, validity, host name) stays on.
   */
  #trustedFabricFetch(): Promise<Fetch | undefined> {
    this.#fabricFetch ??= (async () => {
      const e = this.#endpoint;
      if (e.kind !== "service_fabric" || e.certificatePem === undefined) return this.fetch;
      const n = this.#names;
      let der: Uint8Array<ArrayBuffer>;
      try {
        der = certificateDer(e.certificatePem);
      } catch (cause) {
        throw configError(
          `${n.identityServerCertificate}: ${messageOf(cause)}`,
          n.identityServerCertificate,
          { cause },
        );
      }
      const actual = hex(await crypto.subtle.digest("SHA-1", der));
      const expected = e.thumbprint.replace(/[\s:]/g, "").toUpperCase();
      if (actual !== expected) {
        throw configError(
          `The certificate in ${n.identityServerCertificate} has the SHA-1 thumbprint ${actual}, ` +
            `not ${expected} (${n.identityServerThumbprint}): export the certificate of the ` +
            "cluster's managed identity token service with that thumbprint",
          n.identityServerCertificate,
        );
      }
      const client = Deno.createHttpClient({ caCerts: [e.certificatePem] });
      const base = this.fetch ?? globalThis.fetch;
      return (input, init) => base(input, { ...init, client } as RequestInit);
    })();
    return this.#fabricFetch;
  }

  /** Reads the Azure Arc key file the 401 challenge names, following the documented rules. */
  async #arcKey(challenge: string | null): Promise<string> {
    const n = this.#names;
    const fail = (message: string, cause?: unknown) =>
      new ManagedIdentityError(
        message,
        { error: "arc_key", retryable: false, status: 401, setting: n.identityEndpoint },
        cause === undefined ? undefined : { cause },
      );
    const match = challenge?.match(/^\s*Basic\s+realm=(.+?)\s*$/i);
    if (!match?.[1]) {
      throw fail(
        `The Azure Arc endpoint ${this.endpointUrl} answered 401 without ` +
          `"WWW-Authenticate: Basic realm=<key file>": check that ${n.identityEndpoint} is the ` +
          "Azure Connected Machine agent's token endpoint",
      );
    }
    const path = match[1].replace(/^"(.*)"$/, "$1");
    const os = Deno.build.os;
    const directory = this.#arcKeyDirectory ??
      (os === "linux" || os === "windows" ? AZURE_ARC_KEY_DIRECTORIES[os]() : undefined);
    if (directory === undefined) {
      throw fail(`Azure Arc managed identity works on Linux and Windows only, not ${os}`);
    }
    const name = path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
    if (!name.endsWith(".key") || directory + name !== path) {
      throw fail(
        `The Azure Arc endpoint named the key file "${path}", which is not a .key file directly ` +
          `in ${directory}: refusing to read it`,
      );
    }
    const hint = os === "windows"
      ? 'run this program as an administrator or a member of the "Hybrid agent extension ' +
        'applications" group'
      : 'run this program as root or as a member of the "himds" group';
    let size: number;
    let key: string;
    try {
      size = await this.#arcKeyFiles.size(path);
    } catch (cause) {
      throw fail(
        `Cannot read the Azure Arc key file "${path}": ${messageOf(cause)}; ${hint}`,
        cause,
      );
    }
    if (size > AZURE_ARC_KEY_MAX_BYTES) {
      throw fail(
        `The Azure Arc key file "${path}" has ${size} bytes, more than ` +
          `${AZURE_ARC_KEY_MAX_BYTES}: refusing to read it`,
      );
    }
    try {
      key = await this.#arcKeyFiles.read(path);
    } catch (cause) {
      throw fail(
        `Cannot read the Azure Arc key file "${path}": ${messageOf(cause)}; ${hint}`,
        cause,
      );
    }
    return key.trim();
  }

  /** One token request (two for Azure Arc: the challenge, then the request with the key). */
  protected async requestOnce(resource: string): Promise<IssuedToken> {
    const startedAt = this.now();
    let response = await this.#send(resource);
    if (this.kind === "azure_arc" && response.status === 401) {
      const key = await this.#arcKey(response.headers.get("www-authenticate"));
      response = await this.#send(resource, `Basic ${key}`);
      if (response.status === 401) {
        throw new ManagedIdentityError(
          `The Azure Arc endpoint ${this.endpointUrl} rejected the key file's content (HTTP 401): ` +
            "the agent rotates the key on every challenge; check that nothing else reads it",
          { error: "arc_key", retryable: true, status: 401, setting: this.#names.identityEndpoint },
        );
      }
    }
    if (response.status !== 200) throw this.#errorOf(response, resource);
    const json = jsonOf(response.text);
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
    // expires_in is relative (immune to clock skew); most platforms send only expires_on.
    const expiresOn = body.expires_on === undefined ? undefined : parseExpiresOn(body.expires_on);
    const lifetimeSeconds = body.expires_in !== undefined
      ? body.expires_in
      : expiresOn !== undefined
      ? expiresOn - startedAt / 1000
      : undefined;
    if (lifetimeSeconds === undefined || lifetimeSeconds <= 0) throw invalid();
    const { token, refreshAfter } = issuedToken(
      body.access_token,
      startedAt,
      lifetimeSeconds,
      body.refresh_in,
    );
    this.logger.info(
      "Got a managed identity token for {resource} from {source}, valid for {expiresInSeconds} s, refresh in {refreshInSeconds} s",
      {
        resource,
        source: this.kind,
        identity: this.clientId ?? "system-assigned",
        expiresInSeconds: Math.round(lifetimeSeconds),
        refreshInSeconds: Math.round(refreshAfter),
      },
    );
    return token;
  }

  #errorOf(
    response: { status: number; headers: Headers; text: string },
    resource: string,
  ): ManagedIdentityError {
    const n = this.#names;
    const status = response.status;
    const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), this.now());
    const json = jsonOf(response.text);
    const imds = v.safeParse(ImdsErrorSchema, json);
    const app = v.safeParse(AppServiceErrorSchema, json);
    const fabric = v.safeParse(FabricErrorSchema, json);
    const detail = imds.success
      ? `${imds.output.error}${
        imds.output.error_description ? `: ${imds.output.error_description}` : ""
      }`
      : app.success
      ? app.output.message
      : fabric.success
      ? `${fabric.output.error.code}${
        fabric.output.error.message ? `: ${fabric.output.error.message}` : ""
      }`
      : `HTTP ${status}`;
    const correlationId = app.success
      ? app.output.correlationId
      : fabric.success
      ? fabric.output.error.correlationId
      : undefined;
    const base = { status, correlationId, retryAfterMs };
    const where = HOSTS[this.kind];
    const source = `the managed identity endpoint ${this.endpointUrl}`;
    const fabricCode = fabric.success ? fabric.output.error.code : undefined;
    const secretSetting = this.kind === "app_service_2017" ? n.msiSecret : n.identityHeader;
    if (fabricCode === "SecretHeaderNotFound") {
      return new ManagedIdentityError(
        `${source} did not get ${n.identityHeader} (${detail}): pass the value the Service Fabric ` +
          "runtime sets",
        { ...base, error: "identity_header", retryable: false, setting: n.identityHeader },
      );
    }
    if (status === 404 && this.kind === "service_fabric") {
      return new ManagedIdentityError(
        `no managed identity is assigned to ${where}, or ${n.identityHeader} is not the code the ` +
          `runtime set for this process (${source}: ${detail}): assign an identity in the ` +
          "application manifest and pass the runtime's values unchanged",
        { ...base, error: "no_identity", retryable: false, setting: n.identityHeader },
      );
    }
    if (status === 400 && fabricCode === undefined) {
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
    if (
      (status === 401 || status === 403) &&
      (this.kind === "app_service" || this.kind === "app_service_2017" ||
        this.kind === "service_fabric")
    ) {
      return new ManagedIdentityError(
        `${source} rejected ${secretSetting} (HTTP ${status}: ${detail}): pass the ` +
          `${secretSetting} value the platform sets (it rotates; do not copy it into the ` +
          "configuration) and restart the app",
        { ...base, error: "identity_header", retryable: false, setting: secretSetting },
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

/** What to say when a Service Fabric https endpoint has no trusted certificate. */
function fabricTrustAdvice(n: ManagedIdentitySettingNames, url: string): string {
  return `Service Fabric managed identity: ${n.identityEndpoint} (${safeUrl(url)}) presents a ` +
    `self-signed certificate identified only by ${n.identityServerThumbprint}, and this program ` +
    "cannot pin a thumbprint or turn TLS checks off for one endpoint: set " +
    `${n.identityServerCertificate} to that certificate in PEM (it must match the thumbprint ` +
    "and name the endpoint's host), or use a client credential or workload identity instead";
}

function hex(buffer: ArrayBuffer): string {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("")
    .toUpperCase();
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

/** The managed identity variables of the environment (all optional). */
export interface ManagedIdentityEnvironment {
  /** `IDENTITY_ENDPOINT` (App Service, Service Fabric, Azure Arc). */
  identityEndpoint?: string | undefined;
  /** `IDENTITY_HEADER` (App Service, Service Fabric). Secret. */
  identityHeader?: string | undefined;
  /** `IDENTITY_SERVER_THUMBPRINT` (Service Fabric). */
  identityServerThumbprint?: string | undefined;
  /** `IMDS_ENDPOINT` (Azure Arc's agent, e.g. `http://localhost:40342`). */
  arcImdsEndpoint?: string | undefined;
  /** `MSI_ENDPOINT` (App Service 2017, Cloud Shell). */
  msiEndpoint?: string | undefined;
  /** `MSI_SECRET` (App Service 2017). Secret. */
  msiSecret?: string | undefined;
  /** The IMDS token URL. @default IMDS_ENDPOINT */
  imdsUrl?: string | undefined;
}

/** The endpoint the environment selects, or the problem that prevents one (naming the setting). */
export type DetectedManagedIdentity =
  | { ok: true; endpoint: ManagedIdentityEndpoint }
  | { ok: false; problem: string; setting: string };

/**
 * Picks the managed identity endpoint from the environment in azure-identity's order (Python
 * `ManagedIdentityCredential`): `IDENTITY_ENDPOINT` with `IDENTITY_HEADER` → Service Fabric when
 * `IDENTITY_SERVER_THUMBPRINT` is set too, else App Service; `IDENTITY_ENDPOINT` with
 * `IMDS_ENDPOINT` → Azure Arc; `MSI_ENDPOINT` → App Service 2017 with `MSI_SECRET`, else Cloud
 * Shell; otherwise IMDS. A Service Fabric endpoint comes without its certificate (read by the caller).
 */
export function detectManagedIdentity(
  env: ManagedIdentityEnvironment,
  names: Partial<ManagedIdentitySettingNames> = {},
): DetectedManagedIdentity {
  const n = { ...DEFAULT_NAMES, ...names };
  const given = (value: string | undefined): value is string =>
    value !== undefined && value.trim() !== "";
  if (given(env.identityEndpoint)) {
    if (given(env.identityHeader)) {
      if (given(env.identityServerThumbprint)) {
        return {
          ok: true,
          endpoint: {
            kind: "service_fabric",
            url: env.identityEndpoint,
            header: env.identityHeader,
            thumbprint: env.identityServerThumbprint,
          },
        };
      }
      return {
        ok: true,
        endpoint: { kind: "app_service", url: env.identityEndpoint, header: env.identityHeader },
      };
    }
    if (given(env.arcImdsEndpoint)) {
      return { ok: true, endpoint: { kind: "azure_arc", url: env.identityEndpoint } };
    }
    return {
      ok: false,
      problem: `${n.identityHeader} missing: ${n.identityEndpoint} is set, so the platform (App ` +
        `Service, Functions, Container Apps, Service Fabric) must also set ${n.identityHeader} ` +
        `(Azure Arc sets IMDS_ENDPOINT instead); enable the app's managed identity, or unset ` +
        `${n.identityEndpoint} to use IMDS`,
      setting: n.identityHeader,
    };
  }
  if (given(env.msiEndpoint)) {
    return given(env.msiSecret)
      ? {
        ok: true,
        endpoint: { kind: "app_service_2017", url: env.msiEndpoint, secret: env.msiSecret },
      }
      : { ok: true, endpoint: { kind: "cloud_shell", url: env.msiEndpoint } };
  }
  return { ok: true, endpoint: { kind: "imds", url: env.imdsUrl ?? IMDS_ENDPOINT } };
}

/**
 * The problem of a Service Fabric endpoint that cannot be trusted as configured (an https
 * endpoint without the certificate file), or undefined.
 */
export function fabricTrustProblem(
  endpoint: ManagedIdentityEndpoint,
  certificateConfigured: boolean,
  names: Partial<ManagedIdentitySettingNames> = {},
): string | undefined {
  if (endpoint.kind !== "service_fabric" || certificateConfigured) return undefined;
  if (!/^https:/i.test(endpoint.url)) return undefined;
  return fabricTrustAdvice({ ...DEFAULT_NAMES, ...names }, endpoint.url);
}

/**
 * The problem of asking Azure Arc or Cloud Shell (system-assigned only) for a user-assigned
 * identity, or undefined.
 */
export function systemAssignedOnlyProblem(
  kind: ManagedIdentityKind,
  clientId: string | undefined,
  names: Partial<ManagedIdentitySettingNames> = {},
): string | undefined {
  if ((kind !== "azure_arc" && kind !== "cloud_shell") || !clientId?.trim()) return undefined;
  const where = kind === "azure_arc" ? "Azure Arc" : "Cloud Shell";
  return `${where} has only a system-assigned identity, but a user-assigned one is configured ` +
    `(${clientId.trim()}): unset ${names.clientId ?? DEFAULT_NAMES.clientId}`;
}
