import assert from "node:assert/strict";
import { fingerprintOf, projectRecord } from "../../src/microsoft/fingerprint.ts";
import {
  combineFingerprints,
  FingerprintTable,
  OwnedTable,
} from "../../src/microsoft/key_table.ts";
import { planReconcile } from "../../src/sentinel/reconcile.ts";
import { seededRandom } from "../../src/sim/seeded_random.ts";

const uuid = (n: number) => {
  const hex = (n * 2654435761 % 2 ** 32).toString(16).padStart(8, "0");
  return `${hex}-4a5b-4c6d-8e9f-${n.toString(16).padStart(12, "0")}`;
};
const fp = (n: number) => fingerprintOf([`record ${n}`]);

Deno.test("FingerprintTable behaves as a Map through inserts, overwrites, deletes and growth", () => {
  const random = seededRandom(17);
  const table = new FingerprintTable({ capacity: 16 });
  const model = new Map<string, string>();
  const ids = (n: number) =>
    [
      `indicator--${uuid(n)}`,
      uuid(n),
      `observed-data--${uuid(n)}`,
      `indicator--${uuid(n).toUpperCase()}`,
      `weird-${n}`,
    ][n % 5] as string;
  for (let step = 0; step < 20_000; step++) {
    const n = Math.floor(random() * 3000);
    const id = ids(n);
    const roll = random();
    if (roll < 0.6) {
      const value = roll < 0.55 ? fp(step) : `fp-${step}`;
      table.set(id, value);
      model.set(id, value);
    } else {
      assert.equal(table.delete(id), model.delete(id));
    }
    if (step % 997 === 0) {
      assert.equal(table.size, model.size);
      assert.deepEqual(new Map(table), model);
    }
    assert.equal(table.get(id), model.get(id));
    assert.equal(table.has(id), model.has(id));
  }
  assert.deepEqual(new Map(table.entries()), model);
  assert.deepEqual([...table.keys()].sort(), [...model.keys()].sort());
  assert.deepEqual([...table.values()].sort(), [...model.values()].sort());
  table.clear();
  assert.equal(table.size, 0);
  assert.equal(table.get(ids(1)), undefined);
});

Deno.test("FingerprintTable keeps 100,000 STIX ids in typed arrays of at most 50 bytes per id", () => {
  const table = new FingerprintTable({ capacity: 16 });
  for (let n = 0; n < 100_000; n++) table.set(`indicator--${uuid(n)}`, fp(n));
  assert.equal(table.size, 100_000);
  assert.ok(table.arrayBytes <= 100_000 * 50, `${table.arrayBytes} bytes`);
  assert.equal(table.get(`indicator--${uuid(4242)}`), fp(4242));
});

Deno.test("OwnedTable adds records one at a time to the fingerprint of the whole set", () => {
  const owned = new OwnedTable();
  const id = `indicator--${uuid(7)}`;
  const records = ["a=1", "b=2", "a=1"];
  for (const record of records) owned.add(id, fingerprintOf([record]));
  owned.add("odd key", "fp-x");
  assert.deepEqual(owned.get(id), { id, fingerprint: fingerprintOf(records), records: 3 });
  assert.equal(fingerprintOf(["x", "y"]), fingerprintOf(["y", "x"]));
  assert.notEqual(fingerprintOf(["x"]), fingerprintOf(["x", "x"]));
  assert.equal(
    combineFingerprints(fingerprintOf(["x"]), fingerprintOf(["y"])),
    fingerprintOf(["x", "y"]),
  );
  assert.deepEqual(owned.get("odd key"), { id: "odd key", fingerprint: "fp-x", records: 1 });
  assert.equal(owned.size, 2);
  assert.deepEqual([...owned].map((r) => r.id).sort(), [id, "odd key"].sort());
});

Deno.test("planReconcile reads a compact desired and listed set as it reads maps and arrays", () => {
  const desired = new FingerprintTable();
  const owned = new OwnedTable();
  const id = (n: number) => `indicator--${uuid(n)}`;
  for (let n = 0; n < 1000; n++) desired.set(id(n), fp(n));
  for (let n = 1; n < 1000; n++) owned.add(id(n), n === 5 ? fp(-5) : fp(n));
  owned.add(id(2000), fp(2000));
  const plan = planReconcile(desired, owned);
  assert.deepEqual(plan, {
    missing: [id(0)],
    stale: [id(5)],
    orphans: [id(2000)],
    unchanged: 998,
    desired: 1000,
    actual: 1000,
  });
  assert.deepEqual(planReconcile(new Map(desired), [...owned]), plan);
});

