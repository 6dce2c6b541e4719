/**
 * Reconciliation (issue 17): makes the Microsoft target hold exactly what the OpenCTI live stream
 * says, whatever happened before (weeks before the connector was installed, records deleted by
 * hand, leftovers, expiries, dead letters).
 *
 * 1. The desired set: a second, bounded connection replays the stream's current content
 *    (`Last-Event-ID: 0-0` + `?recover=<now>`, as on a first run, reference opencti.md §3.3) into
 *    a compact map STIX id → fingerprint of the mapped records; it stops at the first heartbeat
 *    past the recover date, or at a second heartbeat with no data between (the server has
 *    nothing more to send), and never touches the connector's cursor.
 * 2. The actual set: the target's `listOwned()` (Graph: our app's records by `externalId`;
 *    Sentinel: ARM query by our `sourcesystem`; Defender: our `application`).
 * 3. {@linkcode planReconcile} (pure) → missing / stale / orphans; only listed (owned) records
 *    can be deleted, so foreign records are never touched.
 * 4. Execution: a second replay picks the indicators to write and hands them, with the orphan
 *    removals, to `deliver` — the connector's own batched, paced, split-on-request-failure,
 *    dead-letter-aware path ({@linkcode SentinelConnector.deliverOutOfBand}).
 *
 * @module
 */
import { getLogger } from "../log.ts";
import { type Now, systemNow } from "../runtime/clock.ts";
import { type LiveStreamOptions, readLiveStream } from "../opencti/stream.ts";
import type { Operation } from "./connector.ts";
import type { AdoptSource } from "./adopt.ts";
import { type Intent, intentsOf } from "./events.ts";
import { FingerprintTable, OwnedTable } from "../microsoft/key_table.ts";
import type {
  AdoptableRecord,
  OwnedRecord,
  OwnedRecords,
  SyncTarget,
  TargetIndicator,
} from "../microsoft/target.ts";
import { type ItemResult, scopeOf } from "../runtime/delivery.ts";
import { errorMessage } from "../runtime/errors.ts";

/** Placeholder fingerprint of the orphans a reconcile deleted (a set, kept compact). */
const DELETED = "0000000000000000";

/** A reconcile that could not run (listing failed, replay out of bounds). */
export class ReconcileError extends Error {
  /** The error's name. */
  override name = "ReconcileError";
}

/** Stream settings of the replay: the connector's own, without a start position. */
export type ReplayOptions = Omit<LiveStreamOptions, "startFrom" | "recover" | "onConfigError"> & {
  /** The recover date of the replay. @default now */
  recoverIsoDate?: string;
  /** Largest number of data frames one replay reads before giving up. @default 50000000 */
  maxFrames?: number;
};

/**
 * Replays the stream's current content once (bounded: it ends at the first heartbeat) and hands
 * each frame's intents to `visit`. Auth, not-found and stopped-stream errors are thrown.
 */
export async function replayIntents(
  options: ReplayOptions,
  visit: (intent: Intent) => void | Promise<void>,
): Promise<{ frames: number }> {
  const now = options.now ?? systemNow;
  const { recoverIsoDate, maxFrames = 50_000_000, ...stream } = options;
  const recover = recoverIsoDate ?? new Date(now()).toISOString();
  const recoverMs = Date.parse(recover);
  const reader = readLiveStream({
    ...stream,
    startFrom: "0-0",
    recover,
    onConfigError: "throw",
  });
  let frames = 0;
  let idle = false;
  try {
    for await (const frame of reader) {
      // The server has sent everything once it heartbeats past the recover date (a heartbeat
      // carries the last id it processed; recovery ids are `<updated_at>-0`, before that date),
      // or heartbeats twice with no data between (idle: its clock may be behind ours, and the
      // last id of an idle stream does not move).
      if (frame.event === "heartbeat") {
        const at = Number(/^(\d+)-\d+$/.exec(frame.id)?.[1] ?? Number.NaN);
        if (idle || Number.isNaN(at) || Number.isNaN(recoverMs) || at >= recoverMs) break;
        idle = true;
        continue;
      }
      idle = false;
      if (frame.event === "connected") continue;
      if (++frames > maxFrames) {
        throw new ReconcileError(
          `The reconcile replay read more than ${maxFrames} frames without catching up`,
        );
      }
      for (const intent of intentsOf(frame.event, frame.data, { now: now() })) await visit(intent);
    }
  } finally {
    await reader.close();
  }
  options.signal?.throwIfAborted();
  return { frames };
}

