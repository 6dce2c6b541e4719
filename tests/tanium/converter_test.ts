import assert from "node:assert/strict";
import {
  type AlertContext,
  alertUrl,
  authorIdentity,
  buildBundle,
  convertAlert,
  loginOf,
  severityOf,
} from "../../src/tanium/converter.ts";
import { readAlert, type TaniumAlert } from "../../src/tanium/schemas.ts";
import { REFERENCE_ALERT } from "../../src/sim/tanium_seed.ts";
import { userAccountId } from "../../src/stix/ids.ts";
import type { StixObject } from "../../src/stix/types.ts";
import { CONSOLE, fixture, referenceAlert, referenceIntel, VECTORS } from "./helpers.ts";

const NOW = "2024-06-10T06:00:00.000Z";
const INDICATOR = "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861";

async function context(overrides: Partial<AlertContext> = {}): Promise<AlertContext> {
  return {
    author: await authorIdentity("Tanium Threat Response Incidents", NOW),
    consoleUrl: CONSOLE,
    importAlerts: true,
    now: NOW,
    intel: await referenceIntel(),
    entity: { standard_id: INDICATOR, entity_type: "Indicator" },
    ...overrides,
  };
}

function alertWith(patch: Record<string, unknown>): TaniumAlert {
  const read = readAlert({ ...REFERENCE_ALERT, ...patch });
  if (!("alert" in read)) throw new Error(read.malformed.problem);
  return read.alert;
}

function byType(objects: StixObject[], type: string): StixObject[] {
  return objects.filter((object) => object.type === type);
}

Deno.test("the seed's reference alert and intel equal the fixtures", async () => {
  assert.deepEqual(await fixture("reference_alert.json"), REFERENCE_ALERT);
  const intel = await fixture("intel_700.json") as { data: { id: number } };
  assert.equal(intel.data.id, 700);
});

Deno.test("authorIdentity() gives the reference author id for the default connector name", async () => {
  const author = await authorIdentity("Tanium Threat Response Incidents", NOW);
  assert.equal(author.id, VECTORS.author);
  assert.equal(author.identity_class, "organization");
  assert.equal(author.name, "Tanium Threat Response Incidents");
});

Deno.test("convertAlert() gives the reference alert's objects the platform-form vector ids", async () => {
  const { objects, skipped } = await convertAlert(await referenceAlert(), await context());
  const ids = new Set(objects.map((object) => object.id));
  for (
    const id of [
      VECTORS.incident,
      VECTORS.hostname,
      VECTORS.ipv4,
      VECTORS.fileMd5,
      VECTORS.attackPattern,
      VECTORS.hostnameRelated,
      VECTORS.uses,
    ]
  ) {
    assert.ok(ids.has(id), `missing ${id}`);
  }
  assert.ok(ids.has(await userAccountId({ account_login: "bob" })));
  assert.deepEqual(skipped, []);
});

Deno.test("convertAlert() builds the incident exactly as the reference describes", async () => {
  const { objects } = await convertAlert(await referenceAlert(), await context());
  const [incident] = byType(objects, "incident");
  assert.deepEqual(incident, {
    type: "incident",
    spec_version: "2.1",
    id: VECTORS.incident,
    created: "2023-10-16T12:26:51.000Z",
    modified: NOW,
    name: "Testing eicar on ComputerName",
    description: "Type: detect.match | MatchType:process",
    created_by_ref: VECTORS.author,
    object_marking_refs: [VECTORS.tlpRed],
    incident_type: "alert",
    source: "Tanium Threat Response",
    external_references: [{
      source_name: "Tanium Threat Response",
      url:
        "https://console.example.com/ui/threatresponse/alerts?guid=00000000-0000-0000-114a-7429237cffc5",
      external_id: "00000000-0000-0000-114a-7429237cffc5",
    }],
    severity: "high",
  });
});

Deno.test("convertAlert() sights the matched indicator with first_seen, last_seen and count", async () => {
  const { objects, sighting } = await convertAlert(await referenceAlert(), await context());
  assert.equal(sighting, true);
  const sightings = byType(objects, "sighting");
  assert.equal(sightings.length, 1);
  const s = sightings[0]!;
  assert.equal(s.sighting_of_ref, INDICATOR);
  assert.deepEqual(s.where_sighted_refs, [VECTORS.author]);
  assert.equal(s.first_seen, "2023-10-16T12:26:51.000Z");
  assert.equal(s.last_seen, "2023-10-16T12:26:51.000Z");
  assert.equal(s.count, 1);
  assert.deepEqual(s.object_marking_refs, [VECTORS.tlpRed]);
  assert.equal(s.created_by_ref, VECTORS.author);
  assert.match(s.id, /^sighting--[0-9a-f-]{36}$/);
});

