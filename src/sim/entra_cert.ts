/**
 * Certificate handling of the Entra ID simulator, written from the public rules rather than taken
 * from the production assertion builder (`src/microsoft/assertion.ts`), so a thumbprint bug there
 * is caught here: PEM is RFC 7468 (base64 of the DER between `-----BEGIN CERTIFICATE-----` and
 * `-----END CERTIFICATE-----`), and Entra ID matches `x5t` = base64url (no padding) of the SHA-1
 * of the DER and `x5t#S256` = the same over SHA-256 ("Microsoft identity platform application
 * authentication certificate credentials"; RFC 7515 §4.1.7-4.1.8; reference microsoft.md §1.3).
 *
 * @module
 */

/** A registered certificate: its DER bytes, a clean PEM and its two thumbprints. */
export interface SimCertificate {
  /** The DER bytes of the first certificate of the PEM text. */
  der: Uint8Array<ArrayBuffer>;
  /** The same certificate as a single clean PEM block (for key import). */
  pem: string;
}

/** The first `CERTIFICATE` block of a PEM text; throws when there is none. */
export function readCertificatePem(text: string): SimCertificate {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  const body = match?.[1]?.replace(/\s+/g, "") ?? "";
  if (body === "") {
    throw new Error("The registered certificate holds no PEM block -----BEGIN CERTIFICATE-----");
  }
  const binary = atob(body);
  const der = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) der[i] = binary.charCodeAt(i);
  const lines = body.match(/.{1,64}/g) ?? [];
  return {
    der,
    pem: `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`,
  };
}

/** base64url without padding (RFC 4648 §5). */
export function base64UrlNoPad(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The `x5t` (SHA-1) and `x5t#S256` (SHA-256) thumbprints Entra ID compares. */
export async function certificateThumbprints(
  der: Uint8Array<ArrayBuffer>,
): Promise<{ x5t: string; x5tS256: string }> {
  const sha1 = new Uint8Array(await crypto.subtle.digest("SHA-1", der));
  const sha256 = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return { x5t: base64UrlNoPad(sha1), x5tS256: base64UrlNoPad(sha256) };
}
