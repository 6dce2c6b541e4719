import assert from "node:assert/strict";
import {
  ConnectorLifecycle,
  type ConnectorState,
  OpenCtiGraphqlError,
  parseState,
  pingDate,
  serializeState,
} from "../../src/opencti/mod.ts";
import { CONNECTOR_ID, withSim } from "./helpers.ts";
import type { OpenCtiClient } from "../../src/opencti/graphql.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import { QUEUE_THRESHOLD_MB } from "../fixtures/settings_defaults.ts";

function lifecycle(
  client: OpenCtiClient,
  extra: {
    onReset?: (s: ConnectorState) => void;
    sleep?: Sleep;
    type?: "STREAM" | "EXTERNAL_IMPORT";
  } = {},
) {
  return new ConnectorLifecycle(client, {
    queueThresholdMb: QUEUE_THRESHOLD_MB,
    id: CONNECTOR_ID,
    name: "Tanium Threat Response Incidents",
    type: extra.type ?? "EXTERNAL_IMPORT",
    scope: ["tanium"],
    ...(extra.onReset ? { onReset: extra.onReset } : {}),
    ...(extra.sleep ? { sleep: extra.sleep } : {}),
  });
}

Deno.test("register() sends the documented input and returns no state for a new connector", async () => {
  await withSim(async ({ client, sim }) => {
    assert.deepEqual(await lifecycle(client).register(), {});
    const call = sim.control.graphql.calls.find((c) => c.fields[0] === "registerConnector");
    assert.deepEqual(call?.variables, {
      input: {
        id: CONNECTOR_ID,
        name: "Tanium Threat Response Incidents",
        type: "EXTERNAL_IMPORT",
        scope: ["tanium"],
        auto: false,
        only_contextual: false,
        playbook_compatible: false,
        listen_callback_uri: null,
      },
    });
    const stored = sim.control.graphql.connectors.get(CONNECTOR_ID);
    assert.equal(stored?.connector_type, "EXTERNAL_IMPORT");
    assert.equal(stored?.connector_state, null);
  });
});

Deno.test("ping() sends the state as a JSON string and connectorInfo with second-precision dates", async () => {
  await withSim(async ({ client, sim }) => {
    const connector = lifecycle(client);
    await connector.register();
    connector.setRunInfo({
      lastRunAt: Date.parse("2024-06-10T06:00:00.456Z"),
      nextRunAt: Date.parse("2024-06-10T07:00:00Z"),
    });
    await connector.ping();
    await connector.saveState({ last_alert_date: "2023-10-16T12:26:51+00:00" });
    const pings = sim.control.graphql.pings;
    assert.equal(pings.length, 2);
    assert.equal(pings[0]?.state, "null");
    assert.equal(pings[1]?.state, '{"last_alert_date":"2023-10-16T12:26:51+00:00"}');
    assert.deepEqual(pings[1]?.connectorInfo, {
      run_and_terminate: false,
      buffering: false,
      queue_threshold: 500,
      queue_messages_size: 0,
      next_run_datetime: "2024-06-10T07:00:00Z",
      last_run_datetime: "2024-06-10T06:00:00Z",
    });
  });
});

Deno.test("a saved state is returned by the next registration", async () => {
  await withSim(async ({ client }) => {
    const first = lifecycle(client);
    await first.register();
    await first.saveState({ start_from: "1718003600123-0" });
    await first.saveState({ recover_until: "2024-06-10T06:00:00Z" });
    const again = lifecycle(client);
    assert.deepEqual(await again.register(), {
      start_from: "1718003600123-0",
      recover_until: "2024-06-10T06:00:00Z",
    });
  });
});

