/** Managed identity token sources (IMDS and IDENTITY_ENDPOINT) against the simulator, on a fake clock. */
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { withLogs } from "../log/capture.ts";
import {
  IMDS_API_VERSION,
  managedIdentityBackoffMs,
  ManagedIdentityError,
  type ManagedIdentityOptions,
  managedIdentityResource,
  ManagedIdentityTokenSource,
} from "../../src/microsoft/managed_identity.ts";
import { SCOPES } from "../../src/microsoft/scopes.ts";
import { createEntraSimApp, type EntraSimApp } from "../../src/sim/entra.ts";
import {
  type ManagedIdentitySim,
  type SimIdentity,
  startManagedIdentitySim,
} from "../../src/sim/managed_identity.ts";
import { FakeClock } from "../runtime/fake_clock.ts";

const TENANT = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const SYSTEM = "5d0c1b2a-3f4e-4d5c-8b6a-7f8e9d0c1b2a";
const USER = "0e1d2c3b-4a59-4867-9564-738291a0b1c2";
const GRAPH_ROLES = { "https://graph.microsoft.com": ["ThreatIndicators.ReadWrite.OwnedBy"] };

interface Setup extends AsyncDisposable {
  clock: FakeClock;
  entra: EntraSimApp;
  sim: ManagedIdentitySim;
  imds(options?: Partial<ManagedIdentityOptions>): ManagedIdentityTokenSource;
  appService(options?: Partial<ManagedIdentityOptions>): ManagedIdentityTokenSource;
}

function setup(
  identities: { systemAssigned?: SimIdentity; userAssigned?: SimIdentity[] } = {
    systemAssigned: { clientId: SYSTEM, roles: GRAPH_ROLES },
    userAssigned: [{ clientId: USER, roles: GRAPH_ROLES }],
  },
): Setup {
  const clock = new FakeClock(Date.parse("2026-03-01T00:00:00Z"));
  const entra = createEntraSimApp({ now: clock.now });
  const sim = startManagedIdentitySim({ entra, tenantId: TENANT, now: clock.now, ...identities });
  const common = { now: clock.now, sleep: clock.sleep, random: () => 0.5 };
  return {
    clock,
    entra,
    sim,
    imds: (options = {}) =>
      new ManagedIdentityTokenSource({
        endpoint: { kind: "imds", url: sim.imdsUrl },
        ...common,
        ...options,
      }),
    appService: (options = {}) =>
      new ManagedIdentityTokenSource({
        endpoint: { kind: "app_service", url: sim.identityEndpoint, header: sim.identityHeader },
        ...common,
        ...options,
      }),
    [Symbol.asyncDispose]: () => sim.close(),
  };
}

Deno.test("managedIdentityResource() turns a v2 scope into the managed identity resource", () => {
  assert.equal(managedIdentityResource(SCOPES.graph), "https://graph.microsoft.com");
  assert.equal(managedIdentityResource(SCOPES.management), "https://management.azure.com");
  assert.equal(
    managedIdentityResource("https://securitycenter.onmicrosoft.com/windowsatpservice/.default"),
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
  );
  assert.equal(managedIdentityResource("https://vault.azure.net"), "https://vault.azure.net");
  assert.throws(
    () => managedIdentityResource(`${SCOPES.graph} ${SCOPES.management}`),
    ManagedIdentityError,
  );
});

Deno.test("managedIdentityBackoffMs() follows Microsoft's IMDS guidance: ~2, 6, 14, 30 s, capped at 60 s", () => {
  const middle = () => 0.5;
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => managedIdentityBackoffMs(n, middle)), [
    2_000,
    6_000,
    14_000,
    30_000,
    60_000,
    60_000,
  ]);
  assert.equal(managedIdentityBackoffMs(1, () => 0), 1_600);
});

Deno.test("IMDS: the system-assigned identity gets a Graph token the Graph simulator's verifier accepts", async () => {
  await using s = setup();
  const token = await s.imds().getToken(SCOPES.graph);
  const claims = await s.entra.verifyAccessToken(token, ["https://graph.microsoft.com"]);
  assert.equal(claims.appid, SYSTEM);
  assert.equal(claims.tid, TENANT);
  assert.deepEqual(claims.roles, ["ThreatIndicators.ReadWrite.OwnedBy"]);
  assert.deepEqual(s.sim.control.requests(), [{
    endpoint: "imds",
    resource: "https://graph.microsoft.com",
    clientId: "",
    apiVersion: IMDS_API_VERSION,
    headerOk: true,
  }]);
});

