/** The registry, the declarations and the per-connector log level agree. */
import assert from "node:assert/strict";
import { reset } from "@logtape/logtape";
import { startLogging } from "../../src/app.ts";
import { CONNECTOR_SETTINGS } from "../../src/config/mod.ts";
import { CONNECTORS } from "../../src/connectors.ts";
import { getLogger } from "../../src/log.ts";
import { bothEnv, valid } from "./helpers.ts";

Deno.test("the connector registry and CONNECTOR_SETTINGS list the same connectors in one order", () => {
  assert.deepEqual(CONNECTORS.map((c) => c.name), CONNECTOR_SETTINGS.map((s) => s.name));
  CONNECTORS.forEach((c, i) => assert.equal(c.settings, CONNECTOR_SETTINGS[i]));
  for (const c of CONNECTORS) assert.equal(c.settings.name, c.name);
});

Deno.test("startLogging() applies each connector's own CONNECTOR_LOG_LEVEL to its logger", async () => {
  const { config } = valid(bothEnv({
    CONNECTOR_LOG_LEVEL: "info",
    SENTINEL_CONNECTOR_LOG_LEVEL: "debug",
    TANIUM_INCIDENTS_CONNECTOR_LOG_LEVEL: "error",
    LOG_FORMAT: "json",
  }));
  const lines: string[] = [];
  await startLogging(config, { write: (line) => lines.push(line) });
  try {
    getLogger("sentinel").debug("sentinel debug");
    getLogger("tanium-incidents").warn("tanium warn");
    getLogger("tanium-incidents").error("tanium error");
    getLogger("app").debug("app debug");
    getLogger("app").info("app info");
  } finally {
    await reset();
  }
  assert.deepEqual(lines.map((line) => JSON.parse(line).message), [
    "sentinel debug",
    "tanium error",
    "app info",
  ]);
});
