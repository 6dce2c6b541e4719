import assert from "node:assert/strict";
import { Metrics } from "../../src/metrics.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import type { Connector, ConnectorStatus } from "../../src/runtime/connector.ts";
import { Supervisor } from "../../src/runtime/supervisor.ts";
import { reset } from "@logtape/logtape";
import { setupLogging } from "../../src/log.ts";
import { drain, FakeClock } from "./fake_clock.ts";

/** A connector whose `start` runs the given behaviours in turn (the last one repeats). */
class FakeConnector implements Connector {
  starts = 0;
  runs = 0;
  readonly started: Promise<void>[] = [];
  readonly #onStart: ((n: number) => void)[] = [];
  constructor(
    readonly name: string,
    readonly behaviours: ((signal: AbortSignal) => Promise<void>)[],
    public ready = true,
  ) {
    for (let i = 0; i < 10; i++) {
      this.started.push(new Promise((resolve) => this.#onStart.push(() => resolve())));
    }
  }
  start(signal: AbortSignal): Promise<void> {
    const behaviour = this.behaviours[Math.min(this.starts, this.behaviours.length - 1)]!;
    this.#onStart[this.starts]?.(this.starts);
    this.starts++;
    return behaviour(signal);
  }
  runOnce(): Promise<boolean> {
    this.runs++;
    return Promise.resolve(true);
  }
  status(): ConnectorStatus {
    return {
      name: this.name,
      ready: this.ready,
      reasons: this.ready ? [] : ["not registered"],
      state: "running",
      counters: { events_total: 4 },
    };
  }
}

const crash = (message: string) => () => Promise.reject(new Error(message));
const untilAborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));

Deno.test("Supervisor restarts a crashing connector with capped exponential backoff", async () => {
  const clock = new FakeClock();
  const metrics = new Metrics();
  const connector = new FakeConnector("tanium-incidents", [
    crash("boom 1"),
    crash("boom 2"),
    crash("boom 3"),
    crash("boom 4"),
    untilAborted,
  ]);
  const supervisor = new Supervisor([connector], {
    baseMs: 1_000,
    capMs: 4_000,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    metrics,
  });
  supervisor.start();
  await connector.started[4];
  // ceilings 1000, 2000, 4000, 4000 (capped); half fixed + half of random 0.5
  assert.deepEqual(clock.sleeps, [750, 1_500, 3_000, 3_000]);
  const [status] = supervisor.statuses();
  assert.equal(status?.ready, true);
  assert.deepEqual(status?.reasons, []);
  assert.equal(status?.counters.restarts, 4);
  assert.equal(status?.counters.events_total, 4);
  assert.equal(status?.lastError, "Error: boom 4");
  assert.equal(metrics.restarts.get({ connector: "tanium-incidents" }), 4);
  assert.equal(metrics.errors.get({ connector: "tanium-incidents" }), 4);
  assert.equal(await supervisor.stop(), true);
  assert.equal(supervisor.statuses()[0]?.state, "stopped");
});

