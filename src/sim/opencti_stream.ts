/**
 * The OpenCTI simulator's live stream: `GET /stream/:id` as `reference/opencti.md` §3 and the §8
 * checklist describe, with a {@linkcode StreamControl} for fault injection.
 *
 * The response body is a pull-based `ReadableStream` (high-water mark 0): a frame is produced only
 * when the HTTP layer asks for more, so a slow client fills the TCP window and the simulator then
 * stops producing, like a real platform whose socket writes block. Nothing is buffered per
 * connection beyond the frames of one event (its dependencies and itself).
 */
import { Hono } from "hono";
import { type Now, systemNow } from "../runtime/clock.ts";
import type { StixObject } from "../stix/types.ts";
import {
  compareEventIds,
  entityTypeOf,
  extensionOf,
  type OpenCtiStore,
  parseEventId,
  type StreamEvent,
  updatedAtMs,
} from "./opencti_store.ts";

/** Which objects a stream collection lets through (all given conditions must hold). */
export interface StreamFilter {
  /** STIX types allowed (e.g. `["indicator"]`). @default every type */
  types?: readonly string[];
  /** At least one of these labels must be present. @default no label condition */
  labels?: readonly string[];
  /** Minimum OpenCTI score (objects without a score do not match). @default no score condition */
  minScore?: number;
  /** Revoked objects do not match. @default false */
  excludeRevoked?: boolean;
  /** Any extra condition. @default none */
  match?: (object: StixObject) => boolean;
}

/** A stream collection of the simulated platform. */
export interface StreamDefinition {
  /** Collection name shown in the UI. @default the id */
  name?: string;
  /** Started (`stream_live: true`); a stopped stream answers 410. @default true */
  live?: boolean;
  /** The collection's filters. @default everything */
  filter?: StreamFilter;
  /** Public collection: no token needed. @default false */
  public?: boolean;
}

/** Kinds of malformed frame {@linkcode StreamControl.injectMalformed} can send. */
export type MalformedKind = "bad-json" | "missing-data" | "unknown-event";

/** What {@linkcode StreamControl.connections} reports about one open connection. */
export interface ConnectionInfo {
  /** The `connectionId` of the `connected` frame. */
  connectionId: string;
  /** The stream collection id. */
  streamId: string;
  /** Last id processed for this connection (what heartbeats carry). */
  lastId: string | undefined;
  /** Frames handed to the HTTP layer so far. */
  framesWritten: number;
  /** Recovery objects still to send. */
  recoveryLeft: number;
}

/** Options of {@linkcode StreamControl}. */
export interface StreamControlOptions {
  /** Stream collections by id. @default {"live-indicators": indicators only} */
  streams?: Record<string, StreamDefinition>;
  /** Heartbeat period in ms. @default 5000 */
  heartbeatMs?: number;
}

/** Default stream collection id of the simulator. */
export const DEFAULT_STREAM_ID = "live-indicators";

/** Test and demo handle on the simulated live stream: stream states and fault injection. */
export class StreamControl {
  /** The store the stream reads. */
  readonly store: OpenCtiStore;
  readonly #streams = new Map<string, StreamDefinition>();
  readonly #connections = new Set<Connection>();
  readonly #failures: { status: number; headers: Record<string, string> }[] = [];
  readonly #waiters = new Set<() => void>();
  #heartbeatMs: number;
  #stalled = false;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;

  /** Creates the control over `store`'s stream. */
  constructor(store: OpenCtiStore, options: StreamControlOptions = {}) {
    this.store = store;
    this.#heartbeatMs = options.heartbeatMs ?? 5000;
    const streams = options.streams ??
      { [DEFAULT_STREAM_ID]: { name: "Indicators", filter: { types: ["indicator"] } } };
    for (const [id, definition] of Object.entries(streams)) this.#streams.set(id, definition);
  }

  /** The heartbeat period in ms. */
  get heartbeatMs(): number {
    return this.#heartbeatMs;
  }

  /** True while {@linkcode stall} is in effect. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** The definition of a stream collection, if it exists. */
  stream(id: string): StreamDefinition | undefined {
    return this.#streams.get(id);
  }

  /** Creates or replaces a stream collection. */
  defineStream(id: string, definition: StreamDefinition): void {
    this.#streams.set(id, definition);
    this.#wakeAll();
  }

