/**
 * Every simulator the sentinel connector talks to, started together on loopback and wired to each
 * other (Entra tokens accepted by the Microsoft APIs), plus the comparisons that prove a sync:
 * what OpenCTI holds that the target should have, and what the target really holds.
 */
import { intentsOf } from "../sentinel/events.ts";
import type { TargetName } from "../sentinel/target.ts";
import { type EntraSim, startEntraSim } from "./entra.ts";
import { type RunningGraphSim, startGraphSim } from "./graph.ts";
import { type OpenCtiSim, type OpenCtiSimOptions, startOpenCtiSim } from "./opencti.ts";

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
}

/** One observable as a target should hold it: `<indicator id> <value>`. */
export type RecordKey = string;

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
  /** What OpenCTI's stream holds that the target should have (one key per observable). */
  expected(now: number): Promise<Set<RecordKey>>;
  /** What the target simulator holds, one key per stored record (duplicates appear twice). */
  present(): RecordKey[];
  /** Stops every simulator. */
  close(): Promise<void>;
}

/** Starts OpenCTI, Entra ID and one Microsoft target simulator, wired together. */
export async function startSentinelStack(
  options: SentinelStackOptions = {},
): Promise<SentinelStack> {
  const target = options.target ?? "graph";
  const opencti = await startOpenCtiSim({ seed: true, ...options.opencti });
  const entra = await startEntraSim();
  entra.registerApp({
    tenantId: STACK_APP.tenantId,
    clientId: STACK_APP.clientId,
    secret: STACK_APP.clientSecret,
    roles: {
      "https://graph.microsoft.com": ["ThreatIndicators.ReadWrite.OwnedBy"],
      "https://management.azure.com": [],
      "https://api.securitycenter.microsoft.com": ["Ti.ReadWrite"],
    },
  });
  const timeScale = options.timeScale ?? 1;
  const closers: (() => Promise<void>)[] = [];
  let targetUrl: string;
  let present: () => RecordKey[];
  let graph: RunningGraphSim | undefined;
  switch (target) {
    case "graph": {
      graph = startGraphSim({ verify: entra.verifyAccessToken, timeScale });
      const sim = graph;
      targetUrl = sim.url;
      closers.push(() => sim.close());
      present = () =>
        sim.store().map((r) => `${String(r.fields.externalId)} ${graphValue(r.fields)}`);
      break;
    }
    default:
      throw new Error(`target "${target}" is not wired in the simulator stack yet`);
  }
  const stack: SentinelStack = {
    opencti,
    entra,
    targetUrl,
    target,
    async expected(now: number) {
      const keys = new Set<RecordKey>();
      for (const object of opencti.store.list()) {
        for (const intent of intentsOf("create", { data: object }, { now })) {
          if (intent.kind !== "upsert") continue;
          for (const o of intent.indicator.observables) {
            keys.add(`${intent.indicator.id} ${o.value}`);
          }
        }
      }
      return keys;
    },
    present: () => present(),
    async close() {
      for (const close of closers) await close();
      await entra.close();
      await opencti.close();
    },
  };
  if (graph) stack.graph = graph;
  return stack;
}

const GRAPH_VALUE_FIELDS = [
  "networkIPv4",
  "networkIPv6",
  "domainName",
  "url",
  "emailSenderAddress",
  "fileHashValue",
] as const;

function graphValue(fields: Record<string, unknown>): string {
  for (const name of GRAPH_VALUE_FIELDS) {
    const value = fields[name];
    if (typeof value === "string") return value;
  }
  return "(no value)";
}
