/**
 * Entra ID simulator: the v2 client-credentials token endpoint on loopback, faithful to
 * `reference/microsoft.md` §1 and §8.1. It checks client secrets, certificate assertions and
 * federated (workload identity) tokens, answers errors in Entra's JSON shape with real AADSTS
 * codes, mints RS256 access tokens with its own key, and injects 5xx, latency and throttling.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import {
  calculateJwkThumbprint,
  compactVerify,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  exportJWK,
  generateKeyPair,
  importX509,
  type JWK,
  jwtVerify,
  SignJWT,
} from "jose";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import { certificateThumbprints, readCertificatePem } from "./entra_cert.ts";

/** The audience Entra requires in federated (workload identity) tokens. */
export const FEDERATED_AUDIENCE = "api://AzureADTokenExchange";

/** Resources (token audiences) the simulated tenants know by default. */
export const DEFAULT_RESOURCES: readonly string[] = [
  "https://graph.microsoft.com",
  "https://management.azure.com",
  "https://management.core.windows.net",
  "https://api.securitycenter.microsoft.com",
  "https://securitycenter.onmicrosoft.com/windowsatpservice",
  "https://graph.microsoft.us",
  "https://dod-graph.microsoft.us",
  "https://management.usgovcloudapi.net",
  "https://api-gcc.securitycenter.microsoft.us",
  "https://api-gov.securitycenter.microsoft.us",
  "https://microsoftgraph.chinacloudapi.cn",
  "https://management.chinacloudapi.cn",
];

/** A workload identity federation record of an app (issuer + subject + audience). */
export interface FederatedIdentity {
  /** The external issuer (e.g. the AKS OIDC issuer URL). */
  issuer: string;
  /** The subject (e.g. `system:serviceaccount:octi:connectors`). */
  subject: string;
  /** The accepted audience. @default "api://AzureADTokenExchange" */
  audience?: string;
  /** The issuer's public key that signs the external tokens. */
  key: CryptoKey | JWK;
}

/** An app registration (with its service principal) in a simulated tenant. */
export interface SimApp {
  /** Tenant id (GUID or domain) the app lives in; the tenant is created on first use. */
  tenantId: string;
  /** Application (client) id. */
  clientId: string;
  /** Client secret value. @default none (secrets rejected) */
  secret?: string;
  /** Answer AADSTS7000222 for the secret. @default false */
  secretExpired?: boolean;
  /** The uploaded certificate (PEM). @default none (assertions rejected) */
  certificatePem?: string;
  /** Application roles granted per resource, e.g. `{ "https://graph.microsoft.com": ["ThreatIndicators.ReadWrite.OwnedBy"] }`. @default {} */
  roles?: Record<string, string[]>;
  /** A federated identity credential. @default none */
  federated?: FederatedIdentity;
}

/** One token request as the simulator saw it. */
export interface SimTokenRequest {
  /** The tenant path segment. */
  tenant: string;
  /** The `client_id` form field ("" when absent). */
  clientId: string;
  /** The `scope` form field ("" when absent). */
  scope: string;
  /** The `grant_type` form field ("" when absent). */
  grant: string;
  /** How the client authenticated. */
  credential: "secret" | "assertion" | "none";
}

/** The claims the API simulators get from a verified access token. */
export interface VerifiedAccessToken {
  /** Tenant id. */
  tid: string;
  /** The calling app's client id. */
  appid: string;
  /** Granted application roles for the audience. */
  roles: string[];
  /** The audience the token was minted for. */
  aud: string;
}

/** Why {@linkcode EntraSim.verifyAccessToken} rejected a token. */
export class AccessTokenError extends Error {
  /** The error's name. */
  override name = "AccessTokenError";
  /** `expired`, `audience`, `signature` or `malformed`. */
  readonly reason: "expired" | "audience" | "signature" | "malformed";

  /** Builds the error with its reason. */
  constructor(
    message: string,
    reason: AccessTokenError["reason"],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.reason = reason;
  }
}

