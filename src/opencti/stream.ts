/**
 * The OpenCTI live stream reader (`reference/opencti.md` §3, §6): an async iterator over the SSE
 * frames of `GET {url}/stream/{id}` that resumes from its cursor, reconnects with capped backoff
 * and jitter, runs a 45 s watchdog, and skips (and counts) malformed frames.
 *
 * Backpressure: the iterator reads the next network chunk only when the consumer asks for a frame
 * and every frame of the previous chunk was handed out, so at most one chunk's frames are held in
 * memory (see {@linkcode LiveStreamStats.retained}).
 *
 * @module
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import * as v from "valibot";
import { getLogger } from "../log.ts";
import {
  type Now,
  type SetTimer,
  type Sleep,
  systemNow,
  systemSetTimer,
  systemSleep,
} from "../runtime/clock.ts";
import { errorMessage, HttpError, NetworkError } from "../runtime/errors.ts";
import type { Fetch } from "../runtime/http.ts";
import { backoffDelay, parseRetryAfter } from "../runtime/retry.ts";
import type { StixObject } from "../stix/types.ts";

const logger = getLogger("opencti", "stream");

/** The token was refused for the stream (HTTP 401/403). */
export class StreamAuthError extends Error {
  /** The error's name. */
  override name = "StreamAuthError";
  /** The live stream id. */
  readonly streamId: string;
  /** HTTP status (401 or 403). */
  readonly status: number;

  /** Builds the error for `streamId`. */
  constructor(streamId: string, status: number, options?: ErrorOptions) {
    super(
      `OPENCTI_TOKEN was rejected for live stream ${streamId} (HTTP ${status}): check the token, ` +
        `that its user may read this stream collection, and that the stream id exists`,
      options,
    );
    this.streamId = streamId;
    this.status = status;
  }
}

/** The stream collection exists but is stopped (HTTP 410). */
export class StreamStoppedError extends Error {
  /** The error's name. */
  override name = "StreamStoppedError";
  /** The live stream id. */
  readonly streamId: string;

  /** Builds the error for `streamId`. */
  constructor(streamId: string, options?: ErrorOptions) {
    super(
      `live stream ${streamId} is stopped in OpenCTI: start it in Data > Data sharing > Live streams`,
      options,
    );
    this.streamId = streamId;
  }
}

/** The stream collection does not exist (HTTP 404). */
export class StreamNotFoundError extends Error {
  /** The error's name. */
  override name = "StreamNotFoundError";
  /** The live stream id. */
  readonly streamId: string;

  /** Builds the error for `streamId`. */
  constructor(streamId: string, options?: ErrorOptions) {
    super(
      `live stream ${streamId} does not exist in OpenCTI: set CONNECTOR_LIVE_STREAM_ID to the id ` +
        `shown in Data > Data sharing > Live streams`,
      options,
    );
    this.streamId = streamId;
  }
}

/** Names of live-stream data events. */
export type DataEventName = "create" | "update" | "delete" | "merge";

/** The `data:` JSON of a data event (§3.6); `data` is the STIX object. */
export interface StreamEnvelope {
  /** Event format version, `"4"`. */
  version?: string | undefined;
  /** Stored event type; absent on recovery and dependency events; may differ from the SSE name. */
  type?: string | undefined;
  /** `"external"` on stored events. */
  scope?: string | undefined;
  /** Human text. */
  message?: string | undefined;
  /** Who caused the event; `referer` is `init-create` on recovery events. */
  origin?: Record<string, unknown> | undefined;
  /** The STIX object. */
  data: StixObject;
  /** Patch details of updates and merges. */
  context?: Record<string, unknown> | undefined;
  /** Origin event id. */
  event_id?: string | undefined;
}

/** The `data:` JSON of the `connected` frame. */
export interface ConnectedInfo {
  /** Newest id of the platform stream. */
  lastEventId?: string | undefined;
  /** Oldest retained id of the platform stream. */
  firstEventId?: string | undefined;
  /** Connection id (for `POST /stream/connection/<id>`). */
  connectionId?: string | undefined;
  /** Number of events in the platform stream. */
  streamSize?: number | undefined;
  /** Other fields the platform may add. */
  [key: string]: unknown;
}

