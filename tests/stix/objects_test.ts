/** The shared STIX object builders: the bundle's order, duplicates and emptiness. */
import assert from "node:assert/strict";
import { tlpMarking } from "../../src/stix/markings.ts";
import { markedBundle, organizationIdentity } from "../../src/stix/objects.ts";

const NOW = "2026-01-01T00:00:00.000Z";

Deno.test("markedBundle() puts the marking and author first and keeps the first or the last copy of an id in its place", async () => {
  const author = await organizationIdentity("Author", NOW, "test author");
  const marking = tlpMarking("amber");
  const a1 = { type: "x-a", id: "x-a--1", v: 1 };
  const b = { type: "x-b", id: "x-b--1" };
  const a2 = { type: "x-a", id: "x-a--1", v: 2 };
  const objects = [a1, b, author, marking, a2];
  const first = markedBundle(marking, author, objects, { uuid: () => "u1" });
  assert.equal(first?.id, "bundle--u1");
  assert.deepEqual(first?.objects, [marking, author, a1, b]);
  const last = markedBundle(marking, author, objects, { uuid: () => "u2", keepLast: true });
  assert.deepEqual(last?.objects, [marking, author, a2, b]);
  assert.equal(markedBundle(marking, author, [author, marking]), undefined);
});
