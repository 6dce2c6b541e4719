/**
 * The throughput bench's acknowledgement recorder (tests/bench/ack_recorder.ts) must stand for the
 * target it wraps in everything the connector asks before it sends, or the bench measures another
 * connector (issue 14).
 */
import assert from "node:assert/strict";
import type { SyncTarget } from "../../src/microsoft/target.ts";
import { AckRecorder } from "../bench/ack_recorder.ts";
import { makeIndicator } from "../fixtures/microsoft/sentinel/make.ts";

function fakeTarget(revokeByUpload: () => boolean): SyncTarget {
  return {
    name: "sentinel",
    maxBatch: 100,
    maxCall: 800,
    get revokeByUpload() {
      return revokeByUpload();
    },
    upsert: (items) => Promise.resolve(items.map((item) => ({ id: item.id, ok: true as const }))),
    remove: (items) => Promise.resolve(items.map((item) => ({ id: item.id, ok: true as const }))),
    unsupported: (observable) => observable.type === "email-addr" ? "no e-mail" : undefined,
    rejects: (item) => item.stix.type === "indicator" ? undefined : "no raw observables",
  };
}

Deno.test("AckRecorder forwards unsupported(), rejects() and revokeByUpload of the target it wraps", () => {
  let byUpload = true;
  const recorder = new AckRecorder(fakeTarget(() => byUpload));
  assert.equal(recorder.maxCall, 800);
  assert.equal(recorder.revokeByUpload, true);
  byUpload = false;
  assert.equal(recorder.revokeByUpload, false, "read from the wrapped target each time");
  assert.equal(recorder.unsupported?.({ type: "email-addr", value: "a@example.com" }), "no e-mail");
  assert.equal(recorder.unsupported?.({ type: "domain-name", value: "example.com" }), undefined);
  const indicator = makeIndicator(1);
  assert.equal(recorder.rejects?.(indicator), undefined);
  assert.equal(
    recorder.rejects?.({ ...indicator, stix: { ...indicator.stix, type: "domain-name" } }),
    "no raw observables",
  );
});

Deno.test("AckRecorder has no unsupported(), rejects() or revokeByUpload when the target has none", () => {
  const recorder = new AckRecorder({
    name: "graph",
    maxBatch: 100,
    upsert: () => Promise.resolve([]),
    remove: () => Promise.resolve([]),
  });
  assert.equal(recorder.unsupported, undefined);
  assert.equal(recorder.rejects, undefined);
  assert.equal(recorder.revokeByUpload, undefined);
  assert.equal("revokeByUpload" in recorder, false);
});
