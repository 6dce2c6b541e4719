/** Starts every connector loop, restarts a crashed one with capped backoff, and reports status. */
import { getLogger, type Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { type Now, type Sleep, systemNow, systemSleep } from "./clock.ts";
import type { Connector, ConnectorStatus } from "./connector.ts";
import { PassRunner } from "./pass.ts";
import { errorSummary } from "./errors.ts";

/** Options of {@linkcode Supervisor}. */
export interface SupervisorOptions {
  /** First restart delay in ms; doubles after each crash. @default 1000 */
  baseMs?: number;
  /** Largest restart delay in ms. @default 60000 */
  capMs?: number;
  /** A loop that ran this long before crashing starts again from `baseMs`. @default 300000 */
  resetAfterMs?: number;
  /** Time `stop()` waits for the loops to finish, in ms. @default 10000 */
  deadlineMs?: number;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep for restart delays and the stop deadline. @default a real timer */
  sleep?: Sleep;
  /** Random source in [0, 1) for the restart jitter. @default Math.random */
  random?: () => number;
  /** Where restarts are counted (`restarts_total`, `errors_total`). @default none */
  metrics?: Metrics;
  /** The logger. @default getLogger("supervisor") */
  logger?: Logger;
}

interface Slot {
  connector: Connector;
  phase: "new" | "running" | "crashed" | "stopped";
  restarts: number;
  lastCrash?: string;
  restartAt?: number | undefined;
  loop?: Promise<void>;
}

/**
 * Runs each connector's `start(signal)` until `stop()`; a loop that throws (or returns before
 * the stop) is logged and started again after `min(cap, base * 2^(n-1))` ms with jitter, so one
 * failing connector never takes the process down.
 */
export class Supervisor {
  readonly #slots = new Map<string, Slot>();
  readonly #controller = new AbortController();
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #resetAfterMs: number;
  readonly #deadlineMs: number;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #random: () => number;
  readonly #metrics: Metrics | undefined;
  readonly #logger: Logger;
  readonly #passes: PassRunner;

  /** Supervises these connectors (names must be unique); call `start()` to run them. */
  constructor(connectors: readonly Connector[], options: SupervisorOptions = {}) {
    for (const connector of connectors) {
      if (this.#slots.has(connector.name)) {
        throw new Error(`Connector "${connector.name}" is listed twice: enable it once`);
      }
      this.#slots.set(connector.name, { connector, phase: "new", restarts: 0 });
    }
    this.#baseMs = options.baseMs ?? 1000;
    this.#capMs = options.capMs ?? 60_000;
    this.#resetAfterMs = options.resetAfterMs ?? 300_000;
    this.#deadlineMs = options.deadlineMs ?? 10_000;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#random = options.random ?? Math.random;
    this.#metrics = options.metrics;
    this.#logger = options.logger ?? getLogger("supervisor");
    this.#passes = new PassRunner({
      kind: "Triggered run",
      logger: this.#logger,
      ...(this.#metrics === undefined ? {} : { metrics: this.#metrics }),
    });
  }

  /** The signal handed to every connector; it aborts when `stop()` is called. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Starts every connector loop once; later calls do nothing. */
  start(): void {
    for (const slot of this.#slots.values()) {
      if (slot.phase !== "new" || this.signal.aborted) continue;
      slot.phase = "running";
      slot.loop = this.#supervise(slot);
    }
  }

  /** Delay before restart number `restart` (1-based): half fixed, half random, capped. */
  restartDelay(restart: number): number {
    const ceiling = Math.min(this.#capMs, this.#baseMs * 2 ** (restart - 1));
    return Math.round(ceiling / 2 + this.#random() * ceiling / 2);
  }

  /**
   * Starts one `runOnce()` of a connector in the background.
   * Returns undefined for an unknown connector, else a promise of true when the run started and
   * false when a triggered run of it is still in progress.
   */
  runNow(name: string): Promise<boolean> | undefined {
    const slot = this.#slots.get(name);
    if (!slot) return undefined;
    if (this.#passes.isRunning(name) || this.signal.aborted) return Promise.resolve(false);
    void this.#passes.run(name, () => slot.connector.runOnce(this.signal));
    return Promise.resolve(true);
  }

  /** Each connector's own status, merged with the supervisor's view (restarts, crash, stop). */
  statuses(): ConnectorStatus[] {
    return [...this.#slots.values()].map((slot) => this.#status(slot));
  }

  /**
   * Aborts the connectors' signal and waits for their loops (and triggered runs) to finish, up to
   * the deadline. Resolves true when all finished in time.
   */
  async stop(deadlineMs = this.#deadlineMs): Promise<boolean> {
    this.#controller.abort(new DOMException("The program is shutting down", "AbortError"));
    const pending: Promise<unknown>[] = [
      ...[...this.#slots.values()].flatMap((slot) => slot.loop === undefined ? [] : [slot.loop]),
      ...this.#passes.inProgress(),
    ];
    const timer = new AbortController();
    const finished = Promise.all(pending).then(() => true);
    const expired = this.#sleep(deadlineMs, timer.signal).then(() => false, () => false);
    const inTime = await Promise.race([finished, expired]);
    timer.abort();
    if (!inTime) {
      const late = [...this.#slots.values()].filter((slot) => slot.phase !== "stopped")
        .map((slot) => slot.connector.name);
      this.#logger.warn("Connectors {late} did not stop within {deadlineMs} ms", {
        late,
        deadlineMs,
      });
    }
    return inTime;
  }

  async #supervise(slot: Slot): Promise<void> {
    const { connector } = slot;
    const signal = this.signal;
    let streak = 0;
    while (!signal.aborted) {
      const startedAt = this.#now();
      slot.phase = "running";
      slot.restartAt = undefined;
      let failure: string;
      try {
        await connector.start(signal);
        if (signal.aborted) break;
        failure = "the loop ended on its own";
      } catch (error) {
        if (signal.aborted) {
          this.#logger.warn("Connector {connector} stopped with an error: {error}", {
            connector: connector.name,
            error: errorSummary(error),
          });
          break;
        }
        failure = errorSummary(error);
      }
      streak = this.#now() - startedAt >= this.#resetAfterMs ? 1 : streak + 1;
      const delayMs = this.restartDelay(streak);
      slot.phase = "crashed";
      slot.lastCrash = failure;
      slot.restartAt = this.#now() + delayMs;
      this.#metrics?.errors.inc({ connector: connector.name });
      this.#logger.error(
        "Connector {connector} crashed: {error}; restarting in {delayMs} ms",
        { connector: connector.name, error: failure, delayMs, restarts: slot.restarts },
      );
      try {
        await this.#sleep(delayMs, signal);
      } catch {
        break;
      }
      if (signal.aborted) break;
      slot.restarts++;
      this.#metrics?.restarts.inc({ connector: connector.name });
    }
    slot.phase = "stopped";
    slot.restartAt = undefined;
  }

  #status(slot: Slot): ConnectorStatus {
    const name = slot.connector.name;
    let own: ConnectorStatus;
    try {
      own = slot.connector.status();
    } catch (error) {
      own = {
        name,
        ready: false,
        reasons: [`status unavailable: ${errorSummary(error)}`],
        state: "stopped",
        counters: {},
      };
    }
    const reasons = [...own.reasons];
    let ready = own.ready;
    let state = own.state;
    if (slot.phase === "new") {
      ready = false;
      reasons.unshift("not started");
    } else if (slot.phase === "crashed") {
      ready = false;
      const at = slot.restartAt === undefined ? "" : `, restarting at ${iso(slot.restartAt)}`;
      reasons.unshift(`crashed: ${slot.lastCrash ?? "unknown error"}${at}`);
    } else if (slot.phase === "stopped") {
      ready = false;
      state = "stopped";
      reasons.unshift("stopped");
    }
    if (!ready && reasons.length === 0) reasons.push("not ready");
    const status: ConnectorStatus = {
      ...own,
      name,
      ready,
      reasons: ready ? [] : reasons,
      state,
      counters: { ...own.counters, restarts: slot.restarts },
      details: {
        ...own.details,
        supervisor: {
          phase: slot.phase,
          restarts: slot.restarts,
          ...(slot.restartAt === undefined ? {} : { restartAt: iso(slot.restartAt) }),
          ...(slot.lastCrash === undefined ? {} : { lastCrash: slot.lastCrash }),
        },
      },
    };
    if (status.lastError === undefined && slot.lastCrash !== undefined) {
      status.lastError = slot.lastCrash;
    }
    return status;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
