/**
 * `--demo`: the whole program against simulators, offline. Every simulator starts on loopback;
 * an environment record with the upstream variable names goes through the real configuration
 * loader; the real connectors and the real service (server, supervisor, shutdown) run; the demo
 * then makes live changes in OpenCTI and prints what each simulated system ended up holding.
 *
 * ```sh
 * deno task demo                      # graph target, keeps running until Ctrl-C
 * deno task demo --target defender --once --summary-json summary.json
 * ```
 *
 * This file starts and stops everything; `drive.ts` runs the phases, `progress.ts` draws the
 * progress line, `summary.ts` reads what each simulated system holds.
 *
 * @module
 */
import { buildConnectors, runService, startLogging } from "../app.ts";
import { type Config, ConfigError, resolveConfig } from "../config/mod.ts";
import { Metrics } from "../metrics.ts";
import { atLeast, FEATURES } from "../opencti/version.ts";
import type { Connector } from "../runtime/connector.ts";
import type { TargetName } from "../microsoft/target.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { LiveChange } from "./changes.ts";
import {
  DEMO_MS_INCIDENTS_ID,
  DEMO_SENTINEL_ID,
  DEMO_STREAM_ID,
  DEMO_TANIUM_ID,
  DEMO_TANIUM_INTEL_ID,
  demoEnv,
  type DemoSims,
  routedFetch,
  startDemoSims,
} from "./sims.ts";
import { formatSummary, summaryProblems, type SummaryReport } from "./summary.ts";
import { drive } from "./drive.ts";

/** Options of {@linkcode runDemo}. */
export interface DemoOptions {
  /** The Microsoft target simulated. @default "graph" */
  target?: TargetName;
  /** The simulated OpenCTI version. @default "6.8.10" */
  openctiVersion?: string;
  /** RabbitMQ for a simulated platform below 6.3 (bundles go over AMQP there). @default none */
  rabbitmqUrl?: string;
  /** Exit after the initial sync, the import and the live changes. @default false */
  once?: boolean;
  /** Write the JSON summary to this file. @default none */
  summaryJson?: string;
  /**
   * The user's environment: only `SERVER_PORT`, `SERVER_HOST`, `CONNECTOR_LOG_LEVEL` and
   * `LOG_FORMAT` are read from it. @default Deno.env
   */
  env?: (name: string) => string | undefined;
  /**
   * Configure the sentinel connector with the upstream connectors' variable names
   * (`MICROSOFT_SENTINEL_INTEL_*`, `MICROSOFT_DEFENDER_INTEL_*`, …) instead of ours. @default false
   */
  upstreamNames?: boolean;
  /** Where the demo's own lines go. @default console.log */
  write?: (line: string) => void;
  /** Show a progress line that rewrites itself (on a terminal). @default Deno.stdout.isTerminal() */
  liveProgress?: boolean;
  /** Time allowed for each phase (sync, import, live changes), in ms. @default 60000 */
  phaseTimeoutMs?: number;
  /** Install SIGTERM/SIGINT handlers (a signal stops the demo cleanly). @default true */
  handleSignals?: boolean;
  /** Stops the demo. @default none */
  signal?: AbortSignal;
  /** Called with the simulators, the report and the live changes before they stop (tests). @default none */
  inspect?: (sims: DemoSims, report: SummaryReport, changes: LiveChange[]) => void | Promise<void>;
}

/** Exit statuses of the demo. */
export const DEMO_EXIT = { ok: 0, failed: 1, config: 2 } as const;

