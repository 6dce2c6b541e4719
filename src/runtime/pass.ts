/**
 * One pass of a connector (`runOnce`), run the same way by every caller: the `--once` loop in
 * app.ts, each Deno Deploy cron tick, and `POST /connectors/:name/run` through the supervisor.
 */
import { getLogger, type Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { errorSummary } from "./errors.ts";

/** Options of {@linkcode PassRunner}. */
export interface PassRunnerOptions {
  /** What the log lines call a pass, e.g. "Cron run". @default "Run" */
  kind?: string;
  /** Where a pass that throws is counted (`errors_total{connector}`). @default none */
  metrics?: Metrics;
  /** The logger. @default getLogger("runtime", "pass") */
  logger?: Logger;
}

/**
 * Runs passes with an overlap guard (one pass per connector name at a time), logs each outcome,
 * and never rejects: a pass that throws is logged, counted and reported as a failure.
 */
export class PassRunner {
  readonly #running = new Map<string, Promise<boolean>>();
  readonly #kind: string;
  readonly #metrics: Metrics | undefined;
  readonly #logger: Logger;

  /** A runner with its own overlap guard. */
  constructor(options: PassRunnerOptions = {}) {
    this.#kind = options.kind ?? "Run";
    this.#metrics = options.metrics;
    this.#logger = options.logger ?? getLogger("runtime", "pass");
  }

  /** True while a pass of `name` runs. */
  isRunning(name: string): boolean {
    return this.#running.has(name);
  }

  /** The passes in progress (to wait for them at shutdown). */
  inProgress(): Promise<boolean>[] {
    return [...this.#running.values()];
  }

  /**
   * Runs `pass` for connector `name` unless one is already running (then resolves `undefined`
   * without running it); resolves true on success, false on failure or error.
   */
  run(name: string, pass: () => Promise<boolean>): Promise<boolean | undefined> {
    if (this.#running.has(name)) {
      this.#logger.warn(
        `Skipping a ${this.#kind.toLowerCase()} of {name}: the previous one is still running`,
        { name },
      );
      return Promise.resolve(undefined);
    }
    // Marked as running before the first await, so a concurrent caller sees it.
    const running = (async () => await pass())().catch((error: unknown) => {
      this.#metrics?.errors.inc({ connector: name });
      this.#logger.error(`${this.#kind} of {name} failed: {error}`, {
        name,
        error: errorSummary(error),
      });
      return false;
    });
    this.#running.set(name, running);
    return running.then((ok) => {
      this.#running.delete(name);
      this.#logger.info(`${this.#kind} of {name} finished: {outcome}`, {
        name,
        outcome: ok ? "success" : "failure",
      });
      return ok;
    });
  }
}
