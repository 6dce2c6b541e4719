import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  actionFromScore,
  cutDescription,
  type GraphOptions,
  type GraphTargetProduct,
  observableKey,
  severityFromScore,
  threatTypeOf,
  type TiIndicator,
  toTiIndicators,
} from "../../src/microsoft/graph_mapping.ts";
import type { TargetIndicator } from "../../src/microsoft/target.ts";
import type { Observable } from "../../src/stix/types.ts";

const ID = "indicator--5b0f3a57-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const NOW = Date.UTC(2026, 0, 1);

function indicator(overrides: Partial<TargetIndicator> = {}): TargetIndicator {
  return {
    id: ID,
    stix: { id: ID, type: "indicator" },
    observables: [{ type: "ipv4-addr", value: "203.0.113.10" }],
    name: "203.0.113.10",
    description: "C2 server from feed X",
    score: 80,
    confidence: 80,
    labels: ["c2"],
    tlp: "amber",
    validUntil: "2026-01-31T00:00:00Z",
    updatedAt: "2025-12-01T10:00:00.000Z",
    killChainPhases: [],
    ...overrides,
  };
}

const SENTINEL: GraphOptions = {
  targetProduct: "Azure Sentinel",
  confidenceLevel: 50,
  expireTimeDays: 30,
  passiveOnly: false,
  now: () => NOW,
};
const DEFENDER: GraphOptions = { ...SENTINEL, targetProduct: "Microsoft Defender ATP" };

function only(result: { records: TiIndicator[] }): TiIndicator {
  assertEquals(result.records.length, 1);
  return result.records[0] as TiIndicator;
}

const SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
const MD5 = "d41d8cd98f00b204e9800998ecf8427e";

const observableCases: {
  observable: Observable;
  sentinel: Partial<TiIndicator> | string;
  defender: Partial<TiIndicator> | string;
}[] = [
  {
    observable: { type: "ipv4-addr", value: "203.0.113.10" },
    sentinel: { networkIPv4: "203.0.113.10" },
    defender: { networkDestinationIPv4: "203.0.113.10", networkIPv4: "203.0.113.10" },
  },
  {
    observable: { type: "ipv6-addr", value: "2001:db8::1" },
    sentinel: { networkIPv6: "2001:db8::1" },
    defender: { networkDestinationIPv6: "2001:db8::1", networkIPv6: "2001:db8::1" },
  },
  {
    observable: { type: "ipv4-addr", value: "198.51.100.0/24" },
    sentinel: { networkCidrBlock: "198.51.100.0/24" },
    defender: "CIDR ranges are not supported by the Microsoft Defender ATP target",
  },
  {
    observable: { type: "domain-name", value: "evil.example.com" },
    sentinel: { domainName: "evil.example.com" },
    defender: { domainName: "evil.example.com" },
  },
  {
    observable: { type: "hostname", value: "host1.evil.example" },
    sentinel: { domainName: "host1.evil.example" },
    defender: { domainName: "host1.evil.example" },
  },
  {
    observable: { type: "url", value: "http://evil.example/a?b=1&c='x'#y+z" },
    sentinel: { url: "http://evil.example/a?b=1&c='x'#y+z" },
    defender: { url: "http://evil.example/a?b=1&c='x'#y+z" },
  },
  {
    observable: { type: "email-addr", value: "phish@evil.example" },
    sentinel: { emailSenderAddress: "phish@evil.example" },
    defender: "Email addresses are not supported by the Microsoft Defender ATP target",
  },
  {
    observable: { type: "file", value: MD5, hash: "MD5" },
    sentinel: { fileHashType: "md5", fileHashValue: MD5 },
    defender: { fileHashType: "md5", fileHashValue: MD5 },
  },
  {
    observable: { type: "file", value: SHA1.toUpperCase(), hash: "SHA-1" },
    sentinel: { fileHashType: "sha1", fileHashValue: SHA1 },
    defender: { fileHashType: "sha1", fileHashValue: SHA1 },
  },
  {
    observable: { type: "file", value: SHA256, hash: "SHA-256" },
    sentinel: { fileHashType: "sha256", fileHashValue: SHA256 },
    defender: { fileHashType: "sha256", fileHashValue: SHA256 },
  },
];

const OBSERVABLE_FIELDS = [
  "networkIPv4",
  "networkIPv6",
  "networkDestinationIPv4",
  "networkDestinationIPv6",
  "networkCidrBlock",
  "domainName",
  "url",
  "emailSenderAddress",
  "fileHashType",
  "fileHashValue",
] as const;

for (const c of observableCases) {
  for (
    const [product, expected] of [
      ["Azure Sentinel", c.sentinel],
      ["Microsoft Defender ATP", c.defender],
    ] as [GraphTargetProduct, Partial<TiIndicator> | string][]
  ) {
    const label = `${c.observable.type} ${c.observable.hash ?? c.observable.value}`;
    Deno.test(`toTiIndicators() maps ${label} for ${product} as expected`, () => {
      const result = toTiIndicators(indicator({ observables: [c.observable] }), {
        ...SENTINEL,
        targetProduct: product,
      });
      if (typeof expected === "string") {
        assertEquals(result.records, []);
        assertEquals(result.skipped, [{ value: c.observable.value, reason: expected }]);
        return;
      }
      const record = only(result);
      const observed: Partial<TiIndicator> = {};
      for (const field of OBSERVABLE_FIELDS) {
        if (record[field] !== undefined) Object.assign(observed, { [field]: record[field] });
      }
      assertEquals(observed, expected);
      assertEquals(record.targetProduct, product);
    });
  }
}

