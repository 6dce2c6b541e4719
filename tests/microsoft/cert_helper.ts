/**
 * Test-only helper: a throwaway RSA key pair and a self-signed X.509 certificate, made at test
 * time with Web Crypto and a minimal DER writer (RFC 5280 layout, sha256WithRSAEncryption).
 */

/** A throwaway certificate with its private key, in PEM. */
export interface TestCertificate {
  /** `-----BEGIN CERTIFICATE-----` PEM. */
  certificatePem: string;
  /** `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM. */
  privateKeyPem: string;
  /** The certificate's DER bytes. */
  der: Uint8Array<ArrayBuffer>;
  /** The PKCS#8 DER of the private key. */
  pkcs8: Uint8Array<ArrayBuffer>;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function length(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** A DER TLV. */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = concat(content);
  return concat([Uint8Array.of(tag), length(body.length), body]);
}

const seq = (...c: Uint8Array[]) => tlv(0x30, ...c);
const set = (...c: Uint8Array[]) => tlv(0x31, ...c);
const nul = () => Uint8Array.of(0x05, 0x00);

function oid(dotted: string): Uint8Array {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * a + b];
  for (const part of rest) {
    const chunk: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) {
      chunk.unshift((v & 0x7f) | 0x80);
    }
    bytes.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(bytes));
}

function integer(bytes: Uint8Array): Uint8Array {
  const positive = (bytes[0] ?? 0) & 0x80 ? concat([Uint8Array.of(0), bytes]) : bytes;
  return tlv(0x02, positive);
}

function utcTime(date: Date): Uint8Array {
  const iso = date.toISOString(); // 2026-01-01T00:00:00.000Z
  const text = iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) +
    iso.slice(14, 16) + iso.slice(17, 19) + "Z";
  return tlv(0x17, new TextEncoder().encode(text));
}

function name(commonName: string): Uint8Array {
  return seq(set(seq(oid("2.5.4.3"), tlv(0x0c, new TextEncoder().encode(commonName)))));
}

function pem(label: string, der: Uint8Array): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Makes a fresh RSA-2048 key pair and a self-signed certificate valid for a year from `notBefore`. */
export async function createTestCertificate(
  options: {
    /** The subject and issuer common name. @default "octi-connectors test" */
    commonName?: string;
    /** Start of validity. @default now */
    notBefore?: Date;
  } = {},
): Promise<TestCertificate> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: Uint8Array.of(1, 0, 1),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const notBefore = options.notBefore ?? new Date();
  const notAfter = new Date(notBefore.getTime() + 365 * 24 * 3600 * 1000);
  const subject = name(options.commonName ?? "octi-connectors test");
  const sha256WithRsa = seq(oid("1.2.840.113549.1.1.11"), nul());
  const serial = crypto.getRandomValues(new Uint8Array(8));
  serial[0] = (serial[0] ?? 0) & 0x7f | 0x01;
  const tbs = seq(
    tlv(0xa0, integer(Uint8Array.of(2))), // [0] EXPLICIT version v3
    integer(serial),
    sha256WithRsa,
    subject,
    seq(utcTime(notBefore), utcTime(notAfter)),
    subject,
    spki,
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign("RSASSA-PKCS1-v1_5", pair.privateKey, tbs),
  );
  const der = seq(tbs, sha256WithRsa, tlv(0x03, Uint8Array.of(0), signature));
  return {
    certificatePem: pem("CERTIFICATE", der),
    privateKeyPem: pem("PRIVATE KEY", pkcs8),
    der,
    pkcs8,
  };
}
