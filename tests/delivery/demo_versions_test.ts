/**
 * `deno task demo --opencti-version`: the whole demo against an older simulated platform. Below
 * 6.3 the import goes through a real RabbitMQ (`RABBITMQ_TEST_URL`, started by `.ci/run`); without
 * one the demo says how to start one and exits 2.
 */
import assert from "node:assert/strict";
import type { DemoSummary } from "../../src/demo/mod.ts";
import { DENO_JSON, runMainArgs, spawnDeno } from "./helpers.ts";

const BROKER = Deno.env.get("RABBITMQ_TEST_URL");

async function demoPermissions(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(DENO_JSON)) as {
    tasks: Record<string, string>;
  };
  return (config.tasks.demo ?? "").split(/\s+/).filter((word) => word.startsWith("--allow-"));
}

Deno.test("main.ts --demo --opencti-version 5.12.33 without a RabbitMQ says how to start one and exits 2", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "octi-demo-" });
  try {
    const run = spawnDeno(
      runMainArgs(await demoPermissions(), ["--demo", "--once", "--opencti-version", "5.12.33"]),
      { SERVER_PORT: "0" },
      { cwd },
    );
    assert.equal((await run.status).code, 2, run.output());
    assert.match(run.output(), /OpenCTI 5\.12\.33 has no stixBundlePush/);
    assert.match(run.output(), /--rabbitmq-url amqp:\/\//);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

for (const version of ["5.12.33", "7.261026.0"]) {
  const needsBroker = version.startsWith("5.");
  Deno.test({
    name:
      `main.ts --demo --opencti-version ${version} --once runs the whole demo and imports every alert`,
    ignore: needsBroker && !BROKER,
    async fn() {
      const cwd = await Deno.makeTempDir({ prefix: "octi-demo-" });
      try {
        const run = spawnDeno(
          runMainArgs(await demoPermissions(), [
            "--demo",
            "--once",
            "--opencti-version",
            version,
            ...(needsBroker ? ["--rabbitmq-url", BROKER!] : []),
            "--summary-json",
            "summary.json",
          ]),
          { SERVER_PORT: "0" },
          { cwd },
        );
        assert.equal((await run.status).code, 0, run.output());
        assert.match(run.output(), new RegExp(`OpenCTI ${version.replaceAll(".", "\\.")}`));
        assert.match(run.output(), /Result: OK/);
        const summary = JSON.parse(await Deno.readTextFile(`${cwd}/summary.json`)) as DemoSummary;
        assert.equal(summary.sentinel.present, summary.sentinel.expected);
        const t = summary.tanium;
        assert.ok(t.incidents > 0 && t.bundles > 0 && t.works > 0);
      } finally {
        await Deno.remove(cwd, { recursive: true });
      }
    },
  });
}
