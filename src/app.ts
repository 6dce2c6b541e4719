/** Wires the configured connectors, the HTTP server, the supervisor and graceful shutdown. */
import type { Config } from "./config/mod.ts";
import { getLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { OpenCtiClient } from "./opencti/graphql.ts";
import type { Now, Sleep } from "./runtime/clock.ts";
import type { Connector } from "./runtime/connector.ts";
import { type Fetch, tlsFetch } from "./runtime/http.ts";
import { installShutdown } from "./runtime/shutdown.ts";
import { Supervisor } from "./runtime/supervisor.ts";
import { SentinelConnector } from "./sentinel/connector.ts";
import { createTarget, createTokenProvider } from "./sentinel/targets.ts";
import { createApp, serve } from "./server.ts";
import { createTaniumIncidents } from "./tanium/mod.ts";
import { createMicrosoftIncidents } from "./microsoft_incidents/mod.ts";

/** Injected dependencies of {@linkcode buildConnectors} (tests and the demo pass simulators). */
export interface AppDeps {
  /** The fetch to use for every remote service. @default TLS-configured globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep. @default a real timer */
  sleep?: Sleep;
  /** The metrics registry. @default a new one */
  metrics?: Metrics;
}

/** Builds the enabled connectors, each with only its slice of the config. */
export async function buildConnectors(config: Config, deps: AppDeps = {}): Promise<Connector[]> {
  const logger = getLogger("app");
  const onInsecure = (advice: string) => logger.warn("{advice}", { advice });
  const openctiFetch = deps.fetch ??
    await tlsFetch({ verify: config.opencti.sslVerify, ...opt("caFile", config.opencti.caFile) }, {
      onInsecure,
    });
  const time = { ...opt("now", deps.now), ...opt("sleep", deps.sleep) };
  const client = () =>
    new OpenCtiClient({
      url: config.opencti.url,
      token: config.opencti.token,
      fetch: openctiFetch,
      ...time,
    });
  const connectors: Connector[] = [];

  if (config.sentinel) {
    const s = config.sentinel;
    const tokens = await createTokenProvider(s, { ...time, ...opt("fetch", deps.fetch) });
    const target = createTarget(s, tokens, { ...time, ...opt("fetch", deps.fetch) });
    const live = s.connector.liveStream;
    connectors.push(
      new SentinelConnector({
        url: config.opencti.url,
        token: config.opencti.token,
        client: client(),
        connector: {
          id: s.connector.id,
          name: s.connector.name,
          scope: s.connector.scope,
          queueThresholdMb: s.connector.queueThresholdMb,
          runAndTerminate: s.connector.runAndTerminate,
        },
        stream: {
          streamId: live.id,
          listenDelete: live.listenDelete,
          noDependencies: live.noDependencies,
          withInferences: live.withInferences,
          ...opt("startTimestamp", live.startTimestamp),
          ...opt("recoverIsoDate", live.recoverIsoDate),
        },
        target,
        batchSize: s.batchSize,
        batchTimeoutMs: s.batchTimeoutMs,
        writeBack: s.writeBack,
        fetch: openctiFetch,
        ...opt("metrics", deps.metrics),
        ...time,
      }),
    );
  }

  if (config.taniumIncidents) {
    connectors.push(
      await createTaniumIncidents(config.taniumIncidents, client(), {
        ...opt("fetch", deps.fetch),
        ...opt("metrics", deps.metrics),
        ...time,
      }),
    );
  }

  if (config.microsoftIncidents) {
    connectors.push(
      await createMicrosoftIncidents(config.microsoftIncidents, client(), {
        ...opt("fetch", deps.fetch),
        ...opt("metrics", deps.metrics),
        ...time,
      }),
    );
  }
  return connectors;
}

/** Options of {@linkcode runService}. */
export interface ServiceOptions extends AppDeps {
  /** Run each connector once (import run / stream catch-up) and exit. @default from CONNECTOR_RUN_AND_TERMINATE */
  once?: boolean;
  /** Stops the service (instead of SIGTERM/SIGINT). @default none */
  signal?: AbortSignal;
  /** Called with the server's address once it listens. @default logs it */
  onListen?: (address: { hostname: string; port: number }) => void;
  /** Install SIGTERM/SIGINT handlers. @default true */
  handleSignals?: boolean;
  /** Connectors to run instead of building them from the config (demo, tests). @default built */
  connectors?: Connector[];
}

/**
 * Runs the service: the HTTP server, then either one pass of every connector (`once`, exit 0 when
 * every pass succeeded) or the supervised loops until a signal (exit 0 after a clean shutdown).
 */
export async function runService(config: Config, options: ServiceOptions = {}): Promise<number> {
  const logger = getLogger("app");
  const metrics = options.metrics ?? new Metrics();
  const connectors = options.connectors ?? await buildConnectors(config, { ...options, metrics });
  const once = options.once ??
    (connectors.length > 0 &&
      [
        config.sentinel?.connector,
        config.taniumIncidents?.connector,
        config.microsoftIncidents?.connector,
      ]
        .every((c) => c === undefined || c.runAndTerminate));
  const supervisor = new Supervisor(connectors, { metrics });
  const stop = new AbortController();
  let shuttingDown = false;
  const app = createApp({
    connectors: () => supervisor.statuses(),
    metrics: () => metrics.render(),
    isShuttingDown: () => shuttingDown,
    adminToken: config.server.adminToken,
    runNow: (name) => supervisor.runNow(name),
  });
  const server = serve(app, {
    hostname: config.server.host,
    port: config.server.port,
    signal: stop.signal,
    ...opt("onListen", options.onListen),
  });

  const finish = async (code: number) => {
    shuttingDown = true;
    stop.abort();
    await server.finished;
    return code;
  };

  if (once) {
    const outcomes: boolean[] = [];
    const abort = new AbortController();
    const forward = () => abort.abort();
    options.signal?.addEventListener("abort", forward, { once: true });
    const shutdown = options.handleSignals === false
      ? undefined
      : installShutdown({ onShutdown: () => Promise.resolve(abort.abort()), exit: () => {} });
    for (const connector of connectors) {
      const ok = await connector.runOnce(abort.signal).catch((error) => {
        logger.error("{connector} failed: {message}", {
          connector: connector.name,
          message: String(error),
        });
        return false;
      });
      logger.info("{connector} run finished: {outcome}", {
        connector: connector.name,
        outcome: ok ? "success" : "failure",
      });
      outcomes.push(ok);
    }
    shutdown?.dispose();
    options.signal?.removeEventListener("abort", forward);
    return await finish(outcomes.every(Boolean) ? 0 : 1);
  }

  supervisor.start();
  const stopped = new Promise<number>((resolve) => {
    options.signal?.addEventListener("abort", () => {
      shuttingDown = true;
      void supervisor.stop().then((clean) => resolve(clean ? 0 : 1));
    }, { once: true });
    if (options.handleSignals !== false) {
      installShutdown({
        onShutdown: () => {
          shuttingDown = true;
          return supervisor.stop();
        },
        exit: resolve,
      });
    }
  });
  return await finish(await stopped);
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
