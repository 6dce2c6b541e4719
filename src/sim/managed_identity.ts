/**
 * Managed identity simulator on loopback, one route per platform, with their documented error
 * shapes:
 * - IMDS (`GET /metadata/identity/oauth2/token`, `Metadata: true`, api-version 2018-02-01);
 * - App Service / Functions / Container Apps (`GET /msi/token`, `X-IDENTITY-HEADER`, 2019-08-01);
 * - App Service 2017 (`GET /msi2017/token`, `secret: MSI_SECRET`, 2017-09-01, `clientid`;
 *   `expires_on` as in Microsoft's example, `"MM/DD/YYYY hh:mm:ss AM +00:00"`);
 * - Service Fabric (`GET /sf/metadata/identity/oauth2/token`, `Secret` header,
 *   2019-07-01-preview; errors `{"error":{"code","message","correlationId"}}`; served over plain
 *   http here, where the real one is https with a self-signed certificate);
 * - Azure Arc (`GET /arc/metadata/identity/oauth2/token`, 2019-11-01 or 2020-06-01: a request
 *   without `Authorization` gets 401 `WWW-Authenticate: Basic realm=<key file>`, a new key written
 *   to `arcKeyDirectory`; `Authorization: Basic <key>` with that key gets the token, once);
 * - Cloud Shell (`POST /cloudshell/oauth2/token`, `Metadata: true`, form `resource=`).
 *
 * Like the real services, it gets each token from Entra ID: every identity is a service
 * principal registered in the Entra simulator (through its exported `registerApp` and token
 * endpoint), so the Graph, Sentinel and Defender simulators accept the tokens it hands out.
 *
 * Error shapes: IMDS answers `{"error": "...", "error_description": "..."}` (400
 * `invalid_request` "Identity not found", 400 `bad_request_102` "Required metadata header not
 * specified"); App Service answers `{"statusCode": 400, "message": "Unable to load the proper
 * Managed Identity.", "correlationId": "..."}`. A wrong or missing `X-IDENTITY-HEADER` has no
 * public documented shape: the simulator answers 401 in the App Service shape.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { type Now, systemNow } from "../runtime/clock.ts";
import type { EntraSimApp } from "./entra.ts";

/** One managed identity (a service principal in the simulated tenant). */
export interface SimIdentity {
  /** The identity's client (application) id. */
  clientId: string;
  /** Application roles granted per resource, e.g. `{ "https://graph.microsoft.com": ["ThreatIndicators.ReadWrite.OwnedBy"] }`. @default {} */
  roles?: Record<string, string[]>;
}

/** Options of {@linkcode createManagedIdentitySimApp} and {@linkcode startManagedIdentitySim}. */
export interface ManagedIdentitySimOptions {
  /** The Entra simulator that issues the tokens (its signing key is the one the API simulators trust). */
  entra: EntraSimApp;
  /** The tenant the identities live in. */
  tenantId: string;
  /** The system-assigned identity; unset = none is enabled on the simulated host. @default none */
  systemAssigned?: SimIdentity;
  /** User-assigned identities attached to the simulated host. @default [] */
  userAssigned?: SimIdentity[];
  /** The `IDENTITY_HEADER` value the App Service and Service Fabric endpoints expect. @default a random UUID */
  identityHeader?: string;
  /** The `MSI_SECRET` value the App Service 2017 endpoint expects. @default a random UUID */
  msiSecret?: string;
  /** Where the Azure Arc route writes its key files (ends with a separator); unset = no Arc route. @default none */
  arcKeyDirectory?: string;
  /** The clock for `expires_on`. @default Date.now */
  now?: Now;
}

/** The simulated endpoints. */
export type SimEndpoint =
  | "imds"
  | "app_service"
  | "app_service_2017"
  | "service_fabric"
  | "azure_arc"
  | "cloud_shell";

/** One token request as the simulator saw it. */
export interface SimManagedIdentityRequest {
  /** Which endpoint was called. */
  endpoint: SimEndpoint;
  /** The `resource` query parameter ("" when absent). */
  resource: string;
  /** The `client_id` query parameter ("" when absent). */
  clientId: string;
  /** The `api-version` query parameter ("" when absent). */
  apiVersion: string;
  /** Whether the endpoint's SSRF header (`Metadata: true` / `X-IDENTITY-HEADER` / secret) was right. */
  headerOk: boolean;
}

