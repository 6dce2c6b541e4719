/**
 * Discrete-event time for the throughput scenario: simulated time stands still while any task
 * runs, and jumps to the next timer only when every task waits on a timer (a sleep, a rate-limit
 * wait, a simulated answer's fixed latency). CPU therefore costs no simulated time, and a run
 * gives the same figures every time.
 *
 * Everything the connector talks to runs in the same process ({@linkcode inProcessFetch} calls a
 * simulator's Hono app directly, no socket), so "every task waits" is observable: the clock
 * counts the exchanges in progress and lets the event loop turn a few times with nothing new
 * happening before it moves.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { Now, Sleep } from "../../src/runtime/clock.ts";

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
  cancelled: boolean;
}

/** Event-loop turns with nothing new before time may advance. */
const IDLE_TURNS = 3;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A clock whose time advances only when every task waits on one of its timers. */
export class VirtualClock {
  #now: number;
  #seq = 0;
  #busy = 0;
  #activity = 0;
  /** A binary min-heap by (at, seq). */
  #heap: Timer[] = [];
  /** Cancelled timers still in the heap (about). */
  #cancelled = 0;
  /** Timers fired so far. */
  fired = 0;

  /** Starts at `start` epoch ms. */
  constructor(start: number) {
    this.#now = start;
  }

  /** Simulated epoch ms. */
  readonly now: Now = () => this.#now;

  /** Waits `ms` simulated ms; rejects with the signal's reason when it aborts first. */
  readonly sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        cancel();
        reject(signal?.reason);
      };
      const cancel = this.setTimer(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });

  /** Calls `callback` after `ms` simulated ms; returns a cancel function. */
  readonly setTimer = (callback: () => void, ms: number): () => void => {
    const timer: Timer = {
      at: this.#now + Math.max(0, ms),
      seq: this.#seq++,
      fire: callback,
      cancelled: false,
    };
    this.#push(timer);
    this.#activity++;
    return () => {
      if (timer.cancelled) return;
      // The callback goes at once (it may hold a large value, e.g. a stream chunk), and the heap
      // drops cancelled timers once they are half of it: a million cancelled watchdogs of a
      // stream replay would otherwise keep every chunk they saw.
      timer.cancelled = true;
      timer.fire = noop;
      if (++this.#cancelled > 1024 && this.#cancelled * 2 > this.#heap.length) this.#compact();
    };
  };

  /** Runs `work` as busy: time cannot advance until it settles. */
  async busy<T>(work: () => Promise<T>): Promise<T> {
    this.#busy++;
    this.#activity++;
    try {
      return await work();
    } finally {
      this.#busy--;
      this.#activity++;
    }
  }

  /** Runs `main` to completion, advancing time whenever every task waits on a timer. */
  async run<T>(main: () => Promise<T>): Promise<T> {
    let settled = false;
    const result = main().finally(() => settled = true);
    result.catch(() => {});
    while (!settled) {
      let idle = 0;
      let seen = this.#activity;
      while (idle < IDLE_TURNS && !settled) {
        await turn();
        if (this.#busy > 0 || this.#activity !== seen) {
          idle = 0;
          seen = this.#activity;
        } else {
          idle++;
        }
      }
      if (settled) break;
      const next = this.#pop();
      if (next === undefined) {
        throw new Error("Virtual clock: every task waits and no timer is set (a deadlock)");
      }
      this.#now = Math.max(this.#now, next.at);
      this.fired++;
      this.#activity++;
      next.fire();
    }
    return await result;
  }

  #compact(): void {
    const live = this.#heap.filter((t) => !t.cancelled);
    this.#heap.length = 0;
    this.#cancelled = 0;
    for (const timer of live) this.#push(timer);
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as Timer, heap[parent] as Timer)) break;
      [heap[i], heap[parent]] = [heap[parent] as Timer, heap[i] as Timer];
      i = parent;
    }
  }

  #pop(): Timer | undefined {
    const heap = this.#heap;
    for (;;) {
      const top = heap[0];
      if (top === undefined) return undefined;
      const last = heap.pop() as Timer;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && before(heap[l] as Timer, heap[m] as Timer)) m = l;
          if (r < heap.length && before(heap[r] as Timer, heap[m] as Timer)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m] as Timer, heap[i] as Timer];
          i = m;
        }
      }
      if (!top.cancelled) return top;
      this.#cancelled = Math.max(0, this.#cancelled - 1);
    }
  }
}

function noop(): void {}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A Hono-like app: anything with `fetch(request)`. */
export interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

/**
 * A `fetch` that hands each request to `app` in this process and reads the whole answer, as busy
 * work of `clock`; `latencyMs` of simulated time pass before the answer is returned (the
 * simulator's own latency knob stays at 0). `onAnswer` sees each exchange's simulated round trip.
 */
export function inProcessFetch(
  app: FetchApp,
  clock: VirtualClock,
  latencyMs: number,
  onAnswer?: (roundTripMs: number) => void,
): typeof fetch {
  return async (input, init) => {
    const started = clock.now();
    const request = new Request(input, init);
    const { status, statusText, headers, body } = await clock.busy(async () => {
      const response = await app.fetch(request);
      return {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
        body: await response.arrayBuffer(),
      };
    });
    if (latencyMs > 0) await clock.sleep(latencyMs, init?.signal ?? undefined);
    onAnswer?.(clock.now() - started);
    return new Response(status === 204 || status === 304 ? null : body, {
      status,
      statusText,
      headers,
    });
  };
}
