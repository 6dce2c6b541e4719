/**
 * Entra ID client-credentials token provider: client secret, certificate (signed client assertion)
 * or workload identity federation, on the v2 endpoint `{authority}/{tenant}/oauth2/v2.0/token`.
 * Tokens are cached per scope, refreshed ahead of expiry, and shared by concurrent callers.
 */
import * as v from "valibot";
import { getLogger } from "../log.ts";
import { HttpError } from "../runtime/errors.ts";
import { request, safeUrl } from "../runtime/http.ts";
import { backoffDelay, parseRetryAfter } from "../runtime/retry.ts";
import {
  type AssertionAlg,
  type AssertionSigner,
  buildClientAssertion,
  CredentialError,
  loadSigner,
} from "./assertion.ts";
import {
  ASSERTION_TIME_CODE,
  DEFAULT_SETTING_NAMES,
  type ErrorContext,
  type SettingNames,
  TokenError,
  tokenErrorFromResponse,
} from "./entra_errors.ts";
import { normalizeAuthority, tokenUrl } from "./scopes.ts";
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

export { scopeFor } from "./scopes.ts";
export { refreshAfterSeconds } from "./token_source_base.ts";
export { TokenError } from "./entra_errors.ts";
export type { TokenSource } from "./token_source.ts";

/** A client secret (the secret's value). */
export interface SecretCredential {
  /** Discriminator. */
  kind: "secret";
  /** The client secret value (`CLIENT_SECRET`). */
  secret: string;
}

/** A certificate uploaded to the app registration, with its RSA private key. */
export interface CertificateCredential {
  /** Discriminator. */
  kind: "certificate";
  /** The certificate in PEM (the first `CERTIFICATE` block is used). */
  certificatePem: string;
  /** The RSA private key in PEM (PKCS#8, or PKCS#1 which is converted). */
  privateKeyPem: string;
  /** `PS256` with `x5t#S256`, or `RS256` with `x5t`. @default "PS256" */
  alg?: AssertionAlg;
  /** The certificate's file, named in error messages. @default none */
  certificatePath?: string;
  /** The private key's file, named in error messages. @default none */
  privateKeyPath?: string;
}

/** Workload identity federation (AKS): an external token read from a file that rotates. */
export interface FederatedCredential {
  /** Discriminator. */
  kind: "federated";
  /** Path of the projected token (`AZURE_FEDERATED_TOKEN_FILE`); read at every token request. */
  tokenFile: string;
  /** Reads the file. @default Deno.readTextFile */
  readTextFile?: (path: string) => Promise<string>;
}

/** The three supported client credentials. */
export type ClientCredential = SecretCredential | CertificateCredential | FederatedCredential;

/** Options of {@linkcode TokenProvider} (`attempts` defaults to 4, `timeoutMs` to 30000). */
export interface TokenProviderOptions extends TokenSourceOptions {
  /** The Entra authority (`LOGIN_URL`), e.g. `https://login.microsoftonline.com`; trailing slash tolerated. */
  authority: string;
  /** Directory (tenant) id or verified domain (`TENANT_ID`). */
  tenantId: string;
  /** Application (client) id (`CLIENT_ID`). */
  clientId: string;
  /** How the app proves its identity. */
  credential: ClientCredential;
  /** Base backoff delay in ms. @default 500 */
  baseMs?: number;
  /** Largest wait between attempts in ms (also caps `Retry-After`). @default 30000 */
  capMs?: number;
  /** Setting names used in error messages (prefixed names when connectors share a process). @default DEFAULT_SETTING_NAMES */
  settings?: Partial<SettingNames>;
}

/** The success body of the token endpoint (v2 numbers, or v1 numeric strings). */
const TokenResponseSchema = v.object({
  access_token: v.pipe(v.string(), v.nonEmpty()),
  token_type: v.optional(v.string()),
  expires_in: NumberLike,
  refresh_in: v.optional(NumberLike),
});

/** Hands out Entra ID access tokens per scope, cached and refreshed ahead of expiry. */
export class TokenProvider extends TokenSourceBase implements TokenSource {
  /** The token endpoint this provider calls. */
  readonly tokenUrl: string;
  readonly #authority: string;
  readonly #tenantId: string;
  readonly #clientId: string;
  readonly #credential: ClientCredential;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #settings: SettingNames;
  #signer: Promise<AssertionSigner> | undefined;

