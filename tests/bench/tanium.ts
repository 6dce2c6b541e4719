/**
 * Tanium scenario: a backlog of alerts referring to a set of distinct intel documents in the
 * Tanium simulator, imported by the tanium-incidents connector (one run) into the OpenCTI
 * simulator. Reports alerts per second, alert page requests, intel requests and bundles pushed,
 * against the goals "pages = ceil(N/500) + 1" (the last, short page says the backlog ended) and
 * "intel requests = distinct intel documents" (each one fetched once).
 *
 * @module
 */
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { SIM_TOKEN, startOpenCtiSim } from "../../src/sim/opencti.ts";
import { startTaniumSim, TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import {
  generateAlerts,
  REFERENCE_INTEL,
  seedOpenCtiForTanium,
  type SimIntel,
} from "../../src/sim/tanium_seed.ts";
import { TaniumClient } from "../../src/tanium/client.ts";
import { TaniumIncidentsConnector } from "../../src/tanium/connector.ts";
import { median, round } from "./stats.ts";
import {
  QUEUE_THRESHOLD_MB,
  TANIUM_INCIDENTS,
  TANIUM_INCIDENTS_SCOPE,
} from "../fixtures/settings_defaults.ts";

/** Tanium figures. */
export interface TaniumResult {
  /** Alerts imported per second (median of the runs). */
  alerts_per_s: number;
  /** Alert page requests of one run. */
  page_requests: number;
  /** Intel document requests of one run. */
  intel_requests: number;
  /** Bundles pushed to OpenCTI in one run. */
  bundles: number;
  /** Alerts in the backlog. */
  alerts: number;
  /** Distinct intel documents referred to. */
  distinct_intel: number;
  /** The goal for `page_requests`: ceil(N/500) + 1. */
  expected_page_requests: number;
  /** Runs the median is taken over. */
  runs: number;
}

/** Options of {@linkcode taniumScenario}. */
export interface TaniumOptions {
  /** Reduced run (2,000 alerts, 2 runs). @default false */
  quick?: boolean;
  /** Alerts in the backlog. @default 10000 (2000 quick) */
  alerts?: number;
  /** Distinct intel documents. @default 200 (50 quick) */
  intels?: number;
  /** Runs (fresh simulators each). @default 3 (2 quick) */
  runs?: number;
}

/** Runs the Tanium scenario. */
export async function taniumScenario(
  options: TaniumOptions = {},
): Promise<{ result: TaniumResult; notes: string[] }> {
  const quick = options.quick ?? false;
  const n = options.alerts ?? (quick ? 2_000 : 10_000);
  const intelCount = options.intels ?? (quick ? 50 : 200);
  const runs = options.runs ?? (quick ? 2 : 3);
  const intelIds = Array.from({ length: intelCount }, (_, i) => 5_000 + i);
  const intels: SimIntel[] = intelIds.map((id) => ({
    ...structuredClone(REFERENCE_INTEL),
    id,
    name: `Generated intel ${id}`,
  }));
  const alerts = generateAlerts(n, { seed: 7, intelIds });
  const referred = new Set(alerts.map((a) => a.intelDocId)).size;
  const rates: number[] = [];
  let last: Omit<TaniumResult, "alerts_per_s" | "runs"> | undefined;
  for (let run = 0; run < runs; run++) {
    const tanium = startTaniumSim({ alerts, intels });
    const opencti = await startOpenCtiSim();
    try {
      await seedOpenCtiForTanium(opencti.store);
      const connector = new TaniumIncidentsConnector(
        new TaniumClient({ url: tanium.url, token: TANIUM_SIM_TOKEN }),
        new OpenCtiClient({ url: opencti.url, token: SIM_TOKEN }),
        {
          ...TANIUM_INCIDENTS,
          scope: TANIUM_INCIDENTS_SCOPE,
          queueThresholdMb: QUEUE_THRESHOLD_MB,
          connectorId: "5c4b3a29-1807-4f6e-9d5c-4b3a29180706",
          consoleUrl: "https://tanium.example.com",
          importStartDate: "2024-01-01T00:00:00.000Z",
        },
      );
      const started = performance.now();
      const ok = await connector.runOnce();
      const seconds = (performance.now() - started) / 1000;
      if (!ok) throw new Error("the tanium-incidents run failed");
      rates.push(n / seconds);
      last = {
        page_requests: tanium.control.counters.pageRequests,
        intel_requests: tanium.control.counters.intelRequests,
        bundles: opencti.control.graphql.bundles.length,
        alerts: n,
        distinct_intel: referred,
        expected_page_requests: Math.ceil(n / 500) + 1,
      };
    } finally {
      await tanium.close();
      await opencti.close();
    }
  }
  if (last === undefined) throw new Error("no run");
  return {
    result: { alerts_per_s: Math.round(median(rates)), runs, ...last },
    notes: [
      `tanium: ${n} alerts over ${referred} distinct intel documents, ${runs} runs; ` +
      `alerts_per_s ${rates.map((r) => round(r, 0)).join(", ")}`,
    ],
  };
}
