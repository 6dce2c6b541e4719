/** Identity helpers: scopes, authorities, PEM handling and client assertions. */
import assert from "node:assert/strict";
import { base64url, decodeJwt, decodeProtectedHeader, importX509, jwtVerify } from "jose";
import {
  buildClientAssertion,
  CredentialError,
  loadSigner,
  pemBlocks,
  privateKeyDer,
  toPem,
} from "../../src/microsoft/assertion.ts";
import { normalizeAuthority, resourceOf, scopeFor, tokenUrl } from "../../src/microsoft/scopes.ts";
import { createTestCertificate, tlv } from "./cert_helper.ts";

Deno.test("scopeFor() appends /.default to a resource URL once", () => {
  assert.equal(scopeFor("https://graph.microsoft.com"), "https://graph.microsoft.com/.default");
  assert.equal(scopeFor("https://management.azure.com/"), "https://management.azure.com/.default");
  assert.equal(
    scopeFor("https://api.securitycenter.microsoft.com/.default"),
    "https://api.securitycenter.microsoft.com/.default",
  );
  assert.equal(resourceOf("https://graph.microsoft.com/.default"), "https://graph.microsoft.com");
  assert.throws(() => scopeFor(" "), TypeError);
});

Deno.test("tokenUrl() builds the v2 endpoint and tolerates a trailing slash on LOGIN_URL", () => {
  assert.equal(
    tokenUrl("https://login.microsoftonline.com/", "contoso.onmicrosoft.com"),
    "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
  );
  assert.equal(
    tokenUrl("https://login.chinacloudapi.cn", "11111111-2222-3333-4444-555555555555"),
    "https://login.chinacloudapi.cn/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token",
  );
  assert.equal(normalizeAuthority("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
  assert.throws(() => normalizeAuthority("http://login.microsoftonline.com"), TypeError);
  assert.throws(() => normalizeAuthority("login.microsoftonline.com"), TypeError);
});

Deno.test("loadSigner() accepts a PKCS#1 key and a single file holding key and certificate", async () => {
  const cert = await createTestCertificate();
  // PKCS#8 from Web Crypto: SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING { PKCS#1 } }.
  const pkcs1 = cert.pkcs8.slice(26);
  assert.equal(pkcs1[0], 0x30, "the slice starts at the RSAPrivateKey SEQUENCE");
  assert.deepEqual(privateKeyDer(toPem("RSA PRIVATE KEY", pkcs1)), cert.pkcs8);
  const combined = `${toPem("RSA PRIVATE KEY", pkcs1)}${cert.certificatePem}`;
  const signer = await loadSigner(combined, combined);
  const assertion = await buildClientAssertion(signer, {
    clientId: "c",
    audience: "https://login.microsoftonline.com/t/oauth2/v2.0/token",
  });
  const key = await importX509(cert.certificatePem, "PS256");
  const { payload } = await jwtVerify(assertion, key, {
    audience: "https://login.microsoftonline.com/t/oauth2/v2.0/token",
    issuer: "c",
    subject: "c",
  });
  assert.equal(typeof payload.jti, "string");
});

Deno.test("buildClientAssertion() caps the lifetime at 10 minutes and uses the injected time", async () => {
  const cert = await createTestCertificate();
  const signer = await loadSigner(cert.certificatePem, cert.privateKeyPem, { alg: "RS256" });
  const nowMs = Date.parse("2026-05-01T12:00:00.900Z");
  const assertion = await buildClientAssertion(
    signer,
    { clientId: "c", audience: "https://example.test/t/oauth2/v2.0/token" },
    { nowMs, lifetimeSeconds: 3600, jti: "fixed" },
  );
  const claims = decodeJwt(assertion);
  assert.equal(claims.nbf, Date.parse("2026-05-01T12:00:00Z") / 1000);
  assert.equal(claims.exp, (claims.nbf ?? 0) + 600);
  assert.equal(claims.jti, "fixed");
  const sha1 = new Uint8Array(await crypto.subtle.digest("SHA-1", cert.der));
  assert.deepEqual(decodeProtectedHeader(assertion), {
    alg: "RS256",
    typ: "JWT",
    x5t: base64url.encode(sha1),
  });
});

Deno.test("x5t encoding matches the documented example (hex 84E05C1D… → hOBcHZi8…)", () => {
  const hex = "84E05C1D98BCE3A5421D225B140B36E86A3D5534";
  const bytes = Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
  assert.equal(base64url.encode(bytes), "hOBcHZi846VCHSJbFAs26Go9VTQ");
});

Deno.test("privateKeyDer() explains how to convert an encrypted key", () => {
  const encrypted = toPem("ENCRYPTED PRIVATE KEY", tlv(0x30));
  assert.throws(
    () => privateKeyDer(encrypted),
    (error: unknown) =>
      error instanceof CredentialError && error.part === "privateKey" &&
      /pkcs8 -topk8 -nocrypt/.test(error.message),
  );
  const legacy =
    "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES\n\nAAAA\n" +
    "-----END RSA PRIVATE KEY-----\n";
  assert.equal(pemBlocks(legacy)[0]?.label, "ENCRYPTED RSA PRIVATE KEY");
  assert.throws(() => privateKeyDer(legacy), CredentialError);
});
