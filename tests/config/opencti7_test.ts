/** OpenCTI 7 connector conventions: OPENCTI_JSON_LOGGING, CONNECTOR_METRICS_PORT, CONNECTOR_EXPOSE_METRICS. */
import assert from "node:assert/strict";
import { problemsOf, sentinelEnv, valid } from "./helpers.ts";

Deno.test("OPENCTI_JSON_LOGGING sets the log format unless LOG_FORMAT does", () => {
  assert.equal(valid(sentinelEnv({ OPENCTI_JSON_LOGGING: "true" })).config.logging.format, "json");
  assert.equal(valid(sentinelEnv({ OPENCTI_JSON_LOGGING: "false" })).config.logging.format, "text");
  assert.equal(
    valid(sentinelEnv({ OPENCTI_JSON_LOGGING: "true", LOG_FORMAT: "text" })).config.logging.format,
    "text",
  );
  assert.equal(valid(sentinelEnv()).config.logging.format, "auto");
  const { config } = valid(sentinelEnv(), { opencti: { json_logging: true } });
  assert.equal(config.logging.format, "json");
  assert.ok(
    problemsOf(sentinelEnv({ OPENCTI_JSON_LOGGING: "maybe" })).some((p) =>
      p.startsWith("OPENCTI_JSON_LOGGING (opencti.json_logging): expected")
    ),
  );
});

Deno.test("CONNECTOR_METRICS_PORT moves the server (and /metrics) when SERVER_PORT is unset", () => {
  assert.equal(valid(sentinelEnv({ CONNECTOR_METRICS_PORT: "9095" })).config.server.port, 9095);
  const both = valid(sentinelEnv({ CONNECTOR_METRICS_PORT: "9095", SERVER_PORT: "8081" }));
  assert.equal(both.config.server.port, 8081);
  assert.ok(
    both.warnings.some((w) => w.startsWith("CONNECTOR_METRICS_PORT (connector.metrics_port) 9095")),
    both.warnings.join("\n"),
  );
  const off = valid(sentinelEnv({ CONNECTOR_EXPOSE_METRICS: "false" }));
  assert.equal(off.config.server.port, 8080);
  assert.ok(off.warnings.some((w) => w.startsWith("CONNECTOR_EXPOSE_METRICS")));
  assert.deepEqual(
    valid(sentinelEnv({ CONNECTOR_EXPOSE_METRICS: "true" })).warnings.filter((w) =>
      w.includes("METRICS")
    ),
    [],
  );
});
