/** TokenProvider against the Entra ID simulator: flows, caching, refresh, retries, logs. */
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { withLogs } from "../log/capture.ts";
import { base64url, decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import { HttpError } from "../../src/runtime/errors.ts";
import type { Fetch } from "../../src/runtime/http.ts";
import { SCOPES } from "../../src/microsoft/scopes.ts";
import {
  refreshAfterSeconds,
  TokenError,
  TokenProvider,
  type TokenProviderOptions,
  withTokenRetry,
} from "../../src/microsoft/token_provider.ts";
import { type EntraSim, startEntraSim } from "../../src/sim/entra.ts";
import { CLIENT, fakeClock, GRAPH, SECRET, TENANT, testCertificate } from "./helpers.ts";

const ROLES = { [GRAPH]: ["ThreatIndicators.ReadWrite.OwnedBy"] };

function recordingSleep() {
  const delays: number[] = [];
  return { delays, sleep: (ms: number) => (delays.push(ms), Promise.resolve()) };
}

/** A fetch that records each request's form fields before passing it on. */
function capturingFetch(forms: URLSearchParams[], urls: string[] = []): Fetch {
  return async (input, init) => {
    urls.push(String(input));
    forms.push(new URLSearchParams(String(init?.body ?? "")));
    return await fetch(input, init);
  };
}

async function withSim(
  clock: { now: () => number },
  fn: (sim: EntraSim) => Promise<void>,
): Promise<void> {
  const sim = await startEntraSim({ now: clock.now });
  try {
    await fn(sim);
  } finally {
    await sim.close();
  }
}

function secretProvider(
  sim: EntraSim,
  extra: Partial<TokenProviderOptions> = {},
): TokenProvider {
  return new TokenProvider({
    authority: sim.url,
    tenantId: TENANT,
    clientId: CLIENT,
    credential: { kind: "secret", secret: SECRET },
    sleep: () => Promise.resolve(),
    ...extra,
  });
}

Deno.test("TokenProvider gets a Graph token with a client secret, form-encoded once", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET, roles: ROLES });
    const forms: URLSearchParams[] = [];
    const urls: string[] = [];
    const provider = secretProvider(sim, { now: clock.now, fetch: capturingFetch(forms, urls) });
    const token = await provider.getToken(SCOPES.graph);
    const claims = await sim.verifyAccessToken(token, [GRAPH]);
    assert.deepEqual(claims, {
      tid: TENANT,
      appid: CLIENT,
      aud: GRAPH,
      roles: ["ThreatIndicators.ReadWrite.OwnedBy"],
    });
    assert.deepEqual(urls, [`${sim.url}/${TENANT}/oauth2/v2.0/token`]);
    assert.equal(forms[0]?.get("scope"), SCOPES.graph);
    assert.equal(forms[0]?.get("grant_type"), "client_credentials");
    assert.equal(forms[0]?.get("client_secret"), SECRET);
    assert.deepEqual(sim.control.requests(), [
      {
        tenant: TENANT,
        clientId: CLIENT,
        scope: SCOPES.graph,
        grant: "client_credentials",
        credential: "secret",
      },
    ]);
  });
});

