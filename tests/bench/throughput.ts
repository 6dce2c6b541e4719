/**
 * Throughput scenario: a backlog of indicators in the OpenCTI simulator's stream, synced by the
 * whole sentinel connector (catch-up run) to each Microsoft target simulator with 50 ms answers
 * and the documented rate limits. Simulators and clients share a {@linkcode ScaledClock}, so a
 * documented minute lasts `60 × factor` seconds and every wait stays consistent.
 *
 * In the same run, against the same simulator (under a second app registration, so its rate
 * window is its own), the upstream connector's pattern: for each observable, one token request
 * and one single-indicator request, one after another, waiting out 429s.
 *
 * Ceilings: the limits allow at most `L` requests in any `W` = 60 s window. For `R` requests
 * sent one after another with round trip `rtt`, the shortest possible time is
 * `max(R·rtt, k·W + (R − k·L)·rtt)` with `k = ceil(R/L) − 1`. `fraction_of_ceiling` is that
 * time for the rate-limited requests the connector needed, divided by the time it took;
 * `fraction_of_absolute_ceiling` uses instead the fewest requests the documented batch sizes
 * allow (`ceil(indicators / max batch)`), so it also charges the connector's lookups.
 *
 * @module
 */
import { DefenderTarget } from "../../src/microsoft/defender.ts";
import { toDefenderIndicators } from "../../src/microsoft/defender_mapping.ts";
import { GraphTarget } from "../../src/microsoft/graph.ts";
import { toTiIndicators } from "../../src/microsoft/graph_mapping.ts";
import { SentinelTarget } from "../../src/microsoft/sentinel_api.ts";
import {
  parseTryAgainMs,
  toSentinelObject,
  uploadBody,
} from "../../src/microsoft/sentinel_mapping.ts";
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { parseRetryAfter } from "../../src/runtime/retry.ts";
import { SentinelConnector } from "../../src/sentinel/connector.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import type { SyncTarget, TargetIndicator, TargetName } from "../../src/sentinel/target.ts";
import { startDefenderSim } from "../../src/sim/defender.ts";
import { type EntraSim, startEntraSim } from "../../src/sim/entra.ts";
import { startGraphSim } from "../../src/sim/graph.ts";
import { startOpenCtiSim } from "../../src/sim/opencti.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { DEFAULT_SIM_WORKSPACE, startSentinelSim } from "../../src/sim/sentinel.ts";
import { AckRecorder } from "./ack_recorder.ts";
import { buildFrames, type FrameWorkload } from "./frames.ts";
import { startFrameServer } from "./frame_server.ts";
import { ScaledClock } from "./scaled_clock.ts";
import { median, round } from "./stats.ts";

/** Throughput figures of one target. */
export interface ThroughputResult {
  /** Indicators in the backlog that the target can take. */
  indicators: number;
  /** Indicators acknowledged. */
  acknowledged: number;
  /** Indicators the target refused for good (e.g. Defender's MD5 rule). */
  refused: number;
  /** Simulated seconds from start to the last acknowledgement. */
  sim_seconds: number;
  /** Real seconds of the same. */
  real_seconds: number;
  /** Indicators per simulated second. */
  indicators_per_s: number;
  /** The most indicators per second the limits allow for the requests the connector needed. */
  ceiling_per_s: number;
  /** `indicators_per_s / ceiling_per_s` (as times: shortest possible / taken). */
  fraction_of_ceiling: number;
  /** The same against the fewest requests the documented batch sizes allow. */
  fraction_of_absolute_ceiling: number;
  /** Requests to the target API (all, 429s included) per indicator. */
  requests_per_indicator: number;
  /** Token requests to Entra ID. */
  token_requests: number;
  /** 429 answers received. */
  http_429: number;
  /** 429 answers received after the first simulated minute. */
  http_429_after_first_minute: number;
  /** Baseline (upstream pattern) figures. */
  baseline: {
    indicators: number;
    indicators_per_s: number;
    requests_per_indicator: number;
    http_429: number;
    sampled: boolean;
  };
  /** `indicators_per_s / baseline.indicators_per_s`. */
  speedup_vs_baseline: number;
  /** Median round trip of the target's requests, in simulated ms (50 ms latency + the rest). */
  round_trip_ms: number;
  /** The documented limit the run is bound by. */
  limit: string;
}