  /** Stops a stream (new connections get 410; open ones are closed). */
  stopStream(id: string): void {
    const definition = this.#streams.get(id);
    if (definition === undefined) return;
    this.#streams.set(id, { ...definition, live: false });
    for (const connection of [...this.#connections]) {
      if (connection.streamId === id) connection.drop({});
    }
  }

  /** Starts a stopped stream again. */
  startStream(id: string): void {
    const definition = this.#streams.get(id);
    if (definition !== undefined) this.#streams.set(id, { ...definition, live: true });
  }

  /** Changes the heartbeat period (applies to open connections at their next wait). */
  setHeartbeatMs(ms: number): void {
    this.#heartbeatMs = ms;
    this.#wakeAll();
  }

  /** Drops every open connection: cleanly, after half a frame (`midFrame`), or by aborting the response (`abort`); returns how many. */
  dropConnections(options: { midFrame?: boolean; abort?: boolean } = {}): number {
    const open = [...this.#connections];
    for (const connection of open) connection.drop(options);
    return open.length;
  }

  /** Stops heartbeats and data on every connection until {@linkcode resume} (or for `ms`, on a real timer). */
  stall(ms?: number): void {
    this.#stalled = true;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = ms === undefined ? undefined : setTimeout(() => this.resume(), ms);
  }

  /** Ends a stall. */
  resume(): void {
    this.#stalled = false;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    this.#wakeAll();
  }

  /** Sends a malformed frame on every open connection (before its next event); returns how many got it. */
  injectMalformed(kind: MalformedKind): number {
    for (const connection of this.#connections) connection.inject(kind);
    return this.#connections.size;
  }

  /** Makes the next `count` connection attempts fail with `status` (empty body, given headers). */
  failNextConnects(status: number, count = 1, headers: Record<string, string> = {}): void {
    for (let i = 0; i < count; i++) this.#failures.push({ status, headers });
  }

  /** Drops old stream history like Redis trimming (see {@linkcode OpenCtiStore.trim}). */
  trimHistory(options: { keep?: number; before?: string }): number {
    return this.store.trim(options);
  }

  /** The open connections. */
  connections(): ConnectionInfo[] {
    return [...this.#connections].map((c) => c.info());
  }

  /** Resolves once at least `count` connections are open (event-driven, for tests). */
  waitForConnections(count: number): Promise<void> {
    return this.#waitFor(() => this.#connections.size >= count);
  }

  /** Resolves once `predicate` holds over the open connections, checked after every frame written. */
  waitFor(predicate: (connections: ConnectionInfo[]) => boolean): Promise<void> {
    return this.#waitFor(() => predicate(this.connections()));
  }

  /** Closes every connection and cancels timers (call before shutting the server down). */
  close(): void {
    this.resume();
    this.dropConnections();
  }

  /** @internal Takes the next injected failure, if any. */
  takeFailure(): { status: number; headers: Record<string, string> } | undefined {
    return this.#failures.shift();
  }

  /** @internal Registers an open connection. */
  add(connection: Connection): void {
    this.#connections.add(connection);
    this.notify();
  }

  /** @internal Unregisters a closed connection. */
  delete(connection: Connection): void {
    this.#connections.delete(connection);
    this.notify();
  }

  /** @internal Re-checks the test waiters. */
  notify(): void {
    for (const check of [...this.#waiters]) check();
  }

  #waitFor(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  #wakeAll(): void {
    for (const connection of this.#connections) connection.wake();
  }
}

/** Options of {@linkcode streamRoutes}. */
export interface StreamRoutesOptions extends StreamControlOptions {
  /** Accepted API tokens (`Authorization: Bearer <token>`). @default ["d434ce02-e58e-4cac-8b4c-42bf16748e84"] */
  tokens?: readonly string[];
  /** The control to use (its streams and heartbeat win over the options above). @default a new one */
  control?: StreamControl;
  /** Status for an unknown stream id: 404 (6.x) or 401 (newest platforms). @default 404 */
  unknownStreamStatus?: 401 | 404;
  /** The clock for recovery defaults and `connected` dates. @default Date.now */
  now?: Now;
}

/** Default API token accepted by the simulator. */
export const SIM_TOKEN = "d434ce02-e58e-4cac-8b4c-42bf16748e84";

/** A Hono sub-app serving `GET /stream/:id` from `store`. */
export function streamRoutes(store: OpenCtiStore, options: StreamRoutesOptions = {}): Hono {
  const control = options.control ?? new StreamControl(store, options);
  const tokens = new Set(options.tokens ?? [SIM_TOKEN]);
  const unknownStatus = options.unknownStreamStatus ?? 404;
  const now = options.now ?? systemNow;
  const app = new Hono();
  app.get("/stream/:id", (c) => {
    const request = c.req.raw;
    const streamId = c.req.param("id");
    const failure = control.takeFailure();
    if (failure) return empty(failure.status, "Injected failure", failure.headers);
    const definition = control.stream(streamId);
    const auth = request.headers.get("authorization") ?? "";
    const token = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
    const authorised = token !== undefined && tokens.has(token);
    if (!authorised && !(definition?.public && token === undefined)) {
      return empty(401, "You are not authenticated, please check your credentials");
    }
    if (definition === undefined) {
      return unknownStatus === 401
        ? empty(401, "You are not authorized, please check your credentials")
        : empty(404, "This live stream doesnt exists");
    }
    if (definition.live === false) return empty(410, "This live stream is stopped");
    const url = new URL(request.url);
    const param = (...names: string[]) => {
      for (const name of names) {
        const value = url.searchParams.get(name);
        if (value) return value;
      }
      for (const name of names) {
        const value = request.headers.get(name);
        if (value) return value;
      }
      return undefined;
    };
    const fromText = url.searchParams.get("from") || request.headers.get("from") ||
      request.headers.get("last-event-id") || undefined;
    const recoverText = param("recover", "recover-date");
    const start = fromText === undefined ? undefined : toPosition(fromText);
    if (start === null) return empty(500, `Error in stream ${streamId}: Invalid start position`);
    const recover = recoverText === undefined ? undefined : toPosition(recoverText);
    if (recover === null || (recover !== undefined && start === undefined)) {
      return empty(
        500,
        `Error in stream ${streamId}: Recovery mode is only possible with a start date.`,
      );
    }
    const connection = new Connection(control, {
      streamId,
      start,
      recover,
      listenDelete: param("listen-delete") !== "false",
      noDependencies: param("no-dependencies", "no-relationships") === "true",
      withInferences: param("with-inferences") === "true",
      now,
    });
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => connection.open(controller),
      pull: () => connection.pull(),
      cancel: () => connection.close(),
    }, { highWaterMark: 0 });
    return new Response(body, {
      status: 200,
      headers: {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Access-Control-Allow-Origin": "*",
        "Cache-Control": "no-cache, no-transform",
        "Connection": "keep-alive",
      },
    });
  });
  return app;
}

function empty(status: number, statusText: string, headers: Record<string, string> = {}) {
  return new Response(null, { status, statusText, headers });
}

/** A start or recover position: a stream id, `0`, epoch ms, or a date; null when unreadable. */
function toPosition(text: string): string | null {
  const value = text.trim();
  if (value === "0" || value === "0-0") return "0-0";
  if (/^\d+-\d+$/.test(value)) return value;
  if (/^\d+$/.test(value)) return `${value}-0`;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : `${ms}-0`;
}

interface ConnectionParams {
  streamId: string;
  start: string | undefined;
  recover: string | undefined;
  listenDelete: boolean;
  noDependencies: boolean;
  withInferences: boolean;
  now: Now;
}

const encoder = new TextEncoder();

/** One open SSE response. */
class Connection {
  readonly connectionId = crypto.randomUUID();
  readonly streamId: string;
  readonly #control: StreamControl;
  readonly #params: ConnectionParams;
  readonly #pending: string[] = [];
  readonly #sentDependencies = new Set<string>();
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #recovery: StixObject[] = [];
  /** Last store event id processed (the read position); undefined = live only, not started. */
  #position: string | undefined;
  /** What heartbeats carry. */
  #lastId: string | undefined;
  #framesWritten = 0;
  #lastBeat = 0;
  #closed = false;
  #wake: (() => void) | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(control: StreamControl, params: ConnectionParams) {
    this.#control = control;
    this.#params = params;
    this.streamId = params.streamId;
  }

  open(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
    const store = this.#control.store;
    const { start, recover } = this.#params;
    const startMs = start === undefined ? 0 : parseEventId(start)?.[0] ?? 0;
    const recoverMs = recover === undefined ? undefined : parseEventId(recover)?.[0];
    if (start !== undefined && recoverMs !== undefined && recoverMs > startMs) {
      // Recovery: current objects updated in [start, recover], oldest first, then live from recover.
      this.#recovery = store.list()
        .filter((o) => {
          const ms = updatedAtMs(o);
          return ms >= startMs && ms <= recoverMs && this.#visible(o);
        })
        .sort((a, b) => updatedAtMs(a) - updatedAtMs(b));
      this.#position = `${recoverMs}-0`;
      this.#lastId = start;
    } else if (start !== undefined) {
      this.#position = start;
      this.#lastId = start;
    }
    this.#pending.push(this.#connectedFrame());
    this.#lastBeat = Date.now();
    this.#unsubscribe = store.subscribe(() => this.wake());
    this.#control.add(this);
  }

  info(): ConnectionInfo {
    return {
      connectionId: this.connectionId,
      streamId: this.streamId,
      lastId: this.#lastId,
      framesWritten: this.#framesWritten,
      recoveryLeft: this.#recovery.length,
    };
  }

  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  inject(kind: MalformedKind): void {
    const id = this.#lastId === undefined ? "" : `id: ${this.#lastId}\n`;
    const frames: Record<MalformedKind, string> = {
      "bad-json": `${id}event: create\ndata: {"version":"4","type":"create","data":{"id":\n\n`,
      "missing-data":
        `${id}event: update\ndata: {"version":"4","type":"update","scope":"external","message":"updates","origin":{}}\n\n`,
      "unknown-event": `${id}event: sync\ndata: {"version":"4"}\n\n`,
    };
    this.#pending.unshift(frames[kind]);
    this.wake();
  }

  drop(options: { midFrame?: boolean; abort?: boolean }): void {
    const controller = this.#controller;
    if (this.#closed || controller === undefined) return;
    try {
      if (options.midFrame) {
        const frame = this.#pending[0] ?? this.#nextFrames()[0] ?? this.#heartbeatFrame();
        if (frame !== undefined) {
          const bytes = encoder.encode(frame);
          controller.enqueue(bytes.subarray(0, Math.max(1, Math.floor(bytes.length / 2))));
        }
      }
      if (options.abort) controller.error(new Error("Connection dropped by the simulator"));
      else controller.close();
    } catch {
      // already closed by the other side
    }
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#control.delete(this);
    this.wake();
  }

  async pull(): Promise<void> {
    const controller = this.#controller;
    while (!this.#closed && controller !== undefined) {
      if (this.#control.stalled) {
        await this.#sleep(undefined);
        continue;
      }
      const definition = this.#control.stream(this.streamId);
      if (definition === undefined || definition.live === false) {
        this.drop({});
        return;
      }
      const frame = this.#pending.shift() ?? this.#nextFrames().shift();
      if (frame !== undefined) {
        // #nextFrames may return several frames (dependencies first): keep the rest pending.
        controller.enqueue(encoder.encode(frame));
        this.#framesWritten++;
        this.#control.notify();
        return;
      }
      const dueIn = this.#lastBeat + this.#control.heartbeatMs - Date.now();
      if (dueIn <= 0) {
        this.#lastBeat = Date.now();
        const beat = this.#heartbeatFrame();
        if (beat !== undefined) {
          controller.enqueue(encoder.encode(beat));
          this.#framesWritten++;
          this.#control.notify();
          return;
        }
        continue;
      }
      await this.#sleep(dueIn);
    }
  }

  /** Produces the frames of the next recovery object or stored event (possibly none: filtered). */
  #nextFrames(): string[] {
    const store = this.#control.store;
    for (;;) {
      const object = this.#recovery.shift();
      if (object !== undefined) {
        this.#lastId = `${updatedAtMs(object)}-0`;
        const frames = this.#dependencyFrames(object, this.#lastId);
        frames.push(frame(this.#lastId, "create", {
          version: "4",
          message: `creates a ${entityTypeOf(object)} \`${label(object)}\``,
          origin: { referer: "init-create" },
          data: object,
        }));
        this.#sentDependencies.add(object.id);
        return this.#stash(frames);
      }
      if (this.#position === undefined) {
        // Live only: start after the newest event that exists when the first read happens.
        this.#position = store.lastEventId() ?? "0-0";
        if (store.lastEventId() !== undefined) this.#lastId = this.#position;
      }
      const event = store.eventAfter(this.#position);
      if (event === undefined) return [];
      this.#position = event.id;
      this.#lastId = event.id;
      const frames = this.#render(event);
      if (frames.length > 0) return this.#stash(frames);
    }
  }

  #stash(frames: string[]): string[] {
    // The caller sends the first frame; the others wait in #pending (bounded by one event).
    const [first, ...rest] = frames;
    this.#pending.push(...rest);
    return first === undefined ? [] : [first];
  }

  #render(event: StreamEvent): string[] {
    const { listenDelete } = this.#params;
    const after = this.#visible(event.data);
    // `type` stays the stored event type even when the SSE name changes (§3.7).
    const envelope = () => ({
      version: "4",
      type: event.event,
      scope: "external",
      message: event.message,
      origin: event.origin,
      data: event.data,
      ...(event.context === undefined ? {} : { context: event.context }),
      event_id: event.id,
    });
    switch (event.event) {
      case "create":
      case "merge":
        if (!after) return [];
        return [
          ...this.#dependencyFrames(event.data, event.id),
          frame(event.id, event.event, envelope()),
        ];
      case "delete":
        return after && listenDelete ? [frame(event.id, "delete", envelope())] : [];
      case "update": {
        const before = event.before === undefined ? after : this.#visible(event.before);
        if (before && after) return [frame(event.id, "update", envelope())];
        if (!before && after) {
          return [
            ...this.#dependencyFrames(event.data, event.id),
            frame(event.id, "create", envelope()),
          ];
        }
        if (before && !after && listenDelete) return [frame(event.id, "delete", envelope())];
        return [];
      }
    }
  }

  /** `create` frames for referenced objects not yet sent on this connection, reusing `id`. */
  #dependencyFrames(object: StixObject, id: string): string[] {
    if (this.#params.noDependencies) return [];
    const frames: string[] = [];
    const visit = (current: StixObject, depth: number) => {
      for (const ref of refsOf(current)) {
        if (this.#sentDependencies.has(ref)) continue;
        const dependency = this.#control.store.get(ref);
        if (dependency === undefined) continue;
        this.#sentDependencies.add(ref);
        if (depth < 3) visit(dependency, depth + 1);
        frames.push(frame(id, "create", {
          version: "4",
          message: `creates a ${entityTypeOf(dependency)} \`${label(dependency)}\``,
          origin: { referer: "init-dependencies" },
          data: dependency,
        }));
      }
    };
    visit(object, 0);
    return frames;
  }

  #visible(object: StixObject): boolean {
    const definition = this.#control.stream(this.streamId);
    if (!this.#params.withInferences && extensionOf(object)?.is_inferred === true) return false;
    return matches(definition?.filter, object);
  }

  #connectedFrame(): string {
    const store = this.#control.store;
    const first = store.firstEventId();
    const last = store.lastEventId();
    const date = (id: string | undefined) =>
      new Date(id === undefined ? 0 : parseEventId(id)?.[0] ?? 0).toISOString();
    return `event: connected\ndata: ${
      JSON.stringify({
        lastEventId: last ?? "",
        firstEventId: first ?? "",
        firstEventDate: date(first),
        lastEventDate: date(last),
        streamSize: store.events().length,
        connectionId: this.connectionId,
      })
    }\n\n`;
  }

  #heartbeatFrame(): string | undefined {
    if (this.#lastId === undefined) return undefined;
    const ms = parseEventId(this.#lastId)?.[0] ?? 0;
    return frame(this.#lastId, "heartbeat", new Date(ms).toISOString());
  }

  #sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      function done() {
        resolve();
      }
      this.#wake = wake;
      if (this.#closed) wake();
    });
  }
}

