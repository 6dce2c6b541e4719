/** Errors raised by the OpenCTI client, the connector lifecycle and the bundle push. */

/** A GraphQL error answered by the platform (HTTP 200 with an `errors` array, or a 400 validation error). */
export class OpenCtiGraphqlError extends Error {
  /** The error's name. */
  override name = "OpenCtiGraphqlError";
  /** The platform's error name, e.g. `FunctionalError`, `UNSUPPORTED_ERROR`, `GRAPHQL_VALIDATION_FAILED`. */
  readonly errorName: string;
  /** The specific reason, e.g. `Invalid bundle`. */
  readonly reason: string;
  /** The inner reason when the platform gives one (e.g. `Invalid stix bundle`), else undefined. */
  readonly detail: string | undefined;
  /** The top-level GraphQL field that was called, e.g. `pingConnector`. */
  readonly operation: string;
  /** The raw `errors` array, for logs and tests. */
  readonly errors: readonly unknown[];

  /** Builds the error from the parsed name/reason and the raw errors. */
  constructor(
    message: string,
    fields: {
      errorName: string;
      reason: string;
      detail?: string | undefined;
      operation: string;
      errors: readonly unknown[];
    },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.errorName = fields.errorName;
    this.reason = fields.reason;
    this.detail = fields.detail;
    this.operation = fields.operation;
    this.errors = fields.errors;
  }
}

/** The platform refused the token (HTTP 401/403 or an `AuthRequired` GraphQL error). */
export class OpenCtiAuthError extends Error {
  /** The error's name. */
  override name = "OpenCtiAuthError";
}

/** The platform is older than this program supports, or its version is unreadable. */
export class OpenCtiVersionError extends Error {
  /** The error's name. */
  override name = "OpenCtiVersionError";
}

/** The platform rejected a pushed bundle (`stixBundlePush` validation or HTTP 413). */
export class BundleRejectedError extends Error {
  /** The error's name. */
  override name = "BundleRejectedError";
  /** The platform's reason, e.g. `Invalid bundle`. */
  readonly reason: string;
  /** The inner reason when given (e.g. `Invalid connector`), else undefined. */
  readonly detail: string | undefined;

  /** Builds the error from the platform's reason and optional inner reason. */
  constructor(
    message: string,
    reason: string,
    detail?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.reason = reason;
    this.detail = detail;
  }
}

/** The platform answered something this client cannot read (not JSON, or not the expected shape). */
export class OpenCtiResponseError extends Error {
  /** The error's name. */
  override name = "OpenCtiResponseError";
}

/** A bundle could not be handed to the platform's RabbitMQ (unreachable, refused, not confirmed). */
export class OpenCtiQueueError extends Error {
  override name = "OpenCtiQueueError";
}
