/**
 * Managed identity on Azure Arc, Service Fabric, Cloud Shell and App Service's 2017 protocol,
 * against the simulator on a fake clock; the detection order of the environment.
 */
import assert from "node:assert/strict";
import {
  APP_SERVICE_2017_API_VERSION,
  AZURE_ARC_API_VERSION,
  detectManagedIdentity,
  fabricTrustProblem,
  ManagedIdentityError,
  type ManagedIdentityOptions,
  ManagedIdentityTokenSource,
  parseExpiresOn,
  SERVICE_FABRIC_API_VERSION,
} from "../../src/microsoft/managed_identity.ts";
import { SCOPES } from "../../src/microsoft/scopes.ts";
import { createEntraSimApp, type EntraSimApp } from "../../src/sim/entra.ts";
import {
  type ManagedIdentitySim,
  startManagedIdentitySim,
} from "../../src/sim/managed_identity.ts";
import { FakeClock } from "../runtime/fake_clock.ts";
import { createTestCertificate } from "./cert_helper.ts";

const TENANT = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const SYSTEM = "5d0c1b2a-3f4e-4d5c-8b6a-7f8e9d0c1b2a";
const USER = "0e1d2c3b-4a59-4867-9564-738291a0b1c2";
const ROLES = {
  "https://graph.microsoft.com": ["ThreatIndicators.ReadWrite.OwnedBy"],
  "https://management.azure.com": [],
};
const THUMBPRINT = "84E05C1D98BCE3A5421D225B140B36E86A3D5534";

interface Setup extends AsyncDisposable {
  clock: FakeClock;
  entra: EntraSimApp;
  sim: ManagedIdentitySim;
  keyDirectory: string;
  source(
    endpoint: ManagedIdentityOptions["endpoint"],
    options?: Partial<ManagedIdentityOptions>,
  ): ManagedIdentityTokenSource;
}

