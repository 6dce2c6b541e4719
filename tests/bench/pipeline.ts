/**
 * Pipeline scenario: realistic live-stream frames (SSE text, in network-sized chunks) through the
 * connector's hot path: the live-stream reader (eventsource-parser + envelope check), `intentsOf`
 * (filtering, pattern reading, value validation, mapping to the target-neutral indicator), the
 * batcher and checkpoint tracker, into a target that only counts. Compared with plain `JSON.parse` of the same frames' data, in the same run.
 *
 * @module
 */
import { readLiveStream } from "../../src/opencti/stream.ts";
import { Batcher } from "../../src/opencti/batcher.ts";
import { CheckpointTracker } from "../../src/opencti/checkpoint.ts";
import type { Operation } from "../../src/sentinel/connector.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import type { TargetIndicator, TargetRemoval } from "../../src/microsoft/target.ts";
import type { ItemResult } from "../../src/runtime/delivery.ts";
import { SEED_TIME } from "../../src/sim/opencti_seed.ts";
import { CountingTarget } from "./counting_target.ts";
import { buildFrames, type FrameWorkload, toChunks } from "./frames.ts";
import { median, round } from "./stats.ts";

/** Pipeline figures. */
export interface PipelineResult {
  /** Events per second through the whole hot path (median of the runs). */
  events_per_s: number;
  /** Pipeline time divided by `JSON.parse` time of the same frames (median of the runs). */
  ratio_to_json_parse: number;
  /** Pipeline time divided by `JSON.parse` time, each run (they spread with the machine's load). */
  ratio_runs: number[];
  /** Frames per run. */
  frames: number;
  /** Runs the medians are taken over. */
  runs: number;
  /** `JSON.parse` alone, events per second (median). */
  json_parse_events_per_s: number;
  /** What the counting target received in the last run. */
  target: { upserted: number; removed: number; records: number; skipped: number };
}

/** A fetch that serves the chunks once as an SSE response, then an empty stream. */
function chunkFetch(chunks: readonly Uint8Array[]): typeof fetch {
  let served = false;
  return () => {
    const source = served ? [] : chunks;
    served = true;
    let index = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = source[index++];
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    return Promise.resolve(
      new Response(body, { headers: { "content-type": "text/event-stream" } }),
    );
  };
}

/** Runs the hot path once over `chunks` holding `frames` data frames; returns elapsed ms. */
export async function runHotPath(
  chunks: readonly Uint8Array[],
  frames: number,
  target: CountingTarget,
): Promise<{ ms: number; skipped: number }> {
  const now = Date.parse(SEED_TIME);
  const controller = new AbortController();
  const tracker = new CheckpointTracker(undefined);
  const batcher = new Batcher<Operation>(target.maxBatch);
  let skipped = 0;
  const flush = async () => {
    const items = batcher.drain();
    const upserts = items.filter((i) => i.op.kind === "upsert");
    const removals = items.filter((i) => i.op.kind === "remove");
    const results: ItemResult[] = [
      ...await target.upsert(
        upserts.map((i) => (i.op as { indicator: TargetIndicator }).indicator),
      ),
      ...await target.remove(removals.map((i) => (i.op as { removal: TargetRemoval }).removal)),
    ];
    if (results.length !== items.length) throw new Error("target lost results");
    for (const item of items) tracker.complete(...item.seqs);
  };
  const start = performance.now();
  const reader = readLiveStream({
    url: "http://opencti.bench.invalid",
    token: "bench-token",
    streamId: "live-indicators",
    fetch: chunkFetch(chunks),
    signal: controller.signal,
    watchdogMs: 3_600_000,
  });
  let seen = 0;
  for await (const frame of reader) {
    if (frame.event === "connected" || frame.event === "heartbeat") continue;
    for (const intent of intentsOf(frame.event, frame.data, { now })) {
      const seq = tracker.track(frame.id);
      if (intent.kind === "skip") {
        skipped++;
        tracker.complete(seq);
      } else if (intent.kind === "upsert") {
        batcher.add(intent.indicator.id, { kind: "upsert", indicator: intent.indicator }, seq, 0);
      } else {
        batcher.add(intent.removal.id, { kind: "remove", removal: intent.removal }, seq, 0);
      }
    }
    if (batcher.full) await flush();
    if (++seen >= frames) break;
  }
  await flush();
  const ms = performance.now() - start;
  controller.abort();
  await reader.return();
  if (tracker.inFlight !== 0) throw new Error(`${tracker.inFlight} frames never completed`);
  return { ms, skipped };
}

/** `JSON.parse` of every frame's data; returns elapsed ms. */
export function runJsonParse(data: readonly string[]): number {
  const start = performance.now();
  let sink = 0;
  for (const text of data) sink += (JSON.parse(text) as { version: string }).version.length;
  const ms = performance.now() - start;
  if (sink === 0) throw new Error("unreachable");
  return ms;
}

/** Options of {@linkcode pipelineScenario}. */
export interface PipelineOptions {
  /** Frames per run. @default 200000 */
  frames?: number;
  /** Runs (the median is reported). @default 3 */
  runs?: number;
  /** Workload seed. @default 7 */
  seed?: number;
  /** A workload already built (else one is built from the seed). @default none */
  workload?: FrameWorkload;
}

/** Runs the pipeline scenario. */
export async function pipelineScenario(options: PipelineOptions = {}): Promise<PipelineResult> {
  const frames = options.frames ?? 200_000;
  const runs = options.runs ?? 3;
  const workload = options.workload ?? await buildFrames(frames, options.seed ?? 7);
  const chunks = toChunks(workload.frames);
  const pipelineMs: number[] = [];
  const jsonMs: number[] = [];
  let target = new CountingTarget();
  let skipped = 0;
  // One warm-up run of each so both are measured with optimised code.
  await runHotPath(chunks, workload.frames.length, new CountingTarget());
  runJsonParse(workload.data);
  for (let run = 0; run < runs; run++) {
    target = new CountingTarget();
    const result = await runHotPath(chunks, workload.frames.length, target);
    pipelineMs.push(result.ms);
    skipped = result.skipped;
    jsonMs.push(runJsonParse(workload.data));
  }
  const n = workload.frames.length;
  const ratios = pipelineMs.map((ms, i) => ms / (jsonMs[i] as number));
  return {
    events_per_s: Math.round(median(pipelineMs.map((ms) => n / (ms / 1000)))),
    ratio_to_json_parse: round(median(ratios)),
    ratio_runs: ratios.map((r) => round(r)),
    frames: n,
    runs,
    json_parse_events_per_s: Math.round(median(jsonMs.map((ms) => n / (ms / 1000)))),
    target: {
      upserted: target.upserted,
      removed: target.removed,
      records: target.records,
      skipped,
    },
  };
}
