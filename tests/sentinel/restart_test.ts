/**
 * Crash and restart: a connector killed in the middle of a batch (the request never reached
 * Microsoft, or Microsoft applied it and the answer was lost), or killed after the target
 * acknowledged but before OpenCTI stored the cursor; a new connector instance then resumes from
 * the state saved in the OpenCTI simulator and the target ends equal to the stream: no loss, no
 * duplicate.
 */
import assert from "node:assert/strict";
import type { TargetName } from "../../src/microsoft/target.ts";
import { type SentinelStack, startSentinelStack } from "../../src/sim/stack.ts";
import { CONNECTOR_ID, connectorFor, KillSwitch, NOW, seedNamed, sorted } from "./helpers.ts";
import { GRAPH_MAPPING } from "../fixtures/settings_defaults.ts";

const TARGETS: TargetName[] = ["graph", "sentinel", "defender"];

/** The request that carries a batch of upserts to each target. */
const UPSERT_PATH: Record<TargetName, RegExp> = {
  graph: /submitTiIndicators$/,
  sentinel: /stix-objects:upload/,
  defender: /\/api\/indicators\/import$/,
};

function savedCursor(stack: SentinelStack): string | undefined {
  const state = stack.opencti.control.graphql.connectors.get(CONNECTOR_ID)?.connector_state;
  if (!state) return undefined;
  const parsed = JSON.parse(state) as { start_from?: string };
  return parsed.start_from;
}

function noDuplicates(keys: string[]): void {
  assert.equal(new Set(keys).size, keys.length, `duplicates in ${JSON.stringify(keys)}`);
}

/**
 * Where the crash falls: between two calls of 3 indicators, or (Graph, which takes the whole
 * read-ahead in one call and packs its records into submits itself) between two submits of 3
 * records of one call, before anything is acknowledged.
 */
type CrashPoint = "between calls" | "inside a call";

async function killMidBatch(
  target: TargetName,
  answerLost: boolean,
  point: CrashPoint = "between calls",
): Promise<void> {
  const stack = await startSentinelStack({ target, opencti: { seed: true, heartbeatMs: 20 } });
  try {
    const expected = await stack.expected(NOW);
    const crash = new KillSwitch();
    let upserts = 0;
    const held = crash.hold((url, init) => {
      if ((init?.method ?? "GET") === "GET" || !UPSERT_PATH[target].test(new URL(url).pathname)) {
        return false;
      }
      return ++upserts === 2;
    }, answerLost);
    const doomed = connectorFor(stack, {
      target: stack.createTarget({
        fetch: crash.fetch,
        sleep: crash.sleep,
        tokens: stack.tokens({ fetch: crash.fetch }),
        graph: {
          mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
          maxBatch: 3,
          // Calls of 3 for Graph too (it would otherwise take the whole read-ahead in one call,
          // one submit for the seed), or submits of 3 records for the crash inside a call.
          ...(point === "between calls" ? { maxCall: 3 } : { recordsPerRequest: 3 }),
        },
        sentinel: { maxBatch: 3 },
        defender: { maxBatch: 3 },
      }),
      fetch: crash.fetch,
      sleep: crash.sleep,
      graphqlAttempts: 1,
      extra: { batchSize: 3 },
    });
    const stop = new AbortController();
    const running = doomed.start(stop.signal).catch(() => {});
    await held;
    const cursorAtCrash = savedCursor(stack);
    crash.kill();
    stop.abort();
    await running;

    // The crash left the target behind the stream, and the saved cursor is not past the held batch.
    assert.equal(savedCursor(stack), cursorAtCrash, "nothing was saved after the crash");
    assert.ok(stack.present().length < expected.size, "the crash happened mid-way");
    const acknowledged = doomed.status().counters.upserted ?? 0;
    if (point === "inside a call") {
      assert.ok(stack.present().length > 0, "the first submit of the call reached Graph");
    } else {
      assert.ok(acknowledged > 0, "the first batch was acknowledged before the crash");
      if (answerLost) {
        assert.ok(
          stack.present().length > acknowledged,
          "Microsoft applied the unacknowledged batch",
        );
      }
    }

    const fresh = connectorFor(stack);
    assert.equal(await fresh.runOnce(), true, JSON.stringify(fresh.status()));
    const present = stack.present();
    noDuplicates(present);
    assert.deepEqual(sorted(present), sorted(await stack.expected(NOW)));
  } finally {
    await stack.close();
  }
}

for (const target of TARGETS) {
  Deno.test(`a ${target} sync killed before its batch reached Microsoft resumes with no loss and no duplicate`, async () => {
    await killMidBatch(target, false);
  });

  Deno.test(`a ${target} sync killed after Microsoft applied a batch but before the answer resumes with no duplicate`, async () => {
    await killMidBatch(target, true);
  });

  Deno.test(`a ${target} sync whose cursor could not be saved replays the acknowledged events without duplicates`, async () => {
    const stack = await startSentinelStack({ target, opencti: { seed: true, heartbeatMs: 20 } });
    try {
      const first = connectorFor(stack);
      assert.equal(await first.runOnce(), true);
      const cursorBefore = savedCursor(stack);
      assert.ok(cursorBefore !== undefined);

      const scored = seedNamed(stack, "1.2.3.4");
      stack.opencti.store.upsert({ ...scored, x_opencti_score: 10 });
      stack.opencti.store.remove(seedNamed(stack, "payload.dll (SHA-256)").id);
      stack.opencti.store.upsert({
        id: "indicator--9d1a3f3e-2b0c-5f86-9a1e-6f0f7e5b2c11",
        type: "indicator",
        spec_version: "2.1",
        created: "2024-06-10T07:00:00.000Z",
        modified: "2024-06-10T07:00:00.000Z",
        name: "203.0.113.99",
        pattern: "[ipv4-addr:value = '203.0.113.99']",
        pattern_type: "stix",
        valid_from: "2024-06-10T07:00:00.000Z",
        labels: ["c2"],
        x_opencti_score: 70,
      });

      // OpenCTI refuses every ping: the target acknowledges, the cursor stays where it was.
      stack.opencti.control.graphql.injectFailure({
        field: "pingConnector",
        error: { name: "FunctionalError", reason: "Simulated outage" },
        times: -1,
      });
      const unlucky = connectorFor(stack, { graphqlAttempts: 1 });
      await unlucky.runOnce();
      assert.equal(savedCursor(stack), cursorBefore, "the cursor was not saved");
      const applied = await stack.expected(NOW);
      assert.deepEqual(sorted(stack.present()), sorted(applied), "the target got the changes");
      assert.ok((unlucky.status().counters.upserted ?? 0) >= 2);

      // The next instance replays from the old cursor: same store, nothing twice.
      stack.opencti.control.graphql.clearFailures();
      const next = connectorFor(stack);
      assert.equal(await next.runOnce(), true, JSON.stringify(next.status()));
      assert.ok((next.status().counters.upserted ?? 0) >= 2, "the changes were replayed");
      const present = stack.present();
      noDuplicates(present);
      assert.deepEqual(sorted(present), sorted(applied));
      assert.notEqual(savedCursor(stack), cursorBefore);
    } finally {
      await stack.close();
    }
  });
}

for (const answerLost of [false, true]) {
  Deno.test(
    `a graph sync killed between two submits of one call (${
      answerLost ? "answer lost" : "request lost"
    }) resumes with no loss and no duplicate`,
    async () => {
      await killMidBatch("graph", answerLost, "inside a call");
    },
  );
}
