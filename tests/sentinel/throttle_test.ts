/**
 * Throttling, end to end: the target simulators answer 429 (their own tight limit on a scaled
 * minute, or injected bursts with `Retry-After`); the connector waits, resends the same batches,
 * finishes with exactly the expected store, and its own pacing never exceeds the configured rate.
 */
import assert from "node:assert/strict";
import type { Now, Sleep } from "../../src/runtime/clock.ts";
import type { TargetName } from "../../src/microsoft/target.ts";
import type { SeenRequest } from "../../src/sim/graph.ts";
import {
  type SentinelStack,
  STACK_APP,
  type StackTargetOptions,
  startSentinelStack,
} from "../../src/sim/stack.ts";
import { connectorFor, NOW, sorted } from "./helpers.ts";

const TARGETS: TargetName[] = ["graph", "sentinel", "defender"];

/** The simulator's request log and rate window for the calls the client paces. */
function paced(stack: SentinelStack): {
  requests: () => Pick<SeenRequest, "method" | "path" | "status" | "at">[];
  refused: () => number;
  peak: () => number;
} {
  const app = STACK_APP.clientId;
  const tenantApp = `${STACK_APP.tenantId}/${app}`;
  if (stack.graph) {
    const sim = stack.graph;
    return {
      requests: () => sim.requests,
      refused: () => sim.rate.refused,
      peak: () => sim.rate.peak(tenantApp),
    };
  }
  if (stack.sentinel) {
    const sim = stack.sentinel;
    return {
      requests: () => sim.requests.filter((r) => r.method === "POST" && r.path.endsWith(":upload")),
      refused: () => sim.rate.refused,
      peak: () => sim.rate.peak(app),
    };
  }
  const sim = stack.defender!;
  return {
    requests: () => sim.requests.filter((r) => r.path === "/api/indicators/import"),
    refused: () => sim.rates.import.refused,
    peak: () => sim.rates.import.peak(tenantApp),
  };
}

/** Simulator options giving the paced call `limit` requests per scaled minute. */
function limitOf(target: TargetName, limit: number) {
  switch (target) {
    case "graph":
      return { graph: { rateLimit: limit } };
    case "sentinel":
      return { sentinel: { rateLimit: limit } };
    case "defender":
      return { defender: { limits: { import: limit } } };
  }
}

/** Target options: batches of `batch`, pacing at `perMinute`, short waits after a 429. */
function targetTuning(batch: number, perMinute: number): StackTargetOptions {
  return {
    graph: {
      mapping: { targetProduct: "Azure Sentinel" },
      maxBatch: batch,
      rateLimitPerMinute: perMinute,
      attempts: 30,
    },
    sentinel: { maxBatch: batch, rateLimitPerMinute: perMinute, retryMarginMs: 5, maxAttempts: 30 },
    defender: { maxBatch: batch, rateLimitPerMinute: perMinute, maxAttempts: 30 },
  };
}

for (const target of TARGETS) {
  Deno.test(`sentinel waits out the ${target} simulator's 429s and ends with the exact store`, async () => {
    // The simulator allows 2 calls per 150 ms; the client does not pace, so it meets 429s.
    const stack = await startSentinelStack({
      target,
      timeScale: 150 / 60_000,
      opencti: { seed: true, heartbeatMs: 20 },
      ...limitOf(target, 2),
    });
    try {
      const connector = connectorFor(stack, {
        target: stack.createTarget(targetTuning(2, 100_000)),
        extra: { batchSize: 2 },
      });
      assert.equal(await connector.runOnce(), true, JSON.stringify(connector.status()));
      const log = paced(stack);
      assert.ok(log.refused() > 0, "the simulator answered 429 at least once");
      assert.ok(log.peak() >= 1 && log.peak() <= 2, `accepted ${log.peak()} calls in one window`);
      assert.ok(log.requests().some((r) => r.status === 429));
      assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));
    } finally {
      await stack.close();
    }
  });

  Deno.test(`sentinel paces ${target} calls at the configured rate and honours injected 429 bursts`, async () => {
    // Client minute = 700 ms real, simulator minute = 600 ms: a client keeping its rate is never
    // refused by the simulator's window, whatever the network jitter under 100 ms.
    const limit = 3;
    const stack = await startSentinelStack({
      target,
      timeScale: 0.01,
      opencti: { seed: true, heartbeatMs: 20 },
      ...limitOf(target, limit),
    });
    try {
      const k = 60_000 / 700;
      const start = Date.now();
      const now: Now = () => NOW + (Date.now() - start) * k;
      const sleep: Sleep = (ms, signal) =>
        new Promise((resolve, reject) => {
          if (signal?.aborted) return reject(signal.reason);
          const timer = setTimeout(() => {
            signal?.removeEventListener("abort", abort);
            resolve();
          }, ms / k);
          const abort = () => {
            clearTimeout(timer);
            reject(signal?.reason);
          };
          signal?.addEventListener("abort", abort, { once: true });
        });
      const failures = stack.graph?.failures ?? stack.sentinel?.failures ??
        stack.defender!.failures;
      failures.failNext(429, 2, undefined, { headers: { "Retry-After": "2" } });
      const connector = connectorFor(stack, {
        target: stack.createTarget({ ...targetTuning(3, limit), now, sleep }),
        extra: { batchSize: 3 },
      });
      assert.equal(await connector.runOnce(), true, JSON.stringify(connector.status()));
      assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));

      const log = paced(stack);
      const calls = log.requests();
      assert.ok(calls.length > limit, `pacing had to act: ${calls.length} calls`);
      assert.equal(log.refused(), 0, "the simulator never refused a call for its rate");
      const injected = (stack.graph ?? stack.sentinel ?? stack.defender)!.requests
        .filter((r) => r.status === 429).length;
      assert.equal(injected, 2, "both injected 429s were answered and retried");
      // Any `limit + 1` consecutive paced calls span at least one simulator minute.
      for (let i = 0; i + limit < calls.length; i++) {
        const span = calls[i + limit]!.at - calls[i]!.at;
        assert.ok(span >= 600, `calls ${i}..${i + limit} within ${span} ms`);
      }
    } finally {
      await stack.close();
    }
  });
}
