/**
 * End to end with a managed identity: configuration (`SENTINEL_AUTH`) → token source →
 * sentinel connector → Graph simulator, the tokens coming from the managed identity simulator,
 * for every kind (IMDS, App Service, and those issue 15 added: Azure Arc, Service Fabric, App
 * Service 2017, Cloud Shell); the choice is logged once.
 */
import assert from "node:assert/strict";
import { withLogs } from "../log/capture.ts";
import { resolveConfig } from "../../src/config/mod.ts";
import { ManagedIdentityTokenSource } from "../../src/microsoft/managed_identity.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { createTokenProvider } from "../../src/microsoft/targets.ts";
import {
  type ManagedIdentitySim,
  startManagedIdentitySim,
} from "../../src/sim/managed_identity.ts";
import { type SentinelStack, STACK_APP, startSentinelStack } from "../../src/sim/stack.ts";
import { CONNECTOR_ID, graphConnectorFor, NOW } from "./helpers.ts";

const USER_ASSIGNED = "6c5b4a39-2817-4f06-9e5d-4c3b2a190817";
const GRAPH_ROLES = { "https://graph.microsoft.com": ["ThreatIndicators.ReadWrite.OwnedBy"] };

/** The system-assigned identity of the simulated host. */
const SYSTEM_ASSIGNED = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

/** One test's world: the stack (Graph target), the managed identity simulator on its Entra ID. */
interface IdentityWorld {
  stack: SentinelStack;
  mi: ManagedIdentitySim;
  /** Where the Azure Arc simulator writes its challenge keys (with `arc` only). */
  keyDirectory?: string;
}

/**
 * Runs `body` in a fresh world: the host has the system-assigned identity, plus the user-assigned
 * one with `userAssigned`, plus Azure Arc's challenge directory with `arc`; all stopped after.
 */
async function withStack(
  body: (world: IdentityWorld) => Promise<void>,
  options: { userAssigned?: boolean; arc?: boolean } = { userAssigned: true },
): Promise<void> {
  const keyDirectory = options.arc
    ? `${await Deno.makeTempDir({ prefix: "arc-tokens-" })}/`
    : undefined;
  const stack = await startSentinelStack({
    target: "graph",
    opencti: { seed: true, heartbeatMs: 20 },
  });
  const mi = startManagedIdentitySim({
    entra: stack.entra,
    tenantId: STACK_APP.tenantId,
    systemAssigned: { clientId: SYSTEM_ASSIGNED, roles: GRAPH_ROLES },
    ...(options.userAssigned
      ? { userAssigned: [{ clientId: USER_ASSIGNED, roles: GRAPH_ROLES }] }
      : {}),
    ...(keyDirectory !== undefined ? { arcKeyDirectory: keyDirectory } : {}),
  });
  try {
    await body({ stack, mi, ...(keyDirectory !== undefined ? { keyDirectory } : {}) });
  } finally {
    await mi.close();
    await stack.close();
    if (keyDirectory !== undefined) await Deno.remove(keyDirectory, { recursive: true });
  }
}

/**
 * Loads the configuration from `extra` (with OpenCTI's and the connector's), builds the token
 * source it selects, runs sentinel once against the Graph simulator and checks it holds what
 * OpenCTI says. Returns that token source.
 */
async function syncWith(
  world: IdentityWorld,
  extra: Record<string, string>,
): Promise<{ tokens: Awaited<ReturnType<typeof createTokenProvider>>; credential: string }> {
  const { stack, keyDirectory } = world;
  const { config } = resolveConfig(undefined, {
    OPENCTI_URL: stack.opencti.url,
    OPENCTI_TOKEN: SIM_TOKEN,
    CONNECTOR_ID: CONNECTOR_ID,
    ...extra,
  });
  assert.ok(config.sentinel);
  const tokens = await createTokenProvider(
    config.sentinel,
    keyDirectory !== undefined ? { arcKeyDirectory: keyDirectory } : {},
  );
  assert.equal(await graphConnectorFor(stack, tokens).runOnce(), true);
  const expected = await stack.expected(NOW);
  assert.ok(expected.size >= 10, `the seed should give at least 10 records, got ${expected.size}`);
  assert.deepEqual([...stack.present()].sort(), [...expected].sort());
  return { tokens, credential: config.sentinel.credential.kind };
}

