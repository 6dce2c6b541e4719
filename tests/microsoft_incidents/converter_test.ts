/** The pure Microsoft incident → STIX converter, per evidence kind and for matched indicators. */
import assert from "node:assert/strict";
import {
  authorIdentity,
  buildBundle,
  convertIncident,
  matchCandidates,
} from "../../src/microsoft_incidents/converter.ts";
import { readAlert, readIncident } from "../../src/microsoft_incidents/schemas.ts";
import type { MsIncident } from "../../src/microsoft_incidents/schemas.ts";
import { sampleAlert, sampleEvidence, sampleIncident } from "../../src/sim/graph_security.ts";
import { canonicalize } from "../../src/stix/canonical.ts";
import { standardIdOf } from "../../src/stix/ids.ts";
import { TLP_AMBER_ID, TLP_RED_ID } from "../../src/stix/markings.ts";
import type { StixObject } from "../../src/stix/types.ts";
import { uuidV5 } from "../../src/stix/uuid.ts";
import { PLATFORM_VECTORS } from "../tanium/helpers.ts";

const NOW = "2026-01-01T00:00:00.000Z";
const NS = "00abedb4-aa42-466c-9c01-fed23315a9b7";
const T = "#microsoft.graph.security.";

/** Ids from `opencti.md` §5.3 (Tanium import vectors, platform form), and two of its own. */
const VECTORS = {
  ...PLATFORM_VECTORS,
  domain: "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
  ip1234: "ipv4-addr--0198f97b-e65d-5025-87e5-58bc39d4bdb4",
};

/** The platform algorithm written out (canonical JSON, UUID v5 in the STIX namespace). */
async function platformId(type: string, data: Record<string, unknown>): Promise<string> {
  return `${type}--${await uuidV5(canonicalize(data), NS)}`;
}

function incidentWith(alerts: unknown[], overrides: Record<string, unknown> = {}): MsIncident {
  const read = readIncident({
    ...sampleIncident("42", "2023-10-16T12:00:00Z", "2023-10-16T13:00:00Z", []),
    alerts,
    ...overrides,
  });
  if (!("incident" in read)) throw new Error(read.malformed.problem);
  return read.incident;
}

function alertWith(evidence: unknown[], extra: Record<string, unknown> = {}): unknown {
  return {
    ...sampleAlert(1, "42", "2023-10-16T12:26:51Z", { evidence: evidence as never[] }),
    title: "Testing eicar on ComputerName",
    mitreTechniques: [],
    ...extra,
  };
}

async function convert(
  incident: MsIncident,
  matches?: Map<string, string[]>,
  confidence?: number,
): Promise<{ objects: StixObject[]; sightings: number; skipped: string[] }> {
  const author = await authorIdentity("Microsoft Incidents", NOW);
  return await convertIncident(incident, {
    author,
    tlp: "red",
    now: NOW,
    ...(matches ? { matches } : {}),
    ...(confidence !== undefined ? { confidence } : {}),
  });
}

function byType(objects: StixObject[], type: string): StixObject[] {
  return objects.filter((o) => o.type === type);
}

Deno.test("convertIncident() builds the reference ids of the platform for an alert with device, IP, user, file evidence and a technique", async () => {
  const incident = incidentWith([alertWith([
    { "@odata.type": `${T}deviceEvidence`, deviceDnsName: "ComputerName" },
    { "@odata.type": `${T}ipEvidence`, ipAddress: "1.1.1.1" },
    { "@odata.type": `${T}userEvidence`, userAccount: { accountName: "Bob" } },
    {
      "@odata.type": `${T}fileEvidence`,
      fileDetails: { md5: "2204459dcbf34aed8906daac26db6f56" },
    },
  ], { mitreTechniques: ["T1134.002"] })]);
  const { objects } = await convert(incident);
  const ids = new Set(objects.map((o) => o.id));
  for (const id of Object.values(VECTORS).filter((id) => !/domain|0198f97b/.test(id))) {
    assert.ok(ids.has(id), `missing ${id}`);
  }
  // Every object's id is what the platform computes from its own properties.
  for (const object of objects) {
    assert.equal(await standardIdOf(object), object.id, `${object.type} id`);
  }
  const alertIncident = objects.find((o) => o.id === VECTORS.incident)!;
  assert.equal(alertIncident.created, "2023-10-16T12:26:51.000Z");
  assert.equal(alertIncident.incident_type, "alert");
  assert.deepEqual(alertIncident.object_marking_refs, [TLP_RED_ID]);
});