/** Fault injection and inspection. */
export interface ManagedIdentitySimControl {
  /** The next `count` token requests (either endpoint) answer `status`, with `Retry-After` when given. */
  failNext(status: number, count?: number, retryAfterSeconds?: number): void;
  /** Token requests received so far, oldest first. */
  requests(): SimManagedIdentityRequest[];
}

/** The simulator without a listening server. */
export interface ManagedIdentitySimApp {
  /** The Hono app serving both endpoints. */
  app: Hono;
  /** The `IDENTITY_HEADER` value the App Service and Service Fabric endpoints expect. */
  identityHeader: string;
  /** The `MSI_SECRET` value the App Service 2017 endpoint expects. */
  msiSecret: string;
  /** Fault injection and inspection. */
  control: ManagedIdentitySimControl;
}

/** A running simulator. */
export interface ManagedIdentitySim extends ManagedIdentitySimApp {
  /** Base URL, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  /** The IMDS token URL (use as `SENTINEL_IMDS_ENDPOINT`). */
  imdsUrl: string;
  /** The App Service token URL (use as `IDENTITY_ENDPOINT`). */
  identityEndpoint: string;
  /** The App Service 2017 token URL (use as `MSI_ENDPOINT` with `MSI_SECRET`). */
  msi2017Endpoint: string;
  /** The Service Fabric token URL (use as `IDENTITY_ENDPOINT` with the thumbprint). */
  serviceFabricEndpoint: string;
  /** The Azure Arc token URL (use as `IDENTITY_ENDPOINT` with `IMDS_ENDPOINT`). */
  arcEndpoint: string;
  /** The Cloud Shell token URL (use as `MSI_ENDPOINT` alone). */
  cloudShellEndpoint: string;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Path of the IMDS token endpoint. */
export const IMDS_PATH = "/metadata/identity/oauth2/token";
/** Path of the App Service style token endpoint. */
export const APP_SERVICE_PATH = "/msi/token";
/** Path of the App Service 2017 token endpoint. */
export const APP_SERVICE_2017_PATH = "/msi2017/token";
/** Path of the Service Fabric token endpoint. */
export const SERVICE_FABRIC_PATH = "/sf/metadata/identity/oauth2/token";
/** Path of the Azure Arc token endpoint. */
export const AZURE_ARC_PATH = "/arc/metadata/identity/oauth2/token";
/** Path of the Cloud Shell token endpoint. */
export const CLOUD_SHELL_PATH = "/cloudshell/oauth2/token";

interface Registered extends SimIdentity {
  secret: string;
}

interface Failure {
  status: number;
  retryAfterSeconds?: number;
}

/** Builds the simulator; {@linkcode startManagedIdentitySim} serves it on loopback. */
export function createManagedIdentitySimApp(
  options: ManagedIdentitySimOptions,
): ManagedIdentitySimApp {
  const now = options.now ?? systemNow;
  const identityHeader = options.identityHeader ?? crypto.randomUUID();
  const msiSecret = options.msiSecret ?? crypto.randomUUID();
  const arcKeys = new Set<string>();
  const byClientId = new Map<string, Registered>();
  const register = (identity: SimIdentity): Registered => {
    const registered = { ...identity, secret: `mi-${crypto.randomUUID()}` };
    options.entra.registerApp({
      tenantId: options.tenantId,
      clientId: identity.clientId,
      secret: registered.secret,
      roles: identity.roles ?? {},
    });
    byClientId.set(identity.clientId.toLowerCase(), registered);
    return registered;
  };
  const system = options.systemAssigned ? register(options.systemAssigned) : undefined;
  for (const identity of options.userAssigned ?? []) register(identity);
  const seen: SimManagedIdentityRequest[] = [];
  const failures: Failure[] = [];

  /** Asks Entra for a token of the identity, as the real services do behind the endpoint. */
  async function entraToken(
    identity: Registered,
    resource: string,
  ): Promise<
    { ok: true; token: string; expiresIn: number } | {
      ok: false;
      status: number;
      description: string;
    }
  > {
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: identity.clientId,
      client_secret: identity.secret,
      scope: `${resource.replace(/\/+$/, "")}/.default`,
    });
    const response = await options.entra.app.request(
      `/${encodeURIComponent(options.tenantId)}/oauth2/v2.0/token`,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
      },
    );
    const body = await response.json() as Record<string, unknown>;
    if (response.status === 200 && typeof body["access_token"] === "string") {
      return { ok: true, token: body["access_token"], expiresIn: Number(body["expires_in"]) };
    }
    return {
      ok: false,
      status: response.status,
      description: typeof body["error_description"] === "string" ? body["error_description"] : "",
    };
  }

  function record(
    c: Context,
    endpoint: SimEndpoint,
    headerOk: boolean,
    resource = c.req.query("resource") ?? "",
  ): void {
    seen.push({
      endpoint,
      resource,
      clientId: c.req.query("client_id") ?? c.req.query("clientid") ?? "",
      apiVersion: c.req.query("api-version") ?? "",
      headerOk,
    });
  }

  function injected(c: Context, endpoint: SimEndpoint): Response | undefined {
    const failure = failures.shift();
    if (!failure) return undefined;
    const headers: Record<string, string> = {};
    if (failure.retryAfterSeconds !== undefined) {
      headers["retry-after"] = String(failure.retryAfterSeconds);
    }
    const text = failure.status === 429
      ? "Too many requests"
      : failure.status === 410 || failure.status === 404
      ? "IMDS is updating"
      : "Failed to retrieve token from the Active directory.";
    const body = endpoint === "imds" || endpoint === "azure_arc" || endpoint === "cloud_shell"
      ? { error: failure.status === 429 ? "too_many_requests" : "unknown", error_description: text }
      : endpoint === "service_fabric"
      ? {
        error: {
          correlationId: crypto.randomUUID(),
          code: failure.status === 429 ? "TooManyRequests" : "InternalServerError",
          message: text,
        },
      }
      : { statusCode: failure.status, message: text, correlationId: crypto.randomUUID() };
    return c.json(body, failure.status as 400, headers);
  }

  /** The identity a request names: by `client_id` (`clientid` in 2017), else the system-assigned one. */
  function identityOf(c: Context, clientIdName = "client_id"): Registered | undefined {
    const clientId = c.req.query(clientIdName);
    if (c.req.query("object_id") || c.req.query("msi_res_id") || c.req.query("mi_res_id")) {
      return undefined; // this simulator identifies user-assigned identities by client id only
    }
    if (clientId !== undefined) return byClientId.get(clientId.toLowerCase());
    return system;
  }

  const app = new Hono();

  app.get(IMDS_PATH, async (c) => {
    const headerOk = c.req.header("metadata") === "true";
    record(c, "imds", headerOk);
    const imdsError = (status: number, error: string, description: string) =>
      imdsErrorOf(c, status, error, description);
    if (!headerOk) {
      return imdsError(400, "bad_request_102", "Required metadata header not specified");
    }
    const apiVersion = c.req.query("api-version");
    if (!apiVersion) {
      return imdsError(400, "invalid_request", "Required query variable 'api-version' is missing");
    }
    if (apiVersion < "2018-02-01") {
      return imdsError(400, "invalid_request", `Unsupported api-version '${apiVersion}'`);
    }
    const resource = c.req.query("resource");
    if (!resource) {
      return imdsError(400, "invalid_request", "Required query variable 'resource' is missing");
    }
    const failure = injected(c, "imds");
    if (failure) return failure;
    const identity = identityOf(c);
    if (!identity) return imdsError(400, "invalid_request", "Identity not found");
    const minted = await entraToken(identity, resource);
    if (!minted.ok) {
      if (minted.status >= 500 || minted.status === 429) {
        return imdsError(500, "unknown", "Failed to retrieve token from the Active directory.");
      }
      return imdsError(400, "invalid_resource", minted.description);
    }
    return imdsStyleToken(c, minted.token, minted.expiresIn, resource);
  });

  /** The App Service shape, shared by the 2019-08-01 and 2017-09-01 protocols. */
  function appServiceRoute(spec: {
    endpoint: "app_service" | "app_service_2017";
    header: string;
    expected: string;
    apiVersion: string;
    clientIdName: string;
    body: (
      minted: { token: string; expiresIn: number },
      identity: Registered,
      resource: string,
    ) => Record<string, unknown>;
  }) {
    return async (c: Context) => {
      const given = c.req.header(spec.header);
      const headerOk = given === spec.expected;
      record(c, spec.endpoint, headerOk);
      const appError = (status: number, message: string) =>
        c.json({ statusCode: status, message, correlationId: crypto.randomUUID() }, status as 400);
      if (!headerOk) {
        return appError(
          401,
          given === undefined
            ? `The ${spec.header} header is missing.`
            : `The ${spec.header} header is not valid.`,
        );
      }
      const apiVersion = c.req.query("api-version");
      if (apiVersion !== spec.apiVersion) {
        return appError(400, `Unsupported api-version '${apiVersion ?? ""}'.`);
      }
      const resource = c.req.query("resource");
      if (!resource) return appError(400, "The resource parameter is required.");
      const failure = injected(c, spec.endpoint);
      if (failure) return failure;
      const identity = identityOf(c, spec.clientIdName);
      if (!identity) return appError(400, "Unable to load the proper Managed Identity.");
      const minted = await entraToken(identity, resource);
      if (!minted.ok) {
        return minted.status >= 500 || minted.status === 429
          ? appError(500, "Failed to retrieve token.")
          : appError(400, minted.description);
      }
      return c.json(spec.body(minted, identity, resource));
    };
  }

  app.get(
    APP_SERVICE_PATH,
    appServiceRoute({
      endpoint: "app_service",
      header: "X-IDENTITY-HEADER",
      expected: identityHeader,
      apiVersion: "2019-08-01",
      clientIdName: "client_id",
      body: (minted, identity, resource) => ({
        access_token: minted.token,
        expires_on: String(Math.floor(now() / 1000) + minted.expiresIn),
        resource,
        token_type: "Bearer",
        client_id: identity.clientId,
      }),
    }),
  );

  app.get(
    APP_SERVICE_2017_PATH,
    appServiceRoute({
      endpoint: "app_service_2017",
      header: "secret",
      expected: msiSecret,
      apiVersion: "2017-09-01",
      clientIdName: "clientid",
      body: (minted, _identity, resource) => ({
        access_token: minted.token,
        expires_on: appService2017Date(now() + minted.expiresIn * 1000),
        resource,
        token_type: "Bearer",
      }),
    }),
  );

  const control: ManagedIdentitySimControl = {
    failNext(status, count = 1, retryAfterSeconds) {
      for (let i = 0; i < count; i++) {
        failures.push(retryAfterSeconds === undefined ? { status } : { status, retryAfterSeconds });
      }
    },
    requests() {
      return seen.map((r) => ({ ...r }));
    },
  };

  /** A successful IMDS-style body (numbers as strings), as IMDS, Arc and Cloud Shell send it. */
  function imdsStyleToken(c: Context, token: string, expiresIn: number, resource: string) {
    const issued = Math.floor(now() / 1000);
    return c.json({
      access_token: token,
      refresh_token: "",
      expires_in: String(expiresIn),
      expires_on: String(issued + expiresIn),
      not_before: String(issued),
      resource,
      token_type: "Bearer",
    });
  }

  app.get(SERVICE_FABRIC_PATH, async (c) => {
    const given = c.req.header("secret");
    const headerOk = given === identityHeader;
    record(c, "service_fabric", headerOk);
    const fabricError = (status: number, code: string, message: string) =>
      c.json({ error: { correlationId: crypto.randomUUID(), code, message } }, status as 400);
    if (given === undefined) {
      return fabricError(
        400,
        "SecretHeaderNotFound",
        "Secret is not found in the request headers.",
      );
    }
    const apiVersion = c.req.query("api-version") ?? "";
    if (apiVersion !== "2019-07-01-preview") {
      return fabricError(
        400,
        "InvalidApiVersion",
        `The api-version '${apiVersion}' is not supported. Supported version is '2019-07-01-preview'.`,
      );
    }
    const resource = c.req.query("resource");
    if (!resource) {
      return fabricError(
        400,
        "ArgumentNullOrEmpty",
        "The parameter 'resource' should not be null or empty string.",
      );
    }
    const notFound = () =>
      fabricError(
        404,
        "ManagedIdentityNotFound",
        "Managed identity not found for the specified application host.",
      );
    if (!headerOk || !system) return notFound();
    const failure = injected(c, "service_fabric");
    if (failure) return failure;
    const minted = await entraToken(system, resource);
    if (!minted.ok) {
      return minted.status >= 500 || minted.status === 429
        ? fabricError(500, "InternalServerError", "An error occurred.")
        : fabricError(500, "InternalServerError", minted.description);
    }
    return c.json({
      token_type: "Bearer",
      access_token: minted.token,
      expires_on: Math.floor(now() / 1000) + minted.expiresIn,
      resource,
    });
  });

  app.get(AZURE_ARC_PATH, async (c) => {
    const headerOk = c.req.header("metadata") === "true";
    record(c, "azure_arc", headerOk);
    const arcError = (status: number, error: string, description: string) =>
      imdsErrorOf(c, status, error, description);
    if (options.arcKeyDirectory === undefined) return c.notFound();
    if (!headerOk) {
      return arcError(400, "bad_request_102", "Required metadata header not specified");
    }
    const apiVersion = c.req.query("api-version");
    if (apiVersion !== "2019-11-01" && apiVersion !== "2020-06-01") {
      return arcError(400, "invalid_request", `Unsupported api-version '${apiVersion ?? ""}'`);
    }
    const resource = c.req.query("resource");
    if (!resource) {
      return arcError(400, "invalid_request", "Required query variable 'resource' is missing");
    }
    if (c.req.query("client_id") || c.req.query("object_id") || c.req.query("msi_res_id")) {
      return arcError(400, "invalid_request", "User assigned identity is not supported");
    }
    const authorization = c.req.header("authorization");
    const presented = authorization?.match(/^Basic (.+)$/)?.[1];
    if (presented === undefined || !arcKeys.delete(presented)) {
      const key = crypto.randomUUID().replaceAll("-", "");
      const path = `${options.arcKeyDirectory}${crypto.randomUUID()}.key`;
      await Deno.writeTextFile(path, key);
      arcKeys.add(key);
      c.header("www-authenticate", `Basic realm=${path}`);
      return arcError(
        401,
        "unauthorized",
        "Authorization header with the key file's content required",
      );
    }
    const failure = injected(c, "azure_arc");
    if (failure) return failure;
    if (!system) return arcError(400, "invalid_request", "Identity not found");
    const minted = await entraToken(system, resource);
    if (!minted.ok) {
      return minted.status >= 500 || minted.status === 429
        ? arcError(500, "unknown", "Failed to retrieve token from the Active directory.")
        : arcError(400, "invalid_resource", minted.description);
    }
    return imdsStyleToken(c, minted.token, minted.expiresIn, resource);
  });

  app.post(CLOUD_SHELL_PATH, async (c) => {
    const headerOk = c.req.header("metadata") === "true";
    const type = c.req.header("content-type") ?? "";
    const form = type.startsWith("application/x-www-form-urlencoded")
      ? new URLSearchParams(await c.req.text())
      : new URLSearchParams();
    const resource = form.get("resource") ?? "";
    record(c, "cloud_shell", headerOk, resource);
    const shellError = (status: number, error: string, description: string) =>
      imdsErrorOf(c, status, error, description);
    if (!headerOk) {
      return shellError(400, "bad_request_102", "Required metadata header not specified");
    }
    if (!resource) {
      return shellError(400, "invalid_request", "Required form field 'resource' is missing");
    }
    const failure = injected(c, "cloud_shell");
    if (failure) return failure;
    if (!system) return shellError(400, "invalid_request", "Identity not found");
    const minted = await entraToken(system, resource);
    if (!minted.ok) {
      return minted.status >= 500 || minted.status === 429
        ? shellError(500, "unknown", "Failed to retrieve token.")
        : shellError(400, "invalid_resource", minted.description);
    }
    return imdsStyleToken(c, minted.token, minted.expiresIn, resource);
  });

  return { app, identityHeader, msiSecret, control };
}

