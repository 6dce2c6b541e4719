/**
 * End to end with the managed identity kinds issue 15 added (Azure Arc, Service Fabric, App
 * Service 2017, Cloud Shell): environment → configuration → token source → sentinel → Graph
 * simulator, the tokens coming from the managed identity simulator; the choice logged once.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { resolveConfig } from "../../src/config/mod.ts";
import { GraphTarget } from "../../src/microsoft/graph.ts";
import { ManagedIdentityTokenSource } from "../../src/microsoft/managed_identity.ts";
import type { TokenSource } from "../../src/microsoft/token_source.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { SentinelConnector } from "../../src/sentinel/connector.ts";
import { createTokenProvider } from "../../src/microsoft/targets.ts";
import {
  type ManagedIdentitySim,
  startManagedIdentitySim,
} from "../../src/sim/managed_identity.ts";
import { SEED_TIME } from "../../src/sim/opencti_seed.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { type SentinelStack, STACK_APP, startSentinelStack } from "../../src/sim/stack.ts";

const NOW = Date.parse(SEED_TIME);
const CONNECTOR_ID = "b3a6f1d2-5c4e-4f7a-9b8c-1d2e3f4a5b6c";
const SYSTEM = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const GRAPH_ROLES = { "https://graph.microsoft.com": ["ThreatIndicators.ReadWrite.OwnedBy"] };

function connectorFor(stack: SentinelStack, tokens: TokenSource): SentinelConnector {
  const target = new GraphTarget({
    tokens,
    mapping: { targetProduct: "Azure Sentinel", now: () => NOW },
    baseUrl: stack.targetUrl,
    scope: "https://graph.microsoft.com/.default",
  });
  return new SentinelConnector({
    url: stack.opencti.url,
    token: SIM_TOKEN,
    client: new OpenCtiClient({ url: stack.opencti.url, token: SIM_TOKEN }),
    connector: { id: CONNECTOR_ID, name: "Microsoft Sentinel" },
    stream: {
      streamId: "live-indicators",
      recoverIsoDate: new Date(NOW + 3_600_000).toISOString(),
    },
    target,
    batchTimeoutMs: 10,
    quietHeartbeats: 2,
    now: () => NOW,
  });
}

/** Runs sentinel once with the managed identity the environment (built from the simulator) selects. */
async function deliver(
  env: (mi: ManagedIdentitySim) => Record<string, string>,
  check: (mi: ManagedIdentitySim, tokens: ManagedIdentityTokenSource, log: string) => void,
): Promise<void> {
  const lines: string[] = [];
  await configure({
    reset: true,
    sinks: {
      raw: (record: LogRecord) =>
        lines.push(JSON.stringify({ message: record.message, properties: record.properties })),
    },
    loggers: [
      { category: ["octi"], lowestLevel: "debug", sinks: ["raw"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["raw"] },
    ],
  });
  const keyDirectory = `${await Deno.makeTempDir({ prefix: "arc-tokens-" })}/`;
  const stack = await startSentinelStack({
    target: "graph",
    opencti: { seed: true, heartbeatMs: 20 },
  });
  const mi = startManagedIdentitySim({
    entra: stack.entra,
    tenantId: STACK_APP.tenantId,
    systemAssigned: { clientId: SYSTEM, roles: GRAPH_ROLES },
    arcKeyDirectory: keyDirectory,
  });
  try {
    const { config } = resolveConfig(undefined, {
      OPENCTI_URL: stack.opencti.url,
      OPENCTI_TOKEN: SIM_TOKEN,
      CONNECTOR_ID: CONNECTOR_ID,
      ...env(mi),
    });
    assert.ok(config.sentinel);
    const tokens = await createTokenProvider(config.sentinel, { arcKeyDirectory: keyDirectory });
    assert.ok(tokens instanceof ManagedIdentityTokenSource);
    assert.equal(await connectorFor(stack, tokens).runOnce(), true);
    assert.deepEqual([...stack.present()].sort(), [...await stack.expected(NOW)].sort());
    const token = await tokens.getToken("https://graph.microsoft.com/.default");
    const claims = await stack.entra.verifyAccessToken(token, ["https://graph.microsoft.com"]);
    assert.equal(claims.appid, SYSTEM);
    const log = lines.join("\n");
    assert.equal(log.split('"Authenticating with "').length - 1, 1, "the choice is logged once");
    assert.ok(!log.includes(token), "the token reached the log");
    assert.ok(!log.includes(mi.identityHeader), "IDENTITY_HEADER reached the log");
    assert.ok(!log.includes(mi.msiSecret), "MSI_SECRET reached the log");
    check(mi, tokens, log);
  } finally {
    await mi.close();
    await stack.close();
    await Deno.remove(keyDirectory, { recursive: true });
    await reset();
  }
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
