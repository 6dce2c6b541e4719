/** The OpenCTI GraphQL client: bearer auth, typed errors, retries, version gating. */
import * as v from "valibot";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import { excerpt, type Fetch, httpError, request, safeUrl } from "../runtime/http.ts";
import { isRetryable, retry } from "../runtime/retry.ts";
import { getLogger } from "../log.ts";
import { atLeast, comparePlatformVersions, parsePlatformVersion } from "./version.ts";
import {
  OpenCtiAuthError,
  OpenCtiGraphqlError,
  OpenCtiResponseError,
  OpenCtiVersionError,
} from "./errors.ts";
import { errorMessage } from "../runtime/errors.ts";

/**
 * The oldest platform this program talks to (5.0.0; each connector states its own minimum in
 * `CONNECTOR_MINIMUM` of `version.ts`; below 6.3.0 bundles go over AMQP).
 */
export const MINIMUM_VERSION = "5.0.0";

/** Retry settings of the client (the clock, sleep and signal come from the client). */
export interface OpenCtiRetryOptions {
  /** Total attempts including the first. @default 5 */
  attempts?: number;
  /** Base delay of the exponential backoff in ms. @default 500 */
  baseMs?: number;
  /** Largest delay between two attempts in ms. @default 30000 */
  capMs?: number;
  /** Random source in [0, 1) for jitter. @default Math.random */
  random?: () => number;
}

/** Options of {@linkcode OpenCtiClient}. */
export interface OpenCtiClientOptions {
  /** Platform base URL (with the `app:base_path` if any), e.g. `https://opencti.example.com`. */
  url: string;
  /** A user's API token (`OPENCTI_TOKEN`). */
  token: string;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep used between retries. @default a real timer */
  sleep?: Sleep;
  /** Time allowed for one request in ms (pycti uses 300 s). @default 120000 */
  timeoutMs?: number;
  /** Largest response accepted, in bytes. @default 52428800 (50 MiB) */
  maxBytes?: number;
  /** Retry settings for network errors and 5xx. @default {} (5 attempts, 500 ms base) */
  retry?: OpenCtiRetryOptions;
  /** `User-Agent` header. @default "octi-connectors" */
  userAgent?: string;
}

/** Options of one {@linkcode OpenCtiClient.request} call. */
export interface GraphqlRequestOptions {
  /** Operation variables. @default {} */
  variables?: Record<string, unknown>;
  /** Aborts the request and its retries. @default none */
  signal?: AbortSignal;
  /** Name used in errors and logs. @default the first top-level field of the operation */
  operation?: string;
}

const EnvelopeSchema = v.object({
  data: v.optional(v.unknown()),
  errors: v.optional(v.array(v.unknown())),
});

const AboutSchema = v.object({ about: v.object({ version: v.string() }) });

/** Talks GraphQL to one OpenCTI platform. */
export class OpenCtiClient {
  /** The platform base URL without a trailing slash. */
  readonly url: string;
  readonly #token: string;
  readonly #fetch: Fetch;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #retry: OpenCtiRetryOptions;
  readonly #userAgent: string;
  readonly #logger = getLogger("opencti", "graphql");
  #version: string | undefined;

  /** Builds a client; no request is sent until the first call. */
  constructor(options: OpenCtiClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.#token = options.token;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#maxBytes = options.maxBytes ?? 50 * 1024 * 1024;
    this.#retry = options.retry ?? {};
    this.#userAgent = options.userAgent ?? "octi-connectors";
  }

  /** The platform version read by {@linkcode about}, or undefined before the first call. */
  get version(): string | undefined {
    return this.#version;
  }

  /** Sends one operation and returns its `data` parsed with `schema`; throws typed errors. */
  async request<S extends v.GenericSchema>(
    query: string,
    schema: S,
    options: GraphqlRequestOptions = {},
  ): Promise<v.InferOutput<S>> {
    const operation = options.operation ?? firstField(query);
    const endpoint = `${this.url}/graphql`;
    const body = JSON.stringify({ query, variables: options.variables ?? {} });
    const response = await retry(async () => {
      const res = await request(endpoint, {
        method: "POST",
        headers: {
          "authorization": `Bearer ${this.#token}`,
          "content-type": "application/json",
          "accept": "application/json",
          "user-agent": this.#userAgent,
        },
        body,
      }, {
        fetch: this.#fetch,
        timeoutMs: this.#timeoutMs,
        maxBytes: this.#maxBytes,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (res.status === 401 || res.status === 403) {
        throw new OpenCtiAuthError(
          `OPENCTI_TOKEN was rejected by ${safeUrl(endpoint)}: HTTP ${res.status}. ` +
            `Set OPENCTI_TOKEN to the API token of an active OpenCTI user`,
        );
      }
      if (res.status >= 500 || res.status === 408 || res.status === 429) {
        throw httpError(res, `OpenCTI ${operation}`);
      }
      return res;
    }, {
      ...this.#retry,
      now: this.#now,
      sleep: this.#sleep,
      shouldRetry: (error) => !(error instanceof OpenCtiAuthError) && isRetryable(error),
      onRetry: ({ attempt, delayMs, error }) =>
        this.#logger.warn(
          "OpenCTI {operation} failed (attempt {attempt}), retrying in {delayMs} ms: {error}",
          {
            operation,
            attempt,
            delayMs,
            error: errorMessage(error),
          },
        ),
      ...(options.signal ? { signal: options.signal } : {}),
    });

    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch (cause) {
      if (response.status < 200 || response.status >= 300) {
        throw httpError(response, `OpenCTI ${operation}`, { cause });
      }
      throw new OpenCtiResponseError(
        `OpenCTI ${operation} answered with something other than JSON: ${
          excerpt(response.text)
        }. ` +
          `Check that OPENCTI_URL points at the platform, not at a proxy page`,
        { cause },
      );
    }
    const envelope = v.safeParse(EnvelopeSchema, json);
    const errors = envelope.success ? envelope.output.errors ?? [] : [];
    if (errors.length > 0) throw graphqlError(operation, errors, endpoint);
    if (response.status < 200 || response.status >= 300) {
      throw httpError(response, `OpenCTI ${operation}`);
    }
    const data = v.safeParse(schema, envelope.success ? envelope.output.data : undefined);
    if (!data.success) {
      throw new OpenCtiResponseError(
        `OpenCTI ${operation} answered with an unexpected shape: ${
          v.summarize(data.issues)
        }. Check that the platform version is supported`,
      );
    }
    return data.output;
  }