for (const alg of ["PS256", "RS256"] as const) {
  Deno.test(`TokenProvider signs a ${alg} client assertion the simulator accepts`, async () => {
    const clock = fakeClock();
    const cert = await testCertificate();
    await withSim(clock, async (sim) => {
      sim.registerApp({
        tenantId: TENANT,
        clientId: CLIENT,
        certificatePem: cert.certificatePem,
        roles: ROLES,
      });
      const forms: URLSearchParams[] = [];
      const provider = new TokenProvider({
        authority: `${sim.url}/`,
        tenantId: TENANT,
        clientId: CLIENT,
        credential: {
          kind: "certificate",
          certificatePem: cert.certificatePem,
          privateKeyPem: cert.privateKeyPem,
          ...(alg === "RS256" ? { alg } : {}),
        },
        fetch: capturingFetch(forms),
        now: clock.now,
      });
      const token = await provider.getToken(SCOPES.graph);
      assert.equal((await sim.verifyAccessToken(token, [GRAPH])).appid, CLIENT);
      // A second scope needs a second assertion; the simulator rejects a replayed jti.
      await provider.getToken(SCOPES.management);

      const assertion = forms[0]?.get("client_assertion") ?? "";
      assert.equal(
        forms[0]?.get("client_assertion_type"),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      );
      assert.equal(forms[0]?.has("client_secret"), false);
      const header = decodeProtectedHeader(assertion);
      const sha1 = base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-1", cert.der)));
      const sha256 = base64url.encode(
        new Uint8Array(await crypto.subtle.digest("SHA-256", cert.der)),
      );
      assert.deepEqual(
        header,
        alg === "PS256"
          ? { alg: "PS256", typ: "JWT", "x5t#S256": sha256 }
          : { alg: "RS256", typ: "JWT", x5t: sha1 },
      );
      const claims = decodeJwt(assertion);
      assert.equal(claims.aud, `${sim.url}/${TENANT}/oauth2/v2.0/token`);
      assert.equal(claims.iss, CLIENT);
      assert.equal(claims.sub, CLIENT);
      assert.equal(claims.nbf, clock.now() / 1000);
      assert.equal(claims.iat, clock.now() / 1000);
      assert.ok((claims.exp ?? 0) - (claims.nbf ?? 0) <= 600);
      const second = decodeJwt(forms[1]?.get("client_assertion") ?? "");
      assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);
      assert.notEqual(second.jti, claims.jti);
    });
  });
}

Deno.test("TokenProvider reads the workload identity token file again at each request", async () => {
  const clock = fakeClock();
  const issuer = "https://oidc.example.test/cluster";
  const subject = "system:serviceaccount:octi:connectors";
  const keys = await generateKeyPair("RS256");
  const projected = (n: number) =>
    new SignJWT({ n })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setIssuer(issuer)
      .setSubject(subject)
      .setAudience("api://AzureADTokenExchange")
      .setIssuedAt(clock.now() / 1000)
      .setExpirationTime(clock.now() / 1000 + 3600)
      .sign(keys.privateKey);
  const file = await Deno.makeTempFile({ suffix: ".jwt" });
  try {
    await withSim(clock, async (sim) => {
      sim.registerApp({
        tenantId: TENANT,
        clientId: CLIENT,
        federated: { issuer, subject, key: keys.publicKey },
        roles: ROLES,
      });
      const forms: URLSearchParams[] = [];
      const provider = new TokenProvider({
        authority: sim.url,
        tenantId: TENANT,
        clientId: CLIENT,
        credential: { kind: "federated", tokenFile: file },
        fetch: capturingFetch(forms),
        now: clock.now,
      });
      const first = await projected(1);
      await Deno.writeTextFile(file, `${first}\n`);
      const token = await provider.getToken(SCOPES.graph);
      assert.deepEqual((await sim.verifyAccessToken(token, [GRAPH])).roles, ROLES[GRAPH]);
      const rotated = await projected(2);
      await Deno.writeTextFile(file, rotated);
      await provider.getToken(SCOPES.defender);
      assert.deepEqual(forms.map((f) => f.get("client_assertion")), [first, rotated]);
    });
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("TokenProvider makes one token request for many concurrent callers", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    const provider = secretProvider(sim, { now: clock.now });
    const tokens = await Promise.all(
      Array.from({ length: 20 }, () => provider.getToken(SCOPES.graph)),
    );
    assert.equal(new Set(tokens).size, 1);
    assert.equal(await provider.getToken(SCOPES.graph), tokens[0]);
    assert.equal(sim.control.requests().length, 1);
    await provider.getToken(SCOPES.management);
    assert.equal(sim.control.requests().length, 2, "each scope has its own token");
  });
});