Deno.test("convertAlert() marks everything but attack patterns TLP:RED and links it to the incident", async () => {
  const { objects } = await convertAlert(await referenceAlert(), await context());
  for (const object of objects) {
    if (object.type === "attack-pattern") {
      assert.equal(object.object_marking_refs, undefined);
      assert.equal(object.x_mitre_id, "T1134.002");
      continue;
    }
    assert.deepEqual(object.object_marking_refs, [VECTORS.tlpRed], object.id);
    assert.equal(object.created_by_ref, VECTORS.author, object.id);
  }
  const relationships = byType(objects, "relationship");
  const pairs = relationships.map((r) => `${r.relationship_type}:${r.source_ref}>${r.target_ref}`);
  assert.ok(pairs.includes(`indicates:${INDICATOR}>${VECTORS.incident}`));
  assert.ok(pairs.includes(`related-to:${VECTORS.hostname}>${VECTORS.incident}`));
  assert.ok(pairs.includes(`related-to:${VECTORS.ipv4}>${VECTORS.incident}`));
  assert.ok(pairs.includes(`related-to:${VECTORS.fileMd5}>${VECTORS.incident}`));
  assert.ok(pairs.includes(`uses:${VECTORS.incident}>${VECTORS.attackPattern}`));
  assert.equal(relationships.length, 6);
});

Deno.test("convertAlert() reads the file with all present hashes, hashed on MD5", async () => {
  const { objects } = await convertAlert(await referenceAlert(), await context());
  const [file] = byType(objects, "file");
  assert.equal(file?.id, VECTORS.fileMd5);
  assert.deepEqual(file?.hashes, {
    "MD5": "2204459dcbf34aed8906daac26db6f56",
    "SHA-1": "f2b0d5f1c8f4c3b2a1e0d9c8b7a6f5e4d3c2b1a0",
    "SHA-256": "aa64428647b57bf51524d1756b2ed746e5a3f31b67cf7fe5b5d8a9daf07ca313",
  });
  assert.equal(file?.name, undefined);
});

Deno.test("convertAlert() reads user and file from properties.process first (B7)", async () => {
  const details = JSON.stringify({
    match: {
      properties: {
        user: "DEVICENAME\\ignored",
        file: { md5: "00000000000000000000000000000000" },
        process: { user: "DEVICENAME\\Bob", file: { md5: "2204459dcbf34aed8906daac26db6f56" } },
      },
    },
  });
  const { objects } = await convertAlert(alertWith({ details }), await context());
  assert.equal(byType(objects, "user-account")[0]?.id, VECTORS.userBob);
  assert.equal(byType(objects, "user-account")[0]?.account_login, "Bob");
  assert.equal(byType(objects, "file")[0]?.id, VECTORS.fileMd5);
});

Deno.test("convertAlert() tolerates details null, match null and unreadable details", async () => {
  for (
    const details of [null, JSON.stringify({ match: null }), "{not json", JSON.stringify([1, 2])]
  ) {
    const { objects, incident } = await convertAlert(alertWith({ details }), await context());
    assert.equal(incident, true);
    assert.equal(byType(objects, "user-account").length, 0);
    assert.equal(byType(objects, "file").length, 0);
    assert.equal(byType(objects, "hostname").length, 1);
  }
  const { skipped } = await convertAlert(alertWith({ details: "{not json" }), await context());
  assert.ok(skipped.includes("unreadable_details"));
});

Deno.test("convertAlert() adds T1055 Process Injection for processInjection intel (B3)", async () => {
  const intel = { id: 701, name: "Remote thread", type: "processInjection", techniques: [] };
  const { objects } = await convertAlert(await referenceAlert(), await context({ intel }));
  const [pattern] = byType(objects, "attack-pattern");
  assert.equal(pattern?.x_mitre_id, "T1055");
  assert.equal(typeof pattern?.x_mitre_id, "string");
  assert.equal(pattern?.name, "Process Injection");
  assert.equal(objects.filter((o) => o.relationship_type === "uses").length, 1);
});

