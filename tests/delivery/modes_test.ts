/**
 * main.ts in its unattended modes, as a subprocess against simulators running in the test:
 * run-and-terminate (Kubernetes CronJob) and Deno Deploy's crons (run locally with
 * `DENO_CRON_TEST_SCHEDULE_OFFSET`, which makes every cron fire that many ms after the last run).
 */
import assert from "node:assert/strict";
import {
  DEMO_MS_INCIDENTS_ID,
  DEMO_SENTINEL_ID,
  DEMO_TANIUM_ID,
  demoEnv,
  type DemoSims,
  startDemoSims,
} from "../../src/demo/sims.ts";
import { runMainArgs, spawnDeno } from "./helpers.ts";

/**
 * The environment for the defender target reached directly (its token scope does not depend on
 * its URL), with fast stream heartbeats so a catch-up knows quickly that it is caught up.
 */
function directEnv(sims: DemoSims, extra: Record<string, string>): Record<string, string> {
  return {
    ...demoEnv(sims, { serverPort: "0", logLevel: "info", logFormat: "json" }),
    DEFENDER_API_URL: sims.stack.targetUrl,
    ...extra,
  };
}

/** A JSON log line of the program (undefined for other lines). */
interface LogRecord {
  message: string;
  logger: string;
  properties: Record<string, unknown>;
}

function recordOf(line: string): LogRecord | undefined {
  try {
    const record = JSON.parse(line) as Partial<LogRecord>;
    return typeof record.message === "string" && typeof record.logger === "string"
      ? { message: record.message, logger: record.logger, properties: record.properties ?? {} }
      : undefined;
  } catch {
    return undefined;
  }
}

async function assertSynced(sims: DemoSims): Promise<void> {
  const expected = await sims.stack.expected(Date.now());
  const present = sims.stack.present();
  assert.ok(expected.size > 0);
  assert.deepEqual([...present].sort(), [...expected].sort());
}

function savedState(sims: DemoSims, connectorId: string): Record<string, unknown> {
  const connector = sims.stack.opencti.control.graphql.connectors.get(connectorId);
  assert.ok(connector, `${connectorId} registered in OpenCTI`);
  const state = connector.connector_state;
  assert.equal(typeof state, "string", "the state is saved in OpenCTI");
  return JSON.parse(state ?? "{}") as Record<string, unknown>;
}

Deno.test("CONNECTOR_RUN_AND_TERMINATE=true imports once, drains the stream, checkpoints and exits 0", async () => {
  const sims = await startDemoSims({ target: "defender", heartbeatMs: 50 });
  try {
    const run = spawnDeno(
      runMainArgs(["--allow-net", "--allow-env", "--allow-read"]),
      directEnv(sims, { CONNECTOR_RUN_AND_TERMINATE: "true" }),
    );
    const status = await run.status;
    assert.equal(status.code, 0, run.output());
    await assertSynced(sims);
    const graphql = sims.stack.opencti.control.graphql;
    assert.ok(graphql.bundles.some((b) => b.connectorId === DEMO_TANIUM_ID), "alerts imported");
    assert.equal(typeof savedState(sims, DEMO_SENTINEL_ID).start_from, "string");
    assert.ok(Object.keys(savedState(sims, DEMO_TANIUM_ID)).length > 0);
    assert.ok(
      graphql.bundles.some((b) => b.connectorId === DEMO_MS_INCIDENTS_ID),
      "Microsoft incidents imported",
    );
    assert.ok(Object.keys(savedState(sims, DEMO_MS_INCIDENTS_ID)).length > 0);
    assert.ok(
      graphql.pings.some((p) =>
        p.connectorId === DEMO_TANIUM_ID && p.connectorInfo?.run_and_terminate === true
      ),
      "tanium-incidents tells OpenCTI it runs and terminates",
    );
  } finally {
    await sims.close();
  }
});

Deno.test("with DENO_DEPLOY set, main.ts registers both crons and each completes a run", async () => {
  const sims = await startDemoSims({ target: "defender", heartbeatMs: 50 });
  try {
    const run = spawnDeno(
      runMainArgs(["--allow-net", "--allow-env", "--allow-read"]),
      directEnv(sims, { DENO_DEPLOY: "1", DENO_CRON_TEST_SCHEDULE_OFFSET: "100" }),
    );
    const finished = (name: string) => (line: string) => {
      const record = recordOf(line);
      return record?.logger === "octi.deploy" && record.properties.name === name &&
        record.properties.outcome === "success";
    };
    await run.waitForLine(finished("tanium-incidents"));
    await run.waitForLine(finished("sentinel"));
    run.kill("SIGTERM");
    const status = await run.status;
    assert.equal(status.code, 0, run.output());
    const registered = run.lines.map(recordOf)
      .filter((r) => r?.message.startsWith("Registered the"))
      .map((r) => `${r?.properties.name} ${r?.properties.schedule}`);
    assert.deepEqual(registered.sort(), [
      "microsoft-incidents */5 * * * *",
      "sentinel * * * * *",
      // SENTINEL_RECONCILE_PERIOD (default P1D): the reconcile's own cron.
      "sentinel-reconcile 17 3 * * *",
      "tanium-incidents * * * * *",
      "tanium-intel * * * * *",
    ]);
    await assertSynced(sims);
    const graphql = sims.stack.opencti.control.graphql;
    assert.ok(graphql.bundles.some((b) => b.connectorId === DEMO_TANIUM_ID), "alerts imported");
    assert.equal(typeof savedState(sims, DEMO_SENTINEL_ID).start_from, "string");
  } finally {
    await sims.close();
  }
});