/** Starts the simulator on 127.0.0.1 with a free port. */
export function startManagedIdentitySim(options: ManagedIdentitySimOptions): ManagedIdentitySim {
  const sim = createManagedIdentitySimApp(options);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, sim.app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    ...sim,
    url,
    imdsUrl: `${url}${IMDS_PATH}`,
    identityEndpoint: `${url}${APP_SERVICE_PATH}`,
    msi2017Endpoint: `${url}${APP_SERVICE_2017_PATH}`,
    serviceFabricEndpoint: `${url}${SERVICE_FABRIC_PATH}`,
    arcEndpoint: `${url}${AZURE_ARC_PATH}`,
    cloudShellEndpoint: `${url}${CLOUD_SHELL_PATH}`,
    close: () => server.shutdown(),
  };
}

/** `MM/DD/YYYY hh:mm:ss AM +00:00` (UTC), the shape of the App Service 2017 example's `expires_on`. */
function appService2017Date(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  const hour = d.getUTCHours();
  const half = hour < 12 ? "AM" : "PM";
  const hour12 = hour % 12 === 0 ? 12 : hour % 12;
  return `${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${d.getUTCFullYear()} ` +
    `${two(hour12)}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${half} +00:00`;
}

/** An IMDS-shaped error (`{"error": "...", "error_description": "..."}`), as IMDS, Arc and Cloud Shell send it. */
function imdsErrorOf(c: Context, status: number, error: string, description: string): Response {
  return c.json({ error, error_description: description }, status as 400);
}
