/**
 * The stream pump: the generic half of a stream connector (issue 12: "a pump class for
 * flush/timers/checkpoints; typed frames instead of casts"), used by sentinel and tanium-intel.
 *
 * It registers the connector, follows the OpenCTI live stream, batches typed operations per key
 * (for one key the last event wins), flushes on size or time, and saves the cursor (`start_from`)
 * only when every frame up to it was acknowledged by the target, skipped by design, or kept as a
 * dead letter, so a crash or restart loses nothing. Failures are handled by scope (issue 11): a
 * request-level failure splits the batch until the bad item is alone, an item-level one becomes a
 * dead letter, and a systemic one holds the batch (no attempt cap, nothing more read, `degraded`
 * reported) until it goes through.
 *
 * What is specific to a connector comes from its {@linkcode PumpRoute} (frame → operations,
 * dead-letter replay → operations, what to do after an acknowledgement) and its
 * {@linkcode PumpTarget} (where operations go).
 */
import * as v from "valibot";
import type { StreamConnectorConfig } from "../config/types.ts";
import { getLogger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import {
  type Now,
  type SetTimer,
  type Sleep,
  systemNow,
  systemSetTimer,
  systemSleep,
} from "../runtime/clock.ts";
import type { ConnectorStatus } from "../runtime/connector.ts";
import type { Fetch } from "../runtime/http.ts";
import { Degradation } from "../runtime/degraded.ts";
import { ConnectorLifecycle, type ConnectorState } from "./connector.ts";
import type { OpenCtiClient } from "./graphql.ts";
import {
  type DataFrame,
  firstStartPosition,
  type LiveStreamReader,
  readLiveStream,
  StreamAuthError,
  StreamNotFoundError,
  StreamStoppedError,
} from "./stream.ts";
import { Batcher, type Pending } from "./batcher.ts";
import { CheckpointTracker } from "./checkpoint.ts";
import { FollowBatches } from "./follow_batches.ts";
import { type DeadLetter, DeadLetters, MemoryDeadLetterStore } from "./dead_letters.ts";
import { failed, type ItemResult, missingResult, scopeOf } from "../runtime/delivery.ts";
import { errorMessage } from "../runtime/errors.ts";

/** A pending target operation: create/update one item (`U`), or remove one (`R`). */
export type PumpOperation<U, R> =
  | { kind: "upsert"; indicator: U }
  | { kind: "remove"; removal: R };

/** Where a pump delivers; each call resolves with one result per input key. */
export interface PumpTarget<U, R> {
  /** Target name in messages and `/status`. */
  readonly name: string;
  /** Largest number of items per call. */
  readonly maxBatch: number;
  /**
   * Largest call when the target splits calls into requests itself (larger than the batch size:
   * fewer partly filled requests). @default the batch size
   */
  readonly maxCall?: number;
  /** Creates or updates items. */
  upsert(items: U[], signal?: AbortSignal): Promise<ItemResult[]>;
  /** Removes items; removing an absent one is a success. */
  remove(items: R[], signal?: AbortSignal): Promise<ItemResult[]>;
  /** Extra status for `/status`. */
  status?(): Record<string, unknown>;
}

/** One operation planned from a stream frame, with the key it is batched under. */
export interface PlannedOperation<U, R> {
  /** The STIX id the operation is for (batch key, dead-letter id). */
  key: string;
  /** The operation. */
  op: PumpOperation<U, R>;
}

/** The connector-specific half of a pump. */
export interface PumpRoute<U, R> {
  /**
   * A frame that only echoes our own write-back: skipped (`skipped.write_back_echo`) and the
   * cursor may move past it at once. @default never
   */
  echo?(frame: DataFrame): { id: string; detail: string } | undefined;
  /**
   * The operations of one frame; each entry is tracked as its own step, `null` completes at once
   * (a skip the route already reported with {@linkcode StreamPump.skip}).
   */
  plan(frame: DataFrame, now: number): Array<PlannedOperation<U, R> | null>;
  /**
   * The operations that bring the target in line with the object's current version (read from
   * OpenCTI by id; `undefined` when OpenCTI no longer has it), for a dead-letter replay.
   */
  replan(id: string, stix: unknown, now: number): PumpOperation<U, R>[];
  /** Called with the upserts the target acknowledged (e.g. to write a reference back). @default nothing */
  acknowledged?(items: U[]): Promise<void>;
}

/** Live-stream settings (the `CONNECTOR_LIVE_STREAM_*` options). */
export interface StreamOptions {
  /** `CONNECTOR_LIVE_STREAM_ID`. */
  streamId: string;
  /** `CONNECTOR_LIVE_STREAM_LISTEN_DELETE`. @default true */
  listenDelete?: boolean;
  /** `CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES`. @default true */
  noDependencies?: boolean;
  /** `CONNECTOR_LIVE_STREAM_WITH_INFERENCES`. @default false */
  withInferences?: boolean;
  /** `CONNECTOR_LIVE_STREAM_START_TIMESTAMP` (epoch ms), used on a first start. @default none */
  startTimestamp?: number;
  /** `CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE`, used on a first start. @default now */
  recoverIsoDate?: string | false;
  /** Reconnect when no frame arrives for this long, in ms. @default 45000 */
  watchdogMs?: number;
  /** Base of the reconnect backoff, in ms. @default 3000 */
  retryBaseMs?: number;
  /** Largest frame accepted, in characters; a larger one is skipped as `malformed_event`. @default 33554432 (32 MiB) */
  maxFrameChars?: number;
}

/**
 * The options every stream connector built on {@linkcode StreamPump} takes (sentinel,
 * tanium-intel): OpenCTI access, registration, stream settings, batching, backoff, dead letters,
 * catch-up and the injected clock, sleep, random, timer and fetch.
 */
export interface StreamPumpCommonOptions {
  /** OpenCTI base URL. */
  url: string;
  /** OpenCTI token. */
  token: string;
  /** The GraphQL client (registration, pings, state, replay reads). */
  client: OpenCtiClient;
  /** Registration settings (`CONNECTOR_*` of this connector). */
  connector: {
    id: string;
    name: string;
    scope: string[];
    queueThresholdMb: number;
    runAndTerminate?: boolean;
  };
  /** Stream settings. */
  stream: StreamOptions;
  /** Flush a non-empty batch after this long, in ms. @default 1000 */
  batchTimeoutMs?: number;
  /**
   * Batches read before a flush (issue 14): frames come into the pending set (for one key the last
   * event wins) until it holds this many batches' keys, which then leave in calls of one kind
   * (`batchSize` each). Updates of one indicator that arrive close together collapse into one
   * write, and upserts and removals each fill their calls. @default 8
   */
  readAheadBatches?: number;
  /**
   * Largest wait between two tries of a batch held by a systemic failure, in ms (e.g.
   * `SENTINEL_MAX_BACKOFF`). There is no attempt cap: a systemic failure never drops an item.
   */
  maxBackoffMs: number;
  /** First wait of that backoff, in ms. @default 1000 */
  backoffBaseMs?: number;
  /**
   * Where items refused for good (item-level failures, proven on their own) are kept.
   * @default an in-memory list of 10000 entries
   */
  deadLetters?: DeadLetters;
  /** Catch-up (runOnce): stop after this many heartbeats without a data event. @default 3 */
  quietHeartbeats?: number;
  /** Catch-up (runOnce): stop after this long at the latest, in ms. @default 50000 */
  catchUpBudgetMs?: number;
  /** Metrics registry. @default none */
  metrics?: Metrics;
  /** Ping interval in ms. @default 40000 */
  pingIntervalMs?: number;
  /** The fetch used for the stream. @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep (backoff between retries). @default a real timer */
  sleep?: Sleep;
  /** Random source for jitter. @default Math.random */
  random?: () => number;
  /** Timer for batch timeouts, the catch-up budget and the stream watchdog. @default setTimeout */
  setTimer?: SetTimer;
}

/**
 * The registration (`connector`) and stream (`stream`) options of a stream connector, from its
 * read `CONNECTOR_*` / `CONNECTOR_LIVE_STREAM_*` settings.
 */
export function streamConnectorOptions(
  config: StreamConnectorConfig,
): Pick<StreamPumpCommonOptions, "connector" | "stream"> {
  const live = config.liveStream;
  return {
    connector: {
      id: config.id,
      name: config.name,
      scope: config.scope,
      queueThresholdMb: config.queueThresholdMb,
      runAndTerminate: config.runAndTerminate,
    },
    stream: {
      streamId: live.id,
      listenDelete: live.listenDelete,
      noDependencies: live.noDependencies,
      withInferences: live.withInferences,
      ...(live.startTimestamp === undefined ? {} : { startTimestamp: live.startTimestamp }),
      ...(live.recoverIsoDate === undefined ? {} : { recoverIsoDate: live.recoverIsoDate }),
    },
  };
}

/** Options of {@linkcode StreamPump}. */
export interface StreamPumpOptions<U, R> extends StreamPumpCommonOptions {
  /** Connector name in logs, metrics and routes. */
  name: string;
  /** Registration settings. */
  connector: {
    id: string;
    name: string;
    scope: string[];
    queueThresholdMb: number;
    runAndTerminate?: boolean;
    /** Oldest OpenCTI version the connector runs against (refused below, at registration). */
    minimumVersion?: string;
    /** What needs `minimumVersion`, for the refusal message. */
    minimumFor?: string;
  };
  /** Where operations go. */
  target: PumpTarget<U, R>;
  /** The connector-specific half. */
  route: PumpRoute<U, R>;
  /** Items per batch. @default target.maxBatch */
  batchSize?: number;
  /**
   * Runs once on a first start (empty state), after the first position is saved and before the
   * stream is followed (sentinel's first-start reconcile, issue 17). @default none
   */
  beforeFirstFollow?: (signal: AbortSignal) => Promise<void>;
}

interface Work<U, R> {
  op: PumpOperation<U, R>;
  attempts: number;
}

/** What sending one batch left: the items a systemic failure holds, the keys delivered, why. */
interface Sent<T> {
  held: T[];
  delivered: string[];
  problem?: { reason: string; check?: string };
}

/** The outcome of {@linkcode StreamPump.replayDeadLetters}. */
export interface ReplayReport {
  /** Dead letters tried. */
  tried: number;
  /** Delivered now (they left the list). */
  delivered: number;
  /** Gone from OpenCTI or no longer synced (they left the list: nothing to send). */
  dropped: number;
  /** Still failing (they stay, with one more attempt). */
  failed: number;
  /** Held by a systemic failure (they stay as they were). */
  held: number;
}

/** The outcome of {@linkcode StreamPump.deliverOutOfBand}. */
export interface OutOfBandOutcome {
  /** Keys acknowledged by the target. */
  delivered: string[];
  /** Refused on their own: now dead letters. */
  deadLettered: number;
  /** Refused by design by the target (counted as `unsupported_by_target` skips). */
  skipped: number;
  /** Held by a systemic failure: not retried here (the caller sends them again later). */
  held: number;
  /** The systemic failure, when one held operations. */
  problem?: { reason: string; check?: string };
}

/** Follows an OpenCTI live stream and keeps one target in step with it (see the module doc). */
export class StreamPump<U, R> {
  /** Connector name. */
  readonly name: string;
  readonly #o: StreamPumpOptions<U, R>;
  readonly #lifecycle: ConnectorLifecycle;
  readonly #logger;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #random: () => number;
  readonly #setTimer: SetTimer;
  readonly #batchSize: number;
  /** Keys being delivered now → the end of that delivery (see `#send`). */
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #counters: Record<string, number> = {};
  #reader: LiveStreamReader | undefined;
  #resetRequested = false;
  #running = false;
  #state: ConnectorStatus["state"] = "idle";
  #lastError: string | undefined;
  #lastCheckpointAt: string | undefined;
  #cursor: string | undefined;
  #authProblem: string | undefined;
  readonly #degradation: Degradation;
  readonly #deadLetters: DeadLetters;

  /** Builds the pump; nothing is sent before `start()` or `runOnce()`. */
  constructor(options: StreamPumpOptions<U, R>) {
    this.#o = options;
    this.name = options.name;
    this.#logger = getLogger(this.name);
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#random = options.random ?? Math.random;
    this.#setTimer = options.setTimer ?? systemSetTimer;
    this.#batchSize = options.batchSize ?? options.target.maxBatch;
    this.#degradation = new Degradation(this.name, {
      ...(options.metrics ? { metrics: options.metrics } : {}),
      logger: this.#logger,
      now: this.#now,
    });
    this.#deadLetters = options.deadLetters ?? new DeadLetters(new MemoryDeadLetterStore());
    // One clear error per failure streak; the list stays in memory and the connector runs on.
    this.#deadLetters.onSaveError((error) => {
      const message = errorMessage(error);
      this.#lastError = `saving the dead letters failed: ${message}`;
      this.#o.metrics?.errors.inc({ connector: this.name });
      this.#logger.error("{message}", { message });
    });
    options.metrics?.onCollect(() => this.#publishDeadLetters());
    const lifecycleOptions: ConstructorParameters<typeof ConnectorLifecycle>[1] = {
      id: options.connector.id,
      name: options.connector.name,
      type: "STREAM",
      scope: options.connector.scope,
      queueThresholdMb: options.connector.queueThresholdMb,
      runAndTerminate: options.connector.runAndTerminate ?? false,
      sleep: this.#sleep,
      onReset: () => this.#onReset(),
    };
    if (options.connector.minimumVersion !== undefined) {
      lifecycleOptions.minimumVersion = options.connector.minimumVersion;
    }
    if (options.connector.minimumFor !== undefined) {
      lifecycleOptions.minimumFor = options.connector.minimumFor;
    }
    if (options.pingIntervalMs !== undefined) {
      lifecycleOptions.pingIntervalMs = options.pingIntervalMs;
    }
    this.#lifecycle = new ConnectorLifecycle(options.client, lifecycleOptions);
  }

  /** Follows the stream until the signal aborts, then flushes, checkpoints and returns. */
  async start(signal: AbortSignal): Promise<void> {
    const pinger = new AbortController();
    const stopPinging = () => pinger.abort();
    signal.addEventListener("abort", stopPinging, { once: true });
    try {
      await this.#registerAndLoadState(signal);
      const pinging = this.#lifecycle.startPinging(pinger.signal);
      try {
        while (!signal.aborted) {
          this.#resetRequested = false;
          await this.#follow(signal, undefined);
          if (!this.#resetRequested) break;
          await this.#restartFromDefaults(signal);
        }
      } finally {
        pinger.abort();
        await pinging;
      }
    } finally {
      signal.removeEventListener("abort", stopPinging);
      this.#state = "stopped";
      this.#o.metrics?.setState(this.name, "stopped");
    }
  }

  /** Drains the stream from the saved cursor until caught up (or the budget ends), then checkpoints. */
  async runOnce(signal?: AbortSignal): Promise<boolean> {
    const controller = new AbortController();
    const outer = signal;
    const forward = () => controller.abort(outer?.reason);
    outer?.addEventListener("abort", forward, { once: true });
    try {
      await this.#registerAndLoadState(controller.signal);
      const budgetMs = this.#o.catchUpBudgetMs ?? 50_000;
      const failedBefore = this.#counters.failed ?? 0;
      await this.#follow(controller.signal, {
        quietHeartbeats: this.#o.quietHeartbeats ?? 3,
        budgetMs,
      });
      await this.#lifecycle.ping().catch((error) => this.noteError("final ping failed", error));
      return this.#authProblem === undefined && !this.#degradation.active &&
        (this.#counters.failed ?? 0) === failedBefore;
    } catch (error) {
      this.noteError("catch-up run failed", error);
      return false;
    } finally {
      outer?.removeEventListener("abort", forward);
      this.#state = "idle";
    }
  }

  /** A snapshot for `/status` and `/readyz`. */
  status(): ConnectorStatus {
    const reasons: string[] = [];
    if (!this.#lifecycle.registered) reasons.push("not registered with OpenCTI yet");
    if (this.#authProblem) reasons.push(this.#authProblem);
    const stats = this.#reader?.stats;
    if (this.#running && stats && !stats.connected) reasons.push("live stream not connected");
    const status: ConnectorStatus = {
      name: this.name,
      ready: reasons.length === 0,
      reasons,
      state: this.#state,
      counters: { ...this.#counters },
      details: {
        target: this.#o.target.name,
        cursor: this.#cursor,
        stream: stats ?? null,
        deadLetters: this.#deadLetters.size,
        deadLettersOverflow: this.#deadLetters.overflow,
        ...(this.#o.target.status?.() ?? {}),
      },
    };
    const degraded = this.#degradation.info();
    if (degraded) status.degraded = degraded;
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    if (this.#lastCheckpointAt !== undefined) status.lastRunAt = this.#lastCheckpointAt;
    return status;
  }

  /**
   * Delivers operations that do not come from the stream (a reconcile's plan, issue 17) through
   * the same path as stream batches: request failures split, item failures dead-lettered, the
   * route's `acknowledged` (write-back) run. Operations a systemic failure holds are returned as
   * held, not retried here. No stream position is involved.
   */
  async deliverOutOfBand(operations: PlannedOperation<U, R>[]): Promise<OutOfBandOutcome> {
    const tracker = new CheckpointTracker(undefined);
    const items: Pending<Work<U, R>>[] = operations.map(({ key, op }) => ({
      key,
      op: { op, attempts: 0 },
      seqs: [tracker.track(undefined)],
    }));
    const failedBefore = this.#counters.failed ?? 0;
    const { held, delivered, problem } = await this.#send(items, tracker);
    const deadLettered = (this.#counters.failed ?? 0) - failedBefore;
    return {
      delivered,
      deadLettered,
      skipped: items.length - held.length - delivered.length - deadLettered,
      held: held.length,
      ...(problem ? { problem } : {}),
    };
  }

  /** The dead letters, oldest first, and how many the limit pushed out. */
  deadLetters(): { entries: DeadLetter[]; overflow: number } {
    return { entries: this.#deadLetters.list(), overflow: this.#deadLetters.overflow };
  }

  /**
   * Sends every dead letter again: reads each indicator's current version from OpenCTI by id and
   * hands it to the target alone (so a failure is proven on that item). What is delivered leaves
   * the list, as does what OpenCTI no longer has or no longer syncs (a removal is sent for it);
   * what fails again stays with one more attempt; a systemic failure leaves it as it was.
   */
  async replayDeadLetters(signal?: AbortSignal): Promise<ReplayReport> {
    await this.#deadLetters.load();
    const report: ReplayReport = { tried: 0, delivered: 0, dropped: 0, failed: 0, held: 0 };
    for (const letter of this.#deadLetters.list()) {
      signal?.throwIfAborted();
      report.tried++;
      let text: string | null;
      let stix: unknown;
      try {
        text = (await this.#o.client.request(READ_INDICATOR, ReadIndicatorAnswer, {
          variables: { id: letter.id },
          ...(signal ? { signal } : {}),
        })).stixCoreObjectRaw;
        stix = text === null ? undefined : JSON.parse(text);
      } catch (error) {
        // OpenCTI cannot tell what the indicator is now: the entry stays as it is.
        if (signal?.aborted) throw error;
        this.noteError(`reading ${letter.id} from OpenCTI for a replay failed`, error);
        report.held++;
        continue;
      }
      const ops = this.#o.route.replan(letter.id, text === null ? undefined : stix, this.#now());
      if (ops.length === 0) {
        report.dropped++;
        await this.#deadLetters.remove([letter.id]);
        continue;
      }
      const outcome = await this.#sendAlone(letter, ops);
      report[outcome]++;
    }
    this.#logger.info(
      "Replayed {tried} dead letters: {delivered} delivered, {dropped} dropped, {failed} failed again, {held} held",
      { ...report },
    );
    return report;
  }

  async #sendAlone(
    letter: DeadLetter,
    ops: PumpOperation<U, R>[],
  ): Promise<"delivered" | "dropped" | "failed" | "held"> {
    for (const op of ops) {
      const results = new Map<string, ItemResult>();
      await this.#deliver([{ key: letter.id, op: { op, attempts: 0 }, seqs: [] }], results);
      const result = results.get(letter.id) ?? missingResult(letter.id);
      const scope = scopeOf(result);
      if (result.ok) {
        // As for stream batches: what the target took is acknowledged (e.g. written back).
        if (op.kind === "upsert") await this.#o.route.acknowledged?.([op.indicator]);
        continue;
      }
      if (scope === "systemic") return "held";
      if (scope === "unsupported") {
        this.skip("unsupported_by_target", letter.id, result.reason);
        await this.#deadLetters.remove([letter.id]);
        return "dropped";
      }
      await this.#deadLetters.add(
        { id: letter.id, kind: op.kind, reason: result.reason },
        this.#now(),
      );
      return "failed";
    }
    this.count(ops.some((op) => op.kind === "upsert") ? "upserted" : "removed");
    this.count("replayed");
    await this.#deadLetters.remove([letter.id]);
    return "delivered";
  }

  #publishDeadLetters(): void {
    const metrics = this.#o.metrics;
    if (!metrics) return;
    const labels = { connector: this.name };
    metrics.gauge("octi_connector_dead_letters", "Items refused for good, kept for replay", [
      "connector",
    ]).set(labels, this.#deadLetters.size);
    metrics.gauge(
      "octi_connector_dead_letters_overflow",
      "Dead letters dropped because the list was full (<PREFIX>_DEAD_LETTER_LIMIT)",
      ["connector"],
    ).set(labels, this.#deadLetters.overflow);
  }

  async #registerAndLoadState(signal: AbortSignal): Promise<void> {
    try {
      await this.#deadLetters.load();
    } catch (error) {
      this.noteError("loading the dead letters failed (starting with an empty list)", error);
    }
    const state = await this.#lifecycle.register(signal);
    this.#authProblem = undefined;
    if (typeof readStartFrom(state) !== "string") {
      await this.#restartFromDefaults(signal);
      await this.#o.beforeFirstFollow?.(signal);
    }
  }

  async #restartFromDefaults(signal: AbortSignal): Promise<void> {
    const s = this.#o.stream;
    const first = firstStartPosition({
      ...(s.startTimestamp !== undefined ? { startTimestamp: s.startTimestamp } : {}),
      ...(typeof s.recoverIsoDate === "string" ? { recoverIsoDate: s.recoverIsoDate } : {}),
      now: this.#now,
    });
    this.#logger.info("Starting the stream from {startFrom} with recovery until {recover}", first);
    await this.#lifecycle.replaceState({
      start_from: first.startFrom,
      recover_until: s.recoverIsoDate === false ? false : first.recover,
    }, signal);
  }

  #onReset(): void {
    this.#logger.warn(
      "OpenCTI reset this connector's state: restarting the stream from the configured start",
    );
    this.#resetRequested = true;
    void this.#reader?.return();
  }

  async #follow(
    signal: AbortSignal,
    catchUp: { quietHeartbeats: number; budgetMs: number } | undefined,
  ) {
    const o = this.#o;
    const state = this.#lifecycle.state;
    const startFrom = readStartFrom(state);
    const recover = readRecover(state);
    this.#cursor = startFrom;
    const tracker = new CheckpointTracker(startFrom);
    const batchSize = this.#batchSize;
    const callSize = Math.max(batchSize, o.target.maxCall ?? batchSize);
    const batcher = new Batcher<Work<U, R>>(batchSize);
    const readAhead = batchSize * Math.max(1, o.readAheadBatches ?? 8);
    const stop = new AbortController();
    const readerSignal = AbortSignal.any([signal, stop.signal]);
    const reader = readLiveStream({
      url: o.url,
      token: o.token,
      streamId: o.stream.streamId,
      ...(startFrom !== undefined ? { startFrom } : {}),
      recover: recover ?? false,
      listenDelete: o.stream.listenDelete ?? true,
      noDependencies: o.stream.noDependencies ?? true,
      withInferences: o.stream.withInferences ?? false,
      ...(o.stream.watchdogMs !== undefined ? { watchdogMs: o.stream.watchdogMs } : {}),
      ...(o.stream.retryBaseMs !== undefined ? { retryBaseMs: o.stream.retryBaseMs } : {}),
      ...(o.stream.maxFrameChars !== undefined ? { maxFrameChars: o.stream.maxFrameChars } : {}),
      onConfigError: catchUp ? "throw" : "retry",
      // While a flush the reader did not wait for (the timer's) runs or a batch is held, no frame
      // is handed out: memory stays bounded and nothing is read while held.
      gate: () => (batches.sending ? batches.idle : undefined),
      onMalformed: (frame) => this.skip("malformed_event", frame.id, frame.reason),
      onError: (error) => {
        if (
          error instanceof StreamAuthError || error instanceof StreamStoppedError ||
          error instanceof StreamNotFoundError
        ) {
          this.#authProblem = error.message;
        }
        this.#lastError = error.message;
      },
      signal: readerSignal,
      ...(o.fetch ? { fetch: o.fetch } : {}),
      now: this.#now,
      sleep: this.#sleep,
      random: this.#random,
      setTimer: this.#setTimer,
    });
    this.#reader = reader;
    this.#running = true;
    this.#state = "running";
    o.metrics?.setState(this.name, "running");

    const batches = new FollowBatches<Work<U, R>>({
      tracker,
      batcher,
      startFrom,
      send: (items, t) => this.#send(items, t),
      // Calls of one kind, `batchSize` at most each (or the target's larger `maxCall`): upserts,
      // then removals.
      split: (items) => {
        const calls: Pending<Work<U, R>>[][] = [];
        for (const kind of ["upsert", "remove"] as const) {
          const mine = items.filter((item) => item.op.op.kind === kind);
          for (let i = 0; i < mine.length; i += callSize) calls.push(mine.slice(i, i + callSize));
        }
        return calls;
      },
      save: (cursor) =>
        this.#lifecycle.saveState({ start_from: cursor }).then(() => {
          this.#cursor = cursor;
          this.#lastCheckpointAt = new Date(this.#now()).toISOString();
        }),
      noteError: (what, error) => this.noteError(what, error),
      degradation: this.#degradation,
      targetName: o.target.name,
      stopped: () => readerSignal.aborted || this.#resetRequested,
      signal: readerSignal,
      backoffBaseMs: o.backoffBaseMs ?? 1000,
      maxBackoffMs: o.maxBackoffMs,
      batchTimeoutMs: o.batchTimeoutMs ?? 1000,
      now: this.#now,
      sleep: this.#sleep,
      random: this.#random,
      setTimer: this.#setTimer,
    });

    let quiet = 0;
    let cancelBudget: (() => void) | undefined;
    if (catchUp) cancelBudget = this.#setTimer(() => stop.abort(), catchUp.budgetMs);
    try {
      for await (const frame of reader) {
        // Backpressure: while a batch is sent (a timer's flush) or held, read nothing more
        // (memory stays bounded; a frame already on its way is the only one read meanwhile).
        if (this.#degradation.active || batches.sending) await batches.idle;
        if (frame.event === "connected") continue;
        if (frame.event === "heartbeat") {
          tracker.complete(tracker.track(frame.id));
          this.#authProblem = undefined;
          // A quiet stream: what waited the batch timeout leaves now, sent by the reader itself
          // (so nothing is read while it is sent, unlike the timer's flush).
          if (!batches.sending && batches.due) await batches.flush();
          if (batcher.size === 0) await batches.idle.then(() => batches.checkpoint());
          if (catchUp && ++quiet >= catchUp.quietHeartbeats) break;
          continue;
        }
        quiet = 0;
        batches.noteFrame();
        this.#authProblem = undefined;
        this.count("events");
        const echo = this.#o.route.echo?.(frame);
        if (echo) {
          this.skip("write_back_echo", echo.id, echo.detail);
          tracker.complete(tracker.track(frame.id));
          if (batcher.size === 0) await batches.idle.then(() => batches.checkpoint());
          continue;
        }
        const at = this.#now();
        for (const planned of this.#o.route.plan(frame, at)) {
          const seq = tracker.track(frame.id);
          if (planned === null) tracker.complete(seq);
          else batcher.add(planned.key, { op: planned.op, attempts: 0 }, seq, at);
        }
        // Read `readAhead` keys (for one key the last event wins), then send them in calls of one
        // kind, `batchSize` each; while they are sent, nothing more is read (memory stays bounded).
        if (batcher.size >= readAhead) await batches.flush();
        else batches.armTimer();
      }
    } finally {
      this.#running = false;
      await batches.finish(() => this.#resetRequested, cancelBudget);
      await reader.return();
    }
  }

  /**
   * Sends one batch. Acknowledged frames complete; an item refused for good (item-level) becomes a
   * dead letter and completes; a by-design refusal is a skip; what a systemic failure holds is
   * returned (its frames stay open, so the cursor cannot pass them).
   */
  async #send(
    items: Pending<Work<U, R>>[],
    tracker: CheckpointTracker,
  ): Promise<Sent<Pending<Work<U, R>>>> {
    // Two deliveries of one key never overlap (a stream batch and a reconcile's, issue 17): a
    // target without a key of its own (Graph looks the externalId up, then creates) would
    // otherwise create the indicator twice. The later one waits, then finds the first's record.
    const keys = [...new Set(items.map((item) => item.key))];
    for (;;) {
      const busy = keys.flatMap((key) => this.#inFlight.get(key) ?? []);
      if (busy.length === 0) break;
      await Promise.all(busy);
    }
    let release = () => {};
    const done = new Promise<void>((resolve) => release = resolve);
    for (const key of keys) this.#inFlight.set(key, done);
    try {
      return await this.#sendNow(items, tracker);
    } finally {
      for (const key of keys) if (this.#inFlight.get(key) === done) this.#inFlight.delete(key);
      release();
    }
  }

  async #sendNow(
    items: Pending<Work<U, R>>[],
    tracker: CheckpointTracker,
  ): Promise<Sent<Pending<Work<U, R>>>> {
    const results = new Map<string, ItemResult>();
    await this.#deliver(items.filter((i) => i.op.op.kind === "upsert"), results);
    await this.#deliver(items.filter((i) => i.op.op.kind === "remove"), results);

    const acknowledged = this.#o.route.acknowledged;
    if (acknowledged) {
      const upserts: U[] = [];
      for (const item of items) {
        const op = item.op.op;
        if (op.kind === "upsert" && results.get(item.key)?.ok === true) upserts.push(op.indicator);
      }
      if (upserts.length > 0) await acknowledged(upserts);
    }

    const held: Pending<Work<U, R>>[] = [];
    let problem: { reason: string; check?: string } | undefined;
    const delivered: string[] = [];
    let deadLettered = false;
    for (const item of items) {
      const result = results.get(item.key) ?? missingResult(item.key);
      if (result.ok) {
        this.count(item.op.op.kind === "upsert" ? "upserted" : "removed");
        this.#o.metrics?.recordsSent.inc({ connector: this.name });
        tracker.complete(...item.seqs);
        delivered.push(item.key);
        continue;
      }
      const attempts = item.op.attempts + 1;
      const scope = scopeOf(result);
      if (scope === "systemic") {
        held.push({ ...item, op: { ...item.op, attempts } });
        problem ??= { reason: result.reason, ...(result.check ? { check: result.check } : {}) };
        continue;
      }
      if (scope === "unsupported") {
        this.skip("unsupported_by_target", item.key, result.reason);
        tracker.complete(...item.seqs);
        continue;
      }
      this.count("failed");
      this.count(`failed.${failureKey(result.reason)}`);
      this.#o.metrics?.clientErrors.inc({ connector: this.name });
      this.#logger.error(
        "Dead letter {id} ({kind}) after {attempts} attempt(s): {reason}; replay it with POST /connectors/{name}/dead-letters/replay",
        { id: item.key, kind: item.op.op.kind, attempts, reason: result.reason, name: this.name },
      );
      this.#deadLetters.record(
        { id: item.key, kind: item.op.op.kind, reason: result.reason },
        this.#now(),
      );
      deadLettered = true;
      tracker.complete(...item.seqs);
    }
    // A newer version delivered supersedes an older dead letter of the same indicator.
    const superseded = this.#deadLetters.forget(delivered);
    if (deadLettered || superseded) {
      await this.#deadLetters.save()
        .catch((error) => this.noteError("saving the dead letters failed", error));
    }
    return problem ? { held, delivered, problem } : { held, delivered };
  }

  /**
   * Calls the target for items of one kind and notes one result per item. A request-level failure
   * is no verdict on any item: the items it names are sent again in halves until each bad one is
   * alone, where its failure is its own (item-level). A call that throws is systemic.
   */
  async #deliver(
    batch: Pending<Work<U, R>>[],
    results: Map<string, ItemResult>,
  ): Promise<void> {
    if (batch.length === 0) return;
    const target = this.#o.target;
    const upserts: U[] = [];
    const removals: R[] = [];
    for (const item of batch) {
      const op = item.op.op;
      if (op.kind === "upsert") upserts.push(op.indicator);
      else removals.push(op.removal);
    }
    try {
      // A batch holds one kind (the caller filters): upserts first, removals otherwise.
      const answer = upserts.length > 0
        ? await target.upsert(upserts)
        : await target.remove(removals);
      for (const result of answer) results.set(result.id, result);
    } catch (error) {
      const reason = errorMessage(error);
      this.noteError(`${target.name} call failed`, error);
      for (const item of batch) results.set(item.key, failed(item.key, reason, "systemic"));
      return;
    }
    const split = batch.filter((item) => {
      const result = results.get(item.key);
      return result !== undefined && scopeOf(result) === "request";
    });
    if (split.length === 0) return;
    if (batch.length === 1) {
      // The request carried this item alone: its failure is proven on it.
      const [item] = batch as [Pending<Work<U, R>>];
      const result = results.get(item.key);
      if (result && !result.ok) results.set(item.key, failed(item.key, result.reason, "item"));
      return;
    }
    this.count("split");
    if (split.length === 1) return this.#deliver(split, results);
    const half = Math.ceil(split.length / 2);
    await this.#deliver(split.slice(0, half), results);
    await this.#deliver(split.slice(half), results);
  }

  /** Counts and logs a skip (`skipped.<reason>`). */
  skip(reason: string, id: string | undefined, detail: string): void {
    this.count("skipped");
    this.count(`skipped.${reason}`);
    this.#o.metrics?.skipped.inc({ connector: this.name, reason });
    this.#logger.info("Skipped {id}: {reason} ({detail})", { id: id ?? "(no id)", reason, detail });
  }

  /** Adds to a counter shown in `/status`. */
  count(name: string, by = 1): void {
    this.#counters[name] = (this.#counters[name] ?? 0) + by;
  }

  /** Notes an error (last error, error metric, a warning). */
  noteError(what: string, error: unknown): void {
    const message = errorMessage(error);
    this.#lastError = `${what}: ${message}`;
    this.#o.metrics?.errors.inc({ connector: this.name });
    this.#logger.warn("{what}: {message}", { what, message });
  }
}

/**
 * The current STIX version of one object by id (OpenCTI `stixCoreObjectRaw`, the platform's own
 * STIX representation, extensions included), or null when the platform no longer has it.
 */
const READ_INDICATOR = `query ReadIndicator($id: String!) { stixCoreObjectRaw(id: $id) }`;
const ReadIndicatorAnswer = v.object({ stixCoreObjectRaw: v.nullable(v.string()) });

/** The saved stream position, reading the pycti key and its older name. */
function readStartFrom(state: ConnectorState): string | undefined {
  const value = state.start_from ?? state.connectorLastEventId;
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The saved recover date; false (or "no"/"none"/"false") means no recovery. */
function readRecover(state: ConnectorState): string | undefined {
  const value = state.recover_until ?? state.connectorStartTime;
  if (typeof value !== "string" || ["no", "none", "false", ""].includes(value.toLowerCase())) {
    return undefined;
  }
  return value;
}

/** A short, stable metric key for a failure reason. */
function failureKey(reason: string): string {
  const key = reason.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "").slice(0, 40);
  return key || "unknown";
}
