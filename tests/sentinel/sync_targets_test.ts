/**
 * End to end for each target: OpenCTI simulator → sentinel connector → Graph, Sentinel or
 * Defender simulator, for every observable type and every kind of change (create, score change,
 * label change, revoke, delete, leaving the stream, new indicator).
 */
import assert from "node:assert/strict";
import type { TargetName } from "../../src/microsoft/target.ts";
import { type SentinelStack, startSentinelStack } from "../../src/sim/stack.ts";
import { OBSERVABLE_TYPES, type StixObject } from "../../src/stix/types.ts";
import { allLabels, connectorFor, NOW, seedNamed, sorted } from "./helpers.ts";

/** Raw observables (no indicator), as the upstream connector also synced them. */
const RAW_OBSERVABLES: StixObject[] = [
  {
    id: "ipv4-addr--0198f97b-e65d-5025-87e5-58bc39d4bdb4",
    type: "ipv4-addr",
    spec_version: "2.1",
    value: "1.2.3.44",
    labels: ["c2"],
  },
  {
    id: "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
    type: "domain-name",
    spec_version: "2.1",
    value: "raw-observable.example",
    labels: ["phishing"],
  },
  {
    id: "file--4ff9b0c7-7989-540b-9abf-d59018de89b5",
    type: "file",
    spec_version: "2.1",
    hashes: { "SHA-256": "0f343b0931126a20f133d67c2b018a3b4f0bfd0a1a0d3eb0d93f7b6b3b4e6f01" },
    labels: ["malware"],
  },
];

/** A stream that shows indicators (and, when asked, raw observables) carrying a synced label. */
async function stackFor(target: TargetName, withRaw: boolean): Promise<SentinelStack> {
  const stack = await startSentinelStack({
    target,
    opencti: { seed: true, heartbeatMs: 20 },
  });
  if (withRaw) { for (const object of RAW_OBSERVABLES) stack.opencti.store.upsert(object); }
  stack.opencti.control.stream.defineStream("live-indicators", {
    name: "Synced indicators",
    filter: {
      types: withRaw ? ["indicator", ...OBSERVABLE_TYPES] : ["indicator"],
      labels: allLabels(stack),
    },
  });
  return stack;
}

/** Flattened fields of the records the target holds for one indicator. */
function recordsOf(stack: SentinelStack, id: string): Record<string, unknown>[] {
  if (stack.graph) return stack.graph.findByExternalId(id).map((r) => r.fields);
  if (stack.sentinel) return stack.sentinel.findById(id).map((r) => r.object);
  if (stack.defender) {
    return stack.defender.store().filter((r) => r.entity.externalID === id).map((r) => r.entity);
  }
  throw new Error("no target simulator");
}

/** What shows a score change on this target (Graph: action/severity; Defender: action/severity; Sentinel: modified). */
function scoreView(stack: SentinelStack, id: string): unknown[] {
  return recordsOf(stack, id).map((r) =>
    stack.sentinel ? r.modified : [r.action, r.severity, r.confidence]
  );
}

function labelView(stack: SentinelStack, id: string): unknown[] {
  return recordsOf(stack, id).map((r) => stack.graph ? r.tags : stack.sentinel ? r.labels : null);
}

