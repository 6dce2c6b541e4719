/**
 * Latency scenario: 10 events a second on the live stream for `seconds`, through the whole
 * sentinel connector to the Graph simulator (50 ms per answer, Entra tokens). Reports p50 and p99
 * from the moment the stream wrote the event to the moment the target acknowledged it, against
 * the goal "batch timeout plus two API round trips" (Graph upsert = lookup + submit).
 *
 * @module
 */
import { GraphTarget } from "../../src/microsoft/graph.ts";
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { SentinelConnector } from "../../src/sentinel/connector.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { STACK_APP, startSentinelStack } from "../../src/sim/stack.ts";
import { AckRecorder } from "./ack_recorder.ts";
import { buildFrames } from "./frames.ts";
import { startFrameServer } from "./frame_server.ts";
import { delay, median, percentile, round } from "./stats.ts";
import {
  GRAPH_CLIENT,
  GRAPH_MAPPING,
  GRAPH_RATE_LIMIT,
  MAX_BACKOFF_MS,
  QUEUE_THRESHOLD_MB,
  SENTINEL_SCOPE,
} from "../fixtures/settings_defaults.ts";

/** Latency figures. */
export interface LatencyResult {
  /** Median arrival → acknowledgement, in ms. */
  p50_ms: number;
  /** 99th percentile, in ms. */
  p99_ms: number;
  /** The goal: batch timeout + 2 × the median round trip, in ms. */
  goal_ms: number;
  /** The connector's batch timeout, in ms. */
  batch_timeout_ms: number;
  /** Median HTTP round trip to the target (50 ms simulated latency + loopback), in ms. */
  round_trip_ms: number;
  /** Events measured. */
  events: number;
}

/** Options of {@linkcode latencyScenario}. */
export interface LatencyOptions {
  /** Duration of the stream, in seconds. @default 30 */
  seconds?: number;
  /** Events per second. @default 10 */
  rate?: number;
  /** Latency of every target answer, in ms. @default 50 */
  latencyMs?: number;
  /** The connector's batch timeout, in ms. @default 1000 */
  batchTimeoutMs?: number;
}

/** Runs the latency scenario. */
export async function latencyScenario(options: LatencyOptions = {}): Promise<LatencyResult> {
  const rate = options.rate ?? 10;
  const total = Math.round((options.seconds ?? 30) * rate);
  const batchTimeoutMs = options.batchTimeoutMs ?? 1000;
  // Creates of distinct live STIX indicators: every event is one acknowledged indicator (sigma,
  // yara, revoked and expired ones are left out).
  const built = await buildFrames(Math.ceil(total * 1.1) + 10, 21, {
    createShare: 1,
    time: Date.now(),
  });
  const pool: { event: string; data: string; id: string }[] = [];
  for (const data of built.data) {
    if (pool.length >= total) break;
    const intents = intentsOf("create", JSON.parse(data), { now: Date.now() });
    const first = intents[0];
    if (intents.length !== 1 || first?.kind !== "upsert") continue;
    pool.push({ event: "create", data, id: first.indicator.id });
  }
  const stack = await startSentinelStack({ target: "graph", opencti: { seed: false } });
  const emitted = new Map<string, number>();
  const frames = startFrameServer({
    pool,
    total,
    intervalMs: 1000 / rate,
    heartbeatMs: 1000,
    onFrame: (index, _id, at) => emitted.set((pool[index] as { id: string }).id, at),
  });
  const roundTrips: number[] = [];
  const timedFetch: typeof fetch = async (input, init) => {
    const started = performance.now();
    const response = await fetch(input, init);
    await response.clone().arrayBuffer();
    roundTrips.push(performance.now() - started);
    return response;
  };
  const controller = new AbortController();
  try {
    stack.graph?.failures.setLatencyMs(options.latencyMs ?? 50);
    const tokens = new TokenProvider({
      authority: stack.entra.url,
      tenantId: STACK_APP.tenantId,
      clientId: STACK_APP.clientId,
      credential: { kind: "secret", secret: STACK_APP.clientSecret },
    });
    const scope = "https://graph.microsoft.com/.default";
    await tokens.getToken(scope); // a cold token is not part of an event's latency
    const target = new AckRecorder(
      new GraphTarget({
        ...GRAPH_CLIENT,
        rateLimitPerMinute: GRAPH_RATE_LIMIT,
        tokens,
        mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
        baseUrl: stack.targetUrl,
        scope,
        fetch: timedFetch,
      }),
    );
    const connector = new SentinelConnector({
      url: frames.url,
      token: SIM_TOKEN,
      client: new OpenCtiClient({ url: stack.opencti.url, token: SIM_TOKEN }),
      maxBackoffMs: MAX_BACKOFF_MS,
      connector: {
        scope: SENTINEL_SCOPE,
        queueThresholdMb: QUEUE_THRESHOLD_MB,
        id: "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
        name: "Latency bench",
      },
      stream: { streamId: "live-indicators" },
      target,
      batchTimeoutMs,
    });
    const running = connector.start(controller.signal);
    const deadline = performance.now() + (total / rate) * 1000 + 30_000;
    while (target.acked.size < total && performance.now() < deadline) await delay(100);
    controller.abort();
    await Promise.race([running, delay(5000)]);
    const latencies: number[] = [];
    for (const [id, at] of emitted) {
      const acked = target.acked.get(id);
      if (acked !== undefined) latencies.push(acked - at);
    }
    if (latencies.length < total) {
      throw new Error(`only ${latencies.length} of ${total} events were acknowledged`);
    }
    const roundTrip = median(roundTrips);
    return {
      p50_ms: round(percentile(latencies, 50), 1),
      p99_ms: round(percentile(latencies, 99), 1),
      goal_ms: round(batchTimeoutMs + 2 * roundTrip, 1),
      batch_timeout_ms: batchTimeoutMs,
      round_trip_ms: round(roundTrip, 1),
      events: latencies.length,
    };
  } finally {
    controller.abort();
    await frames.close();
    await stack.close();
  }
}
