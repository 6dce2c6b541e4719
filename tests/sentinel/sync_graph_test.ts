/** End to end: OpenCTI simulator → sentinel connector → Graph simulator (with Entra tokens). */
import assert from "node:assert/strict";
import { GraphTarget } from "../../src/microsoft/graph.ts";
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { SentinelConnector } from "../../src/sentinel/connector.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { SEED_TIME } from "../../src/sim/opencti_seed.ts";
import { type SentinelStack, STACK_APP, startSentinelStack } from "../../src/sim/stack.ts";
import {
  GRAPH_MAPPING,
  GRAPH_RATE_LIMIT,
  MAX_BACKOFF_MS,
  QUEUE_THRESHOLD_MB,
  SENTINEL_SCOPE,
} from "../fixtures/settings_defaults.ts";

const NOW = Date.parse(SEED_TIME);
const CONNECTOR_ID = "b3a6f1d2-5c4e-4f7a-9b8c-1d2e3f4a5b6c";

function connectorFor(stack: SentinelStack): SentinelConnector {
  const tokens = new TokenProvider({
    authority: stack.entra.url,
    tenantId: STACK_APP.tenantId,
    clientId: STACK_APP.clientId,
    credential: { kind: "secret", secret: STACK_APP.clientSecret },
  });
  const target = new GraphTarget({
    rateLimitPerMinute: GRAPH_RATE_LIMIT,
    tokens,
    mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
    baseUrl: stack.targetUrl,
    scope: "https://graph.microsoft.com/.default",
  });
  return new SentinelConnector({
    url: stack.opencti.url,
    token: SIM_TOKEN,
    client: new OpenCtiClient({ url: stack.opencti.url, token: SIM_TOKEN }),
    maxBackoffMs: MAX_BACKOFF_MS,
    connector: {
      scope: SENTINEL_SCOPE,
      queueThresholdMb: QUEUE_THRESHOLD_MB,
      id: CONNECTOR_ID,
      name: "Microsoft Sentinel",
    },
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

function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}

Deno.test("sentinel syncs every seeded indicator to Graph exactly once, then follows updates, revokes and deletes", async () => {
  const stack = await startSentinelStack({
    target: "graph",
    opencti: { seed: true, heartbeatMs: 20 },
  });
  try {
    const first = connectorFor(stack);
    assert.equal(await first.runOnce(), true);
    const expected = await stack.expected(NOW);
    assert.ok(
      expected.size >= 10,
      `the seed should give at least 10 records, got ${expected.size}`,
    );
    assert.deepEqual(sorted(stack.present()), sorted(expected));
    const status = first.status();
    assert.ok(
      (status.counters["skipped.unsupported_pattern_type"] ?? 0) >= 1,
      "sigma/yara are skipped",
    );
    assert.ok(typeof status.details?.cursor === "string");

    // Live changes: a new indicator, a revoke, a delete.
    const [a, b] = stack.opencti.store.list("indicator").filter((o) =>
      stack.present().some((key) => key.startsWith(`${o.id} `))
    );
    assert.ok(a && b);
    stack.opencti.store.upsert({ ...a, revoked: true });
    stack.opencti.store.remove(b.id);
    const second = connectorFor(stack);
    assert.equal(await second.runOnce(), true);
    const after = await stack.expected(NOW);
    assert.ok(![...after].some((k) => k.startsWith(a.id) || k.startsWith(b.id)));
    assert.deepEqual(sorted(stack.present()), sorted(after));
  } finally {
    await stack.close();
  }
});
