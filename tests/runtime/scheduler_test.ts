import assert from "node:assert/strict";
import { runScheduled } from "../../src/runtime/scheduler.ts";
import { FakeClock, sleepUntilAborted } from "./fake_clock.ts";

Deno.test("runScheduled() runs at once, then waits the full period after each run ends", async () => {
  const clock = new FakeClock(0);
  const controller = new AbortController();
  const starts: number[] = [];
  const nextRuns: (number | undefined)[] = [];
  await runScheduled(async () => {
    starts.push(clock.now());
    clock.advance(7_000); // the run itself takes 7 s
    if (starts.length === 3) controller.abort();
    await Promise.resolve();
  }, {
    periodMs: 60_000,
    signal: controller.signal,
    now: clock.now,
    sleep: clock.sleep,
    onNextRun: (at) => nextRuns.push(at),
  });
  assert.deepEqual(starts, [0, 67_000, 134_000]);
  assert.deepEqual(clock.sleeps, [60_000, 60_000]);
  assert.deepEqual(nextRuns.filter((at) => at !== undefined), [67_000, 134_000]);
  assert.equal(nextRuns.at(-1), undefined);
});

Deno.test("runScheduled() with a period of 0 runs once and returns", async () => {
  const clock = new FakeClock();
  let runs = 0;
  await runScheduled(() => Promise.resolve(runs++), { periodMs: 0, sleep: clock.sleep });
  assert.equal(runs, 1);
  assert.deepEqual(clock.sleeps, []);
});

Deno.test("runScheduled() stops while waiting between runs when the signal aborts", async () => {
  const controller = new AbortController();
  let runs = 0;
  const done = runScheduled(() => Promise.resolve(runs++), {
    periodMs: 1_000,
    signal: controller.signal,
    sleep: sleepUntilAborted,
  });
  await Promise.resolve();
  controller.abort();
  await done;
  assert.equal(runs, 1);
});

Deno.test("runScheduled() lets a run in progress finish when the signal aborts", async () => {
  const controller = new AbortController();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let finished = false;
  let sawAbort = false;
  const done = runScheduled(async (signal) => {
    await gate;
    sawAbort = signal.aborted;
    finished = true;
  }, { periodMs: 1_000, signal: controller.signal, sleep: sleepUntilAborted });
  controller.abort();
  release();
  await done;
  assert.equal(finished, true);
  assert.equal(sawAbort, true);
});

Deno.test("runScheduled() reports a failed run to onError and keeps the schedule", async () => {
  const clock = new FakeClock();
  const controller = new AbortController();
  const errors: unknown[] = [];
  let runs = 0;
  await runScheduled(() => {
    runs++;
    if (runs === 3) controller.abort();
    return Promise.reject(new Error(`run ${runs} failed`));
  }, {
    periodMs: 10,
    signal: controller.signal,
    sleep: clock.sleep,
    onError: (error) => errors.push(error),
  });
  assert.equal(runs, 3);
  assert.deepEqual(errors.map((e) => (e as Error).message), [
    "run 1 failed",
    "run 2 failed",
    "run 3 failed",
  ]);
});

Deno.test("runScheduled() rethrows a failed run when no onError is given", async () => {
  const clock = new FakeClock();
  await assert.rejects(
    runScheduled(() => Promise.reject(new Error("boom")), { periodMs: 10, sleep: clock.sleep }),
    /boom/,
  );
});

Deno.test("runScheduled() does not run at all when the signal is already aborted", async () => {
  let runs = 0;
  await runScheduled(() => Promise.resolve(runs++), { signal: AbortSignal.abort() });
  assert.equal(runs, 0);
});

Deno.test("runScheduled() rejects a negative period", async () => {
  await assert.rejects(runScheduled(() => Promise.resolve(), { periodMs: -1 }), RangeError);
});
