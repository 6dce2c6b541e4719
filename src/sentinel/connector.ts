/**
 * The sentinel stream connector: OpenCTI live stream → intents → batches → Microsoft target.
 * The cursor (`start_from`) is saved only when every frame up to it was acknowledged by the
 * target, skipped by design, or kept as a dead letter, so a crash or restart loses nothing; writes
 * are idempotent. Failures are handled by scope (issue 11): a request-level failure splits the
 * batch until the bad item is alone, an item-level one becomes a dead letter, and a systemic one
 * holds the batch (no attempt cap, nothing more read, `degraded` reported) until it goes through.
 */
import * as v from "valibot";
import { CONNECTOR_MINIMUM } from "../opencti/version.ts";
import { getLogger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { Connector, ConnectorStatus } from "../runtime/connector.ts";
import type { Fetch } from "../runtime/http.ts";
import { Degradation } from "../runtime/degraded.ts";
import { backoffDelay } from "../runtime/retry.ts";
import { ConnectorLifecycle, type ConnectorState } from "../opencti/connector.ts";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import {
  firstStartPosition,
  type LiveStreamReader,
  readLiveStream,
  type SetTimer,
  StreamAuthError,
  StreamNotFoundError,
  StreamStoppedError,
} from "../opencti/stream.ts";
import { Batcher, type Pending } from "./batcher.ts";
import { CheckpointTracker } from "./checkpoint.ts";
import { type DeadLetter, DeadLetters, MemoryDeadLetterStore } from "./dead_letters.ts";
import { type Intent, intentsOf } from "./events.ts";
import type { DeliveryOutcome } from "./reconcile.ts";
import {
  failed,
  type ItemResult,
  missingResult,
  scopeOf,
  type SyncTarget,
  type TargetIndicator,
  type TargetRemoval,
} from "./target.ts";
import { WriteBack, type WriteBackOptions } from "./write_back.ts";

/** A pending target operation. */
export type Operation =
  | { kind: "upsert"; indicator: TargetIndicator }
  | { kind: "remove"; removal: TargetRemoval };

/** Live-stream settings (the `CONNECTOR_LIVE_STREAM_*` options). */
export interface SentinelStreamOptions {
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

/** Options of {@linkcode SentinelConnector}. */
export interface SentinelConnectorOptions {
  /** Connector name in logs, metrics and routes. @default "sentinel" */
  name?: string;
  /** OpenCTI base URL. */
  url: string;
  /** OpenCTI token. */
  token: string;
  /** The GraphQL client (registration, pings, state). */
  client: OpenCtiClient;
  /** Registration settings. */
  connector: {
    id: string;
    name: string;
    scope?: string[];
    queueThresholdMb?: number;
    runAndTerminate?: boolean;
  };
  /** Stream settings. */
  stream: SentinelStreamOptions;
  /** Where indicators go. */
  target: SyncTarget;
  /** Indicators per batch. @default target.maxBatch */
  batchSize?: number;
  /** Flush a non-empty batch after this long, in ms. @default 1000 */
  batchTimeoutMs?: number;
  /**
   * Largest wait between two tries of a batch held by a systemic failure, in ms
   * (`SENTINEL_MAX_BACKOFF`). There is no attempt cap: a systemic failure never drops an item.
   * @default 300000 (PT5M)
   */
  maxBackoffMs?: number;
  /** First wait of that backoff, in ms. @default 1000 */
  backoffBaseMs?: number;
  /**
   * Where indicators refused for good (item-level failures, proven on their own) are kept.
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
  /**
   * Write back: after the target acknowledged an indicator, add an external reference to the
   * Microsoft object on the OpenCTI indicator (`SENTINEL_WRITE_BACK`). The update event this
   * causes is recognised and skipped (`skipped.write_back_echo`), so it never loops.
   * @default false
   */
  writeBack?: boolean;
  /** Source name and URL of the written references. @default per target, see {@linkcode WriteBack} */
  writeBackReference?: WriteBackOptions;
  /** Stream events handled (`SENTINEL_EVENT_TYPES`). @default all */
  eventTypes?: readonly string[];
  /** Publish author identities (`SENTINEL_PUBLISH_IDENTITIES`, target sentinel). @default false */
  publishIdentities?: boolean;
  /**
   * Runs once on a first start (empty state), before the stream is followed: the first-start
   * reconcile (issue 17) adopts upstream records and removes ours no longer wanted.
   * @default none
   */
  beforeFirstFollow?: (signal: AbortSignal) => Promise<void>;
}

const realTimer: SetTimer = (callback, ms) => {
  const id = setTimeout(callback, ms);
  return () => clearTimeout(id);
};

interface Work {
  op: Operation;
  attempts: number;
}

/** The outcome of {@linkcode SentinelConnector.replayDeadLetters}. */
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

/** Keeps one Microsoft target in step with the indicators of an OpenCTI live stream. */
export class SentinelConnector implements Connector {
  /** Connector name. */
  readonly name: string;
  readonly #o: SentinelConnectorOptions;
  readonly #lifecycle: ConnectorLifecycle;
  readonly #logger;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #random: () => number;
  readonly #setTimer: SetTimer;
  readonly #batchSize: number;
  readonly #counters: Record<string, number> = {};
  #reader: LiveStreamReader | undefined;
  #resetRequested = false;
  #running = false;
  #state: ConnectorStatus["state"] = "idle";
  #lastError: string | undefined;
  #lastCheckpointAt: string | undefined;
  #cursor: string | undefined;
  #authProblem: string | undefined;
  readonly #writeBack: WriteBack | undefined;
  readonly #degradation: Degradation;
  readonly #deadLetters: DeadLetters;

  /** Builds the connector; nothing is sent before `start()` or `runOnce()`. */
  constructor(options: SentinelConnectorOptions) {
    this.#o = options;
    this.name = options.name ?? "sentinel";
    this.#logger = getLogger(this.name);
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#random = options.random ?? Math.random;
    this.#setTimer = options.setTimer ?? realTimer;
    this.#batchSize = options.batchSize ?? options.target.maxBatch;
    this.#degradation = new Degradation(this.name, {
      ...(options.metrics ? { metrics: options.metrics } : {}),
      logger: this.#logger,
      now: this.#now,
    });
    this.#deadLetters = options.deadLetters ?? new DeadLetters(new MemoryDeadLetterStore());
    // One clear error per failure streak; the list stays in memory and the connector runs on.
    this.#deadLetters.onSaveError((error) => {
      const message = error instanceof Error ? error.message : String(error);
      this.#lastError = `saving the dead letters failed: ${message}`;
      this.#o.metrics?.errors.inc({ connector: this.name });
      this.#logger.error("{message}", { message });
    });
    options.metrics?.onCollect(() => this.#publishDeadLetters());
    this.#writeBack = options.writeBack
      ? new WriteBack(options.client, options.target.name, options.writeBackReference)
      : undefined;
    const lifecycleOptions: ConstructorParameters<typeof ConnectorLifecycle>[1] = {
      id: options.connector.id,
      name: options.connector.name,
      type: "STREAM",
      scope: options.connector.scope ?? ["sentinel"],
      runAndTerminate: options.connector.runAndTerminate ?? false,
      sleep: this.#sleep,
      onReset: () => this.#onReset(),
      minimumVersion: CONNECTOR_MINIMUM.sentinel,
      minimumFor: "sentinel",
    };
    if (options.connector.queueThresholdMb !== undefined) {
      lifecycleOptions.queueThresholdMb = options.connector.queueThresholdMb;
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
      await this.#lifecycle.ping().catch((error) => this.#noteError("final ping failed", error));
      return this.#authProblem === undefined && !this.#degradation.active &&
        (this.#counters.failed ?? 0) === failedBefore;
    } catch (error) {
      this.#noteError("catch-up run failed", error);
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
   * the same path as stream batches: observables the target cannot take left out, request
   * failures split, item failures dead-lettered, write-back. Operations a systemic failure holds
   * are returned as held, not retried here (the next reconcile sends them again).
   */
  async deliverOutOfBand(operations: Operation[]): Promise<DeliveryOutcome> {
    const tracker = new CheckpointTracker(undefined);
    const items: Pending<Work>[] = [];
    let skipped = 0;
    for (const op of operations) {
      const supported = op.kind === "upsert" ? this.#supported(op.indicator) : undefined;
      if (op.kind === "upsert" && supported === undefined) {
        skipped++;
        continue;
      }
      const key = op.kind === "upsert" ? op.indicator.id : op.removal.id;
      const work: Operation = supported ? { kind: "upsert", indicator: supported } : op;
      items.push({ key, op: { op: work, attempts: 0 }, seqs: [tracker.track(undefined)] });
    }
    const failedBefore = this.#counters.failed ?? 0;
    const { held, delivered, problem } = await this.#send(items, tracker);
    const deadLettered = (this.#counters.failed ?? 0) - failedBefore;
    return {
      delivered,
      deadLettered,
      skipped: skipped + items.length - held.length - delivered.length - deadLettered,
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
        this.#noteError(`reading ${letter.id} from OpenCTI for a replay failed`, error);
        report.held++;
        continue;
      }
      let ops: Operation[] = [];
      if (text !== null) {
        for (const intent of intentsOf("update", { data: stix }, { now: this.#now() })) {
          if (intent.kind === "upsert") {
            const indicator = this.#supported(intent.indicator);
            if (indicator) ops.push({ kind: "upsert", indicator });
          } else if (intent.kind === "remove") {
            ops.push(
              intent.indicator && this.#o.target.revokeByUpload
                ? { kind: "upsert", indicator: intent.indicator }
                : { kind: "remove", removal: intent.removal },
            );
          }
        }
      } else {
        // Gone from OpenCTI: what the target still holds for it goes too.
        ops = [{ kind: "remove", removal: { id: letter.id } }];
      }
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
    ops: Operation[],
  ): Promise<"delivered" | "dropped" | "failed" | "held"> {
    for (const op of ops) {
      const results = new Map<string, ItemResult>();
      await this.#deliver([{ key: letter.id, op: { op, attempts: 0 }, seqs: [] }], results);
      const result = results.get(letter.id) ?? missingResult(letter.id);
      const scope = scopeOf(result);
      if (result.ok) continue;
      if (scope === "systemic") return "held";
      if (scope === "unsupported") {
        this.#skip("unsupported_by_target", letter.id, result.reason);
        await this.#deadLetters.remove([letter.id]);
        return "dropped";
      }
      await this.#deadLetters.add(
        { id: letter.id, kind: op.kind, reason: result.reason },
        this.#now(),
      );
      return "failed";
    }
    this.#count(ops.some((op) => op.kind === "upsert") ? "upserted" : "removed");
    this.#count("replayed");
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
      "Dead letters dropped because the list was full (SENTINEL_DEAD_LETTER_LIMIT)",
      ["connector"],
    ).set(labels, this.#deadLetters.overflow);
  }

  async #registerAndLoadState(signal: AbortSignal): Promise<void> {
    try {
      await this.#deadLetters.load();
    } catch (error) {
      this.#noteError("loading the dead letters failed (starting with an empty list)", error);
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
    const batcher = new Batcher<Work>(this.#batchSize);
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
      onMalformed: (frame) => this.#skip("malformed_event", frame.id, frame.reason),
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

    let flushing: Promise<void> = Promise.resolve();
    let cancelTimer: (() => void) | undefined;
    let saving: Promise<void> | undefined;
    let savedCursor = startFrom;

    const checkpoint = (): Promise<void> => {
      if (saving) return saving;
      const cursor = tracker.cursor;
      if (cursor === undefined || cursor === savedCursor) return Promise.resolve();
      saving = this.#lifecycle.saveState({ start_from: cursor })
        .then(() => {
          savedCursor = cursor;
          this.#cursor = cursor;
          this.#lastCheckpointAt = new Date(this.#now()).toISOString();
        })
        .catch((error) =>
          this.#noteError("saving the stream position in OpenCTI failed (will retry)", error)
        )
        .finally(() => saving = undefined);
      return saving;
    };

    // A batch held by a systemic failure is tried again, without a cap, until it is delivered
    // (or the run stops): the cursor stays before it and, while held, no frame is read.
    const flushNow = async (): Promise<void> => {
      cancelTimer?.();
      cancelTimer = undefined;
      let items = batcher.drain();
      if (items.length === 0) return;
      for (let step = 1;; step++) {
        const { held, problem } = await this.#send(items, tracker);
        // The save runs alongside the next batch instead of holding it up by an OpenCTI round trip
        // (one save at a time; the end of the run waits for it and saves the final position).
        void checkpoint();
        if (held.length === 0) {
          this.#degradation.clear();
          return;
        }
        const stopped = () => readerSignal.aborted || this.#resetRequested;
        if (!stopped()) {
          const delay = backoffDelay(
            step,
            o.backoffBaseMs ?? 1000,
            o.maxBackoffMs ?? 300_000,
            this.#random,
          );
          this.#degradation.step(
            `${o.target.name} failed for ${held.length} held item(s): ${
              problem?.reason ?? "unknown"
            }`,
            { ...(problem?.check ? { check: problem.check } : {}), retryInMs: delay },
          );
          await this.#sleep(delay, readerSignal).catch(() => {});
        }
        if (stopped()) {
          batcher.requeue(held, this.#now());
          return;
        }
        items = held;
      }
    };
    const flush = (): Promise<void> => {
      flushing = flushing.then(flushNow);
      return flushing;
    };
    const armTimer = () => {
      if (cancelTimer || batcher.size === 0) return;
      cancelTimer = this.#setTimer(() => {
        cancelTimer = undefined;
        void flush();
      }, o.batchTimeoutMs ?? 1000);
    };

    let quiet = 0;
    let cancelBudget: (() => void) | undefined;
    if (catchUp) cancelBudget = this.#setTimer(() => stop.abort(), catchUp.budgetMs);
    try {
      for await (const frame of reader) {
        // Backpressure: while a batch is held, read nothing more (memory stays bounded).
        if (this.#degradation.active) await flushing;
        if (frame.event === "connected") continue;
        if (frame.event === "heartbeat") {
          tracker.complete(tracker.track(frame.id));
          this.#authProblem = undefined;
          if (batcher.size === 0) await flushing.then(checkpoint);
          if (catchUp && ++quiet >= catchUp.quietHeartbeats) break;
          continue;
        }
        quiet = 0;
        this.#authProblem = undefined;
        this.#count("events");
        if (frame.event === "update" && this.#writeBack?.isEcho(frame.data)) {
          const id = (frame.data as { data: { id: string } }).data.id;
          this.#skip("write_back_echo", id, "only our external reference changed");
          tracker.complete(tracker.track(frame.id));
          if (batcher.size === 0) await flushing.then(checkpoint);
          continue;
        }
        const intents = intentsOf(frame.event, frame.data, {
          now: this.#now(),
          ...pickDefined(o, "eventTypes", "publishIdentities"),
        });
        for (const intent of intents) {
          this.#accept(intent, tracker.track(frame.id), tracker, batcher);
        }
        if (batcher.full) await flush();
        else armTimer();
      }
    } finally {
      this.#running = false;
      // Finish in-flight work and whatever is pending, then save the position (the catch-up
      // budget still bounds this: a held batch stays unacknowledged and the cursor before it).
      await flushing;
      while (batcher.size > 0 && !this.#resetRequested) {
        const before = batcher.size;
        await flush();
        if (readerSignal.aborted && batcher.size >= before) break;
      }
      cancelBudget?.();
      cancelTimer?.();
      await saving;
      if (!this.#resetRequested) await checkpoint();
      await reader.return();
    }
  }

  #accept(intent: Intent, seq: number, tracker: CheckpointTracker, batcher: Batcher<Work>): void {
    const at = this.#now();
    switch (intent.kind) {
      case "skip":
        this.#skip(intent.reason, intent.id, intent.detail);
        tracker.complete(seq);
        return;
      case "upsert": {
        for (const dropped of intent.dropped) {
          this.#skip("invalid_value", intent.indicator.id, `${dropped.value}: ${dropped.reason}`);
        }
        const indicator = this.#supported(intent.indicator);
        if (indicator === undefined) {
          tracker.complete(seq);
          return;
        }
        batcher.add(
          intent.indicator.id,
          { op: { kind: "upsert", indicator }, attempts: 0 },
          seq,
          at,
        );
        return;
      }
      case "remove":
        if (intent.indicator && this.#o.target.revokeByUpload) {
          // The target keeps revoked indicators, marked revoked (Sentinel).
          this.#accept(
            { kind: "upsert", indicator: intent.indicator, dropped: [] },
            seq,
            tracker,
            batcher,
          );
          return;
        }
        batcher.add(
          intent.removal.id,
          { op: { kind: "remove", removal: intent.removal }, attempts: 0 },
          seq,
          at,
        );
        return;
    }
  }

  /** The indicator without the observables the target cannot take (each counted as skipped); undefined when none is left. */
  #supported(indicator: TargetIndicator): TargetIndicator | undefined {
    const target = this.#o.target;
    const rejected = target.rejects?.(indicator);
    if (rejected !== undefined) {
      this.#skip("unsupported_by_target", indicator.id, rejected);
      return undefined;
    }
    if (!target.unsupported) return indicator;
    const observables = indicator.observables.filter((observable) => {
      const reason = target.unsupported?.(observable);
      if (reason === undefined) return true;
      this.#skip("unsupported_by_target", indicator.id, `${observable.value}: ${reason}`);
      return false;
    });
    if (observables.length === indicator.observables.length) return indicator;
    return observables.length === 0 ? undefined : { ...indicator, observables };
  }

  /** Adds the write-back reference for acknowledged upserts; a failure is counted, never retried. */
  async #writeBackAll(items: Pending<Work>[]): Promise<void> {
    const writer = this.#writeBack;
    if (!writer) return;
    for (const item of items) {
      if (item.op.op.kind !== "upsert") continue;
      const indicator = item.op.op.indicator;
      try {
        const outcome = await writer.add(indicator);
        if (outcome === "added") this.#count("written_back");
      } catch (error) {
        this.#count("write_back_failed");
        this.#noteError(`writing the reference back on ${indicator.id} failed`, error);
      }
    }
  }

  /**
   * Sends one batch. Acknowledged frames complete; an item refused for good (item-level) becomes a
   * dead letter and completes; a by-design refusal is a skip; what a systemic failure holds is
   * returned (its frames stay open, so the cursor cannot pass them).
   */
  async #send(
    items: Pending<Work>[],
    tracker: CheckpointTracker,
  ): Promise<
    { held: Pending<Work>[]; delivered: string[]; problem?: { reason: string; check?: string } }
  > {
    const results = new Map<string, ItemResult>();
    await this.#deliver(items.filter((i) => i.op.op.kind === "upsert"), results);
    await this.#deliver(items.filter((i) => i.op.op.kind === "remove"), results);

    await this.#writeBackAll(items.filter((item) => results.get(item.key)?.ok === true));

    const held: Pending<Work>[] = [];
    let problem: { reason: string; check?: string } | undefined;
    const delivered: string[] = [];
    let deadLettered = false;
    for (const item of items) {
      const result = results.get(item.key) ?? missingResult(item.key);
      if (result.ok) {
        this.#count(item.op.op.kind === "upsert" ? "upserted" : "removed");
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
        this.#skip("unsupported_by_target", item.key, result.reason);
        tracker.complete(...item.seqs);
        continue;
      }
      this.#count("failed");
      this.#count(`failed.${failureKey(result.reason)}`);
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
        .catch((error) => this.#noteError("saving the dead letters failed", error));
    }
    return problem ? { held, delivered, problem } : { held, delivered };
  }

  /**
   * Calls the target for items of one kind and notes one result per item. A request-level failure
   * is no verdict on any item: the items it names are sent again in halves until each bad one is
   * alone, where its failure is its own (item-level). A call that throws is systemic.
   */
  async #deliver(batch: Pending<Work>[], results: Map<string, ItemResult>): Promise<void> {
    if (batch.length === 0) return;
    const target = this.#o.target;
    try {
      const answer = batch[0]?.op.op.kind === "upsert"
        ? await target.upsert(
          batch.map((i) => (i.op.op as { indicator: TargetIndicator }).indicator),
        )
        : await target.remove(batch.map((i) => (i.op.op as { removal: TargetRemoval }).removal));
      for (const result of answer) results.set(result.id, result);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.#noteError(`${target.name} call failed`, error);
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
      const [item] = batch as [Pending<Work>];
      const result = results.get(item.key);
      if (result && !result.ok) results.set(item.key, failed(item.key, result.reason, "item"));
      return;
    }
    this.#count("split");
    if (split.length === 1) return this.#deliver(split, results);
    const half = Math.ceil(split.length / 2);
    await this.#deliver(split.slice(0, half), results);
    await this.#deliver(split.slice(half), results);
  }

  #skip(reason: string, id: string | undefined, detail: string): void {
    this.#count("skipped");
    this.#count(`skipped.${reason}`);
    this.#o.metrics?.skipped.inc({ connector: this.name, reason });
    this.#logger.info("Skipped {id}: {reason} ({detail})", { id: id ?? "(no id)", reason, detail });
  }

  #count(name: string, by = 1): void {
    this.#counters[name] = (this.#counters[name] ?? 0) + by;
  }

  #noteError(what: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
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

/** The listed options that are set (for optional pass-through). */
function pickDefined<T extends object, K extends keyof T>(
  source: T,
  ...keys: K[]
): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
