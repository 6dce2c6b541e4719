import assert from "node:assert/strict";
import { observablesOf, readPattern } from "../../src/stix/pattern.ts";
import type { Observable, StixObject } from "../../src/stix/types.ts";

const MD5 = "44d88612fea8a8f36de82e1278abb02f";
const SHA1 = "3395856ce81f2b7382dee72602f798b642f14140";
const SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

const READS: ReadonlyArray<readonly [string, string, Observable[]]> = [
  ["one IPv4", "[ipv4-addr:value = '1.2.3.4']", [{ type: "ipv4-addr", value: "1.2.3.4" }]],
  ["an IPv4 CIDR", "[ipv4-addr:value = '10.0.0.0/8']", [{
    type: "ipv4-addr",
    value: "10.0.0.0/8",
  }]],
  ["an IPv6", "[ipv6-addr:value = '2001:db8::1']", [{ type: "ipv6-addr", value: "2001:db8::1" }]],
  ["a domain", "[domain-name:value = 'evil.example']", [{
    type: "domain-name",
    value: "evil.example",
  }]],
  ["an OpenCTI hostname", "[hostname:value = 'ComputerName']", [{
    type: "hostname",
    value: "ComputerName",
  }]],
  [
    "a URL with ? and &",
    "[url:value = 'https://e.example/a?b=1&c=2']",
    [{ type: "url", value: "https://e.example/a?b=1&c=2" }],
  ],
  ["an email", "[email-addr:value = 'bob@evil.example']", [{
    type: "email-addr",
    value: "bob@evil.example",
  }]],
  ["file MD5 bare key", `[file:hashes.MD5 = '${MD5}']`, [{
    type: "file",
    value: MD5,
    hash: "MD5",
  }]],
  ["file 'SHA-256' quoted key", `[file:hashes.'SHA-256' = '${SHA256}']`, [{
    type: "file",
    value: SHA256,
    hash: "SHA-256",
  }]],
  ["file sha256 lower-case key", `[file:hashes.sha256 = '${SHA256}']`, [{
    type: "file",
    value: SHA256,
    hash: "SHA-256",
  }]],
  ["file SHA256 key", `[file:hashes.SHA256 = '${SHA256}']`, [{
    type: "file",
    value: SHA256,
    hash: "SHA-256",
  }]],
  ["file 'SHA-1' key", `[file:hashes.'SHA-1' = '${SHA1}']`, [{
    type: "file",
    value: SHA1,
    hash: "SHA-1",
  }]],
  ['file "SHA-1" double-quoted key', `[file:hashes."SHA-1" = '${SHA1}']`, [{
    type: "file",
    value: SHA1,
    hash: "SHA-1",
  }]],
  ["file sha-512 key", `[file:hashes.'sha-512' = '${"a".repeat(128)}']`, [{
    type: "file",
    value: "a".repeat(128),
    hash: "SHA-512",
  }]],
  [
    "OR across brackets",
    "[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'a.example']",
    [{ type: "ipv4-addr", value: "1.2.3.4" }, { type: "domain-name", value: "a.example" }],
  ],
  [
    "OR and AND inside a bracket",
    `[file:hashes.MD5 = '${MD5}' OR file:hashes.'SHA-1' = '${SHA1}' AND file:hashes.'SHA-256' = '${SHA256}']`,
    [
      { type: "file", value: MD5, hash: "MD5" },
      { type: "file", value: SHA1, hash: "SHA-1" },
      { type: "file", value: SHA256, hash: "SHA-256" },
    ],
  ],
  [
    "AND across brackets with parentheses",
    "([url:value = 'http://a.example/'] AND ([ipv4-addr:value = '1.1.1.1'] OR [ipv4-addr:value = '2.2.2.2']))",
    [
      { type: "url", value: "http://a.example/" },
      { type: "ipv4-addr", value: "1.1.1.1" },
      { type: "ipv4-addr", value: "2.2.2.2" },
    ],
  ],
  [
    "parentheses inside a bracket, lower-case keywords, no spaces",
    "[(ipv4-addr:value='1.1.1.1'or ipv4-addr:value='2.2.2.2')]",
    [{ type: "ipv4-addr", value: "1.1.1.1" }, { type: "ipv4-addr", value: "2.2.2.2" }],
  ],
  ["escaped quote", String.raw`[url:value = 'http://a.example/it\'s']`, [{
    type: "url",
    value: "http://a.example/it's",
  }]],
  ["escaped backslash", String.raw`[url:value = 'http://a.example/a\\b']`, [{
    type: "url",
    value: String.raw`http://a.example/a\b`,
  }]],
  ["] and OR inside a value", "[url:value = 'http://a.example/] OR [x']", [{
    type: "url",
    value: "http://a.example/] OR [x",
  }]],
  [
    "duplicates removed (hash case-insensitive)",
    `[file:hashes.MD5 = '${MD5}'] OR [file:hashes.md5 = '${MD5.toUpperCase()}'] OR [ipv4-addr:value = '1.2.3.4'] OR [ipv4-addr:value = '1.2.3.4']`,
    [{ type: "file", value: MD5, hash: "MD5" }, { type: "ipv4-addr", value: "1.2.3.4" }],
  ],
  ["whitespace and newlines", "\n [ ipv4-addr : value\t=\t'1.2.3.4' ]\r\n", [{
    type: "ipv4-addr",
    value: "1.2.3.4",
  }]],
];

