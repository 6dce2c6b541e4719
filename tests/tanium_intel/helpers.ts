/** Wiring of the tanium-intel tests: both simulators, the connector, tanium-incidents. */
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { type OpenCtiSim, SIM_TOKEN, startOpenCtiSim } from "../../src/sim/opencti.ts";
import { startTaniumSim, TANIUM_SIM_TOKEN, type TaniumSim } from "../../src/sim/tanium.ts";
import { SEED_INTELS } from "../../src/sim/tanium_seed.ts";
import type { StixObject } from "../../src/stix/types.ts";
import { TaniumClient } from "../../src/tanium/client.ts";
import { TaniumIncidentsConnector } from "../../src/tanium/connector.ts";
import {
  TaniumIntelConnector,
  type TaniumIntelConnectorOptions,
} from "../../src/tanium_intel/connector.ts";
import {
  MAX_BACKOFF_MS,
  QUEUE_THRESHOLD_MB,
  TANIUM_INCIDENTS,
  TANIUM_INCIDENTS_SCOPE,
  TANIUM_INTEL_BATCH_SIZE,
  TANIUM_INTEL_SCOPE,
  TANIUM_INTEL_SWITCHES,
} from "../fixtures/settings_defaults.ts";

/** The stream of indicators and observables (upstream's stream/tanium-intel scope). */
export const ALL_STREAM = "live-intel-all";
/** Stream options reading {@linkcode ALL_STREAM}. */
export const ALL_STREAM_OPTIONS = {
  streamId: ALL_STREAM,
  recoverIsoDate: false,
  retryBaseMs: 5,
} as const;

/** The clock of the connectors and of the Tanium simulator. */
export const NOW = Date.parse("2024-06-10T06:00:00.000Z");
/** Console URL (the reference URL's base). */
export const CONSOLE = "https://console.example.com";
/** A sleep that returns at once. */
export const instantSleep = (_ms: number, signal?: AbortSignal): Promise<void> => {
  signal?.throwIfAborted();
  return Promise.resolve();
};

/** Both simulators and factories of connectors (a new one = a restart). */
export interface IntelWorld {
  tanium: TaniumSim;
  opencti: OpenCtiSim;
  client: OpenCtiClient;
  /** A tanium-intel connector; a new connector id = a fresh state (full replay). */
  intel(id?: string, extra?: Partial<TaniumIntelConnectorOptions>): TaniumIntelConnector;
  /** A tanium-incidents connector. */
  incidents(): TaniumIncidentsConnector;
  /** The indicator as OpenCTI holds it now. */
  indicator(id: string): StixObject;
  close(): Promise<void>;
}

/**
 * Starts both simulators (Tanium holds the seed intel documents 700…, so new ids follow); OpenCTI
 * runs `version` (default the simulator's).
 */
