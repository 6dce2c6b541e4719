/**
 * Bad input through the running connector: malformed frames (injected by the stream control),
 * an unknown observable type, an unreadable pattern, non-STIX pattern types and a 10 MB
 * description are each counted as skipped with their reason, in `status().counters` and in
 * `/metrics`, and a valid indicator sent after them still arrives.
 */
import assert from "node:assert/strict";
import { Metrics } from "../../src/metrics.ts";
import type { SyncTarget, TargetIndicator } from "../../src/microsoft/target.ts";
import type { ItemResult } from "../../src/runtime/delivery.ts";
import { type SentinelStack, startSentinelStack } from "../../src/sim/stack.ts";
import type { StixObject } from "../../src/stix/types.ts";
import { connectorFor, NOW, sorted } from "./helpers.ts";

const TEN_MB = 10 * 1024 * 1024;

function indicator(name: string, pattern: string, extra: Partial<StixObject> = {}): StixObject {
  const n = [...name].reduce((sum, c) => (sum * 31 + c.charCodeAt(0)) >>> 0, 7);
  return {
    id: `indicator--${n.toString(16).padStart(8, "0")}-0000-4000-8000-000000000001`,
    type: "indicator",
    spec_version: "2.1",
    created: "2024-06-10T07:00:00.000Z",
    modified: "2024-06-10T07:00:00.000Z",
    name,
    pattern,
    pattern_type: "stix",
    valid_from: "2024-06-10T07:00:00.000Z",
    labels: ["c2"],
    x_opencti_score: 70,
    ...extra,
  };
}

const VALID_AFTER = indicator(
  "after-bad-input.example",
  "[domain-name:value = 'after-bad-input.example']",
);

/** Wraps a target and resolves `arrived` once an upsert of `id` was acknowledged. */
function watching(target: SyncTarget, id: string): { target: SyncTarget; arrived: Promise<void> } {
  let resolve!: () => void;
  const arrived = new Promise<void>((r) => resolve = r);
  const wrapped: SyncTarget = {
    name: target.name,
    maxBatch: target.maxBatch,
    async upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
      const results = await target.upsert(items, signal);
      if (results.some((r) => r.id === id && r.ok)) resolve();
      return results;
    },
    remove: (items, signal) => target.remove(items, signal),
  };
  return { target: wrapped, arrived };
}

async function runWithBadInput(
  stack: SentinelStack,
  bad: StixObject[],
  extra: { maxFrameChars?: number } = {},
) {
  const metrics = new Metrics();
  const { target, arrived } = watching(stack.createTarget(), VALID_AFTER.id);
  const connector = connectorFor(stack, {
    target,
    metrics,
    extra: {
      ...(extra.maxFrameChars
        ? {
          stream: {
            streamId: "live-indicators",
            recoverIsoDate: new Date(NOW + 3_600_000).toISOString(),
            maxFrameChars: extra.maxFrameChars,
          },
        }
        : {}),
    },
  });
  const stop = new AbortController();
  const running = connector.start(stop.signal);
  try {
    await stack.opencti.control.stream.waitForConnections(1);
    assert.equal(stack.opencti.control.stream.injectMalformed("bad-json"), 1);
    stack.opencti.control.stream.injectMalformed("missing-data");
    stack.opencti.control.stream.injectMalformed("unknown-event");
    for (const object of bad) stack.opencti.store.upsert(object);
    stack.opencti.store.upsert(VALID_AFTER);
    await arrived;
  } finally {
    stop.abort();
    await running;
  }
  return { connector, metrics };
}

Deno.test("bad input is counted as skipped by reason and the stream keeps flowing", async () => {
  const stack = await startSentinelStack({
    target: "graph",
    opencti: { seed: true, heartbeatMs: 20 },
  });
  try {
    const unknownType = indicator("mac", "[mac-addr:value = '00:11:22:33:44:55']");
    const unreadable = indicator("broken", "[ipv4-addr:value = '1.2.3.");
    const pcre = indicator("pcre", "/evil\\.example/", { pattern_type: "pcre" });
    const huge = indicator("huge", "[domain-name:value = 'huge-description.example']", {
      description: "x".repeat(TEN_MB),
    });
    const { connector, metrics } = await runWithBadInput(stack, [
      unknownType,
      unreadable,
      pcre,
      huge,
    ]);

    const status = connector.status();
    const counters = status.counters;
    // Bad JSON and an envelope without data are malformed; an unknown event name is ignored, as
    // the platform documentation asks, and counted by the stream reader.
    assert.equal(counters["skipped.malformed_event"], 2, JSON.stringify(counters));
    assert.equal((status.details?.stream as { ignored: number }).ignored, 1);
    assert.equal(counters["skipped.unsupported_pattern_type"], 3, "sigma, yara and pcre");
    assert.equal(counters["skipped.unreadable_pattern"], 2, "the broken and the mac-addr patterns");
    assert.equal(counters.failed ?? 0, 0);
    const text = metrics.render();
    for (
      const [reason, count] of [
        ["malformed_event", 2],
        ["unsupported_pattern_type", 3],
        ["unreadable_pattern", 2],
      ] as const
    ) {
      assert.ok(
        text.includes(`skipped_total{connector="sentinel",reason="${reason}"} ${count}`),
        `${reason} in /metrics:\n${text}`,
      );
    }
    // The 10 MB description is not a reason to drop the indicator: Graph gets it cut to 100.
    const [record] = stack.graph!.findByExternalId(huge.id);
    assert.ok(record, "the indicator with a 10 MB description arrived");
    assert.ok(String(record.fields.description).length <= 100);
    assert.equal(stack.graph!.findByExternalId(VALID_AFTER.id).length, 1);
    assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));
  } finally {
    await stack.close();
  }
});

Deno.test("a frame larger than maxFrameChars is skipped with its reason and the next one arrives", async () => {
  const stack = await startSentinelStack({
    target: "graph",
    opencti: { seed: true, heartbeatMs: 20 },
  });
  try {
    const huge = indicator("huge", "[domain-name:value = 'huge-description.example']", {
      description: "x".repeat(TEN_MB),
    });
    const { connector, metrics } = await runWithBadInput(stack, [huge], {
      maxFrameChars: 1024 * 1024,
    });
    const counters = connector.status().counters;
    assert.equal(counters["skipped.malformed_event"], 3, "two injected frames and the 10 MB one");
    assert.ok(metrics.render().includes(`reason="malformed_event"} 3`));
    assert.equal(stack.graph!.findByExternalId(huge.id).length, 0);
    assert.equal(stack.graph!.findByExternalId(VALID_AFTER.id).length, 1);
  } finally {
    await stack.close();
  }
});
