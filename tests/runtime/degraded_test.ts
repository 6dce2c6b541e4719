import assert from "node:assert/strict";
import { Metrics } from "../../src/metrics.ts";
import { Degradation } from "../../src/runtime/degraded.ts";

function gauge(metrics: Metrics, name: string): string | undefined {
  return metrics.render().split("\n").find((line) => line.startsWith(`${name}{`));
}

Deno.test("Degradation reports nothing and 0 gauges while healthy", () => {
  const metrics = new Metrics();
  const degradation = new Degradation("sentinel", { metrics, now: () => 0 });
  assert.equal(degradation.active, false);
  assert.equal(degradation.info(), undefined);
  assert.equal(
    gauge(metrics, "octi_connector_degraded"),
    'octi_connector_degraded{connector="sentinel"} 0',
  );
  assert.equal(
    gauge(metrics, "octi_connector_degraded_seconds"),
    'octi_connector_degraded_seconds{connector="sentinel"} 0',
  );
});

Deno.test("Degradation keeps the first since, the latest reason, and counts seconds at render", () => {
  let now = Date.parse("2026-12-03T10:00:00Z");
  const metrics = new Metrics();
  const degradation = new Degradation("sentinel", { metrics, now: () => now });
  degradation.step("graph answered 503", {
    check: "the Microsoft service health",
    retryInMs: 1000,
  });
  now += 90_000;
  degradation.step("graph answered 401", { check: "SENTINEL_CLIENT_SECRET" });
  now += 30_000;
  assert.deepEqual(degradation.info(), {
    reason: "graph answered 401",
    check: "SENTINEL_CLIENT_SECRET",
    since: "2026-12-03T10:00:00.000Z",
    seconds: 120,
    steps: 2,
  });
  now += 60_000;
  assert.equal(
    gauge(metrics, "octi_connector_degraded"),
    'octi_connector_degraded{connector="sentinel"} 1',
  );
  assert.equal(
    gauge(metrics, "octi_connector_degraded_seconds"),
    'octi_connector_degraded_seconds{connector="sentinel"} 180',
  );
  degradation.clear();
  assert.equal(degradation.info(), undefined);
  assert.equal(
    gauge(metrics, "octi_connector_degraded"),
    'octi_connector_degraded{connector="sentinel"} 0',
  );
});
