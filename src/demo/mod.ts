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
 * @module
 */
import { buildConnectors, runService, startLogging } from "../app.ts";
import { type Config, ConfigError, resolveConfig } from "../config/mod.ts";
import { Metrics } from "../metrics.ts";
import { compareEventIds } from "../sim/opencti_store.ts";
import { atLeast, FEATURES } from "../opencti/version.ts";
import type { Connector } from "../runtime/connector.ts";
import type { TargetName } from "../microsoft/target.ts";
import { applyLiveChanges, type LiveChange } from "./changes.ts";
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
import {
  collectSummary,
  DEMO_INTEL_SOURCE,
  type DemoSummary,
  formatSummary,
  summaryProblems,
  type SummaryReport,
} from "./summary.ts";
import { makeDrift } from "./drift.ts";
import type { ReconcileReport } from "../sentinel/reconcile.ts";

export { applyLiveChanges, DemoChangeError, type LiveChange } from "./changes.ts";
export * from "./sims.ts";
export * from "./summary.ts";

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
            `cannot write the summary to ${options.summaryJson} (${errorText(error)}): ` +
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

interface DriveResult {
  report: SummaryReport;
  problems: string[];
  changes: LiveChange[];
  stoppedWith?: number;
}

/** Waits for the initial sync and import, makes the live changes, waits again, reads the summary. */
async function drive(
  sims: DemoSims,
  connectors: Connector[],
  o: {
    write: (line: string) => void;
    live: boolean;
    phaseTimeoutMs: number;
    ended: Promise<{ code: number }>;
    /** The connector runs with the upstream connector's names (`DemoOptions.upstreamNames`). */
    upstreamNames: boolean;
  },
): Promise<DriveResult> {
  const sentinel = connectors.find((c) => c.name === "sentinel");
  const tanium = connectors.find((c) => c.name === "tanium-incidents");
  const msIncidents = connectors.find((c) => c.name === "microsoft-incidents");
  const intel = connectors.find((c) => c.name === "tanium-intel");
  const problems: string[] = [];
  let changes: LiveChange[] = [];
  const progress = new Progress(sims, o.write, o.live);
  const synced = async () => {
    const expected = await sims.stack.expected(Date.now());
    const present = sims.stack.present();
    return present.length === expected.size && present.every((key) => expected.has(key));
  };
  const imported = () =>
    tanium?.status().lastRunAt !== undefined &&
    (msIncidents === undefined || msIncidents.status().lastRunAt !== undefined);
  // Updates keep the same records, so "synced" alone cannot see them: wait for the saved stream
  // position to reach the last indicator event too.
  const caughtUpFor = (connector: Connector | undefined) => {
    if (connector === undefined) return true;
    const cursor = connector.status().details?.cursor;
    const last = sims.stack.opencti.store.events().findLast((e) => e.data.type === "indicator");
    return last === undefined ||
      (typeof cursor === "string" && compareEventIds(cursor, last.id) >= 0);
  };
  const caughtUp = () => caughtUpFor(sentinel) && caughtUpFor(intel);

  o.write(
    `Syncing the seeded indicators to ${sims.target} and importing the Tanium alerts into OpenCTI…`,
  );
  progress.begin();
  const first = await waitFor(async () => await synced() && imported(), {
    timeoutMs: o.phaseTimeoutMs,
    ended: o.ended,
    tick: () => progress.tick(),
  });
  await progress.done();
  if (first.stopped !== undefined) {
    return { ...await report(), problems, changes, stoppedWith: first.stopped };
  }
  if (!first.ok) {
    problems.push(`the initial sync or import did not finish in ${o.phaseTimeoutMs} ms`);
  }
  const lastRun = tanium?.status().details?.lastRun as { outcome?: string; error?: string } | null;
  if (lastRun && lastRun.outcome !== "success") {
    problems.push(
      `the tanium-incidents run ended with "${lastRun.outcome}": ${lastRun.error ?? ""}`,
    );
  }
  const msRun = msIncidents?.status().details?.lastRun as
    | { outcome?: string; error?: string }
    | null
    | undefined;
  if (msRun && msRun.outcome !== "success") {
    problems.push(
      `the microsoft-incidents run ended with "${msRun.outcome}": ${msRun.error ?? ""}`,
    );
  }

  if (first.ok && intel !== undefined && tanium !== undefined) {
    const loop = await intelLoop(sims, intel, tanium, caughtUpFor, o);
    if (loop.stopped !== undefined) {
      return { ...await report(), problems, changes, stoppedWith: loop.stopped };
    }
    problems.push(...loop.problems);
  }

  if (first.ok) {
    const syncedIndicators = sims.stack.opencti.store.list("indicator").filter((o) =>
      sims.stack.present().some((key) => key.startsWith(`${o.id} `))
    );
    changes = await applyLiveChanges(sims.stack.opencti.url, syncedIndicators);
    o.write(
      `Changed OpenCTI: ${
        changes.map((c) => `${c.kind} "${c.name}"`).join(", ")
      }; following the live stream…`,
    );
    progress.begin();
    const second = await waitFor(async () => await synced() && caughtUp(), {
      timeoutMs: o.phaseTimeoutMs,
      ended: o.ended,
      tick: () => progress.tick(),
    });
    await progress.done();
    if (second.stopped !== undefined) {
      return { ...await report(), problems, changes, stoppedWith: second.stopped };
    }
    if (!second.ok) problems.push(`the live changes did not reach ${sims.target} in time`);
  }
  let reconciled: DemoSummary["reconcile"];
  if (first.ok && sentinel?.reconcile) {
    const synced = sims.stack.opencti.store.list("indicator").filter((o) =>
      sims.stack.present().some((key) => key.startsWith(`${o.id} `))
    );
    const drift = makeDrift(sims, synced, { upstreamNames: o.upstreamNames });
    if (drift) {
      o.write(
        `Made drift in ${sims.target}: deleted the records of ${drift.deleted}, added an orphan ` +
          `${drift.orphan}, replaced ${drift.upstream} by an upstream connector's record; reconciling…`,
      );
      try {
        const done = await sentinel.reconcile({}) as ReconcileReport;
        reconciled = {
          missing: done.drift.missing,
          orphans: done.drift.orphans,
          adopted: done.adopted,
          converged: done.converged === true,
        };
        o.write(
          `Reconciled: ${done.created} created, ${done.updated} updated, ${done.deleted} deleted, ` +
            `${done.adopted} adopted, converged: ${done.converged === true}`,
        );
      } catch (error) {
        problems.push(`the reconcile failed: ${error instanceof Error ? error.message : error}`);
      }
    }
  }
  await sims.queue?.drained();
  await sims.stack.opencti.control.graphql.settled();
  const final = await report();
  if (reconciled) final.report.summary.reconcile = reconciled;
  return { ...final, problems, changes };

  async function report(): Promise<{ report: SummaryReport }> {
    return {
      report: await collectSummary(
        sims,
        DEMO_TANIUM_ID,
        sentinel ? { sentinel: sentinel.status() } : {},
      ),
    };
  }
}

