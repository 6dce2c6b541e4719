/** The seen-alerts set of the look-back window: encoding, pruning, size. */
import assert from "node:assert/strict";
import { decodeIds, encodeIds, SeenAlerts, STATE_SEEN_KEY } from "../../src/tanium/seen.ts";

const DAY = Date.parse("2026-12-03T00:00:00.000Z");
const HOUR = 3_600_000;

Deno.test("encodeIds() writes runs of consecutive ids as delta+extra and decodeIds() reads them back", () => {
  assert.equal(encodeIds([100, 101, 102, 105, 107, 108]), "100+2,3,2+1");
  assert.deepEqual(decodeIds("100+2,3,2+1"), [100, 101, 102, 105, 107, 108]);
  assert.equal(encodeIds([]), "");
  assert.deepEqual(decodeIds(""), []);
  const ids = [1, 2, 3, 9, 10, 4000, 4001, 4002, 9_007_199_254_740_000];
  assert.deepEqual(decodeIds(encodeIds(ids)), ids);
});

Deno.test("decodeIds() refuses text that is not a run list", () => {
  for (const bad of ["a", "1,,2", "5,0", "1+x", "1 2"]) {
    assert.equal(decodeIds(bad), undefined, bad);
  }
});

Deno.test("SeenAlerts round-trips through the connector state and answers has()", () => {
  const seen = new SeenAlerts();
  seen.add({ id: 7, alertedAtMs: DAY + 10 });
  seen.add({ id: 8, alertedAtMs: DAY + 20 });
  seen.add({ id: 3, alertedAtMs: DAY + 2 * HOUR });
  const state = { [STATE_SEEN_KEY]: seen.toState() };
  assert.deepEqual(state[STATE_SEEN_KEY], { "2026-12-03T00": "7+1", "2026-12-03T02": "3" });
  const read = SeenAlerts.fromState(JSON.parse(JSON.stringify(state)))!;
  assert.equal(read.has({ id: 8, alertedAtMs: DAY + 20 }), true);
  assert.equal(read.has({ id: 9, alertedAtMs: DAY + 20 }), false);
  assert.equal(read.size, 3);
});

Deno.test("SeenAlerts.fromState() is undefined for a state without the key or with an unreadable one", () => {
  assert.equal(SeenAlerts.fromState({ last_alert_date: "2026-12-03T00:00:00.000Z" }), undefined);
  assert.equal(SeenAlerts.fromState({ [STATE_SEEN_KEY]: { "2026-12-03T00": "x" } }), undefined);
  assert.equal(SeenAlerts.fromState({ [STATE_SEEN_KEY]: { "yesterday": "1" } }), undefined);
  assert.equal(SeenAlerts.fromState({ [STATE_SEEN_KEY]: [1, 2] }), undefined);
});

Deno.test("SeenAlerts.prune() keeps only the hours that reach into the window", () => {
  const seen = new SeenAlerts();
  for (let h = 0; h < 48; h++) seen.add({ id: h + 1, alertedAtMs: DAY + h * HOUR + 5 });
  seen.prune(DAY + 24 * HOUR + 30 * 60_000); // window starts at 24:30
  assert.deepEqual(Object.keys(seen.toState()).slice(0, 2), ["2026-12-04T00", "2026-12-04T01"]);
  assert.equal(seen.size, 24);
});

Deno.test("SeenAlerts holds 10,000 alerts a day in under 1 KB, 6 KB with gaps, 81 KB at worst", () => {
  const sizeOf = (ids: (i: number) => number): number => {
    const seen = new SeenAlerts();
    for (let i = 0; i < 10_000; i++) {
      seen.add({ id: ids(i), alertedAtMs: DAY + Math.floor((i * 24 * HOUR) / 10_000) });
    }
    return JSON.stringify(seen.toState()).length;
  };
  // Tanium numbers alerts as it stores them: one day of alerts is one run per hour.
  const contiguous = sizeOf((i) => 4_000_000 + i);
  // Every tenth id belongs to an alert this token cannot see.
  const gaps = sizeOf((i) => 4_000_000 + i + Math.floor(i / 9));
  // Worst case: no two ids consecutive, and wide apart.
  const worst = sizeOf((i) => 4_000_000 + i * 1_000_003);
  assert.ok(contiguous < 1000, `contiguous: ${contiguous} bytes`);
  assert.ok(gaps < 6_000, `one gap in ten: ${gaps} bytes`);
  assert.ok(worst < 81_000, `worst case: ${worst} bytes`);
});