/**
 * Where a reconcile's desired indicators come from, as intents handed to `visit`: by default the
 * stream replay ({@linkcode replayIntents}); the TAXII collections of `SENTINEL_TAXII_COLLECTIONS`
 * otherwise. It must throw rather than end early (a partial set would delete what is missing).
 */
export type IntentSource = (
  visit: (intent: Intent) => void | Promise<void>,
  signal?: AbortSignal,
) => Promise<unknown>;

/**
 * What the target should hold for one intent: its fingerprint, `null` when the target should hold
 * nothing for the id, undefined when the intent says nothing (a skip).
 */
export function desiredOf(
  intent: Intent,
  target: SyncTarget,
): { id: string; fingerprint: string | null; indicator?: TargetIndicator } | undefined {
  const fingerprint = (indicator: TargetIndicator) => {
    if (target.rejects?.(indicator) !== undefined) return null;
    const supported = target.unsupported
      ? indicator.observables.filter((o) => target.unsupported?.(o) === undefined)
      : indicator.observables;
    if (supported.length === 0) return null;
    const kept = supported.length === indicator.observables.length
      ? indicator
      : { ...indicator, observables: supported };
    return target.fingerprint?.(kept) ?? null;
  };
  switch (intent.kind) {
    case "upsert":
      return {
        id: intent.indicator.id,
        fingerprint: fingerprint(intent.indicator),
        indicator: intent.indicator,
      };
    case "remove":
      if (intent.indicator && target.revokeByUpload) {
        return {
          id: intent.indicator.id,
          fingerprint: fingerprint(intent.indicator),
          indicator: intent.indicator,
        };
      }
      return { id: intent.removal.id, fingerprint: null };
    case "skip":
      return undefined;
  }
}

/**
 * Replays the stream into the desired set: STIX id → fingerprint, in a compact table (about 26
 * bytes per slot: the id's 128 bits, a prefix code, the 64-bit fingerprint). With `aliases`, also
 * notes each desired indicator's OpenCTI internal id → STIX id (for adoption); with `scored`, each
 * one's score in a column of the table (8 more bytes per slot; for a capped target).
 */
export async function desiredSet(
  replay: ReplayOptions | IntentSource,
  target: SyncTarget,
  aliases?: Map<string, string>,
  scored = false,
): Promise<FingerprintTable> {
  const desired = new FingerprintTable({ scored });
  const read: IntentSource = typeof replay === "function"
    ? replay
    : (visit) => replayIntents(replay, visit);
  await read((intent) => {
    const wanted = desiredOf(intent, target);
    if (!wanted) return;
    if (wanted.fingerprint === null) desired.delete(wanted.id);
    else desired.set(wanted.id, wanted.fingerprint, wanted.indicator?.score ?? -1);
    const internal = wanted.indicator?.openctiId;
    if (aliases && internal !== undefined && internal !== wanted.id) {
      aliases.set(internal, wanted.id);
    }
  });
  if (aliases) {
    for (const [internal, id] of aliases) if (!desired.has(id)) aliases.delete(internal);
  }
  return desired;
}

/**
 * Keeps the `capacity` highest-scored indicators of the desired set (ties: the smaller id; no
 * score below every score), as the target's cap does (`DEFENDER_MAX_INDICATORS`), so what the cap
 * leaves out is not "missing" on every run. The scores are `scores`, or, without it, the column of
 * a scored table ({@linkcode desiredSet} with `scored`). Drops the aliases of what it removes.
 * Returns how many it removed.
 */
export function capDesired(
  desired: FingerprintTable | Map<string, string>,
  scores: ReadonlyMap<string, number> | undefined,
  capacity: number,
  aliases?: Map<string, string>,
): number {
  if (desired.size <= capacity) return 0;
  let removed: number;
  if (scores === undefined && desired instanceof FingerprintTable) {
    removed = desired.keepHighest(capacity);
  } else {
    const ranked = [...desired.keys()].sort((a, b) =>
      (scores?.get(b) ?? -1) - (scores?.get(a) ?? -1) || (a < b ? -1 : a > b ? 1 : 0)
    );
    for (const id of ranked.slice(capacity)) desired.delete(id);
    removed = ranked.length - capacity;
  }
  if (aliases) {
    for (const [internal, id] of aliases) if (!desired.has(id)) aliases.delete(internal);
  }
  return removed;
}