Deno.test("IMDS: a user-assigned identity is asked for by client_id", async () => {
  await using s = setup();
  const token = await s.imds({ clientId: USER }).getToken(SCOPES.graph);
  const claims = await s.entra.verifyAccessToken(token, ["https://graph.microsoft.com"]);
  assert.equal(claims.appid, USER);
  assert.equal(s.sim.control.requests()[0]?.clientId, USER);
});

Deno.test("IDENTITY_ENDPOINT: App Service style tokens (expires_on only) for system and user-assigned identities", async () => {
  await using s = setup();
  const system = await s.appService().getToken(SCOPES.management);
  assert.equal(
    (await s.entra.verifyAccessToken(system, ["https://management.azure.com"])).appid,
    SYSTEM,
  );
  const user = await s.appService({ clientId: USER }).getToken(SCOPES.graph);
  assert.equal(
    (await s.entra.verifyAccessToken(user, ["https://graph.microsoft.com"])).appid,
    USER,
  );
  const seen = s.sim.control.requests();
  assert.deepEqual(seen.map((r) => [r.endpoint, r.apiVersion, r.clientId, r.headerOk]), [
    ["app_service", "2019-08-01", "", true],
    ["app_service", "2019-08-01", USER, true],
  ]);
});

Deno.test("ManagedIdentityTokenSource shares one request among concurrent callers and caches per resource", async () => {
  await using s = setup();
  const source = s.imds();
  const tokens = await Promise.all(Array.from({ length: 10 }, () => source.getToken(SCOPES.graph)));
  assert.equal(new Set(tokens).size, 1);
  assert.equal(s.sim.control.requests().length, 1);
  assert.equal(await source.getToken(SCOPES.graph), tokens[0]);
  assert.equal(s.sim.control.requests().length, 1);
  await source.getToken(SCOPES.management);
  assert.equal(s.sim.control.requests().length, 2);
});

Deno.test("ManagedIdentityTokenSource refreshes ahead of expiry, and after invalidate()", async () => {
  await using s = setup();
  s.entra.control.setTokenLifetimeSeconds(3600);
  const source = s.appService();
  const first = await source.getToken(SCOPES.graph);
  s.clock.advance(3600 * 900 - 1_000); // just before 0.9 × lifetime
  assert.equal(await source.getToken(SCOPES.graph), first);
  assert.equal(s.sim.control.requests().length, 1);
  s.clock.advance(2_000); // past the refresh point, before expiry
  const second = await source.getToken(SCOPES.graph);
  assert.notEqual(second, first);
  assert.equal(s.sim.control.requests().length, 2);
  source.invalidate(SCOPES.graph);
  await source.getToken(SCOPES.graph);
  assert.equal(s.sim.control.requests().length, 3);
});

Deno.test("ManagedIdentityTokenSource keeps serving a valid token when an early refresh fails", async () => {
  await using s = setup();
  s.entra.control.setTokenLifetimeSeconds(3600);
  const source = s.imds({ attempts: 1 });
  const first = await source.getToken(SCOPES.graph);
  s.clock.advance(3_300_000);
  s.sim.control.failNext(500);
  assert.equal(await source.getToken(SCOPES.graph), first);
});