Deno.test("sentinel delivers to the Graph simulator with a user-assigned managed identity token from IMDS", async () => {
  await withLogs(["octi"], (lines) =>
    withStack(async (world) => {
      const { stack, mi } = world;
      const { tokens } = await syncWith(world, {
        SENTINEL_AUTH: "managed_identity",
        AZURE_CLIENT_ID: USER_ASSIGNED,
        SENTINEL_IMDS_ENDPOINT: mi.imdsUrl,
      });
      assert.ok(tokens instanceof ManagedIdentityTokenSource);
      assert.equal(tokens.kind, "imds");
      const asked = mi.control.requests();
      assert.equal(asked.length, 1, "one managed identity token served every Graph call");
      assert.deepEqual(asked[0], {
        endpoint: "imds",
        resource: "https://graph.microsoft.com",
        clientId: USER_ASSIGNED,
        apiVersion: "2018-02-01",
        headerOk: true,
      });
      // The token the Graph simulator accepted is the identity's, not the app registration's.
      const token = await tokens.getToken("https://graph.microsoft.com/.default");
      const claims = await stack.entra.verifyAccessToken(token, ["https://graph.microsoft.com"]);
      assert.equal(claims.appid, USER_ASSIGNED);
      assert.notEqual(claims.appid, STACK_APP.clientId);
      const all = lines.join("\n");
      assert.ok(all.includes('"Authenticating with "'), all);
      assert.ok(all.includes(`user-assigned identity ${USER_ASSIGNED} via IMDS`), all);
      assert.ok(!all.includes(token), "the token reached the log");
    }));
});

Deno.test("sentinel delivers with the system-assigned identity through IDENTITY_ENDPOINT (SENTINEL_AUTH=default)", async () => {
  await withStack(async (world) => {
    const { mi } = world;
    const { credential } = await syncWith(world, {
      SENTINEL_AUTH: "default",
      IDENTITY_ENDPOINT: mi.identityEndpoint,
      IDENTITY_HEADER: mi.identityHeader,
    });
    assert.equal(credential, "managed_identity");
    assert.deepEqual(
      mi.control.requests().map((r) => [r.endpoint, r.apiVersion, r.clientId, r.headerOk]),
      [["app_service", "2019-08-01", "", true]],
    );
  });
});

Deno.test("SENTINEL_AUTH=default prefers the environment secret over the managed identity, and logs that choice without the secret", async () => {
  await withLogs(["octi"], chooseSecret);
});

async function chooseSecret(lines: string[]): Promise<void> {
  await withStack(async (world) => {
    const { stack, mi } = world;
    const { credential } = await syncWith(world, {
      SENTINEL_AUTH: "default",
      AZURE_TENANT_ID: STACK_APP.tenantId,
      AZURE_CLIENT_ID: STACK_APP.clientId,
      AZURE_CLIENT_SECRET: STACK_APP.clientSecret,
      LOGIN_URL: stack.entra.url,
      IDENTITY_ENDPOINT: mi.identityEndpoint,
      IDENTITY_HEADER: mi.identityHeader,
    });
    assert.equal(credential, "secret");
    assert.equal(mi.control.requests().length, 0, "the managed identity was not asked");
    const all = lines.join("\n");
    assert.ok(all.includes(`client secret of app ${STACK_APP.clientId}`), all);
    assert.ok(all.includes('"auth":"default"'), all);
    assert.ok(!all.includes(STACK_APP.clientSecret), "the secret reached the log");
    assert.ok(!all.includes(mi.identityHeader), "IDENTITY_HEADER reached the log");
  });
}

// Azure Arc, Service Fabric, App Service 2017 and Cloud Shell (issue 15), each end to end.

