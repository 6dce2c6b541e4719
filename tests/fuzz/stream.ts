/**
 * Stream fuzzing: generated live-stream frames, most of them mutated (in the `data:` JSON, at the
 * byte level with invalid UTF-8, or at the SSE level with unknown events and missing ids), sent as
 * one stream cut into random chunks through the real reader and `intentsOf`. Each frame must come
 * out exactly once: as intents (the good ones exactly as when read alone), or counted as
 * malformed or ignored with a reason. Nothing may throw.
 *
 * @module
 */
import { readLiveStream } from "../../src/opencti/stream.ts";
import { type Intent, intentsOf } from "../../src/sentinel/events.ts";
import { SEED_TIME } from "../../src/sim/opencti_seed.ts";
import { buildFrames } from "../bench/frames.ts";
import { invalidUtf8, mutateJson, type MutationKind, MUTATIONS, pick, rng } from "./mutate.ts";

/** The outcome of a fuzz run. */
export interface FuzzReport {
  /** Cases generated. */
  cases: number;
  /** Exceptions that escaped (each one a bug). */
  crashes: string[];
  /** Bad items counted, by reason. */
  reasons: Record<string, number>;
  /** Unmutated items. */
  good: number;
  /** Unmutated items that went through as expected. */
  goodThrough: number;
  /** Cases not accounted for (neither through nor counted): each one a silent drop. */
  unaccounted: string[];
}

/** Options of {@linkcode fuzzStream}. */
export interface StreamFuzzOptions {
  /** Frames generated. @default 400 */
  cases?: number;
  /** Share of frames left intact. @default 0.4 */
  goodShare?: number;
}

type Kind = MutationKind | "unknown_event" | "missing_id" | "empty_data" | "not_json";

function summary(intents: Intent[]): string {
  return intents.map((i) =>
    i.kind === "upsert"
      ? `upsert:${i.indicator.id}:${i.indicator.observables.map((o) => o.value).join(",")}`
      : i.kind === "remove"
      ? `remove:${i.removal.id}`
      : `skip:${i.reason}`
  ).join("|");
}