/** The difference between the desired and the actual set. */
export interface ReconcilePlan {
  /** Desired, absent from the target: to create. */
  missing: string[];
  /** Held with other fields (or duplicates): to update. */
  stale: string[];
  /** Ours on the target, no longer desired: to delete. */
  orphans: string[];
  /** Desired and held as they should be. */
  unchanged: number;
  /** Size of the desired set. */
  desired: number;
  /** Indicators the target holds for us. */
  actual: number;
}

/**
 * Desired vs actual → what to create, update and delete. Pure. Only ids the target listed as ours
 * can become deletions, so records we do not own are never touched. A compact desired and listed
 * set (`FingerprintTable`, `OwnedTable`) are compared word by word, with no string or object per
 * unchanged indicator (1,000,000 in about 0.1 s, where reading them as a map took 6-7 s).
 */
export function planReconcile(
  desired: ReadonlyMap<string, string>,
  actual: readonly OwnedRecord[] | OwnedRecords,
): ReconcilePlan {
  if (desired instanceof FingerprintTable && actual instanceof OwnedTable) {
    // Both compact (what the Reconciler has): compared as words, a string only per difference.
    const { missing, stale, orphans, unchanged } = actual.diff(desired);
    return {
      missing: missing.sort(),
      stale: stale.sort(),
      orphans: orphans.sort(),
      unchanged,
      desired: desired.size,
      actual: actual.size,
    };
  }
  let held: OwnedRecords;
  if (isList(actual)) {
    const byId = new Map<string, OwnedRecord>();
    for (const record of actual) byId.set(record.id, record);
    held = { size: byId.size, get: (id) => byId.get(id), [Symbol.iterator]: () => byId.values() };
  } else {
    held = actual;
  }
  const plan: ReconcilePlan = {
    missing: [],
    stale: [],
    orphans: [],
    unchanged: 0,
    desired: desired.size,
    actual: isList(actual) ? actual.length : actual.size,
  };
  for (const [id, fingerprint] of desired) {
    const record = held.get(id);
    if (!record) plan.missing.push(id);
    else if (record.fingerprint !== fingerprint || record.records < 1) plan.stale.push(id);
    else plan.unchanged++;
  }
  for (const record of held) if (!desired.has(record.id)) plan.orphans.push(record.id);
  plan.missing.sort();
  plan.stale.sort();
  plan.orphans.sort();
  return plan;
}

function isList(
  actual: readonly OwnedRecord[] | OwnedRecords,
): actual is readonly OwnedRecord[] {
  return Array.isArray(actual);
}

/** What the connector's delivery path did with a set of operations. */
export interface DeliveryOutcome {
  /** Ids acknowledged by the target. */
  delivered: string[];
  /** Refused on their own: now dead letters. */
  deadLettered: number;
  /** Nothing the target can take. */
  skipped: number;
  /** Held by a systemic failure (not sent; a later reconcile sends them). */
  held: number;
  /** The systemic failure, when one held operations. */
  problem?: { reason: string; check?: string };
}

/** Delivers operations through the connector's path. */
export type Deliver = (operations: Operation[], signal?: AbortSignal) => Promise<DeliveryOutcome>;

/** The outcome of one reconcile, for `/status`, `/metrics` and the admin route. */
export interface ReconcileReport {
  /** ISO start time. */
  at: string;
  /** How long it took, in ms. */
  durationMs: number;
  /** True when nothing was changed on purpose. */
  dryRun: boolean;
  /** True for a first-start reconcile (adoption and deletions only). */
  deletesOnly?: boolean;
  /** Size of the desired set. */
  desired: number;
  /** Left out of the desired set by the target's cap (the lowest-scored). @default 0 */
  capped?: number;
  /** Indicators the target held for us before. */
  actual: number;
  /** Drift found: missing, stale and orphan indicators. */
  drift: { missing: number; stale: number; orphans: number };
  /** Upstream records found that stand for a desired indicator (to adopt), and the others left. */
  adoptable?: { matched: number; left: number };
  /** Created (missing ones delivered). */
  created: number;
  /** Updated (stale ones delivered). */
  updated: number;
  /** Deleted (orphans removed). */
  deleted: number;
  /** Upstream connectors' records taken over (removed, ours written in their place). */
  adopted: number;
  /** Upstream records whose removal was refused (left in place, logged). */
  adoptFailed: number;
  /** Dead letters, skips and held operations of the execution. */
  deadLettered: number;
  /** Skipped by design. */
  skipped: number;
  /** Held by a systemic failure. */
  held: number;
  /** True when a check listing after the execution found no drift (undefined on a dry run). */
  converged?: boolean;
  /** The systemic failure that held operations, when any. */
  problem?: string;
  /** The plan's first items of each kind (dry run, and the admin route). */
  preview: { missing: string[]; stale: string[]; orphans: string[]; adopted?: string[] };
}

