/**
 * Throughput scenario on virtual time: a backlog in the OpenCTI live stream, synced by the whole
 * sentinel connector (catch-up run) to each Microsoft target simulator, everything in this
 * process on a {@linkcode VirtualClock}. Every answer (Entra, the target, OpenCTI's GraphQL) takes
 * a fixed simulated latency and CPU takes none, so the figures are the same on every run and
 * measure the pacing alone.
 *
 * Ceilings: a class of requests limited to `L` in any `W` window, sent one after another with
 * round trip `rtt`, needs at least `k·W + (n − k·L)·rtt` with `k = ceil(n/L) − 1`; an ARM token
 * bucket of `B` tokens refilled at `r`/s needs at least `(n − B)/r`. The run needs at least the
 * largest of these over its classes, and `R·rtt` for its `R` requests in all when sent one after
 * another (the connector keeps one flush in flight). `fraction_of_ceiling` = that time for the
 * fewest requests the documented batch sizes allow / simulated time taken;
 * `fraction_of_paced_ceiling` = the same for the requests the connector actually sent, against
 * the limits its clients pace to (it charges pacing, not lookups or batching choices).
 *
 * In the same run, against a fresh simulator: the upstream pattern (one token request and one
 * single-indicator request per observable, one after another, waiting out 429s), on a simulated
 * time budget, and for Defender the upstream synchronizer's (chunks of 500, BatchDelete then
 * import, no client pacing, Retry-After honoured on 429).
 *
 * @module
 */
import { DefenderTarget } from "../../src/microsoft/defender.ts";
import { importBody, toDefenderIndicators } from "../../src/microsoft/defender_mapping.ts";
import { GraphTarget } from "../../src/microsoft/graph.ts";
import { toTiIndicators } from "../../src/microsoft/graph_mapping.ts";
import { SentinelTarget } from "../../src/microsoft/sentinel_stix_upload.ts";
import {
  parseTryAgainMs,
  toSentinelObject,
  uploadBody,
} from "../../src/microsoft/sentinel_stix_mapping.ts";
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { parseRetryAfter } from "../../src/runtime/retry.ts";
import { SentinelConnector } from "../../src/sentinel/connector.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import type { SyncTarget, TargetIndicator, TargetName } from "../../src/microsoft/target.ts";
import { createDefenderSimApp } from "../../src/sim/defender.ts";
import { createEntraSimApp, type EntraSimApp } from "../../src/sim/entra.ts";
import { createGraphSimApp } from "../../src/sim/graph.ts";
import type { SeenRequest } from "../../src/sim/ms_common.ts";
import { createOpenCtiSimApp } from "../../src/sim/opencti.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { createSentinelSimApp, DEFAULT_SIM_WORKSPACE } from "../../src/sim/sentinel.ts";
import { AckRecorder } from "./ack_recorder.ts";
import {
  buildFrames,
  type BuildFramesOptions,
  buildHistory,
  catchUpFrom,
  type CatchUpHistory,
  type CatchUpMix,
  type CatchUpWorkload,
  type FrameWorkload,
} from "./frames.ts";
import { defenderRecordsOf, expectedKeys, sentinelObjectOf } from "./target_kinds.ts";
import { canonicalDefenderValue } from "../../src/sim/expected_records.ts";
import type { StixObject } from "../../src/stix/types.ts";
import type { MdeIndicatorType } from "../../src/sim/ms_tables.ts";
import { createFrameSource, type PoolEvent } from "./frame_server.ts";
import { round } from "./stats.ts";
import { type FetchApp, inProcessFetch, VirtualClock } from "./virtual_clock.ts";
import {
  DEFENDER_CLIENT,
  DEFENDER_MAPPING,
  GRAPH_CLIENT,
  GRAPH_MAPPING,
  GRAPH_RATE_LIMIT,
  MAX_BACKOFF_MS,
  QUEUE_THRESHOLD_MB,
  SENTINEL_CLIENT,
  SENTINEL_SCOPE,
  SOURCE_SYSTEM,
} from "../fixtures/settings_defaults.ts";

/** Throughput figures of one run (one target, one backlog). */
export interface ThroughputResult {
  /** The target API. */
  target: TargetName;
  /** The backlog: events per kind. */
  events: { create: number; update: number; revoke: number; delete: number };
  /** Indicators whose last event the target settled (acknowledged or refused for good). */
  indicators: number;
  /** Indicators acknowledged. */
  acknowledged: number;
  /** Indicators the target refused for good (e.g. Defender's MD5 rule). */
  refused: number;
  /** Simulated seconds from start to the last acknowledgement. */
  sim_seconds: number;
  /** Real seconds of the run (CPU of connector and simulators). */
  real_seconds: number;
  /** Events per simulated second. */
  events_per_s: number;
  /** Shortest possible time / time taken, for the fewest requests the batch sizes allow. */
  fraction_of_ceiling: number;
  /** Shortest possible time / time taken, for the requests sent, at the clients' own pacing. */
  fraction_of_paced_ceiling: number;
  /** Shortest possible simulated seconds (fewest requests, documented limits). */
  ceiling_seconds: number;
  /** Requests per class: sent (429s included), the fewest the batch sizes allow, 429s. */
  requests: Record<string, { sent: number; fewest: number; http_429: number }>;
  /** Token requests to Entra ID. */
  token_requests: number;
  /** 429 answers in all. */
  http_429: number;
  /** 429 answers after the first simulated minute (warm-up). */
  http_429_after_warmup: number;
  /** Real CPU µs per indicator of the whole run (connector + in-process simulators). */
  run_cpu_us_per_event: number;
  /** The upstream pattern, one token and one request per observable. */
  baseline?: {
    events: number;
    events_per_s: number;
    requests: number;
    http_429: number;
    sim_seconds: number;
  };
  /** `events_per_s / baseline.events_per_s`. */
  speedup_vs_baseline?: number;
  /** The upstream Defender synchronizer's pattern (chunks of 500, deletes then imports). */
  synchronizer?: {
    events_per_s: number;
    requests: number;
    http_429: number;
    sim_seconds: number;
  };
  /** `events_per_s / synchronizer.events_per_s`. */
  speedup_vs_synchronizer?: number;
  /** CPU µs per indicator for mapping + serialisation + client bookkeeping (set by main). */
  cpu_us_per_indicator?: number;
  /** The limits the run is measured against. */
  limit: string;
  /** Catch-up runs: indicators the target held before the backlog (filled in, not measured). */
  held?: number;
  /**
   * Catch-up runs: the target's records at the end against the generator's ground truth (every
   * indicator's final state): expected, present, and expected but missing (lost), present but not
   * expected (extra: a delete or revoke not carried out), held twice (duplicates), or holding an
   * older version (stale).
   */
  end_state?: EndState;
}