for (const [label, pattern, expected] of READS) {
  Deno.test(`readPattern() reads ${label}`, () => {
    assert.deepEqual(readPattern(pattern), { observables: expected });
  });
}

const REFUSALS: ReadonlyArray<readonly [string, string, RegExp]> = [
  ["MATCHES", "[url:value MATCHES '^http']", /operator MATCHES .* not supported/],
  ["LIKE", "[domain-name:value LIKE '%.example']", /operator LIKE .* not supported/],
  ["IN", "[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2')]", /operator IN .* not supported/],
  ["!=", "[ipv4-addr:value != '1.1.1.1']", /operator != .* not supported/],
  [">", "[file:size > '10']", /operator > .* not supported/],
  ["NOT", "[ipv4-addr:value NOT = '1.1.1.1']", /operator NOT .* not supported/],
  ["ISSUBSET", "[ipv4-addr:value ISSUBSET '10.0.0.0/8']", /operator ISSUBSET .* not supported/],
  [
    "WITHIN qualifier",
    "[ipv4-addr:value = '1.1.1.1'] WITHIN 300 SECONDS",
    /qualifier WITHIN .* not supported/,
  ],
  [
    "REPEATS qualifier",
    "[ipv4-addr:value = '1.1.1.1'] REPEATS 5 TIMES",
    /qualifier REPEATS .* not supported/,
  ],
  [
    "START/STOP qualifier",
    "[ipv4-addr:value = '1.1.1.1'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
    /qualifier START .* not supported/,
  ],
  [
    "FOLLOWEDBY",
    "[ipv4-addr:value = '1.1.1.1'] FOLLOWEDBY [ipv4-addr:value = '2.2.2.2']",
    /FOLLOWEDBY .* not supported/,
  ],
  [
    "another object type",
    "[x509-certificate:hashes.'SHA-1' = 'aa']",
    /object type "x509-certificate" .* not supported/,
  ],
  [
    "network-traffic",
    "[network-traffic:dst_port = '443']",
    /object type "network-traffic" .* not supported/,
  ],
  ["another property", "[file:name = 'evil.exe']", /property file:name is not supported/],
  [
    "a reference path",
    "[ipv4-addr:resolves_to_refs = 'x']",
    /property ipv4-addr:resolves_to_refs is not supported/,
  ],
  [
    "an unsupported hash",
    "[file:hashes.SSDEEP = '3:a:b']",
    /hash algorithm "SSDEEP" .* not supported/,
  ],
  ["a list index", "[email-message:to_refs[*].value = 'a@b.c']", /list index .* not supported/],
  ["a number literal", "[ipv4-addr:value = 1]", /expected a quoted string/],
  [
    "a timestamp literal",
    "[ipv4-addr:value = t'2020-01-01T00:00:00Z']",
    /t'…' literal .* not supported/,
  ],
  ["a double-quoted value", `[ipv4-addr:value = "1.1.1.1"]`, /double-quoted literal/],
  ["an empty value", "[ipv4-addr:value = '']", /empty value/],
  ["an invalid escape", String.raw`[url:value = 'a\nb']`, /invalid escape "\\n"/],
  ["an unterminated string", "[ipv4-addr:value = '1.1.1.1]", /unterminated string/],
  ["a missing ]", "[ipv4-addr:value = '1.1.1.1'", /expected "\]" but found the end/],
  ["a missing [", "ipv4-addr:value = '1.1.1.1'", /expected "\[" but found "ipv4-addr"/],
  ["trailing garbage", "[ipv4-addr:value = '1.1.1.1'] xyz", /unexpected "xyz"/],
  ["an empty pattern", "   ", /empty pattern/],
  ["a sigma rule", "title: Suspicious\ndetection:\n  selection: {}", /expected "\["/],
  ["a yara rule", 'rule eicar { strings: $a = "X5O" condition: $a }', /expected "\["/],
  ["an unexpected character", "[ipv4-addr:value = '1.1.1.1'] ; DROP", /unexpected character ";"/],
  ["a dangling OR", "[ipv4-addr:value = '1.1.1.1'] OR", /expected "\[" but found the end/],
  [
    "too deep nesting",
    "(".repeat(40) + "[ipv4-addr:value = '1.1.1.1']" + ")".repeat(40),
    /nesting deeper than 32/,
  ],
];

