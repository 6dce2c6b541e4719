/** Errors shared by every network client. */

/** An HTTP response with an unexpected status; `body` is the first part of the response text. */
export class HttpError extends Error {
  /** The error's name. */
  override name = "HttpError";
  /** HTTP status code. */
  readonly status: number;
  /** Response body text, cut to a few KiB (never contains our own secrets). */
  readonly body: string;
  /** The response headers. */
  readonly headers: Headers;

  /** Builds the error from a status, a body excerpt and headers. */
  constructor(
    message: string,
    status: number,
    body = "",
    headers = new Headers(),
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** A request that ran out of time. */
export class TimeoutError extends Error {
  /** The error's name. */
  override name = "TimeoutError";
}

/** A response larger than the configured limit. */
export class ResponseTooLargeError extends Error {
  /** The error's name. */
  override name = "ResponseTooLargeError";
}

/** A network failure (DNS, refused connection, reset, TLS). */
export class NetworkError extends Error {
  /** The error's name. */
  override name = "NetworkError";
}

/** The message of a thrown value: `error.message` for an `Error`, else the value as a string. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `Name: message` of a thrown value (for logs and `/status`); the value as a string if not an `Error`. */
export function errorSummary(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
