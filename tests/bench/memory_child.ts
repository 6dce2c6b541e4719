/**
 * Child process of the memory scenario: the whole sentinel connector (registration, live stream,
 * batching, checkpoints saved in OpenCTI) against a target that acknowledges at once. Prints one
 * JSON line per RSS sample and a last line with `done: true` once the cursor reaches `LAST_ID`.
 *
 * Each sample carries V8's heap by space (committed and used bytes) besides `Deno.memoryUsage()`.
 *
 * Environment: `OPENCTI_URL` (GraphQL), `STREAM_URL` (the frame server), `LAST_ID`,
 * `SAMPLE_MS` (default 250), `BATCH_SIZE` (default 100), `READ_AHEAD` (the pump's
 * `readAheadBatches`, default the pump's); `HEAP_SNAPSHOT` (a path) with `HEAP_SNAPSHOT_AT` (events): write a
 * heap snapshot there once that many events went through (V8 collects all garbage first, so it
 * shows what is retained); `HEAP_SAMPLING` (a path): sample allocations that reach the old
 * generation for the whole run and write the largest allocating functions there as JSON.
 *
 * @module
 */
import { Session } from "node:inspector/promises";
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from "node:v8";
import { summarizeSamplingProfile } from "./heap_sampling.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { SentinelConnector } from "../../src/sentinel/connector.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { CountingTarget } from "./counting_target.ts";
import {
  MAX_BACKOFF_MS,
  QUEUE_THRESHOLD_MB,
  SENTINEL_SCOPE,
} from "../fixtures/settings_defaults.ts";

const openctiUrl = Deno.env.get("OPENCTI_URL") ?? "";
const streamUrl = Deno.env.get("STREAM_URL") ?? "";
const lastId = Deno.env.get("LAST_ID") ?? "";
const sampleMs = Number(Deno.env.get("SAMPLE_MS") ?? "250");
const snapshotPath = Deno.env.get("HEAP_SNAPSHOT");
const snapshotAt = Number(Deno.env.get("HEAP_SNAPSHOT_AT") ?? "0");
let snapshotEvents: number | undefined;
const samplingPath = Deno.env.get("HEAP_SAMPLING");
const inspector = samplingPath ? new Session() : undefined;
if (inspector) {
  inspector.connect();
  await inspector.post("HeapProfiler.enable");
  await inspector.post("HeapProfiler.startSampling", {
    samplingInterval: 16384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  });
}

const target = new CountingTarget(Number(Deno.env.get("BATCH_SIZE") ?? "100"));
const readAhead = Deno.env.get("READ_AHEAD");
const connector = new SentinelConnector({
  url: streamUrl,
  token: SIM_TOKEN,
  client: new OpenCtiClient({ url: openctiUrl, token: SIM_TOKEN }),
  maxBackoffMs: MAX_BACKOFF_MS,
  connector: {
    scope: SENTINEL_SCOPE,
    queueThresholdMb: QUEUE_THRESHOLD_MB,
    id: "4f0c0d8e-2b7a-4c55-9d0e-6a1b2c3d4e5f",
    name: "Memory bench",
  },
  stream: { streamId: "live-indicators", watchdogMs: 60_000 },
  target,
  ...(readAhead ? { readAheadBatches: Number(readAhead) } : {}),
});

const controller = new AbortController();
const started = performance.now();
const running = connector.start(controller.signal);
const print = (line: Record<string, unknown>) => console.log(JSON.stringify(line));
for (;;) {
  await new Promise((resolve) => setTimeout(resolve, sampleMs));
  const status = connector.status();
  const events = status.counters.events ?? 0;
  print({
    t: Math.round(performance.now() - started),
    ...Deno.memoryUsage(),
    v8Physical: getHeapStatistics().total_physical_size,
    spaces: Object.fromEntries(
      getHeapSpaceStatistics().map((s) => [s.space_name, [s.space_size, s.space_used_size]]),
    ),
    events,
    cursor: status.details?.cursor,
  });
  if (status.details?.cursor === lastId) break;
  if (snapshotPath && snapshotEvents === undefined && events >= snapshotAt) {
    writeHeapSnapshot(snapshotPath);
    snapshotEvents = events;
  }
}
const ms = performance.now() - started;
if (inspector && samplingPath) {
  const { profile } = await inspector.post("HeapProfiler.stopSampling");
  Deno.writeTextFileSync(samplingPath, JSON.stringify(summarizeSamplingProfile(profile)));
}
const status = connector.status();
controller.abort();
// A stop that takes longer than this is reported (the live stream keeps sending heartbeats).
const stopStarted = performance.now();
let timer: ReturnType<typeof setTimeout> | undefined;
const stopped = await Promise.race([
  running.then(() => true),
  new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), 5000)),
]);
clearTimeout(timer);
print({
  done: true,
  ms: Math.round(ms),
  events: status.counters.events ?? 0,
  skipped: status.counters.skipped ?? 0,
  upserted: target.upserted,
  removed: target.removed,
  stopped,
  stop_ms: Math.round(performance.now() - stopStarted),
  ...(snapshotEvents === undefined ? {} : { snapshot_events: snapshotEvents }),
});
Deno.exit(0);