Deno.test("IMDS without any identity: the error says no managed identity is assigned to this VM", async () => {
  await using s = setup({});
  const error = await s.imds().getToken(SCOPES.graph).then(
    () => assert.fail("expected an error"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ManagedIdentityError);
  assert.match(error.message, /no managed identity is assigned to this VM/);
  assert.match(error.message, /Identity not found/);
  assert.equal(error.status, 400);
  assert.equal(error.retryable, false);
  assert.equal(s.sim.control.requests().length, 1, "a 400 is not retried");
  assert.deepEqual(s.clock.sleeps, []);
});

Deno.test("IMDS with an unknown user-assigned client id: the error names that identity", async () => {
  await using s = setup();
  const unknown = "99999999-8888-4777-8666-555555555555";
  await assert.rejects(
    s.imds({ clientId: unknown }).getToken(SCOPES.graph),
    (e: unknown) =>
      e instanceof ManagedIdentityError &&
      e.message.includes(`user-assigned identity ${unknown} not found`) &&
      e.setting === "CLIENT_ID (or AZURE_CLIENT_ID)",
  );
});

Deno.test("IDENTITY_ENDPOINT with an unknown user-assigned identity: 'Unable to load the proper Managed Identity' is explained", async () => {
  await using s = setup();
  const unknown = "99999999-8888-4777-8666-555555555555";
  await assert.rejects(
    s.appService({ clientId: unknown }).getToken(SCOPES.graph),
    /user-assigned identity 99999999-8888-4777-8666-555555555555 not found on this app.*Unable to load the proper Managed Identity/,
  );
});

Deno.test("IDENTITY_ENDPOINT with a wrong IDENTITY_HEADER: the error names IDENTITY_HEADER and is not retried", async () => {
  await using s = setup();
  const source = new ManagedIdentityTokenSource({
    endpoint: { kind: "app_service", url: s.sim.identityEndpoint, header: "stale-header-value" },
    now: s.clock.now,
    sleep: s.clock.sleep,
  });
  await assert.rejects(
    source.getToken(SCOPES.graph),
    (e: unknown) =>
      e instanceof ManagedIdentityError && /rejected IDENTITY_HEADER/.test(e.message) &&
      e.setting === "IDENTITY_HEADER" && !e.message.includes("stale-header-value"),
  );
  assert.equal(s.sim.control.requests().length, 1);
});

Deno.test("IDENTITY_ENDPOINT without IDENTITY_HEADER: the constructor says IDENTITY_HEADER missing", () => {
  assert.throws(
    () =>
      new ManagedIdentityTokenSource({
        endpoint: { kind: "app_service", url: "http://127.0.0.1:1/msi/token", header: "" },
      }),
    (e: unknown) =>
      e instanceof ManagedIdentityError && /^IDENTITY_HEADER missing/.test(e.message) &&
      e.setting === "IDENTITY_HEADER",
  );
});

Deno.test("IMDS 429 with Retry-After, then 5xx: retried after the server's wait, then with backoff", async () => {
  await using s = setup();
  s.sim.control.failNext(429, 1, 7);
  s.sim.control.failNext(503, 2);
  const token = await s.imds().getToken(SCOPES.graph);
  assert.ok(token.length > 0);
  assert.deepEqual(s.clock.sleeps, [7_000, 6_000, 14_000]);
  assert.equal(s.sim.control.requests().length, 4);
});

Deno.test("IMDS 404 and 410 (updating) are retried; 410 waits 10 s at a time", async () => {
  await using s = setup();
  s.sim.control.failNext(404, 1);
  s.sim.control.failNext(410, 3);
  await s.imds().getToken(SCOPES.graph);
  assert.deepEqual(s.clock.sleeps, [2_000, 10_000, 10_000, 10_000]);
});

Deno.test("IMDS 5xx on every attempt: gives up after 5 attempts with a message naming the status", async () => {
  await using s = setup();
  s.sim.control.failNext(500, 10);
  await assert.rejects(
    s.imds().getToken(SCOPES.graph),
    (e: unknown) => e instanceof ManagedIdentityError && e.status === 500 && e.retryable,
  );
  assert.equal(s.sim.control.requests().length, 5);
  assert.deepEqual(s.clock.sleeps, [2_000, 6_000, 14_000, 30_000]);
});

Deno.test("IMDS unreachable: the error says where this program must run", async () => {
  const clock = new FakeClock();
  const source = new ManagedIdentityTokenSource({
    endpoint: { kind: "imds", url: "http://127.0.0.1:9/metadata/identity/oauth2/token" },
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    attempts: 2,
  });
  await assert.rejects(
    source.getToken(SCOPES.graph),
    /Cannot reach the managed identity endpoint .*Azure VM, scale set or AKS node/,
  );
  assert.deepEqual(clock.sleeps, [2_000]);
});

Deno.test("ManagedIdentityTokenSource logs the resource and identity, never the token or IDENTITY_HEADER", async () => {
  const secrets: string[] = [];
  const lines = await withLogs(["mi-test"], async () => {
    await using s = setup();
    const logger = getLogger(["mi-test"]);
    secrets.push(s.sim.identityHeader);
    s.sim.control.failNext(503);
    secrets.push(await s.appService({ logger, clientId: USER }).getToken(SCOPES.graph));
    secrets.push(await s.imds({ logger }).getToken(SCOPES.graph));
    await assert.rejects(
      s.imds({ logger, clientId: "00000000-0000-4000-8000-000000000000" })
        .getToken(SCOPES.graph),
    );
  });
  const all = lines.join("\n");
  assert.ok(lines.length >= 4, `expected log lines, got ${lines.length}`);
  assert.match(all, /Got a managed identity token/);
  for (const secret of secrets) assert.ok(!all.includes(secret), "a secret reached the log");
});
