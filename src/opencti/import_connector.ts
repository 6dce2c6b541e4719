/**
 * The scaffolding shared by the EXTERNAL_IMPORT connectors (`tanium-incidents`,
 * `microsoft-incidents`): registration with OpenCTI, the works, the push transport, the run frame
 * (queue check, one work per run, success and failure bookkeeping, one run at a time), the
 * period/pinging frame of `start`, and the status with its counters. Each connector extends
 * {@linkcode ImportConnector} and keeps only its own reading, state and failure policy.
 *
 * @module
 */
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { Connector, ConnectorStatus } from "../runtime/connector.ts";
import { Degradation } from "../runtime/degraded.ts";
import { getLogger, type Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { StixBundle } from "../stix/types.ts";
import type { AmqpConnect } from "./amqp.ts";
import { ConnectorLifecycle } from "./connector.ts";
import { OpenCtiAuthError } from "./errors.ts";
import type { OpenCtiClient } from "./graphql.ts";
import { BundleTransport } from "./transport.ts";
import { CONNECTOR_MINIMUM, type QueueProtocolSetting } from "./version.ts";
import { Works } from "./works.ts";
import { errorMessage } from "../runtime/errors.ts";

/** The options every import connector takes. */
export interface ImportConnectorOptions {
  /** The connector's UUID (`CONNECTOR_ID`). Required. */
  connectorId: string;
  /** Display name and author name (`CONNECTOR_NAME`). @default the connector's own */
  displayName?: string;
  /** Connector scope (`CONNECTOR_SCOPE`). */
  scope: string[];
  /** Time between runs in ms (`CONNECTOR_DURATION_PERIOD`); 0 = run once. @default 0 */
  periodMs?: number;
  /** `CONNECTOR_RUN_AND_TERMINATE`, reported in pings. @default periodMs === 0 */
  runAndTerminate?: boolean;
  /** Skip a run while the connector's queue holds at least this many MB (`CONNECTOR_QUEUE_THRESHOLD`). */
  queueThresholdMb: number;
  /** Interval of the heartbeat ping in ms. @default 40000 */
  pingIntervalMs?: number;
  /** Largest bundle sent in one push, in bytes. @default 5000000 */
  maxBundleBytes?: number;
  /** `CONNECTOR_QUEUE_PROTOCOL`: `api`, `amqp`, or `auto` (api from OpenCTI 6.3). @default "auto" */
  queueProtocol?: QueueProtocolSetting;
  /** Opens AMQP connections (tests inject faults). @default amqplib */
  amqpConnect?: AmqpConnect;
  /** Where pycti's metrics are counted. @default none */
  metrics?: Metrics;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep between runs. @default a real timer */
  sleep?: Sleep;
  /** Random source in [0, 1) for the backoff jitter. @default Math.random */
  random?: () => number;
  /** Makes bundle UUIDs. @default crypto.randomUUID */
  uuid?: () => string;
}

/** What an import connector fixes for itself. */
export interface ImportConnectorIdentity {
  /** Its name in logs, metrics, routes and config prefixes, and its minimum OpenCTI version. */
  name: keyof typeof CONNECTOR_MINIMUM;
  /** Its display name when `displayName` is not given. */
  defaultDisplayName: string;
}

/** How a run ended. */
export type RunOutcome = "success" | "skipped" | "failed" | "reset";

/** The part of a run summary every import connector fills. */
export interface ImportRunSummary {
  /** How it ended. */
  outcome: RunOutcome;
  /** ISO start time. */
  startedAt: string;
  /** ISO end time. */
  endedAt: string;
  /** Bundles pushed. */
  bundles: number;
  /** Pages read. */
  pages: number;
  /** The error, when it failed. */
  error?: string;
}

/**
 * An EXTERNAL_IMPORT connector: one OpenCTI work per run, bundles pushed through the
 * version-picking transport, state saved by the subclass as it goes.
 */
export abstract class ImportConnector<S extends ImportRunSummary> implements Connector {
  /** Connector name. */
  readonly name: string;
  /** The OpenCTI side: registration, pings, state. */
  readonly lifecycle: ConnectorLifecycle;
  /** The works of the runs. */
  protected readonly works: Works;
  /** How bundles reach OpenCTI. */
  protected readonly pusher: BundleTransport;
  /** The `degraded` reporting. */
  protected readonly degradation: Degradation;
  /** Display name (also the author's name). */
  protected readonly displayName: string;
  /** Time between runs in ms; 0 = run once. */
  protected readonly periodMs: number;
  /** Queue size (MB) at which a run is skipped. */
  protected readonly queueThresholdMb: number;
  /** Where metrics are counted. */
  protected readonly metrics: Metrics | undefined;
  /** The clock. */
  protected readonly now: Now;
  /** The sleep. */
  protected readonly sleep: Sleep;
  /** Random source in [0, 1). */
  protected readonly random: () => number;
  /** Makes bundle UUIDs. */
  protected readonly uuid: (() => string) | undefined;
  /** The connector's logger. */
  protected readonly logger: Logger;
  /** The credential problem that makes the connector not ready, if any. */
  protected authProblem: string | undefined;
  /** The last error message. */
  protected lastError: string | undefined;
  /** Systemic failures in a row (reset by a successful run). */
  protected failures = 0;
  /** The wait before the next try after the last failure. */
  protected retryInMs = 0;
  readonly #counters: Record<string, number> = {};
  #state: ConnectorStatus["state"] = "idle";
  #current: Promise<RunOutcome> | undefined;
  #resetRequested = false;
  #lastRun: S | undefined;

  /** Builds the OpenCTI side; nothing is sent until `start` or `runOnce`. */
  constructor(
    opencti: OpenCtiClient,
    options: ImportConnectorOptions,
    identity: ImportConnectorIdentity,
  ) {
    this.name = identity.name;
    this.logger = getLogger(identity.name);
    this.displayName = options.displayName ?? identity.defaultDisplayName;
    this.periodMs = options.periodMs ?? 0;
    this.queueThresholdMb = options.queueThresholdMb;
    this.metrics = options.metrics;
    this.now = options.now ?? systemNow;
    this.sleep = options.sleep ?? systemSleep;
    this.random = options.random ?? Math.random;
    this.uuid = options.uuid;
    this.degradation = new Degradation(identity.name, {
      ...(options.metrics ? { metrics: options.metrics } : {}),
      logger: this.logger,
      now: this.now,
    });
    this.lifecycle = new ConnectorLifecycle(opencti, {
      id: options.connectorId,
      name: this.displayName,
      type: "EXTERNAL_IMPORT", // whatever CONNECTOR_TYPE says (B9)
      scope: options.scope,
      queueThresholdMb: this.queueThresholdMb,
      runAndTerminate: options.runAndTerminate ?? this.periodMs === 0,
      ...(options.pingIntervalMs !== undefined ? { pingIntervalMs: options.pingIntervalMs } : {}),
      sleep: this.sleep,
      minimumVersion: CONNECTOR_MINIMUM[identity.name],
      minimumFor: identity.name,
      onReset: () => {
        this.#resetRequested = true;
        this.onStateReset();
      },
    });
    this.works = new Works(opencti, {
      connectorId: options.connectorId,
      connectorName: this.displayName,
      now: this.now,
    });
    // Push transport: stixBundlePush from OpenCTI 6.3, the platform's RabbitMQ below (or when
    // CONNECTOR_QUEUE_PROTOCOL=amqp).
    this.pusher = new BundleTransport(opencti, {
      connectorId: options.connectorId,
      lifecycle: this.lifecycle,
      works: this.works,
      ...(options.queueProtocol ? { protocol: options.queueProtocol } : {}),
      ...(options.amqpConnect ? { amqpConnect: options.amqpConnect } : {}),
      ...(options.maxBundleBytes !== undefined ? { maxBytes: options.maxBundleBytes } : {}),
      now: this.now,
      sleep: this.sleep,
    });
  }

  /** Runs until the signal aborts (the subclass's schedule and retry policy). */
  abstract start(signal: AbortSignal): Promise<void>;

  /** A fresh summary for a run starting now, with the subclass's own counts at zero. */
  protected abstract newSummary(base: ImportRunSummary): S;

  /**
   * One run's reading and pushing inside the work `workId`; sets `summary.outcome = "reset"` when
   * it stops for a reset. Resolves with the work's success message.
   */
  protected abstract importRun(workId: string, summary: S, signal?: AbortSignal): Promise<string>;

  /**
   * After a failed run has been counted: the subclass's backoff and `degraded` step. Called
   * before the failure is logged.
   */
  protected abstract onRunFailed(error: unknown, summary: S, signal?: AbortSignal): void;

  /** The summary's own counts logged with a failure (e.g. `{ alerts }`). */
  protected abstract failureCounts(summary: S): Record<string, number>;

  /** The connector's own `/status` details (cursor...); `lastRun` is added. */
  protected abstract statusDetails(): Record<string, unknown>;

  /** The state was reset in OpenCTI: forget the cursor shown in the status. */
  protected abstract onStateReset(): void;

  /** Whether the error is a refused credential (the connector is then not ready). */
  protected isAuthError(error: unknown): boolean {
    return error instanceof OpenCtiAuthError;
  }

  /** Called as each run starts, before registration. */
  protected onRunStart(): void {}

  /** True once OpenCTI reset the state during the current run. */
  protected get resetRequested(): boolean {
    return this.#resetRequested;
  }

  /**
   * The frame of `start` once registered: one run when the period is 0, otherwise pings while
   * `loop` runs; the state is `stopped` after.
   */
  protected async runPeriodic(signal: AbortSignal, loop: () => Promise<void>): Promise<void> {
    if (this.periodMs === 0) {
      await this.runOnce(signal);
      return;
    }
    const pinging = this.lifecycle.startPinging(signal);
    try {
      await loop();
    } finally {
      await pinging;
      this.setState("stopped");
    }
  }

  /** One run (queue check included), then a ping with the state; true unless the run failed. */
  async runOnce(signal?: AbortSignal): Promise<boolean> {
    const outcome = await this.runShared(true, signal);
    try {
      await this.lifecycle.ping(signal);
    } catch (error) {
      this.logger.warn("Final ping failed: {error}", { error: errorMessage(error) });
    }
    return outcome !== "failed";
  }

  /** A snapshot for `/status` and `/readyz`. */
  status(): ConnectorStatus {
    const reasons: string[] = [];
    if (!this.lifecycle.registered) reasons.push("not registered in OpenCTI yet");
    if (this.authProblem) reasons.push(this.authProblem);
    const status: ConnectorStatus = {
      name: this.name,
      ready: reasons.length === 0,
      reasons,
      state: this.#state,
      counters: { ...this.#counters },
      details: { ...this.statusDetails(), lastRun: this.#lastRun ?? null },
    };
    const degraded = this.degradation.info();
    if (degraded) status.degraded = degraded;
    if (this.lastError !== undefined) status.lastError = this.lastError;
    if (this.#lastRun) status.lastRunAt = this.#lastRun.endedAt;
    return status;
  }

  /** Runs once, or joins the run already under way (a `runOnce` during `start`). */
  protected runShared(checkQueue: boolean, signal?: AbortSignal): Promise<RunOutcome> {
    if (this.#current) return this.#current;
    const run = this.#run(checkQueue, signal).finally(() => {
      this.#current = undefined;
    });
    this.#current = run;
    return run;
  }

  async #run(checkQueue: boolean, signal?: AbortSignal): Promise<RunOutcome> {
    const summary = this.newSummary({
      outcome: "success",
      startedAt: new Date(this.now()).toISOString(),
      endedAt: "",
      bundles: 0,
      pages: 0,
    });
    this.setState("running");
    this.#resetRequested = false;
    let workId: string | undefined;
    this.onRunStart();
    try {
      if (!this.lifecycle.registered) await this.lifecycle.register(signal);
      if (checkQueue && await this.#buffering(signal)) {
        summary.outcome = "skipped";
        return summary.outcome;
      }
      workId = await this.works.add(undefined, signal);
      const done = await this.importRun(workId, summary, signal);
      this.authProblem = undefined;
      this.lastError = undefined;
      this.failures = 0;
      this.degradation.clear();
      await this.works.toProcessed(
        workId,
        summary.outcome === "reset"
          ? `${this.displayName} run stopped: the state was reset in OpenCTI`
          : done,
        ...(signal ? [{ signal }] : []),
      );
      this.count("runs");
      this.metrics?.runs.inc({ connector: this.name });
      return summary.outcome;
    } catch (error) {
      summary.outcome = "failed";
      summary.error = errorMessage(error);
      this.lastError = summary.error;
      this.count("runs_failed");
      this.metrics?.errors.inc({ connector: this.name });
      if (this.isAuthError(error)) this.authProblem = summary.error;
      this.onRunFailed(error, summary, signal);
      this.logger.error("Run failed; the next run resumes from the last saved position: {error}", {
        error: summary.error,
        ...this.failureCounts(summary),
        bundles: summary.bundles,
      });
      if (workId !== undefined) {
        try {
          await this.works.toProcessed(workId, `${this.displayName} run failed: ${summary.error}`, {
            inError: true,
          });
        } catch (closeError) {
          this.logger.warn("Could not mark work {workId} in error: {error}", {
            workId,
            error: errorMessage(closeError),
          });
        }
      }
      return summary.outcome;
    } finally {
      const endedMs = this.now();
      summary.endedAt = new Date(endedMs).toISOString();
      if (summary.outcome !== "skipped") {
        this.#lastRun = summary;
        this.lifecycle.setRunInfo({ lastRunAt: endedMs });
      }
      this.setState("idle");
    }
  }

  /** True (and the run is skipped) while the queue is at or above the threshold. */
  async #buffering(signal?: AbortSignal): Promise<boolean> {
    const sizeMb = await this.lifecycle.queueSizeMb(signal);
    const buffering = sizeMb >= this.queueThresholdMb;
    this.lifecycle.setRunInfo({ queueMessagesSizeMb: sizeMb, buffering });
    if (buffering) {
      this.skip("buffering");
      this.logger.info(
        "Skipping this run: the OpenCTI queue holds {sizeMb} MB, at or above CONNECTOR_QUEUE_THRESHOLD ({thresholdMb} MB)",
        { sizeMb, thresholdMb: this.queueThresholdMb },
      );
    }
    return buffering;
  }

  /** Pushes one bundle inside the work and counts it. */
  protected async push(
    bundle: StixBundle,
    workId: string,
    summary: S,
    signal?: AbortSignal,
  ): Promise<void> {
    const result = await this.pusher.pushBundle(bundle, { workId, ...(signal ? { signal } : {}) });
    summary.bundles += result.parts;
    this.count("bundles", result.parts);
    this.count("objects", result.objects);
    this.metrics?.bundlesSent.inc({ connector: this.name }, result.parts);
    this.metrics?.recordsSent.inc({ connector: this.name }, result.objects);
  }

  /** Adds to a status counter. */
  protected count(name: string, by = 1): void {
    this.#counters[name] = (this.#counters[name] ?? 0) + by;
  }

  /** Counts a skipped item (status counter `skipped.<reason>` and the `skipped` metric). */
  protected skip(reason: string): void {
    this.count(`skipped.${reason}`);
    this.metrics?.skipped.inc({ connector: this.name, reason });
  }

  /** Sets the `idle`/`running`/`stopped` state and its metric. */
  protected setState(state: ConnectorStatus["state"]): void {
    this.#state = state;
    this.metrics?.setState(this.name, state);
  }
}