for (const [label, pattern, reason] of REFUSALS) {
  Deno.test(`readPattern() reports ${label} instead of guessing`, () => {
    const r = readPattern(pattern);
    assert.ok("error" in r, `expected an error, got ${JSON.stringify(r)}`);
    assert.match(r.error, reason);
  });
}

Deno.test("readPattern() reports patterns longer than maxLength", () => {
  const r = readPattern(`[url:value = '${"a".repeat(200)}']`, { maxLength: 100 });
  assert.deepEqual(r, { error: "pattern is longer than 100 characters (216)" });
});

const fixture = async (name: string): Promise<StixObject> =>
  JSON.parse(await Deno.readTextFile(new URL(`../fixtures/stix/${name}`, import.meta.url)));

Deno.test("observablesOf() takes observable_values from the stream extension", async () => {
  assert.deepEqual(observablesOf(await fixture("indicator_stream.json")), {
    observables: [{ type: "ipv4-addr", value: "1.2.3.4" }],
    source: "observable_values",
    skipped: [],
  });
});

Deno.test("observablesOf() maps every file hash of observable_values, keys in any spelling", async () => {
  const indicator = await fixture("indicator_file_or.json");
  const expected = [
    { type: "file", value: MD5, hash: "MD5" },
    { type: "file", value: SHA1, hash: "SHA-1" },
    { type: "file", value: SHA256, hash: "SHA-256" },
  ];
  assert.deepEqual(observablesOf(indicator), {
    observables: expected,
    source: "observable_values",
    skipped: [],
  });
  // The pattern of the same indicator yields the same observables.
  assert.deepEqual(readPattern(indicator.pattern as string), { observables: expected });
});

Deno.test("observablesOf() falls back to the pattern when observable_values is absent", async () => {
  assert.deepEqual(observablesOf(await fixture("indicator_top_level.json")), {
    observables: [
      { type: "domain-name", value: "evil.example.com" },
      { type: "url", value: "https://evil.example.com/login?a=1&b=2" },
    ],
    source: "pattern",
    skipped: [],
  });
});

const EXT = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

Deno.test("observablesOf() lists unsupported observable_values entries and dedupes the rest", () => {
  const r = observablesOf({
    type: "indicator",
    id: "indicator--x",
    pattern: "[ipv4-addr:value = '9.9.9.9']",
    extensions: {
      [EXT]: {
        observable_values: [
          { type: "IPv4-Addr", value: "1.2.3.4" },
          { type: "ipv4-addr", value: "1.2.3.4" },
          { type: "X509-Certificate", hashes: { "SHA-1": SHA1 } },
          { type: "StixFile", hashes: { SSDEEP: "3:a:b", "SHA-256": SHA256 } },
        ],
      },
    },
  });
  assert.deepEqual(r, {
    observables: [{ type: "ipv4-addr", value: "1.2.3.4" }, {
      type: "file",
      value: SHA256,
      hash: "SHA-256",
    }],
    source: "observable_values",
    skipped: [
      'observable type "X509-Certificate" is not supported',
      'hash algorithm "SSDEEP" is not supported',
    ],
  });
});

Deno.test("observablesOf() reports non-STIX pattern types and missing observables", () => {
  const sigma = observablesOf({
    type: "indicator",
    id: "i",
    pattern: "title: x",
    pattern_type: "sigma",
  });
  assert.deepEqual(sigma, { error: 'pattern_type "sigma" is not a STIX pattern' });
  assert.deepEqual(observablesOf({ type: "indicator", id: "i" }), {
    error: "indicator has no pattern",
  });
  const onlyUnsupported = observablesOf({
    type: "indicator",
    id: "i",
    extensions: { [EXT]: { observable_values: [{ type: "Text", value: "x" }] } },
  });
  assert.deepEqual(onlyUnsupported, {
    error: 'observable_values has no supported entry: observable type "Text" is not supported',
  });
  const bad = observablesOf({
    type: "indicator",
    id: "i",
    pattern: "[file:name = 'x']",
    pattern_type: "stix",
  });
  assert.ok("error" in bad);
});
