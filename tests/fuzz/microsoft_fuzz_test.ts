/** Bad-input fuzzing of the Microsoft target clients: corrupted answers from their simulators. */
import assert from "node:assert/strict";
import type { TargetName } from "../../src/microsoft/target.ts";
import { fuzzMicrosoft } from "./microsoft.ts";

for (const target of ["graph", "sentinel", "defender"] as TargetName[]) {
  Deno.test(`fuzzMicrosoft() on ${target} never crashes, gives every failed item a reason, and a clean pass leaves exactly one record per kept indicator`, async () => {
    const report = await fuzzMicrosoft(target, 7, { rounds: 16, share: 0.4 });
    assert.deepEqual(report.crashes, []);
    assert.ok(report.cases >= 20, `only ${report.cases} answers were corrupted`);
    assert.ok(report.good >= 200, `only ${report.good} indicators in the clean pass`);
    assert.equal(report.goodThrough, report.good);
    assert.deepEqual(report.duplicates, []);
    assert.deepEqual(report.missing, []);
  });
}