/** A target's records after a run against what the generator's ground truth says they should be. */
export interface EndState {
  /** Records the final states ask for. */
  expected: number;
  /** Records the target holds for this connector. */
  present: number;
  /** Expected but not held. */
  lost: number;
  /** Held but not expected (a delete or revoke not carried out, or a stray record). */
  extra: number;
  /** Held more than once. */
  duplicates: number;
  /** Held with an older version (Sentinel: `modified`; Defender: `description`). */
  stale: number;
}

/** Options of {@linkcode throughputScenario}. */
export interface ThroughputOptions {
  /** Reduced backlogs (each limit still binds for at least two windows). @default false */
  quick?: boolean;
  /** Simulated latency of every answer, in ms. @default 50 */
  latencyMs?: number;
  /** Runs to do (names of {@linkcode RUNS}). @default all */
  runs?: string[];
}

/** Simulated start of every run (fixed, so runs are identical). */
export const VIRTUAL_START = Date.parse("2026-06-01T00:00:00.000Z");
const WINDOW = 60_000;

/** The bench's Entra app. */
export const APP = {
  tenantId: "9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d",
  clientId: "3f2e1d0c-b9a8-4765-9432-10fedcba9876",
  secret: "bench-client-secret-value-0123456789",
};
const BASELINE_APP = { ...APP, clientId: "7d6c5b4a-3928-4170-8a9b-c0d1e2f3a4b5" };
const ROLES = {
  "https://graph.microsoft.com": ["ThreatIndicators.ReadWrite.OwnedBy"],
  "https://management.azure.com": [],
  "https://api.securitycenter.microsoft.com": ["Ti.ReadWrite"],
};
// In-process simulators: no socket is opened on these (loopback) addresses.
/** In-process simulator origins. */
export const HOSTS = {
  entra: "http://127.0.0.1:1",
  opencti: "http://127.0.0.1:2",
  stream: "http://127.0.0.1:3",
  graph: "http://127.0.0.1:4",
  sentinel: "http://127.0.0.1:5",
  defender: "http://127.0.0.1:6",
};

/** A documented limit on one class of requests. */
interface RequestClass {
  /** Matches the simulator's record of a request. */
  match(request: SeenRequest): boolean;
  /** Shortest time for `n` of them sent one after another, by the documented limit. */
  documented(n: number, rtt: number): number;
  /** The same at the pace the client keeps. */
  paced(n: number, rtt: number): number;
  /** The fewest of them the batch sizes allow for this backlog. */
  fewest(b: BacklogFacts): number;
  /** Classes paced by one client limiter share a group (their counts add up). @default own */
  pacedGroup?: string;
}

/** What a backlog asks of a target, in indicators. */
interface BacklogFacts {
  /** Indicators to create or update (last event). */
  upserts: number;
  /** Records those map to (Graph records, Defender observables; Sentinel: objects). */
  records: number;
  /** Indicators to remove (deletes; revokes where the target deletes them). */
  removals: number;
  /** Records the removals delete (Defender: one id each in a BatchDelete). */
  removalObservables: number;
  /** Records the target held before the run (Defender lists them once to find removals). */
  heldRecords: number;
}

/** The shortest time `n` sequential requests take under `limit` per `windowMs`. */
export function idealMs(n: number, limit: number, windowMs: number, rttMs: number): number {
  if (n <= 0) return 0;
  const k = Math.ceil(n / limit) - 1;
  return Math.max(n * rttMs, k * windowMs + (n - k * limit) * rttMs);
}

/** The shortest time `n` sequential requests take from a token bucket (`bucket`, `perSecond`). */
export function bucketMs(n: number, bucket: number, perSecond: number, rttMs: number): number {
  return Math.max(n * rttMs, ((n - bucket) / perSecond) * 1000);
}

const windowClass = (
  match: (r: SeenRequest) => boolean,
  limits: { documented: [number, number][]; paced?: [number, number][] },
  fewest: (b: BacklogFacts) => number,
): RequestClass => ({
  match,
  documented: (n, rtt) =>
    Math.max(...limits.documented.map(([limit, windowMs]) => idealMs(n, limit, windowMs, rtt))),
  paced: (n, rtt) =>
    Math.max(
      ...(limits.paced ?? limits.documented).map(([limit, windowMs]) =>
        idealMs(n, limit, windowMs, rtt)
      ),
    ),
  fewest,
});

