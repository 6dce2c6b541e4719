/** A sync target wrapper for benchmarks: notes when each indicator was acknowledged. */
import type { SyncTarget, TargetIndicator, TargetRemoval } from "../../src/microsoft/target.ts";
import type { Observable } from "../../src/stix/types.ts";
import type { ItemResult } from "../../src/runtime/delivery.ts";

/** Wraps a target and records, per indicator id, when it was acknowledged (and failures). */
export class AckRecorder implements SyncTarget {
  /** Target name. */
  readonly name: SyncTarget["name"];
  /** Batch size of the wrapped target. */
  readonly maxBatch: number;
  /** The wrapped target's largest call, when it has one. */
  readonly maxCall?: number;
  /** True when the wrapped target re-sends revoked indicators (Sentinel). */
  declare readonly revokeByUpload?: boolean;
  /** The wrapped target's check of one observable, when it has one. */
  declare readonly unsupported?: NonNullable<SyncTarget["unsupported"]>;
  /** The wrapped target's check of one indicator, when it has one. */
  declare readonly rejects?: NonNullable<SyncTarget["rejects"]>;
  /** Acknowledgement time per indicator id (from `now`). */
  readonly acked = new Map<string, number>();
  /** Items the target answered with a failure, by id (last reason). */
  readonly failed = new Map<string, string>();
  /** Time of the last acknowledgement. */
  lastAckAt = NaN;
  readonly #inner: SyncTarget;
  readonly #now: () => number;

  /** Wraps `inner`; times come from `now`. */
  constructor(inner: SyncTarget, now: () => number = () => performance.now()) {
    this.#inner = inner;
    this.#now = now;
    this.name = inner.name;
    this.maxBatch = inner.maxBatch;
    if (inner.maxCall !== undefined) this.maxCall = inner.maxCall;
    // What the connector asks of the target before it sends (observables it leaves out, items it
    // skips, revokes sent as uploads) must be the wrapped target's answers, or the bench measures
    // another connector: removals for Sentinel's revokes, failed items for Defender's e-mails.
    if (inner.revokeByUpload !== undefined) {
      Object.defineProperty(this, "revokeByUpload", { get: () => inner.revokeByUpload });
    }
    const { unsupported, rejects } = inner;
    if (unsupported) {
      Object.assign(this, { unsupported: (o: Observable) => unsupported.call(inner, o) });
    }
    if (rejects) {
      Object.assign(this, { rejects: (item: TargetIndicator) => rejects.call(inner, item) });
    }
  }

  /** Forwards and records. */
  async upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
    return this.#note(await this.#inner.upsert(items, signal));
  }

  /** Forwards and records. */
  async remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
    return this.#note(await this.#inner.remove(items, signal));
  }

  /** Status of the wrapped target. */
  status(): Record<string, unknown> {
    return this.#inner.status?.() ?? {};
  }

  #note(results: ItemResult[]): ItemResult[] {
    const at = this.#now();
    for (const result of results) {
      if (result.ok) {
        this.acked.set(result.id, at);
        this.failed.delete(result.id);
        this.lastAckAt = at;
      } else {
        this.failed.set(result.id, result.reason);
      }
    }
    return results;
  }
}