Deno.test("a remote reset is honoured: onReset fires with an empty state and the next save is stored", async () => {
  await withSim(async ({ client, sim }) => {
    const resets: ConnectorState[] = [];
    const connector = lifecycle(client, { onReset: (state) => resets.push(state) });
    await connector.register();
    await connector.saveState({ last_alert_date: "2023-10-16T12:26:51+00:00" });
    sim.control.graphql.resetState(CONNECTOR_ID);
    const after = await connector.saveState({ last_alert_date: "2023-10-17T00:00:00+00:00" });
    assert.deepEqual(after, {});
    assert.deepEqual(resets, [{}]);
    assert.deepEqual(connector.state, {});
    assert.equal(sim.control.graphql.connectors.get(CONNECTOR_ID)?.connector_state, "");
    await connector.saveState({ last_alert_date: "2024-01-01T00:00:00+00:00" });
    assert.equal(
      sim.control.graphql.connectors.get(CONNECTOR_ID)?.connector_state,
      '{"last_alert_date":"2024-01-01T00:00:00+00:00"}',
    );
    assert.equal(resets.length, 1);
  });
});

Deno.test("startPinging() pings every 40 s with the injected sleep and stops on abort", async () => {
  await withSim(async ({ client, sim }) => {
    const controller = new AbortController();
    const waits: number[] = [];
    let pings = 0;
    const sleep: Sleep = (ms) => {
      waits.push(ms);
      if (pings++ === 3) controller.abort();
      return controller.signal.aborted
        ? Promise.reject(controller.signal.reason)
        : Promise.resolve();
    };
    const connector = lifecycle(client, { sleep, type: "STREAM" });
    await connector.register();
    await connector.startPinging(controller.signal);
    assert.deepEqual(waits, [40_000, 40_000, 40_000, 40_000]);
    assert.equal(sim.control.graphql.pings.length, 3);
  });
});

Deno.test("startPinging() keeps going after a failed ping", async () => {
  await withSim(async ({ client, sim }) => {
    const controller = new AbortController();
    let rounds = 0;
    const sleep: Sleep = () => {
      if (++rounds > 2) controller.abort();
      return controller.signal.aborted
        ? Promise.reject(controller.signal.reason)
        : Promise.resolve();
    };
    const connector = lifecycle(client, { sleep });
    await connector.register();
    sim.control.graphql.injectFailure({
      field: "pingConnector",
      error: { name: "FunctionalError", reason: "Boom" },
    });
    await connector.startPinging(controller.signal);
    assert.deepEqual(sim.control.graphql.pings.length, 1);
  });
});

Deno.test("ping() of an unregistered connector surfaces the platform's FunctionalError", async () => {
  await withSim(async ({ client }) => {
    await assert.rejects(() => lifecycle(client).ping(), OpenCtiGraphqlError);
  });
});

Deno.test("ping() leaves connectorInfo out for platforms older than 6.2.12", async () => {
  await withSim(async ({ client, sim }) => {
    const connector = lifecycle(client);
    await connector.register();
    await connector.saveState({ a: 1 });
    assert.equal(sim.control.graphql.pings[0]?.connectorInfo, null);
    assert.equal(sim.control.graphql.pings[0]?.state, '{"a":1}');
  }, { version: "6.2.5" });
});

Deno.test("queueSizeMb() converts the platform's bytes to MB", async () => {
  await withSim(async ({ client, sim }) => {
    const connector = lifecycle(client);
    await connector.register();
    sim.control.graphql.setQueueSize(CONNECTOR_ID, 750_000_000);
    assert.equal(await connector.queueSizeMb(), 750);
  });
});

Deno.test("parseState() treats empty, null, {} and invalid JSON as no state", () => {
  for (const text of ["", "null", "{}", "{oops", "[1]", "42", null, undefined]) {
    assert.deepEqual(parseState(text), {}, String(text));
  }
  assert.deepEqual(parseState('{"start_from": "1-0"}'), { start_from: "1-0" });
});

Deno.test('serializeState() sends "null" for an empty state, compact JSON otherwise', () => {
  assert.equal(serializeState({}), "null");
  assert.equal(serializeState({ a: "b" }), '{"a":"b"}');
});

Deno.test("pingDate() formats dates as YYYY-MM-DDTHH:MM:SSZ", () => {
  assert.equal(pingDate(Date.parse("2024-06-10T07:00:00.999Z")), "2024-06-10T07:00:00Z");
});