/**
 * The Tanium loop: waits for tanium-intel to send the indicators to Tanium and write the
 * documents back, has Tanium raise an alert on an endpoint for some of them (as a deployed
 * document does when it matches), then runs tanium-incidents so that those alerts become
 * incidents and sightings of the same indicators.
 */
async function intelLoop(
  sims: DemoSims,
  intel: Connector,
  tanium: Connector,
  caughtUpFor: (connector: Connector) => boolean,
  o: { write: (line: string) => void; phaseTimeoutMs: number; ended: Promise<{ code: number }> },
): Promise<{ problems: string[]; stopped?: number }> {
  const created = new Set(sims.tanium.control.intelActivity.created);
  const documented = (): number[] => {
    const ids = new Set<number>();
    for (const indicator of sims.stack.opencti.store.list("indicator")) {
      const refs = Array.isArray(indicator.external_references)
        ? indicator.external_references
        : [];
      for (const ref of refs) {
        if (typeof ref !== "object" || ref === null) continue;
        const r = ref as Record<string, unknown>;
        const id = Number(r.external_id);
        if (r.source_name === DEMO_INTEL_SOURCE && sims.tanium.control.intel(id)) ids.add(id);
      }
    }
    for (const id of sims.tanium.control.intelActivity.created) created.add(id);
    return [...ids].filter((id) => created.has(id)).sort((a, b) => a - b);
  };
  o.write("Sending the indicators to Tanium Threat Response as intel documents (tanium-intel)…");
  const sent = await waitFor(() => caughtUpFor(intel) && documented().length > 0, {
    timeoutMs: o.phaseTimeoutMs,
    ended: o.ended,
    tick: () => Promise.resolve(),
  });
  if (sent.stopped !== undefined) return { problems: [], stopped: sent.stopped };
  if (!sent.ok) return { problems: ["tanium-intel wrote no intel document back in time"] };
  const ids = documented().slice(0, 3);
  for (const id of ids) sims.tanium.control.raiseAlertFor(id, `DEMO-ENDPOINT-${id}`);
  o.write(
    `Tanium raised ${ids.length} alerts for intel documents ${ids.join(", ")}; ` +
      "importing them with tanium-incidents…",
  );
  // A run already under way may predate the alerts: the second one starts after them.
  await tanium.runOnce();
  const ok = await tanium.runOnce();
  // Let the platform import those bundles (below 6.3 they wait in its RabbitMQ) before the demo
  // changes OpenCTI: a sighting must not arrive after its indicator was deleted.
  await sims.queue?.drained();
  await sims.stack.opencti.control.graphql.settled();
  return { problems: ok ? [] : ["the tanium-incidents run after the intel alerts failed"] };
}

