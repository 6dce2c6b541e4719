import assert from "node:assert/strict";
import {
  findEntityByExternalId,
  findExternalReferences,
  referenceFilter,
} from "../../src/opencti/mod.ts";
import { withSim } from "./helpers.ts";
import type { OpenCtiStore } from "../../src/sim/opencti_store.ts";

const INTEL_SOURCES = ["Tanium Threat Response Intel", "Tanium"];

function seed(store: OpenCtiStore) {
  store.upsert({
    id: "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861",
    type: "indicator",
    name: "1.2.3.4",
    pattern: "[ipv4-addr:value = '1.2.3.4']",
    pattern_type: "stix",
    external_references: [{ source_name: "Tanium Threat Response Intel", external_id: "700" }],
  });
  store.upsert({
    id: "malware--1bc77052-c136-5258-b95d-fc8117fba3fd",
    type: "malware",
    name: "snowflake",
    external_references: [{ source_name: "Some vendor", external_id: "700" }],
  });
  store.upsert({
    id: "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
    type: "domain-name",
    value: "example.com",
    extensions: {
      "extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82": {
        extension_type: "property-extension",
        external_references: [{ source_name: "Tanium", external_id: "701" }],
      },
    },
  });
}

Deno.test("referenceFilter() builds the documented FilterGroup", () => {
  assert.deepEqual(referenceFilter("700", INTEL_SOURCES), {
    mode: "and",
    filterGroups: [],
    filters: [
      { key: ["external_id"], values: ["700"], operator: "eq" },
      { key: ["source_name"], values: INTEL_SOURCES, operator: "eq", mode: "or" },
    ],
  });
  assert.equal(referenceFilter("700", []).filters.length, 1);
});

Deno.test("findExternalReferences() filters by external id and source name with first: 10", async () => {
  await withSim(async ({ client, sim }) => {
    seed(sim.store);
    const all = await findExternalReferences(client, "700");
    assert.deepEqual(all.map((r) => r.source_name).sort(), [
      "Some vendor",
      "Tanium Threat Response Intel",
    ]);
    const tanium = await findExternalReferences(client, "700", { sourceNames: INTEL_SOURCES });
    assert.deepEqual(tanium.map((r) => r.source_name), ["Tanium Threat Response Intel"]);
    assert.match(tanium[0]!.standard_id, /^external-reference--/);
    const call = sim.control.graphql.calls.at(-1);
    assert.equal(call?.variables.first, 10);
  });
});

Deno.test("findEntityByExternalId() returns the indicator carrying the Tanium reference", async () => {
  await withSim(async ({ client, sim }) => {
    seed(sim.store);
    const entity = await findEntityByExternalId(client, "700", { sourceNames: INTEL_SOURCES });
    assert.equal(entity?.standard_id, "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861");
    assert.equal(entity?.entity_type, "Indicator");
    assert.equal(entity?.reference.external_id, "700");
  });
});

Deno.test("findEntityByExternalId() falls back to observables", async () => {
  await withSim(async ({ client, sim }) => {
    seed(sim.store);
    const entity = await findEntityByExternalId(client, "701", { sourceNames: INTEL_SOURCES });
    assert.equal(entity?.standard_id, "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7");
    assert.equal(entity?.entity_type, "Domain-Name");
    const fields = sim.control.graphql.calls.map((c) => c.fields[0]);
    assert.deepEqual(fields, ["externalReferences", "stixDomainObjects", "stixCyberObservables"]);
  });
});

Deno.test("findEntityByExternalId() returns undefined when nothing matches", async () => {
  await withSim(async ({ client, sim }) => {
    seed(sim.store);
    assert.equal(
      await findEntityByExternalId(client, "999", { sourceNames: INTEL_SOURCES }),
      undefined,
    );
    assert.equal(
      await findEntityByExternalId(client, "701", { sourceNames: ["Other"] }),
      undefined,
    );
  });
});
