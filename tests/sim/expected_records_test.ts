/**
 * The simulator's own reading of what a target should hold (src/sim/expected_records.ts): its
 * minimal STIX pattern reader, its use of `observable_values`, its value checks and the record
 * values of each target, checked against values written by hand from the reference.
 */
import assert from "node:assert/strict";
import {
  canonicalDefenderValue,
  expectedRecords,
  isWellFormed,
  observablesOfObject,
  readPatternValues,
} from "../../src/sim/expected_records.ts";
import { OpenCtiStore } from "../../src/sim/opencti_store.ts";
import { SEED_TIME, seedObjects } from "../../src/sim/opencti_seed.ts";
import type { StixObject } from "../../src/stix/types.ts";

const SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
const NOW = Date.parse(SEED_TIME);

function indicator(pattern: string, extra: Partial<StixObject> = {}): StixObject {
  return {
    id: "indicator--0b1c2d3e-0000-4000-8000-000000000001",
    type: "indicator",
    spec_version: "2.1",
    pattern,
    pattern_type: "stix",
    valid_from: "2024-01-01T00:00:00.000Z",
    ...extra,
  };
}

const values = (keys: string[]) => keys.map((k) => k.slice(k.indexOf(" ") + 1)).sort();

Deno.test("readPatternValues() reads = comparisons joined by AND/OR, with parentheses and escapes", () => {
  assert.deepEqual(readPatternValues("[ipv4-addr:value = '1.2.3.4']"), [
    { type: "ipv4-addr", value: "1.2.3.4" },
  ]);
  assert.deepEqual(
    readPatternValues(
      "([domain-name:value = 'a.example'] OR [url:value = 'http://x.example/?q=o\\'b\\\\r'])",
    ),
    [{ type: "domain-name", value: "a.example" }, {
      type: "url",
      value: "http://x.example/?q=o'b\\r",
    }],
  );
  assert.deepEqual(
    readPatternValues(
      `[(file:hashes.MD5 = 'aa' or file:hashes.'SHA-256' = 'bb') AND file:hashes.sha1 = 'cc']`,
    ),
    [
      { type: "file", value: "aa", hash: "MD5" },
      { type: "file", value: "bb", hash: "SHA-256" },
      { type: "file", value: "cc", hash: "SHA-1" },
    ],
  );
  assert.deepEqual(readPatternValues("[ email-addr : value = 'x@y.example' ]"), [
    { type: "email-addr", value: "x@y.example" },
  ]);
});

Deno.test("readPatternValues() refuses everything outside its small grammar", () => {
  for (
    const pattern of [
      "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '5.6.7.8']",
      "[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS",
      "[ipv4-addr:value != '1.2.3.4']",
      "[domain-name:value LIKE '%.example']",
      '[ipv4-addr:value = "1.2.3.4"]',
      "[mac-addr:value = '00:11:22:33:44:55']",
      "[file:name = 'evil.exe']",
      "[file:hashes.TLSH = 'abc']",
      "[ipv4-addr:value = '1.2.3.",
      "[url:value = 'a\\nb']",
      "[ipv4-addr:value = '']",
      "[ipv4-addr:value = '1.2.3.4'] garbage",
      "ipv4-addr:value = '1.2.3.4'",
      "",
    ]
  ) {
    assert.equal(readPatternValues(pattern), undefined, pattern);
  }
});

Deno.test("observablesOfObject() prefers observable_values, reads raw observables and skips other pattern types", () => {
  const withValues = indicator("[ipv4-addr:value = '9.9.9.9']", {
    extensions: {
      "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba": {
        observable_values: [
          { type: "IPv4-Addr", value: "1.2.3.4" },
          { type: "StixFile", hashes: { sha256: SHA256, "SHA-512": "" } },
          { type: "X509-Certificate", hashes: { "SHA-1": "a".repeat(40) } },
        ],
      },
    },
  });
  assert.deepEqual(observablesOfObject(withValues), [
    { type: "ipv4-addr", value: "1.2.3.4" },
    { type: "file", value: SHA256, hash: "SHA-256" },
  ]);
  assert.equal(
    observablesOfObject(indicator("rule x { condition: true }", { pattern_type: "yara" })),
    undefined,
  );
  assert.deepEqual(
    observablesOfObject({ id: "file--1", type: "file", hashes: { MD5: "b".repeat(32) } }),
    [{ type: "file", value: "b".repeat(32), hash: "MD5" }],
  );
  assert.deepEqual(observablesOfObject({ id: "hostname--1", type: "hostname", value: "h1" }), [
    { type: "hostname", value: "h1" },
  ]);
  assert.equal(observablesOfObject({ id: "malware--1", type: "malware", name: "x" }), undefined);
});