  /** Reads `about { version }` (also the health check) and remembers the version. */
  async about(signal?: AbortSignal): Promise<{ version: string }> {
    const data = await this.request("query About { about { version } }", AboutSchema, {
      ...(signal ? { signal } : {}),
    });
    this.#version = data.about.version;
    return { version: data.about.version };
  }

  /** The platform version, read once with {@linkcode about} and cached. */
  async ensureVersion(signal?: AbortSignal): Promise<string> {
    return this.#version ?? (await this.about(signal)).version;
  }

  /**
   * Throws {@linkcode OpenCtiVersionError} unless the platform is at least `minimum`; returns the
   * version. `why` names what needs that version, for the message.
   */
  async checkVersion(
    minimum: string = MINIMUM_VERSION,
    signal?: AbortSignal,
    why = "the GraphQL operations this program sends",
  ): Promise<string> {
    const version = await this.ensureVersion(signal);
    if (!parsePlatformVersion(version)) {
      throw new OpenCtiVersionError(
        `OpenCTI at ${this.url} reports version "${version}", which cannot be read; ` +
          `this program needs OpenCTI ${minimum} or later`,
      );
    }
    if (!atLeast(version, minimum)) {
      throw new OpenCtiVersionError(
        `OpenCTI at ${this.url} runs ${version}; this program needs ${minimum} or later ` +
          `(${why}): upgrade the platform`,
      );
    }
    return version;
  }

  /** True when the known platform version is at least `minimum` (true while the version is unknown). */
  supports(minimum: string): boolean {
    return this.#version === undefined || atLeast(this.#version, minimum);
  }
}

/** Parses `6.8.10`, `6.8.10-rc1` or `7.261026.0` into numbers; undefined when unreadable. */
export function parseVersion(version: string): [number, number, number] | undefined {
  const parsed = parsePlatformVersion(version);
  return parsed ? [parsed.major, parsed.minor, parsed.patch] : undefined;
}

/** Compares two versions: negative, zero or positive (a pre-release sorts before its release). */
export function compareVersions(a: string, b: string): number {
  return comparePlatformVersions(a, b);
}

/** The name of the first top-level field of an operation (for messages). */
function firstField(query: string): string {
  const body = query.slice(query.indexOf("{") + 1);
  return /[A-Za-z_][A-Za-z0-9_]*/.exec(body)?.[0] ?? "operation";
}

/** The name, reason and inner reason of `errors[0]`, read defensively across versions (§1.1). */
export function readGraphqlError(
  error: unknown,
): { name: string; reason: string; detail: string | undefined } {
  const record = asRecord(error);
  const extensions = asRecord(record["extensions"]);
  const data = asRecord(record["data"]);
  const extData = asRecord(extensions["data"]);
  const message = stringOf(record["message"]) ?? "Unknown error";
  const name = stringOf(record["name"]) ?? stringOf(extensions["code"]) ?? message;
  const reason = stringOf(data["reason"]) ?? stringOf(extData["reason"]) ?? message;
  const rawDetail = data["cause"] ?? extData["cause"] ?? extensions["cause"];
  const detail = stringOf(rawDetail) ??
    stringOf(asRecord(rawDetail)["reason"]) ?? stringOf(asRecord(rawDetail)["message"]);
  return { name, reason, detail: detail !== reason ? detail : undefined };
}

const AUTH_NAMES = new Set(["AuthRequired", "AUTH_REQUIRED", "AuthFailure", "AUTH_FAILURE"]);
const FORBIDDEN_NAMES = new Set(["ForbiddenAccess", "FORBIDDEN_ACCESS"]);

function graphqlError(operation: string, errors: unknown[], endpoint: string): Error {
  const { name, reason, detail } = readGraphqlError(errors[0]);
  if (AUTH_NAMES.has(name)) {
    return new OpenCtiAuthError(
      `OPENCTI_TOKEN was rejected by ${safeUrl(endpoint)}: ${reason}. ` +
        `Set OPENCTI_TOKEN to the API token of an active OpenCTI user`,
    );
  }
  const hint = FORBIDDEN_NAMES.has(name)
    ? ": give the connector's OpenCTI user the capability this call needs (CONNECTORAPI for connectors)"
    : "";
  return new OpenCtiGraphqlError(
    `OpenCTI rejected ${operation}: ${name}: ${reason}${detail ? ` (${detail})` : ""}${hint}`,
    { errorName: name, reason, detail, operation, errors },
  );
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