  /** Checks the options; throws a {@linkcode TokenError} naming the setting when one is unusable. */
  constructor(options: TokenProviderOptions) {
    super(options, {
      logger: () => getLogger("microsoft", "token"),
      attempts: 4,
      timeoutMs: 30_000,
      logSubject: "Token request for {scope}",
    });
    this.#settings = { ...DEFAULT_SETTING_NAMES, ...options.settings };
    const s = this.#settings;
    this.#tenantId = options.tenantId.trim();
    this.#clientId = options.clientId.trim();
    this.#credential = options.credential;
    if (this.#tenantId === "") {
      throw configError(`Set ${s.tenantId} to the directory (tenant) id`, s.tenantId);
    }
    if (this.#clientId === "") {
      throw configError(`Set ${s.clientId} to the application (client) id`, s.clientId);
    }
    try {
      this.#authority = normalizeAuthority(options.authority);
    } catch (cause) {
      throw configError(
        `Set ${s.loginUrl} to an Entra authority such as https://login.microsoftonline.com ` +
          `(got "${options.authority}")`,
        s.loginUrl,
        cause,
      );
    }
    const credential = options.credential;
    if (credential.kind === "secret" && credential.secret.trim() === "") {
      throw configError(`Set ${s.secret} to the client secret's value`, s.secret);
    }
    if (credential.kind === "federated" && credential.tokenFile.trim() === "") {
      throw configError(
        `Set ${s.federatedTokenFile} to the projected token file`,
        s.federatedTokenFile,
      );
    }
    this.tokenUrl = tokenUrl(this.#authority, this.#tenantId);
    this.#baseMs = options.baseMs ?? 500;
    this.#capMs = options.capMs ?? 30_000;
  }

  /** Retries what Entra marks retryable, and a stale client assertion once at once. */
  protected retryDelay(
    error: TokenError,
    attempt: number,
    counts: RetryCounts,
  ): number | undefined {
    if (!error.retryable && error.code === ASSERTION_TIME_CODE && !counts["staleAssertion"]) {
      counts["staleAssertion"] = 1;
      return attempt >= this.attempts ? undefined : 0;
    }
    if (!error.retryable || attempt >= this.attempts) return undefined;
    return error.retryAfterMs !== undefined
      ? Math.min(error.retryAfterMs, this.#capMs)
      : backoffDelay(attempt, this.#baseMs, this.#capMs, this.random);
  }

  protected failureFields(scope: string, error: TokenError): Record<string, unknown> {
    return {
      scope,
      tenantId: this.#tenantId,
      clientId: this.#clientId,
      code: error.code,
      error: error.error,
      status: error.status,
      setting: error.setting,
      traceId: error.traceId,
      correlationId: error.correlationId,
    };
  }

  protected unexpected(caught: unknown): TokenError {
    return new TokenError(
      `Cannot get a token from ${safeUrl(this.tokenUrl)}: ${messageOf(caught)}`,
      { error: "unexpected", retryable: false },
      { cause: caught },
    );
  }

  #context(scope: string): ErrorContext {
    const credential = this.#credential;
    return {
      tenantId: this.#tenantId,
      clientId: this.#clientId,
      scope,
      authority: this.#authority,
      credential: credential.kind,
      certificatePath: credential.kind === "certificate" ? credential.certificatePath : undefined,
      privateKeyPath: credential.kind === "certificate" ? credential.privateKeyPath : undefined,
      tokenFile: credential.kind === "federated" ? credential.tokenFile : undefined,
      settings: this.#settings,
    };
  }

  async #credentialFields(): Promise<Record<string, string>> {
    const credential = this.#credential;
    switch (credential.kind) {
      case "secret":
        return { client_secret: credential.secret };
      case "certificate": {
        const signer = await this.#loadSigner(credential);
        const assertion = await buildClientAssertion(
          signer,
          { clientId: this.#clientId, audience: this.tokenUrl },
          { nowMs: this.now() },
        );
        return { client_assertion_type: JWT_BEARER, client_assertion: assertion };
      }
      case "federated":
        return {
          client_assertion_type: JWT_BEARER,
          client_assertion: await this.#readFederated(credential),
        };
    }
  }

  #loadSigner(credential: CertificateCredential): Promise<AssertionSigner> {
    this.#signer ??= loadSigner(credential.certificatePem, credential.privateKeyPem, {
      alg: credential.alg ?? "PS256",
    }).catch((cause: unknown) => {
      const s = this.#settings;
      const certificate = cause instanceof CredentialError && cause.part === "certificate";
      const setting = certificate ? s.certificatePath : s.privateKeyPath;
      const file = certificate ? credential.certificatePath : credential.privateKeyPath;
      throw configError(
        `Cannot use the certificate credential: ${messageOf(cause)}; fix ${setting}` +
          (file ? ` ("${file}")` : ""),
        setting,
        cause,
      );
    });
    return this.#signer;
  }

  async #readFederated(credential: FederatedCredential): Promise<string> {
    const read = credential.readTextFile ?? Deno.readTextFile;
    const setting = this.#settings.federatedTokenFile;
    let text: string;
    try {
      text = await read(credential.tokenFile);
    } catch (cause) {
      throw configError(
        `Cannot read the federated token file "${credential.tokenFile}": check ${setting} and ` +
          `that the workload identity webhook mounts the token`,
        setting,
        cause,
      );
    }
    const assertion = text.trim();
    if (assertion === "") {
      throw configError(
        `The federated token file "${credential.tokenFile}" is empty: check ${setting}`,
        setting,
      );
    }
    return assertion;
  }

  /** One request to the v2 token endpoint. */
  protected async requestOnce(scope: string): Promise<IssuedToken> {
    const startedAt = this.now();
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: this.#clientId,
      scope,
      ...(await this.#credentialFields()),
    });
    const requestId = crypto.randomUUID();
    let response;
    try {
      response = await request(this.tokenUrl, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "accept": "application/json",
          "client-request-id": requestId,
          "return-client-request-id": "true",
        },
        body: form.toString(),
      }, { timeoutMs: this.timeoutMs, ...(this.fetch ? { fetch: this.fetch } : {}) });
    } catch (cause) {
      throw new TokenError(
        `Cannot reach Entra ID at ${safeUrl(this.tokenUrl)}: ${messageOf(cause)}; check ` +
          `${this.#settings.loginUrl} and the network`,
        {
          error: "network",
          retryable: true,
          setting: this.#settings.loginUrl,
          correlationId: requestId,
        },
        { cause },
      );
    }
    if (response.status !== 200) {
      const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), this.now());
      throw tokenErrorFromResponse(response, {
        ...this.#context(scope),
        retryAfterMs,
      });
    }
    const json = jsonOf(response.text);
    const parsed = v.safeParse(TokenResponseSchema, json);
    if (
      !parsed.success || parsed.output.expires_in <= 0 ||
      (parsed.output.token_type !== undefined &&
        parsed.output.token_type.toLowerCase() !== "bearer")
    ) {
      throw new TokenError(
        `Entra ID at ${safeUrl(this.tokenUrl)} answered 200 without a usable bearer token and ` +
          `expires_in: check ${this.#settings.loginUrl}`,
        { error: "invalid_response", retryable: false, setting: this.#settings.loginUrl },
      );
    }
    const { expires_in: expiresIn, refresh_in: refreshIn } = parsed.output;
    const { token, refreshAfter } = issuedToken(
      parsed.output.access_token,
      startedAt,
      expiresIn,
      refreshIn,
    );
    this.logger.info(
      "Got a token for {scope} from tenant {tenantId}, valid for {expiresInSeconds} s, refresh in {refreshInSeconds} s",
      {
        scope,
        tenantId: this.#tenantId,
        clientId: this.#clientId,
        expiresInSeconds: expiresIn,
        refreshInSeconds: Math.round(refreshAfter),
        traceId: response.headers.get("x-ms-request-id") ?? undefined,
        correlationId: response.headers.get("client-request-id") ?? requestId,
      },
    );
    return token;
  }
}

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

function configError(message: string, setting: string, cause?: unknown): TokenError {
  return new TokenError(
    message,
    { error: "config", retryable: false, setting },
    cause === undefined ? undefined : { cause },
  );
}

/** Options of {@linkcode withTokenRetry}. */
export interface TokenRetryOptions {
  /** Aborts the token requests. @default none */
  signal?: AbortSignal;
}

/**
 * Runs `call(token)`; when it fails with an HTTP 401, drops the cached token, gets a new one and
 * runs `call` once more.
 */
export async function withTokenRetry<T>(
  source: TokenSource,
  scope: string,
  call: (token: string) => Promise<T>,
  options: TokenRetryOptions = {},
): Promise<T> {
  const token = await source.getToken(scope, options.signal);
  try {
    return await call(token);
  } catch (error) {
    if (!(error instanceof HttpError) || error.status !== 401) throw error;
    source.invalidate(scope);
    const fresh = await source.getToken(scope, options.signal);
    return await call(fresh);
  }
}
