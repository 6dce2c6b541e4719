/**
 * Every simulator the sentinel connector talks to, started together on loopback and wired to each
 * other (Entra tokens accepted by the Microsoft APIs), plus the comparisons that prove a sync:
 * what OpenCTI holds that the target should have, and what the target really holds.
 *
 * ```ts
 * const stack = await startSentinelStack({ target: "defender", opencti: { seed: true, heartbeatMs: 20 } });
 * const target = stack.createTarget();          // the configured target, pointed at the simulator
 * // … run a SentinelConnector with `target` …
 * assertEquals(stack.present().sort(), [...await stack.expected(now)].sort());
 * await stack.close();
 * ```
 *
 * @module
 */
// The production clients below are the code under test, wired to the simulators as main.ts wires
// them (createTarget). Nothing here derives an expectation from production code: what a target
// should hold comes from ./expected_records.ts (the simulator's own reading of the reference).
import { DefenderTarget, type DefenderTargetOptions } from "../microsoft/defender.ts";
import { GraphTarget, type GraphTargetOptions } from "../microsoft/graph.ts";
import { SentinelTarget, type SentinelTargetOptions } from "../microsoft/sentinel_stix_upload.ts";
import { SCOPES } from "../microsoft/scopes.ts";
import { TokenProvider } from "../microsoft/token_provider.ts";
import type { Now, Sleep } from "../runtime/clock.ts";
import type { Fetch } from "../runtime/http.ts";
import type { SyncTarget, TargetName } from "../microsoft/target.ts";
import type { StixObject } from "../stix/types.ts";
import { type DefenderSimOptions, type RunningDefenderSim, startDefenderSim } from "./defender.ts";
import { type EntraSim, startEntraSim } from "./entra.ts";
import {
  canonicalDefenderValue,
  expectedRecords,
  observablesOfObject,
  type RecordKey,
  sentinelValueOf,
} from "./expected_records.ts";
import { type GraphSimOptions, type RunningGraphSim, startGraphSim, TI_PATH } from "./graph.ts";
import { type OpenCtiSim, type OpenCtiSimOptions, startOpenCtiSim } from "./opencti.ts";
import { extensionOf } from "./opencti_store.ts";
import { DEFAULT_STREAM_ID, matches } from "./opencti_stream.ts";
import {
  ARM_TI_API_VERSION,
  DEFAULT_SIM_WORKSPACE,
  type RunningSentinelSim,
  type SentinelSimOptions,
  startSentinelSim,
  UPLOAD_API_VERSION,
} from "./sentinel.ts";

/**
 * The choices of the targets this stack wires (the stack's own, not read from the connector's
 * settings, which a simulator must not import): the seed's documented defaults (Graph's 1,000
 * requests a minute, `sourcesystem` "OpenCTI"), and Defender's block score 60 as the tests expect.
 */
const STACK_GRAPH_MAPPING = {
  targetProduct: "Azure Sentinel",
  confidenceLevel: 50,
  expireTimeDays: 30,
  passiveOnly: false,
} as const;

/**
 * The pace of each target this stack wires (its own, as above): the documented limits (Graph
 * 1,000 requests a minute, the Sentinel upload 100, Defender `import` 30).
 */
const STACK_PACE = { graph: 1000, sentinel: 100, defender: 30 } as const;

/** The mapping choices of the Defender target this stack wires (its own, as above). */
const STACK_DEFENDER_MAPPING = {
  blockScore: 60,
  expireTimeDays: 30,
  application: "OpenCTI",
} as const;

/** The Entra application the stack registers (test material, not a real tenant). */
export const STACK_APP = {
  tenantId: "9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d",
  clientId: "3f2e1d0c-b9a8-4765-9432-10fedcba9876",
  clientSecret: "sim-client-secret-value-0123456789",
} as const;

/** Options of {@linkcode startSentinelStack}. */
export interface SentinelStackOptions {
  /** Which Microsoft target simulator to start. @default "graph" */
  target?: TargetName;
  /** Options of the OpenCTI simulator. @default seed on, 5 s heartbeats */
  opencti?: OpenCtiSimOptions;
  /** Scales the targets' one-minute rate windows (0.01 → 600 ms). @default 1 */
  timeScale?: number;
  /** The stream collection whose filter {@linkcode SentinelStack.expected} applies. @default "live-indicators" */
  streamId?: string;
  /** Extra options of the Graph simulator. @default {} */
  graph?: Partial<Omit<GraphSimOptions, "verify">>;
  /** Extra options of the Sentinel simulator. @default {} */
  sentinel?: Partial<Omit<SentinelSimOptions, "verify">>;
  /** Extra options of the Defender simulator. @default {} */
  defender?: Partial<Omit<DefenderSimOptions, "verify">>;
}

