import assert from "node:assert/strict";
import { canonicalize } from "../../src/stix/canonical.ts";
import {
  attackPatternId,
  computeId,
  externalReferenceId,
  fileId,
  generateId,
  idData,
  identityId,
  incidentId,
  indicatorId,
  InvalidTimestampError,
  killChainPhaseId,
  labelId,
  malwareId,
  markingDefinitionId,
  MissingIdDataError,
  observableId,
  platformTimestamp,
  relationshipId,
  sightingId,
  standardIdOf,
  userAccountId,
} from "../../src/stix/ids.ts";
import { TLP_AMBER_STRICT_ID, TLP_CLEAR_ID, TLP_GREEN_ID } from "../../src/stix/markings.ts";
import { uuidV4, uuidV5 } from "../../src/stix/uuid.ts";

/** Every vector of reference opencti.md §5.3: [label, type, canonical data string, id]. */
const VECTORS: ReadonlyArray<readonly [string, string, string, string]> = [
  // Platform unit-test vectors
  [
    "platform identity",
    "identity",
    `{"identity_class":"individual","name":"organization"}`,
    "identity--00f7eb8c-6af2-5ed5-9ede-ede4c623de3b",
  ],
  [
    "platform indicator",
    "indicator",
    `{"pattern":"[domain-name:value = 'shortsvelventysjo.shop']"}`,
    "indicator--e3a64916-7775-5262-9246-9d3783cfdfa6",
  ],
  [
    "platform relationship with start_time",
    "relationship",
    `{"relationship_type":"based-on","source_ref":"from_id","start_time":"2022-11-25T19:00:05.000Z","target_ref":"to_id"}`,
    "relationship--c5e1e2ce-14d6-535b-911d-267e92119e01",
  ],
  [
    "platform sighting (list form)",
    "sighting",
    `{"first_seen":"2022-11-25T19:00:05.000Z","sighting_of_ref":"from_id","type":"sighting","where_sighted_refs":["to_id"]}`,
    "sighting--3c59ceea-8e41-5adb-a257-d070d19e6d2b",
  ],
  [
    "platform malware",
    "malware",
    `{"name":"snowflake"}`,
    "malware--1bc77052-c136-5258-b95d-fc8117fba3fd",
  ],
  // Computed with the same algorithm
  [
    "identity acme corp",
    "identity",
    `{"identity_class":"organization","name":"acme corp"}`,
    "identity--542072da-8b33-50bf-810b-d9cfd2a0bc69",
  ],
  [
    "indicator 1.2.3.4",
    "indicator",
    `{"pattern":"[ipv4-addr:value = '1.2.3.4']"}`,
    "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861",
  ],
  [
    "ipv4-addr 1.2.3.4",
    "ipv4-addr",
    `{"value":"1.2.3.4"}`,
    "ipv4-addr--0198f97b-e65d-5025-87e5-58bc39d4bdb4",
  ],
  [
    "domain-name example.com",
    "domain-name",
    `{"value":"example.com"}`,
    "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
  ],
  [
    "kill-chain-phase",
    "kill-chain-phase",
    `{"kill_chain_name":"mitre-attack","phase_name":"initial-access"}`,
    "kill-chain-phase--669c7069-0cda-5e65-8ce0-002e631ee320",
  ],
  [
    "external-reference",
    "external-reference",
    `{"url":"https://example.com/report"}`,
    "external-reference--4d4eeaf9-7eeb-5d7f-9c6a-80a9f6942712",
  ],
  // Tanium import vectors
  [
    "Tanium author identity",
    "identity",
    `{"identity_class":"organization","name":"tanium threat response incidents"}`,
    "identity--f7691caa-c29a-510d-8c26-f81257631f98",
  ],
  [
    "incident, upstream pycti form",
    "incident",
    `{"created":"2023-10-16T12:26:51+00:00","name":"testing eicar on computername"}`,
    "incident--1022a6ea-f18d-572a-8417-6d04efd1b64f",
  ],
  [
    "hostname ComputerName",
    "hostname",
    `{"value":"ComputerName"}`,
    "hostname--ed78d00b-08f3-52ec-b5b3-ea85551426ca",
  ],
  [
    "ipv4-addr 1.1.1.1",
    "ipv4-addr",
    `{"value":"1.1.1.1"}`,
    "ipv4-addr--cbd67181-b9f8-595b-8bc3-3971e34fa1cc",
  ],
  [
    "user-account Bob",
    "user-account",
    `{"account_login":"Bob"}`,
    "user-account--024b1da8-87a0-5559-80f4-9ea8ee338b55",
  ],
  [
    "file MD5 only",
    "file",
    `{"hashes":{"MD5":"2204459dcbf34aed8906daac26db6f56"}}`,
    "file--4ff9b0c7-7989-540b-9abf-d59018de89b5",
  ],
  [
    "attack-pattern T1134.002 raw",
    "attack-pattern",
    `{"x_mitre_id":"T1134.002"}`,
    "attack-pattern--0b75beed-9a14-5c11-a84d-58bf05894394",
  ],
  [
    "attack-pattern lower-cased (newer pycti variant)",
    "attack-pattern",
    `{"x_mitre_id":"t1134.002"}`,
    "attack-pattern--d4bb058f-de5a-5fae-bd92-b76ee5276fca",
  ],
  [
    "relationship hostname → incident (upstream form)",
    "relationship",
    `{"relationship_type":"related-to","source_ref":"hostname--ed78d00b-08f3-52ec-b5b3-ea85551426ca","target_ref":"incident--1022a6ea-f18d-572a-8417-6d04efd1b64f"}`,
    "relationship--65b252e2-e094-5a8f-95b1-d9be34777eb1",
  ],
  [
    "relationship incident → attack-pattern (upstream form)",
    "relationship",
    `{"relationship_type":"uses","source_ref":"incident--1022a6ea-f18d-572a-8417-6d04efd1b64f","target_ref":"attack-pattern--0b75beed-9a14-5c11-a84d-58bf05894394"}`,
    "relationship--79b1aa14-24e1-5db2-bd75-f8bf79274fa2",
  ],
  [
    "incident, platform form",
    "incident",
    `{"created":"2023-10-16T12:26:51.000Z","name":"testing eicar on computername"}`,
    "incident--61bb471e-f0d7-5655-aeab-1db7b64893f6",
  ],
  [
    "relationship hostname → incident (platform form)",
    "relationship",
    `{"relationship_type":"related-to","source_ref":"hostname--ed78d00b-08f3-52ec-b5b3-ea85551426ca","target_ref":"incident--61bb471e-f0d7-5655-aeab-1db7b64893f6"}`,
    "relationship--d6286a02-ec03-5ae5-94db-6c87932f90c9",
  ],
  [
    "relationship incident → attack-pattern (platform form)",
    "relationship",
    `{"relationship_type":"uses","source_ref":"incident--61bb471e-f0d7-5655-aeab-1db7b64893f6","target_ref":"attack-pattern--0b75beed-9a14-5c11-a84d-58bf05894394"}`,
    "relationship--048898b4-a713-596b-8562-f600c1a53a61",
  ],
];

