/**
 * The pump's read-ahead (issue 14): keys read before a flush collapse to each indicator's latest
 * operation and leave in calls of one kind, each `batchSize` at most and all but the last full.
 */
import assert from "node:assert/strict";
import type { ItemResult } from "../../src/runtime/delivery.ts";
import type { SyncTarget, TargetIndicator, TargetRemoval } from "../../src/microsoft/target.ts";
import { startSentinelStack } from "../../src/sim/stack.ts";
import { connectorFor, NOW, sorted } from "./helpers.ts";

/** A target that notes the ids of every call and forwards it. */
function recording(
  inner: SyncTarget,
): { target: SyncTarget; calls: { kind: string; ids: string[] }[] } {
  const calls: { kind: string; ids: string[] }[] = [];
  const target: SyncTarget = {
    name: inner.name,
    maxBatch: inner.maxBatch,
    ...(inner.maxCall === undefined ? {} : { maxCall: inner.maxCall }),
    upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
      calls.push({ kind: "upsert", ids: items.map((i) => i.id) });
      return inner.upsert(items, signal);
    },
    remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
      calls.push({ kind: "remove", ids: items.map((i) => i.id) });
      return inner.remove(items, signal);
    },
    unsupported: (observable) => inner.unsupported?.(observable),
    rejects: (item) => inner.rejects?.(item),
  };
  return { target, calls };
}

Deno.test("sentinel reads several batches ahead and sends them in full calls of one kind", async () => {
  // Sentinel's client sends each call as it comes (no maxCall): the pump's calls are batches.
  const stack = await startSentinelStack({
    target: "sentinel",
    opencti: { seed: true, heartbeatMs: 20 },
  });
  try {
    // Updates of live indicators (twice each) and deletes, interleaved with the seed's creates.
    const indicators = stack.opencti.store.list("indicator");
    const updated = indicators.slice(0, 4);
    for (const round of [1, 2]) {
      for (const object of updated) {
        stack.opencti.store.upsert({ ...object, description: `Revision ${round}` });
      }
    }
    for (const object of indicators.slice(4, 8)) stack.opencti.store.remove(object.id);
    const { target, calls } = recording(stack.createTarget());
    const connector = connectorFor(stack, {
      target,
      // No timer fires: only the read-ahead bound and the end of the run flush.
      extra: { batchSize: 3, readAheadBatches: 1000, setTimer: () => () => {} },
    });
    assert.equal(await connector.runOnce(), true, JSON.stringify(connector.status()));
    assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));
    const upserts = calls.filter((c) => c.kind === "upsert");
    assert.ok(upserts.length >= 2, `upsert calls: ${upserts.length}`);
    assert.ok(calls.some((c) => c.kind === "remove"), "the deletes went out");
    for (const kind of ["upsert", "remove"]) {
      const mine = calls.filter((c) => c.kind === kind);
      // The whole stream fits the read-ahead: one flush, so only its last call may be partial.
      mine.slice(0, -1).forEach((c) => assert.equal(c.ids.length, 3, JSON.stringify(c)));
      for (const c of mine) assert.ok(c.ids.length >= 1 && c.ids.length <= 3);
    }
    // Each indicator's latest operation only: no id is written twice.
    const ids = calls.flatMap((c) => c.ids);
    assert.equal(new Set(ids).size, ids.length, "one write per indicator");
  } finally {
    await stack.close();
  }
});

for (const name of ["graph", "defender"] as const) {
  Deno.test(`${name}, which packs records into requests itself, takes all the pump read ahead in one call of each kind`, async () => {
    const stack = await startSentinelStack({
      target: name,
      opencti: { seed: true, heartbeatMs: 20 },
    });
    try {
      const indicators = stack.opencti.store.list("indicator");
      for (const object of indicators.slice(0, 3)) stack.opencti.store.remove(object.id);
      const { target, calls } = recording(stack.createTarget());
      const connector = connectorFor(stack, {
        target,
        // No timer fires: only the read-ahead bound and the end of the run flush.
        extra: { batchSize: 2, readAheadBatches: 1000, setTimer: () => () => {} },
      });
      assert.equal(await connector.runOnce(), true, JSON.stringify(connector.status()));
      assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));
      const upserts = calls.filter((c) => c.kind === "upsert");
      // The whole stream fits the read-ahead: one flush, one call of each kind, larger than a batch.
      assert.equal(upserts.length, 1, JSON.stringify(calls));
      const size = upserts[0]?.ids.length ?? 0;
      assert.ok(size > 2, `upserts in the call: ${size}`);
      const ids = calls.flatMap((c) => c.ids);
      assert.equal(new Set(ids).size, ids.length, "one write per indicator");
    } finally {
      await stack.close();
    }
  });
}