export type { RecordKey };

/** Options of {@linkcode SentinelStack.createTarget}: injected I/O and per-target tuning. */
export interface StackTargetOptions {
  /** The fetch the target uses. @default globalThis.fetch */
  fetch?: Fetch;
  /** The target's clock (pacing, dates). @default Date.now */
  now?: Now;
  /** The target's sleep (pacing, backoff). @default a real timer */
  sleep?: Sleep;
  /** Random source for jitter. @default () => 0 (no jitter: deterministic tests) */
  random?: () => number;
  /** The token source. @default {@linkcode SentinelStack.tokens} */
  tokens?: TokenProvider;
  /** Graph target options (mapping, batch size, pacing…). @default Azure Sentinel product */
  graph?: Partial<Omit<GraphTargetOptions, "tokens" | "baseUrl">>;
  /** Sentinel target options (batch size, pacing, retry margin…). @default the simulator's workspace */
  sentinel?: Partial<Omit<SentinelTargetOptions, "tokens" | "apiUrl" | "managementUrl">>;
  /** Defender target options (batch size, pacing, thresholds…). @default {} */
  defender?: Partial<Omit<DefenderTargetOptions, "tokens" | "apiUrl">>;
}

/** The running simulators. */
export interface SentinelStack {
  /** The OpenCTI simulator. */
  opencti: OpenCtiSim;
  /** The Entra ID simulator. */
  entra: EntraSim;
  /** The target simulator's base URL. */
  targetUrl: string;
  /** Which target runs. */
  target: TargetName;
  /** Graph simulator, when the target is graph. */
  graph?: RunningGraphSim;
  /** Sentinel simulator, when the target is sentinel. */
  sentinel?: RunningSentinelSim;
  /** Defender simulator, when the target is defender. */
  defender?: RunningDefenderSim;
  /** A token provider for the stack's Entra application. */
  tokens(options?: { fetch?: Fetch }): TokenProvider;
  /** The target client for the running simulator, as main.ts would build it for that target. */
  createTarget(options?: StackTargetOptions): SyncTarget;
  /**
   * What the target should hold: one key per observable of every object OpenCTI's stream shows
   * (stream filter applied, revoked and expired removed), as the running target stores it
   * (Defender: its normalised values, without e-mail addresses and MD5 hashes).
   */
  expected(now: number): Promise<Set<RecordKey>>;
  /**
   * What the target simulator holds, one key per stored record (duplicates appear twice).
   * Sentinel: every observable of each non-revoked stored object; Defender: `externalID` and
   * value; Graph: `externalId` and value.
   */
  present(): RecordKey[];
  /** Stops every simulator. */
  close(): Promise<void>;
}

