import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { TiIndicator } from "../../src/microsoft/graph_mapping.ts";
import { knownRecord, planUpserts, updatedRecord } from "../../src/microsoft/graph_plan.ts";
import { AZURE_SENTINEL, DEFENDER_ATP } from "../../src/microsoft/graph_product.ts";

function record(value: string, overrides: Partial<TiIndicator> = {}): TiIndicator {
  return {
    action: "alert",
    targetProduct: "Azure Sentinel",
    threatType: "WatchList",
    tlpLevel: "green",
    description: "d",
    expirationDateTime: "2026-06-01T00:00:00Z",
    externalId: "indicator--1",
    tags: ["b", "a"],
    networkIPv4: value,
    ...overrides,
  } as TiIndicator;
}

Deno.test("planUpserts() creates what Graph lacks, leaves equal records alone and deletes leftovers", () => {
  const held = [
    knownRecord(record("10.0.0.1", { tags: ["a", "b"] }), "g1", AZURE_SENTINEL),
    knownRecord(record("10.0.0.9"), "g9", AZURE_SENTINEL),
  ];
  const plan = planUpserts(
    new Map([["indicator--1", [record("10.0.0.1"), record("10.0.0.2")]]]),
    () => held,
    AZURE_SENTINEL,
  );
  assertEquals(plan.creates.map((c) => c.record.networkIPv4), ["10.0.0.2"]);
  assertEquals(plan.updates, []);
  assertEquals(plan.deletes, [{ owner: "indicator--1", recordId: "g9" }]);
});

Deno.test("planUpserts() updates a changed editable field, and compares dates as instants", () => {
  const held = [
    knownRecord(
      record("10.0.0.1", { expirationDateTime: "2026-06-01T00:00:00.000Z" }),
      "g1",
      AZURE_SENTINEL,
    ),
  ];
  const same = planUpserts(new Map([["i", [record("10.0.0.1")]]]), () => held, AZURE_SENTINEL);
  assertEquals(same.updates, []);
  const changed = planUpserts(
    new Map([["i", [record("10.0.0.1", { severity: 5 })]]]),
    () => held,
    AZURE_SENTINEL,
  );
  assertEquals(changed.updates.map((u) => u.current.id), ["g1"]);
  const after = updatedRecord(held[0]!, record("10.0.0.1", { severity: 5 }), AZURE_SENTINEL);
  assertEquals(
    planUpserts(
      new Map([["i", [record("10.0.0.1", { severity: 5 })]]]),
      () => [after],
      AZURE_SENTINEL,
    ).updates,
    [],
  );
});

Deno.test("planUpserts() re-creates a Defender ATP record whose action changed, and skips unread indicators", () => {
  const held = [knownRecord(record("10.0.0.1", { action: "alert" }), "g1", DEFENDER_ATP)];
  const plan = planUpserts(
    new Map([["i", [record("10.0.0.1", { action: "block" })]], ["unread", [record("10.0.0.7")]]]),
    (owner) => owner === "i" ? held : undefined,
    DEFENDER_ATP,
  );
  assertEquals(plan.deletes, [{ owner: "i", recordId: "g1" }]);
  assertEquals(plan.creates.map((c) => c.owner), ["i"]);
  assertEquals(plan.updates, []);
});