Deno.test("planReconcile of a drifted compact set finds each missing, changed, duplicated and orphan indicator and nothing else", () => {
  const id = (n: number) => `indicator--${uuid(n)}`;
  const record = (n: number, action = "alert") =>
    fingerprintOf([
      projectRecord({ domainName: `host-${n}.example`, action }, ["domainName", "action"]),
    ]);
  const desired = new FingerprintTable();
  const owned = new OwnedTable();
  for (let n = 0; n < 10; n++) desired.set(id(n), record(n));
  desired.set("x-other-id", record(100));
  for (let n = 1; n < 10; n++) {
    // 1 unchanged as listed page by page; 3 with a changed field; 4 held twice (a duplicate).
    if (n === 3) owned.add(id(n), record(n, "block"));
    else owned.add(id(n), record(n));
    if (n === 4) owned.add(id(n), record(n));
  }
  owned.add("x-other-id", record(100));
  owned.add(id(20), record(20)); // ours, no longer desired
  owned.add(uuid(21), record(21)); // an OpenCTI internal id, not desired
  const plan = planReconcile(desired, owned);
  assert.deepEqual(plan, {
    missing: [id(0)],
    stale: [id(3), id(4)].sort(),
    orphans: [id(20), uuid(21)].sort(),
    unchanged: 8,
    desired: 11,
    actual: 12,
  });
  assert.deepEqual(planReconcile(new Map(desired), [...owned]), plan);
});

Deno.test("planReconcile of compact tables is the plan of the same map and listing, ids and fingerprints of every form included", () => {
  const random = seededRandom(41);
  const forms = (n: number) =>
    [`indicator--${uuid(n)}`, uuid(n), `observed-data--${uuid(n)}`, `weird-${n}`][n % 4] as string;
  for (let round = 0; round < 20; round++) {
    const desired = new FingerprintTable({ capacity: 16 });
    const owned = new OwnedTable({ capacity: 16 });
    const value = (n: number) => (random() < 0.05 ? `fp-${n}` : fp(n));
    for (let step = 0; step < 400; step++) {
      const n = Math.floor(random() * 300);
      const draw = random();
      if (draw < 0.4) desired.set(forms(n), value(n));
      else if (draw < 0.45) desired.delete(forms(n));
      else if (draw < 0.5) desired.set(forms(n + round), value(n + 1));
      else owned.add(forms(n), value(random() < 0.8 ? n : n + 1));
    }
    // A prefix only one side knows, and ids the other side holds aside.
    if (round % 2 === 0) desired.set(`malware--${uuid(round)}`, fp(round));
    else owned.add(`malware--${uuid(round)}`, fp(round));
    owned.add(forms(round * 4 + 3), fp(0));
    const plan = planReconcile(desired, owned);
    assert.deepEqual(plan, planReconcile(new Map(desired), [...owned]), `round ${round}`);
    assert.equal(
      plan.missing.length + plan.stale.length + plan.unchanged,
      desired.size,
      `round ${round}`,
    );
  }
});

Deno.test("FingerprintTable.keepHighest() keeps what a sort by score then id keeps, ids of every form included", () => {
  const random = seededRandom(29);
  for (const capacity of [0, 1, 37, 500, 1999]) {
    const table = new FingerprintTable({ scored: true, capacity: 16 });
    const model = new Map<string, number>();
    for (let step = 0; step < 2000; step++) {
      const n = Math.floor(random() * 1500);
      const id = [
        `indicator--${uuid(n)}`,
        uuid(n),
        `observed-data--${uuid(n)}`,
        `weird-${n}`,
      ][n % 4] as string;
      // Few distinct scores, so most ranks are decided by the id.
      const score = random() < 0.1 ? -1 : Math.floor(random() * 4) * 25;
      const value = n % 7 === 0 ? `fp-${step}` : fp(step);
      if (score === -1 && random() < 0.5) table.set(id, value);
      else table.set(id, value, score);
      model.set(id, score);
      if (random() < 0.05) {
        table.delete(id);
        model.delete(id);
      }
    }
    const expected = [...model.keys()].sort((a, b) =>
      (model.get(b) ?? -1) - (model.get(a) ?? -1) || (a < b ? -1 : a > b ? 1 : 0)
    ).slice(0, capacity);
    const before = table.size;
    assert.equal(table.keepHighest(capacity), Math.max(0, before - capacity));
    assert.deepEqual([...table.keys()].sort(), expected.sort());
    for (const id of expected) assert.equal(table.score(id), model.get(id));
  }
});

Deno.test("FingerprintTable keeps the scores of 100,000 ids in a column of 8 bytes per slot", () => {
  const plain = new FingerprintTable({ capacity: 16 });
  const scored = new FingerprintTable({ scored: true, capacity: 16 });
  for (let n = 0; n < 100_000; n++) {
    plain.set(`indicator--${uuid(n)}`, fp(n));
    scored.set(`indicator--${uuid(n)}`, fp(n), n % 101);
  }
  assert.equal(scored.arrayBytes - plain.arrayBytes, plain.arrayBytes / 26 * 8);
  assert.equal(scored.score(`indicator--${uuid(4242)}`), 4242 % 101);
  assert.equal(scored.keepHighest(1000), 99_000);
  assert.equal(scored.score(`indicator--${uuid(100)}`), 100);
  assert.equal(scored.has(`indicator--${uuid(99)}`), false);
});
