/** The generic look-back cursor: seen pairs, watermark moves, pruning, bounds, saved form. */
import assert from "node:assert/strict";
import {
  LookbackCursor,
  readLookbackState,
  sameLookbackState,
} from "../../src/runtime/lookback_cursor.ts";

const START = "2026-01-01T00:00:00.000Z";

Deno.test("LookbackCursor reads from the watermark minus the look-back and remembers (id, update) pairs", () => {
  const cursor = new LookbackCursor(undefined, START, { lookBackMs: 60_000 });
  assert.equal(cursor.since(), "2025-12-31T23:59:00.000Z");
  cursor.mark("a", "2026-01-01T10:00:00Z");
  cursor.mark("b", "2026-01-01T10:00:00+00:00");
  assert.equal(cursor.isSeen("a", "2026-01-01T10:00:00.000Z"), true);
  assert.equal(cursor.isSeen("a", "2026-01-01T10:00:01Z"), false, "an update is a new pair");
  assert.equal(cursor.since(), "2025-12-31T23:59:00.000Z", "the watermark waits for finish()");
  cursor.finish();
  assert.equal(cursor.since(), "2026-01-01T09:59:00.000Z");
  assert.deepEqual(cursor.toState(), {
    watermark: "2026-01-01T10:00:00.000Z",
    seen: [["a", "2026-01-01T10:00:00.000Z"], ["b", "2026-01-01T10:00:00.000Z"]],
  });
});

Deno.test("LookbackCursor keeps an unfinished run's high mark and pairs across a restart", () => {
  const first = new LookbackCursor(undefined, START, { lookBackMs: 0 });
  first.mark("x", "2026-01-01T01:00:00Z");
  const saved = JSON.parse(JSON.stringify(first.toState()));
  assert.equal(saved.high, "2026-01-01T01:00:00.000Z");
  const restarted = new LookbackCursor(readLookbackState(saved), START, { lookBackMs: 0 });
  assert.equal(restarted.isSeen("x", "2026-01-01T01:00:00Z"), true);
  assert.equal(restarted.since(), START);
  restarted.finish();
  assert.equal(restarted.since(), "2026-01-01T01:00:00.000Z");
  assert.ok(sameLookbackState(first.toState(), readLookbackState(saved)!));
});

Deno.test("LookbackCursor drops pairs that left the window and bounds the set, oldest first", () => {
  const cursor = new LookbackCursor(undefined, START, { lookBackMs: 60_000, maxSeen: 3 });
  for (let i = 0; i < 5; i++) cursor.mark(`i${i}`, `2026-01-01T00:00:0${i}Z`);
  assert.equal(cursor.size, 3);
  assert.equal(cursor.isSeen("i0", "2026-01-01T00:00:00Z"), false);
  assert.equal(cursor.isSeen("i4", "2026-01-01T00:00:04Z"), true);
  cursor.mark("late", "2026-01-01T00:10:00Z");
  cursor.finish(); // the window now starts at 00:09:00
  assert.deepEqual(cursor.toState().seen, [["late", "2026-01-01T00:10:00.000Z"]]);
});

Deno.test("readLookbackState() ignores what it cannot read", () => {
  assert.equal(readLookbackState(undefined), undefined);
  assert.equal(readLookbackState({ watermark: "yesterday" }), undefined);
  assert.deepEqual(
    readLookbackState({ watermark: "2026-01-01", seen: [["a", "bad"], [1, START], ["b", START]] }),
    { watermark: START, seen: [["b", START]] },
  );
});
