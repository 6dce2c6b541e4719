/**
 * Optional write-back, end to end with the OpenCTI simulator: each synced indicator gets one
 * external reference to the Microsoft object; the update event that reference causes is skipped,
 * so nothing is written twice and nothing loops.
 */
import assert from "node:assert/strict";
import type { TargetName } from "../../src/microsoft/target.ts";
import { WRITE_BACK_SOURCES, WriteBack } from "../../src/sentinel/write_back.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { startSentinelStack } from "../../src/sim/stack.ts";
import type { StixObject } from "../../src/stix/types.ts";
import { connectorFor, NOW, seedNamed, sorted } from "./helpers.ts";

function ours(object: StixObject, source: string): Record<string, unknown>[] {
  const refs = Array.isArray(object.external_references) ? object.external_references : [];
  return (refs as Record<string, unknown>[]).filter((r) => r.source_name === source);
}

for (const target of ["graph", "sentinel", "defender"] as TargetName[]) {
  Deno.test(`write-back adds one ${target} reference per synced indicator and never loops`, async () => {
    const stack = await startSentinelStack({ target, opencti: { seed: true, heartbeatMs: 20 } });
    const source = WRITE_BACK_SOURCES[target];
    const referenceAdds = () =>
      stack.opencti.control.graphql.calls.filter((c) => c.fields.includes("externalReferenceAdd"))
        .length;
    try {
      const first = connectorFor(stack, { extra: { writeBack: true } });
      assert.equal(await first.runOnce(), true, JSON.stringify(first.status()));
      const counters = first.status().counters;
      const synced = counters.upserted ?? 0;
      assert.ok(synced >= 8, `synced ${synced}`);
      assert.equal(counters.written_back, synced, "one reference per acknowledged indicator");
      assert.equal(referenceAdds(), synced);
      assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));

      const ip = seedNamed(stack, "1.2.3.4");
      const [reference] = ours(ip, source);
      assert.ok(reference, "the indicator carries the Microsoft reference");
      assert.equal(reference.external_id, ip.id);
      assert.ok(String(reference.url).includes(encodeURIComponent(ip.id)));
      assert.equal(ours(ip, source).length, 1);
      assert.equal(ours(ip, "acme-intel").length, 1, "the seed's own reference is kept");

      // A later run has nothing to do; a real change is synced without a second reference.
      const idle = connectorFor(stack, { extra: { writeBack: true } });
      assert.equal(await idle.runOnce(), true);
      assert.equal(idle.status().counters.upserted ?? 0, 0);
      // The platform emitted one update per reference (read by whichever run was listening);
      // each was recognised and skipped.
      const echoes = (counters["skipped.write_back_echo"] ?? 0) +
        (idle.status().counters["skipped.write_back_echo"] ?? 0);
      assert.equal(echoes, synced);
      stack.opencti.store.upsert({ ...seedNamed(stack, "1.2.3.4"), x_opencti_score: 15 });
      const changed = connectorFor(stack, { extra: { writeBack: true } });
      assert.equal(await changed.runOnce(), true);
      assert.equal(changed.status().counters.upserted, 1);
      assert.equal(changed.status().counters.written_back ?? 0, 0);
      assert.equal(referenceAdds(), synced, "no reference was written twice");
      assert.equal(ours(seedNamed(stack, "1.2.3.4"), source).length, 1);
      assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));
    } finally {
      await stack.close();
    }
  });
}

Deno.test("write-back is off by default and a failed write-back never blocks the sync", async () => {
  const stack = await startSentinelStack({
    target: "graph",
    opencti: { seed: true, heartbeatMs: 20 },
  });
  try {
    const plain = connectorFor(stack);
    assert.equal(await plain.runOnce(), true);
    assert.equal(
      stack.opencti.control.graphql.calls.filter((c) => c.fields.includes("externalReferenceAdd"))
        .length,
      0,
    );
    assert.equal(ours(seedNamed(stack, "1.2.3.4"), "Microsoft Graph").length, 0);

    // OpenCTI refuses the reference: the sync goes on, the failure is counted.
    stack.opencti.control.graphql.injectFailure({
      field: "externalReferenceAdd",
      error: { name: "ForbiddenAccess", reason: "You are not allowed to do this." },
      times: -1,
    });
    stack.opencti.store.upsert({ ...seedNamed(stack, "1.2.3.4"), x_opencti_score: 15 });
    const failing = connectorFor(stack, { extra: { writeBack: true } });
    assert.equal(await failing.runOnce(), true);
    assert.equal(failing.status().counters.upserted, 1);
    assert.equal(failing.status().counters.write_back_failed, 1);
    assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));
  } finally {
    await stack.close();
  }
});

Deno.test("WriteBack.isEcho() accepts only updates that add our reference", () => {
  const client = new OpenCtiClient({ url: "http://127.0.0.1:9", token: SIM_TOKEN });
  const writer = new WriteBack(client, "sentinel");
  const id = "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861";
  const withRef = {
    id,
    type: "indicator",
    external_references: [writer.referenceFor(id)],
  };
  const ext = "/extensions/extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";
  const echo = {
    data: withRef,
    context: {
      patch: [
        { op: "add", path: "/external_references/0", value: writer.referenceFor(id) },
        { op: "replace", path: "/modified", value: "x" },
        { op: "replace", path: `${ext}/updated_at`, value: "x" },
      ],
    },
  };
  assert.equal(writer.isEcho(echo), true);
  const scoreToo = structuredClone(echo);
  scoreToo.context.patch.push({ op: "replace", path: `${ext}/score`, value: "x" });
  assert.equal(writer.isEcho(scoreToo), false, "a score change is a real update");
  assert.equal(writer.isEcho({ ...echo, data: { id, type: "indicator" } }), false);
  assert.equal(
    writer.isEcho({ ...echo, context: { patch: [{ op: "replace", path: "/modified" }] } }),
    false,
  );
  assert.equal(writer.isEcho({ data: withRef }), false, "no patch, no echo");
});
