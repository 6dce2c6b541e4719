/** Entra ID error responses: parsing, classification, and messages that name the setting to fix. */
import * as v from "valibot";

/** The configuration variable names used in messages (renamed when both connectors share a process). */
export interface SettingNames {
  /** Tenant setting. @default "TENANT_ID" */
  tenantId: string;
  /** Client id setting. @default "CLIENT_ID" */
  clientId: string;
  /** Client secret setting. @default "CLIENT_SECRET" */
  secret: string;
  /** Authority setting. @default "LOGIN_URL" */
  loginUrl: string;
  /** Certificate file setting. @default "CLIENT_CERTIFICATE_PATH" */
  certificatePath: string;
  /** Private key file setting. @default "CLIENT_PRIVATE_KEY_PATH" */
  privateKeyPath: string;
  /** Federated token file setting. @default "AZURE_FEDERATED_TOKEN_FILE" */
  federatedTokenFile: string;
  /** Resource URL setting. @default "RESOURCE_URL" */
  resource: string;
}

/** The default setting names, as in the upstream connectors and the sample config. */
export const DEFAULT_SETTING_NAMES: Readonly<SettingNames> = {
  tenantId: "TENANT_ID",
  clientId: "CLIENT_ID",
  secret: "CLIENT_SECRET",
  loginUrl: "LOGIN_URL",
  certificatePath: "CLIENT_CERTIFICATE_PATH",
  privateKeyPath: "CLIENT_PRIVATE_KEY_PATH",
  federatedTokenFile: "AZURE_FEDERATED_TOKEN_FILE",
  resource: "RESOURCE_URL",
};

/** Fields of a {@linkcode TokenError}. */
export interface TokenErrorFields {
  /** The AADSTS number (`error_codes[0]`), when Entra sent one. */
  code?: number | undefined;
  /** The OAuth `error` value, or `http_<status>` / `network` / `config` when there is none. */
  error: string;
  /** Entra's `trace_id`. */
  traceId?: string | undefined;
  /** Entra's `correlation_id`. */
  correlationId?: string | undefined;
  /** The configuration variable to fix, when a setting is at fault. */
  setting?: string | undefined;
  /** True when another attempt can succeed (throttling, 5xx, network). */
  retryable: boolean;
  /** The HTTP status of the token response, when there was one. */
  status?: number | undefined;
  /** The server-requested wait (`Retry-After`) in ms. */
  retryAfterMs?: number | undefined;
}

/** A token request that failed; the message says what to fix. */
export class TokenError extends Error {
  /** The error's name. */
  override name = "TokenError";
  /** The AADSTS number, when Entra sent one. */
  readonly code: number | undefined;
  /** The OAuth `error` value (or `http_<status>`, `network`, `config`). */
  readonly error: string;
  /** Entra's trace id, for support requests. */
  readonly traceId: string | undefined;
  /** Entra's correlation id (echoes our `client-request-id`). */
  readonly correlationId: string | undefined;
  /** The configuration variable to fix, if a setting is at fault. */
  readonly setting: string | undefined;
  /** True when another attempt can succeed. */
  readonly retryable: boolean;
  /** HTTP status of the token response, if any. */
  readonly status: number | undefined;
  /** Server-requested wait in ms, if any. */
  readonly retryAfterMs: number | undefined;

  /** Builds the error from its message and fields. */
  constructor(message: string, fields: TokenErrorFields, options?: ErrorOptions) {
    super(message, options);
    this.code = fields.code;
    this.error = fields.error;
    this.traceId = fields.traceId;
    this.correlationId = fields.correlationId;
    this.setting = fields.setting;
    this.retryable = fields.retryable;
    this.status = fields.status;
    this.retryAfterMs = fields.retryAfterMs;
  }
}

/** Entra's error body (v1 and v2 token endpoints). */
export const EntraErrorBodySchema = v.object({
  error: v.string(),
  error_description: v.optional(v.string()),
  error_codes: v.optional(v.array(v.number())),
  timestamp: v.optional(v.string()),
  trace_id: v.optional(v.string()),
  correlation_id: v.optional(v.string()),
  error_uri: v.optional(v.string()),
});