Deno.test("toTiIndicators() builds the full Sentinel record with every field and JSON type", () => {
  const record = only(toTiIndicators(indicator(), SENTINEL));
  assertEquals(record, {
    targetProduct: "Azure Sentinel",
    action: "block",
    tlpLevel: "amber",
    threatType: "C2",
    expirationDateTime: "2026-01-31T00:00:00.000Z",
    severity: 5,
    description: "C2 server from feed X",
    passiveOnly: false,
    tags: ["c2", "opencti"],
    confidence: 80,
    externalId: ID,
    lastReportedDateTime: "2025-12-01T10:00:00.000Z",
    additionalInformation: "score: 80",
    networkIPv4: "203.0.113.10",
  });
});

Deno.test("toTiIndicators() gives every record of an OR pattern the indicator's STIX id as externalId", () => {
  const result = toTiIndicators(
    indicator({
      observables: [
        { type: "ipv4-addr", value: "203.0.113.10" },
        { type: "domain-name", value: "evil.example.com" },
        { type: "ipv4-addr", value: "203.0.113.10" },
      ],
    }),
    SENTINEL,
  );
  assertEquals(result.records.length, 2, "the repeated value is sent once");
  assertEquals(result.records.map((r) => r.externalId), [ID, ID]);
  assertEquals(result.records.map(observableKey), [
    "networkIPv4=203.0.113.10",
    "domainName=evil.example.com",
  ]);
});

Deno.test("toTiIndicators() skips invalid values with a reason and never sends them", () => {
  const result = toTiIndicators(
    indicator({
      observables: [
        { type: "ipv4-addr", value: "999.1.1.1" },
        { type: "domain-name", value: "http://evil.example/path" },
        { type: "file", value: "abc", hash: "SHA-256" },
        { type: "url", value: "https://fine.example/" },
      ],
    }),
    SENTINEL,
  );
  assertEquals(result.records.map((r) => r.url), ["https://fine.example/"]);
  assertEquals(result.skipped.map((s) => s.value), [
    "999.1.1.1",
    "http://evil.example/path",
    "abc",
  ]);
  for (const skip of result.skipped) assertEquals(typeof skip.reason, "string");
});

Deno.test("toTiIndicators() skips SHA-512 hashes, which Graph cannot take", () => {
  const result = toTiIndicators(
    indicator({ observables: [{ type: "file", value: "a".repeat(128), hash: "SHA-512" }] }),
    SENTINEL,
  );
  assertEquals(result.records, []);
  assertEquals(result.skipped.length, 1);
});

Deno.test("actionFromScore() follows CONFIDENCE_LEVEL: at or above blocks, below alerts, 0 allows, none is unknown", () => {
  const cases: [number | undefined, number, string][] = [
    [80, 50, "block"],
    [50, 50, "block"],
    [49, 50, "alert"],
    [1, 50, "alert"],
    [0, 50, "allow"],
    [undefined, 50, "unknown"],
    [70, 75, "alert"],
    [75, 75, "block"],
  ];
  for (const [score, level, expected] of cases) {
    assertEquals(actionFromScore(score, level), expected, `score ${score} level ${level}`);
  }
});

Deno.test("toTiIndicators() uses the configured ACTION over the score", () => {
  const record = only(toTiIndicators(indicator({ score: 90 }), { ...SENTINEL, action: "alert" }));
  assertEquals(record.action, "alert");
});

Deno.test("toTiIndicators() takes the action from the score and CONFIDENCE_LEVEL when no ACTION is set", () => {
  const at = (score: number | undefined) => {
    const item = indicator();
    delete item.score;
    if (score !== undefined) item.score = score;
    return only(toTiIndicators(item, { ...SENTINEL, confidenceLevel: 60 })).action;
  };
  assertEquals([at(60), at(59), at(0), at(undefined)], ["block", "alert", "allow", "unknown"]);
});

Deno.test("severityFromScore() maps scores to 0-5", () => {
  const cases: [number | undefined, number][] = [
    [100, 5],
    [70, 5],
    [69, 4],
    [50, 4],
    [30, 3],
    [10, 2],
    [9, 1],
    [1, 1],
    [0, 0],
    [undefined, 0],
  ];
  for (const [score, severity] of cases) assertEquals(severityFromScore(score), severity);
});