/** One target simulator and how to reach it. */
export interface World {
  app: FetchApp;
  scope: string;
  limitText: string;
  classes: Record<string, RequestClass>;
  requests(): SeenRequest[];
  target(tokens: TokenProvider, fetch: typeof globalThis.fetch, clock: VirtualClock): SyncTarget;
  singleRequests(item: TargetIndicator, now: number): { url: string; body: string }[];
  /** Stores what the stream's history left for these indicators, straight into the simulator. */
  prefill?(held: readonly StixObject[]): void;
  /** The records held at the end against what each indicator's final state asks. */
  endState?(truth: CatchUpWorkload["truth"]): EndState;
  /**
   * Stores what the target's `upsert` of these indicators (into an empty store) writes: the records
   * its mapper makes with the options given here, as sent (JSON), through the simulator's own
   * parsing and checks, without HTTP (the reconcile bench's drifted starting state).
   */
  seedWritten(items: readonly TargetIndicator[], now: number): void;
}

/** The bench's app as the simulators see it (the owner of what the target writes). */
const OWNER = { appid: APP.clientId, tid: APP.tenantId };

/** What goes over the wire: a JSON round trip. */
function wire(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** The simulator, limits and target of one target API. */
export function world(name: TargetName, entra: EntraSimApp, clock: VirtualClock): World {
  const simClock = { now: clock.now, sleep: clock.sleep, verify: entra.verifyAccessToken };
  switch (name) {
    case "graph": {
      const sim = createGraphSimApp(simClock);
      return {
        app: sim.app,
        scope: "https://graph.microsoft.com/.default",
        limitText: "1,000 requests/min per app (every tiIndicators call), 100 records per request",
        classes: {
          tiIndicators: windowClass(
            () => true,
            { documented: [[1000, WINDOW]] },
            (b) => Math.ceil(b.records / 100) + Math.ceil(b.removals / 100),
          ),
        },
        requests: () => sim.requests,
        seedWritten: (items, now) =>
          sim.seedSubmitted(
            items.flatMap((item) =>
              toTiIndicators(item, { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel", now })
                .records.map(wire)
            ),
            OWNER,
          ),
        target: (tokens, fetch) =>
          new GraphTarget({
            ...GRAPH_CLIENT,
            rateLimitPerMinute: GRAPH_RATE_LIMIT,
            fetch,
            now: clock.now,
            sleep: clock.sleep,
            tokens,
            mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
            baseUrl: HOSTS.graph,
            scope: "https://graph.microsoft.com/.default",
            // SENTINEL_BATCH_SIZE=2000, the Graph maximum (README "Performance"): submits of 100
            // records go out full although an indicator may map to several records.
            maxBatch: 2000,
          }),
        singleRequests: (item, now) =>
          toTiIndicators(item, { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel", now }).records
            .map((
              record,
            ) => ({
              url: `${HOSTS.graph}/beta/security/tiIndicators`,
              body: JSON.stringify(record),
            })),
      };
    }
    case "sentinel": {
      const sim = createSentinelSimApp(simClock);
      const ws = DEFAULT_SIM_WORKSPACE;
      const upload = `${HOSTS.sentinel}/workspaces/${ws.workspaceId}/` +
        `threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview`;
      const isUpload = (r: SeenRequest) => r.path.endsWith(":upload");
      return {
        app: sim.app,
        scope: "https://management.azure.com/.default",
        limitText: "upload 100 requests/min x 100 objects; ARM query (write) and DELETE: " +
          "token buckets of 200, refilled 10/s, per principal (the client keeps the same buckets)",
        classes: {
          upload: windowClass(
            isUpload,
            { documented: [[100, WINDOW]] },
            (b) => Math.ceil(b.records / 100),
          ),
          arm_query: {
            match: (r) => !isUpload(r) && r.method === "POST",
            documented: (n, rtt) => bucketMs(n, 200, 10, rtt),
            paced: (n, rtt) => bucketMs(n, 200, 10, rtt),
            // The query's "values" take a list: 100 ids per query.
            fewest: (b) => Math.ceil(b.removals / 100),
          },
          arm_delete: {
            match: (r) => r.method === "DELETE",
            documented: (n, rtt) => bucketMs(n, 200, 10, rtt),
            paced: (n, rtt) => bucketMs(n, 200, 10, rtt),
            // No bulk delete: one DELETE per stored row, for the rows held before the run whose
            // indicator the backlog removes (one created and deleted in the backlog needs none).
            fewest: (b) => b.removals,
          },
        },
        requests: () => sim.requests,
        prefill: (held) => {
          for (const object of held) {
            if (expectedKeys(object, "sentinel", VIRTUAL_START).length === 0) continue;
            sim.seed(sentinelObjectOf(object), SOURCE_SYSTEM, ws.workspaceId);
          }
        },
        endState: (truth) =>
          compare(
            truth,
            "sentinel",
            sim.store().filter((row) => row.source === SOURCE_SYSTEM).map((row) => {
              const o = row.object;
              return {
                key: `${String(o.id)} ${o.revoked === true ? "revoked" : "live"}`,
                // A revoked object is uploaded with a fresh `modified`; a live one as it is.
                version: o.revoked === true ? undefined : String(o.modified),
              };
            }),
            (last) => last.revoked === true ? undefined : String(last.modified),
          ),
        target: (tokens, fetch) =>
          new SentinelTarget({
            ...SENTINEL_CLIENT,
            sourceSystem: SOURCE_SYSTEM,
            fetch,
            now: clock.now,
            sleep: clock.sleep,
            tokens,
            workspaceId: ws.workspaceId,
            apiUrl: HOSTS.sentinel,
            managementUrl: HOSTS.sentinel,
            subscriptionId: ws.subscriptionId,
            resourceGroup: ws.resourceGroup,
            workspaceName: ws.workspaceName,
          }),
        singleRequests: (item, now) => {
          const mapped = toSentinelObject(item, { now });
          return mapped.ok ? [{ url: upload, body: uploadBody("OpenCTI", [mapped.object]) }] : [];
        },
        seedWritten: (items, now) =>
          sim.seedUploaded(
            items.flatMap((item) => {
              const mapped = toSentinelObject(item, { now });
              return mapped.ok ? [wire(mapped.object)] : [];
            }),
            SOURCE_SYSTEM,
            { appid: APP.clientId, workspaceId: ws.workspaceId },
          ),
      };
    }
    case "defender": {
      // The tenant cap (15,000) is raised so a large backlog measures pacing, not the cap.
      const sim = createDefenderSimApp({ ...simClock, tenantCap: 10_000_000 });
      return {
        app: sim.app,
        scope: "https://api.securitycenter.microsoft.com/.default",
        limitText: "import and BatchDelete 30 calls/min x 500; list 100 calls/min and 1,500/h " +
          "(tenant cap raised)",
        classes: {
          import: windowClass(
            (r) => r.path.endsWith("/import"),
            { documented: [[30, WINDOW]] },
            (b) => Math.ceil(b.records / 500),
          ),
          batch_delete: {
            ...windowClass(
              (r) => r.path.endsWith("/BatchDelete"),
              { documented: [[30, WINDOW], [1500, 3_600_000]] },
              (b) => Math.ceil(b.removalObservables / 500),
            ),
            // The records held before the run whose indicator the backlog removes (one created
            // and deleted in the backlog needs none).
            fewest: (b) => Math.ceil(b.removalObservables / 500),
          },
          list: windowClass(
            (r) => r.method === "GET" || r.method === "DELETE",
            { documented: [[100, WINDOW], [1500, 3_600_000]] },
            // One listing of the app's own indicators (10,000 a page) finds every id to delete.
            (b) => (b.removals > 0 ? Math.ceil(b.heldRecords / 10_000) : 0),
          ),
        },
        requests: () => sim.requests,
        prefill: (held) => {
          for (const object of held) {
            for (const record of defenderRecordsOf(object, VIRTUAL_START)) {
              sim.seed({
                ...record,
                indicatorType: record.indicatorType as MdeIndicatorType,
                externalID: object.id,
                application: DEFENDER_MAPPING.application,
                title: String(object.name),
                description: String(object.description ?? ""),
                action: "Audit",
              }, OWNER);
            }
          }
        },
        endState: (truth) =>
          compare(
            truth,
            "defender",
            sim.store().filter((r) => r.entity.createdBy === APP.clientId).map((r) => {
              const value = String(r.entity.indicatorValue);
              const type = String(r.entity.indicatorType);
              return {
                key: `${String(r.entity.externalID)} ${
                  canonicalDefenderValue(type, value) ?? value
                }`,
                version: String(r.entity.description),
              };
            }),
            // Descriptions up to 99 characters are sent as they are (longer ones are cut).
            (last) => {
              const text = typeof last.description === "string" ? last.description.trim() : "";
              return text !== "" && text.length <= 99 ? text : undefined;
            },
          ),
        target: (tokens, fetch) =>
          new DefenderTarget({
            ...DEFENDER_CLIENT,
            ...DEFENDER_MAPPING,
            fetch,
            now: clock.now,
            sleep: clock.sleep,
            tokens,
            apiUrl: HOSTS.defender,
          }),
        singleRequests: (item, now) =>
          toDefenderIndicators(item, { ...DEFENDER_MAPPING, now }).records.map((
            record,
          ) => ({
            url: `${HOSTS.defender}/api/indicators`,
            body: JSON.stringify(record),
          })),
        seedWritten: (items, now) =>
          sim.seedImported(
            items.flatMap((item) =>
              toDefenderIndicators(item, { ...DEFENDER_MAPPING, now }).records.map(wire)
            ),
            OWNER,
          ),
      };
    }
  }
}

/** A backlog: frames made on demand from a pool, optionally made distinct by index. */
interface Backlog {
  name: string;
  pool: PoolEvent[];
  total: number;
  variant?: (data: string, index: number) => string;
  /** Events per kind (revokes are updates and creates of revoked indicators). */
  events: ThroughputResult["events"];
  /** Last event of each distinct indicator, as target items (for the upstream baselines). */
  finals: Map<string, { kind: "upsert" | "remove"; item: TargetIndicator | undefined }>;
  /** Creates runs: the distinct objects created (one pool's worth; copies differ by id only). */
  objects?: StixObject[];
  /** Catch-up runs: what the target held before, and the generator's ground truth. */
  catchUp?: CatchUpWorkload;
}

/** One configured run. */
interface RunSpec {
  target: TargetName;
  backlog: (quick: boolean) => Promise<Backlog>;
  baseline: boolean;
}

const STIX_ID = /"id":"(indicator--[0-9a-f-]{36})"/;

const frameCache = new Map<string, Promise<FrameWorkload>>();

/** {@linkcode buildFrames}, once per set of arguments in this process. */
function framesOnce(n: number, seed: number, options: BuildFramesOptions): Promise<FrameWorkload> {
  const key = JSON.stringify([n, seed, options]);
  let workload = frameCache.get(key);
  if (workload === undefined) frameCache.set(key, workload = buildFrames(n, seed, options));
  return workload;
}

/** Creates of distinct live indicators: `total` frames from a pool of `poolSize`, ids made unique. */
async function createsBacklog(total: number, poolSize: number): Promise<Backlog> {
  const built = await framesOnce(Math.ceil(poolSize * 1.1), 20, {
    createShare: 1,
    time: VIRTUAL_START - 3_600_000,
  });
  const pool: PoolEvent[] = [];
  for (const data of built.data) {
    if (pool.length >= poolSize) break;
    const intents = intentsOf("create", JSON.parse(data), { now: VIRTUAL_START });
    // Live, mappable indicators only: revoked and expired ones cost lookups, not uploads
    // (measured by the mixes).
    if (intents.some((i) => i.kind !== "upsert")) continue;
    pool.push({ event: "create", data });
  }
  const ids = pool.map((p) => STIX_ID.exec(p.data)?.[1] ?? "");
  const variant = total <= pool.length ? undefined : (data: string, index: number) => {
    const id = ids[index % pool.length] as string;
    if (index < pool.length || id === "") return data;
    return data.replaceAll(id, id.slice(0, 35) + index.toString(16).padStart(12, "0"));
  };
  const finals: Backlog["finals"] = new Map();
  const objects: StixObject[] = [];
  for (let i = 0; i < Math.min(total, pool.length); i++) {
    const data = (pool[i] as PoolEvent).data;
    objects.push((JSON.parse(data) as { data: StixObject }).data);
    // The upstream baselines send these items (the floors come from `objects`, not from here).
    for (const intent of intentsOf("create", JSON.parse(data), { now: VIRTUAL_START })) {
      if (intent.kind === "upsert") {
        finals.set(intent.indicator.id, { kind: "upsert", item: intent.indicator });
      }
    }
  }
  return {
    name: "creates",
    pool,
    total,
    ...(variant ? { variant } : {}),
    events: { create: total, update: 0, revoke: 0, delete: 0 },
    finals,
    objects,
  };
}

/** The last history built, for the next backlog of the same size (held indicators shared). */
let lastHistory: { key: string; history: Promise<CatchUpHistory> } | undefined;

/**
 * A catch-up backlog (issue 14): the target first holds what the stream's history left for `held`
 * indicators (filled into the simulator, not measured), then the connector reads `events`
 * creates, updates, revokes and deletes in the shares of `mix`, touching those and new ones.
 */
async function catchUpBacklog(
  name: string,
  { held, events }: { held: number; events: number },
  mix: CatchUpMix,
): Promise<Backlog> {
  const key = JSON.stringify([held, events]);
  if (lastHistory?.key !== key) {
    const history = buildHistory(31, { held, events, time: VIRTUAL_START - 3_600_000 });
    lastHistory = { key, history };
  }
  const workload = catchUpFrom(await lastHistory.history, { events, mix });
  const pool = workload.data.map((data, index) => ({
    event: /^id: [^\n]*\nevent: (\w+)/.exec(workload.frames[index] as string)?.[1] ?? "create",
    data,
  }));
  return {
    name,
    pool,
    total: pool.length,
    events: { ...workload.counts },
    finals: new Map(),
    catchUp: workload,
  };
}

/** Update-heavy: 30% creates, 55% updates, 5% revokes, 10% deletes. */
const UPDATE_HEAVY: CatchUpMix = { create: 0.3, update: 0.55, revoke: 0.05, delete: 0.1 };
/** Delete-heavy: 15% creates, 15% updates, 5% revokes, 65% deletes. */
const DELETE_HEAVY: CatchUpMix = { create: 0.15, update: 0.15, revoke: 0.05, delete: 0.65 };

/** The runs, by name. Backlog sizes make each limit bind for several windows. */
export const RUNS: Record<string, RunSpec> = {
  // 1,000 req/min x 100 records: the client writes from its index without lookups, so 60,000
  // creates need 632 requests, under one window (Graph's floor is round trips, not its limit);
  // the quick run's 30,000 are enough that the start (token, listing) weighs under 3%.
  graph: {
    target: "graph",
    backlog: (quick) => createsBacklog(quick ? 30_000 : 60_000, quick ? 4_000 : 8_000),
    baseline: true,
  },
  // 100 req/min x 100: 10,000 objects a minute.
  sentinel: {
    target: "sentinel",
    backlog: (quick) => createsBacklog(quick ? 15_000 : 45_000, quick ? 4_000 : 8_000),
    baseline: true,
  },
  // 30 calls/min x 500: 15,000 records a minute. Copies of the pool differ by id only and
  // Defender keys its records by value, so two copies read in one call (the pump reads up to
  // 4,000 indicators ahead, more frames with the ones Defender cannot take) would merge into one
  // record: the pool is twice the read-ahead.
  defender: {
    target: "defender",
    backlog: (quick) => createsBacklog(quick ? 32_000 : 64_000, 8_000),
    baseline: true,
  },
  // Catch-up mixes against a filled target: uploads (100/min x 100) and ARM's DELETE bucket
  // (200, then 10/s) bind for several windows.
  sentinel_update_heavy: {
    target: "sentinel",
    backlog: (quick) =>
      catchUpBacklog(
        "update-heavy",
        quick ? { held: 10_000, events: 10_000 } : { held: 30_000, events: 30_000 },
        UPDATE_HEAVY,
      ),
    baseline: false,
  },
  sentinel_delete_heavy: {
    target: "sentinel",
    backlog: (quick) =>
      catchUpBacklog(
        "delete-heavy",
        quick ? { held: 10_000, events: 10_000 } : { held: 30_000, events: 30_000 },
        DELETE_HEAVY,
      ),
    baseline: false,
  },
  // Import and BatchDelete (30 calls/min x 500) bind for several windows.
  defender_update_heavy: {
    target: "defender",
    backlog: (quick) =>
      catchUpBacklog(
        "update-heavy",
        quick ? { held: 26_000, events: 28_000 } : { held: 90_000, events: 100_000 },
        UPDATE_HEAVY,
      ),
    baseline: false,
  },
  defender_delete_heavy: {
    target: "defender",
    backlog: (quick) =>
      catchUpBacklog(
        "delete-heavy",
        quick ? { held: 26_000, events: 28_000 } : { held: 90_000, events: 100_000 },
        DELETE_HEAVY,
      ),
    baseline: false,
  },
};

/** Routes a fetch by host to in-process apps, each answer after `latencyMs` simulated ms. */
export function router(
  apps: Record<string, FetchApp>,
  clock: VirtualClock,
  latencyMs: number,
  onAnswer: (host: string, ms: number) => void,
): typeof fetch {
  const fetches = new Map<string, typeof fetch>();
  for (const [origin, app] of Object.entries(apps)) {
    fetches.set(
      new URL(origin).host,
      inProcessFetch(app, clock, latencyMs, (ms) => onAnswer(origin, ms)),
    );
  }
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const host = new URL(url).host;
    const target = fetches.get(host);
    if (!target) return Promise.reject(new TypeError(`No simulator at ${host}`));
    return target(input, init);
  };
}

/** An Entra simulator with the bench's apps registered. */
export async function newEntra(clock: VirtualClock): Promise<EntraSimApp> {
  const entra = createEntraSimApp({ now: clock.now, sleep: clock.sleep });
  await entra.jwks();
  for (const app of [APP, BASELINE_APP]) entra.registerApp({ ...app, roles: ROLES });
  return entra;
}

async function runOne(
  quick: boolean,
  name: string,
  spec: RunSpec,
  backlog: Backlog,
  latencyMs: number,
  notes: string[],
): Promise<ThroughputResult> {
  const clock = new VirtualClock(VIRTUAL_START);
  const entra = await newEntra(clock);
  const w = world(spec.target, entra, clock);
  if (backlog.catchUp) w.prefill?.(backlog.catchUp.held);
  const opencti = await createOpenCtiSimApp({ now: clock.now, sleep: clock.sleep });
  const source = createFrameSource({
    pool: backlog.pool,
    total: backlog.total,
    heartbeatMs: 1000,
    sleep: clock.sleep,
    ...(backlog.variant ? { variant: backlog.variant } : {}),
  });
  // The stream is served in-process with no latency on its chunks (the supply is not measured).
  const streamFetch: typeof fetch = (input, init) =>
    Promise.resolve(source.handle(new Request(input, init)));
  const fetchApi = router(
    { [HOSTS.opencti]: opencti.app },
    clock,
    latencyMs,
    () => {},
  );
  const apiFetch = router(
    { [HOSTS.entra]: entra.app, [targetHost(spec.target)]: w.app },
    clock,
    latencyMs,
    () => {},
  );
  const tokens = new TokenProvider({
    authority: HOSTS.entra,
    tenantId: APP.tenantId,
    clientId: APP.clientId,
    credential: { kind: "secret", secret: APP.secret },
    fetch: apiFetch,
    now: clock.now,
    sleep: clock.sleep,
  });
  const target = new AckRecorder(w.target(tokens, apiFetch, clock), clock.now);
  const connector = new SentinelConnector({
    url: HOSTS.stream,
    token: SIM_TOKEN,
    client: new OpenCtiClient({ url: HOSTS.opencti, token: SIM_TOKEN, fetch: fetchApi }),
    maxBackoffMs: MAX_BACKOFF_MS,
    connector: {
      scope: SENTINEL_SCOPE,
      queueThresholdMb: QUEUE_THRESHOLD_MB,
      id: "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
      name: "Throughput bench",
    },
    stream: { streamId: "live-indicators" },
    target,
    quietHeartbeats: 3,
    catchUpBudgetMs: 24 * 3_600_000,
    fetch: streamFetch,
    now: clock.now,
    sleep: clock.sleep,
    setTimer: clock.setTimer,
    random: seeded(7),
  });
  const realStart = performance.now();
  await clock.run(() => connector.runOnce());
  const realMs = performance.now() - realStart;
  source.abortAll();
  const simMs = target.lastAckAt - VIRTUAL_START;
  const seen = w.requests().filter((r) => r.at >= VIRTUAL_START);
  const facts = factsOf(backlog, spec.target);
  const requests: ThroughputResult["requests"] = {};
  let fewestTotal = 0;
  let ceilingMs = 0;
  let pacedMs = 0;
  const groups = new Map<string, { n: number; rule: RequestClass }>();
  for (const [cls, rule] of Object.entries(w.classes)) {
    const mine = seen.filter((r) => rule.match(r));
    const sent = mine.filter((r) => r.status !== 429).length;
    const fewest = rule.fewest(facts);
    fewestTotal += fewest;
    requests[cls] = { sent: mine.length, fewest, http_429: mine.length - sent };
    ceilingMs = Math.max(ceilingMs, rule.documented(fewest, latencyMs));
    const group = groups.get(rule.pacedGroup ?? cls) ?? { n: 0, rule };
    group.n += sent;
    groups.set(rule.pacedGroup ?? cls, group);
  }
  for (const { n, rule } of groups.values()) pacedMs = Math.max(pacedMs, rule.paced(n, latencyMs));
  const sentTotal = seen.filter((r) => r.status !== 429).length;
  ceilingMs = Math.max(ceilingMs, fewestTotal * latencyMs);
  pacedMs = Math.max(pacedMs, sentTotal * latencyMs);
  const http429 = seen.filter((r) => r.status === 429);
  const tokenRequests = entra.control.requests().filter((r) => r.clientId === APP.clientId);
  const totalEvents = backlog.total;
  const result: ThroughputResult = {
    target: spec.target,
    events: backlog.events,
    indicators: target.acked.size + target.failed.size,
    acknowledged: target.acked.size,
    refused: target.failed.size,
    sim_seconds: round(simMs / 1000, 1),
    real_seconds: round(realMs / 1000, 1),
    events_per_s: round(totalEvents / (simMs / 1000), 1),
    fraction_of_ceiling: round(ceilingMs / simMs, 3),
    fraction_of_paced_ceiling: round(pacedMs / simMs, 3),
    ceiling_seconds: round(ceilingMs / 1000, 1),
    requests,
    token_requests: tokenRequests.length,
    http_429: http429.length,
    http_429_after_warmup: http429.filter((r) => r.at > VIRTUAL_START + WINDOW).length,
    run_cpu_us_per_event: round((realMs * 1000) / totalEvents, 1),
    limit: w.limitText,
  };
  if (backlog.catchUp) {
    result.held = backlog.catchUp.held.length;
    if (w.endState) {
      const end = w.endState(backlog.catchUp.truth);
      result.end_state = end;
      if (end.lost + end.extra + end.duplicates + end.stale > 0) {
        notes.push(`throughput.${name}: end state differs from the truth: ${JSON.stringify(end)}`);
      }
    }
  }
  if (target.failed.size > 0) {
    const reasons = new Map<string, number>();
    for (const reason of target.failed.values()) {
      const key = reason.slice(0, 80);
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
    notes.push(
      `throughput.${name}: ${target.failed.size} refused: ${
        [...reasons].slice(0, 3).map(([r, n]) => `${n} x ${r}`).join("; ")
      }`,
    );
  }
  if (spec.baseline) {
    if (backlog.name === "creates") {
      const b = await runUpstream(spec.target, backlog, latencyMs, quick ? 120_000 : 600_000);
      result.baseline = b;
      result.speedup_vs_baseline = round(result.events_per_s / b.events_per_s, 1);
    }
    if (spec.target === "defender") {
      const s = await runSynchronizer(backlog, latencyMs);
      result.synchronizer = s;
      result.speedup_vs_synchronizer = round(result.events_per_s / s.events_per_s, 2);
    }
  }
  return result;
}

function targetHost(target: TargetName): string {
  return HOSTS[target];
}

/**
 * What the backlog asks of the target, from the generator's ground truth and the target's kinds
 * (`target_kinds.ts`), never from the connector's mappers: a catch-up run writes each indicator
 * its backlog touched whose final state the target holds, and removes what it held for each one
 * whose final state it does not; a creates run writes every indicator.
 */
function factsOf(backlog: Backlog, target: TargetName): BacklogFacts {
  const facts: BacklogFacts = {
    upserts: 0,
    records: 0,
    removals: 0,
    removalObservables: 0,
    heldRecords: 0,
  };
  if (backlog.catchUp) {
    for (const truth of backlog.catchUp.truth.values()) {
      const before = truth.held ? expectedKeys(truth.before, target, VIRTUAL_START) : [];
      facts.heldRecords += before.length;
      if (truth.events === 0) continue;
      const after = truth.state === "deleted"
        ? []
        : expectedKeys(truth.last, target, VIRTUAL_START);
      if (after.length > 0) {
        facts.upserts++;
        facts.records += after.length;
      } else if (before.length > 0) {
        facts.removals++;
        facts.removalObservables += before.length;
      }
    }
    return facts;
  }
  const scale = backlog.total / Math.max(1, Math.min(backlog.total, backlog.pool.length));
  for (const object of backlog.objects ?? []) {
    const keys = expectedKeys(object, target, VIRTUAL_START).length;
    if (keys === 0) continue;
    facts.upserts++;
    facts.records += keys;
  }
  facts.upserts = Math.round(facts.upserts * scale);
  facts.records = Math.round(facts.records * scale);
  return facts;
}

/** Compares the records present with what each indicator's final state asks of the target. */
function compare(
  truth: CatchUpWorkload["truth"],
  target: TargetName,
  present: readonly { key: string; version: string | undefined }[],
  versionOf: (last: StixObject) => string | undefined,
): EndState {
  const expected = new Map<string, string | undefined>();
  for (const t of truth.values()) {
    const object = t.state === "deleted" ? undefined : t.last;
    for (const key of expectedKeys(object, target, VIRTUAL_START)) {
      expected.set(key, object === undefined ? undefined : versionOf(object));
    }
  }
  const seen = new Map<string, number>();
  let extra = 0;
  let stale = 0;
  let duplicates = 0;
  for (const { key, version } of present) {
    const times = (seen.get(key) ?? 0) + 1;
    seen.set(key, times);
    if (times > 1) duplicates++;
    else if (!expected.has(key)) extra++;
    else if (expected.get(key) !== undefined && version !== expected.get(key)) stale++;
  }
  let lost = 0;
  for (const key of expected.keys()) if (!seen.has(key)) lost++;
  return { expected: expected.size, present: present.length, lost, extra, duplicates, stale };
}

/** The upstream pattern on a fresh simulator, for `budgetMs` of simulated time. */
async function runUpstream(
  targetName: TargetName,
  backlog: Backlog,
  latencyMs: number,
  budgetMs: number,
): Promise<NonNullable<ThroughputResult["baseline"]>> {
  const clock = new VirtualClock(VIRTUAL_START);
  const entra = await newEntra(clock);
  const w = world(targetName, entra, clock);
  const doFetch = router(
    { [HOSTS.entra]: entra.app, [targetHost(targetName)]: w.app },
    clock,
    latencyMs,
    () => {},
  );
  const items = [...backlog.finals.values()].flatMap((f) =>
    f.kind === "upsert" && f.item ? [f.item] : []
  );
  let done = 0;
  let requests = 0;
  let http429 = 0;
  const tokenUrl = `${HOSTS.entra}/${BASELINE_APP.tenantId}/oauth2/v2.0/token`;
  await clock.run(async () => {
    for (const item of items) {
      if (clock.now() - VIRTUAL_START >= budgetMs) break;
      for (const { url, body } of w.singleRequests(item, clock.now())) {
        for (;;) {
          const tokenResponse = await doFetch(tokenUrl, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              grant_type: "client_credentials",
              client_id: BASELINE_APP.clientId,
              client_secret: BASELINE_APP.secret,
              scope: w.scope,
            }),
          });
          const token = (await tokenResponse.json() as { access_token?: string }).access_token;
          const response = await doFetch(url, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
            body,
          });
          const text = await response.text();
          requests++;
          if (response.status !== 429) break;
          http429++;
          const wait = parseRetryAfter(response.headers.get("retry-after"), clock.now()) ??
            parseTryAgainMs(text) ?? 1000;
          await clock.sleep(wait);
        }
      }
      done++;
    }
  });
  const ms = clock.now() - VIRTUAL_START;
  let perSecond = done / (ms / 1000);
  // Defender single submits: 100/min but also 1,500/h, which the simulator does not enforce.
  if (targetName === "defender") perSecond = Math.min(perSecond, 1500 / 3600);
  return {
    events: done,
    events_per_s: round(perSecond, 2),
    requests,
    http_429: http429,
    sim_seconds: round(ms / 1000, 1),
  };
}

/**
 * The upstream Defender synchronizer's pattern on a fresh simulator: list what is there, delete
 * what should go in BatchDelete chunks of 500, then import in chunks of 500; no client pacing,
 * 429s waited out by `Retry-After` (urllib3 `Retry`), one token per run.
 */
async function runSynchronizer(
  backlog: Backlog,
  latencyMs: number,
): Promise<NonNullable<ThroughputResult["synchronizer"]>> {
  const clock = new VirtualClock(VIRTUAL_START);
  const entra = await newEntra(clock);
  const w = world("defender", entra, clock);
  const doFetch = router(
    { [HOSTS.entra]: entra.app, [HOSTS.defender]: w.app },
    clock,
    latencyMs,
    () => {},
  );
  const records = [...backlog.finals.values()].flatMap((f) =>
    f.kind === "upsert" && f.item
      ? toDefenderIndicators(f.item, { ...DEFENDER_MAPPING, now: VIRTUAL_START })
        .records
      : []
  );
  const scale = backlog.total / Math.max(1, Math.min(backlog.total, backlog.pool.length));
  let requests = 0;
  let http429 = 0;
  await clock.run(async () => {
    const tokenResponse = await doFetch(
      `${HOSTS.entra}/${BASELINE_APP.tenantId}/oauth2/v2.0/token`,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: BASELINE_APP.clientId,
          client_secret: BASELINE_APP.secret,
          scope: w.scope,
        }),
      },
    );
    const token = (await tokenResponse.json() as { access_token?: string }).access_token;
    const send = async (method: string, path: string, body?: string) => {
      for (;;) {
        const response = await doFetch(`${HOSTS.defender}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body }),
        });
        const text = await response.text();
        requests++;
        if (response.status !== 429) return text;
        http429++;
        await clock.sleep(
          parseRetryAfter(response.headers.get("retry-after"), clock.now()) ?? 3000,
        );
      }
    };
    // A first run: nothing of ours is there yet (the list is one page), so nothing to delete.
    await send("GET", "/api/indicators?$top=10000");
    const rounds = Math.round(scale);
    for (let r = 0; r < rounds; r++) {
      for (let start = 0; start < records.length; start += 500) {
        await send("POST", "/api/indicators/import", importBody(records.slice(start, start + 500)));
      }
    }
  });
  const ms = clock.now() - VIRTUAL_START;
  return {
    events_per_s: round(backlog.total / (ms / 1000), 1),
    requests,
    http_429: http429,
    sim_seconds: round(ms / 1000, 1),
  };
}

/** A small deterministic random source for the connector's jitter. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Runs the throughput scenario. */
export async function throughputScenario(
  options: ThroughputOptions = {},
): Promise<{ targets: Record<string, ThroughputResult>; notes: string[] }> {
  const quick = options.quick ?? false;
  const latencyMs = options.latencyMs ?? 50;
  const notes: string[] = [];
  const targets: Record<string, ThroughputResult> = {};
  for (const [name, spec] of Object.entries(RUNS)) {
    if (options.runs && !options.runs.includes(name)) continue;
    try {
      const backlog = await spec.backlog(quick);
      targets[name] = await runOne(quick, name, spec, backlog, latencyMs, notes);
      const t = targets[name];
      console.error(
        `bench: throughput.${name}: fraction_of_ceiling ${t.fraction_of_ceiling}, paced ` +
          `${t.fraction_of_paced_ceiling}, ${t.sim_seconds} simulated s, ${t.real_seconds} real s`,
      );
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      notes.push(`throughput.${name}: failed: ${message.split("\n").slice(0, 3).join(" | ")}`);
    }
  }
  notes.push(
    `throughput: virtual time, every answer (Entra, target, OpenCTI GraphQL) ${latencyMs} ms ` +
      `simulated, CPU free; first simulated minute = warm-up`,
  );
  return { targets, notes };
}