function frame(id: string, event: string, data: unknown): string {
  return `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function label(object: StixObject): string {
  for (const key of ["name", "value", "pattern"]) {
    const value = object[key];
    if (typeof value === "string" && value !== "") return value;
  }
  return object.id;
}

/** Ids an object refers to (what the platform sends as dependencies). */
function refsOf(object: StixObject): string[] {
  const refs: string[] = [];
  for (const [key, value] of Object.entries(object)) {
    if (key.endsWith("_ref") && typeof value === "string") refs.push(value);
    if (key.endsWith("_refs") && Array.isArray(value)) {
      for (const item of value) if (typeof item === "string") refs.push(item);
    }
  }
  return refs;
}

/** True when `object` passes every condition of `filter`. */
export function matches(filter: StreamFilter | undefined, object: StixObject): boolean {
  if (filter === undefined) return true;
  if (filter.types && !filter.types.includes(object.type)) return false;
  if (filter.labels) {
    const labels = Array.isArray(object.labels) ? object.labels : [];
    if (!filter.labels.some((l) => labels.includes(l))) return false;
  }
  if (filter.minScore !== undefined) {
    const score = extensionOf(object)?.score;
    if (typeof score !== "number" || score < filter.minScore) return false;
  }
  if (filter.excludeRevoked && object.revoked === true) return false;
  if (filter.match && !filter.match(object)) return false;
  return true;
}

/** Compares stream ids numerically (re-exported for tests and the control API). */
export { compareEventIds };
