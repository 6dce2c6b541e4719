/** The HTTP server: health, readiness, metrics, status, and a protected "run now" route. */
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getLogger, type Logger } from "./log.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";
import type { ConnectorStatus, DeadLetterView } from "./runtime/connector.ts";
import { errorMessage } from "./runtime/errors.ts";

/** An error that becomes an HTTP response with its status and a JSON body `{"error": message}`. */
export class HttpStatusError extends Error {
  /** The error's name. */
  override name = "HttpStatusError";
  /** The response status. */
  readonly status: ContentfulStatusCode;
  /** Extra response headers (e.g. `www-authenticate`). */
  readonly headers: Record<string, string>;

  /** Builds the error; `message` is shown to the client, so it must hold no secret. */
  constructor(
    status: ContentfulStatusCode,
    message: string,
    options: ErrorOptions & { headers?: Record<string, string> } = {},
  ) {
    super(message, options);
    this.status = status;
    this.headers = options.headers ?? {};
  }

  /** Renders the error as a JSON response that is never cached. */
  toResponse(): Response {
    return json({ error: this.message }, this.status, this.headers);
  }
}

/** Options of {@linkcode createApp}. */
export interface AppOptions {
  /** The current status of every enabled connector. */
  connectors: () => ConnectorStatus[];
  /** The metrics in Prometheus text format. */
  metrics: () => string;
  /** True once shutdown started (readiness then answers 503). @default () => false */
  isShuttingDown?: () => boolean;
  /** Bearer token of `POST /connectors/:name/run`; the route does not exist without it. @default none */
  adminToken?: string | undefined;
  /**
   * Starts a run of a connector: undefined for an unknown name, else a promise of true when
   * started and false when a run is already in progress. @default every name is unknown
   */
  runNow?: (name: string) => Promise<boolean> | undefined;
  /**
   * The dead letters of a connector (`GET /connectors/:name/dead-letters`, admin token):
   * undefined when no enabled connector of that name keeps any. @default none
   */
  deadLetters?: (name: string) => DeadLetterView | undefined;
  /**
   * Replays a connector's dead letters (`POST /connectors/:name/dead-letters/replay`, admin
   * token): undefined when no enabled connector of that name keeps any. @default none
   */
  replayDeadLetters?: (name: string) => Promise<object> | undefined;
  /**
   * Reconciles a connector's target (`POST /connectors/:name/reconcile[?dry_run=true]`, admin
   * token): undefined when no enabled connector of that name reconciles. @default none
   */
  reconcile?: (name: string, dryRun: boolean) => Promise<object> | undefined;
  /** The logger. @default getLogger("server") */
  logger?: Logger;
}