Deno.test("TokenProvider refreshes at 0.9 × expires_in, before the token expires", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    sim.control.setTokenLifetimeSeconds(3599);
    const provider = secretProvider(sim, { now: clock.now });
    const first = await provider.getToken(SCOPES.graph);
    clock.advance(3239_000); // 0.9 × 3599 s = 3239.1 s
    assert.equal(await provider.getToken(SCOPES.graph), first);
    clock.advance(1_000);
    const second = await provider.getToken(SCOPES.graph);
    assert.notEqual(second, first);
    assert.equal(sim.control.requests().length, 2);
    // The old token was still valid when it was replaced.
    await sim.verifyAccessToken(first, [GRAPH]);
  });
});

Deno.test("TokenProvider never assumes 3600 s: a 600 s token is refreshed after 300 s", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    sim.control.setTokenLifetimeSeconds(600);
    const provider = secretProvider(sim, { now: clock.now });
    await provider.getToken(SCOPES.graph);
    clock.advance(299_000);
    await provider.getToken(SCOPES.graph);
    assert.equal(sim.control.requests().length, 1);
    clock.advance(1_000);
    await provider.getToken(SCOPES.graph);
    assert.equal(sim.control.requests().length, 2);
  });
});

Deno.test("TokenProvider keeps serving a still-valid token when a refresh ahead of expiry fails", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    const provider = secretProvider(sim, { now: clock.now, attempts: 1 });
    const first = await provider.getToken(SCOPES.graph);
    clock.advance(3300_000);
    sim.control.failNext(503);
    assert.equal(await provider.getToken(SCOPES.graph), first);
    assert.notEqual(await provider.getToken(SCOPES.graph), first);
  });
});

Deno.test("withTokenRetry() refreshes the token once and retries once after a 401", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    const provider = secretProvider(sim, { now: clock.now });
    const stale = await provider.getToken(SCOPES.graph);
    const seen: string[] = [];
    const result = await withTokenRetry(provider, SCOPES.graph, (token) => {
      seen.push(token);
      if (token === stale) return Promise.reject(new HttpError("Unauthorized", 401));
      return Promise.resolve("ok");
    });
    assert.equal(result, "ok");
    assert.equal(seen.length, 2);
    assert.equal(seen[0], stale);
    assert.notEqual(seen[1], stale);
    assert.equal(sim.control.requests().length, 2);

    let calls = 0;
    await assert.rejects(
      withTokenRetry(provider, SCOPES.graph, () => {
        calls++;
        return Promise.reject(new HttpError("Unauthorized", 401));
      }),
      (error: unknown) => error instanceof HttpError && error.status === 401,
    );
    assert.equal(calls, 2, "a second 401 is not retried again");
    await assert.rejects(
      withTokenRetry(provider, SCOPES.graph, () => Promise.reject(new HttpError("Nope", 403))),
      HttpError,
    );
    assert.equal(sim.control.requests().length, 3, "a 403 does not refresh the token");
  });
});

Deno.test("TokenProvider retries Entra 5xx answers with backoff, then succeeds", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    sim.control.failNext(503, 2);
    const { delays, sleep } = recordingSleep();
    const provider = secretProvider(sim, { now: clock.now, sleep, random: () => 0.5 });
    const token = await provider.getToken(SCOPES.graph);
    await sim.verifyAccessToken(token, [GRAPH]);
    assert.deepEqual(delays, [250, 500]);
    assert.equal(sim.control.requests().length, 3);
  });
});

Deno.test("TokenProvider waits for Retry-After when Entra throttles with AADSTS90055", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    sim.control.throttleNext(1, 7);
    const { delays, sleep } = recordingSleep();
    const provider = secretProvider(sim, { now: clock.now, sleep });
    await provider.getToken(SCOPES.graph);
    assert.deepEqual(delays, [7000]);
  });
});

Deno.test("TokenProvider gives up after the configured attempts with a retryable TokenError", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    sim.control.failNext(500, 5);
    const provider = secretProvider(sim, { now: clock.now, attempts: 3 });
    await assert.rejects(provider.getToken(SCOPES.graph), (error: unknown) => {
      assert.ok(error instanceof TokenError);
      assert.equal(error.retryable, true);
      assert.equal(error.status, 500);
      assert.equal(error.code, 90033);
      return true;
    });
    assert.equal(sim.control.requests().length, 3);
  });
});

