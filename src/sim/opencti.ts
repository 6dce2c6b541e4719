/**
 * The OpenCTI simulator: one Hono app with `/graphql`, `/stream/:id` and a JSON control API under
 * `/_sim/` for tests and the demo. Faithful to `reference/opencti.md`, failure modes included.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { type Now, type Sleep, systemNow } from "../runtime/clock.ts";
import type { StixObject } from "../stix/types.ts";
import { OpenCtiGraphqlSim, type SimFeatures } from "./opencti_graphql.ts";
import type { ErrorLayout, GraphqlFailure } from "./opencti_graphql_types.ts";
import { OpenCtiStore } from "./opencti_store.ts";
import {
  type MalformedKind,
  SIM_TOKEN,
  StreamControl,
  type StreamDefinition,
  streamRoutes,
} from "./opencti_stream.ts";
import { seedStore } from "./opencti_seed.ts";
import { type TaxiiCollectionDefinition, taxiiRoutes } from "./opencti_taxii.ts";

export { SIM_TOKEN };

/** Options of {@linkcode createOpenCtiSimApp} and {@linkcode startOpenCtiSim}. */
export interface OpenCtiSimOptions {
  /** Accepted API tokens (GraphQL and stream). @default [SIM_TOKEN] */
  tokens?: readonly string[];
  /** Simulated platform version. @default "6.8.10" */
  version?: string;
  /** Schema gates by version. @default see SimFeatures */
  features?: SimFeatures;
  /** GraphQL error layout. @default "combined" */
  errorLayout?: ErrorLayout;
  /** Queue size reported for connectors, in bytes. @default 0 */
  queueSizeBytes?: number;
  /** Largest GraphQL request body in bytes (`app:max_payload_body_size`; larger → 413). @default 52428800 */
  maxPayloadBytes?: number;
  /** Stream collections by id. @default {"live-indicators": indicators only} */
  streams?: Record<string, StreamDefinition>;
  /** TAXII collections by id (served under `/taxii2/root/collections/`). @default none */
  taxiiCollections?: Record<string, TaxiiCollectionDefinition>;
  /** Heartbeat period of the stream in ms. @default 5000 */
  heartbeatMs?: number;
  /** Status for an unknown stream id. @default 404 */
  unknownStreamStatus?: 401 | 404;
  /** Load the seed indicators (author, TLP markings, indicators of every mapped type). @default false */
  seed?: boolean;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep used by injected GraphQL delays. @default a real timer */
  sleep?: Sleep;
}

/** Handles on the simulator's two sides. */
export interface OpenCtiSimControl {
  /** The GraphQL side: connectors, works, bundles, calls, failures. */
  graphql: OpenCtiGraphqlSim;
  /** The stream side: connections, drops, stalls, malformed frames. */
  stream: StreamControl;
}

/** The composed app and its parts, for in-process tests. */
export interface OpenCtiSimApp extends OpenCtiSimControl {
  /** The Hono app. */
  app: Hono;
  /** The shared store. */
  store: OpenCtiStore;
}

/** A running simulator on loopback. */
export interface OpenCtiSim {
  /** Base URL, e.g. `http://127.0.0.1:41234` (use as `OPENCTI_URL`). */
  url: string;
  /** The shared store. */
  store: OpenCtiStore;
  /** The control handles. */
  control: OpenCtiSimControl;
  /** Stops the server after imports settle and stream connections close. */
  close(): Promise<void>;
}

/** One-line docs of every control route (served at `GET /_sim/`). */
export const CONTROL_ROUTES: Readonly<Record<string, string>> = {
  "GET /_sim/": "This list of control routes",
  "POST /_sim/indicators": "Append objects: body is one STIX object, an array, or {objects:[…]}",
  "PATCH /_sim/indicators/:id": "Update an object: body is merged into the stored object",
  "DELETE /_sim/indicators/:id": "Delete an object (emits a delete event)",
  "POST /_sim/seed": "Load the seed indicators into the store",
  "GET /_sim/objects": "Current objects of the store (?type=indicator to filter)",
  "GET /_sim/events": "The retained stream history",
  "GET /_sim/connectors": "Registered connectors with their state, reset flag and info",
  "POST /_sim/connectors/:id/reset":
    "Reset a connector's state as the UI's Reset state button does",
  "PUT /_sim/connectors/:id/queue": "Set the queue size reported for a connector: {bytes}",
  "GET /_sim/pings": "Recorded pings (?connector=<id> to filter)",
  "GET /_sim/bundles": "Bundles received by stixBundlePush",
  "GET /_sim/works": "Works with status, counters, messages and errors",
  "GET /_sim/calls": "Every GraphQL call received",
  "POST /_sim/settle": "Wait until queued bundles are imported",
  "PUT /_sim/version": "Change the simulated version: {version}",
  "POST /_sim/failures/graphql":
    "Inject a GraphQL failure: {field?, status?, error?:{name,reason}, delayMs?, times?}",
  "POST /_sim/failures/objects": "Make the import of objects fail: {id, message?}",
  "POST /_sim/failures/stream":
    "Inject a stream failure: {status, count?} for connects, {malformed: kind}, {stall: true|false}",
  "DELETE /_sim/failures": "Clear injected GraphQL and object failures",
  "POST /_sim/stream/drop": "Drop every stream connection: {midFrame?, abort?}",
  "POST /_sim/stream/:id/stop": "Stop a stream collection (410 for new connections)",
  "POST /_sim/stream/:id/start": "Start a stopped stream collection",
  "GET /_sim/stream/connections": "Open stream connections",
};

