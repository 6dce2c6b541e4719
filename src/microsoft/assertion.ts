/** Client assertions for Entra ID certificate credentials: PEM parsing, thumbprints, signing. */
import { base64url, importX509, SignJWT } from "jose";

/** The algorithms Entra ID accepts for client assertions. */
export type AssertionAlg = "PS256" | "RS256";

/** A problem with the certificate or private key material; `part` says which file to fix. */
export class CredentialError extends Error {
  /** The error's name. */
  override name = "CredentialError";
  /** Which input is at fault. */
  readonly part: "certificate" | "privateKey";

  /** Builds the error for one part of the credential. */
  constructor(message: string, part: "certificate" | "privateKey", options?: ErrorOptions) {
    super(message, options);
    this.part = part;
  }
}

/** One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`...) and DER bytes. */
export interface PemBlock {
  /** The label between `BEGIN` and the dashes. */
  label: string;
  /** The decoded DER bytes. */
  der: Uint8Array<ArrayBuffer>;
}

/** All PEM blocks of a text (a file may hold a key and a certificate chain). */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (const match of text.matchAll(re)) {
    const body = (match[2] ?? "").replace(/[\r\n\t ]/g, "");
    // Encapsulated headers (Proc-Type, DEK-Info) mean an encrypted legacy key.
    if (body.includes(":")) {
      blocks.push({ label: `ENCRYPTED ${match[1]}`, der: new Uint8Array() });
      continue;
    }
    blocks.push({ label: match[1] ?? "", der: decodeBase64(body) });
  }
  return blocks;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Wraps DER bytes as PEM with the given label. */
export function toPem(label: string, der: Uint8Array): string {
  const lines = encodeBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The DER bytes of the first certificate in a PEM text (the leaf, by convention). */
export function certificateDer(pem: string): Uint8Array<ArrayBuffer> {
  const block = pemBlocks(pem).find((b) => b.label === "CERTIFICATE");
  if (!block || block.der.length === 0) {
    throw new CredentialError(
      "The certificate file holds no PEM certificate (-----BEGIN CERTIFICATE-----): " +
        "export the certificate as PEM",
      "certificate",
    );
  }
  return block.der;
}

/** The PKCS#8 DER of the RSA private key in a PEM text (PKCS#1 keys are wrapped). */
export function privateKeyDer(pem: string): Uint8Array<ArrayBuffer> {
  const blocks = pemBlocks(pem);
  const pkcs8 = blocks.find((b) => b.label === "PRIVATE KEY");
  if (pkcs8) return pkcs8.der;
  const pkcs1 = blocks.find((b) => b.label === "RSA PRIVATE KEY");
  if (pkcs1) return wrapPkcs1(pkcs1.der);
  if (blocks.some((b) => b.label.startsWith("ENCRYPTED"))) {
    throw new CredentialError(
      "The private key is encrypted: store it unencrypted as PKCS#8 " +
        "(openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pk8.pem) and protect the file instead",
      "privateKey",
    );
  }
  throw new CredentialError(
    "The private key file holds no PEM RSA private key (-----BEGIN PRIVATE KEY-----)",
    "privateKey",
  );
}

function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return [0x80 | bytes.length, ...bytes];
}

/** PKCS#1 RSAPrivateKey → PKCS#8 PrivateKeyInfo (version 0, rsaEncryption, NULL). */
function wrapPkcs1(pkcs1: Uint8Array): Uint8Array<ArrayBuffer> {
  const version = [0x02, 0x01, 0x00];
  // SEQUENCE { OID 1.2.840.113549.1.1.1 (rsaEncryption), NULL }
  const algorithm = [
    0x30,
    0x0d,
    0x06,
    0x09,
    0x2a,
    0x86,
    0x48,
    0x86,
    0xf7,
    0x0d,
    0x01,
    0x01,
    0x01,
    0x05,
    0x00,
  ];
  const octets = [0x04, ...derLength(pkcs1.length)];
  const content = version.length + algorithm.length + octets.length + pkcs1.length;
  const head = [0x30, ...derLength(content), ...version, ...algorithm, ...octets];
  const out = new Uint8Array(head.length + pkcs1.length);
  out.set(head, 0);
  out.set(pkcs1, head.length);
  return out;
}

