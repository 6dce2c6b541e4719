import assert from "node:assert/strict";
import { intentsOf, toTargetIndicator } from "../../src/sentinel/events.ts";
import type { StixObject } from "../../src/stix/types.ts";

const NOW = Date.parse("2024-07-01T00:00:00.000Z");
const fixture = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/stix/indicator_stream.json", import.meta.url)),
) as StixObject;

function envelope(data: unknown, extra: Record<string, unknown> = {}) {
  return {
    version: "4",
    type: "create",
    scope: "external",
    message: "m",
    origin: {},
    data,
    ...extra,
  };
}

Deno.test("intentsOf() turns a create of a STIX indicator into one upsert with its observables", () => {
  const [intent] = intentsOf("create", envelope(fixture), { now: NOW });
  assert.equal(intent?.kind, "upsert");
  if (intent?.kind !== "upsert") return;
  assert.equal(intent.indicator.id, fixture.id);
  assert.deepEqual(intent.indicator.observables, [{ type: "ipv4-addr", value: "1.2.3.4" }]);
  assert.equal(intent.indicator.score, 80);
  assert.equal(intent.indicator.tlp, "green");
  assert.deepEqual(intent.indicator.labels, ["malicious-activity", "c2"]);
});

Deno.test("intentsOf() branches on the SSE name: an update that left the stream arrives as delete", () => {
  const [intent] = intentsOf("delete", envelope(fixture, { type: "update" }), { now: NOW });
  assert.equal(intent?.kind, "remove");
  if (intent?.kind !== "remove") return;
  assert.equal(intent.removal.id, fixture.id);
  assert.equal(intent.why, "deleted");
  assert.deepEqual(intent.removal.observables, [{ type: "ipv4-addr", value: "1.2.3.4" }]);
});

Deno.test("intentsOf() removes a revoked indicator instead of sending it", () => {
  const [intent] = intentsOf("update", envelope({ ...fixture, revoked: true }), { now: NOW });
  assert.equal(intent?.kind, "remove");
  assert.equal(intent?.kind === "remove" && intent.why, "revoked");
});

Deno.test("intentsOf() removes an indicator whose valid_until has passed", () => {
  const expired = { ...fixture, valid_until: "2024-06-30T00:00:00.000Z" };
  const [intent] = intentsOf("create", envelope(expired), { now: NOW });
  assert.equal(intent?.kind === "remove" && intent.why, "expired");
});

Deno.test("intentsOf() skips non-STIX pattern types, other entity types and unreadable patterns with reasons", () => {
  const { extensions: _drop, ...plain } = fixture;
  const cases: [unknown, string][] = [
    [
      { ...plain, pattern_type: "yara", pattern: "rule x { condition: true }" },
      "unsupported_pattern_type",
    ],
    [{ id: "malware--1", type: "malware", name: "x" }, "unsupported_entity_type"],
    [{ ...plain, pattern: "[x-unknown:value = 'a']" }, "unreadable_pattern"],
    [{ ...plain, pattern: "[ipv4-addr:value = '999.1.1.1']" }, "invalid_value"],
  ];
  for (const [data, reason] of cases) {
    const [intent] = intentsOf("create", envelope(data), { now: NOW });
    assert.equal(intent?.kind, "skip", reason);
    assert.equal(intent?.kind === "skip" && intent.reason, reason);
  }
});

Deno.test("intentsOf() reports a malformed envelope and an unknown event name as skipped", () => {
  assert.equal(intentsOf("create", { data: "nope" }, { now: NOW })[0]?.kind, "skip");
  assert.equal(intentsOf("create", null, { now: NOW })[0]?.kind, "skip");
  const [unknown] = intentsOf("resurrect", envelope(fixture), { now: NOW });
  assert.equal(unknown?.kind === "skip" && unknown.reason, "unknown_event");
});

Deno.test("intentsOf() maps raw observables, including files by every hash", () => {
  const [ip] = intentsOf(
    "create",
    envelope({ id: "ipv4-addr--1", type: "ipv4-addr", value: "8.8.8.8" }),
    { now: NOW },
  );
  assert.equal(ip?.kind === "upsert" && ip.indicator.observables[0]?.value, "8.8.8.8");
  const file = {
    id: "file--1",
    type: "file",
    hashes: {
      md5: "d41d8cd98f00b204e9800998ecf8427e",
      "SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
  };
  const [f] = intentsOf("create", envelope(file), { now: NOW });
  assert.equal(f?.kind, "upsert");
  assert.deepEqual(f?.kind === "upsert" && f.indicator.observables.map((o) => o.hash).sort(), [
    "MD5",
    "SHA-256",
  ]);
});

Deno.test("intentsOf() turns a merge into removals of the merged sources and an upsert of the target", () => {
  const source = { ...fixture, id: "indicator--00000000-0000-5000-8000-000000000001" };
  const intents = intentsOf("merge", envelope(fixture, { context: { sources: [source] } }), {
    now: NOW,
  });
  assert.deepEqual(intents.map((i) => i.kind), ["remove", "upsert"]);
});

Deno.test("intentsOf() keeps valid observables of an OR pattern and reports the invalid one", () => {
  const { extensions: _drop, ...plain } = fixture;
  const data = {
    ...plain,
    pattern: "[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'not a domain']",
  };
  const [intent] = intentsOf("create", envelope(data), { now: NOW });
  assert.equal(intent?.kind, "upsert");
  if (intent?.kind !== "upsert") return;
  assert.deepEqual(intent.indicator.observables.map((o) => o.value), ["1.2.3.4"]);
  assert.equal(intent.dropped.length, 1);
});

Deno.test("toTargetIndicator() keeps a 10 MB description for the target to cut", () => {
  const big = "x".repeat(10 * 1024 * 1024);
  const indicator = toTargetIndicator({ ...fixture, description: big }, [{
    type: "ipv4-addr",
    value: "1.2.3.4",
  }]);
  assert.equal(indicator.description?.length, big.length);
  assert.equal(indicator.openctiId, "5b0f3a57-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
});