/** Starts OpenCTI, Entra ID and one Microsoft target simulator, wired together. */
export async function startSentinelStack(
  options: SentinelStackOptions = {},
): Promise<SentinelStack> {
  const target = options.target ?? "graph";
  const streamId = options.streamId ?? DEFAULT_STREAM_ID;
  const opencti = await startOpenCtiSim({ seed: true, ...options.opencti });
  const entra = await startEntraSim();
  entra.registerApp({
    tenantId: STACK_APP.tenantId,
    clientId: STACK_APP.clientId,
    secret: STACK_APP.clientSecret,
    roles: {
      // SecurityIncident.Read.All: the microsoft-incidents connector reads incidents with it.
      "https://graph.microsoft.com": [
        "ThreatIndicators.ReadWrite.OwnedBy",
        "SecurityIncident.Read.All",
      ],
      "https://management.azure.com": [],
      "https://api.securitycenter.microsoft.com": ["Ti.ReadWrite"],
    },
  });
  const timeScale = options.timeScale ?? 1;
  const verify = entra.verifyAccessToken;
  let sim: RunningGraphSim | RunningSentinelSim | RunningDefenderSim;
  let present: () => RecordKey[];
  let build: (tokens: TokenProvider, o: StackTargetOptions) => SyncTarget;
  const stack: Partial<SentinelStack> = {};
  switch (target) {
    case "graph": {
      const graph = startGraphSim({ timeScale, ...options.graph, verify });
      sim = stack.graph = graph;
      present = () =>
        graph.store().map((r) => `${String(r.fields.externalId)} ${graphValue(r.fields)}`);
      build = (tokens, o) =>
        new GraphTarget({
          tokens,
          mapping: STACK_GRAPH_MAPPING,
          rateLimitPerMinute: STACK_PACE.graph,
          scope: SCOPES.graph,
          requestPath: TI_PATH,
          ...io(o),
          ...o.graph,
          baseUrl: graph.url,
        });
      break;
    }
    case "sentinel": {
      const sentinel = startSentinelSim({ timeScale, ...options.sentinel, verify });
      sim = stack.sentinel = sentinel;
      present = () =>
        sentinel.store()
          .filter((row) => row.object.revoked !== true)
          .flatMap((row) => {
            const found = observablesOfObject(row.object as StixObject) ?? [];
            const values = new Set(found.map(sentinelValueOf));
            return [...values].map((value) => `${String(row.object.id)} ${value}`);
          });
      build = (tokens, o) =>
        new SentinelTarget({
          tokens,
          workspaceId: DEFAULT_SIM_WORKSPACE.workspaceId,
          subscriptionId: DEFAULT_SIM_WORKSPACE.subscriptionId,
          resourceGroup: DEFAULT_SIM_WORKSPACE.resourceGroup,
          workspaceName: DEFAULT_SIM_WORKSPACE.workspaceName,
          sourceSystem: "OpenCTI",
          scope: SCOPES.management,
          uploadApiVersion: UPLOAD_API_VERSION,
          armApiVersion: ARM_TI_API_VERSION,
          rateLimitPerMinute: STACK_PACE.sentinel,
          ...io(o),
          ...o.sentinel,
          apiUrl: sentinel.url,
          managementUrl: sentinel.url,
        });
      break;
    }
    case "defender": {
      const defender = startDefenderSim({ timeScale, ...options.defender, verify });
      sim = stack.defender = defender;
      present = () =>
        defender.store().map((r) => {
          const value = String(r.entity.indicatorValue);
          const canonical = canonicalDefenderValue(String(r.entity.indicatorType), value);
          return `${String(r.entity.externalID)} ${canonical ?? value}`;
        });
      build = (tokens, o) =>
        new DefenderTarget({
          tokens,
          ...STACK_DEFENDER_MAPPING,
          scope: SCOPES.defender,
          rateLimitPerMinute: STACK_PACE.defender,
          ...io(o),
          ...o.defender,
          apiUrl: defender.url,
        });
      break;
    }
  }
  const tokens = (o: { fetch?: Fetch } = {}) =>
    new TokenProvider({
      authority: entra.url,
      tenantId: STACK_APP.tenantId,
      clientId: STACK_APP.clientId,
      credential: { kind: "secret", secret: STACK_APP.clientSecret },
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
  return Object.assign(stack, {
    opencti,
    entra,
    targetUrl: sim.url,
    target,
    tokens,
    createTarget: (o: StackTargetOptions = {}) =>
      build(o.tokens ?? tokens(o.fetch ? { fetch: o.fetch } : {}), o),
    expected(now: number) {
      const keys = new Set<RecordKey>();
      const filter = opencti.control.stream.stream(streamId)?.filter;
      for (const object of opencti.store.list()) {
        if (extensionOf(object)?.is_inferred === true || !matches(filter, object)) continue;
        for (const key of expectedRecords(object, target, now)) keys.add(key);
      }
      return Promise.resolve(keys);
    },
    present: () => present(),
    async close() {
      await sim.close();
      await entra.close();
      await opencti.close();
    },
  });
}

function io(o: StackTargetOptions): {
  fetch?: Fetch;
  now?: Now;
  sleep?: Sleep;
  random: () => number;
} {
  return {
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.now ? { now: o.now } : {}),
    ...(o.sleep ? { sleep: o.sleep } : {}),
    random: o.random ?? (() => 0),
  };
}

/** The observable properties of a tiIndicator a record's value is read from (tiIndicator resource type, "Indicator observables"). */
const GRAPH_VALUE_FIELDS = [
  "networkIPv4",
  "networkIPv6",
  "networkCidrBlock",
  "domainName",
  "url",
  "emailSenderAddress",
  "fileHashValue",
] as const;

function graphValue(fields: Record<string, unknown>): string {
  for (const name of GRAPH_VALUE_FIELDS) {
    const value = fields[name];
    if (typeof value === "string") return name === "fileHashValue" ? value.toLowerCase() : value;
  }
  return "(no value)";
}
