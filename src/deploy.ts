/**
 * Deno Deploy: no process runs forever there, so each connector runs from a `Deno.cron` job.
 * tanium-incidents runs one import per tick; sentinel drains the live stream from the cursor saved
 * in OpenCTI for a bounded time (the connector's catch-up budget, 50 s), checkpoints and stops.
 * State lives in OpenCTI (the connectors' own state), so no KV is needed.
 *
 * Deploy discovers crons only when they are declared while the entry module is evaluated, so
 * main.ts calls {@linkcode registerDeployCrons} at its top level; the schedules are computed
 * synchronously from the environment and the connectors are built afterwards.
 *
 * @module
 */
import { type AppDeps, buildConnectors, startLogging } from "./app.ts";
import { type Config, ConfigError, resolveConfig, settingsOf } from "./config/mod.ts";
import { CONNECTORS } from "./connectors.ts";
import { getLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import type { Connector } from "./runtime/connector.ts";
import { PassRunner } from "./runtime/pass.ts";
import { installShutdown } from "./runtime/shutdown.ts";
import { createApp, serve } from "./server.ts";

export { SENTINEL_SCHEDULE } from "./sentinel/mod.ts";
export { taniumSchedule } from "./tanium/mod.ts";
export { FALLBACK_SCHEDULE, scheduleFromPeriod } from "./runtime/schedule.ts";

/** Retry delays of a failed run, in ms (Deno.cron's `backoffSchedule`). */
export const RETRY_BACKOFF_MS: readonly number[] = [5_000, 30_000];

/** True when the program runs on Deno Deploy (`DENO_DEPLOY` or `DENO_DEPLOYMENT_ID` is set). */
export function isDeploy(env: (name: string) => string | undefined): boolean {
  return [env("DENO_DEPLOY"), env("DENO_DEPLOYMENT_ID")].some((v) => v !== undefined && v !== "");
}

/** One cron job as registered. */
export interface DeployJob {
  /** The cron (and connector) name. */
  name: string;
  /** Its five-field schedule (UTC). */
  schedule: string;
}

/** The `Deno.cron` overload this module uses (injected in tests). */
export type CronFn = (
  name: string,
  schedule: string,
  options: { backoffSchedule?: number[]; signal?: AbortSignal },
  handler: () => Promise<void>,
) => Promise<void>;

/** Options of {@linkcode registerDeployCrons}. */
export interface DeployOptions {
  /** The environment (Deploy: env only, no YAML file). @default Deno.env.toObject() */
  env?: Record<string, string>;
  /** Registers a cron job. @default Deno.cron */
  cron?: CronFn;
  /** Dependencies of the connectors (fetch, clock). @default real ones */
  deps?: AppDeps;
  /** Serve `/healthz`, `/readyz`, `/metrics` and `/status`. @default true */
  serve?: boolean;
  /** Install SIGTERM/SIGINT handlers (local runs; Deploy stops isolates itself). @default true */
  handleSignals?: boolean;
  /** Called after each run. @default none */
  onRun?: (name: string, ok: boolean) => void;
}

/** What {@linkcode registerDeployCrons} set up. */
export interface DeployHandle {
  /** The registered jobs (empty when the configuration is invalid). */
  jobs: DeployJob[];
  /** The configuration problem, when there is one (nothing was registered). */
  error?: ConfigError;
  /** Settles once the connectors are built and the server listens. */
  ready: Promise<void>;
  /** Stops the crons, waits for running runs, stops the server. */
  close(): Promise<void>;
}

/**
 * Registers one `Deno.cron` per enabled connector, synchronously (call it at module top level),
 * then builds the connectors and starts the server in the background. Runs of one connector never
 * overlap: Deno.cron does not start a job while it runs, and a tick (or `POST /connectors/:name/run`)
 * finding a run in progress skips. A failed run throws, so Deploy shows it and retries after {@linkcode RETRY_BACKOFF_MS}.
 */
export function registerDeployCrons(options: DeployOptions = {}): DeployHandle {
  const env = options.env ?? Deno.env.toObject();
  let config: Config;
  try {
    config = resolveConfig({}, env).config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { jobs: [], error, ready: Promise.resolve(), close: () => Promise.resolve() };
  }
  const cron: CronFn = options.cron ??
    ((name, schedule, o, handler) => Deno.cron(name, schedule, o, handler));
  const logger = getLogger("deploy");
  const stop = new AbortController();
  const jobs: DeployJob[] = [];
  const reconcileJobs: DeployJob[] = [];
  for (const module of CONNECTORS) {
    const settings = settingsOf(config, module.name);
    if (settings !== undefined) {
      jobs.push({ name: module.name, schedule: module.cronSchedule(settings) });
    }
  }

  const metrics = new Metrics();
  let connectors: Connector[] = [];
  const built = (async () => {
    await startLogging(config);
    for (const job of [...jobs, ...reconcileJobs]) {
      logger.info("Registered the {name} cron: {schedule}", { ...job });
    }
    // No writable disk on Deploy: the dead letters stay in memory unless a file is configured.
    connectors = await buildConnectors(config, { diskless: true, ...options.deps, metrics });
    return connectors;
  })();
  const passes = new PassRunner({ kind: "Cron run", metrics, logger });

  const run = async (name: string): Promise<void> => {
    const ok = await passes.run(name, async () => {
      const connector = (await built).find((c) => c.name === name);
      return connector === undefined ? true : await connector.runOnce(stop.signal);
    });
    if (ok === undefined) return; // the previous run is still in progress: this tick is skipped
    options.onRun?.(name, ok);
    if (!ok && !stop.signal.aborted) throw new Error(`The ${name} run failed; see the log`);
  };

  const crons = jobs.map((job) =>
    cron(
      job.name,
      job.schedule,
      { backoffSchedule: [...RETRY_BACKOFF_MS], signal: stop.signal },
      () => run(job.name),
    )
  );
  // Reconciles run from crons of their own (issue 17); a failed one throws so Deploy shows it.
  for (const module of CONNECTORS) {
    const settings = settingsOf(config, module.name);
    const schedule = settings === undefined ? undefined : module.reconcileSchedule?.(settings);
    if (schedule === undefined) continue;
    const name = `${module.name}-reconcile`;
    reconcileJobs.push({ name, schedule });
    crons.push(cron(name, schedule, { signal: stop.signal }, async () => {
      const connector = (await built).find((c) => c.name === module.name);
      await connector?.reconcile?.({}, stop.signal);
    }));
  }

  let server: ReturnType<typeof serve> | undefined;
  const listening = Promise.withResolvers<void>();
  if (options.serve ?? true) {
    const app = createApp({
      connectors: () => connectors.map((c) => c.status()),
      metrics: () => metrics.render(),
      isShuttingDown: () => stop.signal.aborted,
      adminToken: config.server.adminToken,
      runNow: (name) => {
        if (!jobs.some((job) => job.name === name)) return undefined;
        if (passes.isRunning(name)) return Promise.resolve(false);
        void run(name).catch(() => {});
        return Promise.resolve(true);
      },
      deadLetters: (name) => connectors.find((c) => c.name === name)?.deadLetters?.(),
      replayDeadLetters: (name) =>
        connectors.find((c) => c.name === name)?.replayDeadLetters?.(stop.signal),
      reconcile: (name, dryRun) =>
        connectors.find((c) => c.name === name)?.reconcile?.({ dryRun }, stop.signal),
    });
    server = serve(app, {
      hostname: config.server.host,
      port: config.server.port,
      signal: stop.signal,
      onListen: (address) => {
        logger.info("Listening on http://{hostname}:{port}", address);
        listening.resolve();
      },
    });
  } else listening.resolve();

  const close = async () => {
    stop.abort();
    await Promise.allSettled([...passes.inProgress(), ...crons]);
    await server?.finished;
  };
  if (options.handleSignals ?? true) {
    try {
      installShutdown({ onShutdown: close });
    } catch (error) {
      // Platforms without signal listeners stop the isolate themselves.
      logger.debug("No signal handlers: {message}", { message: String(error) });
    }
  }
  return {
    jobs,
    ready: Promise.all([built, listening.promise]).then(() => {}),
    close,
  };
}
