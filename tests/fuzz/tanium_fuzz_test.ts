/** Bad-input fuzzing of the tanium-incidents import: mutated alerts and broken answers. */
import assert from "node:assert/strict";
import { fuzzTanium } from "./tanium.ts";

for (const seed of [1, 2]) {
  Deno.test(`fuzzTanium() with seed ${seed} never crashes, counts every bad alert with a reason, and a clean run imports every good alert`, async () => {
    const report = await fuzzTanium(seed, { alerts: 200, bad: 80, runs: 4 });
    assert.deepEqual(report.crashes, []);
    assert.ok(report.good >= 100, `only ${report.good} good alerts gave incidents`);
    assert.deepEqual(report.unaccounted, []);
    assert.equal(report.goodThrough, report.good);
    // Bad alerts are skipped with their reason (unreadable details, no priority, no guid…).
    const reasons = Object.keys(report.reasons).filter((r) =>
      !["skipped.suppressed", "skipped.no_opencti_entity"].includes(r)
    );
    assert.ok(reasons.length >= 3, `too few skip reasons: ${reasons.join(", ")}`);
  });
}
