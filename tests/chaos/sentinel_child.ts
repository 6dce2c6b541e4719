/**
 * The connector process of the sentinel chaos run: the real sentinel connector (live stream,
 * batching, checkpoints in OpenCTI) with the real Graph target and Entra token provider, built
 * from environment variables pointing at the simulators, with short timeouts so faults are
 * noticed in seconds, run under the program's supervisor. Logs JSON lines to stdout with the configured secrets given to the
 * redaction sink. The chaos runner kills it with SIGKILL and starts it again.
 *
 * Environment: `OPENCTI_URL`, `OPENCTI_TOKEN`, `STREAM_ID`, `CONNECTOR_ID`, `LOGIN_URL`,
 * `TENANT_ID`, `CLIENT_ID`, `CLIENT_SECRET`, `GRAPH_URL`.
 *
 * @module
 */
import { setupLogging } from "../../src/log.ts";
import { GraphTarget } from "../../src/microsoft/graph.ts";
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { Supervisor } from "../../src/runtime/supervisor.ts";
import { SentinelConnector } from "../../src/sentinel/connector.ts";
import {
  GRAPH_CLIENT,
  GRAPH_MAPPING,
  QUEUE_THRESHOLD_MB,
  SENTINEL_SCOPE,
} from "../fixtures/settings_defaults.ts";

const env = (name: string): string => {
  const value = Deno.env.get(name);
  if (value === undefined) throw new Error(`Set ${name}`);
  return value;
};
const token = env("OPENCTI_TOKEN");
const secret = env("CLIENT_SECRET");
await setupLogging({ level: "info", format: "json", secrets: [token, secret] });

const tokens = new TokenProvider({
  authority: env("LOGIN_URL"),
  tenantId: env("TENANT_ID"),
  clientId: env("CLIENT_ID"),
  credential: { kind: "secret", secret },
  attempts: 3,
  baseMs: 100,
  capMs: 1000,
  timeoutMs: 5000,
});
const connector = new SentinelConnector({
  url: env("OPENCTI_URL"),
  token,
  client: new OpenCtiClient({
    url: env("OPENCTI_URL"),
    token,
    timeoutMs: 5000,
    retry: { attempts: 3, baseMs: 100 },
  }),
  connector: {
    scope: SENTINEL_SCOPE,
    queueThresholdMb: QUEUE_THRESHOLD_MB,
    id: env("CONNECTOR_ID"),
    name: "Chaos sentinel",
  },
  stream: { streamId: env("STREAM_ID"), watchdogMs: 1500, retryBaseMs: 100 },
  target: new GraphTarget({
    ...GRAPH_CLIENT,
    tokens,
    mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
    baseUrl: env("GRAPH_URL"),
    scope: "https://graph.microsoft.com/.default",
    // 1,000 per 10 s, the simulator's scaled minute (see sentinel.ts).
    rateLimitPerMinute: 6000,
    attempts: 4,
    backoffBaseMs: 100,
    backoffCapMs: 2000,
    timeoutMs: 5000,
  }),
  batchTimeoutMs: 100,
  pingIntervalMs: 2000,
  // Held batches are tried again at least every 2 s, so the run converges soon after a fault.
  maxBackoffMs: 2000,
});
// As main.ts does: the supervisor restarts the connector when it fails (e.g. OpenCTI is down at
// start), with a short backoff here.
new Supervisor([connector], { baseMs: 200, capMs: 2000 }).start();