Deno.test("convertIncident() makes one Case-Incident per Microsoft incident, with a stable name, priority, severity, link and every object", async () => {
  const incident = incidentWith([
    alertWith([{ "@odata.type": `${T}ipEvidence`, ipAddress: "1.2.3.4" }]),
  ], {
    severity: "high",
    status: "active",
    classification: "truePositive",
    displayName: "Multi-stage incident on one endpoint",
  });
  const { objects } = await convert(incident);
  const cases = byType(objects, "case-incident");
  assert.equal(cases.length, 1);
  const item = cases[0]!;
  assert.equal(
    item.id,
    await platformId("case-incident", {
      created: "2023-10-16T12:00:00.000Z",
      name: "microsoft incident 42",
    }),
  );
  assert.equal(item.name, "Microsoft incident 42");
  assert.equal(item.severity, "high");
  assert.equal(item.priority, "P1");
  assert.match(String(item.description), /Multi-stage incident on one endpoint/);
  assert.match(String(item.description), /Classification: truePositive/);
  assert.deepEqual(item.labels, ["status:active", "classification:truePositive"]);
  assert.deepEqual(item.external_references, [{
    source_name: "Microsoft Defender XDR",
    external_id: "42",
    url: "https://security.microsoft.com/incidents/42?tid=b3c1b5fc",
  }]);
  const others = objects.filter((o) => o.type !== "case-incident").map((o) => o.id);
  assert.deepEqual(item.object_refs, others);
  assert.ok(others.includes(VECTORS.ip1234));

  // A new display name (Microsoft renames incidents as alerts join) keeps the same case.
  const renamed = incidentWith([], { displayName: "Another name", severity: "high" });
  const again = byType((await convert(renamed)).objects, "case-incident")[0]!;
  assert.equal(again.id, item.id);
});

Deno.test("convertIncident() turns each evidence kind into its observables", async () => {
  const cases: Array<[unknown, Array<[string, Record<string, unknown>]>]> = [
    [{ "@odata.type": `${T}ipEvidence`, ipAddress: "2001:db8::1" }, [["ipv6-addr", {
      value: "2001:db8::1",
    }]]],
    [{ "@odata.type": `${T}urlEvidence`, url: "http://bad.example.net/x" }, [[
      "url",
      { value: "http://bad.example.net/x" },
    ]]],
    [{ "@odata.type": `${T}dnsEvidence`, domainName: "Example.com", hostIpAddress: "1.2.3.4" }, [
      ["domain-name", { value: "example.com" }],
      ["ipv4-addr", { value: "1.2.3.4" }],
    ]],
    [{
      "@odata.type": `${T}processEvidence`,
      processCommandLine: "x.exe",
      imageFile: { fileName: "x.exe", sha256: "C".repeat(64) },
      userAccount: { accountName: "alice", displayName: "Alice" },
    }, [
      ["file", { hashes: { "SHA-256": "c".repeat(64) } }],
      ["user-account", { account_login: "alice" }],
    ]],
    [{
      "@odata.type": `${T}mailboxEvidence`,
      primaryAddress: "Victim@Contoso.com",
      displayName: "V",
    }, [[
      "email-addr",
      { value: "victim@contoso.com" },
    ]]],
    [{
      "@odata.type": `${T}analyzedMessageEvidence`,
      senderIp: "198.51.100.7",
      p1Sender: { emailAddress: "billing@phish.example.org", domainName: "phish.example.org" },
    }, [
      ["email-addr", { value: "billing@phish.example.org" }],
      ["ipv4-addr", { value: "198.51.100.7" }],
    ]],
    [{ "@odata.type": `${T}userEvidence`, userAccount: { userPrincipalName: "bob@contoso.com" } }, [
      [
        "user-account",
        { account_login: "bob@contoso.com" },
      ],
    ]],
    [{ "@odata.type": `${T}deviceEvidence`, hostName: "ws-01" }, [["hostname", {
      value: "ws-01",
    }]]],
  ];
  for (const [evidence, expected] of cases) {
    const { objects } = await convert(incidentWith([alertWith([evidence])]));
    const observables = objects.filter((o) =>
      !["incident", "relationship", "case-incident"].includes(o.type)
    );
    assert.deepEqual(
      observables.map((o) => o.type),
      expected.map(([type]) => type),
      JSON.stringify(evidence),
    );
    for (const [i, [type, data]] of expected.entries()) {
      assert.equal(observables[i]!.id, await platformId(type, data), `${type} id`);
    }
    // Each observable is related to the alert's incident.
    const relationships = byType(objects, "relationship");
    for (const observable of observables) {
      assert.ok(
        relationships.some((r) =>
          r.source_ref === observable.id && r.relationship_type === "related-to"
        ),
      );
    }
  }
});