/** The certificate thumbprints Entra ID matches: `x5t` (SHA-1) and `x5t#S256` (SHA-256), base64url. */
export async function thumbprints(der: Uint8Array<ArrayBuffer>): Promise<{
  x5t: string;
  x5tS256: string;
}> {
  const sha1 = new Uint8Array(await crypto.subtle.digest("SHA-1", der));
  const sha256 = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return { x5t: base64url.encode(sha1), x5tS256: base64url.encode(sha256) };
}

/** A loaded certificate credential, ready to sign assertions. */
export interface AssertionSigner {
  /** The signing algorithm. */
  alg: AssertionAlg;
  /** The private key (not extractable). */
  key: CryptoKey;
  /** The protected header fields other than `alg` and `typ`. */
  thumbprintHeader: { x5t: string } | { "x5t#S256": string };
}

function algorithmOf(alg: AssertionAlg): RsaHashedImportParams {
  return { name: alg === "PS256" ? "RSA-PSS" : "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
}

function signParams(alg: AssertionAlg): AlgorithmIdentifier | RsaPssParams {
  return alg === "PS256" ? { name: "RSA-PSS", saltLength: 32 } : { name: "RSASSA-PKCS1-v1_5" };
}

/**
 * Loads the certificate and private key, checks that they belong together, and computes the
 * thumbprint header: `x5t#S256` for PS256 (the default), `x5t` for RS256.
 */
export async function loadSigner(
  certificatePem: string,
  privateKeyPem: string,
  options: {
    /** The assertion algorithm. @default "PS256" */
    alg?: AssertionAlg;
  } = {},
): Promise<AssertionSigner> {
  const alg = options.alg ?? "PS256";
  const certDer = certificateDer(certificatePem);
  const keyDer = privateKeyDer(privateKeyPem);
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("pkcs8", keyDer, algorithmOf(alg), false, ["sign"]);
  } catch (cause) {
    throw new CredentialError(
      "The private key cannot be read as an RSA key: use the certificate's RSA private key in " +
        "PEM (PKCS#8 or PKCS#1)",
      "privateKey",
      { cause },
    );
  }
  let publicKey: CryptoKey;
  try {
    publicKey = await importX509(toPem("CERTIFICATE", certDer), alg);
  } catch (cause) {
    throw new CredentialError(
      "The certificate cannot be parsed or has no RSA public key: use an RSA certificate in PEM",
      "certificate",
      { cause },
    );
  }
  const probe = new TextEncoder().encode("octi-connectors key pair check");
  const signature = await crypto.subtle.sign(signParams(alg), key, probe);
  if (!(await crypto.subtle.verify(signParams(alg), publicKey, signature, probe))) {
    throw new CredentialError(
      "The private key does not belong to the certificate: pair the certificate with its own key",
      "privateKey",
    );
  }
  const prints = await thumbprints(certDer);
  return {
    alg,
    key,
    thumbprintHeader: alg === "PS256" ? { "x5t#S256": prints.x5tS256 } : { x5t: prints.x5t },
  };
}

/** Options of {@linkcode buildClientAssertion}. */
export interface AssertionOptions {
  /** Current time in epoch ms. @default Date.now() */
  nowMs?: number;
  /** The assertion id. @default crypto.randomUUID() */
  jti?: string;
  /** Lifetime in seconds (Entra clients use at most 600). @default 600 */
  lifetimeSeconds?: number;
}

/** Signs a client assertion: aud = the token URL, iss = sub = client id, fresh jti, nbf/iat/exp. */
export async function buildClientAssertion(
  signer: AssertionSigner,
  claims: { clientId: string; audience: string },
  options: AssertionOptions = {},
): Promise<string> {
  const nowSeconds = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const lifetime = Math.min(options.lifetimeSeconds ?? 600, 600);
  return await new SignJWT({})
    .setProtectedHeader({ alg: signer.alg, typ: "JWT", ...signer.thumbprintHeader })
    .setAudience(claims.audience)
    .setIssuer(claims.clientId)
    .setSubject(claims.clientId)
    .setJti(options.jti ?? crypto.randomUUID())
    .setNotBefore(nowSeconds)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + lifetime)
    .sign(signer.key);
}