/** The first frame of a connection (carries no id). */
export interface ConnectedFrame {
  /** Frame name. */
  event: "connected";
  /** Never set on `connected`. */
  id?: undefined;
  /** Stream description. */
  data: ConnectedInfo;
  /** The `data:` text, when `keepRaw` is on. */
  raw?: string;
}

/** A heartbeat: `id` is the last id the server processed; `data` its ISO date. */
export interface HeartbeatFrame {
  /** Frame name. */
  event: "heartbeat";
  /** The server's last processed id (repeats are normal). */
  id: string;
  /** ISO date of the id. */
  data: string;
  /** The `data:` text, when `keepRaw` is on. */
  raw?: string;
}

/** A data event; branch on `event` (the SSE name), never on `data.type` (§3.7). */
export interface DataFrame {
  /** The SSE event name. */
  event: DataEventName;
  /** Stream id `<ms>-<seq>` (not unique: dependency and recovery events share ids). */
  id: string;
  /** The parsed envelope. */
  data: StreamEnvelope;
  /** The `data:` text, when `keepRaw` is on. */
  raw?: string;
}

/** One parsed frame of the live stream. */
export type StreamFrame = ConnectedFrame | HeartbeatFrame | DataFrame;

/** A malformed frame that was skipped. */
export interface MalformedFrame {
  /** The frame's id, if it had one. */
  id: string | undefined;
  /** The frame's SSE name, if it had one. */
  event: string | undefined;
  /** Why it was skipped. */
  reason: string;
}

/** Counters for status pages and tests. */
export interface LiveStreamStats {
  /** Frames handed to the consumer. */
  frames: number;
  /** Connections made after the first attempt (after errors, stream ends and watchdog timeouts). */
  reconnects: number;
  /** Malformed frames skipped. */
  malformed: number;
  /** Frames with an unknown event name, skipped. */
  ignored: number;
  /** Connections dropped by the watchdog. */
  watchdogTimeouts: number;
  /** Parsed frames held in memory, not yet handed to the consumer. */
  retained: number;
  /** Highest `retained` seen. */
  maxRetained: number;
  /** True while a 200 response is being read. */
  connected: boolean;
  /** The last connection error's message, if the last attempt failed. */
  lastError: string | undefined;
}

/** What to do on 401/403/404/410 (configuration problems). */
export type ConfigErrorPolicy = "retry" | "throw";

/** Options of {@linkcode readLiveStream}. */
export interface LiveStreamOptions {
  /** OpenCTI base URL (`OPENCTI_URL`). */
  url: string;
  /** API token (`OPENCTI_TOKEN`). */
  token: string;
  /** Stream collection id (`CONNECTOR_LIVE_STREAM_ID`). */
  streamId: string;
  /** Start position sent as `Last-Event-ID` (state `start_from`). @default none (live only) */
  startFrom?: string;
  /** Recover date sent as `?recover=` on every connection (state `recover_until`); false or "no"/"none"/"false" to send none. @default false */
  recover?: string | false;
  /** `listen-delete` header. @default true */
  listenDelete?: boolean;
  /** `no-dependencies` header. @default true */
  noDependencies?: boolean;
  /** `with-inferences` header. @default false */
  withInferences?: boolean;
  /** Extra request headers (`OPENCTI_CUSTOM_HEADERS`). @default {} */
  headers?: Record<string, string>;
  /** Reconnect when no frame arrives for this long while waiting on the network, in ms. @default 45000 */
  watchdogMs?: number;
  /** Base of the reconnect backoff in ms. @default 3000 */
  retryBaseMs?: number;
  /** Cap of the reconnect backoff in ms. @default 60000 */
  retryCapMs?: number;
  /** Delay before retrying after 401/403/404/410, in ms. @default 300000 */
  configErrorRetryMs?: number;
  /** On 401/403/404/410: keep retrying slowly, or throw from the iterator. @default "retry" */
  onConfigError?: ConfigErrorPolicy;
  /** Called for each skipped malformed frame. @default none (logged only) */
  onMalformed?: (frame: MalformedFrame) => void;
  /** Called for each failed connection or dropped stream before the wait. @default none (logged only) */
  onError?: (error: Error, info: { delayMs: number }) => void;
  /** Largest frame accepted, in characters (larger ones are skipped as malformed). @default 33554432 */
  maxFrameChars?: number;
  /** Keep the `data:` text on frames as `raw`. @default false */
  keepRaw?: boolean;
  /**
   * Backpressure from the consumer: asked before each frame is handed out; while it returns a
   * promise, the frame stays in the buffer until the promise settles (e.g. while a batch is sent
   * or held). @default none
   */
  gate?: () => Promise<unknown> | undefined;
  /** Stops reading; the iterator then ends. @default none */
  signal?: AbortSignal;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock (to read `Retry-After` dates). @default Date.now */
  now?: Now;
  /** The sleep between reconnects. @default a real timer */
  sleep?: Sleep;
  /** Random source in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /** Timer for the watchdog. @default setTimeout/clearTimeout */
  setTimer?: SetTimer;
}