/** A parsed Entra error body. */
export type EntraErrorBody = v.InferOutput<typeof EntraErrorBodySchema>;

/** Parses a token-endpoint response text as Entra's error JSON; undefined when it is not one. */
export function parseEntraError(text: string): EntraErrorBody | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const result = v.safeParse(EntraErrorBodySchema, json);
  return result.success ? result.output : undefined;
}

/** AADSTS codes that heal with time: throttling and transient directory errors. */
export const TRANSIENT_CODES: ReadonlySet<number> = new Set([90055, 90024, 90006, 90033]);

/** AADSTS code of a stale client assertion: retried once with a freshly built assertion. */
export const ASSERTION_TIME_CODE = 700024;

/** What the classifier needs to know about the failed request. */
export interface ErrorContext {
  /** Tenant id or domain as configured. */
  tenantId: string;
  /** Application (client) id as configured. */
  clientId: string;
  /** The requested scope. */
  scope: string;
  /** The authority (LOGIN_URL) used. */
  authority: string;
  /** The credential kind in use. */
  credential: "secret" | "certificate" | "federated";
  /** The certificate file, for messages about certificates. */
  certificatePath?: string | undefined;
  /** The private key file, for messages about certificates. */
  privateKeyPath?: string | undefined;
  /** The federated token file, for messages about workload identity. */
  tokenFile?: string | undefined;
  /** Setting names to use in messages. */
  settings: SettingNames;
}

interface Advice {
  setting?: string;
  text: string;
  retryable?: boolean;
}

function named(setting: string, value: string | undefined): string {
  return value ? `${setting} ("${value}")` : setting;
}

function adviceFor(code: number, ctx: ErrorContext): Advice | undefined {
  const s = ctx.settings;
  const resource = ctx.scope.replace(/\/\.default$/, "");
  const certificate = named(s.certificatePath, ctx.certificatePath);
  const tokenFile = named(s.federatedTokenFile, ctx.tokenFile);
  switch (code) {
    case 7000215:
      return {
        setting: s.secret,
        text: `${s.secret} is wrong for app "${ctx.clientId}": set it to the secret's value ` +
          `(shown once when created), not its secret id`,
      };
    case 7000222:
      return {
        setting: s.secret,
        text: `${s.secret} of app "${ctx.clientId}" has expired: create a new client secret ` +
          `in the app registration and set ${s.secret} to its value`,
      };
    case 700016:
      return {
        setting: s.clientId,
        text: `${s.clientId} "${ctx.clientId}" was not found in tenant ${s.tenantId} ` +
          `"${ctx.tenantId}": check both ids, and that the app is registered or consented there`,
      };
    case 90002:
      return {
        setting: s.tenantId,
        text:
          `${s.tenantId} "${ctx.tenantId}" was not found at ${s.loginUrl} "${ctx.authority}": ` +
          `check the tenant id, or set ${s.loginUrl} to the tenant's cloud (national clouds ` +
          `have their own sign-in host)`,
      };
    case 900023:
      return {
        setting: s.tenantId,
        text:
          `${s.tenantId} "${ctx.tenantId}" is neither a GUID nor a verified domain: set it to ` +
          `the directory (tenant) id`,
      };
    case 9001023:
      return {
        setting: s.tenantId,
        text: `${s.tenantId} "${ctx.tenantId}" cannot be "common" or "consumers" for an app ` +
          `sign-in: set it to the directory (tenant) id`,
      };
    case 90038:
    case 900432:
      return {
        setting: s.loginUrl,
        text: `tenant "${ctx.tenantId}" lives in another cloud than ${s.loginUrl} ` +
          `"${ctx.authority}": set ${s.loginUrl} to that cloud's sign-in host`,
      };
    case 700027:
      if (ctx.credential === "federated") {
        return {
          setting: s.federatedTokenFile,
          text: `the token in ${tokenFile} failed signature validation: check the workload ` +
            `identity setup (issuer keys) of app "${ctx.clientId}"`,
        };
      }
      return {
        setting: s.certificatePath,
        text: `the certificate in ${certificate} is not uploaded to app "${ctx.clientId}", or ` +
          `${named(s.privateKeyPath, ctx.privateKeyPath)} holds another key: upload the ` +
          `certificate under "Certificates & secrets" and pair it with its own private key`,
      };
    case ASSERTION_TIME_CODE:
      if (ctx.credential === "federated") {
        return {
          setting: s.federatedTokenFile,
          text: `the token in ${tokenFile} is expired or not yet valid: check that the file ` +
            `is being rotated`,
        };
      }
      return {
        setting: s.certificatePath,
        text: `the client assertion signed with ${certificate} is outside its validity window: ` +
          `check this machine's clock`,
      };
    case 700021:
      return {
        setting: s.clientId,
        text: `the client assertion's issuer or subject does not match ${s.clientId} ` +
          `"${ctx.clientId}": check the client id`,
      };
    case 70021:
    case 700211:
    case 700212:
    case 700213:
      return {
        setting: s.federatedTokenFile,
        text: `no federated credential of app "${ctx.clientId}" matches the token in ` +
          `${tokenFile}: add one with that token's issuer, subject and audience ` +
          `"api://AzureADTokenExchange"`,
      };
    case 7000218:
      return { text: "the request carried no client credential (a bug): report it" };
    case 70011:
    case 1002012:
    case 700022:
    case 901002:
      return {
        setting: s.resource,
        text: `the scope "${ctx.scope}" is not valid: set ${s.resource} to one resource URL ` +
          `such as https://graph.microsoft.com`,
      };
    case 500011:
      return {
        setting: s.resource,
        text: `the service principal of resource "${resource}" is missing in tenant ` +
          `"${ctx.tenantId}": provision or consent the API in the tenant (for Defender, ` +
          `"WindowsDefenderATP"), or fix ${s.resource}`,
      };
    case 7000112:
      return {
        setting: s.clientId,
        text: `app "${ctx.clientId}" is disabled: enable it, or set ${s.clientId} to another app`,
      };
    default:
      return TRANSIENT_CODES.has(code)
        ? { text: "Entra ID is throttling or briefly unavailable: retrying", retryable: true }
        : undefined;
  }
}

