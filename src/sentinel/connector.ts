/**
 * The sentinel stream connector: OpenCTI live stream → intents → batches → Microsoft target.
 * The cursor (`start_from`) is saved only when every frame up to it was acknowledged by the
 * target or definitively failed, so a crash or restart loses nothing; writes are idempotent.
 */
import { getLogger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { Connector, ConnectorStatus } from "../runtime/connector.ts";
import type { Fetch } from "../runtime/http.ts";
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
import { type Intent, intentsOf } from "./events.ts";
import type { ItemResult, SyncTarget, TargetIndicator, TargetRemoval } from "./target.ts";
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
  /** Attempts for an item the target failed with a retryable error before it counts as failed. @default 20 */
  maxAttempts?: number;
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
}

const realTimer: SetTimer = (callback, ms) => {
  const id = setTimeout(callback, ms);
  return () => clearTimeout(id);
};

interface Work {
  op: Operation;
  attempts: number;
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
      return this.#authProblem === undefined && (this.#counters.failed ?? 0) === failedBefore;
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
        ...(this.#o.target.status?.() ?? {}),
      },
    };
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    if (this.#lastCheckpointAt !== undefined) status.lastRunAt = this.#lastCheckpointAt;
    return status;
  }

  async #registerAndLoadState(signal: AbortSignal): Promise<void> {
    const state = await this.#lifecycle.register(signal);
    this.#authProblem = undefined;
    if (typeof readStartFrom(state) !== "string") await this.#restartFromDefaults(signal);
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
    let failedFlushes = 0;

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

    const flushNow = async (): Promise<void> => {
      cancelTimer?.();
      cancelTimer = undefined;
      const items = batcher.drain();
      if (items.length === 0) return;
      const retry = await this.#send(items, tracker);
      if (retry.length > 0) {
        failedFlushes++;
        batcher.requeue(retry, this.#now());
        const delay = backoffDelay(failedFlushes, 1000, 60_000, this.#random);
        await this.#sleep(delay, signal).catch(() => {});
      } else {
        failedFlushes = 0;
      }
      await checkpoint();
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
      cancelBudget?.();
      this.#running = false;
      // Finish in-flight work and whatever is pending, then save the position.
      await flushing;
      while (batcher.size > 0 && !this.#resetRequested) {
        const before = batcher.size;
        await flush();
        if (signal.aborted && batcher.size >= before) break;
      }
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

  /** Sends one batch; completes acknowledged and definitively failed frames; returns what to retry. */
  async #send(items: Pending<Work>[], tracker: CheckpointTracker): Promise<Pending<Work>[]> {
    const target = this.#o.target;
    const upserts = items.filter((i) => i.op.op.kind === "upsert");
    const removals = items.filter((i) => i.op.op.kind === "remove");
    const results = new Map<string, ItemResult>();
    const call = async (
      batch: Pending<Work>[],
      run: () => Promise<ItemResult[]>,
    ): Promise<void> => {
      if (batch.length === 0) return;
      try {
        for (const result of await run()) results.set(result.id, result);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        this.#noteError(`${target.name} call failed`, error);
        for (const item of batch) {
          results.set(item.key, { id: item.key, ok: false, reason, retryable: true });
        }
      }
    };
    await call(
      upserts,
      () =>
        target.upsert(upserts.map((i) => (i.op.op as { indicator: TargetIndicator }).indicator)),
    );
    await call(
      removals,
      () => target.remove(removals.map((i) => (i.op.op as { removal: TargetRemoval }).removal)),
    );

    await this.#writeBackAll(items.filter((item) => results.get(item.key)?.ok === true));

    const retry: Pending<Work>[] = [];
    const maxAttempts = this.#o.maxAttempts ?? 20;
    for (const item of items) {
      const result = results.get(item.key) ??
        {
          id: item.key,
          ok: false,
          reason: "the target returned no result for this indicator",
          retryable: true,
        };
      if (result.ok) {
        this.#count(item.op.op.kind === "upsert" ? "upserted" : "removed");
        this.#o.metrics?.recordsSent.inc({ connector: this.name });
        tracker.complete(...item.seqs);
        continue;
      }
      const attempts = item.op.attempts + 1;
      if (result.retryable && attempts < maxAttempts) {
        retry.push({ ...item, op: { ...item.op, attempts } });
        continue;
      }
      this.#count("failed");
      this.#count(`failed.${failureKey(result.reason)}`);
      this.#o.metrics?.clientErrors.inc({ connector: this.name });
      this.#logger.error("Giving up on {id} ({kind}) after {attempts} attempt(s): {reason}", {
        id: item.key,
        kind: item.op.op.kind,
        attempts,
        reason: result.reason,
      });
      tracker.complete(...item.seqs);
    }
    return retry;
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