Deno.test("TokenProvider retries a network failure", async () => {
  const clock = fakeClock();
  await withSim(clock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    let failures = 1;
    const flaky: Fetch = (input, init) =>
      failures-- > 0 ? Promise.reject(new TypeError("connection reset")) : fetch(input, init);
    const { delays, sleep } = recordingSleep();
    const provider = secretProvider(sim, { now: clock.now, fetch: flaky, sleep });
    await provider.getToken(SCOPES.graph);
    assert.equal(delays.length, 1);
    assert.equal(sim.control.requests().length, 1);
  });
});

Deno.test("TokenProvider retries AADSTS700024 once with a fresh assertion, then names the clock", async () => {
  const simClock = fakeClock();
  const skewed = fakeClock(simClock.now() - 3600_000); // this machine is an hour late
  const cert = await testCertificate();
  await withSim(simClock, async (sim) => {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, certificatePem: cert.certificatePem });
    const forms: URLSearchParams[] = [];
    const provider = new TokenProvider({
      authority: sim.url,
      tenantId: TENANT,
      clientId: CLIENT,
      credential: {
        kind: "certificate",
        certificatePem: cert.certificatePem,
        privateKeyPem: cert.privateKeyPem,
        certificatePath: "/etc/octi/app.crt",
      },
      fetch: capturingFetch(forms),
      now: skewed.now,
      sleep: () => Promise.resolve(),
    });
    await assert.rejects(provider.getToken(SCOPES.graph), (error: unknown) => {
      assert.ok(error instanceof TokenError);
      assert.equal(error.code, 700024);
      assert.equal(error.setting, "CLIENT_CERTIFICATE_PATH");
      assert.match(error.message, /clock/);
      return true;
    });
    assert.equal(forms.length, 2);
    assert.notEqual(
      decodeJwt(forms[0]?.get("client_assertion") ?? "").jti,
      decodeJwt(forms[1]?.get("client_assertion") ?? "").jti,
    );
  });
});

Deno.test("TokenProvider lets a caller abort its wait without cancelling the shared request", async () => {
  const clock = fakeClock();
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const sim = await startEntraSim({ now: clock.now, sleep: () => gate });
  try {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
    sim.control.setLatencyMs(5_000);
    const provider = secretProvider(sim, { now: clock.now });
    const controller = new AbortController();
    const aborted = provider.getToken(SCOPES.graph, controller.signal);
    const patient = provider.getToken(SCOPES.graph);
    controller.abort(new Error("caller gave up"));
    await assert.rejects(aborted, /caller gave up/);
    release();
    await sim.verifyAccessToken(await patient, [GRAPH]);
    assert.equal(sim.control.requests().length, 1);
  } finally {
    release();
    await sim.close();
  }
});

Deno.test("TokenProvider accepts national-cloud authorities, a trailing slash and v1 string numbers", async () => {
  const clock = fakeClock();
  const urls: string[] = [];
  const fake: Fetch = (input) => {
    urls.push(String(input));
    return Promise.resolve(
      Response.json({ token_type: "Bearer", expires_in: "1000", access_token: "opaque-1" }),
    );
  };
  for (const authority of ["https://login.microsoftonline.us/", "https://login.microsoft.com"]) {
    const provider = new TokenProvider({
      authority,
      tenantId: "contoso.onmicrosoft.com",
      clientId: CLIENT,
      credential: { kind: "secret", secret: SECRET },
      fetch: fake,
      now: clock.now,
    });
    assert.equal(
      await provider.getToken("https://management.usgovcloudapi.net/.default"),
      "opaque-1",
    );
  }
  assert.deepEqual(urls, [
    "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token",
    "https://login.microsoft.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
  ]);
});

