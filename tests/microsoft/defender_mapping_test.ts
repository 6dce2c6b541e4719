import assert from "node:assert/strict";
import {
  actionForType,
  actionFromScore,
  defenderTypeOf,
  importBody,
  isTenantCapMessage,
  parseDefenderError,
  parseImportAnswer,
  parseListAnswer,
  severityFromScore,
  toDefenderIndicators,
} from "../../src/microsoft/defender_mapping.ts";
import { CAP_MESSAGE } from "../../src/sim/defender.ts";
import type { Observable } from "../../src/stix/types.ts";
import { indicatorId, makeIndicator } from "../fixtures/microsoft/sentinel/make.ts";
import { DEFENDER_MAPPING, TEST_NOW } from "../fixtures/settings_defaults.ts";

const fixture = (name: string) =>
  Deno.readTextFile(new URL(`../fixtures/microsoft/defender/${name}`, import.meta.url));

const SHA256 = "881c0f10c75e64ec39d257a131fcd531f47dd2cff2070ae94baa347d375126fd";
const SHA1 = "220e7d15b011d7fac48f2bd61114db1022197f7f";
const MD5 = "c30b1d9a6e1f2a38a2ac0f84b4a57b6a";

Deno.test("defenderTypeOf() maps every observable type as the reference's table says", () => {
  const table: [Observable, string | undefined, string | undefined][] = [
    [{ type: "ipv4-addr", value: "1.2.3.4" }, "IpAddress", "1.2.3.4"],
    [{ type: "ipv4-addr", value: "1.2.3.4/32" }, "IpAddress", "1.2.3.4"],
    [{ type: "ipv4-addr", value: "1.2.3.0/24" }, undefined, undefined],
    [{ type: "ipv4-addr", value: "1.2.3.400" }, undefined, undefined],
    [{ type: "ipv6-addr", value: "2001:db8::1" }, "IpAddress", "2001:db8:0:0:0:0:0:1"],
    [{ type: "ipv6-addr", value: "2001:db8::/32" }, undefined, undefined],
    [{ type: "domain-name", value: "Evil.Example.com." }, "DomainName", "evil.example.com"],
    [{ type: "hostname", value: "host.example.net" }, "DomainName", "host.example.net"],
    [{ type: "domain-name", value: "https://example.com/x" }, undefined, undefined],
    [{ type: "url", value: "http://x.test/a?b=1&c='d'" }, "Url", "http://x.test/a?b=1&c='d'"],
    [{ type: "email-addr", value: "a@example.com" }, undefined, undefined],
    [{ type: "file", hash: "SHA-256", value: SHA256.toUpperCase() }, "FileSha256", SHA256],
    [{ type: "file", hash: "SHA-1", value: SHA1 }, "FileSha1", SHA1],
    [{ type: "file", hash: "MD5", value: MD5 }, undefined, undefined],
    [{ type: "file", hash: "SHA-512", value: "ab".repeat(64) }, undefined, undefined],
    [{ type: "file", hash: "SHA-1", value: "zz" }, undefined, undefined],
  ];
  for (const [observable, type, value] of table) {
    const result = defenderTypeOf(observable);
    const label = `${observable.type} ${observable.value}`;
    if (type === undefined) {
      assert(!result.ok, label);
      assert(result.reason.length > 0);
    } else {
      assert.deepEqual(result, { ok: true, type, value }, label);
    }
  }
  assert.deepEqual(defenderTypeOf({ type: "file", hash: "MD5", value: MD5 }, true), {
    ok: true,
    type: "FileMd5",
    value: MD5,
  });
  const email = defenderTypeOf({ type: "email-addr", value: "a@example.com" });
  assert(!email.ok && /e-mail/.test(email.reason));
});

Deno.test("actionFromScore() and severityFromScore() follow the score bands", () => {
  const table: [number | undefined, string, string][] = [
    [undefined, "Audit", "Informational"],
    [0, "Audit", "Informational"],
    [19, "Audit", "Informational"],
    [20, "Audit", "Low"],
    [29, "Audit", "Low"],
    [30, "Warn", "Low"],
    [40, "Warn", "Medium"],
    [59, "Warn", "Medium"],
    [60, "Block", "High"],
    [100, "Block", "High"],
  ];
  for (const [score, action, severity] of table) {
    assert.equal(actionFromScore(score, { blockScore: 60 }), action, `action for ${score}`);
    assert.equal(severityFromScore(score), severity, `severity for ${score}`);
  }
  assert.equal(actionFromScore(50, { blockScore: 50 }), "Block");
});

Deno.test("actionForType() keeps actions each type accepts", () => {
  assert.equal(actionForType("BlockAndRemediate", "FileSha256"), "BlockAndRemediate");
  assert.equal(actionForType("BlockAndRemediate", "IpAddress"), "Block");
  assert.equal(actionForType("Block", "Url"), "Block");
  assert.equal(actionForType("Block", "CertificateThumbprint"), "BlockAndRemediate");
});

