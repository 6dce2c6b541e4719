/**
 * The `degraded` condition of a connector: a systemic failure (token, permission, throttling,
 * outage, network) holds delivery without dropping anything. While it lasts, `/status` shows the
 * reason and since when, and `/metrics` has `octi_connector_degraded{connector}` (0/1) and
 * `octi_connector_degraded_seconds{connector}`. Liveness is not affected.
 */
import type { Logger } from "@logtape/logtape";
import type { Gauge, Metrics } from "../metrics.ts";
import { type Now, systemNow } from "./clock.ts";

/** What `/status` shows while a connector is degraded. */
export interface DegradedInfo {
  /** What is wrong, e.g. `graph answered 503 Service Unavailable`. */
  reason: string;
  /** The setting or permission to check, e.g. `SENTINEL_CLIENT_SECRET`. */
  check?: string;
  /** ISO date the condition started. */
  since: string;
  /** Seconds since then. */
  seconds: number;
  /** Backoff steps taken so far. */
  steps: number;
}

/** Options of {@linkcode Degradation}. */
export interface DegradationOptions {
  /** The metrics registry. @default none */
  metrics?: Metrics;
  /** Where the once-per-backoff-step line goes. @default none */
  logger?: Logger;
  /** The clock. @default Date.now */
  now?: Now;
}

/** Registers (or returns) the two degraded gauges of a registry. */
export function degradedGauges(
  metrics: Metrics,
): { degraded: Gauge<"connector">; seconds: Gauge<"connector"> } {
  return {
    degraded: metrics.gauge(
      "octi_connector_degraded",
      "1 while the connector holds delivery because of a systemic failure, else 0",
      ["connector"],
    ),
    seconds: metrics.gauge(
      "octi_connector_degraded_seconds",
      "Seconds the connector has been degraded (0 when healthy)",
      ["connector"],
    ),
  };
}

/** Tracks one connector's degraded condition. */
export class Degradation {
  readonly #connector: string;
  readonly #now: Now;
  readonly #logger: Logger | undefined;
  readonly #gauges: ReturnType<typeof degradedGauges> | undefined;
  #since: number | undefined;
  #reason = "";
  #check: string | undefined;
  #steps = 0;

  /** Starts healthy; sets both gauges to 0 when a registry is given. */
  constructor(connector: string, options: DegradationOptions = {}) {
    this.#connector = connector;
    this.#now = options.now ?? systemNow;
    this.#logger = options.logger;
    this.#gauges = options.metrics ? degradedGauges(options.metrics) : undefined;
    options.metrics?.onCollect(() => this.#publish());
    this.#publish();
  }

  /** True while degraded. */
  get active(): boolean {
    return this.#since !== undefined;
  }

  /**
   * Records one backoff step of a systemic failure: enters (or stays in) the degraded condition
   * and logs once what is wrong, which setting or permission to check and when the next try is.
   */
  step(reason: string, options: { check?: string; retryInMs?: number } = {}): void {
    const now = this.#now();
    this.#since ??= now;
    this.#reason = reason;
    this.#check = options.check;
    this.#steps++;
    this.#publish();
    this.#logger?.warn(
      "Degraded for {seconds} s, delivery held (nothing is dropped): {reason}{advice}; next try in {retryIn} s",
      {
        seconds: Math.round((now - this.#since) / 1000),
        reason,
        advice: options.check ? `; check ${options.check}` : "",
        retryIn: Math.round((options.retryInMs ?? 0) / 1000),
        check: options.check,
        steps: this.#steps,
      },
    );
  }

  /** Leaves the degraded condition (logs once when it was degraded). */
  clear(): void {
    if (this.#since === undefined) return;
    const seconds = Math.round((this.#now() - this.#since) / 1000);
    this.#logger?.info("Recovered after {seconds} s degraded; delivery resumes", {
      seconds,
      reason: this.#reason,
    });
    this.#since = undefined;
    this.#reason = "";
    this.#check = undefined;
    this.#steps = 0;
    this.#publish();
  }

  /** The condition for `/status`, or undefined when healthy; refreshes the seconds gauge. */
  info(): DegradedInfo | undefined {
    this.#publish();
    if (this.#since === undefined) return undefined;
    const info: DegradedInfo = {
      reason: this.#reason,
      since: new Date(this.#since).toISOString(),
      seconds: Math.max(0, Math.round((this.#now() - this.#since) / 1000)),
      steps: this.#steps,
    };
    if (this.#check !== undefined) info.check = this.#check;
    return info;
  }

  #publish(): void {
    if (!this.#gauges) return;
    const labels = { connector: this.#connector };
    const since = this.#since;
    this.#gauges.degraded.set(labels, since === undefined ? 0 : 1);
    this.#gauges.seconds.set(
      labels,
      since === undefined ? 0 : Math.max(0, Math.round((this.#now() - since) / 1000)),
    );
  }
}
