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

/** Shares of the events of a catch-up backlog (they add up to 1). */
export interface CatchUpMix {
  /** Creates of new indicators. */
  create: number;
  /** Updates (description and score) of an indicator in OpenCTI. */
  update: number;
  /** Updates that revoke an indicator not yet revoked. */
  revoke: number;
  /** Deletes of an indicator in OpenCTI. */
  delete: number;
}

/** What the generator knows about one indicator once the backlog is written (its ground truth). */
export interface IndicatorTruth {
  /** Its create was in the stream's history: the target already holds what it was then. */
  held: boolean;
  /** Its state in OpenCTI after the backlog. */
  state: "live" | "revoked" | "deleted";
  /** The object as the history left it (held indicators only). */
  before?: StixObject;
  /** The object as its last event showed it (for a deleted one: as it was when deleted). */
  last: StixObject;
  /** Events of the backlog about it (0 or 1). */
  events: number;
}

/** A catch-up workload: indicators already held, then a backlog of events. */
export interface CatchUpWorkload {
  /** The backlog, one SSE frame per event. */
  frames: string[];
  /** The `data:` JSON text of each frame. */
  data: string[];
  /** Events per kind (a revoke is an update that sets `revoked`). */
  counts: { create: number; update: number; revoke: number; delete: number };
  /** The held indicators, as the stream's history last showed them. */
  held: StixObject[];
  /** Ground truth per STIX id, every indicator held or created. */
  truth: Map<string, IndicatorTruth>;
}

/** Options of {@linkcode buildCatchUp}. */
export interface CatchUpOptions {
  /** Indicators whose create the stream's history already delivered. */
  held: number;
  /** Events in the backlog. */
  events: number;
  /** Shares of the backlog's events. */
  mix: CatchUpMix;
  /** Clock origin of the objects (epoch ms). @default SEED_TIME */
  time?: number;
}

/**
 * A catch-up backlog (issue 14): `held` indicators created by the stream's history (not in the
 * frames), then `events` creates, updates, revokes and deletes in the shares of `mix`. Each event
 * touches an indicator no other event touches: creates make new ones, updates, revokes and
 * deletes each take a held indicator at random (a revoke one not revoked yet). No two events
 * can then share a write, so the floor is the same for any connector whatever it reads ahead
 * (repeated touches of one indicator far apart in the stream would measure the read-ahead, not
 * the pacing).
 * Once the held indicators are all touched, the rest are creates. The generator notes as it goes
 * what each indicator ends as ({@linkcode IndicatorTruth}), so a bench can tell what every target
 * should hold without reading the frames back.
 */
export async function buildCatchUp(
  seed: number,
  options: CatchUpOptions,
): Promise<CatchUpWorkload> {
  return catchUpFrom(await buildHistory(seed, options), options);
}

/** The stream's history of a catch-up: the indicators it created, and others to create. */
export interface CatchUpHistory {
  /** Seed of the generator. */
  seed: number;
  /** Clock origin (epoch ms). */
  time: number;
  /** The held indicators, as the history last showed them (OpenCTI extension included). */
  held: StixObject[];
  /** Indicators not created yet, enough for every event of the backlog to be a create. */
  fresh: StixObject[];
}

/**
 * The history of {@linkcode buildCatchUp}, to share between backlogs of the same size (the
 * update-heavy and the delete-heavy mix start from the same held indicators).
 */
export async function buildHistory(
  seed: number,
  options: Omit<CatchUpOptions, "mix">,
): Promise<CatchUpHistory> {
  const time = options.time ?? Date.parse(SEED_TIME);
  const base = await generateIndicators(options.held + options.events + 16, seed, { time });
  const store = new OpenCtiStore({ now: () => time });
  const held: StixObject[] = [];
  for (const object of base.slice(0, options.held)) {
    // The store adds the OpenCTI extension exactly as the simulator serves it.
    held.push(store.upsert(object).event.data);
    store.trim({ keep: 0 });
  }
  return { seed, time, held, fresh: base.slice(options.held) };
}