/** Options of {@linkcode throughputScenario}. */
export interface ThroughputOptions {
  /** Reduced run (12,000 indicators, a faster clock, a shorter baseline). @default false */
  quick?: boolean;
  /** Backlog size. @default 20000 (12000 quick) */
  indicators?: number;
  /** Real ms per simulated ms. @default 0.2 (0.1 quick) */
  factor?: number;
  /** Simulated latency of every answer, in ms. @default 50 */
  latencyMs?: number;
  /** Targets to run. @default all three */
  targets?: TargetName[];
  /** Simulated time the baseline may run before its rate is taken from the sample, in ms. @default 150000 (60000 quick) */
  baselineBudgetMs?: number;
}

const APP = {
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

interface SeenRequest {
  path: string;
  status: number;
  at: number;
}

interface TargetWorld {
  url: string;
  scope: string;
  limit: number;
  limitText: string;
  maxBatch: number;
  requests(): SeenRequest[];
  isLimited(request: SeenRequest): boolean;
  target(tokens: TokenProvider): SyncTarget;
  baselineRequest(item: TargetIndicator, now: number): { url: string; body: string }[];
  close(): Promise<void>;
}

function startTarget(
  name: TargetName,
  entra: EntraSim,
  clock: ScaledClock,
  latencyMs: number,
  roundTrips: number[],
): TargetWorld {
  const simClock = { now: clock.now, sleep: clock.sleep, verify: entra.verifyAccessToken };
  const timedFetch: typeof fetch = async (input, init) => {
    const started = clock.now();
    const response = await fetch(input, init);
    const body = await response.arrayBuffer();
    roundTrips.push(clock.now() - started);
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
  const common = { fetch: timedFetch, now: clock.now, sleep: clock.sleep };
  switch (name) {
    case "graph": {
      const sim = startGraphSim(simClock);
      sim.failures.setLatencyMs(latencyMs);
      return {
        url: sim.url,
        scope: "https://graph.microsoft.com/.default",
        limit: 1000,
        limitText: "1,000 requests/min per app (all Graph tiIndicators calls)",
        maxBatch: 100,
        requests: () => sim.requests,
        isLimited: () => true,
        target: (tokens) =>
          new GraphTarget({
            ...common,
            tokens,
            mapping: { targetProduct: "Azure Sentinel", now: clock.now },
            baseUrl: sim.url,
            scope: "https://graph.microsoft.com/.default",
          }),
        baselineRequest: (item, now) =>
          toTiIndicators(item, { targetProduct: "Azure Sentinel", now: () => now }).records.map((
            record,
          ) => ({ url: `${sim.url}/beta/security/tiIndicators`, body: JSON.stringify(record) })),
        close: () => sim.close(),
      };
    }
    case "sentinel": {
      const sim = startSentinelSim(simClock);
      sim.failures.setLatencyMs(latencyMs);
      const ws = DEFAULT_SIM_WORKSPACE;
      const upload =
        `${sim.url}/workspaces/${ws.workspaceId}/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview`;
      return {
        url: sim.url,
        scope: "https://management.azure.com/.default",
        limit: 100,
        limitText: "100 upload requests/min per identity, 100 objects each",
        maxBatch: 100,
        requests: () => sim.requests,
        isLimited: (r) => r.path.endsWith(":upload"),
        target: (tokens) =>
          new SentinelTarget({
            ...common,
            tokens,
            workspaceId: ws.workspaceId,
            apiUrl: sim.url,
            managementUrl: sim.url,
            subscriptionId: ws.subscriptionId,
            resourceGroup: ws.resourceGroup,
            workspaceName: ws.workspaceName,
          }),
        baselineRequest: (item, now) => {
          const mapped = toSentinelObject(item, { now });
          return mapped.ok ? [{ url: upload, body: uploadBody("OpenCTI", [mapped.object]) }] : [];
        },
        close: () => sim.close(),
      };
    }
    case "defender": {
      // The tenant cap (15,000) is raised so a 20,000 backlog measures pacing, not the cap.
      const sim = startDefenderSim({ ...simClock, tenantCap: 1_000_000 });
      sim.failures.setLatencyMs(latencyMs);
      return {
        url: sim.url,
        scope: "https://api.securitycenter.microsoft.com/.default",
        limit: 30,
        limitText: "30 import calls/min, 500 indicators each (tenant cap raised to 1,000,000)",
        maxBatch: 500,
        requests: () => sim.requests,
        isLimited: (r) => r.path.endsWith("/import"),
        target: (tokens) => new DefenderTarget({ ...common, tokens, apiUrl: sim.url }),
        baselineRequest: (item, now) =>
          toDefenderIndicators(item, { now }).records.map((record) => ({
            url: `${sim.url}/api/indicators`,
            body: JSON.stringify(record),
          })),
        close: () => sim.close(),
      };
    }
  }
}

/** The shortest time `requests` sequential requests can take under `limit` per `windowMs`. */
export function idealMs(requests: number, limit: number, windowMs: number, rttMs: number): number {
  if (requests <= 0) return 0;
  const k = Math.ceil(requests / limit) - 1;
  return Math.max(requests * rttMs, k * windowMs + (requests - k * limit) * rttMs);
}

/** The upstream pattern: per observable, a fresh token and one single-indicator request. */
async function runBaseline(
  world: TargetWorld,
  entraUrl: string,
  items: TargetIndicator[],
  clock: ScaledClock,
  budgetMs: number,
): Promise<{ done: number; ms: number; requests: number; http429: number }> {
  const started = clock.now();
  let done = 0;
  let requests = 0;
  let http429 = 0;
  const tokenUrl = `${entraUrl}/${BASELINE_APP.tenantId}/oauth2/v2.0/token`;
  for (const item of items) {
    if (clock.now() - started > budgetMs) break;
    for (const { url, body } of world.baselineRequest(item, clock.now())) {
      for (;;) {
        const tokenResponse = await fetch(tokenUrl, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "client_credentials",
            client_id: BASELINE_APP.clientId,
            client_secret: BASELINE_APP.secret,
            scope: world.scope,
          }),
        });
        const token = (await tokenResponse.json() as { access_token?: string }).access_token;
        const response = await fetch(url, {
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
  return { done, ms: clock.now() - started, requests, http429 };
}

async function runTarget(
  name: TargetName,
  options: Required<Omit<ThroughputOptions, "targets" | "quick">>,
  backlog: FrameWorkload,
  notes: string[],
): Promise<ThroughputResult> {
  const clock = new ScaledClock(options.factor);
  const entra = await startEntraSim({ now: clock.now, sleep: clock.sleep });
  for (const app of [APP, BASELINE_APP]) {
    entra.registerApp({ ...app, roles: ROLES });
  }
  entra.control.setLatencyMs(options.latencyMs);
  const roundTrips: number[] = [];
  const world = startTarget(name, entra, clock, options.latencyMs, roundTrips);
  // OpenCTI's GraphQL side (registration, state); the backlog comes from a fast frame server, so
  // the stream supply is never what is measured.
  const opencti = await startOpenCtiSim({});
  const frames = startFrameServer({
    pool: backlog.data.map((data) => ({ event: "create", data })),
    total: backlog.data.length,
    heartbeatMs: 50,
  });
  try {
    const items = backlog.data.flatMap((data) =>
      intentsOf("create", JSON.parse(data), { now: clock.now() }).flatMap((intent) =>
        intent.kind === "upsert" ? [intent.indicator] : []
      )
    );
    const tokens = new TokenProvider({
      authority: entra.url,
      tenantId: APP.tenantId,
      clientId: APP.clientId,
      credential: { kind: "secret", secret: APP.secret },
      now: clock.now,
      sleep: clock.sleep,
    });
    const target = new AckRecorder(world.target(tokens), clock.now);
    const connector = new SentinelConnector({
      url: frames.url,
      token: SIM_TOKEN,
      client: new OpenCtiClient({ url: opencti.url, token: SIM_TOKEN }),
      connector: { id: "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", name: "Throughput bench" },
      stream: { streamId: "live-indicators" },
      target,
      quietHeartbeats: 3,
      catchUpBudgetMs: 3_600_000,
      now: clock.now,
      sleep: clock.sleep,
      setTimer: (callback, ms) => {
        const id = setTimeout(callback, ms * options.factor);
        return () => clearTimeout(id);
      },
    });
    const realStart = performance.now();
    const simStart = clock.now();
    await connector.runOnce();
    const realMs = performance.now() - realStart;
    const simMs = target.lastAckAt - simStart;
    const seen = world.requests().filter((r) => r.at >= simStart);
    const limited = seen.filter((r) => world.isLimited(r) && r.status !== 429);
    // The floor any client has against this simulator: its measured median answer time.
    const rtt = median(roundTrips);
    const acknowledged = target.acked.size;
    const perSecond = acknowledged / (simMs / 1000);
    const ideal = idealMs(limited.length, world.limit, 60_000, rtt);
    const absolute = idealMs(Math.ceil(acknowledged / world.maxBatch), world.limit, 60_000, rtt);
    const http429 = seen.filter((r) => r.status === 429);
    const tokenRequests = entra.control.requests().filter((r) => r.clientId === APP.clientId);

    // Baseline: a sample of the same indicators, same simulator, its own rate window.
    const baseline = await runBaseline(
      world,
      entra.url,
      items,
      clock,
      options.baselineBudgetMs,
    );
    const baselinePerSecond = baseline.done / (baseline.ms / 1000);
    const sampled = baseline.done < items.length;
    if (sampled) {
      notes.push(
        `throughput.${name}: baseline rate taken from ${baseline.done} of ${items.length} ` +
          `indicators (${
            round(baseline.ms / 1000, 1)
          } simulated s); the full baseline would take ` +
          `about ${round(items.length / baselinePerSecond / 60, 1)} simulated minutes`,
      );
    }
    return {
      indicators: acknowledged + target.failed.size,
      acknowledged,
      refused: target.failed.size,
      sim_seconds: round(simMs / 1000, 1),
      real_seconds: round(realMs / 1000, 1),
      indicators_per_s: round(perSecond, 1),
      ceiling_per_s: round(acknowledged / (ideal / 1000), 1),
      fraction_of_ceiling: round(ideal / simMs, 3),
      fraction_of_absolute_ceiling: round(absolute / simMs, 3),
      requests_per_indicator: round(seen.length / acknowledged, 4),
      token_requests: tokenRequests.length,
      http_429: http429.length,
      http_429_after_first_minute: http429.filter((r) => r.at > simStart + 60_000).length,
      baseline: {
        indicators: baseline.done,
        indicators_per_s: round(baselinePerSecond, 2),
        requests_per_indicator: round(baseline.requests / Math.max(1, baseline.done), 3),
        http_429: baseline.http429,
        sampled,
      },
      speedup_vs_baseline: round(perSecond / baselinePerSecond, 1),
      round_trip_ms: round(rtt, 1),
      limit: world.limitText,
    };
  } finally {
    await frames.close();
    await opencti.close();
    await world.close();
    await entra.close();
  }
}

/** Runs the throughput scenario for each target. */
export async function throughputScenario(
  options: ThroughputOptions = {},
): Promise<{ targets: Record<string, ThroughputResult>; notes: string[] }> {
  const quick = options.quick ?? false;
  const resolved = {
    indicators: options.indicators ?? (quick ? 12_000 : 20_000),
    factor: options.factor ?? (quick ? 0.1 : 0.2),
    latencyMs: options.latencyMs ?? 50,
    baselineBudgetMs: options.baselineBudgetMs ?? (quick ? 60_000 : 150_000),
  };
  const notes: string[] = [];
  // Creates of distinct, live STIX indicators (mixed observable types): revoked and expired ones
  // are left out, since each costs a rate-limited lookup on Sentinel (ARM query) and Defender
  // (list) instead of an upload; the note below says how many.
  const built = await buildFrames(Math.ceil(resolved.indicators * 1.06), 20, {
    createShare: 1,
    time: Date.now(),
  });
  const backlog: FrameWorkload = { frames: [], data: [], counts: built.counts };
  let left = 0;
  for (const [index, data] of built.data.entries()) {
    const intents = intentsOf("create", JSON.parse(data), { now: Date.now() });
    if (backlog.data.length >= resolved.indicators || intents.some((i) => i.kind !== "upsert")) {
      left++;
      continue;
    }
    backlog.data.push(data);
    backlog.frames.push(built.frames[index] as string);
  }
  notes.push(
    `throughput: ${left} generated indicators were left out of the backlog (revoked, expired, ` +
      `sigma/yara, or beyond ${resolved.indicators})`,
  );
  const targets: Record<string, ThroughputResult> = {};
  for (const name of options.targets ?? ["graph", "sentinel", "defender"] as TargetName[]) {
    try {
      targets[name] = await runTarget(name, resolved, backlog, notes);
    } catch (error) {
      notes.push(`throughput.${name}: failed: ${error instanceof Error ? error.message : error}`);
    }
  }
  const rtts = median([resolved.latencyMs]);
  notes.push(
    `throughput: a backlog of ${backlog.data.length} indicator creates, ${rtts} ms simulated answers, one simulated ` +
      `minute = ${round(60 * resolved.factor, 1)} real seconds`,
  );
  return { targets, notes };
}
