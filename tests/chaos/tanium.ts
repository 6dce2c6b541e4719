/**
 * The tanium-incidents chaos run: alerts arrive in the Tanium simulator while the connector (a
 * child process, one run every 300 ms) imports them, under a seeded schedule of faults: Tanium
 * 5xx, 429, slow and truncated answers, intel outages, OpenCTI GraphQL outages (state saves and
 * bundle pushes fail), late alerts (held back, then added with an `alertedAt` older than alerts
 * already imported), outages of Tanium and of OpenCTI lasting a while (every call fails until a
 * clock time) and SIGKILLs with a restart. At the end OpenCTI must have received exactly
 * the incidents a clean run over the same alerts gives.
 *
 * @module
 */
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { SIM_TOKEN, startOpenCtiSim } from "../../src/sim/opencti.ts";
import { seededRandom } from "../../src/sim/opencti_seed.ts";
import { startTaniumSim, TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import { generateAlerts, SEED_INTELS, seedOpenCtiForTanium } from "../../src/sim/tanium_seed.ts";
import { TaniumClient } from "../../src/tanium/client.ts";
import { TaniumIncidentsConnector } from "../../src/tanium/connector.ts";
import { ChildProcess, findSecrets } from "./child.ts";
import type { ChaosResult } from "./sentinel.ts";
import {
  QUEUE_THRESHOLD_MB,
  TANIUM_INCIDENTS,
  TANIUM_INCIDENTS_SCOPE,
} from "../fixtures/settings_defaults.ts";

/** Options of {@linkcode taniumChaos}. */
export interface TaniumChaosOptions {
  /** Seed of the alerts and the fault schedule. @default 1 */
  seed?: number;
  /** Alerts. @default 2000 */
  alerts?: number;
  /** Time over which alerts and faults are spread, in ms. @default 15000 */
  durationMs?: number;
  /** Faults in the schedule. @default 30 */
  faults?: number;
  /** Time allowed to converge after the last fault, in ms. @default 60000 */
  convergeTimeoutMs?: number;
}

/** Fault kinds of the schedule. */
export const TANIUM_FAULTS = [
  "tanium_5xx",
  "tanium_429",
  "tanium_slow",
  "tanium_truncated",
  "intel_outage",
  "graphql_outage",
  "kill",
  "late_alerts",
  "tanium_outage",
  "opencti_outage",
] as const;

/** One alert in this many is held back and added late (by a `late_alerts` fault or at the end). */
const LATE_EVERY = 25;

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function incidentsOf(bundles: { bundle: { objects: { type: string; id: string }[] } }[]) {
  const ids: string[] = [];
  for (const b of bundles) {
    for (const o of b.bundle.objects) if (o.type === "incident") ids.push(o.id);
  }
  return ids;
}

/** Runs the tanium chaos scenario. */
export async function taniumChaos(options: TaniumChaosOptions = {}): Promise<ChaosResult> {
  const seed = options.seed ?? 1;
  const random = seededRandom(seed);
  const total = options.alerts ?? 2000;
  const durationMs = options.durationMs ?? 15_000;
  const alerts = generateAlerts(total, {
    seed,
    intelIds: [700, 701, 702, 703, 704],
    start: "2024-03-01T00:00:00.000Z",
  });

  // What a clean run over the same alerts pushes.
  const expected = new Set<string>();
  {
    const tanium = startTaniumSim({ alerts, intels: [...SEED_INTELS] });
    const opencti = await startOpenCtiSim();
    try {
      await seedOpenCtiForTanium(opencti.store);
      const clean = new TaniumIncidentsConnector(
        new TaniumClient({ url: tanium.url, token: TANIUM_SIM_TOKEN }),
        new OpenCtiClient({ url: opencti.url, token: SIM_TOKEN }),
        {
          ...TANIUM_INCIDENTS,
          scope: TANIUM_INCIDENTS_SCOPE,
          queueThresholdMb: QUEUE_THRESHOLD_MB,
          connectorId: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
          consoleUrl: "https://tanium.example.com",
          importStartDate: "2024-01-01T00:00:00.000Z",
        },
      );
      if (!await clean.runOnce()) throw new Error("the clean tanium run failed");
      for (const id of incidentsOf(opencti.control.graphql.bundles)) expected.add(id);
    } finally {
      await tanium.close();
      await opencti.close();
    }
  }

  const tanium = startTaniumSim({ alerts: [], intels: [...SEED_INTELS] });
  const opencti = await startOpenCtiSim();
  await seedOpenCtiForTanium(opencti.store);
  const child = new ChildProcess("./tanium_child.ts", {
    TANIUM_URL: tanium.url,
    TANIUM_TOKEN: TANIUM_SIM_TOKEN,
    OPENCTI_URL: opencti.url,
    OPENCTI_TOKEN: SIM_TOKEN,
    CONNECTOR_ID: "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b",
  }, ["--allow-net=127.0.0.1", "--allow-env", "--allow-read"]);
  const kinds: Record<string, number> = {};
  const timers: ReturnType<typeof setTimeout>[] = [];
  let restarts = 0;
  try {
    child.start();
    const schedule = Array.from({ length: options.faults ?? 30 }, (_, i) => ({
      at: Math.floor(random() * durationMs),
      // Every kind at least once (when there are enough faults), then seeded picks.
      kind:
        (TANIUM_FAULTS[i] ?? TANIUM_FAULTS[Math.floor(random() * TANIUM_FAULTS.length)]) as string,
      amount: random(),
    })).sort((a, b) => a.at - b.at);
    const inject = async (kind: string, amount: number) => {
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      const times = 1 + Math.floor(amount * 4);
      switch (kind) {
        case "tanium_5xx":
          tanium.control.injectFault({ target: "alerts", status: 503, times });
          return;
        case "tanium_429":
          tanium.control.injectFault({ status: 429, retryAfter: "1", times });
          return;
        case "tanium_slow":
          tanium.control.injectFault({ delayMs: 400 + Math.floor(amount * 800), times });
          return;
        case "tanium_truncated":
          tanium.control.injectFault({ target: "alerts", truncate: true, times });
          return;
        case "intel_outage":
          tanium.control.injectFault({ target: "intels", status: 500, times });
          return;
        case "graphql_outage":
          opencti.control.graphql.injectFailure({ status: 503, times: 2 + times * 3 });
          return;
        case "late_alerts":
          releaseLate(added);
          return;
        case "tanium_outage":
          // Every Tanium call fails for 0.5 to 2 s (the simulator's clock is the real one here).
          tanium.control.injectFault({ status: 503, untilMs: Date.now() + 500 + amount * 1500 });
          return;
        case "opencti_outage":
          opencti.control.graphql.injectFailure({ status: 503, times: -1 });
          timers.push(
            setTimeout(() => opencti.control.graphql.clearFailures(), 500 + amount * 1500),
          );
          return;
        case "kill":
          await child.kill();
          await wait(100 + Math.floor(amount * 700));
          child.start();
          restarts++;
          return;
      }
    };
    // Alerts held back: added late, once alerts detected after them were served.
    const late = new Set(alerts.filter((_, index) => index % LATE_EVERY === 7));
    const addDue = (list: typeof alerts) => {
      const onTime = list.filter((alert) => !late.has(alert));
      if (onTime.length > 0) tanium.control.addAlerts(onTime);
    };
    const releaseLate = (before: number) => {
      const due = alerts.slice(0, before).filter((alert) => late.has(alert));
      for (const alert of due) late.delete(alert);
      if (due.length > 0) tanium.control.addAlerts(due);
    };
    const started = performance.now();
    let added = 0;
    let faultIndex = 0;
    let lastFaultAt = started;
    while (added < total || faultIndex < schedule.length) {
      const elapsed = performance.now() - started;
      const due = Math.min(total, Math.ceil((elapsed / durationMs) * total));
      if (due > added) {
        addDue(alerts.slice(added, due));
        added = due;
      }
      while (faultIndex < schedule.length && (schedule[faultIndex]?.at ?? 0) <= elapsed) {
        const fault = schedule[faultIndex++] as (typeof schedule)[number];
        await inject(fault.kind, fault.amount);
        lastFaultAt = performance.now();
      }
      await wait(20);
    }
    releaseLate(total);
    const timeout = performance.now() + (options.convergeTimeoutMs ?? 60_000);
    let convergeS: number | null = null;
    let lost = 0;
    let duplicated = 0;
    let differences: string[] = [];
    for (;;) {
      const pushed = new Set(incidentsOf(opencti.control.graphql.bundles));
      lost = [...expected].filter((id) => !pushed.has(id)).length;
      duplicated = [...pushed].filter((id) => !expected.has(id)).length;
      if (lost === 0 && duplicated === 0) {
        convergeS = Math.round((performance.now() - lastFaultAt) / 100) / 10;
        break;
      }
      if (performance.now() > timeout) {
        differences = [
          ...[...expected].filter((id) => !pushed.has(id)).slice(0, 5).map((id) => `lost ${id}`),
          ...[...pushed].filter((id) => !expected.has(id)).slice(0, 5).map((id) => `extra ${id}`),
        ];
        break;
      }
      await wait(200);
    }
    await child.stop();
    return {
      faults: schedule.length,
      restarts,
      events: total,
      lost,
      duplicated,
      converge_s: convergeS,
      fault_kinds: kinds,
      secrets_leaked: findSecrets(child.output, [SIM_TOKEN, TANIUM_SIM_TOKEN]),
      log_lines: child.output.length,
      differences,
    };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await child.stop();
    await tanium.close();
    await opencti.close();
  }
}