Deno.test("convertAlert() makes an IPv6 observable for an IPv6 address and none for empty or bad", async () => {
  const v6 = await convertAlert(alertWith({ computerIpAddress: "2001:db8::25" }), await context());
  assert.equal(byType(v6.objects, "ipv6-addr")[0]?.value, "2001:db8::25");
  assert.equal(byType(v6.objects, "ipv4-addr").length, 0);
  const empty = await convertAlert(alertWith({ computerIpAddress: "" }), await context());
  assert.equal(
    byType(empty.objects, "ipv4-addr").length + byType(empty.objects, "ipv6-addr").length,
    0,
  );
  const bad = await convertAlert(alertWith({ computerIpAddress: "999.1.1.1" }), await context());
  assert.ok(bad.skipped.includes("invalid_ip"));
});

Deno.test("convertAlert() skips suppressed alerts entirely", async () => {
  const result = await convertAlert(alertWith({ state: "suppressed" }), await context());
  assert.deepEqual(result.objects, []);
  assert.deepEqual(result.skipped, ["suppressed"]);
});

Deno.test("convertAlert() gives only the sighting when alerts are not imported", async () => {
  const { objects } = await convertAlert(
    await referenceAlert(),
    await context({ importAlerts: false, intel: undefined }),
  );
  assert.deepEqual(objects.map((o) => o.type), ["sighting"]);
});

Deno.test("convertAlert() relates a non-indicator entity to the incident without a sighting", async () => {
  const entity = {
    standard_id: "file--4ff9b0c7-7989-540b-9abf-d59018de89b5",
    entity_type: "StixFile",
  };
  const { objects, sighting } = await convertAlert(
    await referenceAlert(),
    await context({ entity }),
  );
  assert.equal(sighting, false);
  assert.equal(byType(objects, "sighting").length, 0);
  assert.ok(
    objects.some((o) =>
      o.relationship_type === "related-to" && o.source_ref === entity.standard_id &&
      o.target_ref === VECTORS.incident
    ),
  );
});

Deno.test("convertAlert() builds no incident without the intel document", async () => {
  const { objects, skipped } = await convertAlert(
    await referenceAlert(),
    await context({ intel: undefined }),
  );
  assert.deepEqual(objects.map((o) => o.type), ["sighting"]);
  assert.ok(skipped.includes("no_intel"));
});

Deno.test("convertAlert() names the incident after the intel alone when the host is null", async () => {
  const { objects, skipped } = await convertAlert(
    alertWith({ computerName: null, guid: null }),
    await context(),
  );
  const [incident] = byType(objects, "incident");
  assert.equal(incident?.name, "Testing eicar");
  assert.equal(incident?.external_references, undefined);
  assert.ok(skipped.includes("no_hostname") && skipped.includes("no_guid"));
});

Deno.test("severityOf() maps priorities to OpenCTI's vocabulary and omits unknown ones (B14)", () => {
  assert.equal(severityOf("high"), "high");
  assert.equal(severityOf("Critical"), "critical");
  assert.equal(severityOf("medium"), "medium");
  assert.equal(severityOf("low"), "low");
  assert.equal(severityOf("info"), "low");
  assert.equal(severityOf("urgent-ish"), undefined);
  assert.equal(severityOf(undefined), undefined);
});

Deno.test("loginOf() keeps the part after the last backslash", () => {
  assert.equal(loginOf("DEVICENAME\\bob"), "bob");
  assert.equal(loginOf("A\\B\\carol"), "carol");
  assert.equal(loginOf("dave"), "dave");
});

Deno.test("alertUrl() links the console's alert page by guid", () => {
  assert.equal(
    alertUrl("https://console.example.com/", "abc"),
    "https://console.example.com/ui/threatresponse/alerts?guid=abc",
  );
});

Deno.test("buildBundle() puts the TLP:RED marking and the author first and removes duplicates", async () => {
  const author = await authorIdentity("Tanium Threat Response Incidents", NOW);
  const a = await convertAlert(await referenceAlert(), await context({ author }));
  const bundle = buildBundle(author, [...a.objects, ...a.objects], { uuid: () => "u-1" });
  assert.ok(bundle);
  assert.equal(bundle.id, "bundle--u-1");
  assert.equal(bundle.objects[0]?.id, VECTORS.tlpRed);
  assert.equal(bundle.objects[0]?.type, "marking-definition");
  assert.equal(bundle.objects[1]?.id, VECTORS.author);
  assert.equal(bundle.objects.length, a.objects.length + 2);
  assert.equal(new Set(bundle.objects.map((o) => o.id)).size, bundle.objects.length);
  assert.equal(buildBundle(author, []), undefined);
});