Deno.test("Supervisor reports a crashed connector as not ready while it waits to restart", async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  let wake!: () => void;
  let waiting!: () => void;
  const inBackoff = new Promise<void>((resolve) => waiting = resolve);
  const sleep: Sleep = (ms, signal) => {
    clock.sleeps.push(ms);
    waiting();
    return new Promise<void>((resolve, reject) => {
      wake = resolve;
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  };
  const connector = new FakeConnector("sentinel", [crash("stream refused"), untilAborted]);
  const supervisor = new Supervisor([connector], {
    baseMs: 2_000,
    now: clock.now,
    sleep,
    random: () => 0,
  });
  supervisor.start();
  await inBackoff;
  const [status] = supervisor.statuses();
  assert.equal(status?.ready, false);
  assert.deepEqual(status?.reasons, [
    "crashed: Error: stream refused, restarting at 2026-01-01T00:00:01.000Z",
  ]);
  assert.equal(status?.counters.restarts, 0);
  wake();
  await connector.started[1];
  assert.equal(supervisor.statuses()[0]?.ready, true);
  assert.equal(await supervisor.stop(), true);
});

Deno.test("Supervisor keeps other connectors running while one crashes", async () => {
  const clock = new FakeClock();
  const healthy = new FakeConnector("sentinel", [untilAborted]);
  const broken = new FakeConnector("tanium-incidents", [crash("x"), crash("y"), untilAborted]);
  const supervisor = new Supervisor([healthy, broken], { sleep: clock.sleep, now: clock.now });
  supervisor.start();
  await broken.started[2];
  assert.equal(healthy.starts, 1);
  assert.deepEqual(supervisor.statuses().map((s) => [s.name, s.counters.restarts]), [
    ["sentinel", 0],
    ["tanium-incidents", 2],
  ]);
  assert.equal(await supervisor.stop(), true);
});

Deno.test("Supervisor treats a loop that returns before stop() as a crash", async () => {
  const clock = new FakeClock();
  const connector = new FakeConnector("sentinel", [() => Promise.resolve(), untilAborted]);
  const supervisor = new Supervisor([connector], { sleep: clock.sleep, now: clock.now });
  supervisor.start();
  await connector.started[1];
  assert.equal(supervisor.statuses()[0]?.lastError, "the loop ended on its own");
  assert.equal(await supervisor.stop(), true);
});

Deno.test("Supervisor merges the connector's own reasons and a not-started state", async () => {
  const connector = new FakeConnector("sentinel", [untilAborted], false);
  const supervisor = new Supervisor([connector]);
  assert.deepEqual(supervisor.statuses()[0]?.reasons, ["not started", "not registered"]);
  supervisor.start();
  assert.deepEqual(supervisor.statuses()[0]?.reasons, ["not registered"]);
  assert.equal(await supervisor.stop(), true);
  assert.deepEqual(supervisor.statuses()[0]?.reasons, ["stopped", "not registered"]);
});

Deno.test("Supervisor.stop() aborts the connectors' signal and waits for their loops", async () => {
  let savedState = false;
  const connector = new FakeConnector("sentinel", [async (signal) => {
    await untilAborted(signal);
    await Promise.resolve();
    savedState = true;
  }]);
  const supervisor = new Supervisor([connector]);
  supervisor.start();
  assert.equal(await supervisor.stop(), true);
  assert.equal(savedState, true);
  assert.equal(supervisor.signal.aborted, true);
});

Deno.test("Supervisor.stop() resolves false when a loop outlives the deadline", async () => {
  const clock = new FakeClock();
  let release!: () => void;
  const stuck = new Promise<void>((resolve) => release = resolve);
  const connector = new FakeConnector("sentinel", [() => stuck]);
  const supervisor = new Supervisor([connector], {
    sleep: clock.sleep,
    now: clock.now,
    deadlineMs: 10_000,
  });
  supervisor.start();
  assert.equal(await supervisor.stop(), false);
  assert.deepEqual(clock.sleeps, [10_000]);
  release();
});

Deno.test("Supervisor.runNow() starts one run, refuses a second while it runs, and knows names", async () => {
  let finish!: () => void;
  const connector = new FakeConnector("tanium-incidents", [untilAborted]);
  connector.runOnce = () => {
    connector.runs++;
    return new Promise<boolean>((resolve) => finish = () => resolve(true));
  };
  const supervisor = new Supervisor([connector]);
  assert.equal(supervisor.runNow("nope"), undefined);
  assert.equal(await supervisor.runNow("tanium-incidents"), true);
  assert.equal(await supervisor.runNow("tanium-incidents"), false);
  finish();
  await drain();
  assert.equal(await supervisor.runNow("tanium-incidents"), true);
  finish();
  assert.equal(connector.runs, 2);
  assert.equal(await supervisor.stop(), true);
});

Deno.test("Supervisor logs each crash with the connector name and the restart delay", async () => {
  const lines: string[] = [];
  await setupLogging({ format: "json", write: (line) => lines.push(line) });
  try {
    const clock = new FakeClock();
    const connector = new FakeConnector("sentinel", [crash("token refused"), untilAborted]);
    const supervisor = new Supervisor([connector], {
      baseMs: 1_000,
      sleep: clock.sleep,
      now: clock.now,
      random: () => 1,
    });
    supervisor.start();
    await connector.started[1];
    assert.equal(await supervisor.stop(), true);
  } finally {
    await reset();
  }
  const crashes = lines.map((line) => JSON.parse(line)).filter((r) => r.level === "ERROR");
  assert.equal(crashes.length, 1);
  assert.equal(crashes[0].properties.connector, "sentinel");
  assert.equal(crashes[0].properties.delayMs, 1_000);
  assert.match(crashes[0].message, /token refused/);
});
