/** End to end: OpenCTI simulator → sentinel connector → Graph simulator (with Entra tokens). */
import assert from "node:assert/strict";
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import type { SentinelConnector } from "../../src/sentinel/connector.ts";
import { type SentinelStack, STACK_APP, startSentinelStack } from "../../src/sim/stack.ts";
import { graphConnectorFor, NOW } from "./helpers.ts";

function connectorFor(stack: SentinelStack): SentinelConnector {
  const tokens = new TokenProvider({
    authority: stack.entra.url,
    tenantId: STACK_APP.tenantId,
    clientId: STACK_APP.clientId,
    credential: { kind: "secret", secret: STACK_APP.clientSecret },
  });
  return graphConnectorFor(stack, tokens);
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