for (const [label, type, canonical, id] of VECTORS) {
  Deno.test(`generateId() gives ${id} for the reference vector "${label}"`, async () => {
    const data = JSON.parse(canonical) as Record<string, unknown>;
    // The listed string is already canonical: canonicalize() must reproduce it byte for byte.
    assert.equal(canonicalize(data), canonical);
    assert.equal(await generateId(type, data), id);
    // And the raw algorithm (uuid5 over the listed string) agrees.
    assert.equal(`${type}--${await uuidV5(canonical, "00abedb4-aa42-466c-9c01-fed23315a9b7")}`, id);
  });
}

Deno.test("canonicalize() writes the reference's canonicalisation check exactly", () => {
  const input = JSON.parse(`{"name":"café ü\\u0001\\"\\\\/","a":1055}`) as unknown;
  assert.equal(canonicalize(input), `{"a":1055,"name":"café ü\\u0001\\"\\\\/"}`);
});

const HOSTNAME = "hostname--ed78d00b-08f3-52ec-b5b3-ea85551426ca";
const INCIDENT = "incident--61bb471e-f0d7-5655-aeab-1db7b64893f6";
const ATTACK = "attack-pattern--0b75beed-9a14-5c11-a84d-58bf05894394";

Deno.test("typed helpers produce the platform-form ids of the Tanium import", async () => {
  assert.equal(
    await identityId({ name: "Tanium Threat Response Incidents", identity_class: "organization" }),
    "identity--f7691caa-c29a-510d-8c26-f81257631f98",
  );
  // Upstream gives "+00:00" without ms; the helper stores-and-hashes the platform form.
  assert.equal(
    await incidentId({
      name: "Testing eicar on ComputerName",
      created: "2023-10-16T12:26:51+00:00",
    }),
    INCIDENT,
  );
  assert.equal(
    await incidentId({
      name: "  Testing eicar on ComputerName ",
      created: new Date("2023-10-16T12:26:51Z"),
    }),
    INCIDENT,
  );
  assert.equal(await observableId("hostname", "ComputerName"), HOSTNAME);
  assert.equal(
    await observableId("ipv4-addr", "1.1.1.1"),
    "ipv4-addr--cbd67181-b9f8-595b-8bc3-3971e34fa1cc",
  );
  assert.equal(
    await userAccountId({ account_login: "Bob" }),
    "user-account--024b1da8-87a0-5559-80f4-9ea8ee338b55",
  );
  assert.equal(
    await fileId({ hashes: { md5: "2204459dcbf34aed8906daac26db6f56" }, name: "eicar.com" }),
    "file--4ff9b0c7-7989-540b-9abf-d59018de89b5",
  );
  assert.equal(await attackPatternId({ x_mitre_id: "T1134.002", name: "Create Process" }), ATTACK);
  assert.equal(
    await relationshipId({
      relationship_type: "related-to",
      source_ref: HOSTNAME,
      target_ref: INCIDENT,
    }),
    "relationship--d6286a02-ec03-5ae5-94db-6c87932f90c9",
  );
  assert.equal(
    await relationshipId({ relationship_type: "uses", source_ref: INCIDENT, target_ref: ATTACK }),
    "relationship--048898b4-a713-596b-8562-f600c1a53a61",
  );
});