Deno.test("toDefenderIndicators() sends exactly Defender's field names", () => {
  const { records, skipped } = toDefenderIndicators(makeIndicator(1, { score: 70 }), {
    ...DEFENDER_MAPPING,
    now: Date.parse("2024-06-11T00:00:00Z"),
  });
  assert.deepEqual(skipped, []);
  assert.deepEqual(records, [{
    indicatorValue: "10.0.0.2",
    indicatorType: "IpAddress",
    action: "Block",
    title: "10.0.0.2",
    description: "C2 server",
    application: "OpenCTI",
    expirationTime: "2099-09-08T07:13:20Z",
    severity: "High",
    generateAlert: true,
    externalID: indicatorId(1),
  }]);
});

Deno.test("toDefenderIndicators() forces generateAlert with Audit and honours a fixed action", () => {
  const audit = toDefenderIndicators(makeIndicator(1, { score: 10 }), {
    ...DEFENDER_MAPPING,
    now: TEST_NOW,
    generateAlert: false,
  });
  assert.equal(audit.records[0]?.action, "Audit");
  assert.equal(audit.records[0]?.generateAlert, true);
  const fixed = toDefenderIndicators(makeIndicator(1, { score: 10 }), {
    ...DEFENDER_MAPPING,
    now: TEST_NOW,
    action: "Block",
    generateAlert: false,
  });
  assert.equal(fixed.records[0]?.action, "Block");
  assert.equal(fixed.records[0]?.generateAlert, false);
});

Deno.test("toDefenderIndicators() drops an MD5 next to a SHA-256 and reports why", () => {
  const item = makeIndicator(1, {
    observables: [
      { type: "file", hash: "MD5", value: MD5 },
      { type: "file", hash: "SHA-256", value: SHA256 },
      { type: "email-addr", value: "x@example.com" },
    ],
  });
  const { records, skipped } = toDefenderIndicators(item, { ...DEFENDER_MAPPING, now: TEST_NOW });
  assert.deepEqual(records.map((r) => r.indicatorType), ["FileSha256"]);
  assert.deepEqual(skipped.map((s) => s.observable.type), ["file", "email-addr"]);
});

Deno.test("toDefenderIndicators() cuts long descriptions and defaults an empty one", () => {
  const long = toDefenderIndicators(makeIndicator(1, { description: "x".repeat(10_000_000) }), {
    ...DEFENDER_MAPPING,
    now: TEST_NOW,
  });
  assert.equal(long.records[0]?.description.length, 99);
  const empty = toDefenderIndicators(makeIndicator(1, { description: "  " }), {
    ...DEFENDER_MAPPING,
    now: TEST_NOW,
  });
  assert.equal(empty.records[0]?.description, "No description");
});

Deno.test("toDefenderIndicators() computes the expiry from updated_at without valid_until", () => {
  const item = makeIndicator(1);
  delete item.validUntil;
  const now = Date.parse("2024-06-11T00:00:00Z");
  const { records } = toDefenderIndicators(item, {
    ...DEFENDER_MAPPING,
    expireTimeDays: 10,
    now,
  });
  assert.equal(records[0]?.expirationTime, "2024-06-20T07:13:20Z");
  // An updated_at so old that the expiry would be past counts from now instead.
  const late = toDefenderIndicators(item, {
    ...DEFENDER_MAPPING,
    expireTimeDays: 10,
    now: Date.parse("2025-01-01"),
  });
  assert.equal(late.records[0]?.expirationTime, "2025-01-11T00:00:00Z");
});

Deno.test("importBody() wraps the records in Indicators with a capital I", () => {
  const { records } = toDefenderIndicators(makeIndicator(1), {
    ...DEFENDER_MAPPING,
    now: TEST_NOW,
  });
  assert.deepEqual(Object.keys(JSON.parse(importBody(records))), ["Indicators"]);
});

Deno.test("parseImportAnswer(), parseListAnswer() and parseDefenderError() read Defender's shapes", async () => {
  assert.deepEqual(parseImportAnswer(await fixture("import_response.json")), [
    { id: "2841", indicator: SHA1, isFailed: false },
    {
      indicator: MD5,
      isFailed: true,
      failureReason: "Creating FileMd5 indicators is not supported",
    },
  ]);
  const list = parseListAnswer(await fixture("list_response.json"));
  assert.equal(list?.items[0]?.externalID, "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861");
  assert.equal(list?.nextLink, "https://api.securitycenter.microsoft.com/api/indicators?$skip=1");
  assert.deepEqual(parseDefenderError(await fixture("error_body.json")), {
    code: "InvalidRequestBody",
    message: "Request body is incorrect",
    target: "1fa66c0f-18bd-4a92-9d4e-8f4b1c8e2a11",
  });
  assert.equal(parseImportAnswer("[]"), undefined);
});

Deno.test("isTenantCapMessage() recognises cap refusals but not batch-size errors", () => {
  assert(isTenantCapMessage(CAP_MESSAGE.replace("{cap}", "15000")));
  assert(isTenantCapMessage("Indicators limit reached for tenant"));
  assert(!isTenantCapMessage("MaximumBatchSizeExceeded: received 501, allowed 500"));
  assert(!isTenantCapMessage("Creating FileMd5 indicators is not supported"));
});
