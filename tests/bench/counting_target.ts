/** A sync target for benchmarks: acknowledges at once and only counts. */
import type { SyncTarget, TargetIndicator, TargetRemoval } from "../../src/microsoft/target.ts";
import type { ItemResult } from "../../src/runtime/delivery.ts";

/** A target that only counts and acknowledges at once. */
export class CountingTarget implements SyncTarget {
  /** Target name. */
  readonly name = "graph" as const;
  /** Batch size. */
  readonly maxBatch: number;
  /** Indicators upserted. */
  upserted = 0;
  /** Indicators removed. */
  removed = 0;
  /** Observables the upserted indicators carry. */
  records = 0;

  /** Builds a target that takes `maxBatch` indicators per call. */
  constructor(maxBatch = 100) {
    this.maxBatch = maxBatch;
  }

  /** Counts. */
  upsert(items: TargetIndicator[]): Promise<ItemResult[]> {
    for (const item of items) this.records += item.observables.length;
    this.upserted += items.length;
    return Promise.resolve(items.map((item) => ({ id: item.id, ok: true })));
  }

  /** Counts. */
  remove(items: TargetRemoval[]): Promise<ItemResult[]> {
    this.removed += items.length;
    return Promise.resolve(items.map((item) => ({ id: item.id, ok: true })));
  }
}
