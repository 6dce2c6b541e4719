import assert from "node:assert/strict";
import { Batcher } from "../../src/opencti/batcher.ts";

Deno.test("Batcher keeps the last operation per indicator and every frame behind it", () => {
  const batcher = new Batcher<string>(10);
  batcher.add("indicator--a", "create", 0, 1000);
  batcher.add("indicator--b", "create", 1, 1001);
  batcher.add("indicator--a", "delete", 2, 1002);
  assert.equal(batcher.size, 2);
  assert.equal(batcher.oldestAt, 1000);
  const items = batcher.drain();
  assert.deepEqual(items, [
    { key: "indicator--b", op: "create", seqs: [1] },
    { key: "indicator--a", op: "delete", seqs: [0, 2] },
  ]);
  assert.equal(batcher.size, 0);
  assert.equal(batcher.oldestAt, undefined);
});

Deno.test("Batcher is full at its size bound counting distinct indicators", () => {
  const batcher = new Batcher<string>(2);
  batcher.add("a", "x", 0, 0);
  batcher.add("a", "y", 1, 0);
  assert.equal(batcher.full, false);
  batcher.add("b", "x", 2, 0);
  assert.equal(batcher.full, true);
});

Deno.test("Batcher.requeue() never lets a retried operation overwrite a newer one", () => {
  const batcher = new Batcher<string>(5);
  batcher.add("a", "create", 0, 0);
  const inFlight = batcher.drain();
  batcher.add("a", "delete", 1, 5);
  batcher.requeue(inFlight, 6);
  const [item] = batcher.drain();
  assert.deepEqual(item, { key: "a", op: "delete", seqs: [1, 0] });
});

Deno.test("Batcher rejects a size bound below one", () => {
  assert.throws(() => new Batcher(0), RangeError);
});
