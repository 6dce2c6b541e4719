import assert from "node:assert/strict";
import { intelIdOf, planIntel } from "../../src/tanium_intel/mapper.ts";
import { indicator, YARA } from "./helpers.ts";

const NOW = Date.parse("2024-06-10T06:00:00.000Z");
const SOURCE = "Tanium Threat Response Intel";

function upsert(plan: ReturnType<typeof planIntel>) {
  if (plan.kind !== "upsert") throw new Error(`expected an upsert, got ${JSON.stringify(plan)}`);
  return plan.document;
}

Deno.test("planIntel maps every pattern type upstream maps: stix (network values, file hashes), yara, tanium-signal", () => {
  const net = upsert(planIntel(
    "create",
    indicator(
      1,
      "stix",
      "[ipv4-addr:value = '1.2.3.4'] OR [ipv6-addr:value = '2001:db8::1'] OR [domain-name:value = 'a.example'] OR [hostname:value = 'h.example']",
    ),
    { now: NOW },
  ));
  assert.deepEqual(net.content, {
    type: "openioc",
    quickAddType: "Network Indicators",
    text: "1.2.3.4\n2001:db8::1\na.example\nh.example",
  });
  const md5 = "2204459dcbf34aed8906daac26db6f56";
  const sha1 = "f2b0d5f1c8f4c3b2a1e0d9c8b7a6f5e4d3c2b1a0";
  const files = upsert(planIntel(
    "create",
    indicator(2, "stix", `[file:hashes.MD5 = '${md5}' OR file:hashes.'SHA-1' = '${sha1}']`),
    { now: NOW },
  ));
  assert.deepEqual(files.content, {
    type: "openioc",
    quickAddType: "File Hashes",
    text: `${md5}\n${sha1}`,
  });
  const yara = upsert(planIntel("update", indicator(3, "YARA", YARA), { now: NOW }));
  assert.deepEqual(yara.content, { type: "yara", filename: "Indicator 3.yara", contents: YARA });
  assert.equal(yara.description, "Test indicator 3 second line");
  const signal = upsert(planIntel(
    "create",
    indicator(4, "tanium-signal", "x", {
      x_mitre_platforms: ["Linux", "Windows", "macOS", "Linux", "iOS"],
    }),
    { now: NOW },
  ));
  assert.deepEqual(signal.content, {
    type: "tanium-signal",
    platforms: ["linux", "windows", "mac"],
    contents: "x",
  });
  assert.deepEqual(signal.labels, ["malware"]);
});

Deno.test("planIntel: revoked, expired and deleted indicators remove the document; the written-back id is carried", () => {
  const ref = { source_name: SOURCE, external_id: "812", url: "u" };
  const old = { source_name: SOURCE, external_id: "805", url: "u" };
  const other = { source_name: "Tanium Threat Response", external_id: "999" };
  const stix = indicator(5, "yara", YARA, { external_references: [old, ref, other] });
  assert.equal(intelIdOf(stix), 812, "the newest of our documents");
  assert.equal(intelIdOf(stix, ["Tanium Threat Response"]), 999);
  assert.deepEqual(planIntel("create", { ...stix, revoked: true }, { now: NOW }), {
    kind: "remove",
    removal: { id: stix.id, intelId: 812 },
  });
  assert.equal(
    planIntel("update", { ...stix, valid_until: "2024-06-10T05:59:59.000Z" }, { now: NOW }).kind,
    "remove",
  );
  assert.equal(planIntel("delete", stix, { now: NOW }).kind, "remove");
  assert.equal(upsert(planIntel("update", stix, { now: NOW })).intelId, 812);
});

Deno.test("planIntel skips what Tanium cannot take, with a reason", () => {
  const reasons = [
    indicator(6, "sigma", "title: x"),
    indicator(7, "stix", "[url:value = 'http://a.example/']"),
    indicator(
      8,
      "stix",
      "[ipv4-addr:value = '1.2.3.4'] OR [file:hashes.MD5 = '2204459dcbf34aed8906daac26db6f56']",
    ),
    indicator(9, "stix", "[ipv4-addr:value = "),
    indicator(10, "yara", "  "),
    { id: "malware--1", type: "malware" },
    { id: "file--1", type: "file" },
  ].map((o) => {
    const plan = planIntel("create", o, { now: NOW });
    return plan.kind === "skip" ? plan.reason : plan.kind;
  });
  assert.deepEqual(reasons, [
    "unsupported_pattern_type",
    "unsupported_by_target",
    "unsupported_by_target",
    "unreadable_pattern",
    "invalid_value",
    "unsupported_entity_type",
    // A file goes to the reputation service by its hashes: none here.
    "unsupported_by_target",
  ]);
});
