/**
 * Simulated time for the throughput scenario: the simulators and the clients share one clock that
 * runs `1 / factor` times faster than real time (factor 0.1: a documented minute lasts 6 s), so
 * rate windows, `Retry-After` values and injected latencies stay consistent with each other.
 *
 * @module
 */
import { type Now, type Sleep, systemSleep } from "../../src/runtime/clock.ts";

/** A clock running `1 / factor` times faster than real time. */
export class ScaledClock {
  /** Real ms per simulated ms. */
  readonly factor: number;
  readonly #t0: number;
  readonly #p0: number;

  /** Starts the clock at the real current time. */
  constructor(factor: number) {
    if (!(factor > 0)) throw new RangeError(`Give a positive factor, got ${factor}`);
    this.factor = factor;
    this.#t0 = Date.now();
    this.#p0 = performance.now();
  }

  /** Simulated epoch ms. */
  readonly now: Now = () => this.#t0 + (performance.now() - this.#p0) / this.factor;

  /** Sleeps `ms` simulated ms. */
  readonly sleep: Sleep = (ms, signal) => systemSleep(ms * this.factor, signal);
}
