/** A fake clock for tests: `sleep` records the delay and moves time forward at once. */
import type { Now, Sleep } from "../../src/runtime/clock.ts";

/** Time that moves only when something sleeps (or `advance` is called). */
export class FakeClock {
  /** Current fake time in epoch ms. */
  time: number;
  /** Every delay passed to `sleep`, in order. */
  readonly sleeps: number[] = [];

  /** Starts the clock at `start` (epoch ms). */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }

  /** The `now` to inject. */
  readonly now: Now = () => this.time;

  /**
   * The `sleep` to inject: records `ms`, advances the time, and resolves after every promise
   * callback already queued has run (so a sleep never "wins" against ready work).
   */
  readonly sleep: Sleep = async (ms, signal) => {
    signal?.throwIfAborted();
    this.sleeps.push(ms);
    this.time += Math.max(0, ms);
    await drain();
    signal?.throwIfAborted();
  };

  /** Moves the time forward by `ms`. */
  advance(ms: number): void {
    this.time += ms;
  }
}

/** A sleep that stays pending until the signal aborts (for "stops between runs" tests). */
export const sleepUntilAborted: Sleep = (_ms, signal) =>
  new Promise<void>((_resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

/**
 * A fake clock whose sleeps wait for {@linkcode TimerClock.runUntilIdle}, which moves the time
 * to each due timer in order once every pending callback has run (like fake timers).
 */
export class TimerClock {
  /** Current fake time in epoch ms. */
  time: number;
  readonly #timers: { at: number; seq: number; resolve: () => void }[] = [];
  #seq = 0;

  /** Starts the clock at `start` (epoch ms). */
  constructor(start = 0) {
    this.time = start;
  }

  /** The `now` to inject. */
  readonly now: Now = () => this.time;

  /** The `sleep` to inject. */
  readonly sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: this.time + Math.max(0, ms), seq: this.#seq++, resolve };
      this.#timers.push(timer);
      signal?.addEventListener("abort", () => {
        this.#timers.splice(this.#timers.indexOf(timer), 1);
        reject(signal.reason);
      }, { once: true });
    });

  /** Fires every timer in time order, letting all other work run in between. */
  async runUntilIdle(): Promise<void> {
    for (;;) {
      await drain();
      if (this.#timers.length === 0) return;
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#timers.shift()!;
      this.time = Math.max(this.time, next.at);
      next.resolve();
    }
  }
}

/** Lets every queued promise callback run (one macrotask turn). */
export function drain(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
