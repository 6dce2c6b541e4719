import assert from "node:assert/strict";
import { installShutdown, type ShutdownSignal } from "../../src/runtime/shutdown.ts";
import { FakeClock, sleepUntilAborted } from "./fake_clock.ts";

/** Fake signal registration: records listeners and can deliver a signal. */
function fakeSignals() {
  const listeners = new Map<ShutdownSignal, () => void>();
  return {
    listeners,
    add: (signal: ShutdownSignal, handler: () => void) => listeners.set(signal, handler),
    remove: (signal: ShutdownSignal) => listeners.delete(signal),
    send: (signal: ShutdownSignal) => listeners.get(signal)?.(),
  };
}

Deno.test("installShutdown() always listens to SIGTERM and SIGINT", () => {
  const signals = fakeSignals();
  const shutdown = installShutdown({
    onShutdown: () => Promise.resolve(),
    addSignalListener: signals.add,
    removeSignalListener: signals.remove,
    exit: () => {},
  });
  assert.deepEqual([...signals.listeners.keys()].sort(), ["SIGINT", "SIGTERM"]);
  assert.equal(shutdown.shuttingDown, false);
  shutdown.dispose();
  assert.equal(signals.listeners.size, 0);
});

Deno.test("installShutdown() flips shuttingDown at once, waits for the work, then exits 0", async () => {
  const signals = fakeSignals();
  const exits: number[] = [];
  let finishWork!: () => void;
  let workStarted = false;
  const shutdown = installShutdown({
    onShutdown: () => {
      workStarted = true;
      return new Promise<void>((resolve) => finishWork = resolve);
    },
    addSignalListener: signals.add,
    exit: (code) => exits.push(code),
    sleep: sleepUntilAborted, // the deadline never passes in this test
  });
  signals.send("SIGTERM");
  assert.equal(shutdown.shuttingDown, true);
  assert.equal(workStarted, true);
  assert.deepEqual(exits, []);
  finishWork();
  assert.equal(await shutdown.done, 0);
  assert.deepEqual(exits, [0]);
});

Deno.test("installShutdown() exits 1 when the work outlives the deadline", async () => {
  const signals = fakeSignals();
  const clock = new FakeClock();
  const exits: number[] = [];
  const shutdown = installShutdown({
    onShutdown: () => new Promise<void>(() => {}),
    deadlineMs: 10_000,
    addSignalListener: signals.add,
    exit: (code) => exits.push(code),
    sleep: clock.sleep,
  });
  signals.send("SIGINT");
  assert.equal(await shutdown.done, 1);
  assert.deepEqual(exits, [1]);
  assert.deepEqual(clock.sleeps, [10_000]);
});

Deno.test("installShutdown() exits at once on a second signal", async () => {
  const signals = fakeSignals();
  const exits: number[] = [];
  let calls = 0;
  const shutdown = installShutdown({
    onShutdown: () => {
      calls++;
      return new Promise<void>(() => {});
    },
    addSignalListener: signals.add,
    exit: (code) => exits.push(code),
    sleep: sleepUntilAborted,
  });
  signals.send("SIGTERM");
  signals.send("SIGINT");
  assert.equal(await shutdown.done, 1);
  assert.deepEqual(exits, [1]);
  assert.equal(calls, 1);
  signals.send("SIGTERM"); // nothing more happens after the exit
  assert.deepEqual(exits, [1]);
});

Deno.test("installShutdown() exits 1 when the shutdown work fails", async () => {
  const signals = fakeSignals();
  const exits: number[] = [];
  const shutdown = installShutdown({
    onShutdown: () => Promise.reject(new Error("state not saved")),
    addSignalListener: signals.add,
    exit: (code) => exits.push(code),
    sleep: sleepUntilAborted,
  });
  shutdown.trigger("SIGTERM");
  assert.equal(await shutdown.done, 1);
  assert.deepEqual(exits, [1]);
});

Deno.test("installShutdown() still listens to SIGINT where SIGTERM cannot be registered", () => {
  const registered: string[] = [];
  installShutdown({
    onShutdown: () => Promise.resolve(),
    addSignalListener: (signal) => {
      if (signal === "SIGTERM") throw new TypeError("Windows only supports ctrl-c (SIGINT)");
      registered.push(signal);
    },
    exit: () => {},
  });
  assert.deepEqual(registered, ["SIGINT"]);
});
