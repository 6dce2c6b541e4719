/**
 * Value checks for observables before they are sent to a Microsoft target (upstream #3605:
 * a URL sent as a hostname made the whole request fail). Each check returns a reason, or
 * undefined when the value is valid for its type.
 *
 * CIDR decision: `ipv4-addr`/`ipv6-addr` values may carry a prefix (`10.0.0.0/8`), as STIX
 * allows; by default they are valid here and {@linkcode isCidr} lets each target decide (Graph
 * has `networkCidrBlock`, Defender rejects ranges). Pass `allowCidr: false` to reject them.
 *
 * @module
 */

import { HASH_HEX_LENGTH } from "./hashes.ts";
import type { Observable } from "./types.ts";

/** Options of {@linkcode isValidObservable}. */
export interface ValidateOptions {
  /**
   * Accept IPv4/IPv6 values with a CIDR prefix (`/24`); a `/32` or `/128` prefix is always a range
   * of one address and is accepted too.
   * @default true
   */
  allowCidr?: boolean;
}

const IPV4_OCTET = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * True when `value` is a plain dotted IPv4 address that {@linkcode ipv4Problem} accepts (four
 * numbers 0-255 without leading zeros), checked without allocating; false when unsure (the full
 * check then gives the reason). The hot path of the stream checks every value once per event.
 */
function plainIpv4(value: string): boolean {
  const length = value.length;
  let parts = 0;
  let digits = 0;
  let octet = 0;
  for (let i = 0; i <= length; i++) {
    const c = i < length ? value.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || octet > 255 || ++parts > 4) return false;
      digits = 0;
      octet = 0;
    } else if (c >= DIGIT_0 && c <= DIGIT_9) {
      if (digits === 1 && octet === 0) return false; // a leading zero
      if (++digits > 3) return false;
      octet = octet * 10 + c - DIGIT_0;
    } else {
      return false;
    }
  }
  return parts === 4;
}

const DOT = 46;
const DASH = 45;
const UNDERSCORE = 95;
const DIGIT_0 = 48;
const DIGIT_9 = 57;

function isAlnum(c: number): boolean {
  return (c >= DIGIT_0 && c <= DIGIT_9) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/**
 * True when `value[start, end)` is an ASCII domain name that {@linkcode domainProblem} accepts
 * (labels of 1-63 letters, digits, `-` or `_`, not starting or ending with `-`, at most 253
 * characters without one trailing dot, a non-numeric last label, two labels when `requireDot`),
 * checked without allocating; false when unsure (the full check then gives the reason).
 */
function plainDomain(value: string, start: number, end: number, requireDot: boolean): boolean {
  if (end > start && value.charCodeAt(end - 1) === DOT) end--;
  if (end <= start || end - start > 253) return false;
  let labels = 0;
  let labelStart = start;
  let numeric = true;
  for (let i = start; i <= end; i++) {
    const c = i < end ? value.charCodeAt(i) : DOT;
    if (c === DOT) {
      const length = i - labelStart;
      if (length === 0 || length > 63) return false;
      if (value.charCodeAt(labelStart) === DASH || value.charCodeAt(i - 1) === DASH) return false;
      labels++;
      if (i < end) {
        labelStart = i + 1;
        numeric = true;
      }
    } else if (isAlnum(c) || c === DASH || c === UNDERSCORE) {
      if (c < DIGIT_0 || c > DIGIT_9) numeric = false;
    } else {
      return false;
    }
  }
  if (requireDot && labels < 2) return false;
  return !(labels > 1 && numeric);
}

/** Reason an IPv4 address (without prefix) is invalid, or undefined. */
export function ipv4Problem(value: string): string | undefined {
  const parts = value.split(".");
  if (parts.length !== 4) return `"${value}" is not an IPv4 address (expected four dotted numbers)`;
  for (const p of parts) {
    if (!IPV4_OCTET.test(p)) {
      return `"${value}" is not an IPv4 address ("${p}" is not a number 0-255 without leading zeros)`;
    }
  }
  return undefined;
}

/** Reason an IPv6 address (without prefix) is invalid, or undefined. */
export function ipv6Problem(value: string): string | undefined {
  const bad = (why: string) => `"${value}" is not an IPv6 address (${why})`;
  if (value.includes("%")) return bad("zone ids are not accepted");
  if (!/^[0-9A-Fa-f:.]+$/.test(value)) return bad("unexpected characters");
  const halves = value.split("::");
  if (halves.length > 2) return bad(`"::" appears more than once`);
  if (halves.length === 2 && halves[0]!.includes(".")) {
    return bad("an embedded IPv4 address must be the last 32 bits (RFC 4291 §2.2)");
  }
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...tail];
  let count = all.length;
  const last = all[all.length - 1];
  if (last !== undefined && last.includes(".")) {
    if (ipv4Problem(last)) return bad(`"${last}" is not a valid embedded IPv4 address`);
    count += 1; // an embedded IPv4 address fills two groups
  }
  for (const g of all.slice(0, last?.includes(".") ? -1 : undefined)) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return bad(`"${g}" is not a group of 1-4 hex digits`);
  }
  if (halves.length === 2 ? count > 7 : count !== 8) return bad("wrong number of groups");
  return undefined;
}

