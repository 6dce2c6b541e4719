import assert from "node:assert/strict";
import { OPENCTI_EXTENSION_ID, readOpenCtiExtension } from "../../src/stix/extension.ts";

const fixture = async (name: string): Promise<Record<string, unknown>> =>
  JSON.parse(await Deno.readTextFile(new URL(`../fixtures/stix/${name}`, import.meta.url)));

Deno.test("readOpenCtiExtension() reads the OpenCTI extension of a stream indicator", async () => {
  const ext = readOpenCtiExtension(await fixture("indicator_stream.json"));
  assert.deepEqual(ext, {
    id: "5b0f3a57-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    entityType: "Indicator",
    score: 80,
    detection: true,
    mainObservableType: "IPv4-Addr",
    createdAt: "2024-06-10T07:13:20.100Z",
    updatedAt: "2024-06-10T07:13:20.100Z",
    // No labels in the extensions: the top-level STIX labels are used.
    labels: ["malicious-activity", "c2"],
    isInferred: false,
    createdByRefId: "0c3a1e77-0000-4000-8000-000000000003",
    creatorIds: ["2a9c6f0c-0000-4000-8000-000000000001"],
    labelsIds: ["7d1f0b2e-0000-4000-8000-000000000002"],
    observableValues: [{ type: "IPv4-Addr", value: "1.2.3.4" }],
    invalidObservableValues: 0,
  });
});

Deno.test("readOpenCtiExtension() falls back to top-level x_opencti_* properties", async () => {
  const ext = readOpenCtiExtension(await fixture("indicator_top_level.json"));
  assert.equal(ext.score, 42);
  assert.equal(ext.detection, false);
  assert.equal(ext.mainObservableType, "Domain-Name");
  assert.equal(ext.observableValues, undefined);
  assert.equal(ext.id, undefined);
});

Deno.test("readOpenCtiExtension() prefers the extension, then the observable extension, then the top level", () => {
  const ext = readOpenCtiExtension({
    type: "ipv4-addr",
    id: "ipv4-addr--x",
    x_opencti_score: 10,
    x_opencti_labels: ["top"],
    extensions: {
      [OPENCTI_EXTENSION_ID]: { score: 90 },
      "extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82": { score: 50, labels: ["obs"] },
    },
  });
  assert.equal(ext.score, 90);
  assert.deepEqual(ext.labels, ["obs"]);
});

Deno.test("readOpenCtiExtension() ignores malformed fields and counts malformed observable_values", () => {
  const ext = readOpenCtiExtension({
    type: "indicator",
    id: "indicator--x",
    x_opencti_score: "75",
    x_opencti_detection: "true",
    extensions: {
      [OPENCTI_EXTENSION_ID]: {
        score: 400, // out of range: ignored, the top-level value is used
        detection: "maybe",
        main_observable_type: 12,
        created_at: null,
        observable_values: [
          { type: "Url", value: "https://a.example/" },
          { type: "Url" },
          "garbage",
          { value: "no type" },
          { type: "StixFile", hashes: { sha256: "ab" } },
        ],
      },
    },
  });
  assert.equal(ext.score, 75);
  assert.equal(ext.detection, true);
  assert.equal(ext.mainObservableType, undefined);
  assert.equal(ext.createdAt, undefined);
  assert.deepEqual(ext.observableValues, [
    { type: "Url", value: "https://a.example/" },
    { type: "StixFile", hashes: { sha256: "ab" } },
  ]);
  assert.equal(ext.invalidObservableValues, 3);
});

Deno.test("readOpenCtiExtension() returns an empty result for non-objects", () => {
  for (const input of [null, undefined, 42, "x", [], { extensions: "nope" }]) {
    assert.deepEqual(readOpenCtiExtension(input), { invalidObservableValues: 0 });
  }
});
