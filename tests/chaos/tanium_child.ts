/**
 * The connector process of the tanium chaos run: the real tanium-incidents connector, run every
 * 300 ms under the program's supervisor, built from environment variables pointing at the
 * simulators, with short timeouts. Logs JSON lines with the configured secrets given to the
 * redaction sink. The chaos runner kills it with SIGKILL and starts it again.
 *
 * Environment: `TANIUM_URL`, `TANIUM_TOKEN`, `OPENCTI_URL`, `OPENCTI_TOKEN`, `CONNECTOR_ID`.
 *
 * @module
 */
import { setupLogging } from "../../src/log.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { Supervisor } from "../../src/runtime/supervisor.ts";
import { TaniumClient } from "../../src/tanium/client.ts";
import { TaniumIncidentsConnector } from "../../src/tanium/connector.ts";
import {
  QUEUE_THRESHOLD_MB,
  TANIUM_INCIDENTS,
  TANIUM_INCIDENTS_SCOPE,
} from "../fixtures/settings_defaults.ts";

const env = (name: string): string => {
  const value = Deno.env.get(name);
  if (value === undefined) throw new Error(`Set ${name}`);
  return value;
};
const taniumToken = env("TANIUM_TOKEN");
const openctiToken = env("OPENCTI_TOKEN");
await setupLogging({ level: "info", format: "json", secrets: [taniumToken, openctiToken] });

const connector = new TaniumIncidentsConnector(
  new TaniumClient({
    url: env("TANIUM_URL"),
    token: taniumToken,
    timeoutMs: 5000,
    retry: { attempts: 3, baseMs: 100 },
  }),
  new OpenCtiClient({
    url: env("OPENCTI_URL"),
    token: openctiToken,
    timeoutMs: 5000,
    retry: { attempts: 3, baseMs: 100 },
  }),
  {
    ...TANIUM_INCIDENTS,
    scope: TANIUM_INCIDENTS_SCOPE,
    queueThresholdMb: QUEUE_THRESHOLD_MB,
    connectorId: env("CONNECTOR_ID"),
    consoleUrl: "https://tanium.example.com",
    importStartDate: "2024-01-01T00:00:00.000Z",
    periodMs: 300,
    pingIntervalMs: 2000,
    maxBackoffMs: 1000, // TANIUM_INCIDENTS_MAX_BACKOFF=PT1S
  },
);
new Supervisor([connector], { baseMs: 200, capMs: 2000 }).start();
