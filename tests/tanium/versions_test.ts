/** tanium-incidents over HTTP on the platform versions that have `stixBundlePush` (6.3 to 7.x). */
import assert from "node:assert/strict";
import { REFERENCE_ALERT, SEED_INTELS } from "../../src/sim/tanium_seed.ts";
import { VECTORS, world } from "./helpers.ts";

for (
  const [version, withWorkId] of [["6.3.0", false], ["6.5.7", true], ["7.261026.0", true]] as const
) {
  Deno.test(
    `tanium-incidents pushes the reference alert over stixBundlePush on OpenCTI ${version}${
      withWorkId ? " with" : " without"
    } work_id`,
    async () => {
      const w = await world({
        alerts: [structuredClone(REFERENCE_ALERT)],
        intels: SEED_INTELS.map((i) => structuredClone(i)),
      });
      try {
        const graphql = w.opencti.control.graphql;
        graphql.version = version;
        // The world's client has not read the version yet: it reads this one at registration.
        const connector = w.connector();
        assert.equal(await connector.runOnce(), true);
        await graphql.settled();
        assert.deepEqual(graphql.calls.filter((c) => c.status !== 200), [], "no call refused");
        const pushes = graphql.calls.filter((c) => c.fields.includes("stixBundlePush"));
        assert.equal(pushes.length, 1);
        assert.equal("work_id" in pushes[0]!.variables, withWorkId);
        assert.ok(graphql.bundles[0]?.bundle.objects.some((o) => o.id === VECTORS.incident));
        assert.equal(graphql.bundles[0]?.transport, undefined);
        assert.ok(graphql.bundles[0]?.bundle.objects.some((o) => o.type === "sighting"));
      } finally {
        await w.close();
      }
    },
  );
}
