/**
 * The demo's simulated world: OpenCTI (seeded with indicators valid today and with the entities
 * the Tanium intel connector would have linked), Entra ID, one Microsoft target and Tanium Threat
 * Response, all on loopback with free ports; plus the environment that points the real
 * configuration loader at them.
 *
 * @module
 */
import { type SimQueue, startSimQueue } from "../sim/opencti_queue.ts";
import { DEMO_ADOPT_SOURCE } from "./drift.ts";
import { SIM_TOKEN } from "../sim/opencti.ts";
import { seedStore } from "../sim/opencti_seed.ts";
import { DEFAULT_SIM_WORKSPACE } from "../sim/sentinel.ts";
import { type SentinelStack, STACK_APP, startSentinelStack } from "../sim/stack.ts";
import { startTaniumSim, TANIUM_SIM_TOKEN, type TaniumSim } from "../sim/tanium.ts";
import { seedOpenCtiForTanium, taniumSeed } from "../sim/tanium_seed.ts";
import type { Fetch } from "../runtime/http.ts";
import {
  INCIDENTS_PATH,
  type RunningGraphSecuritySim,
  startGraphSecuritySim,
} from "../sim/graph_security.ts";
import { seedIncidentsForDemo } from "./incidents.ts";
import type { TargetName } from "../microsoft/target.ts";

/** Connector id the demo registers the sentinel connector under (a fixed demo UUID). */
export const DEMO_SENTINEL_ID = "d3a0c1e2-5b4f-4c6d-8e7f-9a0b1c2d3e4f";
/** Connector id the demo registers the tanium-incidents connector under (a fixed demo UUID). */
export const DEMO_TANIUM_ID = "d3a0c1e2-5b4f-4c6d-8e7f-9a0b1c2d3e50";
/** Connector id the demo registers the microsoft-incidents connector under (a fixed demo UUID). */
export const DEMO_MS_INCIDENTS_ID = "d3a0c1e2-5b4f-4c6d-8e7f-9a0b1c2d3e51";
/** The stream collection the demo's sentinel connector reads. */
export const DEMO_STREAM_ID = "live-indicators";
/** The tanium-intel connector id the demo registers. */
export const DEMO_TANIUM_INTEL_ID = "d3a0c1e2-5b4f-4c6d-8e7f-9a0b1c2d3e52";
/** Console URL written in the Tanium links (the intel references of the seed use it too). */
export const DEMO_TANIUM_CONSOLE = "https://tanium.example.com";
/** First alert date the demo imports (the Tanium seed's alerts are from October 2023). */
export const DEMO_IMPORT_START = "2023-10-01T00:00:00Z";

/** The public API origins of each target: the demo routes them to the target simulator. */
export const TARGET_ORIGINS: Readonly<Record<TargetName, readonly string[]>> = {
  graph: ["https://graph.microsoft.com"],
  sentinel: ["https://api.ti.sentinel.azure.com", "https://management.azure.com"],
  defender: ["https://api.securitycenter.microsoft.com"],
};

/** Options of {@linkcode startDemoSims}. */
export interface DemoSimsOptions {
  /** Which Microsoft target simulator runs. @default "graph" */
  target?: TargetName;
  /** Reference time of the seed (indicators are valid around it). @default Date.now() */
  time?: number;
  /** Heartbeat period of the OpenCTI stream, in ms. @default 1000 */
  heartbeatMs?: number;
  /** Alerts in the Tanium seed's one-second burst. @default 40 */
  burst?: number;
  /** The simulated OpenCTI version. @default "6.8.10" */
  openctiVersion?: string;
  /** A RabbitMQ for the platform's queues (needed below 6.3). @default none */
  rabbitmqUrl?: string;
}

/** The running simulators and how to reach them. */
export interface DemoSims {
  /** OpenCTI, Entra ID and the target (with `expected()` and `present()`). */
  stack: SentinelStack;
  /** The Tanium Threat Response simulator. */
  tanium: TaniumSim;
  /** The Graph security incidents simulator (alerts matching synced indicators). */
  incidents: RunningGraphSecuritySim;
  /** Standard ids of the indicators the seeded alerts match. */
  matchedIndicators: string[];
  /** Which target runs. */
  target: TargetName;
  /** The platform's RabbitMQ side, when a RabbitMQ URL was given. */
  queue?: SimQueue;
  /** Public Microsoft API origin → simulator base URL. */
  routes: Readonly<Record<string, string>>;
  /** Stops every simulator. */
  close(): Promise<void>;
}

