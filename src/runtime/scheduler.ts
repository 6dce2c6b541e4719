/** Runs a task now, then again one period after each run ends, until a signal aborts. */
import { type Now, type Sleep, systemNow, systemSleep } from "./clock.ts";

/** Options of {@linkcode runScheduled}. */
export interface ScheduleOptions {
  /** Time between the end of one run and the start of the next, in ms; 0 runs once. @default 0 */
  periodMs?: number;
  /** Stops the schedule between runs (a run in progress is never cut short by the scheduler). @default none */
  signal?: AbortSignal;
  /** The clock, for {@linkcode ScheduleOptions.onNextRun}. @default Date.now */
  now?: Now;
  /** The sleep between runs. @default a real timer */
  sleep?: Sleep;
  /** Called when a run throws; the schedule goes on. @default rethrow, which ends the schedule */
  onError?: (error: unknown) => void;
  /** Told when the next run is due (epoch ms), and `undefined` once no run is due any more. @default no-op */
  onNextRun?: (at: number | undefined) => void;
}

/**
 * Runs `task` at once, then waits `periodMs` after each run ends and runs it again.
 *
 * Resolves when the signal aborts (checked between runs) or, with a period of 0, after the one
 * run. The task receives the signal so it can stop reading and save its state.
 */
export async function runScheduled(
  task: (signal: AbortSignal) => Promise<unknown>,
  options: ScheduleOptions = {},
): Promise<void> {
  const {
    periodMs = 0,
    signal = new AbortController().signal,
    now = systemNow,
    sleep = systemSleep,
    onError,
    onNextRun,
  } = options;
  if (!Number.isFinite(periodMs) || periodMs < 0) {
    throw new RangeError(`Cannot schedule with a period of ${periodMs} ms: give 0 or more`);
  }
  try {
    while (!signal.aborted) {
      onNextRun?.(undefined);
      try {
        await task(signal);
      } catch (error) {
        if (!onError) throw error;
        onError(error);
      }
      if (periodMs === 0 || signal.aborted) return;
      onNextRun?.(now() + periodMs);
      try {
        await sleep(periodMs, signal);
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
    }
  } finally {
    onNextRun?.(undefined);
  }
}