Deno.test("typed helpers reproduce the platform and computed vectors", async () => {
  assert.equal(
    await identityId({ name: "Organization", identity_class: "Individual" }),
    "identity--00f7eb8c-6af2-5ed5-9ede-ede4c623de3b",
  );
  assert.equal(
    await identityId({ name: "ACME Corp", identity_class: "organization" }),
    "identity--542072da-8b33-50bf-810b-d9cfd2a0bc69",
  );
  assert.equal(
    await indicatorId({ pattern: "[domain-name:value = 'shortsvelventysjo.shop']" }),
    "indicator--e3a64916-7775-5262-9246-9d3783cfdfa6",
  );
  assert.equal(
    await indicatorId({ pattern: "[ipv4-addr:value = '1.2.3.4']" }),
    "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861",
  );
  assert.equal(await malwareId("SnowFlake "), "malware--1bc77052-c136-5258-b95d-fc8117fba3fd");
  assert.equal(
    await relationshipId({
      relationship_type: "based-on",
      source_ref: "from_id",
      target_ref: "to_id",
      start_time: "2022-11-25T19:00:05Z",
    }),
    "relationship--c5e1e2ce-14d6-535b-911d-267e92119e01",
  );
  const sighting = "sighting--3c59ceea-8e41-5adb-a257-d070d19e6d2b";
  const first_seen = "2022-11-25T19:00:05.000Z";
  assert.equal(
    await sightingId({ sighting_of_ref: "from_id", where_sighted_refs: ["to_id"], first_seen }),
    sighting,
  );
  // A bare string (the upstream Tanium mistake) is still hashed as a list.
  assert.equal(
    await sightingId({ sighting_of_ref: "from_id", where_sighted_refs: "to_id", first_seen }),
    sighting,
  );
  assert.equal(
    await observableId("ipv4-addr", "1.2.3.4"),
    "ipv4-addr--0198f97b-e65d-5025-87e5-58bc39d4bdb4",
  );
  assert.equal(
    await observableId("domain-name", "example.com"),
    "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
  );
  assert.equal(
    await killChainPhaseId({ kill_chain_name: "mitre-attack", phase_name: "initial-access" }),
    "kill-chain-phase--669c7069-0cda-5e65-8ce0-002e631ee320",
  );
  assert.equal(
    await externalReferenceId({
      url: "https://example.com/report",
      source_name: "acme",
      external_id: "R-1",
    }),
    "external-reference--4d4eeaf9-7eeb-5d7f-9c6a-80a9f6942712",
  );
});

