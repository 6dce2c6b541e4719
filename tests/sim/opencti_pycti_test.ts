/**
 * The OpenCTI simulator answers what pycti sends (fixtures mirroring pycti's operations), each
 * with the shape pycti parses, and refuses, as that platform's schema would, what a version lacks.
 */
import assert from "node:assert/strict";
import { atLeast } from "../../src/opencti/version.ts";
import { SIM_TOKEN, startOpenCtiSim } from "../../src/sim/opencti.ts";
import { extensionOf } from "../../src/sim/opencti_store.ts";
import { seedOpenCtiForTanium } from "../../src/sim/tanium_seed.ts";
import { type FixtureIds, PYCTI_QUERIES } from "../fixtures/opencti/pycti_queries.ts";

const CONNECTOR_ID = "8ef3e1b8-6f0e-4f2a-9a53-3c1a1b3a6c11";
const IPV4 = "ipv4-addr--cbd67181-b9f8-595b-8bc3-3971e34fa1cc";

async function post(url: string, query: string, variables: Record<string, unknown>) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { authorization: `Bearer ${SIM_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    body: await response.json() as { data?: Record<string, unknown>; errors?: unknown[] },
  };
}

for (const version of ["5.12.33", "6.2.12", "6.8.10", "7.261026.0"]) {
  Deno.test(`the OpenCTI simulator ${version} answers every pycti fixture query its schema has, and refuses the others`, async () => {
    const sim = await startOpenCtiSim({ version, seed: true });
    try {
      await seedOpenCtiForTanium(sim.store, { consoleUrl: "https://tanium.example.com" });
      sim.store.upsert({ type: "ipv4-addr", id: IPV4, spec_version: "2.1", value: "1.1.1.1" });
      const graphql = sim.control.graphql;
      const registered = await post(
        sim.url,
        `mutation R($input: RegisterConnectorInput) { registerConnector(input: $input) { id } }`,
        { input: { id: CONNECTOR_ID, name: "Fixture connector", type: "EXTERNAL_IMPORT" } },
      );
      assert.equal(registered.status, 200, JSON.stringify(registered.body));
      const added = await post(
        sim.url,
        `mutation W($c: String!) { workAdd(connectorId: $c, friendlyName: "fixture") { id } }`,
        { c: CONNECTOR_ID },
      );
      const references = await post(
        sim.url,
        `query { externalReferences(first: 1) { edges { node { id } } } }`,
        {},
      );
      const indicator = sim.store.list("indicator")[0]!;
      const ids: FixtureIds = {
        connectorId: CONNECTOR_ID,
        workId: String((added.body.data?.workAdd as { id: string }).id),
        indicatorId: String(extensionOf(indicator)?.id ?? indicator.id),
        observableId: IPV4,
        externalReferenceId: String(
          ((references.body.data?.externalReferences as { edges: { node: { id: string } }[] })
            .edges[0]!).node.id,
        ),
        streamId: "live-indicators",
      };
      const answered: string[] = [];
      for (const fixture of PYCTI_QUERIES) {
        const known = (fixture.since === undefined || atLeast(version, fixture.since)) &&
          (fixture.before === undefined || !atLeast(version, fixture.before));
        const { status, body } = await post(sim.url, fixture.query, fixture.variables(ids));
        if (!known) {
          assert.equal(status, 400, `${fixture.name} is refused on ${version}`);
          continue;
        }
        assert.equal(status, 200, `${fixture.name}: ${JSON.stringify(body)}`);
        assert.equal(body.errors, undefined, `${fixture.name}: ${JSON.stringify(body.errors)}`);
        fixture.check(body.data ?? {}, ids);
        answered.push(fixture.name);
      }
      assert.ok(answered.length >= 12, `answered ${answered.length}`);
      assert.ok(graphql.calls.length > PYCTI_QUERIES.length);
    } finally {
      await sim.close();
    }
  });
}

Deno.test("a fragment on a type that can never match is refused as GraphQL validation does", async () => {
  const sim = await startOpenCtiSim();
  try {
    const { status, body } = await post(
      sim.url,
      `query { about { ... on Indicator { pattern } } }`,
      {},
    );
    assert.equal(status, 400);
    assert.match(JSON.stringify(body), /can never be of type \\"Indicator\\"/);
    const unknown = await post(sim.url, `query { about { ...Missing } }`, {});
    assert.equal(unknown.status, 400);
    assert.match(JSON.stringify(unknown.body), /Unknown fragment/);
  } finally {
    await sim.close();
  }
});