async function setup(withSystem = true): Promise<Setup> {
  const clock = new FakeClock(Date.parse("2026-03-01T00:00:00Z"));
  const entra = createEntraSimApp({ now: clock.now });
  const keyDirectory = `${await Deno.makeTempDir({ prefix: "arc-tokens-" })}/`;
  const sim = startManagedIdentitySim({
    entra,
    tenantId: TENANT,
    now: clock.now,
    arcKeyDirectory: keyDirectory,
    ...(withSystem ? { systemAssigned: { clientId: SYSTEM, roles: ROLES } } : {}),
    userAssigned: [{ clientId: USER, roles: ROLES }],
  });
  return {
    clock,
    entra,
    sim,
    keyDirectory,
    source: (endpoint, options = {}) =>
      new ManagedIdentityTokenSource({
        endpoint,
        now: clock.now,
        sleep: clock.sleep,
        random: () => 0.5,
        arcKeyDirectory: keyDirectory,
        ...options,
      }),
    [Symbol.asyncDispose]: async () => {
      await sim.close();
      await Deno.remove(keyDirectory, { recursive: true });
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<ManagedIdentityError> {
  const error = await promise.then(() => assert.fail("expected an error"), (e: unknown) => e);
  assert.ok(error instanceof ManagedIdentityError, String(error));
  return error;
}

Deno.test("parseExpiresOn() reads epoch seconds (number or string) and the App Service 2017 date", () => {
  assert.equal(parseExpiresOn(1565244611), 1565244611);
  assert.equal(parseExpiresOn("1565244611"), 1565244611);
  assert.equal(
    parseExpiresOn("09/14/2017 00:00:00 AM +00:00"),
    Date.parse("2017-09-14T00:00:00Z") / 1000,
  );
  assert.equal(
    parseExpiresOn("09/14/2017 01:30:00 PM +02:00"),
    Date.parse("2017-09-14T11:30:00Z") / 1000,
  );
  assert.equal(parseExpiresOn("12/01/2026 12:05:00 AM +00:00"), Date.UTC(2026, 11, 1, 0, 5) / 1000);
  assert.equal(parseExpiresOn("tomorrow"), undefined);
});

Deno.test("detectManagedIdentity() follows azure-identity's order", () => {
  const kind = (env: Parameters<typeof detectManagedIdentity>[0]) => {
    const detected = detectManagedIdentity(env);
    return detected.ok ? detected.endpoint.kind : `problem: ${detected.setting}`;
  };
  const endpoint = "http://127.0.0.1:2377/metadata/identity/oauth2/token";
  assert.equal(kind({}), "imds");
  assert.equal(kind({ identityEndpoint: endpoint, identityHeader: "h" }), "app_service");
  assert.equal(
    kind({ identityEndpoint: endpoint, identityHeader: "h", identityServerThumbprint: THUMBPRINT }),
    "service_fabric",
  );
  // IDENTITY_HEADER wins over IMDS_ENDPOINT (Python's order; azure-identity for JS tries Arc first).
  assert.equal(
    kind({ identityEndpoint: endpoint, identityHeader: "h", arcImdsEndpoint: "http://x:40342" }),
    "app_service",
  );
  assert.equal(
    kind({ identityEndpoint: endpoint, arcImdsEndpoint: "http://x:40342" }),
    "azure_arc",
  );
  assert.equal(kind({ identityEndpoint: endpoint }), "problem: IDENTITY_HEADER");
  assert.equal(kind({ msiEndpoint: endpoint, msiSecret: "s" }), "app_service_2017");
  assert.equal(kind({ msiEndpoint: endpoint }), "cloud_shell");
  // IDENTITY_ENDPOINT comes before MSI_ENDPOINT.
  assert.equal(
    kind({ identityEndpoint: endpoint, identityHeader: "h", msiEndpoint: endpoint }),
    "app_service",
  );
  const missing = detectManagedIdentity({ identityEndpoint: endpoint });
  assert.ok(!missing.ok && /^IDENTITY_HEADER missing/.test(missing.problem));
});

Deno.test("App Service 2017 (MSI_ENDPOINT + MSI_SECRET): secret header, clientid, date expires_on, cached", async () => {
  await using s = await setup();
  s.entra.control.setTokenLifetimeSeconds(3600);
  const endpoint = {
    kind: "app_service_2017",
    url: s.sim.msi2017Endpoint,
    secret: s.sim.msiSecret,
  };
  const system = s.source({ ...endpoint, kind: "app_service_2017" });
  const token = await system.getToken(SCOPES.graph);
  assert.equal(
    (await s.entra.verifyAccessToken(token, ["https://graph.microsoft.com"])).appid,
    SYSTEM,
  );
  assert.equal(await system.getToken(SCOPES.graph), token);
  s.clock.advance(3_000_000); // before 0.9 × 3600 s: still cached
  assert.equal(await system.getToken(SCOPES.graph), token);
  assert.equal(s.sim.control.requests().length, 1);
  s.clock.advance(300_000); // past the refresh point: the date-form expires_on set it
  assert.notEqual(await system.getToken(SCOPES.graph), token);
  const user = s.source({ ...endpoint, kind: "app_service_2017" }, { clientId: USER });
  const userToken = await user.getToken(SCOPES.graph);
  assert.equal(
    (await s.entra.verifyAccessToken(userToken, ["https://graph.microsoft.com"])).appid,
    USER,
  );
  const last = s.sim.control.requests().at(-1);
  assert.equal(last?.endpoint, "app_service_2017");
  assert.equal(last?.apiVersion, APP_SERVICE_2017_API_VERSION);
  assert.equal(last?.clientId, USER);
});

Deno.test("App Service 2017 with a wrong MSI_SECRET: the error names MSI_SECRET, never its value", async () => {
  await using s = await setup();
  const error = await rejection(
    s.source({ kind: "app_service_2017", url: s.sim.msi2017Endpoint, secret: "stale-secret" })
      .getToken(SCOPES.graph),
  );
  assert.equal(error.setting, "MSI_SECRET");
  assert.match(error.message, /rejected MSI_SECRET/);
  assert.ok(!error.message.includes("stale-secret"));
  assert.equal(s.sim.control.requests().length, 1);
  assert.throws(
    () => s.source({ kind: "app_service_2017", url: s.sim.msi2017Endpoint, secret: " " }),
    (e: unknown) => e instanceof ManagedIdentityError && /^MSI_SECRET missing/.test(e.message),
  );
});

Deno.test("Cloud Shell (MSI_ENDPOINT alone): a POST form with Metadata, cached per resource", async () => {
  await using s = await setup();
  const shell = s.source({ kind: "cloud_shell", url: s.sim.cloudShellEndpoint });
  const graph = await shell.getToken(SCOPES.graph);
  assert.equal(await shell.getToken(SCOPES.graph), graph);
  await shell.getToken(SCOPES.management);
  const requests = s.sim.control.requests();
  assert.deepEqual(requests.map((r) => [r.endpoint, r.resource, r.headerOk]), [
    ["cloud_shell", "https://graph.microsoft.com", true],
    ["cloud_shell", "https://management.azure.com", true],
  ]);
  assert.match(shell.describe(), /system-assigned identity via MSI_ENDPOINT \(Cloud Shell\)/);
});

Deno.test("Cloud Shell and Azure Arc refuse a user-assigned identity, naming CLIENT_ID", async () => {
  await using s = await setup();
  for (
    const endpoint of [
      { kind: "cloud_shell" as const, url: s.sim.cloudShellEndpoint },
      { kind: "azure_arc" as const, url: s.sim.arcEndpoint },
    ]
  ) {
    assert.throws(
      () => s.source(endpoint, { clientId: USER }),
      (e: unknown) =>
        e instanceof ManagedIdentityError && e.setting === "CLIENT_ID (or AZURE_CLIENT_ID)" &&
        /only a system-assigned identity/.test(e.message),
    );
  }
});

Deno.test("Azure Arc: the 401 challenge names a .key file, whose content gets the token; cached", async () => {
  await using s = await setup();
  const arc = s.source({ kind: "azure_arc", url: s.sim.arcEndpoint });
  const token = await arc.getToken(SCOPES.management);
  const claims = await s.entra.verifyAccessToken(token, ["https://management.azure.com"]);
  assert.equal(claims.appid, SYSTEM);
  assert.equal(await arc.getToken(SCOPES.management), token);
  const requests = s.sim.control.requests();
  assert.equal(requests.length, 2, "one challenge, one token request");
  assert.ok(requests.every((r) => r.endpoint === "azure_arc" && r.headerOk));
  assert.ok(requests.every((r) => r.apiVersion === AZURE_ARC_API_VERSION));
});

Deno.test("Azure Arc: a key file outside the agent's directory, or larger than 4096 bytes, is not read", async () => {
  await using s = await setup();
  const read: string[] = [];
  const outside = s.source({ kind: "azure_arc", url: s.sim.arcEndpoint }, {
    arcKeyDirectory: "/var/opt/azcmagent/tokens/",
    arcKeyFiles: {
      size: (path) => (read.push(path), Promise.resolve(10)),
      read: (path) => (read.push(path), Promise.resolve("x")),
    },
  });
  const error = await rejection(outside.getToken(SCOPES.management));
  assert.match(error.message, /not a \.key file directly in \/var\/opt\/azcmagent\/tokens\//);
  assert.equal(error.retryable, false);
  assert.deepEqual(read, []);
  const large = s.source({ kind: "azure_arc", url: s.sim.arcEndpoint }, {
    arcKeyFiles: {
      size: () => Promise.resolve(5000),
      read: () => assert.fail("an oversized key file must not be read"),
    },
  });
  assert.match((await rejection(large.getToken(SCOPES.management))).message, /5000 bytes/);
  const denied = s.source({ kind: "azure_arc", url: s.sim.arcEndpoint }, {
    arcKeyFiles: {
      size: () => Promise.resolve(32),
      read: () => Promise.reject(new Deno.errors.PermissionDenied("permission denied")),
    },
  });
  assert.match(
    (await rejection(denied.getToken(SCOPES.management))).message,
    /Cannot read the Azure Arc key file .*(root|administrator)/,
  );
});

Deno.test("Azure Arc without a system-assigned identity: the error says none is assigned to this server", async () => {
  await using s = await setup(false);
  const error = await rejection(
    s.source({ kind: "azure_arc", url: s.sim.arcEndpoint }).getToken(SCOPES.management),
  );
  assert.match(error.message, /no managed identity is assigned to this Azure Arc-enabled server/);
});

Deno.test("Service Fabric: Secret header, its api-version, numeric expires_on; 429 retried on the fake clock", async () => {
  await using s = await setup();
  const fabric = s.source({
    kind: "service_fabric",
    url: s.sim.serviceFabricEndpoint,
    header: s.sim.identityHeader,
    thumbprint: THUMBPRINT,
  }, { clientId: USER });
  s.sim.control.failNext(429, 1, 3);
  const token = await fabric.getToken(SCOPES.graph);
  assert.equal(
    (await s.entra.verifyAccessToken(token, ["https://graph.microsoft.com"])).appid,
    SYSTEM,
    "the identity comes from the application manifest, not from a client id",
  );
  assert.equal(await fabric.getToken(SCOPES.graph), token);
  assert.deepEqual(s.clock.sleeps, [3_000]);
  const requests = s.sim.control.requests();
  assert.equal(requests.length, 2);
  assert.ok(
    requests.every((r) => r.apiVersion === SERVICE_FABRIC_API_VERSION && r.clientId === ""),
  );
});

Deno.test("Service Fabric: an unknown IDENTITY_HEADER is a 404 ManagedIdentityNotFound, not retried", async () => {
  await using s = await setup();
  const error = await rejection(
    s.source({
      kind: "service_fabric",
      url: s.sim.serviceFabricEndpoint,
      header: "stale-code",
      thumbprint: THUMBPRINT,
    }).getToken(SCOPES.graph),
  );
  assert.equal(error.status, 404);
  assert.equal(error.setting, "IDENTITY_HEADER");
  assert.match(error.message, /no managed identity is assigned to this Service Fabric application/);
  assert.match(error.message, /ManagedIdentityNotFound/);
  assert.ok(!error.message.includes("stale-code"));
  assert.equal(s.sim.control.requests().length, 1);
  assert.deepEqual(s.clock.sleeps, []);
});

Deno.test("Service Fabric over https without the certificate file: refused, naming the workaround", () => {
  const endpoint = {
    kind: "service_fabric" as const,
    url: "https://10.0.0.4:2377/metadata/identity/oauth2/token",
    header: "code",
    thumbprint: THUMBPRINT,
  };
  assert.throws(
    () => new ManagedIdentityTokenSource({ endpoint }),
    (e: unknown) =>
      e instanceof ManagedIdentityError && e.setting === "SENTINEL_IDENTITY_SERVER_CERTIFICATE" &&
      /cannot pin a thumbprint/.test(e.message) &&
      /client credential or workload identity/.test(e.message),
  );
  assert.match(fabricTrustProblem(endpoint, false) ?? "", /SENTINEL_IDENTITY_SERVER_CERTIFICATE/);
  assert.equal(fabricTrustProblem(endpoint, true), undefined);
  assert.throws(
    () =>
      new ManagedIdentityTokenSource({
        endpoint: { ...endpoint, url: "http://10.0.0.4:2377/metadata/identity/oauth2/token" },
      }),
    (e: unknown) =>
      e instanceof ManagedIdentityError && /plain http on another host/.test(e.message),
  );
});

Deno.test("Service Fabric: a certificate whose SHA-1 thumbprint is not IDENTITY_SERVER_THUMBPRINT is refused before any request", async () => {
  const cert = await createTestCertificate();
  const der = cert.der;
  const sha1 = [...new Uint8Array(await crypto.subtle.digest("SHA-1", der))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  let requests = 0;
  const fetch = () => (requests++, Promise.reject(new Error("no network in this test")));
  const source = (thumbprint: string) =>
    new ManagedIdentityTokenSource({
      endpoint: {
        kind: "service_fabric",
        url: "https://127.0.0.1:1/metadata/identity/oauth2/token",
        header: "code",
        thumbprint,
        certificatePem: cert.certificatePem,
      },
      fetch,
      attempts: 1,
    });
  const wrong = await rejection(source(THUMBPRINT).getToken(SCOPES.graph));
  assert.equal(wrong.setting, "SENTINEL_IDENTITY_SERVER_CERTIFICATE");
  assert.match(wrong.message, new RegExp(`thumbprint ${sha1.toUpperCase()}, not ${THUMBPRINT}`));
  assert.equal(requests, 0);
  // The matching certificate (thumbprint in any case, with colons) is used for the request.
  const colons = sha1.match(/../g)?.join(":") ?? "";
  const reached = await rejection(source(colons).getToken(SCOPES.graph));
  assert.equal(reached.error, "network");
  assert.equal(requests, 1);
});

Deno.test("README 'Azure credentials' has a row per managed identity kind, naming what it reads", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const start = readme.indexOf("### Azure credentials");
  const section = readme.slice(start, readme.indexOf("\n## ", start));
  const rows = section.split("\n").filter((line) => line.startsWith("| Managed identity"));
  const expected: [string, string[]][] = [
    ["IMDS", ["169.254.169.254", "CLIENT_ID"]],
    ["App Service, Functions, Container Apps", ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"]],
    ["App Service 2017", ["MSI_ENDPOINT", "MSI_SECRET"]],
    ["Service Fabric", ["IDENTITY_SERVER_THUMBPRINT", "SENTINEL_IDENTITY_SERVER_CERTIFICATE"]],
    ["Azure Arc", ["IDENTITY_ENDPOINT", "IMDS_ENDPOINT"]],
    ["Cloud Shell", ["MSI_ENDPOINT"]],
  ];
  for (const [kind, names] of expected) {
    const row = rows.find((line) => line.includes(kind));
    assert.ok(row, `no README row for ${kind}`);
    for (const name of names) assert.ok(row.includes(name), `${kind} row lacks ${name}`);
  }
  for (
    const role of [
      "Microsoft Sentinel Contributor",
      "ThreatIndicators.ReadWrite.OwnedBy",
      "Ti.ReadWrite",
    ]
  ) {
    assert.ok(section.includes(role), role);
  }
});

Deno.test("Azure Arc: a localhost IDENTITY_ENDPOINT is called on 127.0.0.1", async () => {
  const urls: string[] = [];
  const source = new ManagedIdentityTokenSource({
    endpoint: { kind: "azure_arc", url: "http://localhost:40342/metadata/identity/oauth2/token" },
    fetch: (input) => {
      urls.push(String(input));
      return Promise.resolve(
        Response.json({ access_token: "t", expires_in: "3600", token_type: "Bearer" }),
      );
    },
  });
  assert.equal(await source.getToken(SCOPES.management), "t");
  assert.match(urls[0] ?? "", /^http:\/\/127\.0\.0\.1:40342\/metadata\/identity\/oauth2\/token\?/);
});
