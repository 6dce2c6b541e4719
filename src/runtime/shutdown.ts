/** Graceful shutdown on SIGTERM and SIGINT: flip readiness, let work finish, exit. */
import { getLogger, type Logger } from "../log.ts";
import { type Sleep, systemSleep } from "./clock.ts";
import { errorMessage } from "./errors.ts";

/** The signals a shutdown listens to (SIGTERM from a container runtime, SIGINT from a terminal). */
export type ShutdownSignal = "SIGTERM" | "SIGINT";

/** Options of {@linkcode installShutdown}. */
export interface ShutdownOptions {
  /** Stops the work (aborts the connectors' signal) and resolves once in-flight work and state are saved. */
  onShutdown: () => Promise<unknown>;
  /** Time given to `onShutdown` before the process exits anyway, in ms. @default 10000 */
  deadlineMs?: number;
  /** Registers a signal listener. @default Deno.addSignalListener */
  addSignalListener?: (signal: ShutdownSignal, handler: () => void) => void;
  /** Removes a signal listener (used by `dispose()`). @default Deno.removeSignalListener */
  removeSignalListener?: (signal: ShutdownSignal, handler: () => void) => void;
  /** Ends the process. @default Deno.exit */
  exit?: (code: number) => void;
  /** The sleep for the deadline. @default a real timer */
  sleep?: Sleep;
  /** The logger. @default getLogger("shutdown") */
  logger?: Logger;
}

/** The handle returned by {@linkcode installShutdown}. */
export interface Shutdown {
  /** True from the first signal on (readiness answers 503). */
  readonly shuttingDown: boolean;
  /** Settles after the exit code was chosen and `exit` called; pending until a signal arrives. */
  readonly done: Promise<number>;
  /** Runs the shutdown as if `signal` had arrived (a second call exits at once). */
  trigger(signal: ShutdownSignal): void;
  /** Removes the signal listeners. */
  dispose(): void;
}

/** Exit code when a second signal cuts the shutdown short, or the deadline passes. */
export const EXIT_INTERRUPTED = 1;

/**
 * Registers SIGTERM and SIGINT listeners (always: the program may be PID 1 in a container,
 * where the kernel ignores signals that have no handler).
 *
 * First signal: `shuttingDown` becomes true, `onShutdown()` runs, and the process exits 0 when
 * it finishes within `deadlineMs`, 1 when it fails or the deadline passes. A second signal exits
 * 1 at once.
 */
export function installShutdown(options: ShutdownOptions): Shutdown {
  const {
    onShutdown,
    deadlineMs = 10_000,
    addSignalListener = (signal, handler) => Deno.addSignalListener(signal, handler),
    removeSignalListener = (signal, handler) => Deno.removeSignalListener(signal, handler),
    exit = (code) => Deno.exit(code),
    sleep = systemSleep,
    logger = getLogger("shutdown"),
  } = options;
  let shuttingDown = false;
  let exited = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => resolveDone = resolve);

  const finish = (code: number) => {
    if (exited) return;
    exited = true;
    resolveDone(code);
    exit(code);
  };

  const run = async (signal: ShutdownSignal) => {
    logger.info("Received {signal}; finishing in-flight work (up to {deadlineMs} ms)", {
      signal,
      deadlineMs,
    });
    const timer = new AbortController();
    const work = (async () => {
      try {
        await onShutdown();
        return 0;
      } catch (error) {
        logger.error("Shutdown failed: {error}", {
          error: errorMessage(error),
        });
        return EXIT_INTERRUPTED;
      }
    })();
    const deadline = sleep(deadlineMs, timer.signal).then(() => undefined, () => undefined);
    const code = await Promise.race([work, deadline]);
    timer.abort();
    if (code === undefined) {
      logger.warn("Work still running after {deadlineMs} ms; exiting anyway", { deadlineMs });
      finish(EXIT_INTERRUPTED);
    } else {
      if (code === 0) logger.info("Shutdown complete");
      finish(code);
    }
  };

  const trigger = (signal: ShutdownSignal) => {
    if (exited) return;
    if (shuttingDown) {
      logger.warn("Received {signal} again; exiting now", { signal });
      finish(EXIT_INTERRUPTED);
      return;
    }
    shuttingDown = true;
    void run(signal);
  };

  const handlers = new Map<ShutdownSignal, () => void>();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    const handler = () => trigger(signal);
    try {
      addSignalListener(signal, handler);
      handlers.set(signal, handler);
    } catch (error) {
      // Windows has no SIGTERM; the other signal still works.
      logger.warn("Cannot listen to {signal}: {error}", {
        signal,
        error: errorMessage(error),
      });
    }
  }

  return {
    get shuttingDown() {
      return shuttingDown;
    },
    done,
    trigger,
    dispose() {
      for (const [signal, handler] of handlers) {
        try {
          removeSignalListener(signal, handler);
        } catch {
          // already gone
        }
      }
      handlers.clear();
    },
  };
}