/** Polls `condition` every 100 ms until it holds, the time is up, or the service ends. */
async function waitFor(
  condition: () => boolean | Promise<boolean>,
  o: { timeoutMs: number; ended: Promise<{ code: number }>; tick: () => Promise<void> },
): Promise<{ ok: boolean; stopped?: number }> {
  const deadline = Date.now() + o.timeoutMs;
  let stopped: number | undefined;
  void o.ended.then(({ code }) => stopped = code);
  while (true) {
    await o.tick();
    if (stopped !== undefined) return { ok: false, stopped };
    if (await condition()) return { ok: true };
    if (Date.now() >= deadline) return { ok: false };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The progress line while a phase runs: records in the target against what OpenCTI expects, the
 * rate of record changes (added or removed) since the phase began, and what tanium-incidents
 * delivered to OpenCTI. On a terminal it
 * rewrites itself; otherwise a line is printed when the counts change (at most twice a second).
 */
class Progress {
  readonly #sims: DemoSims;
  readonly #write: (line: string) => void;
  readonly #live: boolean;
  #startedAt = Date.now();
  #before = new Set<string>();
  #last = "";
  #lastAt = 0;
  #open = false;

  constructor(sims: DemoSims, write: (line: string) => void, live: boolean) {
    this.#sims = sims;
    this.#write = write;
    this.#live = live;
  }

  /** Starts a phase (the rate counts from here). */
  begin(): void {
    this.#startedAt = Date.now();
    this.#before = new Set(this.#sims.stack.present());
    this.#last = "";
    this.#lastAt = 0;
  }

  async tick(final = false): Promise<void> {
    const { stack } = this.#sims;
    const now = new Set(stack.present());
    const present = stack.present().length;
    let changed = 0;
    for (const key of now) if (!this.#before.has(key)) changed++;
    for (const key of this.#before) if (!now.has(key)) changed++;
    const expected = (await stack.expected(Date.now())).size;
    const seconds = Math.max((Date.now() - this.#startedAt) / 1000, 0.001);
    const bundles = stack.opencti.control.graphql.bundles
      .filter((b) => b.connectorId === DEMO_TANIUM_ID);
    const incidents = new Set(
      bundles.flatMap((b) => b.bundle.objects).filter((o) => o.type === "incident").map((o) =>
        o.id
      ),
    ).size;
    const counts = `${this.#sims.target}: ${present}/${expected} records · tanium → OpenCTI: ` +
      `${bundles.length} bundles, ${incidents} incidents`;
    const line = `  ${counts} · ${(changed / seconds).toFixed(1)} record changes/s`;
    if (this.#live) {
      Deno.stdout.writeSync(new TextEncoder().encode(`\r${line.padEnd(90)}`));
      this.#open = true;
    } else if (counts !== this.#last && (final || Date.now() - this.#lastAt >= 500)) {
      this.#write(line);
      this.#last = counts;
      this.#lastAt = Date.now();
    }
  }

  /** Ends a phase: the final counts stay on screen. */
  async done(): Promise<void> {
    await this.tick(true);
    if (this.#open) Deno.stdout.writeSync(new TextEncoder().encode("\n"));
    this.#open = false;
  }
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