/** Builds the simulator app in process (no server); seeding, if asked, is awaited. */
export async function createOpenCtiSimApp(options: OpenCtiSimOptions = {}): Promise<OpenCtiSimApp> {
  const now = options.now ?? systemNow;
  const store = new OpenCtiStore({ now });
  if (options.seed) await seedStore(store);
  const tokens = options.tokens ?? [SIM_TOKEN];
  const stream = new StreamControl(store, {
    ...(options.streams ? { streams: options.streams } : {}),
    ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
  });
  const graphql = new OpenCtiGraphqlSim(store, {
    tokens,
    now,
    ...(options.version ? { version: options.version } : {}),
    ...(options.features ? { features: options.features } : {}),
    ...(options.errorLayout ? { errorLayout: options.errorLayout } : {}),
    ...(options.queueSizeBytes !== undefined ? { queueSizeBytes: options.queueSizeBytes } : {}),
    ...(options.maxPayloadBytes !== undefined ? { maxPayloadBytes: options.maxPayloadBytes } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  graphql.streamInfo = (id) => {
    const definition = stream.stream(id);
    if (!definition) return undefined;
    const filter = definition.filter;
    const filters = {
      mode: "and",
      filterGroups: [],
      filters: filter?.types ? [{ key: ["entity_type"], values: [...filter.types] }] : [],
    };
    return {
      id,
      name: definition.name ?? id,
      description: null,
      filters: JSON.stringify(filters),
      stream_live: definition.live ?? true,
      stream_public: definition.public ?? false,
    };
  };
  const app = new Hono();
  app.route("/", graphql.routes());
  app.route(
    "/",
    streamRoutes(store, {
      tokens,
      control: stream,
      now,
      ...(options.unknownStreamStatus ? { unknownStreamStatus: options.unknownStreamStatus } : {}),
    }),
  );
  app.route(
    "/",
    taxiiRoutes(store, {
      tokens,
      ...(options.taxiiCollections ? { collections: options.taxiiCollections } : {}),
    }),
  );
  app.get("/_sim", (c) => c.json(CONTROL_ROUTES));
  app.get("/_sim/", (c) => c.json(CONTROL_ROUTES));
  app.route("/_sim", controlRoutes(store, graphql, stream));
  return { app, store, graphql, stream };
}

/** Starts the simulator on 127.0.0.1 with a free port. */
export async function startOpenCtiSim(options: OpenCtiSimOptions = {}): Promise<OpenCtiSim> {
  const { app, store, graphql, stream } = await createOpenCtiSimApp(options);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => app.fetch(request),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    store,
    control: { graphql, stream },
    async close() {
      graphql.releaseImports();
      await graphql.settled();
      stream.close();
      await server.shutdown();
    },
  };
}

async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    return {};
  }
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

function isStixObject(value: unknown): value is StixObject {
  const r = record(value);
  return typeof r.id === "string" && typeof r.type === "string";
}

/** The `/_sim/` control API. */
function controlRoutes(
  store: OpenCtiStore,
  graphql: OpenCtiGraphqlSim,
  stream: StreamControl,
): Hono {
  const app = new Hono();

  app.post("/indicators", async (c) => {
    const body = await readJson(c);
    const list = Array.isArray(body)
      ? body
      : Array.isArray(record(body).objects)
      ? record(body).objects as unknown[]
      : [body];
    const objects = list.filter(isStixObject);
    if (objects.length === 0) {
      return c.json({ error: "Send a STIX object with id and type, an array, or {objects}" }, 400);
    }
    const events = objects.map((object) => store.upsert(object).event.id);
    return c.json({ events });
  });
  app.patch("/indicators/:id", async (c) => {
    const current = store.get(c.req.param("id"));
    if (!current) return c.json({ error: "No object with this id" }, 404);
    const patch = record(await readJson(c));
    const { event } = store.upsert({ ...current, ...patch, id: current.id, type: current.type });
    return c.json({ event: event.id });
  });
  app.delete("/indicators/:id", (c) => {
    const event = store.remove(c.req.param("id"));
    return event ? c.json({ event: event.id }) : c.json({ error: "No object with this id" }, 404);
  });
  app.post("/seed", async (c) => c.json({ count: await seedStore(store) }));
  app.get("/objects", (c) => c.json(store.list(c.req.query("type"))));
  app.get("/events", (c) => c.json(store.events()));

  app.get("/connectors", (c) => c.json([...graphql.connectors.values()]));
  app.post(
    "/connectors/:id/reset",
    (c) =>
      graphql.resetState(c.req.param("id"))
        ? c.json({ reset: true })
        : c.json({ error: "No connector with this id" }, 404),
  );
  app.put("/connectors/:id/queue", async (c) => {
    const bytes = Number(record(await readJson(c)).bytes);
    if (!graphql.connectors.has(c.req.param("id"))) {
      return c.json({ error: "No connector with this id" }, 404);
    }
    if (!Number.isFinite(bytes) || bytes < 0) return c.json({ error: "Send {bytes: n}" }, 400);
    graphql.setQueueSize(c.req.param("id"), bytes);
    return c.json({ bytes });
  });
  app.get("/pings", (c) => {
    const connector = c.req.query("connector");
    return c.json(graphql.pings.filter((p) => !connector || p.connectorId === connector));
  });
  app.get("/bundles", (c) => c.json(graphql.bundles));
  app.get("/works", (c) => c.json([...graphql.works.values()]));
  app.get("/calls", (c) => c.json(graphql.calls));
  app.post("/settle", async (c) => {
    await graphql.settled();
    return c.json({ pending: graphql.pendingImports });
  });
  app.put("/version", async (c) => {
    const version = record(await readJson(c)).version;
    if (typeof version !== "string") return c.json({ error: 'Send {version: "6.8.10"}' }, 400);
    graphql.version = version;
    return c.json({ version });
  });

  app.post("/failures/graphql", async (c) => {
    const body = record(await readJson(c));
    const failure: GraphqlFailure = {};
    if (typeof body.field === "string") failure.field = body.field;
    if (typeof body.status === "number") failure.status = body.status;
    if (typeof body.delayMs === "number") failure.delayMs = body.delayMs;
    if (typeof body.times === "number") failure.times = body.times;
    const error = record(body.error);
    if (typeof error.name === "string") {
      failure.error = { name: error.name, reason: String(error.reason ?? error.name) };
    }
    graphql.injectFailure(failure);
    return c.json({ injected: failure });
  });
  app.post("/failures/objects", async (c) => {
    const body = record(await readJson(c));
    if (typeof body.id !== "string") return c.json({ error: "Send {id, message?}" }, 400);
    graphql.failObject(body.id, typeof body.message === "string" ? body.message : undefined);
    return c.json({ id: body.id });
  });
  app.post("/failures/stream", async (c) => {
    const body = record(await readJson(c));
    if (typeof body.status === "number") {
      stream.failNextConnects(body.status, typeof body.count === "number" ? body.count : 1);
      return c.json({ status: body.status });
    }
    if (typeof body.malformed === "string") {
      return c.json({ sent: stream.injectMalformed(body.malformed as MalformedKind) });
    }
    if (typeof body.stall === "boolean") {
      if (body.stall) stream.stall();
      else stream.resume();
      return c.json({ stalled: stream.stalled });
    }
    return c.json({ error: "Send {status, count?}, {malformed} or {stall}" }, 400);
  });
  app.delete("/failures", (c) => {
    graphql.clearFailures();
    return c.json({ cleared: true });
  });
  app.post("/stream/drop", async (c) => {
    const body = record(await readJson(c));
    return c.json({
      dropped: stream.dropConnections({
        midFrame: body.midFrame === true,
        abort: body.abort === true,
      }),
    });
  });
  app.post("/stream/:id/stop", (c) => {
    stream.stopStream(c.req.param("id"));
    return c.json({ stopped: c.req.param("id") });
  });
  app.post("/stream/:id/start", (c) => {
    stream.startStream(c.req.param("id"));
    return c.json({ started: c.req.param("id") });
  });
  app.get("/stream/connections", (c) => c.json(stream.connections()));
  return app;
}
