/**
 * Realistic OpenCTI live-stream workloads for the benchmarks: indicators from the simulator's
 * seeded generator pushed through the simulator's own store (so every object carries the OpenCTI
 * extension and every update its patch), then rendered as the SSE text the platform sends
 * (`reference/opencti.md` §3).
 *
 * @module
 */
import { generateIndicators, SEED_TIME, seededRandom } from "../../src/sim/opencti_seed.ts";
import {
  extensionOf,
  OPENCTI_EXTENSION,
  OpenCtiStore,
  SIM_USER_ID,
  type StreamEvent,
} from "../../src/sim/opencti_store.ts";
import type { StixObject } from "../../src/stix/types.ts";

/** A rendered workload. */
export interface FrameWorkload {
  /** One SSE frame per event (`id:`, `event:`, `data:` lines and the blank line). */
  frames: string[];
  /** The `data:` JSON text of each frame (for the `JSON.parse` baseline). */
  data: string[];
  /** Events per kind. */
  counts: { create: number; update: number; delete: number };
}

/** Options of {@linkcode buildFrames}. */
export interface BuildFramesOptions {
  /** Share of creates; the rest is split between updates and deletes by `updateShare`. @default 0.6 */
  createShare?: number;
  /** Share of the rest that are updates (the others are deletes). @default 0.75 */
  updateShare?: number;
  /** Clock origin of the event ids (epoch ms). @default SEED_TIME */
  time?: number;
}

/** Renders one stored event the way the platform does (envelope version 4). */
export function renderFrame(event: StreamEvent): { frame: string; data: string } {
  const envelope = {
    version: "4",
    type: event.event,
    scope: "external",
    message: event.message,
    origin: event.origin,
    data: event.data,
    ...(event.context === undefined ? {} : { context: event.context }),
    event_id: event.id,
  };
  const data = JSON.stringify(envelope);
  return { frame: `id: ${event.id}\nevent: ${event.event}\ndata: ${data}\n\n`, data };
}

/**
 * `n` frames of creates, updates (description and score changes, with the platform's patch) and
 * deletes over a seeded, mixed set of distinct indicators (IPv4/IPv6, domains, hostnames, URLs,
 * emails, hashes, OR patterns, a few sigma/yara, some revoked or expired).
 */
export async function buildFrames(
  n: number,
  seed: number,
  options: BuildFramesOptions = {},
): Promise<FrameWorkload> {
  const createShare = options.createShare ?? 0.6;
  const updateShare = options.updateShare ?? 0.75;
  const random = seededRandom(seed ^ 0x5eed);
  let clock = options.time ?? Date.parse(SEED_TIME);
  let seq = 0;
  const store = new OpenCtiStore({ now: () => clock });
  const base = await generateIndicators(
    Math.ceil(n * createShare) + 16,
    seed,
    options.time === undefined ? {} : { time: options.time },
  );
  const workload: FrameWorkload = {
    frames: [],
    data: [],
    counts: { create: 0, update: 0, delete: 0 },
  };
  const emit = (event: StreamEvent) => {
    const { frame, data } = renderFrame(event);
    workload.frames.push(frame);
    workload.data.push(data);
    if (event.event === "create" || event.event === "update" || event.event === "delete") {
      workload.counts[event.event]++;
    }
  };
  const origin = { ip: "::ffff:127.0.0.1", user_id: SIM_USER_ID, applicant_id: SIM_USER_ID };
  const live: StixObject[] = [];
  let next = 0;
  while (workload.frames.length < n) {
    clock += 1 + Math.floor(random() * 3);
    const id = `${clock}-${seq++}`;
    const roll = random();
    if (live.length === 0 || (roll < createShare && next < base.length)) {
      // The store adds the OpenCTI extension exactly as the simulator serves it.
      const { event } = store.upsert(base[next++] as StixObject);
      store.trim({ keep: 0 });
      live.push(event.data);
      emit({ ...event, id });
    } else if (roll < createShare + (1 - createShare) * updateShare || live.length < 2) {
      const index = Math.floor(random() * live.length);
      const before = live[index] as StixObject;
      const iso = new Date(clock).toISOString();
      const score = 10 * (1 + Math.floor(random() * 10));
      const description = `Reviewed indicator, revision ${seq}`;
      const ext = extensionOf(before) ?? {};
      const after: StixObject = {
        ...before,
        description,
        modified: iso,
        extensions: { [OPENCTI_EXTENSION]: { ...ext, score, updated_at: iso } },
      };
      live[index] = after;
      emit({
        id,
        event: "update",
        data: after,
        message:
          `replaces \`${description}\` in \`description\` - replaces \`${score}\` in \`score\``,
        origin,
        context: {
          patch: [
            { op: "replace", path: "/description", value: description },
            { op: "replace", path: `/extensions/${OPENCTI_EXTENSION}/score`, value: score },
          ],
          reverse_patch: [
            { op: "replace", path: "/description", value: before.description },
            { op: "replace", path: `/extensions/${OPENCTI_EXTENSION}/score`, value: ext.score },
          ],
        },
      });
    } else {
      const index = Math.floor(random() * live.length);
      const object = live[index] as StixObject;
      live[index] = live[live.length - 1] as StixObject;
      live.pop();
      emit({
        id,
        event: "delete",
        data: object,
        message: `deletes a Indicator \`${String(object.name)}\``,
        origin,
      });
    }
  }
  return workload;
}

/** Joins frames into network-sized chunks (as a socket would deliver them). */
export function toChunks(frames: readonly string[], chunkBytes = 64 * 1024): Uint8Array[] {
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let parts: string[] = [];
  let size = 0;
  for (const frame of frames) {
    parts.push(frame);
    size += frame.length;
    if (size >= chunkBytes) {
      chunks.push(encoder.encode(parts.join("")));
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) chunks.push(encoder.encode(parts.join("")));
  return chunks;
}