/** Fault injection and inspection. */
export interface EntraSimControl {
  /** The next `count` token requests answer `status` with `body` (object → JSON, string → raw). */
  failNext(status: number, count?: number, body?: unknown): void;
  /** Delays every token response by `ms` (through the injected sleep). */
  setLatencyMs(ms: number): void;
  /** The next `count` token requests answer 429 AADSTS90055 with `Retry-After`. */
  throttleNext(count: number, retryAfterSeconds: number): void;
  /**
   * An outage of any length on any clock: while `active()` is true every token request is answered
   * with `status` (5xx: AADSTS90033 temporarily_unavailable; 401: AADSTS7000215 invalid_client, as
   * for a wrong or expired secret) or with `body` when given.
   */
  failWhile(active: () => boolean, status: number, body?: unknown): void;
  /** Lifetime of minted access tokens (`expires_in`). */
  setTokenLifetimeSeconds(seconds: number): void;
  /** Token requests received so far, oldest first. */
  requests(): SimTokenRequest[];
}

/** The simulator's state and checks, without a listening server. */
export interface EntraSimApp {
  /** The Hono app serving `POST /{tenant}/oauth2/v2.0/token` and `GET /{tenant}/discovery/v2.0/keys`. */
  app: Hono;
  /** Adds or replaces an app registration. */
  registerApp(app: SimApp): void;
  /** Verifies a token minted by this simulator for one of the audiences; throws {@linkcode AccessTokenError}. */
  verifyAccessToken(token: string, audiences: string[]): Promise<VerifiedAccessToken>;
  /** The public signing keys (JWKS). */
  jwks(): Promise<{ keys: JWK[] }>;
  /** Fault injection and inspection. */
  control: EntraSimControl;
}

/** A running simulator. */
export interface EntraSim extends EntraSimApp {
  /** The authority base, e.g. `http://127.0.0.1:PORT` (use as `LOGIN_URL`). */
  url: string;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Options of {@linkcode createEntraSimApp} and {@linkcode startEntraSim}. */
export interface EntraSimOptions {
  /** The clock for minted tokens, assertion checks and verification. @default Date.now */
  now?: Now;
  /** The sleep used for injected latency. @default a real timer */
  sleep?: Sleep;
  /** Lifetime of minted access tokens in seconds. @default 3599 */
  tokenLifetimeSeconds?: number;
  /** Resources the tenants know; others answer AADSTS500011. @default DEFAULT_RESOURCES */
  resources?: readonly string[];
  /** Clock skew allowed on assertion `nbf`/`exp` in seconds. @default 300 */
  clockSkewSeconds?: number;
  /** Apps to register at start. @default [] */
  apps?: SimApp[];
}

interface StoredApp extends SimApp {
  certificate?: {
    /** The certificate re-encoded as PEM, for key import. */
    pem: string;
    /** Its SHA-1 (`x5t`) and SHA-256 (`x5t#S256`) thumbprints. */
    prints: Promise<{ x5t: string; x5tS256: string }>;
    /** Public keys imported per algorithm. */
    publicKeys: Map<string, Promise<CryptoKey>>;
  };
}

interface Failure {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i;
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Thrown inside the handler to answer with Entra's error JSON. */
class EntraReply extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code: number,
    readonly text: string,
  ) {
    super(text);
  }
}

function trimSlash(value: string): string {
  return value.replace(/\/+$/, "");
}

