/** The Entra ID simulator: credentials checks, assertion checks, errors, tokens, fault injection. */
import assert from "node:assert/strict";
import { createLocalJWKSet, decodeJwt, generateKeyPair, jwtVerify, SignJWT } from "jose";
import { buildClientAssertion, loadSigner } from "../../src/microsoft/assertion.ts";
import { SCOPES } from "../../src/microsoft/scopes.ts";
import { AccessTokenError, type EntraSim, startEntraSim } from "../../src/sim/entra.ts";
import { createTestCertificate, type TestCertificate } from "./cert_helper.ts";
import { CLIENT, fakeClock, GRAPH, SECRET, TENANT, testCertificate } from "./helpers.ts";

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async function post(
  sim: EntraSim,
  fields: Record<string, string>,
  options: { tenant?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${sim.url}/${options.tenant ?? TENANT}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...options.headers },
    body: new URLSearchParams(fields).toString(),
  });
  return {
    status: response.status,
    body: await response.json() as Record<string, unknown>,
    headers: response.headers,
  };
}

const secretForm = (extra: Record<string, string> = {}) => ({
  grant_type: "client_credentials",
  client_id: CLIENT,
  scope: SCOPES.graph,
  client_secret: SECRET,
  ...extra,
});

async function withSim(
  fn: (sim: EntraSim, clock: ReturnType<typeof fakeClock>) => Promise<void>,
): Promise<void> {
  const clock = fakeClock();
  const sim = await startEntraSim({ now: clock.now });
  try {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    await fn(sim, clock);
  } finally {
    await sim.close();
  }
}

function codeOf(reply: { body: Record<string, unknown> }): unknown {
  return (reply.body["error_codes"] as unknown[] | undefined)?.[0];
}

Deno.test("the Entra simulator answers errors in Entra's JSON shape with the AADSTS code", async () => {
  await withSim(async (sim) => {
    const reply = await post(sim, secretForm({ client_secret: "wrong" }), {
      headers: { "client-request-id": "0f0e0d0c-0b0a-0908-0706-050403020100" },
    });
    assert.equal(reply.status, 401);
    assert.equal(reply.body["error"], "invalid_client");
    assert.deepEqual(reply.body["error_codes"], [7000215]);
    assert.match(String(reply.body["error_description"]), /^AADSTS7000215: /);
    assert.match(String(reply.body["error_description"]), /\r\nTrace ID: /);
    assert.match(String(reply.body["timestamp"]), /^2026-03-01 00:00:00Z$/);
    assert.match(String(reply.body["trace_id"]), /^[0-9a-f-]{36}$/);
    assert.equal(reply.body["correlation_id"], "0f0e0d0c-0b0a-0908-0706-050403020100");
    assert.equal(reply.headers.get("client-request-id"), "0f0e0d0c-0b0a-0908-0706-050403020100");
  });
});

Deno.test("the Entra simulator checks tenant, grant, client, scope and credential", async () => {
  await withSim(async (sim) => {
    const expectations: Array<
      [Record<string, string>, string | undefined, number, string, number]
    > = [
      [secretForm(), "common", 400, "invalid_request", 9001023],
      [secretForm(), "not a tenant", 400, "invalid_request", 900023],
      [secretForm(), "22222222-2222-3333-4444-555555555555", 400, "invalid_request", 90002],
      [secretForm({ grant_type: "password" }), undefined, 400, "unsupported_grant_type", 70003],
      [secretForm({ resource: GRAPH }), undefined, 400, "invalid_request", 901002],
      [
        secretForm({ client_id: "00000000-0000-0000-0000-000000000000" }),
        undefined,
        400,
        "unauthorized_client",
        700016,
      ],
      [secretForm({ scope: GRAPH }), undefined, 400, "invalid_scope", 1002012],
      [
        secretForm({ scope: encodeURIComponent(SCOPES.graph) }),
        undefined,
        400,
        "invalid_scope",
        1002012,
      ],
      [
        secretForm({ scope: `${SCOPES.graph} ${SCOPES.management}` }),
        undefined,
        400,
        "invalid_scope",
        700022,
      ],
      [
        secretForm({ scope: "https://unknown.example.com/.default" }),
        undefined,
        400,
        "invalid_resource",
        500011,
      ],
      [
        { grant_type: "client_credentials", client_id: CLIENT, scope: SCOPES.graph },
        undefined,
        400,
        "invalid_request",
        7000218,
      ],
    ];
    for (const [form, tenant, status, error, code] of expectations) {
      const reply = await post(sim, form, tenant ? { tenant: encodeURIComponent(tenant) } : {});
      assert.deepEqual([reply.status, reply.body["error"], codeOf(reply)], [status, error, code]);
    }
  });
});

Deno.test("the Entra simulator accepts a client secret sent with HTTP Basic authentication", async () => {
  await withSim(async (sim) => {
    const reply = await post(
      sim,
      { grant_type: "client_credentials", scope: SCOPES.graph },
      { headers: { authorization: `Basic ${btoa(`${CLIENT}:${SECRET}`)}` } },
    );
    assert.equal(reply.status, 200);
    assert.equal(reply.body["token_type"], "Bearer");
  });
});