Deno.test("isWellFormed() applies the address, name, URL, e-mail and hash rules", () => {
  const ok = (type: string, value: string, hash?: string) =>
    isWellFormed(hash ? { type, value, hash } : { type, value });
  assert.ok(ok("ipv4-addr", "10.0.0.0/8") && ok("ipv4-addr", "1.2.3.4/32"));
  assert.ok(!ok("ipv4-addr", "01.2.3.4") && !ok("ipv4-addr", "256.1.1.1"));
  assert.ok(ok("ipv6-addr", "::ffff:1.2.3.4") && ok("ipv6-addr", "2001:db8::1/64"));
  assert.ok(!ok("ipv6-addr", "1.2.3.4::") && !ok("ipv6-addr", "fe80::1%eth0"));
  assert.ok(!ok("ipv6-addr", "1:2:3:4:5:6:7:8::") && !ok("ipv6-addr", "1::2::3"));
  assert.ok(ok("domain-name", "Example.COM.") && ok("domain-name", "bücher.example"));
  assert.ok(!ok("domain-name", "localhost") && ok("hostname", "localhost"));
  assert.ok(!ok("domain-name", "http://x.example/") && !ok("domain-name", "1.2.3.4"));
  assert.ok(ok("url", "http://x.example/a?b=c") && !ok("url", "x.example/a"));
  assert.ok(ok("email-addr", "a@b.example") && !ok("email-addr", "a@b"));
  assert.ok(ok("file", "A".repeat(40), "SHA-1") && !ok("file", "zz", "SHA-1"));
});

Deno.test("expectedRecords() gives each target the values it stores, and nothing when revoked or expired", () => {
  const object = indicator(
    [
      "[ipv4-addr:value = '1.2.3.4/32']",
      "[ipv4-addr:value = '10.0.0.0/8']",
      "[ipv6-addr:value = '2001:DB8:85a3::8a2e:370:7334']",
      "[domain-name:value = 'Mixed.Example.']",
      "[hostname:value = 'intranet']",
      "[email-addr:value = 'x@y.example']",
      `[file:hashes.MD5 = '${"C".repeat(32)}']`,
      `[file:hashes.'SHA-256' = '${SHA256.toUpperCase()}']`,
      `[file:hashes.'SHA-512' = '${"d".repeat(128)}']`,
      "[ipv4-addr:value = '300.1.1.1']",
    ].join(" OR "),
  );
  assert.deepEqual(
    values(expectedRecords(object, "graph", NOW)),
    [
      "1.2.3.4",
      "10.0.0.0/8",
      "2001:DB8:85a3::8a2e:370:7334",
      SHA256,
      "Mixed.Example.",
      "c".repeat(32),
      "intranet",
      "x@y.example",
    ].sort(),
  );
  assert.deepEqual(
    values(expectedRecords(object, "defender", NOW)),
    [
      "1.2.3.4",
      "2001:db8:85a3:0:0:8a2e:370:7334",
      SHA256,
      "mixed.example",
    ].sort(),
  );
  assert.deepEqual(
    values(expectedRecords(object, "sentinel", NOW)),
    [
      "1.2.3.4/32",
      "10.0.0.0/8",
      "2001:DB8:85a3::8a2e:370:7334",
      SHA256,
      "Mixed.Example.",
      "c".repeat(32),
      "d".repeat(128),
      "intranet",
      "x@y.example",
    ].sort(),
  );
  assert.deepEqual(expectedRecords({ ...object, revoked: true }, "graph", NOW), []);
  assert.deepEqual(
    expectedRecords({ ...object, valid_until: new Date(NOW).toISOString() }, "graph", NOW),
    [],
  );
  assert.equal(expectedRecords(object, "graph", NOW)[0]?.startsWith(`${object.id} `), true);
});

Deno.test("canonicalDefenderValue() compares IPv6 by its eight groups and names and hashes by case", () => {
  assert.equal(
    canonicalDefenderValue("IpAddress", "2001:0DB8:0:0:0:0:0:0001"),
    "2001:db8:0:0:0:0:0:1",
  );
  assert.equal(canonicalDefenderValue("IpAddress", "2001:db8::1"), "2001:db8:0:0:0:0:0:1");
  assert.equal(canonicalDefenderValue("IpAddress", "1.2.3.4"), "1.2.3.4");
  assert.equal(canonicalDefenderValue("DomainName", "A.Example"), "a.example");
  assert.equal(canonicalDefenderValue("Url", "http://A.example/X"), "http://A.example/X");
});

Deno.test("the seed yields the records written by hand for its OR, two-hash, e-mail and non-STIX indicators", async () => {
  const store = new OpenCtiStore();
  for (const object of await seedObjects()) store.upsert(object);
  const byName = (name: string) => {
    const found = store.list("indicator").find((o) => o.name === name);
    assert.ok(found, name);
    return found;
  };
  const orPattern = byName("Loader infrastructure (IP or domain)");
  const twoHashes = byName("Ransomware sample (MD5 or SHA-256)");
  const email = byName("invoice@paypa1-billing.com");
  for (const target of ["graph", "sentinel"] as const) {
    assert.deepEqual(values(expectedRecords(orPattern, target, NOW)), [
      "203.0.113.7",
      "update-check.example",
    ]);
    assert.deepEqual(values(expectedRecords(twoHashes, target, NOW)), [
      "84c82835a5d21bbcf75a61706d8ab549",
      "ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41a0",
    ]);
    assert.deepEqual(values(expectedRecords(email, target, NOW)), ["invoice@paypa1-billing.com"]);
  }
  assert.deepEqual(values(expectedRecords(twoHashes, "defender", NOW)), [
    "ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41a0",
  ]);
  assert.deepEqual(expectedRecords(email, "defender", NOW), []);
  for (const name of ["Suspicious encoded PowerShell", "CobaltStrike beacon strings"]) {
    assert.deepEqual(expectedRecords(byName(name), "graph", NOW), [], name);
  }
  assert.deepEqual(expectedRecords(byName("192.0.2.66 (revoked)"), "graph", NOW), []);
  assert.deepEqual(expectedRecords(byName("old-campaign.example (expired)"), "graph", NOW), []);
});