Deno.test("convertIncident() skips evidence kinds it does not read and values that are not valid", async () => {
  const { objects, skipped } = await convert(incidentWith([alertWith([
    { "@odata.type": `${T}cloudApplicationEvidence`, appId: 1 },
    { "@odata.type": `${T}ipEvidence`, ipAddress: "not-an-ip" },
    { "@odata.type": `${T}urlEvidence` },
  ])]));
  assert.deepEqual(skipped.sort(), ["invalid_ip", "unsupported_evidence"]);
  assert.deepEqual(objects.map((o) => o.type).sort(), ["case-incident", "incident"]);
});

Deno.test("readAlert() reads every evidence kind of the simulator's sample alert", () => {
  const alert = readAlert(sampleAlert(3, "42", "2024-05-01T10:00:00Z"));
  assert.ok(alert);
  assert.deepEqual(alert.evidence.map((e) => e.kind), [
    "ip",
    "url",
    "device",
    "user",
    "file",
    "process",
    "mailbox",
    "message",
    "dns",
  ]);
  assert.equal(sampleEvidence(3, "2024-05-01T10:00:00Z").length, 9);
});

Deno.test("convertIncident() sights every matched indicator with the confidence, times from the alert and an indicates relationship", async () => {
  const indicator = "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861";
  const raw = alertWith([{ "@odata.type": `${T}ipEvidence`, ipAddress: "1.2.3.4" }], {
    firstActivityDateTime: "2023-10-16T12:20:00Z",
    lastActivityDateTime: "2023-10-16T12:40:00Z",
  });
  const alert = readAlert(raw)!;
  const { objects, sightings } = await convert(
    incidentWith([raw]),
    new Map([[alert.id, [indicator]]]),
    75,
  );
  assert.equal(sightings, 1);
  const sighting = byType(objects, "sighting")[0]!;
  const author = await authorIdentity("Microsoft Incidents", NOW);
  assert.equal(
    sighting.id,
    await platformId("sighting", {
      first_seen: "2023-10-16T12:20:00.000Z",
      last_seen: "2023-10-16T12:26:51.000Z",
      sighting_of_ref: indicator,
      type: "sighting",
      where_sighted_refs: [author.id],
    }),
  );
  assert.equal(sighting.sighting_of_ref, indicator);
  assert.deepEqual(sighting.where_sighted_refs, [author.id]);
  assert.equal(sighting.confidence, 75);
  assert.equal(sighting.count, 1);
  assert.match(String(sighting.description), /last activity 2023-10-16T12:40:00.000Z/);
  const indicates = byType(objects, "relationship").find((r) =>
    r.relationship_type === "indicates"
  );
  assert.equal(indicates?.source_ref, indicator);
  assert.equal(indicates?.target_ref, VECTORS.incident);
});

Deno.test("matchCandidates() finds indicator STIX ids in custom details and evidence values as patterns", () => {
  const id = "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861";
  const alert = readAlert(sampleAlert(5, "1", "2024-05-01T10:00:00Z", {
    additionalData: {
      IndicatorId: id.toUpperCase().replace("INDICATOR", "indicator"),
      nested: [{ x: id }],
    },
    evidence: [
      { "@odata.type": `${T}ipEvidence`, ipAddress: "1.2.3.4" },
      {
        "@odata.type": `${T}fileEvidence`,
        fileDetails: { sha256: "AB".repeat(32), md5: "cd".repeat(16) },
      },
      { "@odata.type": `${T}dnsEvidence`, domainName: "Evil.example" },
      { "@odata.type": `${T}urlEvidence`, url: "http://x.example/it's" },
    ],
  }))!;
  const candidates = matchCandidates(alert);
  assert.deepEqual(candidates.stixIds, [id]);
  assert.deepEqual(candidates.values.map((v) => v.pattern), [
    "[ipv4-addr:value = '1.2.3.4']",
    `[file:hashes.'SHA-256' = '${"ab".repeat(32)}']`,
    `[file:hashes.'MD5' = '${"cd".repeat(16)}']`,
    "[domain-name:value = 'evil.example']",
    "[url:value = 'http://x.example/it\\'s']",
  ]);
});

Deno.test("buildBundle() puts the marking and author first, keeps one copy per id, and sends nothing when empty", async () => {
  const author = await authorIdentity("Microsoft Incidents", NOW);
  assert.equal(buildBundle(author, "amber", []), undefined);
  const a = { id: "ipv4-addr--1", type: "ipv4-addr", value: "1" };
  const bundle = buildBundle(author, "amber", [a, { ...a, value: "2" }, author], {
    uuid: () => "00000000-0000-4000-8000-000000000001",
  });
  assert.equal(bundle?.id, "bundle--00000000-0000-4000-8000-000000000001");
  assert.deepEqual(bundle?.objects.map((o) => o.id), [TLP_AMBER_ID, author.id, a.id]);
  assert.equal(bundle?.objects[2]?.value, "2");
});
