/**
 * End to end with a managed identity: configuration (`SENTINEL_AUTH`) → token source →
 * sentinel connector → Graph simulator, the tokens coming from the managed identity simulator.
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
const USER_ASSIGNED = "6c5b4a39-2817-4f06-9e5d-4c3b2a190817";
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

async function withStack(
  body: (stack: SentinelStack, mi: ManagedIdentitySim) => Promise<void>,
): Promise<void> {
  const stack = await startSentinelStack({
    target: "graph",
    opencti: { seed: true, heartbeatMs: 20 },
  });
  const mi = startManagedIdentitySim({
    entra: stack.entra,
    tenantId: STACK_APP.tenantId,
    systemAssigned: { clientId: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", roles: GRAPH_ROLES },
    userAssigned: [{ clientId: USER_ASSIGNED, roles: GRAPH_ROLES }],
  });
  try {
    await body(stack, mi);
  } finally {
    await mi.close();
    await stack.close();
  }
}

function sentinelEnv(stack: SentinelStack, extra: Record<string, string>): Record<string, string> {
  return {
    OPENCTI_URL: stack.opencti.url,
    OPENCTI_TOKEN: SIM_TOKEN,
    CONNECTOR_ID: CONNECTOR_ID,
    ...extra,
  };
}

Deno.test("sentinel delivers to the Graph simulator with a user-assigned managed identity token from IMDS", async () => {
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
  try {
    await withStack(async (stack, mi) => {
      const { config } = resolveConfig(
        undefined,
        sentinelEnv(stack, {
          SENTINEL_AUTH: "managed_identity",
          AZURE_CLIENT_ID: USER_ASSIGNED,
          SENTINEL_IMDS_ENDPOINT: mi.imdsUrl,
        }),
      );
      assert.ok(config.sentinel);
      const tokens = await createTokenProvider(config.sentinel);
      assert.ok(tokens instanceof ManagedIdentityTokenSource);
      assert.equal(tokens.kind, "imds");
      assert.equal(await connectorFor(stack, tokens).runOnce(), true);
      const expected = await stack.expected(NOW);
      assert.ok(
        expected.size >= 10,
        `the seed should give at least 10 records, got ${expected.size}`,
      );
      assert.deepEqual([...stack.present()].sort(), [...expected].sort());
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
    });
  } finally {
    await reset();
  }
});

Deno.test("sentinel delivers with the system-assigned identity through IDENTITY_ENDPOINT (SENTINEL_AUTH=default)", async () => {
  await withStack(async (stack, mi) => {
    const { config } = resolveConfig(
      undefined,
      sentinelEnv(stack, {
        SENTINEL_AUTH: "default",
        IDENTITY_ENDPOINT: mi.identityEndpoint,
        IDENTITY_HEADER: mi.identityHeader,
      }),
    );
    assert.ok(config.sentinel);
    assert.equal(config.sentinel.credential.kind, "managed_identity");
    const tokens = await createTokenProvider(config.sentinel);
    assert.equal(await connectorFor(stack, tokens).runOnce(), true);
    const expected = await stack.expected(NOW);
    assert.deepEqual([...stack.present()].sort(), [...expected].sort());
    assert.deepEqual(
      mi.control.requests().map((r) => [r.endpoint, r.apiVersion, r.clientId, r.headerOk]),
      [["app_service", "2019-08-01", "", true]],
    );
  });
});

Deno.test("SENTINEL_AUTH=default prefers the environment secret over the managed identity, and logs that choice without the secret", async () => {
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
  try {
    await chooseSecret(lines);
  } finally {
    await reset();
  }
});

async function chooseSecret(lines: string[]): Promise<void> {
  await withStack(async (stack, mi) => {
    const { config } = resolveConfig(
      undefined,
      sentinelEnv(stack, {
        SENTINEL_AUTH: "default",
        AZURE_TENANT_ID: STACK_APP.tenantId,
        AZURE_CLIENT_ID: STACK_APP.clientId,
        AZURE_CLIENT_SECRET: STACK_APP.clientSecret,
        LOGIN_URL: stack.entra.url,
        IDENTITY_ENDPOINT: mi.identityEndpoint,
        IDENTITY_HEADER: mi.identityHeader,
      }),
    );
    assert.ok(config.sentinel);
    assert.equal(config.sentinel.credential.kind, "secret");
    const tokens = await createTokenProvider(config.sentinel);
    assert.equal(await connectorFor(stack, tokens).runOnce(), true);
    assert.deepEqual([...stack.present()].sort(), [...await stack.expected(NOW)].sort());
    assert.equal(mi.control.requests().length, 0, "the managed identity was not asked");
    const all = lines.join("\n");
    assert.ok(all.includes(`client secret of app ${STACK_APP.clientId}`), all);
    assert.ok(all.includes('"auth":"default"'), all);
    assert.ok(!all.includes(STACK_APP.clientSecret), "the secret reached the log");
    assert.ok(!all.includes(mi.identityHeader), "IDENTITY_HEADER reached the log");
  });
}
