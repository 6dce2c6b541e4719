/** sentinel follows the live stream of the platform versions README's table names (5.10.3 to 7.x). */
import assert from "node:assert/strict";
import { startSentinelStack } from "../../src/sim/stack.ts";
import { CONNECTOR_ID, connectorFor, NOW, sorted } from "./helpers.ts";

for (const version of ["5.10.3", "6.2.12", "7.261026.0"]) {
  Deno.test(`sentinel follows the stream of a simulated OpenCTI ${version}: seed, then a revoke and a delete`, async () => {
    const stack = await startSentinelStack({
      target: "graph",
      opencti: { seed: true, heartbeatMs: 20, version },
    });
    try {
      const first = connectorFor(stack);
      assert.equal(await first.runOnce(), true);
      const expected = await stack.expected(NOW);
      assert.ok(expected.size >= 10);
      assert.deepEqual(sorted(stack.present()), sorted(expected));

      const [a, b] = stack.opencti.store.list("indicator").filter((o) =>
        stack.present().some((key) => key.startsWith(`${o.id} `))
      );
      assert.ok(a && b);
      stack.opencti.store.upsert({ ...a, revoked: true });
      stack.opencti.store.remove(b.id);
      assert.equal(await connectorFor(stack).runOnce(), true);
      const after = await stack.expected(NOW);
      assert.deepEqual(sorted(stack.present()), sorted(after));

      const graphql = stack.opencti.control.graphql;
      assert.deepEqual(graphql.calls.filter((c) => c.status !== 200), [], "no call refused");
      const pings = graphql.pings.filter((p) => p.connectorId === CONNECTOR_ID);
      assert.ok(pings.length > 0);
      // connectorInfo exists from 6.2.12 only.
      const withInfo = version !== "5.10.3";
      assert.ok(pings.every((p) => (p.connectorInfo !== null) === withInfo));
    } finally {
      await stack.close();
    }
  });
}

Deno.test("sentinel refuses OpenCTI 5.9 at registration, naming the version and the minimum", async () => {
  const stack = await startSentinelStack({
    target: "graph",
    opencti: { seed: true, heartbeatMs: 20, version: "5.9.6" },
  });
  try {
    const connector = connectorFor(stack);
    assert.equal(await connector.runOnce(), false);
    assert.match(
      JSON.stringify(connector.status()),
      /runs 5\.9\.6; this program needs 5\.10\.3 or later \(sentinel\)/,
    );
    assert.equal(stack.opencti.control.graphql.connectors.size, 0);
  } finally {
    await stack.close();
  }
});