Deno.test("the Entra simulator mints RS256 tokens for the requested audience, verifiable from its JWKS", async () => {
  await withSim(async (sim, clock) => {
    sim.registerApp({
      tenantId: TENANT,
      clientId: CLIENT,
      secret: SECRET,
      roles: { "https://api.securitycenter.microsoft.com": ["Ti.ReadWrite.All"] },
    });
    sim.control.setTokenLifetimeSeconds(120);
    const reply = await post(sim, secretForm({ scope: SCOPES.defender }));
    assert.equal(reply.status, 200);
    assert.equal(reply.body["expires_in"], 120);
    assert.equal(reply.body["ext_expires_in"], 120);
    const token = String(reply.body["access_token"]);
    const claims = decodeJwt(token);
    assert.equal(claims.aud, "https://api.securitycenter.microsoft.com");
    assert.equal(claims.iat, clock.now() / 1000);
    assert.equal(claims.exp, clock.now() / 1000 + 120);
    const keys = await (await fetch(`${sim.url}/${TENANT}/discovery/v2.0/keys`)).json();
    const { payload } = await jwtVerify(token, createLocalJWKSet(keys), {
      currentDate: new Date(clock.now()),
    });
    assert.deepEqual(payload["roles"], ["Ti.ReadWrite.All"]);
    assert.deepEqual(await sim.jwks(), keys);
  });
});

Deno.test("verifyAccessToken() rejects a token minted for another audience", async () => {
  await withSim(async (sim) => {
    const token = String(
      (await post(sim, secretForm({ scope: SCOPES.management }))).body["access_token"],
    );
    assert.equal(
      (await sim.verifyAccessToken(token, ["https://management.azure.com"])).aud,
      "https://management.azure.com",
    );
    await assert.rejects(
      sim.verifyAccessToken(token, [GRAPH]),
      (error: unknown) => error instanceof AccessTokenError && error.reason === "audience",
    );
  });
});

Deno.test("verifyAccessToken() rejects an expired token", async () => {
  await withSim(async (sim, clock) => {
    sim.control.setTokenLifetimeSeconds(60);
    const token = String((await post(sim, secretForm())).body["access_token"]);
    clock.advance(59_000);
    await sim.verifyAccessToken(token, [GRAPH]);
    clock.advance(2_000);
    await assert.rejects(
      sim.verifyAccessToken(token, [GRAPH]),
      (error: unknown) => error instanceof AccessTokenError && error.reason === "expired",
    );
  });
});

Deno.test("verifyAccessToken() rejects a token signed by another key", async () => {
  await withSim(async (sim, clock) => {
    const other = await startEntraSim({ now: clock.now });
    try {
      other.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
      const forged = String((await post(other, secretForm())).body["access_token"]);
      await assert.rejects(
        sim.verifyAccessToken(forged, [GRAPH]),
        (error: unknown) => error instanceof AccessTokenError && error.reason === "signature",
      );
      await assert.rejects(
        sim.verifyAccessToken("not-a-jwt", [GRAPH]),
        (error: unknown) => error instanceof AccessTokenError && error.reason === "malformed",
      );
    } finally {
      await other.close();
    }
  });
});

async function assertionFor(
  sim: EntraSim,
  cert: TestCertificate,
  options: {
    alg?: "PS256" | "RS256";
    jti?: string;
    nowMs?: number;
    audience?: string;
    clientId?: string;
  } = {},
): Promise<string> {
  const signer = await loadSigner(cert.certificatePem, cert.privateKeyPem, {
    alg: options.alg ?? "PS256",
  });
  return await buildClientAssertion(
    signer,
    {
      clientId: options.clientId ?? CLIENT,
      audience: options.audience ?? `${sim.url}/${TENANT}/oauth2/v2.0/token`,
    },
    {
      ...(options.jti ? { jti: options.jti } : {}),
      ...(options.nowMs ? { nowMs: options.nowMs } : {}),
    },
  );
}

const assertionForm = (assertion: string) => ({
  grant_type: "client_credentials",
  client_id: CLIENT,
  scope: SCOPES.graph,
  client_assertion_type: JWT_BEARER,
  client_assertion: assertion,
});

Deno.test("the Entra simulator rejects a replayed client assertion jti", async () => {
  await withSim(async (sim, clock) => {
    const cert = await testCertificate();
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, certificatePem: cert.certificatePem });
    const jti = "00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
    const assertion = await assertionFor(sim, cert, { jti, nowMs: clock.now() });
    assert.equal((await post(sim, assertionForm(assertion))).status, 200);
    const replay = await post(sim, assertionForm(assertion));
    assert.equal(replay.status, 401);
    assert.equal(replay.body["error"], "invalid_client");
    assert.match(String(replay.body["error_description"]), /already been used/);
    // The same jti in a new assertion is a replay too.
    clock.advance(1_000);
    const again = await assertionFor(sim, cert, { jti, nowMs: clock.now() });
    assert.equal((await post(sim, assertionForm(again))).status, 401);
  });
});