/** Runs the stream fuzzer with `seed`. */
export async function fuzzStream(
  seed: number,
  options: StreamFuzzOptions = {},
): Promise<FuzzReport> {
  const random = rng(seed);
  const count = options.cases ?? 400;
  const now = Date.parse(SEED_TIME);
  const base = await buildFrames(120, seed);
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const expected = new Map<string, { good: boolean; kind: Kind | "good"; intents?: string }>();
  const kinds: Kind[] = [...MUTATIONS, "unknown_event", "missing_id", "empty_data", "not_json"];
  for (let i = 0; i < count; i++) {
    const source = pick(random, base.frames);
    const event = /^event: (\w+)$/m.exec(source)?.[1] ?? "create";
    const data = JSON.parse(source.slice(source.indexOf("data: ") + 6).trim()) as unknown;
    const id = `${1_700_000_000_000 + i}-0`;
    if (random() < (options.goodShare ?? 0.4)) {
      const text = JSON.stringify(data);
      parts.push(encoder.encode(`id: ${id}\nevent: ${event}\ndata: ${text}\n\n`));
      expected.set(id, {
        good: true,
        kind: "good",
        intents: summary(intentsOf(event, JSON.parse(text), { now })),
      });
      continue;
    }
    const kind = pick(random, kinds);
    expected.set(id, { good: false, kind });
    switch (kind) {
      case "unknown_event":
        parts.push(encoder.encode(`id: ${id}\nevent: x-sync\ndata: ${JSON.stringify(data)}\n\n`));
        break;
      case "missing_id":
        parts.push(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
        break;
      case "empty_data":
        parts.push(encoder.encode(`id: ${id}\nevent: ${event}\ndata: \n\n`));
        break;
      case "not_json":
        parts.push(encoder.encode(`id: ${id}\nevent: ${event}\ndata: <html>502 Bad Gateway\n\n`));
        break;
      case "invalid_utf8": {
        const bytes = invalidUtf8(JSON.stringify(data), random);
        parts.push(
          encoder.encode(`id: ${id}\nevent: ${event}\ndata: `),
          bytes,
          encoder.encode("\n\n"),
        );
        break;
      }
      default: {
        // Mutate inside the STIX object most of the time, else anywhere in the envelope.
        const target = random() < 0.7 ? (data as { data: unknown }).data : data;
        const mutated = mutateJson(target, kind, random, { hugeLength: 300_000 });
        const text = target === data ? mutated : spliceData(data, mutated);
        parts.push(encoder.encode(`id: ${id}\nevent: ${event}\ndata: ${text}\n\n`));
      }
    }
  }
  // One stream, cut at random places (mid-frame and mid-character).
  const all = concat(parts);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < all.length;) {
    const size = 1 + Math.floor(random() * 8192);
    chunks.push(all.subarray(at, at + size));
    at += size;
  }

  const report: FuzzReport = {
    cases: count,
    crashes: [],
    reasons: {},
    good: [...expected.values()].filter((e) => e.good).length,
    goodThrough: 0,
    unaccounted: [],
  };
  const seen = new Set<string>();
  const count1 = (reason: string) => report.reasons[reason] = (report.reasons[reason] ?? 0) + 1;
  const controller = new AbortController();
  let served = false;
  const reader = readLiveStream({
    url: "http://opencti.fuzz.invalid",
    token: "fuzz-token",
    streamId: "live-indicators",
    signal: controller.signal,
    watchdogMs: 3_600_000,
    fetch: () => {
      const source = served ? [] : chunks;
      served = true;
      let index = 0;
      return Promise.resolve(
        new Response(
          new ReadableStream<Uint8Array>({
            pull(c) {
              const chunk = source[index++];
              if (chunk === undefined) c.close();
              else c.enqueue(chunk);
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
      );
    },
    onMalformed: (frame) => {
      count1(`malformed: ${frame.reason.split(":")[0]}`);
      if (frame.id !== undefined) seen.add(frame.id);
      else seen.add("(no id)");
    },
  });
  try {
    let ignoredBefore = 0;
    // The reader ends its first connection when the chunks run out, then would reconnect: stop
    // once the last case's id (or a later frame) was handled.
    const lastId = `${1_700_000_000_000 + count - 1}-0`;
    const watch = setInterval(() => {
      if (reader.cursor === lastId) controller.abort();
    }, 5);
    try {
      for await (const frame of reader) {
        if (frame.event === "connected" || frame.event === "heartbeat") continue;
        seen.add(frame.id);
        const stats = reader.stats;
        if (stats.ignored > ignoredBefore) ignoredBefore = stats.ignored;
        let intents: Intent[];
        try {
          intents = intentsOf(frame.event, frame.data, { now });
        } catch (error) {
          report.crashes.push(`intentsOf(${frame.id}): ${String(error)}`);
          continue;
        }
        const want = expected.get(frame.id);
        if (want?.good) {
          if (summary(intents) === want.intents) report.goodThrough++;
        } else {
          for (const intent of intents) {
            if (intent.kind === "skip") count1(`skip: ${intent.reason}`);
          }
        }
        if (frame.id === lastId) break;
      }
    } finally {
      clearInterval(watch);
    }
    if (reader.stats.ignored > 0) report.reasons["ignored: unknown event"] = reader.stats.ignored;
  } catch (error) {
    report.crashes.push(`reader: ${String(error)}`);
  } finally {
    controller.abort();
    await reader.return();
  }
  for (const [id, want] of expected) {
    if (seen.has(id)) continue;
    if (want.kind === "unknown_event" || want.kind === "missing_id") continue; // counted above
    report.unaccounted.push(`${id} (${want.kind})`);
  }
  return report;
}

function spliceData(envelope: unknown, mutatedData: string): string {
  const text = JSON.stringify({ ...(envelope as Record<string, unknown>), data: "\u0000SPLICE" });
  return text.replace('"\\u0000SPLICE"', mutatedData === "" ? '""' : mutatedData);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
