/** Shared pieces of the Tanium tests: fixtures, reference vectors, sims wiring. */
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { type OpenCtiSim, SIM_TOKEN, startOpenCtiSim } from "../../src/sim/opencti.ts";
import {
  startTaniumSim,
  TANIUM_SIM_TOKEN,
  type TaniumSim,
  type TaniumSimOptions,
} from "../../src/sim/tanium.ts";
import { type OpenCtiTaniumSeed, seedOpenCtiForTanium } from "../../src/sim/tanium_seed.ts";
import { TaniumClient } from "../../src/tanium/client.ts";
import {
  TaniumIncidentsConnector,
  type TaniumIncidentsOptions,
} from "../../src/tanium/connector.ts";
import { type IntelDoc, readAlert, readIntel, type TaniumAlert } from "../../src/tanium/schemas.ts";
import type { StixObject } from "../../src/stix/types.ts";
import {
  QUEUE_THRESHOLD_MB,
  TANIUM_INCIDENTS,
  TANIUM_INCIDENTS_SCOPE,
} from "../fixtures/settings_defaults.ts";

/** The connector id used in the end-to-end tests. */
export const CONNECTOR_ID = "8ef3e1b8-6f0e-4f2a-9a53-3c1a1b3a6c11";
/** The console URL used in the tests. */
export const CONSOLE = "https://console.example.com";

/**
 * Ids of the reference alert's observables, incident, attack pattern and relationships
 * (`opencti.md` §5.3, Tanium import vectors, platform form); the microsoft-incidents tests use
 * them too.
 */
export const PLATFORM_VECTORS = {
  incident: "incident--61bb471e-f0d7-5655-aeab-1db7b64893f6",
  hostname: "hostname--ed78d00b-08f3-52ec-b5b3-ea85551426ca",
  ipv4: "ipv4-addr--cbd67181-b9f8-595b-8bc3-3971e34fa1cc",
  userBob: "user-account--024b1da8-87a0-5559-80f4-9ea8ee338b55",
  fileMd5: "file--4ff9b0c7-7989-540b-9abf-d59018de89b5",
  attackPattern: "attack-pattern--0b75beed-9a14-5c11-a84d-58bf05894394",
  hostnameRelated: "relationship--d6286a02-ec03-5ae5-94db-6c87932f90c9",
  uses: "relationship--048898b4-a713-596b-8562-f600c1a53a61",
} as const;

/** Ids of the reference alert's objects, with the Tanium author and TLP:RED. */
export const VECTORS = {
  author: "identity--f7691caa-c29a-510d-8c26-f81257631f98",
  ...PLATFORM_VECTORS,
  tlpRed: "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
} as const;

/** A sleep that returns at once (retries and schedules in tests never wait for real). */
export const instantSleep = (_ms: number, signal?: AbortSignal): Promise<void> => {
  signal?.throwIfAborted();
  return Promise.resolve();
};

/** Reads a fixture file as JSON. */
export async function fixture(name: string): Promise<unknown> {
  return JSON.parse(
    await Deno.readTextFile(new URL(`../fixtures/tanium/${name}`, import.meta.url)),
  ) as unknown;
}

/** The reference alert (fixture), read. */
export async function referenceAlert(): Promise<TaniumAlert> {
  const read = readAlert(await fixture("reference_alert.json"));
  if (!("alert" in read)) throw new Error(`fixture unreadable: ${read.malformed.problem}`);
  return read.alert;
}

/** The reference intel document (fixture), read. */
export async function referenceIntel(): Promise<IntelDoc> {
  return readIntel(await fixture("intel_700.json"));
}

/** Both simulators, clients, and a factory of connectors (a new one = a restart). */
export interface World {
  tanium: TaniumSim;
  opencti: OpenCtiSim;
  seed: OpenCtiTaniumSeed;
  openctiClient: OpenCtiClient;
  taniumClient: TaniumClient;
  /** A new connector instance (as after a restart). */
  connector(options?: Partial<TaniumIncidentsOptions>): TaniumIncidentsConnector;
  /** Bundles received by the OpenCTI simulator. */
  bundles(): StixObject[][];
  /** Stops both simulators. */
  close(): Promise<void>;
}

/** The OpenCTI client of the tests (no real waits, 2 attempts). */
export function openctiClientOf(opencti: OpenCtiSim): OpenCtiClient {
  return new OpenCtiClient({
    url: opencti.url,
    token: SIM_TOKEN,
    sleep: instantSleep,
    retry: { attempts: 2, baseMs: 1 },
  });
}

/** The Tanium client of the tests (no real waits, 3 attempts). */
export function taniumClientOf(tanium: TaniumSim): TaniumClient {
  return new TaniumClient({
    url: tanium.url,
    token: TANIUM_SIM_TOKEN,
    sleep: instantSleep,
    retry: { attempts: 3, baseMs: 1 },
  });
}

/**
 * A factory of connectors on these clients (a new one = a restart), with the tests' connector
 * id, console, start date, fixed clock and numbered bundle UUIDs; `openctiClient` may be a
 * factory for a fresh client per connector.
 */
export function connectorFactory(
  taniumClient: TaniumClient,
  openctiClient: OpenCtiClient | (() => OpenCtiClient),
  defaults: Partial<TaniumIncidentsOptions> = {},
): (options?: Partial<TaniumIncidentsOptions>) => TaniumIncidentsConnector {
  let bundleCounter = 0;
  return (options = {}) =>
    new TaniumIncidentsConnector(
      taniumClient,
      typeof openctiClient === "function" ? openctiClient() : openctiClient,
      {
        ...TANIUM_INCIDENTS,
        scope: TANIUM_INCIDENTS_SCOPE,
        queueThresholdMb: QUEUE_THRESHOLD_MB,
        connectorId: CONNECTOR_ID,
        consoleUrl: CONSOLE,
        importStartDate: "2023-01-01T00:00:00.000Z",
        now: () => Date.parse("2024-06-10T06:00:00.000Z"),
        sleep: instantSleep,
        uuid: () => `00000000-0000-4000-8000-${String(++bundleCounter).padStart(12, "0")}`,
        ...defaults,
        ...options,
      },
    );
}

/** Starts both simulators (OpenCTI seeded with the Tanium-linked indicators). */
export async function world(
  taniumOptions: TaniumSimOptions = {},
  connectorDefaults: Partial<TaniumIncidentsOptions> = {},
): Promise<World> {
  const tanium = startTaniumSim({ sleep: instantSleep, ...taniumOptions });
  const opencti = await startOpenCtiSim();
  const seed = await seedOpenCtiForTanium(opencti.store, { consoleUrl: CONSOLE });
  const openctiClient = openctiClientOf(opencti);
  const taniumClient = taniumClientOf(tanium);
  return {
    tanium,
    opencti,
    seed,
    openctiClient,
    taniumClient,
    connector: connectorFactory(taniumClient, openctiClient, connectorDefaults),
    bundles: () => opencti.control.graphql.bundles.map((b) => b.bundle.objects),
    async close() {
      await tanium.close();
      await opencti.close();
    },
  };
}