Deno.test("TokenProvider honours refresh_in when Entra sends it", async () => {
  const clock = fakeClock();
  let n = 0;
  const fake: Fetch = () =>
    Promise.resolve(
      Response.json({
        token_type: "Bearer",
        expires_in: 3599,
        refresh_in: 100,
        access_token: `t${++n}`,
      }),
    );
  const provider = new TokenProvider({
    authority: "https://login.microsoftonline.com",
    tenantId: TENANT,
    clientId: CLIENT,
    credential: { kind: "secret", secret: SECRET },
    fetch: fake,
    now: clock.now,
  });
  assert.equal(await provider.getToken(SCOPES.graph), "t1");
  clock.advance(99_000);
  assert.equal(await provider.getToken(SCOPES.graph), "t1");
  clock.advance(1_000);
  assert.equal(await provider.getToken(SCOPES.graph), "t2");
});

Deno.test("refreshAfterSeconds() follows min(expires_in − 300, 0.9 × expires_in) with a floor of half", () => {
  assert.equal(refreshAfterSeconds(3599), 3599 * 0.9);
  assert.equal(refreshAfterSeconds(5400), 4860);
  assert.equal(refreshAfterSeconds(2000), 1700);
  assert.equal(refreshAfterSeconds(1000), 700);
  assert.equal(refreshAfterSeconds(600), 300);
  assert.equal(refreshAfterSeconds(60), 30);
  assert.equal(refreshAfterSeconds(3599, 1800), 1800);
  assert.equal(refreshAfterSeconds(3599, 0), 3599 * 0.9);
  assert.equal(refreshAfterSeconds(3599, 4000), 3599 * 0.9);
});

Deno.test("TokenProvider logs trace and correlation ids but never the secret, assertion or token", async () => {
  const logger = getLogger(["identity-test"]);
  const clock = fakeClock();
  const cert = await testCertificate();
  const secrets: string[] = [SECRET];
  const lines = await withLogs(["identity-test"], async () => {
    await withSim(clock, async (sim) => {
      sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
      sim.registerApp({
        tenantId: TENANT,
        clientId: "cccc0000-0000-0000-0000-000000000000",
        certificatePem: cert.certificatePem,
      });
      const forms: URLSearchParams[] = [];
      const fetchAndRecord = capturingFetch(forms);
      const bySecret = secretProvider(sim, { now: clock.now, logger, fetch: fetchAndRecord });
      sim.control.failNext(503);
      secrets.push(await bySecret.getToken(SCOPES.graph));
      const byCert = new TokenProvider({
        authority: sim.url,
        tenantId: TENANT,
        clientId: "cccc0000-0000-0000-0000-000000000000",
        credential: {
          kind: "certificate",
          certificatePem: cert.certificatePem,
          privateKeyPem: cert.privateKeyPem,
        },
        now: clock.now,
        logger,
        fetch: fetchAndRecord,
      });
      secrets.push(await byCert.getToken(SCOPES.defender));
      const wrong = new TokenProvider({
        authority: sim.url,
        tenantId: TENANT,
        clientId: CLIENT,
        credential: { kind: "secret", secret: `${SECRET}-wrong` },
        now: clock.now,
        logger,
      });
      await assert.rejects(wrong.getToken(SCOPES.graph), TokenError);
      for (const form of forms) {
        const assertion = form.get("client_assertion");
        if (assertion) secrets.push(assertion);
      }
    });
  });
  assert.ok(secrets.length >= 3, "the test captured a secret, tokens and an assertion");
  assert.ok(lines.length >= 4, `expected several log lines, got ${lines.length}`);
  for (const line of lines) {
    for (const secret of secrets) {
      assert.ok(!line.includes(secret), `a log line leaks a secret: ${line.slice(0, 200)}`);
      assert.ok(!line.includes(secret.slice(0, 24)), "a log line leaks part of a secret");
    }
  }
  const failure = lines.find((l) => l.includes("7000215"));
  assert.ok(failure, "the failure is logged with its AADSTS code");
  assert.match(failure, /"traceId":"[0-9a-f-]{36}"/);
  assert.match(failure, /"correlationId":"[0-9a-f-]{36}"/);
  assert.ok(lines.some((l) => l.includes("retrying")), "the 503 retry is logged");
});
