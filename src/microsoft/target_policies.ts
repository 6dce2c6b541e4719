/**
 * Target policies taken over from the upstream connectors, kept outside the Microsoft clients:
 * Defender's full `ACTION` set (`DEFENDER_ACTION`), the cap on indicators kept in Defender that
 * keeps the highest-scored (`DEFENDER_MAX_INDICATORS`), and the Sentinel target taking author
 * identities (`SENTINEL_PUBLISH_IDENTITIES`).
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { getLogger } from "../log.ts";
import type { DefenderAction } from "./defender_mapping.ts";
import type { UpstreamDefenderAction } from "./target_config.ts";
import type { SyncTarget, TargetIndicator, TargetRemoval } from "./target.ts";
import { failed, type ItemResult } from "../runtime/delivery.ts";

/**
 * What Defender receives for a `DEFENDER_ACTION` value. Microsoft retired `Alert` and
 * `AlertAndBlock` (supported until January 2022, reference `microsoft.md` §5): `Alert` is sent as
 * `Audit` and `AlertAndBlock` as `Block`, both with `generateAlert` true, which is what they meant.
 */
export function defenderActionOf(
  action: UpstreamDefenderAction,
): { action: DefenderAction; generateAlert?: true } {
  switch (action) {
    case "Alert":
      return { action: "Audit", generateAlert: true };
    case "AlertAndBlock":
      return { action: "Block", generateAlert: true };
    default:
      return { action };
  }
}

/** Options of {@linkcode CappedTarget}. */
export interface CappedTargetOptions {
  /** Most indicators held in the target at once (`DEFENDER_MAX_INDICATORS`). */
  maxIndicators: number;
  /** Logger. @default getLogger("sentinel", "cap") */
  logger?: Logger;
}

/** The rank of an indicator: its score, an unscored one below every scored one. */
function rankOf(score: number | undefined): number {
  return score ?? -1;
}

/**
 * Keeps at most `maxIndicators` indicators in the wrapped target, the highest-scored ones: a new
 * indicator beyond the cap replaces the lowest-scored one held when it scores higher (that one is
 * removed first), otherwise it is left out (acknowledged, counted in `status()` as `leftOut`, and
 * logged). Updates of held indicators always go through. Before its first write it reads what
 * the target already holds for us (`listOwned`), so a restart never exceeds the cap; a held
 * indicator ranks by the highest score its records allow (Defender: its `severity`) until an
 * update brings its score, so a restart never evicts one that may score higher. If that listing
 * fails, the batch is held (systemic) and the listing is tried again with the next one.
 */
export class CappedTarget implements SyncTarget {
  /** Which target this is. */
  readonly name: SyncTarget["name"];
  /** Largest number of indicators per `upsert` call. */
  readonly maxBatch: number;
  /** The wrapped target's removals per call for a reconcile's orphans, when it has one. */
  readonly maxRemoveBatch?: number;
  /** The wrapped target's largest delivery call, when it has one. */
  readonly maxCall?: number;
  /** True when the wrapped target re-sends revoked indicators. */
  readonly revokeByUpload?: boolean;
  /** The wrapped target's listing for a reconcile (issue 17), when it has one. */
  declare readonly listOwned?: NonNullable<SyncTarget["listOwned"]>;
  /** The wrapped target's fingerprint (issue 17), when it has one. */
  declare readonly fingerprint?: NonNullable<SyncTarget["fingerprint"]>;
  /** The wrapped target's upstream listing for adoption (issue 17), when it has one. */
  declare readonly listAdoptable?: NonNullable<SyncTarget["listAdoptable"]>;
  /** The wrapped target's delete of adopted records (issue 17), when it has one. */
  declare readonly removeRecords?: NonNullable<SyncTarget["removeRecords"]>;
  readonly #inner: SyncTarget;
  readonly #max: number;
  readonly #held = new Map<string, number>();
  readonly #log: Logger;
  #leftOut = 0;
  #evicted = 0;
  #seeded: Promise<void> | undefined;
  #seededCount: number | undefined;

  /** Most indicators held (`DEFENDER_MAX_INDICATORS`): a reconcile's desired set keeps as many. */
  get capacity(): number {
    return this.#max;
  }

