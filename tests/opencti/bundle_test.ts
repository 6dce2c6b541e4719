import assert from "node:assert/strict";
import {
  BundlePusher,
  BundleRejectedError,
  ConnectorLifecycle,
  friendlyName,
  refsOf,
  splitBundle,
  Works,
} from "../../src/opencti/mod.ts";
import type { StixBundle, StixObject } from "../../src/stix/types.ts";
import { standardIdOf } from "../../src/stix/ids.ts";
import { CONNECTOR_ID, NOW, withSim } from "./helpers.ts";
import type { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { QUEUE_THRESHOLD_MB } from "../fixtures/settings_defaults.ts";

const NAME = "Tanium Threat Response Incidents";

async function fixture(): Promise<StixBundle> {
  const text = await Deno.readTextFile(
    new URL("../fixtures/opencti/import_bundle.json", import.meta.url),
  );
  return JSON.parse(text) as StixBundle;
}

async function setup(client: OpenCtiClient, maxBytes?: number) {
  await new ConnectorLifecycle(client, {
    queueThresholdMb: QUEUE_THRESHOLD_MB,
    id: CONNECTOR_ID,
    name: NAME,
    type: "EXTERNAL_IMPORT",
  })
    .register();
  const works = new Works(client, {
    connectorId: CONNECTOR_ID,
    connectorName: NAME,
    now: () => NOW,
  });
  const pusher = new BundlePusher(client, {
    connectorId: CONNECTOR_ID,
    ...(maxBytes !== undefined ? { maxBytes } : {}),
  });
  return { works, pusher };
}

Deno.test("a bundle pushed inside a work is imported and the work ends complete", async () => {
  await withSim(async ({ client, sim }) => {
    const { works, pusher } = await setup(client);
    const workId = await works.add();
    assert.equal(workId, `work_${CONNECTOR_ID}_2024-06-10T06:13:20.123Z`);
    const bundle = await fixture();
    assert.deepEqual(await pusher.pushBundle(bundle, { workId }), { parts: 1, objects: 9 });
    const pushed = sim.control.graphql.calls.find((c) => c.fields[0] === "stixBundlePush");
    assert.equal(typeof pushed?.variables.bundle, "string");
    assert.equal(pushed?.variables.work_id, workId);
    await works.toProcessed(workId, "Pushed 9 objects");
    await sim.control.graphql.settled();
    const work = await works.get(workId);
    assert.equal(work?.name, friendlyName(NAME, NOW));
    assert.equal(work?.name, "Tanium Threat Response Incidents run @ 2024-06-10T06:13:20.123Z");
    assert.equal(work?.status, "complete");
    assert.deepEqual(work?.tracking, { import_expected_number: 9, import_processed_number: 9 });
    assert.deepEqual(work?.errors, []);
    assert.deepEqual(work?.messages.map((m) => m.message), ["Pushed 9 objects"]);
    assert.ok(sim.store.get("incident--61bb471e-f0d7-5655-aeab-1db7b64893f6"));
  });
});

Deno.test("a failed run ends its work with the message in the work's errors", async () => {
  await withSim(async ({ client }) => {
    const { works } = await setup(client);
    const workId = await works.add();
    await works.toReceived(workId, "Run started");
    await works.toProcessed(workId, "Tanium answered 503", { inError: true });
    const work = await works.get(workId);
    assert.equal(work?.status, "complete");
    assert.deepEqual(work?.errors.map((e) => e.message), ["Tanium answered 503"]);
    assert.deepEqual(work?.messages.map((m) => m.message), ["Run started"]);
    assert.notEqual(work?.received_time, null);
  });
});

Deno.test("expectations reported by hand complete a work once all are in", async () => {
  await withSim(async ({ client }) => {
    const { works } = await setup(client);
    const workId = await works.add("manual");
    await works.addExpectations(workId, 2);
    await works.toProcessed(workId, "done");
    assert.equal((await works.get(workId))?.status, "progress");
    await works.reportExpectation(workId);
    await works.reportExpectation(workId, { error: "bad object", source: "{}" });
    const work = await works.get(workId);
    assert.equal(work?.status, "complete");
    assert.deepEqual(work?.errors.map((e) => [e.message, e.source]), [["bad object", "{}"]]);
    assert.equal(await works.get("work_unknown"), undefined);
  });
});

Deno.test("a large bundle is split into parts whose references all resolve", async () => {
  await withSim(async ({ client, sim }) => {
    const { works, pusher } = await setup(client, 2500);
    const bundle = await fixture();
    const workId = await works.add();
    const result = await pusher.pushBundle(bundle, { workId });
    assert.ok(result.parts > 1, `expected several parts, got ${result.parts}`);
    const received = sim.control.graphql.bundles.map((b) => b.bundle);
    assert.equal(received.length, result.parts);
    const seen = new Set<string>();
    for (const part of received) {
      const inPart = new Set(part.objects.map((o) => o.id));
      for (const object of part.objects) {
        for (const ref of refsOf(object)) {
          assert.ok(
            inPart.has(ref) || seen.has(ref),
            `${object.id} references ${ref} outside its part`,
          );
        }
      }
      for (const id of inPart) seen.add(id);
      assert.ok(inPart.has("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"));
      assert.ok(inPart.has("identity--f7691caa-c29a-510d-8c26-f81257631f98"));
    }
    assert.deepEqual(
      new Set(received.flatMap((p) => p.objects.map((o) => o.id))),
      new Set(bundle.objects.map((o) => o.id)),
    );
    await works.toProcessed(workId, "ok");
    await sim.control.graphql.settled();
    const work = await works.get(workId);
    assert.deepEqual(work?.errors, []);
    assert.equal(work?.status, "complete");
  });
});

Deno.test("splitBundle() keeps referencing observables together and relationships after their ends", () => {
  const author: StixObject = { id: "identity--a", type: "identity", name: "A" };
  const sender: StixObject = {
    id: "email-addr--s",
    type: "email-addr",
    value: "x@example.com",
    pad: "x".repeat(200),
  };
  const message: StixObject = {
    id: "email-message--m",
    type: "email-message",
    from_ref: "email-addr--s",
    pad: "y".repeat(200),
  };
  const other: StixObject = {
    id: "ipv4-addr--o",
    type: "ipv4-addr",
    value: "1.2.3.4",
    pad: "z".repeat(200),
    created_by_ref: "identity--a",
  };
  const relation: StixObject = {
    id: "relationship--r",
    type: "relationship",
    relationship_type: "related-to",
    source_ref: "ipv4-addr--o",
    target_ref: "email-message--m",
  };
  const parts = splitBundle({
    type: "bundle",
    id: "bundle--x",
    objects: [relation, author, sender, message, other],
  }, 700);
  assert.ok(parts.length >= 2);
  const partOf = (id: string) => parts.findIndex((p) => p.objects.some((o) => o.id === id));
  assert.equal(partOf("email-addr--s"), partOf("email-message--m"));
  assert.ok(partOf("relationship--r") >= partOf("ipv4-addr--o"));
  assert.ok(partOf("relationship--r") >= partOf("email-message--m"));
  for (const part of parts) assert.equal(part.objects[0]?.id, "identity--a");
});

Deno.test("splitBundle() returns a small bundle unchanged", () => {
  const bundle: StixBundle = {
    type: "bundle",
    id: "bundle--x",
    objects: [{ id: "a--1", type: "a" }],
  };
  assert.deepEqual(splitBundle(bundle, 10_000), [bundle]);
});

Deno.test("an unknown connector surfaces as BundleRejectedError with the platform's reasons", async () => {
  await withSim(async ({ client }) => {
    await client.about();
    const pusher = new BundlePusher(client, { connectorId: "not-registered" });
    await assert.rejects(
      () =>
        pusher.pushBundle({
          type: "bundle",
          id: "bundle--1",
          objects: [{ id: "x--1", type: "x" }],
        }),
      (error: unknown) =>
        error instanceof BundleRejectedError && error.reason === "Invalid bundle" &&
        error.detail === "Invalid connector" &&
        error.message.includes("Invalid bundle (Invalid connector)"),
    );
  });
});

Deno.test("a bundle the platform cannot read surfaces as BundleRejectedError", async () => {
  await withSim(async ({ client }) => {
    const { pusher } = await setup(client);
    const notABundle = { type: "report", id: "bundle--1", objects: [{ id: "x--1", type: "x" }] };
    await assert.rejects(
      () => pusher.pushBundle(notABundle as unknown as StixBundle),
      (error: unknown) =>
        error instanceof BundleRejectedError && error.detail === "Invalid stix bundle",
    );
  });
});

Deno.test("HTTP 413 surfaces as BundleRejectedError asking for a lower size limit", async () => {
  await withSim(async ({ client, sim }) => {
    const { pusher } = await setup(client);
    // The platform refuses every part, down to the smallest one.
    sim.control.graphql.injectFailure({ field: "stixBundlePush", status: 413, times: -1 });
    await assert.rejects(
      async () => await pusher.pushBundle(await fixture()),
      (error: unknown) =>
        error instanceof BundleRejectedError && /413.*lower the bundle size/.test(error.message),
    );
  });
});

Deno.test("work_id is left out for platforms that predate it, and the platform makes its own work", async () => {
  await withSim(async ({ client, sim }) => {
    const { works, pusher } = await setup(client);
    const workId = await works.add();
    await pusher.pushBundle(await fixture(), { workId });
    const pushed = sim.control.graphql.calls.find((c) => c.fields[0] === "stixBundlePush");
    assert.equal(pushed?.status, 200);
    assert.equal("work_id" in (pushed?.variables ?? {}), false);
    assert.notEqual(sim.control.graphql.bundles[0]?.workId, workId);
  }, { version: "6.4.2" });
});

Deno.test("imported objects get platform standard ids and keep differing incoming ids as extra ids", async () => {
  await withSim(async ({ client, sim }) => {
    const { pusher } = await setup(client);
    const bundle = await fixture();
    await pusher.pushBundle(bundle);
    await sim.control.graphql.settled();
    const odd = bundle.objects.find((o) =>
      o.id === "relationship--1f2e3d4c-5b6a-4789-8abc-def012345678"
    )!;
    const standard = await standardIdOf(odd);
    assert.ok(standard && standard !== odd.id);
    const stored = sim.store.get(odd.id);
    assert.equal(stored?.id, standard);
    assert.equal(sim.store.get(standard!)?.id, standard);
  });
});