/** Builds the simulator's app and state; `startEntraSim` serves it on loopback. */
export function createEntraSimApp(options: EntraSimOptions = {}): EntraSimApp {
  const now = options.now ?? systemNow;
  const sleep = options.sleep ?? systemSleep;
  const skew = options.clockSkewSeconds ?? 300;
  const known = new Set((options.resources ?? DEFAULT_RESOURCES).map(trimSlash));
  let lifetime = options.tokenLifetimeSeconds ?? 3599;
  let latencyMs = 0;
  const failures: Failure[] = [];
  let outages: { active: () => boolean; status: number; body: () => unknown }[] = [];
  const seen: SimTokenRequest[] = [];
  const tenants = new Map<string, Map<string, StoredApp>>();
  const usedJtis = new Map<string, number>(); // `${clientId}:${jti}` → exp (s)
  const signing = generateKeyPair("RS256", { extractable: true }).then(async (pair) => {
    const jwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    return { ...pair, jwk: { ...jwk, kid, alg: "RS256", use: "sig" } as JWK, kid };
  });

  function registerApp(app: SimApp): void {
    const stored: StoredApp = { ...app };
    if (app.certificatePem) {
      const { der, pem } = readCertificatePem(app.certificatePem);
      const prints = certificateThumbprints(der);
      prints.catch(() => {});
      stored.certificate = { pem, prints, publicKeys: new Map() };
    }
    let apps = tenants.get(app.tenantId.toLowerCase());
    if (!apps) {
      apps = new Map();
      tenants.set(app.tenantId.toLowerCase(), apps);
    }
    apps.set(app.clientId.toLowerCase(), stored);
  }
  for (const app of options.apps ?? []) registerApp(app);

  function reply(
    c: Context,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): Response {
    const traceId = crypto.randomUUID();
    const requestId = c.req.header("client-request-id");
    const all: Record<string, string> = {
      "cache-control": "no-store, no-cache",
      "x-ms-request-id": traceId,
      ...(requestId ? { "client-request-id": requestId } : {}),
      ...headers,
    };
    if (typeof body === "string") {
      return new Response(body, { status, headers: { "content-type": "text/html", ...all } });
    }
    return new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json; charset=utf-8", ...all },
    });
  }

  function errorBody(c: Context, error: string, code: number, text: string): unknown {
    const traceId = crypto.randomUUID();
    const correlationId = c.req.header("client-request-id") ?? crypto.randomUUID();
    const timestamp = new Date(now()).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
    return {
      error,
      error_description: `AADSTS${code}: ${text}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ` +
        `${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${new URL(c.req.url).origin}/error?code=${code}`,
    };
  }

  function checkScope(scope: string, tenant: string): string {
    if (scope.trim() === "") {
      throw new EntraReply(
        400,
        "invalid_request",
        900144,
        "The request body must contain the following parameter: 'scope'.",
      );
    }
    const parts = scope.split(" ").filter((p) => p !== "");
    const resources = new Set<string>();
    for (const part of parts) {
      if (!part.endsWith("/.default")) {
        throw new EntraReply(
          400,
          "invalid_scope",
          1002012,
          `The provided value for scope ${part} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
        );
      }
      const resource = part.slice(0, -"/.default".length);
      if (!/^(https?|api):\/\/[^\s]+$/.test(resource) && !GUID.test(resource)) {
        throw new EntraReply(
          400,
          "invalid_scope",
          70011,
          `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${part} is not valid.`,
        );
      }
      resources.add(resource);
    }
    if (resources.size > 1) {
      throw new EntraReply(
        400,
        "invalid_scope",
        700022,
        `The provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`,
      );
    }
    const [resource] = [...resources];
    if (resource === undefined) {
      throw new EntraReply(
        400,
        "invalid_scope",
        70011,
        `The provided value for the input parameter 'scope' is not valid.`,
      );
    }
    if (!known.has(trimSlash(resource))) {
      throw new EntraReply(
        400,
        "invalid_resource",
        500011,
        `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
      );
    }
    return resource;
  }

  async function checkAssertion(
    assertion: string,
    app: StoredApp,
    audience: string,
  ): Promise<void> {
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(assertion) as Record<string, unknown>;
      claims = decodeJwt(assertion) as Record<string, unknown>;
    } catch {
      throw new EntraReply(400, "invalid_request", 50027, "JWT token is invalid or malformed.");
    }
    const nowSeconds = Math.floor(now() / 1000);
    const x5t = header["x5t"];
    const x5tS256 = header["x5t#S256"];
    if (typeof x5t !== "string" && typeof x5tS256 !== "string") {
      await checkFederated(assertion, app, claims, nowSeconds);
      return;
    }
    const certificate = app.certificate;
    const prints = await certificate?.prints;
    const matches = prints !== undefined &&
      (typeof x5tS256 === "string" ? x5tS256 === prints.x5tS256 : x5t === prints.x5t);
    if (!certificate || !matches) {
      throw new EntraReply(
        401,
        "invalid_client",
        700027,
        `Client assertion failed signature validation. (Reason - The key was not found., Thumbprint of key used by client: '${
          String(x5tS256 ?? x5t)
        }'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.)`,
      );
    }
    const alg = header["alg"];
    if (alg !== "PS256" && alg !== "RS256") {
      throw new EntraReply(
        401,
        "invalid_client",
        700027,
        `Client assertion failed signature validation. (Reason - The algorithm '${
          String(alg)
        }' is not supported.)`,
      );
    }
    let publicKey = certificate.publicKeys.get(alg);
    if (!publicKey) {
      publicKey = importX509(certificate.pem, alg);
      certificate.publicKeys.set(alg, publicKey);
    }
    try {
      // Only the signature here: the claims are checked below with Entra's own codes.
      await compactVerify(assertion, await publicKey, { algorithms: [alg] });
    } catch {
      throw new EntraReply(
        401,
        "invalid_client",
        700027,
        "Client assertion failed signature validation. (Reason - The provided signature value did not match the expected signature value.)",
      );
    }
    if (claims["aud"] !== audience) {
      throw new EntraReply(
        401,
        "invalid_client",
        700027,
        `Client assertion audience claim does not match Realm issuer. Expected '${audience}', got '${
          String(claims["aud"])
        }'.`,
      );
    }
    if (claims["iss"] !== app.clientId || claims["sub"] !== app.clientId) {
      throw new EntraReply(
        401,
        "invalid_client",
        700021,
        "Client assertion application identifier doesn't match 'client_id' parameter. The 'iss' and 'sub' claims must both be the client id.",
      );
    }
    const nbf = typeof claims["nbf"] === "number" ? claims["nbf"] : undefined;
    const exp = typeof claims["exp"] === "number" ? claims["exp"] : undefined;
    if (
      exp === undefined || nbf === undefined || nowSeconds > exp + skew || nowSeconds < nbf - skew
    ) {
      throw new EntraReply(
        401,
        "invalid_client",
        700024,
        `Client assertion is not within its valid time range. Current time: ${
          new Date(nowSeconds * 1000).toISOString()
        }, assertion valid from ${
          nbf === undefined ? "?" : new Date(nbf * 1000).toISOString()
        }, expiry time of assertion ${
          exp === undefined ? "?" : new Date(exp * 1000).toISOString()
        }.`,
      );
    }
    const jti = claims["jti"];
    if (typeof jti !== "string" || jti === "") {
      throw new EntraReply(
        401,
        "invalid_client",
        700027,
        "Client assertion contains no 'jti' claim.",
      );
    }
    for (const [key, expiry] of usedJtis) if (expiry + skew < nowSeconds) usedJtis.delete(key);
    const key = `${app.clientId.toLowerCase()}:${jti}`;
    if (usedJtis.has(key)) {
      // Simulator rule (stricter than Entra, which tolerates reuse): a jti is accepted once.
      throw new EntraReply(
        401,
        "invalid_client",
        700024,
        `Client assertion with jti '${jti}' has already been used: build a new assertion.`,
      );
    }
    usedJtis.set(key, exp);
  }

  async function checkFederated(
    assertion: string,
    app: StoredApp,
    claims: Record<string, unknown>,
    nowSeconds: number,
  ): Promise<void> {
    const federated = app.federated;
    if (!federated || claims["iss"] !== federated.issuer) {
      throw new EntraReply(
        400,
        "invalid_request",
        700211,
        `No matching federated identity record found for presented assertion issuer '${
          String(claims["iss"])
        }'.`,
      );
    }
    const audience = federated.audience ?? FEDERATED_AUDIENCE;
    const aud = claims["aud"];
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (!audiences.includes(audience)) {
      throw new EntraReply(
        400,
        "invalid_request",
        700212,
        `No matching federated identity record found for presented assertion audience '${
          String(aud)
        }'.`,
      );
    }
    if (claims["sub"] !== federated.subject) {
      throw new EntraReply(
        400,
        "invalid_request",
        70021,
        `No matching federated identity record found for presented assertion. Assertion Issuer: '${federated.issuer}'. Assertion Subject: '${
          String(claims["sub"])
        }'.`,
      );
    }
    try {
      await compactVerify(assertion, federated.key);
    } catch {
      throw new EntraReply(
        401,
        "invalid_client",
        700027,
        "Client assertion failed signature validation. (Reason - the federated token's signature does not verify with the issuer's key.)",
      );
    }
    const exp = typeof claims["exp"] === "number" ? claims["exp"] : undefined;
    const nbf = typeof claims["nbf"] === "number" ? claims["nbf"] : undefined;
    if (
      exp === undefined || nowSeconds > exp + skew || (nbf !== undefined && nowSeconds < nbf - skew)
    ) {
      throw new EntraReply(
        400,
        "invalid_client",
        700024,
        "Client assertion is not within its valid time range.",
      );
    }
  }

  async function mint(tenant: string, app: StoredApp, resource: string): Promise<string> {
    const { privateKey, kid } = await signing;
    const iat = Math.floor(now() / 1000);
    return await new SignJWT({
      roles: app.roles?.[resource] ?? app.roles?.[trimSlash(resource)] ?? [],
      tid: tenant,
      appid: app.clientId,
      azp: app.clientId,
      idtyp: "app",
      ver: "1.0",
    })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid })
      .setIssuer(`https://sts.windows.net/${tenant}/`)
      .setAudience(resource)
      .setSubject(app.clientId)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + lifetime)
      .setJti(crypto.randomUUID())
      .sign(privateKey);
  }

  async function handleToken(c: Context): Promise<Response> {
    const tenant = c.req.param("tenant") ?? "";
    const contentType = c.req.header("content-type") ?? "";
    const text = await c.req.text();
    const form = contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")
      ? new URLSearchParams(text)
      : new URLSearchParams();
    const assertion = form.get("client_assertion");
    const basic = parseBasic(c.req.header("authorization"));
    const secret = form.get("client_secret") ?? basic?.secret ?? null;
    const clientId = form.get("client_id") ?? basic?.clientId ?? "";
    const scope = form.get("scope") ?? "";
    seen.push({
      tenant,
      clientId,
      scope,
      grant: form.get("grant_type") ?? "",
      credential: assertion !== null ? "assertion" : secret !== null ? "secret" : "none",
    });
    if (latencyMs > 0) await sleep(latencyMs);
    outages = outages.filter((o) => o.active());
    const outage = outages[0];
    if (outage) return reply(c, outage.status, outage.body());
    const failure = failures.shift();
    if (failure) return reply(c, failure.status, failure.body, failure.headers);
    try {
      const lowerTenant = tenant.toLowerCase();
      if (["common", "consumers", "organizations"].includes(lowerTenant)) {
        throw new EntraReply(
          400,
          "invalid_request",
          9001023,
          `The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.`,
        );
      }
      if (!GUID.test(tenant) && !DOMAIN.test(tenant)) {
        throw new EntraReply(
          400,
          "invalid_request",
          900023,
          `Specified tenant identifier '${tenant}' is neither a valid DNS name, nor a valid external domain.`,
        );
      }
      const apps = tenants.get(lowerTenant);
      if (!apps) {
        throw new EntraReply(
          400,
          "invalid_request",
          90002,
          `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
        );
      }
      const grant = form.get("grant_type");
      if (grant === null) {
        throw new EntraReply(
          400,
          "invalid_request",
          900144,
          "The request body must contain the following parameter: 'grant_type'.",
        );
      }
      if (grant !== "client_credentials") {
        throw new EntraReply(
          400,
          "unsupported_grant_type",
          70003,
          `The app requested an unsupported grant type '${grant}'.`,
        );
      }
      if (form.has("resource")) {
        throw new EntraReply(
          400,
          "invalid_request",
          901002,
          "The 'resource' request parameter is not supported.",
        );
      }
      if (clientId === "") {
        throw new EntraReply(
          400,
          "invalid_request",
          900144,
          "The request body must contain the following parameter: 'client_id'.",
        );
      }
      const app = apps.get(clientId.toLowerCase());
      if (!app) {
        throw new EntraReply(
          400,
          "unauthorized_client",
          700016,
          `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
        );
      }
      const resource = checkScope(scope, tenant);
      if (assertion !== null) {
        if (form.get("client_assertion_type") !== JWT_BEARER) {
          throw new EntraReply(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_assertion_type'.",
          );
        }
        const url = new URL(c.req.url);
        await checkAssertion(assertion, app, `${url.origin}${url.pathname}`);
      } else if (secret !== null) {
        if (app.secret === undefined || secret !== app.secret) {
          throw new EntraReply(
            401,
            "invalid_client",
            7000215,
            `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
          );
        }
        if (app.secretExpired) {
          throw new EntraReply(
            401,
            "invalid_client",
            7000222,
            `The provided client secret keys for app '${app.clientId}' are expired. Visit the Azure portal to create new keys for your app.`,
          );
        }
      } else {
        throw new EntraReply(
          400,
          "invalid_request",
          7000218,
          "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
      }
      const accessToken = await mint(tenant, app, resource);
      return reply(c, 200, {
        token_type: "Bearer",
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token: accessToken,
      });
    } catch (error) {
      if (!(error instanceof EntraReply)) throw error;
      return reply(c, error.status, errorBody(c, error.error, error.code, error.text));
    }
  }

  const app = new Hono();
  app.post("/:tenant/oauth2/v2.0/token", handleToken);
  app.get("/:tenant/discovery/v2.0/keys", async (c) => c.json(await jwks()));
  app.get("/:tenant/discovery/keys", async (c) => c.json(await jwks()));

  async function jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [(await signing).jwk] };
  }

  async function verifyAccessToken(
    token: string,
    audiences: string[],
  ): Promise<VerifiedAccessToken> {
    const { publicKey } = await signing;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, publicKey, {
        algorithms: ["RS256"],
        audience: audiences,
        currentDate: new Date(now()),
      }));
    } catch (cause) {
      if (cause instanceof joseErrors.JWTExpired) {
        throw new AccessTokenError("The access token has expired", "expired", { cause });
      }
      if (cause instanceof joseErrors.JWTClaimValidationFailed) {
        const reason = cause.claim === "aud"
          ? "audience"
          : cause.claim === "nbf"
          ? "expired"
          : "malformed";
        throw new AccessTokenError(
          cause.claim === "aud"
            ? `The access token was minted for another audience (expected ${
              audiences.join(" or ")
            })`
            : `The access token's "${cause.claim}" claim is not valid`,
          reason,
          { cause },
        );
      }
      if (cause instanceof joseErrors.JWSSignatureVerificationFailed) {
        throw new AccessTokenError("The access token's signature is not valid", "signature", {
          cause,
        });
      }
      throw new AccessTokenError("The access token is malformed", "malformed", { cause });
    }
    const { tid, appid, roles, aud } = payload;
    if (typeof tid !== "string" || typeof appid !== "string" || typeof aud !== "string") {
      throw new AccessTokenError("The access token lacks tid, appid or aud", "malformed");
    }
    return {
      tid,
      appid,
      aud,
      roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === "string") : [],
    };
  }

  const outageBody = (status: number): unknown =>
    status === 401
      ? {
        error: "invalid_client",
        error_description: "AADSTS7000215: Invalid client secret provided. Ensure the secret " +
          "being sent in the request is the client secret value, not the client secret ID.",
        error_codes: [7000215],
        trace_id: crypto.randomUUID(),
        correlation_id: crypto.randomUUID(),
      }
      : {
        error: "temporarily_unavailable",
        error_description: "AADSTS90033: A transient error has occurred. Please try again.",
        error_codes: [90033],
        trace_id: crypto.randomUUID(),
        correlation_id: crypto.randomUUID(),
      };
  const control: EntraSimControl = {
    failWhile(active, status, body) {
      outages.push({ active, status, body: () => body ?? outageBody(status) });
    },
    failNext(status, count = 1, body) {
      for (let i = 0; i < count; i++) {
        failures.push({
          status,
          body: body ?? {
            error: "temporarily_unavailable",
            error_description: "AADSTS90033: A transient error has occurred. Please try again.",
            error_codes: [90033],
            trace_id: crypto.randomUUID(),
            correlation_id: crypto.randomUUID(),
          },
        });
      }
    },
    setLatencyMs(ms) {
      latencyMs = Math.max(0, ms);
    },
    throttleNext(count, retryAfterSeconds) {
      for (let i = 0; i < count; i++) {
        failures.push({
          status: 429,
          headers: { "retry-after": String(retryAfterSeconds) },
          body: {
            error: "temporarily_unavailable",
            error_description: "AADSTS90055: TenantThrottlingError - There are too many incoming " +
              "requests. This exception is thrown for blocked tenants.",
            error_codes: [90055],
            trace_id: crypto.randomUUID(),
            correlation_id: crypto.randomUUID(),
          },
        });
      }
    },
    setTokenLifetimeSeconds(seconds) {
      lifetime = seconds;
    },
    requests() {
      return seen.map((r) => ({ ...r }));
    },
  };

  return { app, registerApp, verifyAccessToken, jwks, control };
}

function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? "");
  if (!match?.[1]) return undefined;
  try {
    const decoded = atob(match[1]);
    const colon = decoded.indexOf(":");
    if (colon < 0) return undefined;
    return {
      clientId: decodeURIComponent(decoded.slice(0, colon)),
      secret: decodeURIComponent(decoded.slice(colon + 1)),
    };
  } catch {
    return undefined;
  }
}

/** Starts the simulator on 127.0.0.1 with a free port. */
export async function startEntraSim(options: EntraSimOptions = {}): Promise<EntraSim> {
  const sim = createEntraSimApp(options);
  await sim.jwks(); // the signing key exists before the first request
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, sim.app.fetch);
  return {
    ...sim,
    url: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}