  /** Wraps `inner` with the cap. */
  constructor(inner: SyncTarget, options: CappedTargetOptions) {
    if (!Number.isInteger(options.maxIndicators) || options.maxIndicators < 1) {
      throw new RangeError("DEFENDER_MAX_INDICATORS must be a positive integer");
    }
    this.#inner = inner;
    this.#max = options.maxIndicators;
    this.#log = options.logger ?? getLogger("sentinel", "cap");
    this.name = inner.name;
    this.maxBatch = inner.maxBatch;
    if (inner.maxRemoveBatch !== undefined) this.maxRemoveBatch = inner.maxRemoveBatch;
    if (inner.maxCall !== undefined) this.maxCall = inner.maxCall;
    if (inner.revokeByUpload !== undefined) this.revokeByUpload = inner.revokeByUpload;
    // The reconcile's methods (issue 17) pass through: without them a capped Defender target
    // would never be reconciled. Its creates and deletes still go through upsert/remove here.
    Object.assign(this, reconcileMethodsOf(inner));
  }

  /** Sends updates and the new indicators that fit, removing lower-scored ones to make room. */
  async upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
    try {
      await this.#seed(signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      const reason = "Reading what the target holds (for DEFENDER_MAX_INDICATORS) failed: " +
        (error instanceof Error ? error.message : String(error));
      return items.map((item) => failed(item.id, reason, "systemic"));
    }
    const results = new Map<string, ItemResult>();
    const send: TargetIndicator[] = [];
    const evict: string[] = [];
    const roomFor: string[] = [];
    const planned = new Map(this.#held);
    // New indicators, highest score first, so a batch over the cap keeps its best ones.
    const fresh = items.filter((item) => !this.#held.has(item.id))
      .sort((a, b) => rankOf(b.score) - rankOf(a.score));
    const known = items.filter((item) => this.#held.has(item.id));
    for (const item of known) {
      planned.set(item.id, rankOf(item.score));
      send.push(item);
    }
    for (const item of fresh) {
      if (planned.has(item.id)) {
        send.push(item);
        continue;
      }
      const rank = rankOf(item.score);
      if (planned.size < this.#max) {
        planned.set(item.id, rank);
        send.push(item);
        continue;
      }
      const lowest = lowestOf(planned, new Set(send.map((s) => s.id)));
      if (lowest !== undefined && lowest.rank < rank) {
        planned.delete(lowest.id);
        evict.push(lowest.id);
        roomFor.push(item.id);
        planned.set(item.id, rank);
        send.push(item);
        continue;
      }
      this.#leftOut++;
      this.#log.info(
        "Left out {id} (score {score}): DEFENDER_MAX_INDICATORS={max} higher-scored indicators are held",
        { id: item.id, score: item.score ?? "none", max: this.#max },
      );
      results.set(item.id, { id: item.id, ok: true });
    }
    if (evict.length > 0) {
      const removed = await this.#inner.remove(evict.map((id) => ({ id })), signal);
      const failed: string[] = [];
      for (const r of removed) {
        if (r.ok) {
          this.#held.delete(r.id);
          this.#evicted++;
        } else failed.push(r.reason);
      }
      if (failed.length > 0) {
        // No room was made: the newcomers that needed it wait (retryable); nothing is dropped.
        const reason = `Making room under DEFENDER_MAX_INDICATORS failed: ${failed.join("; ")}`;
        for (const id of roomFor) results.set(id, { id, ok: false, reason, retryable: true });
        send.splice(0, send.length, ...send.filter((item) => !roomFor.includes(item.id)));
      }
    }
    if (send.length > 0) {
      for (const result of await this.#inner.upsert(send, signal)) {
        results.set(result.id, result);
        if (result.ok) {
          const item = send.find((s) => s.id === result.id);
          this.#held.set(result.id, rankOf(item?.score));
        }
      }
    }
    return items.map((item) =>
      results.get(item.id) ??
        { id: item.id, ok: false, reason: "No result for this indicator", retryable: true }
    );
  }

  /** Reads once what the target holds for us; a failure is thrown and tried again next time. */
  #seed(signal: AbortSignal | undefined): Promise<void> {
    const list = this.#inner.listOwned;
    if (!list) return Promise.resolve();
    this.#seeded ??= (async () => {
      const owned = await list.call(this.#inner, signal);
      let count = 0;
      for (const record of owned) {
        count++;
        // Unknown: it may score 100, so nothing replaces it before an update brings its score.
        if (!this.#held.has(record.id)) this.#held.set(record.id, record.scoreAtMost ?? 100);
      }
      this.#seededCount = count;
      if (count > this.#max) {
        this.#log.warn(
          "The target already holds {count} of our indicators, more than DEFENDER_MAX_INDICATORS={max}: new ones are left out until a reconcile removes the lowest-scored",
          { count, max: this.#max },
        );
      }
    })().catch((error) => {
      this.#seeded = undefined;
      throw error;
    });
    return this.#seeded;
  }

  /** Removes through the wrapped target and forgets what was removed. */
  async remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
    const results = await this.#inner.remove(items, signal);
    for (const result of results) if (result.ok) this.#held.delete(result.id);
    return results;
  }