Deno.test("platformTimestamp() returns UTC with three fractional digits and Z", () => {
  assert.equal(platformTimestamp("2023-10-16T12:26:51+00:00"), "2023-10-16T12:26:51.000Z");
  assert.equal(platformTimestamp("2023-10-16T14:26:51.5+02:00"), "2023-10-16T12:26:51.500Z");
  assert.equal(platformTimestamp("2023-10-16T12:26:51.123456Z"), "2023-10-16T12:26:51.123Z");
  assert.equal(platformTimestamp("2023-10-16T12:26:51"), "2023-10-16T12:26:51.000Z");
  assert.equal(platformTimestamp("2023-10-16"), "2023-10-16T00:00:00.000Z");
  assert.equal(platformTimestamp("2023-10-16T12:26:51-0530"), "2023-10-16T17:56:51.000Z");
  assert.equal(
    platformTimestamp(new Date(Date.UTC(2024, 5, 10, 7, 13, 20))),
    "2024-06-10T07:13:20.000Z",
  );
  assert.throws(() => platformTimestamp("yesterday"), InvalidTimestampError);
  assert.throws(() => platformTimestamp("2023-02-30T00:00:00Z"), InvalidTimestampError);
  assert.throws(() => platformTimestamp(new Date(NaN)), InvalidTimestampError);
});

Deno.test("idData() applies the platform's normalisation and dependency rules", () => {
  assert.deepEqual(idData("identity", { name: " ACME ", identity_class: "Organization" }), {
    name: "acme",
    identity_class: "organization",
  });
  // identity_class needs name: without it the whole data is empty.
  assert.equal(idData("identity", { identity_class: "organization" }), undefined);
  // Incident created needs name.
  assert.equal(idData("incident", { created: "2023-10-16T12:26:51Z" }), undefined);
  assert.deepEqual(idData("incident", { name: "X" }), { name: "x" });
  // Observables keep their value raw.
  assert.deepEqual(idData("domain-name", { value: " Example.COM" }), { value: " Example.COM" });
  // Indicator pattern is raw (not trimmed).
  assert.deepEqual(idData("indicator", { pattern: " [x] " }), { pattern: " [x] " });
  // Attack pattern: x_mitre_id raw, else normalised name.
  assert.deepEqual(idData("attack-pattern", { name: "Phishing " }), { name: "phishing" });
  // Relationship ends need each other; times are included whenever set.
  assert.equal(
    idData("relationship", { relationship_type: "uses", source_ref: "a--1" }),
    undefined,
  );
  assert.deepEqual(
    idData("relationship", {
      relationship_type: "uses",
      source_ref: "a",
      target_ref: "b",
      stop_time: "2024-01-01T00:00:00Z",
    }),
    {
      relationship_type: "uses",
      source_ref: "a",
      target_ref: "b",
      stop_time: "2024-01-01T00:00:00.000Z",
    },
  );
  // Files: one hash by preference, upper-cased keys, any spelling; else name.
  assert.deepEqual(
    idData("file", {
      hashes: { "sha256": "b".repeat(64), "SHA-1": "a".repeat(40) },
      name: "x.exe",
    }),
    { hashes: { "SHA-1": "a".repeat(40) } },
  );
  assert.deepEqual(idData("file", { hashes: { sha256: "b".repeat(64) } }), {
    hashes: { "SHA-256": "b".repeat(64) },
  });
  assert.deepEqual(idData("file", { hashes: { TLSH: "t" }, name: "x.exe" }), { name: "x.exe" });
  assert.deepEqual(idData("file", { hashes: {}, name: "x.exe" }), { name: "x.exe" });
  // External reference: url, else source_name + external_id (source_name needs external_id).
  assert.deepEqual(idData("external-reference", { source_name: "tanium", external_id: "42" }), {
    source_name: "tanium",
    external_id: "42",
  });
  assert.equal(idData("external-reference", { source_name: "tanium" }), undefined);
  // Labels are normalised.
  assert.deepEqual(idData("label", { value: " C2 " }), { value: "c2" });
  // Marking definitions are upper-cased; definition needs definition_type.
  assert.deepEqual(
    idData("marking-definition", { definition_type: "pap", definition: "pap:red" }),
    {
      definition_type: "PAP",
      definition: "PAP:RED",
    },
  );
  assert.equal(idData("marking-definition", { definition: "PAP:RED" }), undefined);
  assert.equal(idData("no-such-type", { name: "x" }), undefined);
});

