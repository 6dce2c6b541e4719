/**
 * Runs reconciles next to the sentinel connector (issue 17): every `SENTINEL_RECONCILE_PERIOD`
 * (0 = never), once on a first start (empty state), and on demand (`POST
 * /connectors/sentinel/reconcile`, `?dry_run=true` for the plan only). Shows the last one in
 * `/status` (`details.reconcile`) and `/metrics` (`octi_reconcile_*`).
 *
 * @module
 */
import { getLogger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Connector, ConnectorStatus, DeadLetterView } from "../runtime/connector.ts";
import { type SetTimer, systemSetTimer } from "../runtime/clock.ts";
import type { SentinelConnector } from "./connector.ts";
import type { Reconciler, ReconcileReport } from "./reconcile.ts";
import { errorMessage } from "../runtime/errors.ts";

/** Options of {@linkcode ReconcilingConnector}. */
export interface ReconcileHostOptions {
  /** Time between two scheduled reconciles, in ms; 0 = none (on demand only). */
  periodMs: number;
  /** Reconcile once when the connector starts with an empty state. @default true */
  onFirstStart?: boolean;
  /** Metrics registry. @default none */
  metrics?: Metrics;
  /** Timer. @default setTimeout */
  setTimer?: SetTimer;
}

/** The sentinel connector with its reconciles. */
export class ReconcilingConnector implements Connector {
  /** Connector name. */
  readonly name: string;
  readonly #inner: SentinelConnector;
  readonly #reconciler: Reconciler;
  readonly #o: ReconcileHostOptions;
  readonly #log;
  #lastError: string | undefined;
  #runs = 0;

  /** Wraps the connector; nothing runs before `start()`, `runOnce()` or `reconcile()`. */
  constructor(inner: SentinelConnector, reconciler: Reconciler, options: ReconcileHostOptions) {
    this.#inner = inner;
    this.#reconciler = reconciler;
    this.#o = options;
    this.name = inner.name;
    this.#log = getLogger(inner.name, "reconcile");
  }

  /** The wrapped connector. */
  get inner(): SentinelConnector {
    return this.#inner;
  }

  /** Follows the stream; reconciles every period until the signal aborts. */
  async start(signal: AbortSignal): Promise<void> {
    const setTimer = this.#o.setTimer ?? systemSetTimer;
    let cancel: (() => void) | undefined;
    let running: Promise<unknown> = Promise.resolve();
    const schedule = (ms: number) => {
      if (signal.aborted || ms <= 0) return;
      cancel = setTimer(() => {
        running = this.#scheduled({}, signal).finally(() => schedule(this.#o.periodMs));
      }, ms);
    };
    schedule(this.#o.periodMs);
    try {
      await this.#inner.start(signal);
    } finally {
      cancel?.();
      await running.catch(() => undefined);
    }
  }

  /**
   * The first-start reconcile: adopts upstream records and deletes ours no longer wanted before
   * the stream's recovery writes every indicator (so nothing is written twice at once). Give it
   * to the connector as `beforeFirstFollow`; a failure is logged, never fatal.
   */
  firstStart(signal: AbortSignal): Promise<void> {
    if (!(this.#o.onFirstStart ?? true)) return Promise.resolve();
    return this.#scheduled({ deletesOnly: true }, signal);
  }

  /** The catch-up pass (Deno Deploy runs reconciles with their own cron, see `reconcile()`). */
  runOnce(signal?: AbortSignal): Promise<boolean> {
    return this.#inner.runOnce(signal);
  }

  /** Runs one reconcile now (joins one already running); `dryRun` returns the plan only. */
  async reconcile(
    options: { dryRun?: boolean; deletesOnly?: boolean } = {},
    signal?: AbortSignal,
  ): Promise<ReconcileReport> {
    try {
      const report = await this.#reconciler.run({
        ...(options.dryRun ? { dryRun: true } : {}),
        ...(options.deletesOnly ? { deletesOnly: true } : {}),
        ...(signal ? { signal } : {}),
      });
      this.#lastError = undefined;
      this.#record(report);
      return report;
    } catch (error) {
      this.#lastError = errorMessage(error);
      this.#o.metrics?.counter(
        "octi_reconcile_failures_total",
        "Reconciles that could not run (listing or replay failed)",
        ["connector"],
      ).inc({ connector: this.name });
      throw error;
    }
  }

  /** The connector's status with the last reconcile under `details.reconcile`. */
  status(): ConnectorStatus {
    const status = this.#inner.status();
    const last = this.#reconciler.last;
    const reconcile: Record<string, unknown> = {
      periodMs: this.#o.periodMs,
      running: this.#reconciler.running,
      runs: this.#runs,
    };
    if (last) {
      const { preview: _preview, ...summary } = last;
      reconcile.last = summary;
    }
    if (this.#lastError !== undefined) reconcile.lastError = this.#lastError;
    status.details = { ...status.details, reconcile };
    return status;
  }

  /** The connector's dead letters. */
  deadLetters(): DeadLetterView {
    return this.#inner.deadLetters();
  }

  /** Replays the connector's dead letters. */
  replayDeadLetters(signal?: AbortSignal): Promise<object> {
    return this.#inner.replayDeadLetters(signal);
  }

  async #scheduled(options: { deletesOnly?: boolean }, signal: AbortSignal): Promise<void> {
    try {
      await this.reconcile(options, signal);
    } catch (error) {
      if (signal.aborted) return;
      this.#log.error("Reconcile failed: {error}", {
        error: errorMessage(error),
      });
    }
  }

  #record(report: ReconcileReport): void {
    if (report.dryRun) return;
    this.#runs++;
    const metrics = this.#o.metrics;
    if (!metrics) return;
    const connector = this.name;
    const counter = (name: string, help: string) =>
      metrics.counter(`octi_reconcile_${name}_total`, help, ["connector"]);
    counter("runs", "Reconciles executed").inc({ connector });
    counter("created", "Records created by reconciles").inc({ connector }, report.created);
    counter("updated", "Records updated by reconciles").inc({ connector }, report.updated);
    counter("deleted", "Records deleted by reconciles").inc({ connector }, report.deleted);
    counter("adopted", "Upstream records adopted by reconciles").inc(
      { connector },
      report.adopted,
    );
    const drift = metrics.gauge(
      "octi_reconcile_drift",
      "Drift found by the last reconcile, by kind",
      ["connector", "kind"],
    );
    drift.set({ connector, kind: "missing" }, report.drift.missing);
    drift.set({ connector, kind: "stale" }, report.drift.stale);
    drift.set({ connector, kind: "orphans" }, report.drift.orphans);
    metrics.gauge(
      "octi_reconcile_last_duration_seconds",
      "Duration of the last reconcile",
      ["connector"],
    ).set({ connector }, report.durationMs / 1000);
    metrics.gauge(
      "octi_reconcile_last_timestamp_seconds",
      "When the last reconcile started (epoch seconds)",
      ["connector"],
    ).set({ connector }, Date.parse(report.at) / 1000);
    metrics.gauge(
      "octi_reconcile_converged",
      "1 when the last reconcile left the target equal to the desired set",
      ["connector"],
    ).set({ connector }, report.converged === true ? 1 : 0);
  }
}