async function syncEverything(target: TargetName, withRaw: boolean): Promise<void> {
  const stack = await stackFor(target, withRaw);
  try {
    // 1. First run: recovery of the whole stream.
    const first = connectorFor(stack);
    assert.equal(await first.runOnce(), true, JSON.stringify(first.status()));
    const expected = await stack.expected(NOW);
    assert.deepEqual(sorted(stack.present()), sorted(expected));
    const counters = first.status().counters;
    assert.equal(counters.failed ?? 0, 0);
    assert.equal(counters["skipped.unsupported_pattern_type"], 2, "sigma and yara are skipped");

    // Every observable type of the seed reached the target (Defender: all but e-mail).
    const types = new Set(
      stack.opencti.store.list("indicator").flatMap((o) => {
        const values = (o.extensions as Record<string, Record<string, unknown>>)[
          "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"
        ]?.observable_values;
        return Array.isArray(values)
          ? values.map((v) => String((v as Record<string, unknown>).type))
          : [];
      }),
    );
    assert.deepEqual(
      [...types].sort(),
      ["Domain-Name", "Email-Addr", "Hostname", "IPv4-Addr", "IPv6-Addr", "StixFile", "Url"],
    );
    const email = seedNamed(stack, "invoice@paypa1-billing.com");
    const md5 = seedNamed(stack, "eicar.com (MD5)");
    const both = seedNamed(stack, "Ransomware sample (MD5 or SHA-256)");
    if (target === "defender") {
      // E-mail and MD5 are skipped with their reason, the SHA-256 half of the OR pattern is sent.
      assert.equal(counters["skipped.unsupported_by_target"], 3);
      assert.equal(recordsOf(stack, email.id).length, 0);
      assert.equal(recordsOf(stack, md5.id).length, 0);
      assert.deepEqual(
        recordsOf(stack, both.id).map((r) => r.indicatorType),
        ["FileSha256"],
      );
    } else {
      assert.equal(counters["skipped.unsupported_by_target"], undefined);
      assert.equal(recordsOf(stack, email.id).length, 1);
      assert.equal(recordsOf(stack, md5.id).length, 1);
    }
    if (withRaw) {
      for (const raw of RAW_OBSERVABLES) {
        assert.equal(recordsOf(stack, raw.id).length, 1, `${raw.type} raw observable`);
      }
    }

    // 2. Live changes.
    const scored = seedNamed(stack, "1.2.3.4");
    const labelled = seedNamed(stack, "shortsvelventysjo.shop");
    const revoked = seedNamed(stack, "dropper.exe (SHA-1)");
    const deleted = seedNamed(stack, "payload.dll (SHA-256)");
    const leaving = seedNamed(stack, "mail-relay.corp-updates.net");
    const scoreBefore = scoreView(stack, scored.id);
    const labelsBefore = labelView(stack, labelled.id);
    stack.opencti.store.upsert({ ...scored, x_opencti_score: 10 });
    stack.opencti.store.upsert({ ...labelled, labels: [...labelled.labels as string[], "botnet"] });
    stack.opencti.store.upsert({ ...revoked, revoked: true });
    stack.opencti.store.remove(deleted.id);
    stack.opencti.store.upsert({ ...leaving, labels: ["no-longer-shared"] });
    const added = {
      id: "indicator--3c0c5ac5-6f5e-5a3f-8b9b-3f0b3d1f9a10",
      type: "indicator",
      spec_version: "2.1",
      created: "2024-06-10T07:00:00.000Z",
      modified: "2024-06-10T07:00:00.000Z",
      name: "new-c2.example",
      pattern: "[domain-name:value = 'new-c2.example']",
      pattern_type: "stix",
      valid_from: "2024-06-10T07:00:00.000Z",
      labels: ["c2"],
      x_opencti_score: 90,
    };
    stack.opencti.store.upsert(added);
    if (withRaw) stack.opencti.store.remove(RAW_OBSERVABLES[0]!.id);

    const second = connectorFor(stack);
    assert.equal(await second.runOnce(), true, JSON.stringify(second.status()));
    const after = await stack.expected(NOW);
    assert.deepEqual(sorted(stack.present()), sorted(after));
    // Sentinel keeps a revoked indicator, re-uploaded as revoked (reference §3.2); the others remove it.
    const removedOnTarget = target === "sentinel"
      ? [deleted, leaving]
      : [revoked, deleted, leaving];
    for (const gone of removedOnTarget) {
      assert.equal(recordsOf(stack, gone.id).length, 0, `${String(gone.name)} was removed`);
    }
    if (target === "sentinel") {
      assert.deepEqual(recordsOf(stack, revoked.id).map((r) => r.revoked), [true]);
    }
    for (const gone of [revoked, deleted, leaving]) {
      assert.ok(![...after].some((key) => key.startsWith(`${gone.id} `)));
    }
    assert.equal(recordsOf(stack, added.id).length, 1, "the new indicator arrived");
    assert.notDeepEqual(scoreView(stack, scored.id), scoreBefore, "the score change arrived");
    if (target !== "defender") {
      assert.notDeepEqual(labelView(stack, labelled.id), labelsBefore);
      assert.ok(JSON.stringify(labelView(stack, labelled.id)).includes("botnet"));
    }
    if (withRaw) assert.equal(recordsOf(stack, RAW_OBSERVABLES[0]!.id).length, 0);
    assert.ok((second.status().counters.removed ?? 0) >= removedOnTarget.length);
  } finally {
    await stack.close();
  }
}

Deno.test("sentinel keeps Graph tiIndicators equal to the stream for every observable type and change", async () => {
  await syncEverything("graph", true);
});

Deno.test("sentinel keeps the Sentinel upload API equal to the stream for every observable type and change", async () => {
  await syncEverything("sentinel", false);
});

Deno.test("sentinel keeps Defender equal to the stream and skips e-mail and MD5 with their reason", async () => {
  await syncEverything("defender", true);
});
