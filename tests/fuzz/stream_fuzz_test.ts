/** Bad-input fuzzing of the live-stream path (reader + intentsOf), seeded and deterministic. */
import assert from "node:assert/strict";
import { fuzzStream } from "./stream.ts";

for (const seed of [1, 2, 3]) {
  Deno.test(`fuzzStream() with seed ${seed} never crashes, counts every bad frame with a reason and lets every good frame through`, async () => {
    const report = await fuzzStream(seed, { cases: 300 });
    assert.deepEqual(report.crashes, []);
    assert.deepEqual(report.unaccounted, []);
    assert.ok(report.good > 50, `only ${report.good} good frames were generated`);
    assert.equal(report.goodThrough, report.good);
    const counted = Object.values(report.reasons).reduce((a, b) => a + b, 0);
    assert.ok(counted > 50, `only ${counted} bad frames were counted`);
    for (const reason of Object.keys(report.reasons)) assert.match(reason, /^\w[\w ]*: \S/);
  });
}