/** Builds the Hono app (routes only: it reads everything through the injected functions). */
export function createApp(options: AppOptions): Hono {
  const {
    connectors,
    metrics,
    isShuttingDown = () => false,
    adminToken,
    runNow = () => undefined,
    deadLetters = () => undefined,
    replayDeadLetters = () => undefined,
    reconcile = () => undefined,
    logger = getLogger("server"),
  } = options;
  const app = new Hono();

  app.use("*", async (c, next) => {
    await next();
    c.res.headers.set("cache-control", "no-store");
  });

  app.get("/healthz", () => json({ status: "ok" }));

  app.get("/readyz", () => {
    const reasons = readinessReasons(connectors(), isShuttingDown());
    return reasons.length === 0
      ? json({ ready: true, reasons: [] })
      : json({ ready: false, reasons }, 503);
  });

  app.get("/metrics", () =>
    new Response(metrics(), {
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
    }));

  app.get("/status", () => {
    const list = connectors();
    return json({
      ready: readinessReasons(list, isShuttingDown()).length === 0,
      shuttingDown: isShuttingDown(),
      connectors: list,
    });
  });

  if (adminToken !== undefined && adminToken !== "") {
    const expected = sha256(adminToken);
    const authorize = async (header: string | undefined) => {
      const given = bearerToken(header);
      if (given === undefined || !constantTimeEqual(await sha256(given), await expected)) {
        throw new HttpStatusError(401, "Send the admin token as 'Authorization: Bearer <token>'", {
          headers: { "www-authenticate": 'Bearer realm="octi-connectors"' },
        });
      }
    };
    app.get("/connectors/:name/dead-letters", async (c) => {
      await authorize(c.req.header("authorization"));
      const name = c.req.param("name");
      const list = deadLetters(name);
      if (list === undefined) {
        throw new HttpStatusError(404, `No enabled connector named "${name}" keeps dead letters`);
      }
      return json({ connector: name, count: list.entries.length, ...list });
    });
    app.post("/connectors/:name/dead-letters/replay", async (c) => {
      await authorize(c.req.header("authorization"));
      const name = c.req.param("name");
      if (isShuttingDown()) throw new HttpStatusError(503, "The program is shutting down");
      const replay = replayDeadLetters(name);
      if (replay === undefined) {
        throw new HttpStatusError(404, `No enabled connector named "${name}" keeps dead letters`);
      }
      const report = await replay;
      logger.info("Dead letters of {name} replayed through the API", { name, ...report });
      return json({ connector: name, ...report });
    });
    app.post("/connectors/:name/reconcile", async (c) => {
      await authorize(c.req.header("authorization"));
      const name = c.req.param("name");
      if (isShuttingDown()) throw new HttpStatusError(503, "The program is shutting down");
      const flag = c.req.query("dry_run");
      if (flag !== undefined && flag !== "true" && flag !== "false") {
        throw new HttpStatusError(400, `dry_run must be true or false, not "${flag}"`);
      }
      const running = reconcile(name, flag === "true");
      if (running === undefined) {
        throw new HttpStatusError(404, `No enabled connector named "${name}" reconciles`);
      }
      const report = await running;
      logger.info("Reconcile of {name} run through the API", { name, dryRun: flag === "true" });
      return json({ connector: name, ...report });
    });
    app.post("/connectors/:name/run", async (c) => {
      await authorize(c.req.header("authorization"));
      const name = c.req.param("name");
      if (isShuttingDown()) throw new HttpStatusError(503, "The program is shutting down");
      const started = runNow(name);
      if (started === undefined) {
        throw new HttpStatusError(404, `No enabled connector is named "${name}"`);
      }
      if (!(await started)) {
        throw new HttpStatusError(409, `A run of "${name}" is already in progress`);
      }
      logger.info("Run of {name} triggered through the API", { name });
      return json({ started: true, connector: name }, 202);
    });
  }

  app.notFound(() => json({ error: "Not found" }, 404));

  app.onError((error) => {
    if (error instanceof HttpStatusError) return error.toResponse();
    logger.error("Request failed: {error}", {
      error: errorMessage(error),
    });
    return json({ error: "Internal server error" }, 500);
  });

  return app;
}

/** Why the program is not ready (empty when ready): shutdown, no connector, or each connector's reasons. */
export function readinessReasons(
  list: readonly ConnectorStatus[],
  shuttingDown: boolean,
): string[] {
  if (shuttingDown) return ["shutting down"];
  if (list.length === 0) return ["no connector is enabled"];
  const reasons: string[] = [];
  for (const status of list) {
    if (status.ready) continue;
    const own = status.reasons.length > 0 ? status.reasons : ["not ready"];
    for (const reason of own) reasons.push(`${status.name}: ${reason}`);
  }
  return reasons;
}

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /** Interface to listen on (`SERVER_HOST`; its default is declared with the option). */
  hostname: string;
  /** Port to listen on; 0 picks a free one (`SERVER_PORT`; default declared with the option). */
  port: number;
  /** Stops the server when aborted. @default none */
  signal?: AbortSignal;
  /** Told the address once listening. @default logs it */
  onListen?: (address: { hostname: string; port: number }) => void;
}

/** Serves the app with `Deno.serve`. */
export function serve(app: Hono, options: ServeOptions): Deno.HttpServer<Deno.NetAddr> {
  const { hostname, port, signal } = options;
  const logger = getLogger("server");
  const onListen = options.onListen ??
    ((address: { hostname: string; port: number }) =>
      logger.info("Listening on http://{hostname}:{port}", address));
  return Deno.serve({
    hostname,
    port,
    ...(signal ? { signal } : {}),
    onListen: ({ hostname, port }) => onListen({ hostname, port }),
  }, app.fetch);
}

function json(
  body: unknown,
  status: ContentfulStatusCode = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...headers,
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
  return match?.[1];
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Compares two digests without an early exit, so timing does not reveal the matching prefix. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}
