/** Deno Deploy mode in process: schedules, the Deploy switch, and the cron registration. */
import assert from "node:assert/strict";
import { demoEnv, startDemoSims } from "../../src/demo/sims.ts";
import {
  type CronFn,
  FALLBACK_SCHEDULE,
  isDeploy,
  registerDeployCrons,
  scheduleFromPeriod,
  SENTINEL_SCHEDULE,
  taniumSchedule,
} from "../../src/deploy.ts";
import { resolveConfig } from "../../src/config/mod.ts";

const MINUTE = 60_000;

Deno.test("scheduleFromPeriod() gives every N minutes, hours or days, and at least every minute", () => {
  const cases: [number, string][] = [
    [10_000, "* * * * *"],
    [MINUTE, "* * * * *"],
    [15 * MINUTE, "*/15 * * * *"],
    [60 * MINUTE, "0 * * * *"],
    [6 * 60 * MINUTE, "0 */6 * * *"],
    [24 * 60 * MINUTE, "0 0 * * *"],
    [2 * 24 * 60 * MINUTE, "0 0 */2 * *"],
  ];
  for (const [periodMs, schedule] of cases) {
    assert.equal(scheduleFromPeriod(periodMs), schedule, `${periodMs} ms`);
  }
});

function taniumConfig(env: Record<string, string>) {
  const config = resolveConfig({}, {
    OPENCTI_URL: "https://opencti.example.com",
    OPENCTI_TOKEN: "token-for-the-schedule-test",
    CONNECTOR_ID: "0b7f3c1e-2d4a-4b5c-8d6e-7f8091a2b3c4",
    TANIUM_INCIDENTS_URL: "https://tanium.example.com",
    TANIUM_INCIDENTS_URL_CONSOLE: "https://tanium.example.com",
    TANIUM_INCIDENTS_TOKEN: "tanium-token-for-the-schedule-test",
    ...env,
  }).config.taniumIncidents;
  assert.ok(config);
  return config;
}

Deno.test("taniumSchedule() takes TANIUM_INCIDENTS_CRON first, else the duration period", () => {
  assert.equal(
    taniumSchedule(
      taniumConfig({ CONNECTOR_DURATION_PERIOD: "PT1H", TANIUM_INCIDENTS_CRON: "5 4 * * *" }),
    ),
    "5 4 * * *",
  );
  assert.equal(
    taniumSchedule(taniumConfig({ CONNECTOR_DURATION_PERIOD: "PT30M" })),
    "*/30 * * * *",
  );
  assert.equal(
    taniumSchedule(
      taniumConfig({ CONNECTOR_DURATION_PERIOD: "PT1H", CONNECTOR_RUN_AND_TERMINATE: "true" }),
    ),
    FALLBACK_SCHEDULE,
  );
});

Deno.test("isDeploy() is true when DENO_DEPLOY or DENO_DEPLOYMENT_ID is set", () => {
  const env = (values: Record<string, string>) => (name: string) => values[name];
  assert.equal(isDeploy(env({ DENO_DEPLOY: "1" })), true);
  assert.equal(isDeploy(env({ DENO_DEPLOYMENT_ID: "abc123" })), true);
  assert.equal(isDeploy(env({ DENO_DEPLOY: "" })), false);
  assert.equal(isDeploy(env({})), false);
});

Deno.test("registerDeployCrons() registers nothing and returns the problems when the configuration is invalid", async () => {
  const names: string[] = [];
  const handle = registerDeployCrons({
    env: { CONNECTORS: "sentinel" },
    cron: (name) => {
      names.push(name);
      return Promise.resolve();
    },
    serve: false,
    handleSignals: false,
  });
  assert.deepEqual(names, []);
  assert.deepEqual(handle.jobs, []);
  assert.match(handle.error?.message ?? "", /OPENCTI_URL/);
  await handle.close();
});

Deno.test("registerDeployCrons() runs each connector per tick and skips a tick that would overlap", async () => {
  const sims = await startDemoSims({ target: "defender", heartbeatMs: 20 });
  const handlers = new Map<string, () => Promise<void>>();
  const schedules = new Map<string, string>();
  const cron: CronFn = (name, schedule, options, handler) => {
    handlers.set(name, handler);
    schedules.set(name, schedule);
    return new Promise((resolve) => options.signal?.addEventListener("abort", () => resolve()));
  };
  const runs: [string, boolean][] = [];
  const handle = registerDeployCrons({
    env: {
      ...demoEnv(sims, { logLevel: "error" }),
      DEFENDER_API_URL: sims.stack.targetUrl,
      TANIUM_INCIDENTS_CRON: "*/5 * * * *",
    },
    cron,
    serve: false,
    handleSignals: false,
    onRun: (name, ok) => runs.push([name, ok]),
  });
  try {
    assert.equal(handle.error, undefined);
    assert.deepEqual(Object.fromEntries(schedules), {
      "sentinel": SENTINEL_SCHEDULE,
      "tanium-incidents": "*/5 * * * *",
      "microsoft-incidents": "*/5 * * * *",
      "tanium-intel": "* * * * *",
      // SENTINEL_RECONCILE_PERIOD's default (P1D): the reconcile's own daily cron.
      "sentinel-reconcile": "17 3 * * *",
    });
    await handle.ready;
    const sentinel = handlers.get("sentinel");
    const tanium = handlers.get("tanium-incidents");
    assert.ok(sentinel && tanium);
    // Two ticks of one job at once: the second finds the first running and skips.
    await Promise.all([sentinel(), sentinel(), tanium()]);
    assert.deepEqual(runs.sort(), [["sentinel", true], ["tanium-incidents", true]]);
    const expected = await sims.stack.expected(Date.now());
    assert.deepEqual(sims.stack.present().sort(), [...expected].sort());
    assert.ok(sims.stack.opencti.control.graphql.bundles.length > 0);
    // The reconcile's own cron heals a record deleted behind the connector's back.
    const reconcile = handlers.get("sentinel-reconcile");
    const defender = sims.stack.defender;
    assert.ok(reconcile && defender);
    const [deleted] = defender.store();
    assert.ok(deleted && defender.edit(deleted.entity.id, null));
    assert.notDeepEqual(sims.stack.present().sort(), [...expected].sort());
    await reconcile();
    assert.deepEqual(sims.stack.present().sort(), [...expected].sort());
  } finally {
    await handle.close();
    await sims.close();
  }
});
