/**
 * The demo configured only with an upstream connector's names (`MICROSOFT_SENTINEL_INTEL_*`,
 * `MICROSOFT_DEFENDER_INTEL_*`): the target follows from the prefix, their defaults apply, and
 * the simulators end up holding what OpenCTI expects.
 */
import assert from "node:assert/strict";
import { runDemo } from "../../src/demo/mod.ts";
import { demoEnv, startDemoSims } from "../../src/demo/sims.ts";

Deno.test("demoEnv({ upstreamNames }) sets the sentinel connector with the upstream names only", async () => {
  const sims = await startDemoSims({ target: "defender" });
  try {
    const env = demoEnv(sims, { serverPort: "0", upstreamNames: true });
    for (
      const ours of ["SENTINEL_TARGET", "TENANT_ID", "CLIENT_ID", "CLIENT_SECRET", "LOGIN_URL"]
    ) {
      assert.equal(env[ours], undefined, ours);
    }
    assert.ok(env.MICROSOFT_DEFENDER_INTEL_TENANT_ID && env.MICROSOFT_DEFENDER_INTEL_CLIENT_SECRET);
  } finally {
    await sims.close();
  }
});

for (const target of ["sentinel", "defender"] as const) {
  Deno.test(`runDemo() for ${target} with the upstream variable names only fills the simulator as expected`, async () => {
    const lines: string[] = [];
    let inspected = false;
    const code = await runDemo({
      target,
      upstreamNames: true,
      once: true,
      handleSignals: false,
      liveProgress: false,
      write: (line) => lines.push(line),
      env: (name) => name === "SERVER_PORT" ? "0" : undefined,
      inspect: async (sims, report) => {
        inspected = true;
        const { stack } = sims;
        const expected = await stack.expected(Date.now());
        assert.ok(expected.size > 0);
        assert.equal(report.summary.target, target);
        assert.equal(report.summary.sentinel.present, report.summary.sentinel.expected);
        assert.deepEqual([...new Set(stack.present())].sort(), [...expected].sort());
        // The upstream connectors' defaults apply, so their deletes and ours find the same records.
        if (target === "sentinel") {
          const sources = new Set(stack.sentinel?.store().map((row) => row.source));
          assert.deepEqual([...sources], ["Opencti Stream Connector"]);
        } else {
          const rows = stack.defender?.store() ?? [];
          assert.ok(rows.length > 0);
          assert.ok(rows.every((r) => r.entity.application === "OpenCTI Microsoft Defender Intel"));
          assert.ok(rows.every((r) => r.entity.action === "Audit" && r.entity.generateAlert));
        }
      },
    });
    assert.equal(code, 0, lines.join("\n"));
    assert.ok(inspected);
  });
}
