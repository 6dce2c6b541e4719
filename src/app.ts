/** Wires the configured connectors, the HTTP server, the supervisor and graceful shutdown. */
import { type Config, CONNECTOR_SETTINGS, secretValues, settingsOf } from "./config/mod.ts";
import { CONNECTORS } from "./connectors.ts";
import { getLogger, type Level, setupLogging } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { OpenCtiClient } from "./opencti/graphql.ts";
import type { Now, Sleep } from "./runtime/clock.ts";
import type { Connector } from "./runtime/connector.ts";
import { type Fetch, tlsFetch } from "./runtime/http.ts";
import { PassRunner } from "./runtime/pass.ts";
import { installShutdown } from "./runtime/shutdown.ts";
import { Supervisor } from "./runtime/supervisor.ts";
import { createApp, serve } from "./server.ts";
import { opt } from "./runtime/props.ts";

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
  /**
   * The host has no writable disk (Deno Deploy): a file option left unset keeps its data in memory.
   * @default false
   */
  diskless?: boolean;
}

/**
 * Configures logging from the configuration: the process level and format, each connector's own
 * level (`<PREFIX>_CONNECTOR_LOG_LEVEL`), and the configured secrets for the redactor.
 */
export async function startLogging(
  config: Config,
  options: { write?: (line: string) => void } = {},
): Promise<void> {
  const connectorLevels: Record<string, Level> = {};
  for (const declaration of CONNECTOR_SETTINGS) {
    const settings = settingsOf(config, declaration.name);
    if (settings !== undefined) {
      connectorLevels[declaration.name] = declaration.connectorOf(settings).logLevel;
    }
  }
  await setupLogging({
    level: config.logging.level,
    ...(config.logging.format === "auto" ? {} : { format: config.logging.format }),
    secrets: secretValues(config),
    connectorLevels,
    ...opt("write", options.write),
  });
}

/** Builds the enabled connectors from the registry, each with only its slice of the config. */
export async function buildConnectors(config: Config, deps: AppDeps = {}): Promise<Connector[]> {
  const logger = getLogger("app");
  const onInsecure = (advice: string) => logger.warn("{advice}", { advice });
  const openctiFetch = deps.fetch ??
    await tlsFetch({ verify: config.opencti.sslVerify, ...opt("caFile", config.opencti.caFile) }, {
      onInsecure,
    });
  const time = { ...opt("now", deps.now), ...opt("sleep", deps.sleep) };
  const opencti = {
    url: config.opencti.url,
    token: config.opencti.token,
    fetch: openctiFetch,
    client: () =>
      new OpenCtiClient({
        url: config.opencti.url,
        token: config.opencti.token,
        fetch: openctiFetch,
        ...time,
      }),
  };
  const connectors: Connector[] = [];
  for (const module of CONNECTORS) {
    const settings = settingsOf(config, module.name);
    if (settings === undefined) continue;
    connectors.push(
      await module.create(settings, {
        opencti,
        ...opt("fetch", deps.fetch),
        ...opt("metrics", deps.metrics),
        ...opt("diskless", deps.diskless),
        ...time,
      }),
    );
  }
  return connectors;
}

/** True when every enabled connector (if any) is configured to run once (`CONNECTOR_RUN_AND_TERMINATE`). */
export function runsOnce(config: Config): boolean {
  const bases = CONNECTOR_SETTINGS.flatMap((declaration) => {
    const settings = settingsOf(config, declaration.name);
    return settings === undefined ? [] : [declaration.connectorOf(settings)];
  });
  return bases.every((base) => base.runAndTerminate);
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
  const once = options.once ?? (connectors.length > 0 && runsOnce(config));
  const supervisor = new Supervisor(connectors, { metrics });
  const stop = new AbortController();
  let shuttingDown = false;
  const app = createApp({
    connectors: () => supervisor.statuses(),
    metrics: () => metrics.render(),
    isShuttingDown: () => shuttingDown,
    adminToken: config.server.adminToken,
    runNow: (name) => supervisor.runNow(name),
    deadLetters: (name) => connectors.find((c) => c.name === name)?.deadLetters?.(),
    replayDeadLetters: (name) =>
      connectors.find((c) => c.name === name)?.replayDeadLetters?.(stop.signal),
    reconcile: (name, dryRun) =>
      connectors.find((c) => c.name === name)?.reconcile?.({ dryRun }, stop.signal),
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
    const passes = new PassRunner({ metrics, logger });
    for (const connector of connectors) {
      const ok = await passes.run(connector.name, () => connector.runOnce(abort.signal));
      outcomes.push(ok === true);
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