function splitPrefix(
  value: string,
  max: number,
): { address: string; problem?: string; prefix?: number } {
  const slash = value.indexOf("/");
  if (slash < 0) return { address: value };
  const address = value.slice(0, slash);
  const p = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
    return { address, problem: `"${value}" has an invalid prefix length (expected 0-${max})` };
  }
  return { address, prefix: Number(p) };
}

/** Tells whether an IP value carries a prefix that makes it a range (`/24`; not `/32` or `/128`). */
export function isCidr(value: string): boolean {
  const slash = value.indexOf("/");
  if (slash < 0) return false;
  const p = Number(value.slice(slash + 1));
  return !(value.includes(":") ? p === 128 : p === 32);
}

const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

/** Reason a domain name or hostname is invalid, or undefined (`requireDot` for domain names). */
export function domainProblem(value: string, requireDot: boolean): string | undefined {
  if (plainDomain(value, 0, value.length, requireDot)) return undefined;
  const bad = (why: string) => `"${value}" is not a valid domain name (${why})`;
  if (value === "") return bad("empty");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return bad("it is a URL, not a domain name");
  if (/[/?#@\s]/.test(value)) return bad("it contains '/', '?', '#', '@' or whitespace");
  if (value.includes(":")) return bad("it contains ':' (a port or an IPv6 address?)");
  let ascii = value.endsWith(".") ? value.slice(0, -1) : value;
  if (/[\u0080-\uffff]/.test(ascii)) {
    // Internationalised names: check their punycode form.
    try {
      ascii = new URL(`http://${ascii}/`).hostname;
    } catch {
      return bad("it cannot be converted to punycode");
    }
  }
  if (ascii.length > 253) return bad("longer than 253 characters");
  const labels = ascii.split(".");
  if (requireDot && labels.length < 2) return bad("expected at least two labels");
  for (const l of labels) {
    if (!LABEL.test(l)) return bad(`label "${l}" must be 1-63 letters, digits, '-' or '_'`);
  }
  if (labels.length > 1 && /^\d+$/.test(labels[labels.length - 1]!)) {
    return bad("the last label is numeric (an IP address?)");
  }
  return undefined;
}

/**
 * True when `value` is an `http://` or `https://` URL that `new URL` parses with a host: a host
 * of lower-case ASCII labels (letters, digits, inner `-`; no `xn--` label, a last label starting
 * with a letter, so no IDNA or IPv4 host parsing is involved), no user info or port, and only
 * printable ASCII after it. Checked without allocating; false when unsure (the full check then
 * parses the URL).
 */
function plainHttpUrl(value: string): boolean {
  let i: number;
  if (value.startsWith("https://")) i = 8;
  else if (value.startsWith("http://")) i = 7;
  else return false;
  const length = value.length;
  let labelStart = i;
  let lastLabelStart = i;
  for (;; i++) {
    const c = i < length ? value.charCodeAt(i) : -1;
    const endOfHost = c === -1 || c === 47 || c === 63 || c === 35; // end, "/", "?", "#"
    if (c === DOT || endOfHost) {
      const size = i - labelStart;
      if (size === 0 || value.charCodeAt(i - 1) === DASH) return false;
      if (value.startsWith("xn--", labelStart)) return false;
      lastLabelStart = labelStart;
      labelStart = i + 1;
      if (endOfHost) break;
    } else if ((c >= 97 && c <= 122) || (c >= DIGIT_0 && c <= DIGIT_9)) {
      continue;
    } else if (c !== DASH || i === labelStart) {
      return false;
    }
  }
  const first = value.charCodeAt(lastLabelStart);
  if (first < 97 || first > 122) return false;
  for (; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 32 || c >= 127) return false;
  }
  return true;
}

/**
 * True when `value` is `local@domain` that {@linkcode emailProblem} accepts, with a local part of
 * printable ASCII and a plain domain, checked without allocating; false when unsure.
 */
function plainEmail(value: string): boolean {
  const at = value.lastIndexOf("@");
  if (at <= 0 || at > 64 || at === value.length - 1) return false;
  for (let i = 0; i < at; i++) {
    const c = value.charCodeAt(i);
    if (c <= 32 || c >= 127 || EMAIL_LOCAL_FORBIDDEN.includes(value[i] as string)) return false;
  }
  return plainDomain(value, at + 1, value.length, true);
}

const EMAIL_LOCAL_FORBIDDEN = '@<>(),;:\\"[]';

/** Reason a URL is invalid, or undefined. */
export function urlProblem(value: string): string | undefined {
  if (plainHttpUrl(value)) return undefined;
  if (/\s/.test(value)) return `"${value}" is not a valid URL (it contains whitespace)`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a valid URL (it cannot be parsed; a scheme such as https:// is required)`;
  }
  if (url.hostname === "") return `"${value}" is not a valid URL (it has no host)`;
  return undefined;
}

/** Reason an email address is invalid, or undefined. */
export function emailProblem(value: string): string | undefined {
  if (plainEmail(value)) return undefined;
  const at = value.lastIndexOf("@");
  if (at <= 0 || at === value.length - 1) {
    return `"${value}" is not a valid email address (expected local@domain)`;
  }
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (local.length > 64 || /[\s@<>(),;:\\"[\]]/.test(local)) {
    return `"${value}" is not a valid email address (invalid local part)`;
  }
  const d = domainProblem(domain, true);
  return d ? `"${value}" is not a valid email address (${d})` : undefined;
}

/** Returns why an observable's value is not valid for its type, or undefined when it is. */
export function isValidObservable(
  o: Observable,
  options: ValidateOptions = {},
): string | undefined {
  const allowCidr = options.allowCidr ?? true;
  switch (o.type) {
    case "ipv4-addr":
    case "ipv6-addr": {
      const v6 = o.type === "ipv6-addr";
      if (!v6 && plainIpv4(o.value)) return undefined;
      const { address, problem, prefix } = splitPrefix(o.value, v6 ? 128 : 32);
      if (problem) return problem;
      if (prefix !== undefined && !allowCidr && isCidr(o.value)) {
        return `"${o.value}" is a CIDR range, not a single address`;
      }
      return v6 ? ipv6Problem(address) : ipv4Problem(address);
    }
    case "domain-name":
      return domainProblem(o.value, true);
    case "hostname":
      return domainProblem(o.value, false);
    case "url":
      return urlProblem(o.value);
    case "email-addr":
      return emailProblem(o.value);
    case "file": {
      if (!o.hash) return "file observable has no hash algorithm";
      const len = HASH_HEX_LENGTH[o.hash];
      if (!isHex(o.value)) return `${o.hash} value "${o.value}" is not hexadecimal`;
      if (o.value.length !== len) {
        return `${o.hash} value "${o.value}" has ${o.value.length} hex digits (expected ${len})`;
      }
      return undefined;
    }
    default:
      return `observable type "${(o as { type: string }).type}" is not supported`;
  }
}

/** True when `value` is one or more hexadecimal digits. */
function isHex(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= DIGIT_0 && c <= DIGIT_9) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) {
      return false;
    }
  }
  return true;
}

/** Writes an IPv6 address with all eight groups (Defender needs them), or undefined if invalid. */
export function expandIpv6(value: string): string | undefined {
  if (ipv6Problem(value)) return undefined;
  let v = value;
  const last = v.slice(v.lastIndexOf(":") + 1);
  if (last.includes(".")) {
    const [a, b, c, d] = last.split(".").map(Number) as [number, number, number, number];
    v = `${v.slice(0, v.lastIndexOf(":") + 1)}${((a << 8) | b).toString(16)}:${
      ((c << 8) | d).toString(16)
    }`;
  }
  const [h, t] = v.split("::") as [string, string | undefined];
  const head = h === "" ? [] : h.split(":");
  const tail = t === undefined || t === "" ? [] : t.split(":");
  const fill = t === undefined ? [] : Array(8 - head.length - tail.length).fill("0");
  return [...head, ...fill, ...tail].map((g) => g.toLowerCase().padStart(4, "0")).join(":");
}