Deno.test("markingDefinitionId() returns the fixed TLP ids and computes others", async () => {
  assert.equal(
    await markingDefinitionId({ definition_type: "tlp", definition: "tlp:green" }),
    TLP_GREEN_ID,
  );
  assert.equal(
    await markingDefinitionId({ definition_type: "TLP", definition: "TLP:WHITE" }),
    TLP_CLEAR_ID,
  );
  assert.equal(
    await markingDefinitionId({ definition_type: "TLP", definition: "TLP:CLEAR" }),
    TLP_CLEAR_ID,
  );
  assert.equal(
    await markingDefinitionId({ definition_type: "TLP", definition: "TLP:AMBER+STRICT" }),
    TLP_AMBER_STRICT_ID,
  );
  const pap = await markingDefinitionId({ definition_type: "PAP", definition: "PAP:RED" });
  assert.equal(
    pap,
    await generateId("marking-definition", { definition: "PAP:RED", definition_type: "PAP" }),
  );
  assert.match(
    pap,
    /^marking-definition--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
});

Deno.test("labelId() ignores case and surrounding whitespace", async () => {
  const id = await labelId("Malicious-Activity");
  assert.equal(await labelId("  malicious-activity "), id);
  assert.match(id, /^label--/);
});

Deno.test("generateId() and computeId() refuse empty data with MissingIdDataError", async () => {
  await assert.rejects(() => generateId("malware", { name: "" }), MissingIdDataError);
  await assert.rejects(
    () => computeId("identity", { identity_class: "organization" }),
    MissingIdDataError,
  );
  await assert.rejects(() => fileId({ hashes: {} }), MissingIdDataError);
  await assert.rejects(
    () => incidentId({ name: "x", created: "not a date" }),
    InvalidTimestampError,
  );
});

Deno.test("standardIdOf() computes the platform id of whole STIX objects", async () => {
  const tanium = "identity--f7691caa-c29a-510d-8c26-f81257631f98";
  assert.equal(
    await standardIdOf({
      type: "identity",
      id: "identity--00000000-0000-4000-8000-000000000000",
      name: "Tanium Threat Response Incidents",
      identity_class: "organization",
      description: "ignored",
    }),
    tanium,
  );
  assert.equal(
    await standardIdOf({
      type: "incident",
      id: "incident--1022a6ea-f18d-572a-8417-6d04efd1b64f",
      name: "Testing eicar on ComputerName",
      created: "2023-10-16T12:26:51+00:00",
    }),
    INCIDENT,
  );
  // Refs are resolved to standard ids before hashing.
  const upstreamIncident = "incident--1022a6ea-f18d-572a-8417-6d04efd1b64f";
  assert.equal(
    await standardIdOf(
      {
        type: "relationship",
        id: "relationship--65b252e2-e094-5a8f-95b1-d9be34777eb1",
        relationship_type: "related-to",
        source_ref: HOSTNAME,
        target_ref: upstreamIncident,
      },
      { resolveRef: (id) => (id === upstreamIncident ? INCIDENT : undefined) },
    ),
    "relationship--d6286a02-ec03-5ae5-94db-6c87932f90c9",
  );
  // Sightings: where_sighted_refs reduced to a list of the first entry, string or list.
  for (const where of [["to_id", "other"], "to_id"]) {
    assert.equal(
      await standardIdOf({
        type: "sighting",
        id: "sighting--x",
        sighting_of_ref: "from_id",
        where_sighted_refs: where,
        first_seen: "2022-11-25T19:00:05Z",
      }),
      "sighting--3c59ceea-8e41-5adb-a257-d070d19e6d2b",
    );
  }
  assert.equal(
    await standardIdOf({
      type: "file",
      id: "file--x",
      name: "eicar.com",
      hashes: { "SHA-256": "c".repeat(64), "MD5": "2204459dcbf34aed8906daac26db6f56" },
    }),
    "file--4ff9b0c7-7989-540b-9abf-d59018de89b5",
  );
  assert.equal(
    await standardIdOf({
      type: "attack-pattern",
      id: "attack-pattern--x",
      x_mitre_id: "T1134.002",
    }),
    ATTACK,
  );
  assert.equal(
    await standardIdOf({
      type: "indicator",
      id: "indicator--x",
      pattern: "[ipv4-addr:value = '1.2.3.4']",
      pattern_type: "stix",
    }),
    "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861",
  );
  assert.equal(
    await standardIdOf({
      type: "marking-definition",
      id: "marking-definition--x",
      definition_type: "tlp",
      definition: { tlp: "amber+strict" },
    }),
    TLP_AMBER_STRICT_ID,
  );
  assert.equal(
    await standardIdOf({
      type: "marking-definition",
      id: "m",
      name: "TLP:GREEN",
      definition_type: "TLP",
    }),
    TLP_GREEN_ID,
  );
  const group = await standardIdOf({ type: "threat-actor", id: "t", name: "APT1" });
  assert.equal(
    group,
    await computeId("threat-actor", { name: "apt1", opencti_type: "Threat-Actor-Group" }),
  );
  const individual = await standardIdOf({
    type: "threat-actor",
    id: "t",
    name: "APT1",
    extensions: {
      "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba": {
        type: "Threat-Actor-Individual",
      },
    },
  });
  assert.notEqual(individual, group);
  assert.equal(
    await standardIdOf({
      type: "location",
      id: "l",
      name: "Paris",
      latitude: 48.85,
      longitude: 2.35,
      x_opencti_location_type: "Position",
    }),
    await generateId("location", { latitude: 48.85, longitude: 2.35 }),
  );
  assert.equal(
    await standardIdOf({
      type: "location",
      id: "l",
      name: "France",
      x_opencti_location_type: "Country",
    }),
    await generateId("location", { name: "france", x_opencti_location_type: "Country" }),
  );
});

Deno.test("standardIdOf() returns undefined for unknown types and objects without their id data", async () => {
  assert.equal(await standardIdOf({ type: "bundle", id: "bundle--x" }), undefined);
  assert.equal(await standardIdOf({ type: "malware", id: "malware--x" }), undefined);
  assert.equal(
    await standardIdOf({ type: "incident", id: "i", name: "x", created: "garbage" }),
    undefined,
  );
  assert.equal(
    await standardIdOf({
      type: "relationship",
      id: "r",
      relationship_type: "uses",
      source_ref: "a",
    }),
    undefined,
  );
});

Deno.test("uuidV4() sets version and variant bits and uses the injected random source", () => {
  const id = uuidV4({ random: (b) => b.fill(0xff) });
  assert.equal(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
  assert.match(uuidV4(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

Deno.test("uuidV5() matches the RFC 9562 example for the DNS namespace", async () => {
  // RFC 9562 Appendix A.4: name "www.example.com" in the DNS namespace.
  assert.equal(
    await uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
    "2ed6657d-e927-568b-95e1-2665a8aea6a2",
  );
});
