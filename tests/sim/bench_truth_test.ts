/**
 * The throughput bench's catch-up generator (tests/bench/frames.ts `buildCatchUp`) records each
 * indicator's final state as it writes the frames; the bench's floors and end-state check rest on
 * that record. These tests read the frames back on their own (SSE text → event name and object)
 * and check that the record says the same, and check the target kinds (tests/bench/target_kinds.ts)
 * against the simulator's expectations they build on.
 */
import assert from "node:assert/strict";
import { buildCatchUp, type CatchUpMix } from "../bench/frames.ts";
import { defenderRecordsOf, expectedKeys, sentinelObjectOf } from "../bench/target_kinds.ts";
import { expectedRecords } from "../../src/sim/expected_records.ts";
import type { StixObject } from "../../src/stix/types.ts";

const TIME = Date.parse("2026-06-01T00:00:00.000Z");
const MIX: CatchUpMix = { create: 0.3, update: 0.4, revoke: 0.1, delete: 0.2 };

/** The frames read back: event name and object, in order. */
function readBack(frames: readonly string[]): { event: string; object: StixObject }[] {
  return frames.map((frame) => {
    const lines = frame.split("\n");
    const event = lines.find((l) => l.startsWith("event: "))?.slice("event: ".length) ?? "";
    const data = lines.find((l) => l.startsWith("data: "))?.slice("data: ".length) ?? "null";
    return { event, object: (JSON.parse(data) as { data: StixObject }).data };
  });
}

Deno.test("buildCatchUp() records for every indicator the state its frames leave it in", async () => {
  const workload = await buildCatchUp(7, { held: 400, events: 500, mix: MIX, time: TIME });
  assert.equal(workload.frames.length, 500);
  assert.equal(workload.held.length, 400);
  const frames = readBack(workload.frames);
  // Replayed independently: the held objects, then each frame.
  const state = new Map<string, { state: string; last: StixObject; events: number }>();
  for (const object of workload.held) {
    state.set(object.id, {
      state: object.revoked === true ? "revoked" : "live",
      last: object,
      events: 0,
    });
  }
  const counts = { create: 0, update: 0, revoke: 0, delete: 0 };
  for (const { event, object } of frames) {
    const before = state.get(object.id);
    if (event === "create") {
      assert.equal(before, undefined, `created twice: ${object.id}`);
      counts.create++;
    } else {
      assert.ok(before, `${event} of an unknown indicator ${object.id}`);
      if (event === "update" && object.revoked === true && before.last.revoked !== true) {
        counts.revoke++;
      } else if (event === "update") counts.update++;
      else counts.delete++;
    }
    state.set(object.id, {
      state: event === "delete" ? "deleted" : object.revoked === true ? "revoked" : "live",
      last: object,
      events: (before?.events ?? 0) + 1,
    });
  }
  assert.deepEqual(workload.counts, counts);
  assert.equal(workload.truth.size, state.size);
  for (const [id, replayed] of state) {
    const truth = workload.truth.get(id);
    assert.ok(truth, id);
    assert.equal(truth.state, replayed.state, id);
    assert.equal(truth.events, replayed.events, id);
    assert.deepEqual(truth.last, replayed.last, id);
    assert.equal(truth.held, workload.held.some((o) => o.id === id), id);
    if (truth.held) assert.deepEqual(truth.before, workload.held.find((o) => o.id === id));
  }
  // Each event touches its own indicator, so every event needs its write.
  assert.ok([...state.values()].every((s) => s.events <= 1));
  // The shares follow the mix (500 draws).
  assert.ok(Math.abs(counts.create / 500 - MIX.create) < 0.07, JSON.stringify(counts));
  assert.ok(Math.abs(counts.delete / 500 - MIX.delete) < 0.07, JSON.stringify(counts));
  assert.ok(Math.abs(counts.revoke / 500 - MIX.revoke) < 0.05, JSON.stringify(counts));
});

Deno.test("buildCatchUp() writes only creates once every held indicator is touched", async () => {
  const workload = await buildCatchUp(3, { held: 20, events: 100, mix: MIX, time: TIME });
  assert.equal(workload.frames.length, 100);
  const touched = [...workload.truth.values()].filter((t) => t.held && t.events > 0).length;
  assert.equal(touched, 20);
  assert.equal(workload.counts.create, 80);
});

Deno.test("target kinds: Sentinel keeps revoked indicators marked, Defender and Graph hold none", async () => {
  const workload = await buildCatchUp(11, { held: 600, events: 1, mix: MIX, time: TIME });
  const objects = workload.held;
  const live = objects.find((o) =>
    o.revoked !== true && expectedRecords(o, "defender", TIME).length > 0
  );
  assert.ok(live);
  const revoked = { ...live, revoked: true };
  assert.deepEqual(expectedKeys(live, "sentinel", TIME), [`${live.id} live`]);
  assert.deepEqual(expectedKeys(revoked, "sentinel", TIME), [`${live.id} revoked`]);
  assert.deepEqual(expectedKeys(revoked, "defender", TIME), []);
  assert.deepEqual(expectedKeys(revoked, "graph", TIME), []);
  assert.deepEqual(expectedKeys(undefined, "sentinel", TIME), []);
  const expired = { ...live, valid_until: new Date(TIME - 1).toISOString() };
  assert.deepEqual(expectedKeys(expired, "sentinel", TIME), []);
  assert.deepEqual(expectedKeys({ ...expired, revoked: true }, "sentinel", TIME), [
    `${live.id} revoked`,
  ]);
});

Deno.test("target kinds: the Defender records used to fill the simulator are the expected ones", async () => {
  const workload = await buildCatchUp(13, { held: 2_000, events: 1, mix: MIX, time: TIME });
  let records = 0;
  for (const object of workload.held) {
    const seeded = defenderRecordsOf(object, TIME);
    records += seeded.length;
    assert.deepEqual(
      seeded.map((r) => `${object.id} ${r.indicatorValue}`).sort(),
      [...expectedRecords(object, "defender", TIME)].sort(),
      object.id,
    );
    for (const r of seeded) {
      assert.match(r.indicatorType, /^(IpAddress|DomainName|Url|FileSha1|FileSha256)$/);
    }
  }
  assert.ok(records > 1_500, `${records} records`);
});

Deno.test("target kinds: the object seeded into Sentinel has no OpenCTI extension or indicator_types", async () => {
  const workload = await buildCatchUp(17, { held: 5, events: 1, mix: MIX, time: TIME });
  const object = workload.held[0] as StixObject;
  assert.ok(object.extensions !== undefined);
  const seeded = sentinelObjectOf(object);
  assert.equal(seeded.extensions, undefined);
  assert.equal(seeded.indicator_types, undefined);
  assert.ok(Object.keys(seeded).every((k) => !k.startsWith("x_opencti_")));
  assert.equal(seeded.id, object.id);
  assert.equal(seeded.pattern, object.pattern);
  assert.equal(seeded.modified, object.modified);
});
