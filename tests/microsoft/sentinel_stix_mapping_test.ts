import assert from "node:assert/strict";
import {
  armQueryBody,
  parseArmQuery,
  parseTryAgainMs,
  parseUploadErrors,
  toSentinelObject,
  uploadBody,
} from "../../src/microsoft/sentinel_stix_mapping.ts";
import { makeIndicator, STREAM_INDICATOR } from "../fixtures/microsoft/sentinel/make.ts";

const fixture = (name: string) =>
  Deno.readTextFile(new URL(`../fixtures/microsoft/sentinel/${name}`, import.meta.url));

function streamItem() {
  const item = makeIndicator(1, { labels: ["malicious-activity", "c2"] });
  item.id = STREAM_INDICATOR.id;
  item.stix = structuredClone(STREAM_INDICATOR);
  return item;
}

Deno.test("toSentinelObject() sends the stream indicator without extensions or x_opencti_ properties", () => {
  const mapped = toSentinelObject(streamItem(), { keepIndicatorTypes: true });
  assert(mapped.ok);
  const { extensions: _e, x_opencti_score: _s, x_opencti_detection: _d, ...expected } =
    STREAM_INDICATOR;
  assert.deepEqual(mapped.object, expected);
});

Deno.test("toSentinelObject() merges extra labels without duplicates", () => {
  const mapped = toSentinelObject(streamItem(), {
    extraLabels: ["opencti", "C2"],
    keepIndicatorTypes: true,
  });
  assert(mapped.ok);
  assert.deepEqual(mapped.object.labels, ["malicious-activity", "c2", "opencti"]);
});

Deno.test("toSentinelObject() leaves indicator_types out and keeps them as labels by default", () => {
  const item = streamItem();
  item.stix.indicator_types = ["anomalous-activity"];
  const mapped = toSentinelObject(item);
  assert(mapped.ok);
  assert.deepEqual(mapped.object.indicator_types, undefined);
  assert.deepEqual(mapped.object.labels, ["malicious-activity", "c2", "anomalous-activity"]);
});

Deno.test("toSentinelObject() gives a revoked indicator a modified no older than now", () => {
  const item = streamItem();
  item.stix.revoked = true;
  const now = Date.parse("2025-01-01T00:00:00.000Z");
  const mapped = toSentinelObject(item, { now });
  assert(mapped.ok);
  assert.deepEqual(mapped.object.revoked, true);
  assert.deepEqual(mapped.object.modified, "2025-01-01T00:00:00.000Z");
});

Deno.test("toSentinelObject() keeps a newer modified of a revoked indicator", () => {
  const item = streamItem();
  item.stix.revoked = true;
  item.stix.modified = "2026-01-01T00:00:00.000Z";
  const mapped = toSentinelObject(item, { now: Date.parse("2025-01-01T00:00:00.000Z") });
  assert(mapped.ok);
  assert.deepEqual(mapped.object.modified, "2026-01-01T00:00:00.000Z");
});

Deno.test("toSentinelObject() fills required dates from the parsed indicator", () => {
  const item = streamItem();
  delete item.stix.created;
  delete item.stix.valid_from;
  const mapped = toSentinelObject(item);
  assert(mapped.ok);
  assert.deepEqual(mapped.object.created, item.created);
  assert.deepEqual(mapped.object.valid_from, item.validFrom);
});

Deno.test("toSentinelObject() refuses an indicator without a pattern, with the reason", () => {
  const item = streamItem();
  delete item.stix.pattern;
  const mapped = toSentinelObject(item);
  assert(!mapped.ok);
  assert(mapped.reason.includes('"pattern"'), mapped.reason);
});

Deno.test("toSentinelObject() refuses an id that is not a STIX indicator id", () => {
  const item = streamItem();
  item.id = "attack-pattern--274128a4-2ad4-50b5-ae7b-b0dea1fa9861";
  const mapped = toSentinelObject(item);
  assert(!mapped.ok);
});

Deno.test("uploadBody() wraps the objects with the source system", () => {
  assert.deepEqual(JSON.parse(uploadBody("OpenCTI", [{ id: "x", type: "indicator" }])), {
    sourcesystem: "OpenCTI",
    stixobjects: [{ id: "x", type: "indicator" }],
  });
});

Deno.test("armQueryBody() asks for the exact STIX id and source", () => {
  assert.deepEqual(JSON.parse(armQueryBody("indicator--1", "Opencti Stream Connector")), {
    condition: {
      stixObjectType: "indicator",
      conditionConnective: "And",
      clauses: [
        { field: "id", operator: "Equals", values: ["indicator--1"] },
        { field: "source", operator: "Equals", values: ["Opencti Stream Connector"] },
      ],
    },
  });
});

Deno.test("parseUploadErrors() reads the per-record errors of a 200 answer", async () => {
  assert.deepEqual(parseUploadErrors(await fixture("upload_partial_errors.json")), [{
    recordIndex: 1,
    errorMessages: ["Error for Property=id: Required property is missing. Actual value: NULL."],
  }]);
  assert.deepEqual(parseUploadErrors(""), []);
  assert.deepEqual(parseUploadErrors("<html>"), undefined);
});

Deno.test("parseTryAgainMs() reads the seconds of Sentinel's 429 message", async () => {
  const body = JSON.parse(await fixture("rate_limited.json"));
  assert.deepEqual(parseTryAgainMs(body.message), 12_000);
  assert.deepEqual(parseTryAgainMs("Try again in 0.600 seconds."), 600);
  assert.deepEqual(parseTryAgainMs("slow down"), undefined);
});

Deno.test("parseArmQuery() returns the ARM resource ids", async () => {
  const parsed = parseArmQuery(await fixture("arm_query_response.json"));
  assert.deepEqual(parsed?.ids.length, 1);
  assert(parsed?.ids[0]?.startsWith("/subscriptions/"));
  assert.deepEqual(parseArmQuery('{"nope":1}'), undefined);
});