/** The first line of an error description (drops Entra's trailing Trace ID/Correlation ID lines). */
function firstLine(description: string | undefined): string {
  return (description ?? "").split(/\r?\n/)[0]?.trim() ?? "";
}

/** Turns a failed token response into a {@linkcode TokenError} with advice. */
export function tokenErrorFromResponse(
  response: { status: number; text: string },
  ctx: ErrorContext & { retryAfterMs?: number | undefined },
): TokenError {
  const { status, text } = response;
  const body = parseEntraError(text);
  const statusRetryable = status === 408 || status === 429 || status >= 500;
  const prefix = `Cannot get a token for "${ctx.scope}" from tenant "${ctx.tenantId}"`;
  if (!body) {
    return new TokenError(
      `${prefix}: Entra ID answered HTTP ${status} without an error body` +
        (statusRetryable ? "" : `; check ${ctx.settings.loginUrl} "${ctx.authority}"`),
      {
        error: `http_${status}`,
        retryable: statusRetryable,
        status,
        retryAfterMs: ctx.retryAfterMs,
        setting: statusRetryable ? undefined : ctx.settings.loginUrl,
      },
    );
  }
  const code = body.error_codes?.[0];
  const advice = code === undefined ? undefined : adviceFor(code, ctx);
  const retryable = advice?.retryable === true || statusRetryable ||
    body.error === "temporarily_unavailable";
  const ids = [
    body.trace_id ? `trace ID ${body.trace_id}` : "",
    body.correlation_id ? `correlation ID ${body.correlation_id}` : "",
  ].filter(Boolean).join(", ");
  const aadsts = code === undefined ? body.error : `AADSTS${code} ${body.error}`;
  const detail = advice?.text ?? firstLine(body.error_description).replace(/^AADSTS\d+:\s*/, "");
  const message = `${prefix} (${aadsts}): ${detail}${ids ? ` [${ids}]` : ""}`;
  return new TokenError(message, {
    code,
    error: body.error,
    traceId: body.trace_id,
    correlationId: body.correlation_id,
    setting: advice?.setting,
    retryable,
    status,
    retryAfterMs: ctx.retryAfterMs,
  });
}
