/** A small Prometheus registry (text format 0.0.4) with the metric names pycti connectors use. */

/** Content type of {@linkcode Metrics.render}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The values of `state{state=...}`, as in pycti. */
export type ConnectorState = "idle" | "running" | "stopped";

const CONNECTOR_STATES: readonly ConnectorState[] = ["idle", "running", "stopped"];
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A metric name or label that Prometheus would reject, or a clash with an existing metric. */
export class MetricError extends Error {
  /** The error's name. */
  override name = "MetricError";
}

/** Label values of one sample, keyed by label name. */
export type Labels<L extends string> = { readonly [K in L]: string };

abstract class Metric<L extends string> {
  abstract readonly type: "counter" | "gauge";
  readonly #samples = new Map<string, { labels: Labels<L>; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
  ) {}

  /** The current value of one sample (0 when never set). */
  get(labels: Labels<L>): number {
    return this.#samples.get(this.key(labels))?.value ?? 0;
  }

  protected update(labels: Labels<L>, change: (value: number) => number): void {
    const key = this.key(labels);
    const sample = this.#samples.get(key);
    if (sample) sample.value = change(sample.value);
    else this.#samples.set(key, { labels: { ...labels }, value: change(0) });
  }

  /** The metric's lines in text format, HELP and TYPE first. */
  lines(): string[] {
    const out = [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.type}`,
    ];
    for (const { labels, value } of this.#samples.values()) {
      out.push(`${this.name}${renderLabels(this.labelNames, labels)} ${renderValue(value)}`);
    }
    return out;
  }

  private key(labels: Labels<L>): string {
    return JSON.stringify(
      this.labelNames.map((name) => {
        const value = labels[name];
        if (typeof value !== "string") {
          throw new MetricError(`Metric ${this.name} needs a value for the label "${name}"`);
        }
        return value;
      }),
    );
  }
}

/** A value that only goes up. */
export class Counter<L extends string = never> extends Metric<L> {
  /** Prometheus type. */
  readonly type = "counter";

  /** Adds `by` (default 1, never negative) to the sample with these labels. */
  inc(labels: Labels<L>, by = 1): void {
    if (!(by >= 0)) {
      throw new MetricError(`Counter ${this.name} cannot go down: increment by 0 or more`);
    }
    this.update(labels, (value) => value + by);
  }
}

/** A value that goes up and down. */
export class Gauge<L extends string = never> extends Metric<L> {
  /** Prometheus type. */
  readonly type = "gauge";

  /** Sets the sample with these labels. */
  set(labels: Labels<L>, value: number): void {
    this.update(labels, () => value);
  }

  /** Adds `by` (default 1; negative to subtract) to the sample with these labels. */
  inc(labels: Labels<L>, by = 1): void {
    this.update(labels, (value) => value + by);
  }
}

/**
 * The process's metrics: pycti's connector metrics (each with a `connector` label) plus whatever
 * connectors register with {@linkcode Metrics.counter} and {@linkcode Metrics.gauge}.
 */
export class Metrics {
  readonly #metrics = new Map<string, Metric<string>>();
  readonly #collectors: (() => void)[] = [];

  /** `bundles_sent_total{connector}`: bundles pushed to OpenCTI. */
  readonly bundlesSent: Counter<"connector"> = this.counter(
    "bundles_sent_total",
    "Number of bundles sent",
    ["connector"],
  );
  /** `records_sent_total{connector}`: objects (or target records) sent. */
  readonly recordsSent: Counter<"connector"> = this.counter(
    "records_sent_total",
    "Number of records (objects per bundle) sent",
    ["connector"],
  );
  /** `runs_total{connector}`: completed runs. */
  readonly runs: Counter<"connector"> = this.counter("runs_total", "Number of run", ["connector"]);
  /** `ping_api_total{connector}`: `pingConnector` calls. */
  readonly pingApi: Counter<"connector"> = this.counter(
    "ping_api_total",
    "Number of pings to the API",
    ["connector"],
  );
  /** `ping_api_errors_total{connector}`: failed `pingConnector` calls. */
  readonly pingApiErrors: Counter<"connector"> = this.counter(
    "ping_api_errors_total",
    "Number of errors when pinging the API",
    ["connector"],
  );
  /** `errors_total{connector}`: any error. */
  readonly errors: Counter<"connector"> = this.counter("errors_total", "Number of errors", [
    "connector",
  ]);
  /** `client_errors_total{connector}`: errors from the remote (non-OpenCTI) API. */
  readonly clientErrors: Counter<"connector"> = this.counter(
    "client_errors_total",
    "Number of client errors",
    ["connector"],
  );
  /** `state{connector,state}`: 1 for the current state, 0 for the others. */
  readonly state: Gauge<"connector" | "state"> = this.gauge("state", "State of connector", [
    "connector",
    "state",
  ]);
  /** `skipped_total{connector,reason}`: input counted and skipped, by reason. */
  readonly skipped: Counter<"connector" | "reason"> = this.counter(
    "skipped_total",
    "Number of events or records skipped, by reason",
    ["connector", "reason"],
  );
  /** `restarts_total{connector}`: loops restarted by the supervisor after a crash. */
  readonly restarts: Counter<"connector"> = this.counter(
    "restarts_total",
    "Number of times the supervisor restarted a crashed connector loop",
    ["connector"],
  );

  /** Returns the counter `name`, creating it on first use; throws when it exists with another type or labels. */
  counter<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
  ): Counter<L> {
    return this.#register(new Counter<L>(name, help, labelNames)) as Counter<L>;
  }

  /** Returns the gauge `name`, creating it on first use; throws when it exists with another type or labels. */
  gauge<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
  ): Gauge<L> {
    return this.#register(new Gauge<L>(name, help, labelNames)) as Gauge<L>;
  }

  /** Sets pycti's `state` enum for a connector: 1 for `state`, 0 for the other states. */
  setState(connector: string, state: ConnectorState): void {
    for (const each of CONNECTOR_STATES) {
      this.state.set({ connector, state: each }, each === state ? 1 : 0);
    }
  }

  /** Registers a function that refreshes gauges (e.g. durations) right before each render. */
  onCollect(collect: () => void): void {
    this.#collectors.push(collect);
  }

  /** All metrics in Prometheus text format 0.0.4 (ends with a newline). */
  render(): string {
    for (const collect of this.#collectors) collect();
    const lines: string[] = [];
    for (const metric of this.#metrics.values()) lines.push(...metric.lines());
    return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
  }

  #register<L extends string>(metric: Metric<L>): Metric<L> {
    const existing = this.#metrics.get(metric.name);
    if (existing) {
      if (
        existing.type !== metric.type ||
        existing.labelNames.join(",") !== metric.labelNames.join(",")
      ) {
        throw new MetricError(
          `Metric ${metric.name} is already registered as a ${existing.type} with labels ` +
            `[${existing.labelNames.join(", ")}]: reuse it or pick another name`,
        );
      }
      return existing as unknown as Metric<L>;
    }
    if (!METRIC_NAME.test(metric.name)) {
      throw new MetricError(
        `Metric name "${metric.name}" is invalid: use [a-zA-Z_:][a-zA-Z0-9_:]*`,
      );
    }
    for (const label of metric.labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) {
        throw new MetricError(
          `Label name "${label}" of ${metric.name} is invalid: use [a-zA-Z_][a-zA-Z0-9_]* not starting with __`,
        );
      }
    }
    this.#metrics.set(metric.name, metric as unknown as Metric<string>);
    return metric;
  }
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function renderLabels<L extends string>(names: readonly L[], labels: Labels<L>): string {
  if (names.length === 0) return "";
  return `{${names.map((name) => `${name}="${escapeLabelValue(labels[name])}"`).join(",")}}`;
}

function renderValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