/** Starts and seeds every simulator on 127.0.0.1 with free ports. */
export async function startDemoSims(options: DemoSimsOptions = {}): Promise<DemoSims> {
  const target = options.target ?? "graph";
  const time = options.time ?? Date.now();
  const stack = await startSentinelStack({
    target,
    opencti: {
      seed: false,
      heartbeatMs: options.heartbeatMs ?? 1000,
      ...(options.openctiVersion ? { version: options.openctiVersion } : {}),
    },
  });
  let tanium: TaniumSim | undefined;
  let queue: SimQueue | undefined;
  let incidents: RunningGraphSecuritySim | undefined;
  let matchedIndicators: string[] = [];
  try {
    if (options.rabbitmqUrl !== undefined) {
      queue = await startSimQueue(stack.opencti.control.graphql, options.rabbitmqUrl, {
        pollMs: 200,
        queuePrefix: `demo${crypto.randomUUID().slice(0, 8)}`,
      });
    }
    // The default seed time is in 2024: seed relative to now, or every indicator is expired.
    await seedStore(stack.opencti.store, { time });
    await seedOpenCtiForTanium(stack.opencti.store, { consoleUrl: DEMO_TANIUM_CONSOLE });
    const seed = taniumSeed({ burst: options.burst ?? 40 });
    tanium = startTaniumSim({ alerts: seed.alerts, intels: seed.intels });
    incidents = startGraphSecuritySim({ verify: stack.entra.verifyAccessToken });
    matchedIndicators = await seedIncidentsForDemo(incidents, stack, time);
  } catch (error) {
    await queue?.close();
    await tanium?.close();
    await incidents?.close();
    await stack.close();
    throw error;
  }
  const routes: Record<string, string> = {};
  for (const origin of TARGET_ORIGINS[target]) routes[origin] = stack.targetUrl;
  const running = tanium;
  const incidentsSim = incidents;
  return {
    stack,
    tanium: running,
    incidents: incidentsSim,
    matchedIndicators,
    target,
    routes,
    ...(queue ? { queue } : {}),
    async close() {
      await incidentsSim.close();
      await running.close();
      await queue?.close();
      await stack.close();
    },
  };
}

/** Options of {@linkcode demoEnv}. */
export interface DemoEnvOptions {
  /** `SERVER_PORT` of the program. @default "8080" */
  serverPort?: string;
  /** `SERVER_HOST` of the program. @default "127.0.0.1" */
  serverHost?: string;
  /** `CONNECTOR_LOG_LEVEL`. @default "warn" */
  logLevel?: string;
  /** `LOG_FORMAT`. @default "text" */
  logFormat?: string;
  /**
   * Configure the sentinel connector with the upstream connectors' names instead of ours
   * (`MICROSOFT_SENTINEL_INTEL_*`, `MICROSOFT_DEFENDER_INTEL_*`, `MICROSOFT_GRAPH_SECURITY_INTEL_*`;
   * the target then follows from the prefix). @default false
   */
  upstreamNames?: boolean;
}

/** The upstream connector prefix of each target (OpenCTI-Platform/connectors). */
const UPSTREAM_PREFIX: Readonly<Record<TargetName, string>> = {
  sentinel: "MICROSOFT_SENTINEL_INTEL_",
  defender: "MICROSOFT_DEFENDER_INTEL_",
  graph: "MICROSOFT_GRAPH_SECURITY_INTEL_",
};

/** The sentinel connector's Microsoft settings as an upstream connector's compose file has them. */
function upstreamSentinelEnv(sims: DemoSims): Record<string, string> {
  const p = UPSTREAM_PREFIX[sims.target];
  const env: Record<string, string> = {
    [`${p}TENANT_ID`]: STACK_APP.tenantId,
    [`${p}CLIENT_ID`]: STACK_APP.clientId,
    [`${p}CLIENT_SECRET`]: STACK_APP.clientSecret,
  };
  if (sims.target === "sentinel") {
    // The upstream Sentinel connector has no login URL setting; Azure's own variable points it.
    env.AZURE_AUTHORITY_HOST = sims.stack.entra.url;
    const ws = DEFAULT_SIM_WORKSPACE;
    env[`${p}WORKSPACE_ID`] = ws.workspaceId;
    env[`${p}SUBSCRIPTION_ID`] = ws.subscriptionId;
    env[`${p}RESOURCE_GROUP`] = ws.resourceGroup;
    env[`${p}WORKSPACE_NAME`] = ws.workspaceName;
  } else {
    env[`${p}LOGIN_URL`] = sims.stack.entra.url;
  }
  return env;
}

/**
 * The environment a user would set to point the program at these simulators, with the upstream
 * variable names. The Microsoft API URLs stay at their public defaults (so token scopes are the
 * real ones); the demo's fetch routes those origins to the target simulator.
 */