Deno.test("the Entra simulator checks the assertion's thumbprint, signature, aud, iss/sub and time", async () => {
  await withSim(async (sim, clock) => {
    const cert = await testCertificate();
    const stranger = await createTestCertificate({ commonName: "stranger" });
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, certificatePem: cert.certificatePem });
    const now = clock.now();
    const cases: Array<[string, number, number]> = [
      [await assertionFor(sim, cert, { nowMs: now }), 200, 0],
      [await assertionFor(sim, cert, { alg: "RS256", nowMs: now }), 200, 0],
      [await assertionFor(sim, stranger, { nowMs: now }), 401, 700027],
      [
        await assertionFor(sim, cert, {
          nowMs: now,
          audience: "https://login.microsoftonline.com/x/oauth2/v2.0/token",
        }),
        401,
        700027,
      ],
      [
        await assertionFor(sim, cert, {
          nowMs: now,
          clientId: "bbbbbbbb-0000-0000-0000-000000000000",
        }),
        401,
        700021,
      ],
      [await assertionFor(sim, cert, { nowMs: now - 3600_000 }), 401, 700024],
      [await assertionFor(sim, cert, { nowMs: now + 3600_000 }), 401, 700024],
    ];
    // A valid x5t#S256 header on a signature made by another key.
    const signer = await loadSigner(cert.certificatePem, cert.privateKeyPem);
    const strangerSigner = await loadSigner(stranger.certificatePem, stranger.privateKeyPem);
    const forged = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: "PS256", typ: "JWT", ...signer.thumbprintHeader })
      .setAudience(`${sim.url}/${TENANT}/oauth2/v2.0/token`)
      .setIssuer(CLIENT)
      .setSubject(CLIENT)
      .setNotBefore(now / 1000)
      .setExpirationTime(now / 1000 + 600)
      .sign(strangerSigner.key);
    cases.push([forged, 401, 700027]);
    for (const [assertion, status, code] of cases) {
      const reply = await post(sim, assertionForm(assertion));
      assert.equal(reply.status, status, JSON.stringify(reply.body));
      if (code) assert.equal(codeOf(reply), code);
    }
  });
});

Deno.test("the Entra simulator injects 5xx answers, throttling and latency", async () => {
  const clock = fakeClock();
  const waits: number[] = [];
  const sim = await startEntraSim({
    now: clock.now,
    sleep: (ms) => (waits.push(ms), Promise.resolve()),
  });
  try {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    sim.control.failNext(503, 2);
    sim.control.throttleNext(1, 12);
    sim.control.failNext(500, 1, "<html>oops</html>");
    assert.equal((await post(sim, secretForm())).status, 503);
    assert.equal((await post(sim, secretForm())).status, 503);
    const throttled = await post(sim, secretForm());
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get("retry-after"), "12");
    assert.equal(codeOf(throttled), 90055);
    const html = await fetch(`${sim.url}/${TENANT}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(secretForm()).toString(),
    });
    assert.equal(html.status, 500);
    assert.equal(await html.text(), "<html>oops</html>");
    sim.control.setLatencyMs(250);
    assert.equal((await post(sim, secretForm())).status, 200);
    assert.deepEqual(waits, [250]);
    assert.equal(sim.control.requests().length, 5);
  } finally {
    await sim.close();
  }
});

Deno.test("the Entra simulator checks a federated token's issuer, subject and audience", async () => {
  await withSim(async (sim, clock) => {
    const keys = await generateKeyPair("RS256");
    const issuer = "https://oidc.example.test/cluster";
    const subject = "system:serviceaccount:octi:connectors";
    sim.registerApp({
      tenantId: TENANT,
      clientId: CLIENT,
      federated: { issuer, subject, key: keys.publicKey },
    });
    const token = (claims: { iss?: string; sub?: string; aud?: string; exp?: number }) =>
      new SignJWT({})
        .setProtectedHeader({ alg: "RS256" })
        .setIssuer(claims.iss ?? issuer)
        .setSubject(claims.sub ?? subject)
        .setAudience(claims.aud ?? "api://AzureADTokenExchange")
        .setExpirationTime(claims.exp ?? clock.now() / 1000 + 3600)
        .sign(keys.privateKey);
    const good = await token({});
    assert.equal((await post(sim, assertionForm(good))).status, 200);
    assert.equal((await post(sim, assertionForm(good))).status, 200, "federated tokens are reused");
    assert.equal(
      codeOf(await post(sim, assertionForm(await token({ iss: "https://evil.test" })))),
      700211,
    );
    assert.equal(
      codeOf(await post(sim, assertionForm(await token({ aud: "api://other" })))),
      700212,
    );
    assert.equal(
      codeOf(await post(sim, assertionForm(await token({ sub: "system:serviceaccount:x:y" })))),
      70021,
    );
    assert.equal(
      codeOf(await post(sim, assertionForm(await token({ exp: clock.now() / 1000 - 3600 })))),
      700024,
    );
  });
});
