import assert from "node:assert/strict";
import { RateLimiter } from "../../src/runtime/rate_limiter.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import { FakeClock, sleepUntilAborted, TimerClock } from "./fake_clock.ts";

/** The largest number of times inside any window of `windowMs` starting at one of them. */
function busiestWindow(times: number[], windowMs: number): number {
  return Math.max(
    ...times.map((start) => times.filter((t) => t >= start && t < start + windowMs).length),
  );
}

Deno.test("RateLimiter never lets more than `limit` requests into any window", async () => {
  const clock = new TimerClock(0);
  const limiter = new RateLimiter({
    limit: 10,
    windowMs: 1_000,
    now: clock.now,
    sleep: clock.sleep,
  });
  const times: number[] = [];
  // 35 callers arriving every 30 ms, faster than the limit allows.
  const callers = Array.from({ length: 35 }, async (_, i) => {
    await clock.sleep(i * 30);
    await limiter.acquire();
    times.push(clock.now());
  });
  await clock.runUntilIdle();
  await Promise.all(callers);
  assert.equal(times.length, 35);
  assert.equal(busiestWindow(times, 1_000), 10);
  assert.deepEqual(times.slice(0, 10), [0, 30, 60, 90, 120, 150, 180, 210, 240, 270]);
  assert.deepEqual(times.slice(10, 12), [1_000, 1_030]); // each waits for a slot to leave the window
});

Deno.test("RateLimiter lets requests through at once while under the limit", async () => {
  const clock = new FakeClock(0);
  const limiter = new RateLimiter({
    limit: 30,
    windowMs: 60_000,
    now: clock.now,
    sleep: clock.sleep,
  });
  for (let i = 0; i < 30; i++) await limiter.acquire();
  assert.deepEqual(clock.sleeps, []);
  assert.equal(limiter.delay(), 60_000);
});

Deno.test("RateLimiter.pause() holds back every caller until the pause ends", async () => {
  const clock = new FakeClock(0);
  const limiter = new RateLimiter({
    limit: 100,
    windowMs: 60_000,
    now: clock.now,
    sleep: clock.sleep,
  });
  await limiter.acquire();
  limiter.pause(12_000);
  limiter.pause(5_000); // a shorter pause never shortens the current one
  const times: number[] = [];
  await Promise.all([1, 2, 3].map(async () => {
    await limiter.acquire();
    times.push(clock.now());
  }));
  assert.deepEqual(times, [12_000, 12_000, 12_000]);
});

Deno.test("RateLimiter.acquire() rejects on abort and the next caller still gets its turn", async () => {
  const clock = new FakeClock(0);
  const aborting = new AbortController();
  const sleep: Sleep = (ms, signal) =>
    signal === aborting.signal ? sleepUntilAborted(ms, signal) : clock.sleep(ms, signal);
  const limiter = new RateLimiter({ limit: 1, windowMs: 1_000, now: clock.now, sleep });
  await limiter.acquire();
  const first = limiter.acquire(aborting.signal);
  const second = limiter.acquire();
  aborting.abort(new Error("stopped"));
  await assert.rejects(first, /stopped/);
  await second;
  assert.equal(clock.now(), 1_000);
});

Deno.test("RateLimiter rejects a limit below 1", () => {
  assert.throws(() => new RateLimiter({ limit: 0 }), RangeError);
});

Deno.test("RateLimiter honours a further, longer limit (Defender: 100/min and 1,500/h)", async () => {
  const clock = new TimerClock(0);
  const limiter = new RateLimiter({
    limit: 100,
    windowMs: 60_000,
    also: [{ limit: 1_500, windowMs: 3_600_000 }],
    now: clock.now,
    sleep: clock.sleep,
  });
  const times: number[] = [];
  const caller = (async () => {
    for (let i = 0; i < 1_600; i++) {
      await limiter.acquire();
      times.push(clock.now());
    }
  })();
  await clock.runUntilIdle();
  await caller;
  assert.equal(times.length, 1_600);
  assert.equal(busiestWindow(times, 60_000), 100);
  assert.equal(busiestWindow(times, 3_600_000), 1_500);
  // 15 full minutes use the hour's 1,500; the 1,501st waits for the first to be an hour old.
  assert.equal(times[1_499], 14 * 60_000);
  assert.equal(times[1_500], 3_600_000);
});

Deno.test("RateLimiter rejects a further limit below 1", () => {
  assert.throws(
    () => new RateLimiter({ limit: 10, also: [{ limit: 0, windowMs: 1_000 }] }),
    RangeError,
  );
});