  /** The wrapped target's status plus the cap's counters. */
  status(): Record<string, unknown> {
    return {
      ...(this.#inner.status?.() ?? {}),
      maxIndicators: this.#max,
      held: this.#held.size,
      ...(this.#seededCount === undefined ? {} : { heldAtStart: this.#seededCount }),
      leftOut: this.#leftOut,
      evicted: this.#evicted,
    };
  }

  /** The wrapped target's rule. */
  unsupported(observable: Parameters<NonNullable<SyncTarget["unsupported"]>>[0]) {
    return this.#inner.unsupported?.(observable);
  }

  /** The wrapped target's rule. */
  rejects(item: TargetIndicator): string | undefined {
    return this.#inner.rejects?.(item);
  }
}

/** The wrapped target's reconcile methods (issue 17), bound to it; absent ones stay absent. */
function reconcileMethodsOf(
  inner: SyncTarget,
): Pick<SyncTarget, "listOwned" | "fingerprint" | "listAdoptable" | "removeRecords"> {
  const out: Pick<SyncTarget, "listOwned" | "fingerprint" | "listAdoptable" | "removeRecords"> = {};
  if (inner.listOwned) out.listOwned = (signal) => inner.listOwned!(signal);
  if (inner.fingerprint) out.fingerprint = (item) => inner.fingerprint!(item);
  if (inner.listAdoptable) {
    out.listAdoptable = (source, signal) => inner.listAdoptable!(source, signal);
  }
  if (inner.removeRecords) {
    out.removeRecords = (handles, signal) => inner.removeRecords!(handles, signal);
  }
  return out;
}

function lowestOf(
  planned: ReadonlyMap<string, number>,
  keep: ReadonlySet<string>,
): { id: string; rank: number } | undefined {
  let lowest: { id: string; rank: number } | undefined;
  for (const [id, rank] of planned) {
    if (keep.has(id)) continue;
    if (lowest === undefined || rank < lowest.rank) lowest = { id, rank };
  }
  return lowest;
}

/**
 * The Sentinel target with `SENTINEL_PUBLISH_IDENTITIES`: author `identity` objects are accepted
 * (the upload API takes them; the mapping uploads them as they are), everything else as before.
 */
export function withIdentities(inner: SyncTarget): SyncTarget {
  const wrapped: SyncTarget = {
    name: inner.name,
    maxBatch: inner.maxBatch,
    ...(inner.maxRemoveBatch === undefined ? {} : { maxRemoveBatch: inner.maxRemoveBatch }),
    ...(inner.maxCall === undefined ? {} : { maxCall: inner.maxCall }),
    upsert: (items, signal) => inner.upsert(items, signal),
    remove: (items, signal) => inner.remove(items, signal),
    rejects: (item) => item.stix.type === "identity" ? undefined : inner.rejects?.(item),
  };
  if (inner.revokeByUpload !== undefined) {
    Object.defineProperty(wrapped, "revokeByUpload", { get: () => inner.revokeByUpload });
  }
  if (inner.status) wrapped.status = () => inner.status?.() ?? {};
  if (inner.unsupported) wrapped.unsupported = (observable) => inner.unsupported?.(observable);
  Object.assign(wrapped, reconcileMethodsOf(inner));
  return wrapped;
}
