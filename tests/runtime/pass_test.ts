import assert from "node:assert/strict";
import { reset } from "@logtape/logtape";
import { setupLogging } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { PassRunner } from "../../src/runtime/pass.ts";

Deno.test("PassRunner.run() skips a pass while one of the same connector runs, not of another", async () => {
  const runner = new PassRunner();
  let finish!: (ok: boolean) => void;
  const first = runner.run("sentinel", () => new Promise((resolve) => finish = resolve));
  assert.equal(runner.isRunning("sentinel"), true);
  assert.equal(await runner.run("sentinel", () => Promise.resolve(true)), undefined);
  assert.equal(await runner.run("tanium-incidents", () => Promise.resolve(true)), true);
  assert.equal(runner.inProgress().length, 1);
  finish(false);
  assert.equal(await first, false);
  assert.equal(runner.isRunning("sentinel"), false);
  assert.equal(await runner.run("sentinel", () => Promise.resolve(true)), true);
});

Deno.test("PassRunner.run() never rejects: a thrown error is logged, counted and a failure", async () => {
  const lines: string[] = [];
  await setupLogging({ format: "json", write: (line) => lines.push(line) });
  const metrics = new Metrics();
  try {
    const runner = new PassRunner({ kind: "Cron run", metrics });
    const ok = await runner.run("tanium-incidents", () => Promise.reject(new Error("boom")));
    assert.equal(ok, false);
  } finally {
    await reset();
  }
  const records = lines.map((line) => JSON.parse(line));
  assert.deepEqual(records.map((r) => [r.level, r.message]), [
    ["ERROR", 'Cron run of "tanium-incidents" failed: "Error: boom"'],
    ["INFO", 'Cron run of "tanium-incidents" finished: "failure"'],
  ]);
  assert.match(metrics.render(), /errors_total\{connector="tanium-incidents"\} 1/);
});
