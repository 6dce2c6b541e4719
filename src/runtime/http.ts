/** A fetch wrapper with a per-request timeout, a response size limit and TLS options. */
import {
  errorMessage,
  HttpError,
  NetworkError,
  ResponseTooLargeError,
  TimeoutError,
} from "./errors.ts";

/** The fetch signature every network module takes through its options. */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Options of {@linkcode request}. */
export interface RequestOptions {
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** Time allowed for the whole exchange (headers and body) in ms. @default 30000 */
  timeoutMs?: number;
  /** Largest response body accepted, in bytes. @default 52428800 (50 MiB) */
  maxBytes?: number;
  /** Aborts the request. @default none */
  signal?: AbortSignal;
}

/** A fully read response. */
export interface HttpResponse {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** Body text (UTF-8). */
  text: string;
}

/** Sends one request, reads the whole body within the time and size limits; never throws on status. */
export async function request(
  url: string | URL,
  init: RequestInit = {},
  options: RequestOptions = {},
): Promise<HttpResponse> {
  const {
    fetch: doFetch = globalThis.fetch,
    timeoutMs = 30_000,
    maxBytes = 50 * 1024 * 1024,
    signal,
  } = options;
  // Our own timer (not AbortSignal.timeout) so it is cleared as soon as the body is read.
  const timer = new AbortController();
  const handle = setTimeout(
    () => timer.abort(new DOMException(`Timed out after ${timeoutMs} ms`, "TimeoutError")),
    timeoutMs,
  );
  const callerSignals = [signal, init.signal ?? undefined].filter((s): s is AbortSignal =>
    s !== undefined
  );
  const caller = callerSignals.length === 0
    ? undefined
    : callerSignals.length === 1
    ? callerSignals[0]
    : AbortSignal.any(callerSignals);
  const combined = caller ? AbortSignal.any([caller, timer.signal]) : timer.signal;
  try {
    let response: Response;
    try {
      response = await doFetch(url, { ...init, signal: combined });
    } catch (error) {
      throw translateFailure(error, url, timeoutMs, timer.signal, caller);
    }
    try {
      const text = await readLimited(response, maxBytes);
      return { status: response.status, headers: response.headers, text };
    } catch (error) {
      if (error instanceof ResponseTooLargeError) throw error;
      throw translateFailure(error, url, timeoutMs, timer.signal, caller);
    }
  } finally {
    clearTimeout(handle);
  }
}

/** Throws an {@linkcode HttpError} unless the status is 2xx; `what` names the call in the message. */
export function expectOk(response: HttpResponse, what: string): HttpResponse {
  if (response.status >= 200 && response.status < 300) return response;
  throw httpError(response, what);
}

/** The {@linkcode HttpError} for an unexpected response; `what` names the call in the message. */
export function httpError(
  response: HttpResponse,
  what: string,
  options?: ErrorOptions,
): HttpError {
  return new HttpError(
    `${what} failed with HTTP ${response.status}: ${excerpt(response.text)}`,
    response.status,
    excerpt(response.text, 4096),
    response.headers,
    options,
  );
}

/** The first `max` characters of a text, on one line. */
export function excerpt(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new ResponseTooLargeError(
      `Response of ${declared} bytes exceeds the limit of ${maxBytes} bytes`,
    );
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new ResponseTooLargeError(`Response exceeds the limit of ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

function translateFailure(
  error: unknown,
  url: string | URL,
  timeoutMs: number,
  timeout: AbortSignal,
  signal: AbortSignal | undefined,
): unknown {
  if (signal?.aborted) return signal.reason ?? error;
  const target = safeUrl(url);
  if (timeout.aborted) {
    return new TimeoutError(`Request to ${target} timed out after ${timeoutMs} ms`, {
      cause: error,
    });
  }
  const message = errorMessage(error);
  if (/certificate|tls|ssl/i.test(message)) {
    return new NetworkError(
      `TLS handshake with ${target} failed: ${message}. Point the CA file setting at the issuing CA, ` +
        `or start Deno with --unsafely-ignore-certificate-errors=<host> (insecure)`,
      { cause: error },
    );
  }
  return new NetworkError(`Request to ${target} failed: ${message}`, { cause: error });
}

/** The URL without query string or credentials, safe to log. */
export function safeUrl(url: string | URL): string {
  try {
    const parsed = new URL(String(url));
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "<invalid url>";
  }
}

/** TLS settings of one remote service. */
export interface TlsOptions {
  /** Verify the server certificate. @default true */
  verify?: boolean;
  /** PEM file with extra CA certificates. @default none */
  caFile?: string;
}

/**
 * Returns a fetch that applies the TLS settings: a CA bundle through `Deno.createHttpClient`.
 * Deno cannot turn verification off per client: `verify: false` needs the process to be started
 * with `--unsafely-ignore-certificate-errors=<host>`; `onInsecure` is told so it can be logged.
 */
export async function tlsFetch(
  tls: TlsOptions,
  options: {
    fetch?: Fetch;
    onInsecure?: (advice: string) => void;
    readTextFile?: (path: string) => Promise<string>;
  } = {},
): Promise<Fetch> {
  const base = options.fetch ?? globalThis.fetch;
  if (tls.verify === false) {
    options.onInsecure?.(
      "TLS verification can only be disabled for the whole process: start Deno with " +
        "--unsafely-ignore-certificate-errors=<host> (or set a CA file instead, which is safer)",
    );
  }
  if (!tls.caFile) return base;
  const readTextFile = options.readTextFile ?? Deno.readTextFile;
  let pem: string;
  try {
    pem = await readTextFile(tls.caFile);
  } catch (cause) {
    throw new Error(`Cannot read the CA file "${tls.caFile}": check the path and permissions`, {
      cause,
    });
  }
  const client = Deno.createHttpClient({ caCerts: [pem] });
  return (input, init) => base(input, { ...init, client } as RequestInit);
}