const RECOVER_OFF = new Set(["no", "none", "false"]);
const DATA_EVENTS = new Set<string>(["create", "update", "delete", "merge"]);

function optionalString(value: unknown): boolean {
  return value === undefined || typeof value === "string";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Why a data event's JSON is not an envelope (§3.6), or undefined when it is. Checked by hand
 * rather than with a schema so the (possibly large) STIX object is not copied on the hot path.
 */
export function envelopeProblem(json: unknown): string | undefined {
  if (!isRecord(json)) return "not a JSON object";
  const data = json.data;
  if (!isRecord(data)) return "data: expected a STIX object";
  if (typeof data.id !== "string") return "data.id: expected a string";
  if (typeof data.type !== "string") return "data.type: expected a string";
  // Each property loaded by name (monomorphic loads; a loop over the names was megamorphic).
  if (!optionalString(json.version)) return "version: expected a string";
  if (!optionalString(json.type)) return "type: expected a string";
  if (!optionalString(json.scope)) return "scope: expected a string";
  if (!optionalString(json.message)) return "message: expected a string";
  if (!optionalString(json.event_id)) return "event_id: expected a string";
  if (json.origin !== undefined && !isRecord(json.origin)) return "origin: expected an object";
  if (json.context !== undefined && !isRecord(json.context)) return "context: expected an object";
  return undefined;
}
const ConnectedSchema = v.looseObject({
  lastEventId: v.optional(v.string()),
  firstEventId: v.optional(v.string()),
  connectionId: v.optional(v.string()),
  streamSize: v.optional(v.number()),
});

/** The initial stream state on a first start, with pycti's semantics (§6). */
export function firstStartPosition(
  options: {
    /** `CONNECTOR_LIVE_STREAM_START_TIMESTAMP` (epoch ms). @default none: "0-0" */
    startTimestamp?: number;
    /** `CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE`. @default now */
    recoverIsoDate?: string;
    /** The clock. @default Date.now */
    now?: Now;
  } = {},
): { startFrom: string; recover: string } {
  const now = options.now ?? systemNow;
  return {
    startFrom: options.startTimestamp === undefined ? "0-0" : `${options.startTimestamp}-0`,
    recover: options.recoverIsoDate ?? new Date(now()).toISOString(),
  };
}

/** Opens the live stream; iterate the result with `for await`. */
export function readLiveStream(options: LiveStreamOptions): LiveStreamReader {
  return new LiveStreamReader(options);
}

/** An async iterator of live-stream frames with its cursor and counters. */
export class LiveStreamReader implements AsyncIterableIterator<StreamFrame> {
  readonly #options: LiveStreamOptions;
  readonly #abort = new AbortController();
  readonly #signal: AbortSignal;
  readonly #generator: AsyncGenerator<StreamFrame, void, undefined>;
  /** The messages of the chunk being handed out, and the first not handed out yet. */
  #buffer: EventSourceMessage[] = [];
  #next = 0;
  /** True while the generator waits at its `yield` of a frame (`next()` may go on from there). */
  #atYield = false;
  /** The frame handed out last: its id becomes the cursor when the consumer asks for more. */
  #taken: StreamFrame | undefined;
  #cursor: string | undefined;
  #stats: LiveStreamStats = {
    frames: 0,
    reconnects: 0,
    malformed: 0,
    ignored: 0,
    watchdogTimeouts: 0,
    retained: 0,
    maxRetained: 0,
    connected: false,
    lastError: undefined,
  };

  /** Prepares the reader; nothing is sent before the first `next()`. */
  constructor(options: LiveStreamOptions) {
    this.#options = options;
    this.#cursor = options.startFrom;
    this.#signal = options.signal
      ? AbortSignal.any([options.signal, this.#abort.signal])
      : this.#abort.signal;
    this.#generator = this.#run();
  }

  /** The last id seen on an id-bearing frame the consumer took (heartbeats included), or the start position. */
  get cursor(): string | undefined {
    return this.#cursor;
  }

  /** A snapshot of the counters. */
  get stats(): LiveStreamStats {
    return { ...this.#stats };
  }

  /** Reads the next frame (resolves `done` once closed or aborted). */
  next(): Promise<IteratorResult<StreamFrame, undefined>> {
    if (this.#atYield) {
      // The generator waits at its `yield` and the chunk read holds more frames: hand the next
      // one out here, exactly as the generator's loop would, without a round trip through the
      // two generators per frame. The generator resumes once the chunk is used up.
      this.#applyTaken();
      const buffer = this.#buffer;
      while (this.#next < buffer.length && !this.#signal.aborted) {
        // The consumer holds frames back: the generator waits on its gate.
        if (this.#options.gate?.()) break;
        let frame: StreamFrame | undefined;
        try {
          frame = this.#take(buffer);
        } catch (error) {
          // Raised where the generator waits, so its connection handling sees it as before.
          this.#atYield = false;
          return this.#generator.throw(error) as Promise<IteratorResult<StreamFrame, undefined>>;
        }
        if (frame === undefined) continue;
        this.#taken = frame;
        return Promise.resolve({ value: frame, done: false });
      }
      this.#atYield = false;
    }
    return this.#generator.next() as Promise<IteratorResult<StreamFrame, undefined>>;
  }

  /** Closes the connection and ends the iteration. */
  async return(): Promise<IteratorResult<StreamFrame, undefined>> {
    this.#atYield = false;
    this.#abort.abort(new DOMException("Live stream reader closed", "AbortError"));
    await this.#generator.return(undefined);
    return { done: true, value: undefined };
  }

  /** The consumer asked for another frame: the one it took last moves the cursor. */
  #applyTaken(): void {
    const taken = this.#taken;
    if (taken === undefined) return;
    this.#taken = undefined;
    if (taken.id !== undefined) this.#cursor = taken.id;
  }

  /** Hands out the next buffered message as a frame, or undefined when it is skipped. */
  #take(buffer: EventSourceMessage[]): StreamFrame | undefined {
    const message = buffer[this.#next] as EventSourceMessage;
    buffer[this.#next++] = EMPTY_MESSAGE; // handed out: not kept alive by the buffer
    this.#stats.retained = buffer.length - this.#next;
    const frame = this.#toFrame(message);
    if (frame !== undefined) this.#stats.frames++;
    return frame;
  }

  /** Closes the connection (same as `return()`). */
  async close(): Promise<void> {
    await this.return();
  }

  /** This reader. */
  [Symbol.asyncIterator](): LiveStreamReader {
    return this;
  }

  async *#run(): AsyncGenerator<StreamFrame, void, undefined> {
    const o = this.#options;
    const doFetch = o.fetch ?? globalThis.fetch;
    const now = o.now ?? systemNow;
    const sleep = o.sleep ?? systemSleep;
    const random = o.random ?? Math.random;
    const retryBaseMs = o.retryBaseMs ?? 3000;
    const retryCapMs = o.retryCapMs ?? 60_000;
    let failures = 0;
    let first = true;
    while (!this.#signal.aborted) {
      if (!first) this.#stats.reconnects++;
      first = false;
      let delayMs: number;
      let error: Error;
      try {
        const outcome = yield* this.#connect(doFetch);
        if (outcome === "aborted") return;
        failures = outcome === "healthy" ? 1 : failures + 1;
        error = new NetworkError(
          outcome === "watchdog"
            ? `No frame arrived on live stream ${o.streamId} for ${
              o.watchdogMs ?? 45_000
            } ms: reconnecting`
            : `Live stream ${o.streamId} ended: reconnecting`,
        );
        delayMs = backoffDelay(failures, retryBaseMs, retryCapMs, random);
      } catch (caught) {
        if (this.#signal.aborted) return;
        error = caught instanceof Error ? caught : new Error(String(caught));
        failures++;
        if (isConfigError(error)) {
          if ((o.onConfigError ?? "retry") === "throw") throw error;
          delayMs = o.configErrorRetryMs ?? 300_000;
        } else {
          const requested = error instanceof HttpError
            ? parseRetryAfter(error.headers.get("retry-after"), now())
            : undefined;
          delayMs = requested !== undefined
            ? Math.min(requested, retryCapMs)
            : backoffDelay(failures, retryBaseMs, retryCapMs, random);
        }
      }
      this.#stats.connected = false;
      this.#stats.lastError = error.message;
      logger.warn("Live stream {streamId}: {error}; retrying in {delayMs} ms from {cursor}", {
        streamId: o.streamId,
        error: error.message,
        delayMs,
        cursor: this.#cursor ?? "(live)",
      });
      o.onError?.(error, { delayMs });
      try {
        await sleep(delayMs, this.#signal);
      } catch {
        return;
      }
    }
  }

  /** One connection: yields its frames; tells how it ended, or throws the connection error. */
  async *#connect(
    doFetch: Fetch,
  ): AsyncGenerator<StreamFrame, "aborted" | "ended" | "healthy" | "watchdog", undefined> {
    const o = this.#options;
    const connection = new AbortController();
    const signal = AbortSignal.any([this.#signal, connection.signal]);
    let response: Response;
    try {
      response = await doFetch(this.#url(), { headers: this.#headers(), signal });
    } catch (cause) {
      if (this.#signal.aborted) return "aborted";
      throw new NetworkError(
        `Cannot reach ${safeBase(o.url)} for live stream ${o.streamId}: ${errorMessage(cause)}`,
        { cause },
      );
    }
    if (response.status !== 200 || response.body === null) {
      await response.body?.cancel().catch(() => {});
      throw statusError(o.streamId, response);
    }
    const contentType = response.headers.get("content-type") ?? "";
    if (!contentType.includes("text/event-stream")) {
      await response.body.cancel().catch(() => {});
      throw new HttpError(
        `Live stream ${o.streamId} answered ${contentType || "no content type"} instead of ` +
          `text/event-stream: check OPENCTI_URL (a proxy or login page may be in the way)`,
        response.status,
        "",
        response.headers,
      );
    }
    this.#stats.connected = true;
    this.#stats.lastError = undefined;
    logger.info("Connected to live stream {streamId} from {cursor}", {
      streamId: o.streamId,
      cursor: this.#cursor ?? "(live)",
    });
    const reader = chunkReader(response.body);
    // The frames of the last chunk read, handed out one at a time (`#next` is the first not yet
    // handed out, by this loop or by `next()`); the next chunk is read only once all of them
    // were taken.
    const buffer: EventSourceMessage[] = [];
    this.#buffer = buffer;
    this.#next = 0;
    const decoder = new TextDecoder();
    const parser = createParser({
      onEvent: (message) => buffer.push(message),
      onError: (error) => {
        if (error.type === "max-buffer-size-exceeded") {
          this.#malformed(undefined, undefined, "frame larger than maxFrameChars");
          parser.reset();
        }
      },
      maxBufferSize: o.maxFrameChars ?? 32 * 1024 * 1024,
    });
    const watchdogMs = o.watchdogMs ?? 45_000;
    const setTimer = o.setTimer ?? systemSetTimer;
    let healthy = false;
    try {
      for (;;) {
        while (this.#next < buffer.length) {
          if (this.#signal.aborted) return "aborted";
          const held = o.gate?.();
          if (held) {
            await held.catch(() => {});
            continue;
          }
          const frame = this.#take(buffer);
          if (frame === undefined) continue;
          healthy = true;
          this.#taken = frame;
          this.#atYield = true;
          yield frame;
          this.#atYield = false;
          this.#applyTaken();
        }
        buffer.length = 0;
        this.#next = 0;
        // The watchdog counts from here: only time spent waiting on the network.
        const chunk = await readWithin(reader.read, watchdogMs, setTimer);
        // An aborted fetch may still hand over bytes already received: stop here.
        if (this.#signal.aborted) return "aborted";
        if (chunk === "timeout") {
          this.#stats.watchdogTimeouts++;
          return "watchdog";
        }
        if (chunk.done) return healthy ? "healthy" : "ended";
        parser.feed(decoder.decode(chunk.value, { stream: true }));
        this.#stats.retained = buffer.length;
        if (buffer.length > this.#stats.maxRetained) this.#stats.maxRetained = buffer.length;
      }
    } catch (cause) {
      if (this.#signal.aborted) return "aborted";
      if (healthy) {
        logger.warn("Live stream {streamId} connection broke: {error}", {
          streamId: o.streamId,
          error: errorMessage(cause),
        });
        return "healthy";
      }
      throw new NetworkError(`Live stream ${o.streamId} connection broke: ${errorMessage(cause)}`, {
        cause,
      });
    } finally {
      this.#atYield = false;
      // A partial frame left in the parser is discarded with it (§3.8).
      this.#stats.retained = 0;
      this.#stats.connected = false;
      connection.abort();
      await reader.cancel().catch(() => {});
    }
  }

  /** Turns a parsed SSE message into a frame, or skips (and counts) it. */
  #toFrame(message: EventSourceMessage): StreamFrame | undefined {
    const { id: rawId, event, data } = message;
    const id = rawId === undefined || rawId === "" ? undefined : ownString(rawId);
    if (event === "connected") {
      const raw = this.#options.keepRaw ? { raw: data } : {};
      const parsed = v.safeParse(ConnectedSchema, parseJson(data));
      if (!parsed.success) return this.#malformed(id, event, "connected data is not an object");
      const frame: ConnectedFrame = { event: "connected", data: parsed.output, ...raw };
      return frame;
    }
    if (event === "heartbeat") {
      const raw = this.#options.keepRaw ? { raw: data } : {};
      if (id === undefined) return this.#malformed(id, event, "heartbeat without id");
      const date = parseJson(data);
      if (typeof date !== "string") {
        this.#cursor = id;
        return this.#malformed(id, event, "heartbeat data is not a JSON string");
      }
      return { event, id, data: date, ...raw };
    }
    if (event !== undefined && DATA_EVENTS.has(event)) {
      if (id === undefined) return this.#malformed(id, event, "data event without id");
      this.#cursor = id; // a skipped frame is never read again
      const json = parseJson(data);
      if (json === INVALID) return this.#malformed(id, event, "data is not valid JSON");
      const problem = envelopeProblem(json);
      if (problem !== undefined) return this.#malformed(id, event, `envelope invalid: ${problem}`);
      const frame: DataFrame = { event: event as DataEventName, id, data: json as StreamEnvelope };
      if (this.#options.keepRaw) frame.raw = data; // no spread per frame on the hot path
      return frame;
    }
    if (id !== undefined) this.#cursor = id;
    this.#stats.ignored++;
    logger.debug("Ignored live stream frame {id} with unknown event {event}", {
      id: id ?? "(none)",
      event: event ?? "(none)",
    });
    return undefined;
  }

  #malformed(id: string | undefined, event: string | undefined, reason: string): undefined {
    this.#stats.malformed++;
    logger.warn("Skipped malformed live stream frame {id} ({event}): {reason}", {
      id: id ?? "(none)",
      event: event ?? "(none)",
      reason,
    });
    this.#options.onMalformed?.({ id, event, reason });
    return undefined;
  }

  #url(): string {
    const o = this.#options;
    const base = o.url.replace(/\/+$/, "");
    const url = `${base}/stream/${encodeURIComponent(o.streamId)}`;
    const recover = o.recover;
    if (recover === undefined || recover === false || RECOVER_OFF.has(recover.toLowerCase())) {
      return url;
    }
    return `${url}?recover=${encodeURIComponent(recover)}`;
  }

  #headers(): Headers {
    const o = this.#options;
    const headers = new Headers(o.headers ?? {});
    headers.set("authorization", `Bearer ${o.token}`);
    headers.set("accept", "text/event-stream");
    headers.set("cache-control", "no-cache");
    headers.set("listen-delete", String(o.listenDelete ?? true));
    headers.set("no-dependencies", String(o.noDependencies ?? true));
    headers.set("with-inferences", String(o.withInferences ?? false));
    if (this.#cursor !== undefined) headers.set("last-event-id", this.#cursor);
    return headers;
  }
}

const INVALID = Symbol("invalid JSON");
const EMPTY_MESSAGE: EventSourceMessage = { id: undefined, event: undefined, data: "" };

/**
 * A copy of `text` that shares no storage with a larger string. V8 keeps a substring of 13
 * characters or more as a view on its parent, so a frame id sliced from a network chunk would keep
 * the whole decoded chunk alive for as long as the checkpoint tracker holds the id; flattening a
 * concatenation copies the characters.
 */
function ownString(text: string): string {
  return text.length < 13 ? text : `${text} `.slice(0, -1);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return INVALID;
  }
}

function isConfigError(error: Error): boolean {
  return error instanceof StreamAuthError || error instanceof StreamStoppedError ||
    error instanceof StreamNotFoundError;
}

function statusError(streamId: string, response: Response): Error {
  switch (response.status) {
    case 401:
    case 403:
      return new StreamAuthError(streamId, response.status);
    case 404:
      return new StreamNotFoundError(streamId);
    case 410:
      return new StreamStoppedError(streamId);
    default:
      return new HttpError(
        `Live stream ${streamId} answered HTTP ${response.status} ${response.statusText}`.trim(),
        response.status,
        "",
        response.headers,
      );
  }
}

type ReadResult = ReadableStreamReadResult<Uint8Array>;

const DONE: ReadResult = { done: true };

/** Bytes read per network read when the body is a byte stream (a `fetch` response is). */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Reads the response body. A byte stream (what `fetch` gives) is read into one reused buffer
 * (a "byob" reader): each chunk is decoded before the next read, so no buffer per network read
 * is allocated, and none waits, dead, for the garbage collector (with V8's default young
 * generation that was 10-16 MB of external memory at a time). Any other stream is read as it is.
 */
function chunkReader(
  body: ReadableStream<Uint8Array>,
): { read: () => Promise<ReadResult>; cancel: () => Promise<void> } {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    const reader = body.getReader();
    return { read: () => reader.read(), cancel: () => reader.cancel() };
  }
  let buffer = new ArrayBuffer(READ_BUFFER_BYTES);
  return {
    read: async () => {
      const result = await byob.read(new Uint8Array(buffer));
      // The read hands the buffer back (transferred) in its view: reuse it for the next read.
      if (result.value !== undefined) buffer = result.value.buffer as ArrayBuffer;
      return result.done ? DONE : { done: false, value: result.value as Uint8Array };
    },
    cancel: () => byob.cancel(),
  };
}

/**
 * Reads one chunk, or gives up after `ms` (the watchdog). A chunk the stream already holds is
 * taken without arming a timer (a timer per chunk cost more than parsing the chunk's frames).
 */
async function readWithin(
  readChunk: () => Promise<ReadResult>,
  ms: number,
  setTimer: SetTimer,
): Promise<ReadResult | "timeout"> {
  let ready: ReadResult | undefined;
  const read = readChunk();
  read.then((result) => ready = result, () => {});
  // A queued chunk settles the read within these microtasks; only a real wait needs the timer.
  await undefined;
  await undefined;
  if (ready !== undefined) return ready;
  return new Promise((resolve, reject) => {
    const cancel = setTimer(() => resolve("timeout"), ms);
    read.then(
      (result) => {
        cancel();
        resolve(result);
      },
      (error) => {
        cancel();
        reject(error);
      },
    );
  });
}

function safeBase(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.origin;
  } catch {
    return "OPENCTI_URL";
  }
}
