/** tanium-intel runs from the oldest platform its API calls exist on (5.10.3, as sentinel) to 7.x. */
import assert from "node:assert/strict";
import { CONNECTOR_MINIMUM } from "../../src/opencti/version.ts";
import { indicator, inIntelWorld, intelWorld } from "./helpers.ts";

for (const version of [CONNECTOR_MINIMUM["tanium-intel"], "7.261026.0"]) {
  Deno.test(`tanium-intel follows the stream of a simulated OpenCTI ${version}, writes the document back and replays nothing twice`, async () => {
    const w = await intelWorld({ version });
    try {
      const ip = indicator(1, "stix", "[ipv4-addr:value = '198.51.100.7']");
      w.opencti.store.upsert(ip);
      assert.equal(await w.intel().runOnce(), true);
      const ours = () => w.tanium.control.intels().filter((i) => i.name === "Indicator 1");
      assert.equal(ours().length, 1);
      const refs = w.indicator(ip.id).external_references;
      assert.ok(Array.isArray(refs) && refs.length > 0, "the document is written back");
      assert.equal(await w.intel().runOnce(), true);
      assert.equal(ours().length, 1);
      const graphql = w.opencti.control.graphql;
      assert.deepEqual(graphql.calls.filter((c) => c.status !== 200), [], "no call refused");
    } finally {
      await w.close();
    }
  });
}

Deno.test("tanium-intel refuses OpenCTI 5.9 at registration, naming the version and the minimum", async () => {
  await inIntelWorld(async (w) => {
    w.opencti.store.upsert(indicator(1, "stix", "[ipv4-addr:value = '198.51.100.7']"));
    const connector = w.intel();
    assert.equal(await connector.runOnce(), false);
    assert.match(
      JSON.stringify(connector.status()),
      /runs 5\.9\.6; this program needs 5\.10\.3 or later \(tanium-intel\)/,
    );
    assert.equal(w.opencti.control.graphql.connectors.size, 0);
    assert.equal(w.tanium.control.intels().filter((i) => i.name === "Indicator 1").length, 0);
  }, { version: "5.9.6" });
});