/** Options of {@linkcode Reconciler}. */
export interface ReconcilerOptions {
  /** The target (must list what it owns). */
  target: SyncTarget;
  /** How to replay the stream. */
  replay: ReplayOptions;
  /** The connector's delivery path. */
  deliver: Deliver;
  /** Where the desired indicators come from. @default the stream replay (`replay`) */
  source?: IntentSource;
  /** List again after executing, to report `converged`. @default true */
  verify?: boolean;
  /** Items of each kind shown in a preview. @default 100 */
  previewSize?: number;
  /** Upstream records to adopt (`SENTINEL_ADOPT_SOURCE`). @default none */
  adopt?: AdoptSource;
  /** The clock. @default Date.now */
  now?: Now;
}

/** Options of {@linkcode Reconciler.run}. */
export interface RunOptions {
  /** Plan only: change nothing. @default false */
  dryRun?: boolean;
  /**
   * Only adopt and delete (no creates or updates): the first-start reconcile, run before the
   * stream's own recovery writes every indicator. @default false
   */
  deletesOnly?: boolean;
  /** Stops the reconcile. */
  signal?: AbortSignal;
}

/** Runs reconciles for one target (one at a time). */
export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #now: Now;
  readonly #log = getLogger("sentinel", "reconcile");
  #last: ReconcileReport | undefined;
  #running: Promise<ReconcileReport> | undefined;

  /** Builds the reconciler; nothing runs before {@linkcode run}. */
  constructor(options: ReconcilerOptions) {
    if (!options.target.listOwned || !options.target.fingerprint) {
      throw new ReconcileError(
        `The ${options.target.name} target cannot list what it holds: set SENTINEL_RECONCILE_PERIOD=0`,
      );
    }
    this.#o = options;
    this.#now = options.now ?? systemNow;
  }

  /** The last report, if any. */
  get last(): ReconcileReport | undefined {
    return this.#last;
  }

  /** True while a reconcile runs. */
  get running(): boolean {
    return this.#running !== undefined;
  }

  /** Runs one reconcile (a second call while one runs joins it). */
  run(options: RunOptions = {}): Promise<ReconcileReport> {
    this.#running ??= this.#run(options).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(options: RunOptions): Promise<ReconcileReport> {
    const started = this.#now();
    const { target } = this.#o;
    const replay: ReplayOptions = options.signal
      ? { ...this.#o.replay, signal: options.signal }
      : this.#o.replay;
    const source = this.#o.source;
    const read: IntentSource = source
      ? (visit) => source(visit, options.signal)
      : (visit) => replayIntents(replay, visit);
    const aliases = this.#o.adopt ? new Map<string, string>() : undefined;
    const desired = await desiredSet(read, target, aliases, target.capacity !== undefined);
    const capped = target.capacity === undefined
      ? 0
      : capDesired(desired, undefined, target.capacity, aliases);
    const plan = planReconcile(desired, await this.#list(options.signal));
    const { matched: adoption, left: adoptableLeft } = aliases
      ? await this.#adoptable(desired, aliases, plan, options.signal)
      : { matched: [], left: 0 };
    const size = this.#o.previewSize ?? 100;
    const report: ReconcileReport = {
      at: new Date(started).toISOString(),
      durationMs: 0,
      dryRun: options.dryRun === true,
      ...(options.deletesOnly ? { deletesOnly: true } : {}),
      desired: plan.desired,
      actual: plan.actual,
      drift: {
        missing: plan.missing.length,
        stale: plan.stale.length,
        orphans: plan.orphans.length,
      },
      created: 0,
      updated: 0,
      deleted: 0,
      adopted: 0,
      adoptFailed: 0,
      deadLettered: 0,
      skipped: 0,
      held: 0,
      ...(capped > 0 ? { capped } : {}),
      preview: {
        missing: plan.missing.slice(0, size),
        stale: plan.stale.slice(0, size),
        orphans: plan.orphans.slice(0, size),
      },
    };
    if (this.#o.adopt) {
      report.adoptable = {
        matched: adoption.length,
        left: adoptableLeft,
      };
      report.preview.adopted = adoption.slice(0, size).map((a) => a.key);
    }
    this.#log.info(
      "Reconcile plan: {desired} desired, {actual} held, {missing} missing, {stale} stale, {orphans} orphans",
      { ...report.drift, desired: plan.desired, actual: plan.actual },
    );
    if (!options.dryRun) {
      const adopted = await this.#adopt(adoption, report, options.signal);
      if (adopted) {
        await this.#execute(
          options.deletesOnly ? { ...plan, missing: [], stale: [] } : plan,
          desired,
          read,
          report,
          options.signal,
          options.deletesOnly === true,
        );
      }
      if ((this.#o.verify ?? true) && !options.deletesOnly) {
        const after = planReconcile(desired, await this.#list(options.signal));
        const left = aliases
          ? (await this.#adoptable(desired, aliases, after, options.signal)).matched.length
          : 0;
        report.converged =
          after.missing.length + after.stale.length + after.orphans.length + left === 0;
      }
    }
    report.durationMs = this.#now() - started;
    this.#last = report;
    return report;
  }

  /**
   * The upstream connector's records that stand for a desired indicator (by STIX id, or by OpenCTI
   * internal id through `aliases`); they leave the plan's orphans (Graph lists them as ours) and
   * are adopted: deleted before ours is written, so the switch never leaves a duplicate.
   */
  async #adoptable(
    desired: ReadonlyMap<string, string>,
    aliases: ReadonlyMap<string, string>,
    plan: ReconcilePlan,
    signal: AbortSignal | undefined,
  ): Promise<{ matched: (AdoptableRecord & { id: string })[]; left: number }> {
    const adopt = this.#o.adopt;
    const target = this.#o.target;
    if (!adopt || !target.listAdoptable) return { matched: [], left: 0 };
    let records: AdoptableRecord[];
    try {
      records = await target.listAdoptable(adopt.source, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ReconcileError(
        `Cannot list the records of ${adopt.connector} on ${target.name}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    const matched: (AdoptableRecord & { id: string })[] = [];
    let left = 0;
    for (const record of records) {
      const id = desired.has(record.key) ? record.key : aliases.get(record.key);
      if (id === undefined) left++;
      else matched.push({ ...record, id });
    }
    const keys = new Set(matched.map((m) => m.key));
    plan.orphans = plan.orphans.filter((id) => !keys.has(id));
    return { matched, left };
  }

  /** Deletes the adopted records; false when a systemic failure stopped it (nothing else runs). */
  async #adopt(
    adoption: (AdoptableRecord & { id: string })[],
    report: ReconcileReport,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const target = this.#o.target;
    if (adoption.length === 0 || !target.removeRecords) return true;
    for (let start = 0; start < adoption.length; start += target.maxBatch) {
      const chunk = adoption.slice(start, start + target.maxBatch);
      let results: ItemResult[];
      try {
        results = await target.removeRecords(chunk.map((a) => a.handle), signal);
      } catch (error) {
        if (signal?.aborted) throw error;
        report.problem ??= errorMessage(error);
        report.held += adoption.length - start;
        return false;
      }
      for (const result of results) {
        if (result.ok) {
          report.adopted++;
        } else if (scopeOf(result) === "systemic") {
          report.held++;
          report.problem ??= result.reason;
        } else {
          report.adoptFailed++;
          this.#log.error("Cannot remove the upstream record {handle}: {reason}", {
            handle: result.id,
            reason: result.reason,
          });
        }
      }
      if (report.problem !== undefined) return false;
    }
    return true;
  }

  async #list(signal: AbortSignal | undefined): Promise<readonly OwnedRecord[] | OwnedRecords> {
    const target = this.#o.target;
    try {
      return await (target.listOwned as NonNullable<SyncTarget["listOwned"]>)(signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ReconcileError(
        `Cannot list what ${target.name} holds: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  async #execute(
    plan: ReconcilePlan,
    desired: FingerprintTable,
    read: IntentSource,
    report: ReconcileReport,
    signal: AbortSignal | undefined,
    deletesOnly: boolean,
  ): Promise<void> {
    const { target, deliver } = this.#o;
    const kindOf = new Map<string, "created" | "updated">();
    for (const id of plan.missing) kindOf.set(id, "created");
    for (const id of plan.stale) kindOf.set(id, "updated");
    const batch: { kind: "created" | "updated"; op: Operation }[] = [];
    let stopped = false;
    const flush = async () => {
      const ops = batch.splice(0);
      if (ops.length === 0 || stopped) return;
      const outcome = await deliver(ops.map((o) => o.op), signal);
      this.#account(report, outcome);
      const delivered = new Set(outcome.delivered);
      for (const op of ops) {
        if (op.op.kind === "upsert" && delivered.has(op.op.indicator.id)) report[op.kind]++;
      }
      if (outcome.problem) stopped = true;
    };
    // Deletes first: under a target's cap they make the room the creates need.
    const removeBatch = Math.max(1, target.maxRemoveBatch ?? target.maxBatch);
    /**
     * Orphans deleted now (compact). One the stream wrote after the first replay and before the
     * listing is desired now: the second replay shows it, and it is written back (not on a first
     * start, whose recovery writes every indicator next).
     */
    const deleted = new FingerprintTable();
    /** The last state the second replay shows of each of them (null: not to hold). */
    const back = new Map<string, ReturnType<typeof desiredOf> | null>();
    for (let start = 0; start < plan.orphans.length && !stopped; start += removeBatch) {
      const ids = plan.orphans.slice(start, start + removeBatch);
      const outcome = await deliver(ids.map((id) => ({ kind: "remove", removal: { id } })), signal);
      this.#account(report, outcome);
      report.deleted += outcome.delivered.length;
      // Not under a cap that left indicators out: the replay shows those, and they stay deleted.
      if (!deletesOnly && !report.capped) {
        for (const id of outcome.delivered) deleted.set(id, DELETED);
      }
      if (outcome.problem) stopped = true;
    }
    if ((kindOf.size > 0 || deleted.size > 0) && !stopped) {
      await read(async (intent) => {
        if (stopped || intent.kind === "skip") return;
        // Most frames are not to write: their fingerprint is not computed again.
        const id = intent.kind === "upsert"
          ? intent.indicator.id
          : (intent.indicator?.id ?? intent.removal.id);
        if (deleted.has(id)) {
          // Listed as ours and not desired: if the stream has it at the end of this replay, it
          // came after the first one (the stream wrote it before the listing): written back.
          const wanted = desiredOf(intent, target);
          if (wanted) back.set(id, wanted.fingerprint === null ? null : wanted);
          return;
        }
        if (!kindOf.has(id)) return;
        const wanted = desiredOf(intent, target);
        if (!wanted?.indicator) return;
        const kind = kindOf.get(wanted.id);
        // Only the version the plan was made from (a later one is the stream's to deliver).
        if (kind === undefined || desired.get(wanted.id) !== wanted.fingerprint) return;
        kindOf.delete(wanted.id);
        batch.push({ kind, op: { kind: "upsert", indicator: wanted.indicator } });
        if (batch.length >= target.maxBatch) await flush();
      });
      for (const [id, wanted] of back) {
        if (stopped || !wanted?.indicator || wanted.fingerprint === null) continue;
        this.#log.info("Writing {id} back: the stream has it since the reconcile's replay", { id });
        desired.set(id, wanted.fingerprint); // so the check listing expects it
        batch.push({ kind: "created", op: { kind: "upsert", indicator: wanted.indicator } });
        if (batch.length >= target.maxBatch) await flush();
      }
      await flush();
    }
  }

  #account(report: ReconcileReport, outcome: DeliveryOutcome): void {
    report.deadLettered += outcome.deadLettered;
    report.skipped += outcome.skipped;
    report.held += outcome.held;
    if (outcome.problem && report.problem === undefined) report.problem = outcome.problem.reason;
  }
}