/** Runs sentinel once with the managed identity the environment (built from the simulator) selects. */
async function deliver(
  env: (mi: ManagedIdentitySim) => Record<string, string>,
  check: (mi: ManagedIdentitySim, tokens: ManagedIdentityTokenSource, log: string) => void,
): Promise<void> {
  await withLogs(["octi"], (lines) =>
    withStack(async (world) => {
      const { stack, mi } = world;
      const { tokens } = await syncWith(world, env(mi));
      assert.ok(tokens instanceof ManagedIdentityTokenSource);
      const token = await tokens.getToken("https://graph.microsoft.com/.default");
      const claims = await stack.entra.verifyAccessToken(token, ["https://graph.microsoft.com"]);
      assert.equal(claims.appid, SYSTEM_ASSIGNED);
      const log = lines.join("\n");
      assert.equal(log.split('"Authenticating with "').length - 1, 1, "the choice is logged once");
      assert.ok(!log.includes(token), "the token reached the log");
      assert.ok(!log.includes(mi.identityHeader), "IDENTITY_HEADER reached the log");
      assert.ok(!log.includes(mi.msiSecret), "MSI_SECRET reached the log");
      check(mi, tokens, log);
    }, { arc: true }));
}
Deno.test("sentinel delivers with Azure Arc's identity (IDENTITY_ENDPOINT + IMDS_ENDPOINT, SENTINEL_AUTH=default)", async () => {
  await deliver(
    (mi) => ({
      SENTINEL_AUTH: "default",
      IDENTITY_ENDPOINT: mi.arcEndpoint,
      IMDS_ENDPOINT: mi.url,
    }),
    (mi, tokens, log) => {
      assert.equal(tokens.kind, "azure_arc");
      assert.deepEqual(mi.control.requests().map((r) => r.endpoint), ["azure_arc", "azure_arc"]);
      assert.ok(log.includes("via IDENTITY_ENDPOINT (Azure Arc)"), log);
    },
  );
});

Deno.test("sentinel delivers with Service Fabric's identity (IDENTITY_SERVER_THUMBPRINT; loopback http simulator)", async () => {
  await deliver(
    (mi) => ({
      SENTINEL_AUTH: "managed_identity",
      IDENTITY_ENDPOINT: mi.serviceFabricEndpoint,
      IDENTITY_HEADER: mi.identityHeader,
      IDENTITY_SERVER_THUMBPRINT: "84E05C1D98BCE3A5421D225B140B36E86A3D5534",
    }),
    (mi, tokens, log) => {
      assert.equal(tokens.kind, "service_fabric");
      assert.deepEqual(
        mi.control.requests().map((r) => [r.endpoint, r.apiVersion, r.headerOk]),
        [["service_fabric", "2019-07-01-preview", true]],
      );
      assert.ok(log.includes("via IDENTITY_ENDPOINT (Service Fabric)"), log);
    },
  );
});

Deno.test("sentinel delivers with App Service's 2017 protocol (MSI_ENDPOINT + MSI_SECRET), then with Cloud Shell (MSI_ENDPOINT)", async () => {
  await deliver(
    (mi) => ({
      SENTINEL_AUTH: "managed_identity",
      MSI_ENDPOINT: mi.msi2017Endpoint,
      MSI_SECRET: mi.msiSecret,
    }),
    (mi, tokens) => {
      assert.equal(tokens.kind, "app_service_2017");
      assert.deepEqual(
        mi.control.requests().map((r) => [r.endpoint, r.apiVersion, r.headerOk]),
        [["app_service_2017", "2017-09-01", true]],
      );
    },
  );
  await deliver(
    (mi) => ({ SENTINEL_AUTH: "default", MSI_ENDPOINT: mi.cloudShellEndpoint }),
    (mi, tokens, log) => {
      assert.equal(tokens.kind, "cloud_shell");
      assert.deepEqual(mi.control.requests().map((r) => r.endpoint), ["cloud_shell"]);
      assert.ok(log.includes("via MSI_ENDPOINT (Cloud Shell)"), log);
    },
  );
});