Deno.test("toTiIndicators() derives tlpLevel from the markings: amber+strict is amber, clear is white", () => {
  const cases: [TargetIndicator["tlp"], string][] = [
    ["red", "red"],
    ["amber+strict", "amber"],
    ["amber", "amber"],
    ["green", "green"],
    ["clear", "white"],
    ["white", "white"],
    [undefined, "unknown"],
  ];
  for (const [tlp, level] of cases) {
    const item = indicator();
    delete item.tlp;
    if (tlp) item.tlp = tlp;
    assertEquals(only(toTiIndicators(item, SENTINEL)).tlpLevel, level, String(tlp));
  }
});

Deno.test("toTiIndicators() reads TLP from object_marking_refs when the indicator has no tlp", () => {
  const item = indicator({
    stix: {
      id: ID,
      type: "indicator",
      object_marking_refs: ["marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"],
    },
  });
  delete item.tlp;
  assertEquals(only(toTiIndicators(item, SENTINEL)).tlpLevel, "amber");
});

Deno.test("toTiIndicators() uses the configured TLP_LEVEL over the markings", () => {
  const record = only(
    toTiIndicators(indicator({ tlp: "red" }), { ...SENTINEL, tlpLevel: "green" }),
  );
  assertEquals(record.tlpLevel, "green");
  assertEquals(record.passiveOnly, false);
});

Deno.test("toTiIndicators() sends passiveOnly as a real boolean, true for TLP:RED", () => {
  assertEquals(only(toTiIndicators(indicator(), SENTINEL)).passiveOnly, false);
  assertEquals(
    only(toTiIndicators(indicator(), { ...SENTINEL, passiveOnly: true })).passiveOnly,
    true,
  );
  assertEquals(only(toTiIndicators(indicator({ tlp: "red" }), SENTINEL)).passiveOnly, true);
});

Deno.test("threatTypeOf() matches labels case-insensitively, the last match wins, default WatchList", () => {
  assertEquals(threatTypeOf([]), "WatchList");
  assertEquals(threatTypeOf(["apt", "unrelated"]), "WatchList");
  assertEquals(threatTypeOf(["botnet"]), "Botnet");
  assertEquals(threatTypeOf(["DDOS"]), "DDoS");
  assertEquals(threatTypeOf(["maliciousurl"]), "MaliciousUrl");
  assertEquals(threatTypeOf(["pua"]), "PUA");
  assertEquals(threatTypeOf(["Malware", "phishing"]), "Phishing");
  assertEquals(threatTypeOf(["CryptoMining", "x"]), "CryptoMining");
});

Deno.test("toTiIndicators() expires at valid_until, else updated_at plus EXPIRE_TIME days", () => {
  assertEquals(
    only(toTiIndicators(indicator(), SENTINEL)).expirationDateTime,
    "2026-01-31T00:00:00.000Z",
  );
  const noUntil = indicator();
  delete noUntil.validUntil;
  assertEquals(
    only(toTiIndicators(noUntil, { ...SENTINEL, expireTimeDays: 10 })).expirationDateTime,
    "2025-12-11T10:00:00.000Z",
  );
  const noDates = indicator();
  delete noDates.validUntil;
  delete noDates.updatedAt;
  assertEquals(
    only(toTiIndicators(noDates, SENTINEL)).expirationDateTime,
    new Date(NOW + 30 * 86_400_000).toISOString(),
  );
});

Deno.test("cutDescription() keeps at most 100 characters and defaults to No description", () => {
  assertEquals(cutDescription(undefined), "No description");
  assertEquals(cutDescription("   "), "No description");
  assertEquals(cutDescription("x".repeat(100)), "x".repeat(100));
  assertEquals(cutDescription("y".repeat(10 * 1024 * 1024)), "y".repeat(100));
  const emoji = `${"a".repeat(99)}😀tail`;
  assertEquals(cutDescription(emoji), "a".repeat(99), "a surrogate pair is never split");
  const record = only(toTiIndicators(indicator({ description: "z".repeat(500) }), SENTINEL));
  assertEquals(record.description.length, 100);
});

Deno.test("toTiIndicators() tags records with the labels and opencti, and keeps confidence an integer", () => {
  const record = only(
    toTiIndicators(indicator({ labels: ["c2", "opencti"], confidence: 72.6 }), SENTINEL),
  );
  assertEquals(record.tags, ["c2", "opencti"]);
  assertEquals(record.confidence, 73);
  const noConfidence = indicator();
  delete noConfidence.confidence;
  assertEquals(only(toTiIndicators(noConfidence, SENTINEL)).confidence, 50);
});

Deno.test("toTiIndicators() maps Lockheed Martin kill chain phases to Graph's killChain", () => {
  const record = only(
    toTiIndicators(
      indicator({ killChainPhases: ["command-and-control", "delivery", "unknown-phase"] }),
      SENTINEL,
    ),
  );
  assertEquals(record.killChain, ["C2", "Delivery"]);
});

Deno.test("toTiIndicators() builds Defender ATP records with destination and plain IP fields", () => {
  const record = only(toTiIndicators(indicator(), DEFENDER));
  assertEquals(record.targetProduct, "Microsoft Defender ATP");
  assertEquals(record.networkDestinationIPv4, "203.0.113.10");
  assertEquals(record.networkIPv4, "203.0.113.10");
});
