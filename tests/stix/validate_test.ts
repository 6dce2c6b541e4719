import assert from "node:assert/strict";
import { expandIpv6, isCidr, isValidObservable } from "../../src/stix/validate.ts";
import type { Observable } from "../../src/stix/types.ts";

const VALID: Observable[] = [
  { type: "ipv4-addr", value: "1.2.3.4" },
  { type: "ipv4-addr", value: "255.255.255.255" },
  { type: "ipv4-addr", value: "10.0.0.0/8" },
  { type: "ipv6-addr", value: "2001:db8::1" },
  { type: "ipv6-addr", value: "::" },
  { type: "ipv6-addr", value: "::ffff:192.0.2.1" },
  { type: "ipv6-addr", value: "2001:0db8:0000:0000:0000:ff00:0042:8329" },
  { type: "ipv6-addr", value: "2001:db8::/32" },
  { type: "domain-name", value: "evil.example.com" },
  { type: "domain-name", value: "xn--bcher-kva.example" },
  { type: "domain-name", value: "bücher.example" },
  { type: "domain-name", value: "_dmarc.example.com." },
  { type: "hostname", value: "ComputerName" },
  { type: "hostname", value: "host-1.corp.example" },
  { type: "url", value: "https://evil.example.com/login?a=1&b=2" },
  { type: "url", value: "http://1.2.3.4:8080/x" },
  { type: "email-addr", value: "bob.smith+tag@evil.example" },
  { type: "file", value: "44d88612fea8a8f36de82e1278abb02f", hash: "MD5" },
  { type: "file", value: "3395856CE81F2B7382DEE72602F798B642F14140", hash: "SHA-1" },
  {
    type: "file",
    value: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
    hash: "SHA-256",
  },
  { type: "file", value: "a".repeat(128), hash: "SHA-512" },
];

for (const o of VALID) {
  Deno.test(`isValidObservable() accepts ${o.type} "${o.value.slice(0, 40)}"`, () => {
    assert.equal(isValidObservable(o), undefined);
  });
}

const INVALID: ReadonlyArray<readonly [Observable, RegExp]> = [
  [{ type: "ipv4-addr", value: "1.2.3" }, /four dotted numbers/],
  [{ type: "ipv4-addr", value: "1.2.3.256" }, /0-255/],
  [{ type: "ipv4-addr", value: "01.2.3.4" }, /leading zeros/],
  [{ type: "ipv4-addr", value: "1.2.3.4/33" }, /prefix length/],
  [{ type: "ipv4-addr", value: "2001:db8::1" }, /not an IPv4 address/],
  [{ type: "ipv6-addr", value: "2001:db8::1::2" }, /more than once/],
  [{ type: "ipv6-addr", value: "2001:db8:1:2:3:4:5" }, /number of groups/],
  [{ type: "ipv6-addr", value: "12345::" }, /1-4 hex digits/],
  [{ type: "ipv6-addr", value: "fe80::1%eth0" }, /zone ids/],
  [{ type: "ipv6-addr", value: "1.2.3.4" }, /number of groups/],
  [{ type: "ipv6-addr", value: "1.2.3.4::" }, /last 32 bits/],
  [{ type: "domain-name", value: "https://evil.example.com/x" }, /it is a URL, not a domain name/],
  [{ type: "hostname", value: "http://ComputerName" }, /it is a URL/],
  [{ type: "domain-name", value: "evil.example.com/path" }, /'\/'/],
  [{ type: "domain-name", value: "localhost" }, /two labels/],
  [{ type: "domain-name", value: "-bad.example" }, /label "-bad"/],
  [{ type: "domain-name", value: "a..example" }, /label ""/],
  [{ type: "domain-name", value: "1.2.3.4" }, /numeric/],
  [{ type: "domain-name", value: `${"a".repeat(64)}.example` }, /1-63/],
  [{ type: "domain-name", value: "evil.example:443" }, /':'/],
  [{ type: "url", value: "evil.example.com/path" }, /cannot be parsed/],
  [{ type: "url", value: "https://evil.example/a b" }, /whitespace/],
  [{ type: "url", value: "mailto:bob@example.com" }, /no host/],
  [{ type: "email-addr", value: "bob" }, /local@domain/],
  [{ type: "email-addr", value: "bob@localhost" }, /two labels/],
  [{ type: "email-addr", value: "bo b@evil.example" }, /local part/],
  [
    { type: "file", value: "44d88612fea8a8f36de82e1278abb02", hash: "MD5" },
    /31 hex digits \(expected 32\)/,
  ],
  [{ type: "file", value: "zz".repeat(20), hash: "SHA-1" }, /not hexadecimal/],
  [{ type: "file", value: "a".repeat(64) }, /no hash algorithm/],
];

for (const [o, reason] of INVALID) {
  Deno.test(`isValidObservable() rejects ${o.type} "${o.value.slice(0, 40)}" with a reason`, () => {
    const r = isValidObservable(o);
    assert.ok(r !== undefined, "expected a reason");
    assert.match(r, reason);
  });
}

Deno.test("isValidObservable() rejects CIDR ranges when allowCidr is false, but not /32", () => {
  assert.match(
    isValidObservable({ type: "ipv4-addr", value: "10.0.0.0/8" }, { allowCidr: false }) ?? "",
    /CIDR range/,
  );
  assert.equal(
    isValidObservable({ type: "ipv4-addr", value: "10.0.0.1/32" }, { allowCidr: false }),
    undefined,
  );
  assert.match(
    isValidObservable({ type: "ipv6-addr", value: "2001:db8::/32" }, { allowCidr: false }) ?? "",
    /CIDR/,
  );
});

Deno.test("isCidr() tells ranges from single addresses", () => {
  assert.equal(isCidr("10.0.0.0/8"), true);
  assert.equal(isCidr("10.0.0.1/32"), false);
  assert.equal(isCidr("10.0.0.1"), false);
  assert.equal(isCidr("2001:db8::/64"), true);
  assert.equal(isCidr("2001:db8::1/128"), false);
});

Deno.test("expandIpv6() writes all eight groups", () => {
  assert.equal(expandIpv6("2001:db8::1"), "2001:0db8:0000:0000:0000:0000:0000:0001");
  assert.equal(expandIpv6("::"), "0000:0000:0000:0000:0000:0000:0000:0000");
  assert.equal(expandIpv6("::ffff:192.0.2.1"), "0000:0000:0000:0000:0000:ffff:c000:0201");
  assert.equal(expandIpv6("FE80::"), "fe80:0000:0000:0000:0000:0000:0000:0000");
  assert.equal(expandIpv6("not an ip"), undefined);
});