/** {@linkcode buildCatchUp} from a history built by {@linkcode buildHistory}. */
export function catchUpFrom(
  history: CatchUpHistory,
  options: Pick<CatchUpOptions, "events" | "mix">,
): CatchUpWorkload {
  const { events, mix } = options;
  const random = seededRandom(history.seed ^ 0xca7c);
  let clock = history.time;
  let seq = 0;
  const store = new OpenCtiStore({ now: () => clock });
  const base = history.fresh;
  const workload: CatchUpWorkload = {
    frames: [],
    data: [],
    counts: { create: 0, update: 0, revoke: 0, delete: 0 },
    held: history.held,
    truth: new Map(),
  };
  // Held indicators no event touched yet, as an array (picked at random) with each id's place.
  const untouched: string[] = [];
  const placeOf = new Map<string, number>();
  const unrevoked = new Set<string>();
  const add = (object: StixObject, held: boolean) => {
    if (held) {
      placeOf.set(object.id, untouched.length);
      untouched.push(object.id);
      if (object.revoked !== true) unrevoked.add(object.id);
    }
    workload.truth.set(object.id, {
      held,
      state: object.revoked === true ? "revoked" : "live",
      ...(held ? { before: object } : {}),
      last: object,
      events: held ? 0 : 1,
    });
  };
  const touch = (id: string) => {
    const place = placeOf.get(id) as number;
    const moved = untouched[untouched.length - 1] as string;
    untouched[place] = moved;
    placeOf.set(moved, place);
    untouched.pop();
    placeOf.delete(id);
    unrevoked.delete(id);
  };
  const emit = (event: StreamEvent) => {
    const { frame, data } = renderFrame(event);
    workload.frames.push(frame);
    workload.data.push(data);
  };
  const origin = { ip: "::ffff:127.0.0.1", user_id: SIM_USER_ID, applicant_id: SIM_USER_ID };
  let next = 0;
  for (const object of history.held) add(object, true);
  const pickUntouched = () => untouched[Math.floor(random() * untouched.length)] as string;
  while (workload.frames.length < events) {
    clock += 1 + Math.floor(random() * 3);
    const id = `${clock}-${seq++}`;
    const roll = random();
    if (untouched.length === 0 && next >= base.length) break;
    if (untouched.length === 0 || (roll < mix.create && next < base.length)) {
      // The store adds the OpenCTI extension exactly as the simulator serves it.
      const { event } = store.upsert(base[next++] as StixObject);
      store.trim({ keep: 0 });
      add(event.data, false);
      workload.counts.create++;
      emit({ ...event, id });
      continue;
    }
    if (roll < mix.create + mix.update + mix.revoke) {
      const revoke = roll >= mix.create + mix.update && unrevoked.size > 0;
      const target = revoke ? pickAmong(untouched, unrevoked, random) : pickUntouched();
      touch(target);
      const truth = workload.truth.get(target) as IndicatorTruth;
      const before = truth.last;
      const iso = new Date(clock).toISOString();
      const ext = extensionOf(before) ?? {};
      let after: StixObject;
      let patch: { op: string; path: string; value: unknown }[];
      let reverse: { op: string; path: string; value: unknown }[];
      let message: string;
      if (revoke) {
        after = {
          ...before,
          revoked: true,
          modified: iso,
          extensions: { [OPENCTI_EXTENSION]: { ...ext, updated_at: iso } },
        };
        patch = [{ op: "replace", path: "/revoked", value: true }];
        reverse = [{ op: "replace", path: "/revoked", value: before.revoked ?? false }];
        message = "replaces `true` in `revoked`";
        workload.counts.revoke++;
      } else {
        const score = 10 * (1 + Math.floor(random() * 10));
        const description = `Reviewed indicator, revision ${seq}`;
        after = {
          ...before,
          description,
          modified: iso,
          extensions: { [OPENCTI_EXTENSION]: { ...ext, score, updated_at: iso } },
        };
        patch = [
          { op: "replace", path: "/description", value: description },
          { op: "replace", path: `/extensions/${OPENCTI_EXTENSION}/score`, value: score },
        ];
        reverse = [
          { op: "replace", path: "/description", value: before.description },
          { op: "replace", path: `/extensions/${OPENCTI_EXTENSION}/score`, value: ext.score },
        ];
        message =
          `replaces \`${description}\` in \`description\` - replaces \`${score}\` in \`score\``;
        workload.counts.update++;
      }
      truth.last = after;
      truth.state = after.revoked === true ? "revoked" : "live";
      truth.events++;
      emit({
        id,
        event: "update",
        data: after,
        message,
        origin,
        context: { patch, reverse_patch: reverse },
      });
      continue;
    }
    const target = pickUntouched();
    touch(target);
    const truth = workload.truth.get(target) as IndicatorTruth;
    truth.state = "deleted";
    truth.events++;
    workload.counts.delete++;
    emit({
      id,
      event: "delete",
      data: truth.last,
      message: `deletes a Indicator \`${String(truth.last.name)}\``,
      origin,
    });
  }
  return workload;
}

/** An id of `ids` also in `wanted`, at random (drawn until one is: most are). */
function pickAmong(
  ids: readonly string[],
  wanted: ReadonlySet<string>,
  random: () => number,
): string {
  for (;;) {
    const id = ids[Math.floor(random() * ids.length)] as string;
    if (wanted.has(id)) return id;
  }
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