/** Runs the demo; resolves to the exit status (0 when everything the summary checks holds). */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const write = options.write ?? ((line: string) => console.log(line));
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const target = options.target ?? "graph";
  const phaseTimeoutMs = options.phaseTimeoutMs ?? 60_000;
  const live = options.liveProgress ?? Deno.stdout.isTerminal();

  const version = options.openctiVersion ?? "6.8.10";
  if (!atLeast(version, FEATURES.stixBundlePush) && options.rabbitmqUrl === undefined) {
    write(
      `OpenCTI ${version} has no stixBundlePush: tanium-incidents pushes its bundles to the ` +
        "platform's RabbitMQ there, so the demo needs one. Start a throwaway RabbitMQ on " +
        "127.0.0.1 (e.g. `docker run --rm -p 5672:5672 rabbitmq:3`, or Debian's rabbitmq-server; " +
        "this repository's .ci/rabbitmq.sh starts one), then run again with " +
        "--rabbitmq-url amqp://guest:guest@127.0.0.1:5672",
    );
    return DEMO_EXIT.config;
  }
  write(
    `Starting the simulators (OpenCTI ${version}, Entra ID, ${target}, Tanium) on 127.0.0.1…`,
  );
  const sims = await startDemoSims({
    target,
    openctiVersion: version,
    ...(options.rabbitmqUrl !== undefined ? { rabbitmqUrl: options.rabbitmqUrl } : {}),
  });
  try {
    const requestedPort = env("SERVER_PORT");
    const userEnv = {
      serverPort: requestedPort === undefined || requestedPort === "" ? "8080" : requestedPort,
      serverHost: nonEmpty(env("SERVER_HOST")) ?? "127.0.0.1",
      logLevel: nonEmpty(env("CONNECTOR_LOG_LEVEL")) ?? "warn",
      logFormat: nonEmpty(env("LOG_FORMAT")) ?? "text",
    };
    let config: Config;
    try {
      config = resolveConfig(
        {},
        demoEnv(sims, { ...userEnv, upstreamNames: options.upstreamNames ?? false }),
      ).config;
    } catch (error) {
      if (error instanceof ConfigError) {
        write(error.message);
        return DEMO_EXIT.config;
      }
      throw error;
    }
    await startLogging(config);
    printWorld(sims, write);

    const metrics = new Metrics();
    const connectors = await buildConnectors(config, {
      fetch: routedFetch(sims.routes),
      metrics,
    });
    const stop = new AbortController();
    options.signal?.addEventListener("abort", () => stop.abort(), { once: true });

    const parts = {
      connectors,
      metrics,
      signal: stop.signal,
      handleSignals: options.handleSignals ?? true,
    };
    let started = await startService(config, parts);
    if ("error" in started && requestedPort === undefined && isAddrInUse(started.error)) {
      write(
        `Port ${config.server.port} is busy; using a free port instead (set SERVER_PORT to choose).`,
      );
      config = { ...config, server: { ...config.server, port: 0 } };
      started = await startService(config, parts);
    }
    if ("error" in started) {
      if (isAddrInUse(started.error)) {
        write(
          `Port ${config.server.port} on ${config.server.host} is busy: set SERVER_PORT to a free ` +
            "port, or SERVER_PORT=0 to let the demo pick one.",
        );
        return DEMO_EXIT.failed;
      }
      throw started.error;
    }
    const { service, address } = started;
    const base = `http://${displayHost(address.hostname)}:${address.port}`;
    write(`Serving ${base}/healthz, ${base}/readyz, ${base}/metrics and ${base}/status`);

    try {
      const ended = service.then((code) => ({ code }));
      const result = await drive(sims, connectors, {
        write,
        live,
        phaseTimeoutMs,
        ended,
        upstreamNames: options.upstreamNames ?? false,
      });
      if (result.stoppedWith !== undefined) {
        write("Stopped before the demo finished.");
        return result.stoppedWith;
      }
      const problems = [...result.problems, ...summaryProblems(result.report)];
      for (const line of formatSummary(result.report, problems)) write(line);
      if (options.summaryJson !== undefined) {
        try {
          await Deno.writeTextFile(
            options.summaryJson,
            `${JSON.stringify(result.report.summary, null, 2)}\n`,
          );
          write(`Wrote the summary to ${options.summaryJson}`);
        } catch (error) {
          problems.push(
            `cannot write the summary to ${options.summaryJson} (${errorMessage(error)}): ` +
              "choose a writable path (deno task demo may write in the current directory only)",
          );
          write(`  - ${problems.at(-1)}`);
        }
      }
      await options.inspect?.(sims, result.report, result.changes);
      if (options.once) {
        stop.abort();
        const code = await service;
        return problems.length === 0 && code === 0 ? DEMO_EXIT.ok : DEMO_EXIT.failed;
      }
      write("");
      write("The program keeps running: try the endpoints above, or change OpenCTI through");
      write(`  ${sims.stack.opencti.url}/_sim/ (GET it for the list of control routes), e.g.`);
      write(
        `  curl -X DELETE ${sims.stack.opencti.url}/_sim/indicators/<indicator id>` +
          `   (the indicator leaves ${target})`,
      );
      write("Press Ctrl-C to stop.");
      return await service;
    } catch (error) {
      // Never leave the service running behind a failed demo.
      stop.abort();
      await service.catch(() => {});
      throw error;
    }
  } finally {
    await sims.close();
  }
}

interface Started {
  service: Promise<number>;
  address: { hostname: string; port: number };
}

interface ServiceParts {
  connectors: Connector[];
  metrics: Metrics;
  signal: AbortSignal;
  handleSignals: boolean;
}

/** Starts the real service; resolves once it listens, or with the error that stopped it. */
async function startService(
  config: Config,
  parts: ServiceParts,
): Promise<Started | { error: unknown }> {
  const { connectors, metrics, signal, handleSignals } = parts;
  const listening = Promise.withResolvers<{ hostname: string; port: number }>();
  const service = runService(config, {
    once: false,
    connectors,
    metrics,
    signal,
    handleSignals,
    onListen: (address) => listening.resolve(address),
  });
  const first = await Promise.race([
    listening.promise.then((address) => ({ address })),
    service.then(
      (code) => ({ error: new Error(`The service ended (status ${code}) before listening`) }),
      (error: unknown) => ({ error }),
    ),
  ]);
  return "error" in first ? first : { service, address: first.address };
}

function printWorld(sims: DemoSims, write: (line: string) => void): void {
  write(
    `  OpenCTI     ${sims.stack.opencti.url}  (stream "${DEMO_STREAM_ID}", control API /_sim/)`,
  );
  write(`  Entra ID    ${sims.stack.entra.url}`);
  write(`  ${sims.target.padEnd(11)} ${sims.stack.targetUrl}`);
  write(`  Tanium      ${sims.tanium.url}  (control API /_sim/)`);
  write(`  Graph security incidents ${sims.incidents.url}`);
  write(
    `  connectors  sentinel (${DEMO_SENTINEL_ID}), tanium-incidents (${DEMO_TANIUM_ID}), ` +
      `microsoft-incidents (${DEMO_MS_INCIDENTS_ID}), tanium-intel (${DEMO_TANIUM_INTEL_ID})`,
  );
}

function isAddrInUse(error: unknown): boolean {
  return error instanceof Deno.errors.AddrInUse;
}

function displayHost(hostname: string): string {
  return hostname === "0.0.0.0" ? "127.0.0.1" : hostname.includes(":") ? `[${hostname}]` : hostname;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