export function demoEnv(sims: DemoSims, options: DemoEnvOptions = {}): Record<string, string> {
  const env: Record<string, string> = {
    CONNECTORS: "sentinel,tanium-incidents,microsoft-incidents,tanium-intel",
    OPENCTI_URL: sims.stack.opencti.url,
    OPENCTI_TOKEN: SIM_TOKEN,
    SENTINEL_CONNECTOR_ID: DEMO_SENTINEL_ID,
    SENTINEL_CONNECTOR_NAME: "Microsoft Sentinel (demo)",
    SENTINEL_CONNECTOR_LIVE_STREAM_ID: DEMO_STREAM_ID,
    ...(options.upstreamNames ? upstreamSentinelEnv(sims) : {
      SENTINEL_TARGET: sims.target,
      TENANT_ID: STACK_APP.tenantId,
      CLIENT_ID: STACK_APP.clientId,
      CLIENT_SECRET: STACK_APP.clientSecret,
      LOGIN_URL: sims.stack.entra.url,
      SENTINEL_BATCH_TIMEOUT_MS: "100",
    }),
    // The demo leaves no file behind: its dead letters stay in memory.
    SENTINEL_DEAD_LETTER_FILE: "none",
    // The demo replaces the upstream connector of its target and shows a reconcile adopting it.
    SENTINEL_ADOPT_SOURCE: DEMO_ADOPT_SOURCE[sims.target],
    TANIUM_INCIDENTS_CONNECTOR_ID: DEMO_TANIUM_ID,
    TANIUM_INCIDENTS_CONNECTOR_NAME: "Tanium Threat Response Incidents (demo)",
    TANIUM_INCIDENTS_CONNECTOR_DURATION_PERIOD: "PT1M",
    TANIUM_INCIDENTS_URL: sims.tanium.url,
    TANIUM_INCIDENTS_URL_CONSOLE: DEMO_TANIUM_CONSOLE,
    TANIUM_INCIDENTS_TOKEN: TANIUM_SIM_TOKEN,
    TANIUM_INCIDENTS_IMPORT_START_DATE: DEMO_IMPORT_START,
    MICROSOFT_INCIDENTS_CONNECTOR_ID: DEMO_MS_INCIDENTS_ID,
    MICROSOFT_INCIDENTS_CONNECTOR_NAME: "Microsoft Incidents (demo)",
    // A full URL (as for a national cloud): the token scope stays https://graph.microsoft.com.
    MICROSOFT_INCIDENTS_INCIDENT_URL: `${sims.incidents.url}${INCIDENTS_PATH}`,
    TANIUM_INTEL_CONNECTOR_ID: DEMO_TANIUM_INTEL_ID,
    TANIUM_INTEL_CONNECTOR_NAME: "Tanium Threat Response Intel",
    TANIUM_INTEL_CONNECTOR_LIVE_STREAM_ID: DEMO_STREAM_ID,
    TANIUM_INTEL_URL: sims.tanium.url,
    TANIUM_INTEL_URL_CONSOLE: DEMO_TANIUM_CONSOLE,
    TANIUM_INTEL_TOKEN: TANIUM_SIM_TOKEN,
    TANIUM_INTEL_AUTO_ONDEMAND_SCAN: "false",
    SERVER_HOST: options.serverHost ?? "127.0.0.1",
    SERVER_PORT: options.serverPort ?? "8080",
    CONNECTOR_LOG_LEVEL: options.logLevel ?? "warn",
    LOG_FORMAT: options.logFormat ?? "text",
  };
  if (sims.target === "sentinel" && !options.upstreamNames) {
    const ws = DEFAULT_SIM_WORKSPACE;
    env.SENTINEL_WORKSPACE_ID = ws.workspaceId;
    env.SENTINEL_SUBSCRIPTION_ID = ws.subscriptionId;
    env.SENTINEL_RESOURCE_GROUP = ws.resourceGroup;
    env.SENTINEL_WORKSPACE_NAME = ws.workspaceName;
  }
  return env;
}

/** Options of {@linkcode routedFetch}. */
export interface RoutedFetchOptions {
  /** The fetch that sends the (rewritten) requests. @default globalThis.fetch */
  fetch?: Fetch;
}

/** A fetch that sends requests for the routed origins to their simulator, others unchanged. */
export function routedFetch(
  routes: Readonly<Record<string, string>>,
  options: RoutedFetchOptions = {},
): Fetch {
  const base = options.fetch ?? globalThis.fetch;
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const to = routes[url.origin];
    if (to === undefined) return base(input, init);
    const rerouted = new URL(`${url.pathname}${url.search}`, to);
    return input instanceof Request
      ? base(new Request(rerouted, input), init)
      : base(rerouted, init);
  };
}
