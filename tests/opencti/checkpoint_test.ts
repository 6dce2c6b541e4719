import assert from "node:assert/strict";
import { CheckpointTracker } from "../../src/opencti/checkpoint.ts";

Deno.test("CheckpointTracker keeps the loaded cursor until a frame completes", () => {
  const tracker = new CheckpointTracker("100-0");
  tracker.track("101-0");
  assert.equal(tracker.cursor, "100-0");
  assert.equal(tracker.inFlight, 1);
});

Deno.test("CheckpointTracker advances only over a gap-free prefix of completed frames", () => {
  const tracker = new CheckpointTracker();
  const a = tracker.track("1-0");
  const b = tracker.track("2-0");
  const c = tracker.track("3-0");
  tracker.complete(c);
  assert.equal(tracker.cursor, undefined, "frame 3 done but 1 and 2 are not");
  tracker.complete(a);
  assert.equal(tracker.cursor, "1-0");
  tracker.complete(b);
  assert.equal(tracker.cursor, "3-0");
  assert.equal(tracker.inFlight, 0);
});

Deno.test("CheckpointTracker lets frames without an id pass without moving the cursor", () => {
  const tracker = new CheckpointTracker("5-0");
  const connected = tracker.track(undefined);
  const heartbeat = tracker.track("5-0");
  tracker.complete(connected, heartbeat);
  assert.equal(tracker.cursor, "5-0");
});

Deno.test("CheckpointTracker ignores unknown and repeated completions", () => {
  const tracker = new CheckpointTracker();
  const a = tracker.track("1-0");
  tracker.complete(a, a, 42);
  const b = tracker.track("2-0");
  tracker.complete(a);
  assert.equal(tracker.cursor, "1-0");
  tracker.complete(b);
  assert.equal(tracker.cursor, "2-0");
});
