/**
 * The allocation-free checks in `validate.ts` (plain IPv4, domain, http(s) URL, email, hex) only
 * shortcut values the full checks accept: over many generated values, near misses included, a
 * value is accepted exactly when the rules below (the full checks, written out) accept it.
 */
import assert from "node:assert/strict";
import { isValidObservable } from "../../src/stix/validate.ts";
import type { Observable } from "../../src/stix/types.ts";
import { seededRandom } from "../../src/sim/seeded_random.ts";

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

function domainOk(value: string, requireDot: boolean): boolean {
  if (value === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /[/?#@\s]/.test(value)) {
    return false;
  }
  if (value.includes(":")) return false;
  let ascii = value.endsWith(".") ? value.slice(0, -1) : value;
  if (/[\u0080-\uffff]/.test(ascii)) {
    try {
      ascii = new URL(`http://${ascii}/`).hostname;
    } catch {
      return false;
    }
  }
  const labels = ascii.split(".");
  if (ascii.length > 253 || (requireDot && labels.length < 2)) return false;
  if (!labels.every((l) => LABEL.test(l))) return false;
  return !(labels.length > 1 && /^\d+$/.test(labels[labels.length - 1] as string));
}

function urlOk(value: string): boolean {
  if (/\s/.test(value)) return false;
  try {
    return new URL(value).hostname !== "";
  } catch {
    return false;
  }
}

function emailOk(value: string): boolean {
  const at = value.lastIndexOf("@");
  if (at <= 0 || at === value.length - 1) return false;
  const local = value.slice(0, at);
  if (local.length > 64 || /[\s@<>(),;:\\"[\]]/.test(local)) return false;
  return domainOk(value.slice(at + 1), true);
}

function expected(o: Observable): boolean {
  switch (o.type) {
    case "ipv4-addr":
      return IPV4.test(o.value);
    case "domain-name":
      return domainOk(o.value, true);
    case "hostname":
      return domainOk(o.value, false);
    case "url":
      return urlOk(o.value);
    case "email-addr":
      return emailOk(o.value);
    default:
      return /^[0-9A-Fa-f]+$/.test(o.value) && o.value.length === 32;
  }
}

const random = seededRandom(1414);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const int = (n: number) => Math.floor(random() * n);

function ipv4(): string {
  const parts = Array.from(
    { length: pick([3, 4, 4, 4, 5]) },
    () =>
      pick([
        "0",
        "00",
        "01",
        "1",
        "9",
        "10",
        "99",
        "100",
        "199",
        "249",
        "255",
        "256",
        "300",
        "1000",
        "",
      ]),
  );
  return parts.join(pick([".", ".", ".", ".", ",", ".."]));
}

function label(): string {
  const chars = "abcxyz019-_ABZ";
  const length = pick([0, 1, 2, 5, 12, 62, 63, 64]);
  let out = "";
  for (let i = 0; i < length; i++) out += chars[int(chars.length)];
  return pick([out, out, out, "xn--bcher-kva", "123", "0x1f", "é", "-a", "a-"]);
}

function domain(): string {
  const labels = Array.from({ length: 1 + int(4) }, label);
  let out = labels.join(".");
  if (random() < 0.1) out += ".";
  if (random() < 0.05) out = "a".repeat(250) + "." + out;
  if (random() < 0.05) out = `${out}${pick([":8080", " ", "/", "@x", "\u00a0", "\t"])}`;
  return out;
}

function url(): string {
  const scheme = pick(["http://", "https://", "HTTP://", "ftp://", "http:/", "https://user@"]);
  const host = random() < 0.2 ? ipv4() : domain();
  const port = pick(["", "", "", ":80", ":99999", ":"]);
  const rest = pick([
    "",
    "/",
    "/a/b.php?id=1&r=x",
    "?q",
    "#f",
    "/a b",
    "/é",
    "\\x",
    "/%zz",
    "/\u007f",
  ]);
  return `${scheme}${host}${port}${rest}`;
}

function email(): string {
  const local = pick([
    "bob",
    "bob.smith+tag",
    "",
    "a b",
    "a(b",
    'a"b',
    "x".repeat(64),
    "x".repeat(65),
  ]);
  return `${local}${pick(["@", "@", "@", "@@", ""])}${domain()}`;
}

function hex(): string {
  const chars = "0123456789abcdefABCDEFgz ";
  let out = "";
  const length = pick([0, 31, 32, 32, 32, 33]);
  for (let i = 0; i < length; i++) out += chars[int(random() < 0.97 ? 22 : chars.length)];
  return out;
}

Deno.test("the allocation-free checks accept exactly what the full checks accept", () => {
  const kinds: Array<() => Observable> = [
    () => ({ type: "ipv4-addr", value: ipv4() }),
    () => ({ type: "domain-name", value: domain() }),
    () => ({ type: "hostname", value: domain() }),
    () => ({ type: "url", value: url() }),
    () => ({ type: "email-addr", value: email() }),
    () => ({ type: "file", value: hex(), hash: "MD5" }),
  ];
  let accepted = 0;
  for (let i = 0; i < 30_000; i++) {
    const o = (kinds[i % kinds.length] as () => Observable)();
    const problem = isValidObservable(o);
    assert.equal(problem === undefined, expected(o), `${o.type} ${JSON.stringify(o.value)}`);
    if (problem === undefined) accepted++;
    else assert.equal(typeof problem, "string");
  }
  // Both sides are exercised: a fair share of the generated values is valid.
  assert.ok(accepted > 3_000 && accepted < 27_000, `${accepted} accepted`);
});
