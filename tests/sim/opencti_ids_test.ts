/**
 * The OpenCTI simulator's own standard-id rules against the vectors of reference opencti.md §5.3
 * (platform unit-test vectors and the Tanium import vectors) and §4.3 (fixed TLP ids).
 */
import assert from "node:assert/strict";
import {
  externalReferenceId,
  fileIdOf,
  indicatorIdOf,
  standardIdOf,
  TLP_MARKING_IDS,
} from "../../src/sim/opencti_ids.ts";
import type { StixObject } from "../../src/stix/types.ts";

const obj = (type: string, fields: Record<string, unknown>): StixObject => ({
  id: `${type}--00000000-0000-4000-8000-000000000000`,
  type,
  ...fields,
});

Deno.test("the simulator's standard ids equal the platform vectors of reference §5.3", async () => {
  const cases: [StixObject, string][] = [
    [
      obj("identity", { name: "Organization", identity_class: "Individual" }),
      "identity--00f7eb8c-6af2-5ed5-9ede-ede4c623de3b",
    ],
    [
      obj("identity", { name: "  ACME Corp ", identity_class: "organization" }),
      "identity--542072da-8b33-50bf-810b-d9cfd2a0bc69",
    ],
    [
      obj("indicator", { pattern: "[domain-name:value = 'shortsvelventysjo.shop']" }),
      "indicator--e3a64916-7775-5262-9246-9d3783cfdfa6",
    ],
    [
      obj("relationship", {
        relationship_type: "based-on",
        source_ref: "from_id",
        target_ref: "to_id",
        start_time: "2022-11-25T19:00:05Z",
      }),
      "relationship--c5e1e2ce-14d6-535b-911d-267e92119e01",
    ],
    [
      obj("sighting", {
        sighting_of_ref: "from_id",
        where_sighted_refs: ["to_id", "other_id"],
        first_seen: "2022-11-25T19:00:05.000Z",
      }),
      "sighting--3c59ceea-8e41-5adb-a257-d070d19e6d2b",
    ],
    [obj("malware", { name: "Snowflake" }), "malware--1bc77052-c136-5258-b95d-fc8117fba3fd"],
    [obj("ipv4-addr", { value: "1.2.3.4" }), "ipv4-addr--0198f97b-e65d-5025-87e5-58bc39d4bdb4"],
    [
      obj("domain-name", { value: "example.com" }),
      "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
    ],
    [obj("hostname", { value: "ComputerName" }), "hostname--ed78d00b-08f3-52ec-b5b3-ea85551426ca"],
    [
      obj("user-account", { account_login: "Bob" }),
      "user-account--024b1da8-87a0-5559-80f4-9ea8ee338b55",
    ],
    [
      obj("file", {
        hashes: { "SHA-256": "ab".repeat(32), md5: "2204459dcbf34aed8906daac26db6f56" },
      }),
      "file--4ff9b0c7-7989-540b-9abf-d59018de89b5",
    ],
    [
      obj("attack-pattern", { x_mitre_id: "T1134.002", name: "Create Process with Token" }),
      "attack-pattern--0b75beed-9a14-5c11-a84d-58bf05894394",
    ],
    [
      obj("incident", {
        name: "Testing eicar on ComputerName",
        created: "2023-10-16T12:26:51+00:00",
      }),
      "incident--61bb471e-f0d7-5655-aeab-1db7b64893f6",
    ],
    [
      obj("relationship", {
        relationship_type: "uses",
        source_ref: "incident--61bb471e-f0d7-5655-aeab-1db7b64893f6",
        target_ref: "attack-pattern--0b75beed-9a14-5c11-a84d-58bf05894394",
      }),
      "relationship--048898b4-a713-596b-8562-f600c1a53a61",
    ],
  ];
  for (const [object, id] of cases) assert.equal(await standardIdOf(object), id, object.type);
  assert.equal(
    await externalReferenceId({ url: "https://example.com/report", source_name: "x" }),
    "external-reference--4d4eeaf9-7eeb-5d7f-9c6a-80a9f6942712",
  );
  assert.equal(
    await indicatorIdOf("[ipv4-addr:value = '1.2.3.4']"),
    "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861",
  );
  assert.equal(
    await fileIdOf({ MD5: "2204459dcbf34aed8906daac26db6f56" }),
    "file--4ff9b0c7-7989-540b-9abf-d59018de89b5",
  );
});

Deno.test("TLP markings get their fixed ids and other markings a computed one", async () => {
  const tlp = (name: string, tlp: string) =>
    obj("marking-definition", { definition_type: "TLP", name, definition: { tlp } });
  assert.equal(await standardIdOf(tlp("TLP:AMBER", "amber")), TLP_MARKING_IDS.amber);
  assert.equal(await standardIdOf(tlp("TLP:WHITE", "white")), TLP_MARKING_IDS.clear);
  assert.equal(
    await standardIdOf(
      obj("marking-definition", { definition_type: "tlp", definition: "tlp:red" }),
    ),
    TLP_MARKING_IDS.red,
  );
  const pap = await standardIdOf(
    obj("marking-definition", { definition_type: "PAP", definition: "PAP:GREEN" }),
  );
  assert.match(pap ?? "", /^marking-definition--[0-9a-f-]{36}$/);
  assert.ok(!Object.values(TLP_MARKING_IDS).includes(pap as never));
});

Deno.test("objects without their contributing properties get no standard id", async () => {
  assert.equal(await standardIdOf(obj("indicator", { pattern: "" })), undefined);
  assert.equal(await standardIdOf(obj("identity", { identity_class: "organization" })), undefined);
  assert.equal(await standardIdOf(obj("relationship", { source_ref: "a--1" })), undefined);
  assert.equal(
    await standardIdOf(obj("incident", { name: "x", created: "not a date" })),
    undefined,
  );
  assert.equal(await standardIdOf(obj("x-custom-thing", { name: "x" })), undefined);
  assert.equal(
    await standardIdOf(obj("file", { name: "a.exe", hashes: {} })),
    await standardIdOf(obj("file", { name: "a.exe" })),
  );
});
