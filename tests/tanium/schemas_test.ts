import assert from "node:assert/strict";
import { readAlert, readDetails, readIntel } from "../../src/tanium/schemas.ts";
import {
  advance,
  cursorFromState,
  cursorToState,
  isExamined,
  sameCursor,
  startCursor,
} from "../../src/tanium/cursor.ts";
import { fixture } from "./helpers.ts";

Deno.test("readAlert() reads the reference alert with details parsed from the JSON string", async () => {
  const read = readAlert(await fixture("reference_alert.json"));
  assert.ok("alert" in read);
  assert.equal(read.alert.id, 1);
  assert.equal(read.alert.alertedAt, "2023-10-16T12:26:51.000Z");
  assert.equal(read.alert.intelDocId, 700);
  assert.deepEqual(read.alert.details, {
    user: "DEVICENAME\\bob",
    file: {
      md5: "2204459dcbf34aed8906daac26db6f56",
      sha1: "f2b0d5f1c8f4c3b2a1e0d9c8b7a6f5e4d3c2b1a0",
      sha256: "aa64428647b57bf51524d1756b2ed746e5a3f31b67cf7fe5b5d8a9daf07ca313",
    },
  });
});

Deno.test("readAlert() tolerates null and wrongly typed optional fields", () => {
  const read = readAlert({
    id: 9,
    alertedAt: "2023-10-16T12:26:51+02:00",
    guid: null,
    type: null,
    matchType: 12,
    computerName: null,
    computerIpAddress: null,
    intelDocId: "700",
    details: null,
  });
  assert.ok("alert" in read);
  assert.equal(read.alert.alertedAt, "2023-10-16T10:26:51.000Z");
  assert.equal(read.alert.matchType, undefined);
  assert.equal(read.alert.intelDocId, 700);
  assert.equal(read.alert.details, undefined);
});

Deno.test("readAlert() reports an alert without integer id or readable alertedAt as malformed", () => {
  const noId = readAlert({ id: "x1", alertedAt: "2023-10-16T12:26:51Z" });
  assert.ok("malformed" in noId);
  assert.equal(noId.malformed.rawId, "x1");
  const badDate = readAlert({ id: 5, alertedAt: "yesterday" });
  assert.ok("malformed" in badDate);
  assert.match(badDate.malformed.problem, /alertedAt/);
  assert.ok("malformed" in readAlert(null));
});

Deno.test("readDetails() falls back to properties.user/file and tolerates match null", () => {
  const both = readDetails(JSON.stringify({
    match: { properties: { user: "D\\u1", file: { sha256: "ab" }, process: { user: "D\\u2" } } },
  }));
  assert.deepEqual(both.details, { user: "D\\u2", file: { sha256: "ab" } });
  assert.deepEqual(readDetails(JSON.stringify({ match: null })).details, {
    user: undefined,
    file: undefined,
  });
  assert.deepEqual(readDetails(JSON.stringify({ match: { properties: { file: {} } } })).details, {
    user: undefined,
    file: undefined,
  });
  assert.match(readDetails("{").problem ?? "", /not valid JSON/);
  assert.equal(readDetails("").details, undefined);
});

Deno.test("readIntel() reads techniques as strings and drops broken entries", () => {
  const intel = readIntel({
    data: {
      id: 7,
      name: "x",
      type: "yara",
      mitreAttack: {
        techniques: [{ id: "T1027", name: "Obf" }, { id: 1055 }, { name: "no id" }, 3],
      },
    },
  });
  assert.deepEqual(intel.techniques, [
    { id: "T1027", name: "Obf" },
    { id: "T1055", name: "T1055" },
  ]);
  assert.deepEqual(readIntel({ data: { id: 8 } }).techniques, []);
  assert.deepEqual(readIntel({ data: { id: 8, mitreAttack: {} } }).techniques, []);
  assert.throws(() => readIntel({ data: {} }));
});

Deno.test("cursorFromState() reads the upstream isoformat date and the ids beside it", () => {
  assert.deepEqual(
    cursorFromState({ last_alert_date: "2023-10-16T12:26:51+00:00", last_alert_ids: [42, 41, 41] }),
    { date: "2023-10-16T12:26:51.000Z", ids: [41, 42] },
  );
  assert.deepEqual(cursorFromState({ last_alert_date: "2023-10-16T12:26:51+00:00" }), {
    date: "2023-10-16T12:26:51.000Z",
    ids: [],
  });
  assert.equal(cursorFromState({}), undefined);
  assert.equal(cursorFromState({ last_alert_date: "garbage" }), undefined);
});

Deno.test("advance() keeps every id of the newest instant and never moves back", () => {
  const at = (id: number, iso: string) => ({ id, alertedAt: iso, alertedAtMs: Date.parse(iso) });
  let cursor = startCursor("2023-10-16T00:00:00Z");
  cursor = advance(cursor, at(5, "2023-10-16T12:00:00.000Z"));
  cursor = advance(cursor, at(6, "2023-10-16T12:00:00.000Z"));
  assert.deepEqual(cursor, { date: "2023-10-16T12:00:00.000Z", ids: [5, 6] });
  assert.ok(isExamined(cursor, at(5, "2023-10-16T12:00:00.000Z")));
  assert.ok(!isExamined(cursor, at(7, "2023-10-16T12:00:00.000Z")));
  assert.ok(isExamined(cursor, at(1, "2023-10-16T11:00:00.000Z")));
  assert.deepEqual(advance(cursor, at(1, "2023-10-16T11:00:00.000Z")), cursor);
  const next = advance(cursor, at(9, "2023-10-16T12:00:01.000Z"));
  assert.deepEqual(next, { date: "2023-10-16T12:00:01.000Z", ids: [9] });
  assert.ok(sameCursor(cursor, { date: cursor.date, ids: [5, 6] }));
  assert.deepEqual(cursorToState(next), {
    last_alert_date: "2023-10-16T12:00:01.000Z",
    last_alert_ids: [9],
  });
});
