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

Deno.test("CheckpointTracker keeps order over many frames completed out of order, a long-held one last", () => {
  const tracker = new CheckpointTracker("0-0");
  const held = tracker.track("1-0");
  const seqs: number[] = [];
  for (let i = 2; i <= 5000; i++) seqs.push(tracker.track(`${i}-0`));
  // Later frames finish in reverse order while the first is held: the cursor may not move.
  tracker.complete(...seqs.slice(2500).reverse());
  tracker.complete(...seqs.slice(0, 2500));
  assert.equal(tracker.cursor, "0-0");
  assert.equal(tracker.inFlight, 5000);
  tracker.complete(held);
  assert.equal(tracker.cursor, "5000-0");
  assert.equal(tracker.inFlight, 0);
  // Numbering goes on after the tracker emptied, and passed or foreign numbers change nothing.
  const next = tracker.track("5001-0");
  assert.equal(next, 5000);
  tracker.complete(held, -1, 1.5, 99_999);
  assert.equal(tracker.cursor, "5000-0");
  tracker.complete(next);
  assert.equal(tracker.cursor, "5001-0");
});

Deno.test("CheckpointTracker moves over a long finished prefix while a later frame stays open", () => {
  const tracker = new CheckpointTracker();
  const seqs: number[] = [];
  for (let i = 1; i <= 3000; i++) seqs.push(tracker.track(`${i}-0`));
  const open = seqs.splice(2989, 1);
  tracker.complete(...seqs);
  assert.equal(tracker.cursor, "2989-0");
  assert.equal(tracker.inFlight, 11);
  const more = tracker.track("3001-0");
  assert.equal(more, 3000);
  tracker.complete(...open);
  assert.equal(tracker.cursor, "3000-0");
  assert.equal(tracker.inFlight, 1);
  tracker.complete(more);
  assert.equal(tracker.cursor, "3001-0");
  assert.equal(tracker.inFlight, 0);
});