export async function intelWorld(options: { version?: string } = {}): Promise<IntelWorld> {
  const tanium = startTaniumSim({ sleep: instantSleep, now: () => NOW, intels: SEED_INTELS });
  const opencti = await startOpenCtiSim({
    heartbeatMs: 20,
    streams: {
      "live-indicators": { name: "Indicators", filter: { types: ["indicator"] } },
      // What upstream follows: indicators, network observables, files and artifacts.
      [ALL_STREAM]: {
        name: "Indicators and observables",
        filter: {
          types: [
            "indicator",
            "ipv4-addr",
            "ipv6-addr",
            "domain-name",
            "hostname",
            "file",
            "artifact",
          ],
        },
      },
    },
    ...(options.version ? { version: options.version } : {}),
  });
  const client = new OpenCtiClient({
    url: opencti.url,
    token: SIM_TOKEN,
    sleep: instantSleep,
    retry: { attempts: 2, baseMs: 1 },
  });
  let bundles = 0;
  return {
    tanium,
    opencti,
    client,
    intel: (id = "5d1c6a3e-2b4f-4c8d-9e0a-1b2c3d4e5f60", extra = {}) =>
      new TaniumIntelConnector({
        url: opencti.url,
        token: SIM_TOKEN,
        client,
        maxBackoffMs: MAX_BACKOFF_MS,
        batchSize: TANIUM_INTEL_BATCH_SIZE,
        connector: {
          scope: TANIUM_INTEL_SCOPE,
          queueThresholdMb: QUEUE_THRESHOLD_MB,
          id,
          name: "Tanium Threat Response Intel",
        },
        stream: { streamId: "live-indicators", recoverIsoDate: false, retryBaseMs: 5 },
        tanium: {
          ...TANIUM_INTEL_SWITCHES,
          autoOnDemandScan: false,
          url: tanium.url,
          consoleUrl: CONSOLE,
          token: TANIUM_SIM_TOKEN,
        },
        batchTimeoutMs: 10,
        quietHeartbeats: 2,
        now: () => NOW,
        random: () => 0,
        sleep: instantSleep,
        ...extra,
      }),
    incidents: () =>
      new TaniumIncidentsConnector(
        new TaniumClient({
          url: tanium.url,
          token: TANIUM_SIM_TOKEN,
          sleep: instantSleep,
          retry: { attempts: 2, baseMs: 1 },
        }),
        client,
        {
          ...TANIUM_INCIDENTS,
          scope: TANIUM_INCIDENTS_SCOPE,
          queueThresholdMb: QUEUE_THRESHOLD_MB,
          connectorId: "8ef3e1b8-6f0e-4f2a-9a53-3c1a1b3a6c11",
          consoleUrl: CONSOLE,
          importStartDate: "2024-01-01T00:00:00.000Z",
          now: () => NOW + 60_000,
          sleep: instantSleep,
          uuid: () => `00000000-0000-4000-8000-${String(++bundles).padStart(12, "0")}`,
        },
      ),
    indicator(id) {
      const found = opencti.store.get(id);
      if (!found) throw new Error(`OpenCTI has no ${id}`);
      return found;
    },
    async close() {
      await tanium.close();
      await opencti.close();
    },
  };
}

/** Runs `test` in a fresh {@linkcode intelWorld}, closed after. */
export async function inIntelWorld(
  test: (world: IntelWorld) => Promise<void>,
  options: { version?: string } = {},
): Promise<void> {
  const world = await intelWorld(options);
  try {
    await test(world);
  } finally {
    await world.close();
  }
}

/**
 * A sleep for a held batch: at the second backoff it records the connector's degraded reason and
 * check (`seen()`), then calls `heal` so the next try goes through.
 */
export function healOnSecondSleep(
  status: () => { degraded?: { reason?: string; check?: string } },
  heal: () => void,
): {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  seen(): { reason: string; check: string } | undefined;
} {
  let sleeps = 0;
  let seen: { reason: string; check: string } | undefined;
  return {
    sleep: (_ms, signal) => {
      signal?.throwIfAborted();
      if (++sleeps === 2) {
        const degraded = status().degraded;
        seen = { reason: degraded?.reason ?? "", check: String(degraded?.check) };
        heal();
      }
      return Promise.resolve();
    },
    seen: () => seen,
  };
}

/** A STIX indicator with the given pattern. */
export function indicator(
  n: number,
  patternType: string,
  pattern: string,
  extra: Record<string, unknown> = {},
): StixObject {
  return {
    type: "indicator",
    spec_version: "2.1",
    id: `indicator--00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    created: "2024-06-01T00:00:00.000Z",
    modified: "2024-06-01T00:00:00.000Z",
    name: `Indicator ${n}`,
    description: `Test indicator ${n}\nsecond line`,
    pattern_type: patternType,
    pattern,
    valid_from: "2024-06-01T00:00:00.000Z",
    labels: ["malware"],
    ...extra,
  };
}

/** A YARA rule. */
export const YARA = `rule Eicar_Test { strings: $a = "EICAR-STANDARD" condition: $a }`;
