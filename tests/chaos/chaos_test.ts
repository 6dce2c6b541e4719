/**
 * The short, seeded fault-injection runs of the normal test suite (the long ones: `deno task
 * chaos`). Each starts the simulators, runs the connector as a child process, kills it with
 * SIGKILL and restarts it, and injects every other fault kind at least once. What is asserted
 * does not depend on timing: nothing lost, nothing twice, no secret in any output line.
 */
import assert from "node:assert/strict";
import { demoSecrets } from "./demo_secrets.ts";
import { SENTINEL_FAULTS, sentinelChaos } from "./sentinel.ts";
import { TANIUM_FAULTS, taniumChaos } from "./tanium.ts";

/** What every chaos run must show: converged to the clean result, killed at least once, every fault kind injected. */
function assertConverged(
  result: {
    differences: unknown[];
    lost: number;
    duplicated: number;
    converge_s: number | null;
    restarts: number;
    fault_kinds: Record<string, number>;
  },
  kinds: readonly string[],
): void {
  assert.deepEqual(result.differences, []);
  assert.equal(result.lost, 0);
  assert.equal(result.duplicated, 0);
  assert.notEqual(result.converge_s, null);
  assert.ok(result.restarts >= 1, "the connector was never killed");
  for (const kind of kinds) assert.ok(result.fault_kinds[kind], `no ${kind} fault`);
}

Deno.test("sentinel under a seeded fault schedule with SIGKILL restarts ends with exactly OpenCTI's indicators in Graph and no secret in its output", async () => {
  const result = await sentinelChaos({
    seed: 11,
    events: 600,
    durationMs: 4000,
    faults: SENTINEL_FAULTS.length + 2,
    convergeTimeoutMs: 40_000,
  });
  assertConverged(result, SENTINEL_FAULTS);
  assert.ok(result.log_lines > 10, `only ${result.log_lines} log lines were scanned`);
  assert.deepEqual(result.secrets_leaked, []);
});

Deno.test("tanium-incidents under a seeded fault schedule with SIGKILL restarts pushes exactly the incidents of a clean run and no secret in its output", async () => {
  const result = await taniumChaos({
    seed: 11,
    alerts: 400,
    durationMs: 3000,
    faults: TANIUM_FAULTS.length + 2,
    convergeTimeoutMs: 40_000,
  });
  assertConverged(result, TANIUM_FAULTS);
  assert.deepEqual(result.secrets_leaked, []);
});

Deno.test("main.ts --demo never shows a configured secret or token in its HTTP answers or output", async () => {
  const result = await demoSecrets(2);
  assert.ok(result.responses >= 10, `only ${result.responses} answers were read`);
  assert.ok(result.lines >= 5, `only ${result.lines} output lines were read`);
  assert.deepEqual(result.leaks, []);
});
