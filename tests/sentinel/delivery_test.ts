/**
 * The delivery guarantee (issue 11), end to end on a fake clock: a Graph that refuses composite
 * `$filter`, a poison item in a batch of 100, and 6-hour outages of every kind against every
 * target: nothing lost, nothing duplicated, the cursor never past an unacknowledged event, nothing
 * read while held, `/status` degraded then healthy.
 */
import assert from "node:assert/strict";
import { Metrics } from "../../src/metrics.ts";
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import type { Fetch } from "../../src/runtime/http.ts";
import type { SentinelConnector } from "../../src/sentinel/connector.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import type {
  ItemResult,
  SyncTarget,
  TargetIndicator,
  TargetName,
  TargetRemoval,
} from "../../src/sentinel/target.ts";
import type { FailurePlan } from "../../src/sim/ms_common.ts";
import { compareEventIds } from "../../src/sim/opencti_store.ts";
import { type SentinelStack, STACK_APP, startSentinelStack } from "../../src/sim/stack.ts";
import { FakeClock } from "../runtime/fake_clock.ts";
import { connectorFor, NOW, sorted } from "./helpers.ts";

const HOUR = 3_600_000;

/** A target wrapper that records when each indicator was acknowledged (fake time). */
class Recorder implements SyncTarget {
  readonly name: TargetName;
  readonly maxBatch: number;
  readonly acked = new Map<string, number>();
  readonly calls: number[] = [];
  readonly revokeByUpload?: boolean;
  readonly #inner: SyncTarget;
  readonly #now: () => number;

  constructor(inner: SyncTarget, now: () => number) {
    this.#inner = inner;
    this.#now = now;
    this.name = inner.name;
    this.maxBatch = inner.maxBatch;
    if (inner.revokeByUpload !== undefined) this.revokeByUpload = inner.revokeByUpload;
  }

  async upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]> {
    this.calls.push(items.length);
    return this.#note(await this.#inner.upsert(items, signal));
  }

  async remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
    this.calls.push(items.length);
    return this.#note(await this.#inner.remove(items, signal));
  }

  status(): Record<string, unknown> {
    return this.#inner.status?.() ?? {};
  }

  unsupported(o: Parameters<NonNullable<SyncTarget["unsupported"]>>[0]): string | undefined {
    return this.#inner.unsupported?.(o);
  }

  rejects(item: TargetIndicator): string | undefined {
    return this.#inner.rejects?.(item);
  }

  #note(results: ItemResult[]): ItemResult[] {
    for (const result of results) {
      if (result.ok && !this.acked.has(result.id)) this.acked.set(result.id, this.#now());
    }
    return results;
  }
}

/** The failure plan of the stack's target simulator. */
function planOf(stack: SentinelStack): FailurePlan {
  return stack.graph?.failures ?? stack.sentinel?.failures ?? stack.defender!.failures;
}

/** A fetch that records every `start_from` the connector saves in OpenCTI, with the fake time. */
function savingFetch(clock: FakeClock, saved: { at: number; cursor: string }[]): Fetch {
  return async (input, init) => {
    if (typeof init?.body === "string" && init.body.includes("pingConnector")) {
      const body = JSON.parse(init.body) as { variables?: { state?: string } };
      const state = body.variables?.state;
      if (state && state !== "null") {
        const cursor = (JSON.parse(state) as { start_from?: unknown }).start_from;
        if (typeof cursor === "string") saved.push({ at: clock.time, cursor });
      }
    }
    return await fetch(input, init);
  };
}

/**
 * Checks that no saved cursor passed an event that asks something of the target before that
 * event's indicator was acknowledged.
 */
function assertCursorNeverAhead(
  stack: SentinelStack,
  saved: { at: number; cursor: string }[],
  recorder: Recorder,
): void {
  const acked = recorder.acked;
  // Events the target must see: not skipped, and not made of observables the target cannot take.
  const demanding = stack.opencti.store.events().filter((event) =>
    intentsOf(event.event, { data: event.data }, { now: NOW }).some((intent) => {
      if (intent.kind === "skip") return false;
      if (intent.kind === "remove") return true;
      if (recorder.rejects(intent.indicator) !== undefined) return false;
      return intent.indicator.observables.some((o) => recorder.unsupported(o) === undefined);
    })
  );
  assert.ok(demanding.length > 0);
  for (const save of saved) {
    for (const event of demanding) {
      if (compareEventIds(event.id, save.cursor) > 0) break;
      const at = acked.get(event.data.id);
      assert.ok(
        at !== undefined && at <= save.at,
        `cursor ${save.cursor} saved at ${
          save.at - NOW
        } ms passed event ${event.id} of ${event.data.id}, acknowledged ${
          at === undefined ? "never" : `at ${at - NOW} ms`
        }`,
      );
    }
  }
}

type OutageKind = "entra-5xx" | "target-503" | "429-storm" | "refused" | "401-secret";
const OUTAGES: OutageKind[] = ["entra-5xx", "target-503", "429-storm", "refused", "401-secret"];
const TARGETS: TargetName[] = ["graph", "sentinel", "defender"];

for (const target of TARGETS) {
  for (const kind of OUTAGES) {
    Deno.test(`a 6-hour ${kind} outage of ${target}: held, degraded, then 0 lost, 0 duplicated, cursor never ahead`, async () => {
      const stack = await startSentinelStack({
        target,
        opencti: { seed: true, heartbeatMs: 20 },
      });
      try {
        const clock = new FakeClock(NOW);
        const end = NOW + 6 * HOUR;
        const during = () => clock.time < end;
        const plan = planOf(stack);
        switch (kind) {
          case "entra-5xx":
            stack.entra.control.failWhile(during, 503);
            break;
          case "401-secret":
            stack.entra.control.failWhile(during, 401);
            break;
          case "target-503":
            plan.failWhile(during, { status: 503 });
            break;
          case "429-storm":
            plan.failWhile(during, { status: 429, headers: { "Retry-After": "120" } });
            break;
          case "refused":
            plan.failWhile(during, "refused");
            break;
        }
        const targetFetch = plan.fetch() as Fetch;
        const tokens = new TokenProvider({
          authority: stack.entra.url,
          tenantId: STACK_APP.tenantId,
          clientId: STACK_APP.clientId,
          credential: { kind: "secret", secret: STACK_APP.clientSecret },
          now: clock.now,
          sleep: clock.sleep,
          random: () => 0.5,
        });
        const recorder = new Recorder(
          stack.createTarget({
            tokens,
            fetch: targetFetch,
            now: clock.now,
            sleep: clock.sleep,
            random: () => 0.5,
          }),
          clock.now,
        );
        const saved: { at: number; cursor: string }[] = [];
        const metrics = new Metrics();
        const snapshots: ReturnType<SentinelConnector["status"]>[] = [];
        let connector: SentinelConnector | undefined = undefined;
        const sleep: Sleep = async (ms, signal) => {
          if (connector) snapshots.push(connector.status());
          await clock.sleep(ms, signal);
        };
        connector = connectorFor(stack, {
          target: recorder,
          fetch: savingFetch(clock, saved),
          metrics,
          extra: {
            now: clock.now,
            sleep,
            random: () => 0.5,
            batchSize: 5,
            catchUpBudgetMs: 120_000,
          },
        });
        assert.equal(await connector.runOnce(), true, JSON.stringify(connector.status()));
        assert.ok(clock.time >= end, "the run lasted the whole outage");

        // Degraded while held, with the reason; nothing read while held (bounded memory).
        const held = snapshots.filter((s) => s.degraded !== undefined);
        assert.ok(held.length > 3, `degraded snapshots: ${held.length}`);
        const longest = Math.max(...held.map((s) => s.degraded?.seconds ?? 0));
        assert.ok(longest >= 5 * 3600, `degraded for ${longest} s`);
        const frames = held.map((s) => (s.details?.stream as { frames: number }).frames);
        assert.equal(Math.min(...frames), Math.max(...frames), "no frame read while held");
        const retained = held.map((s) =>
          (s.details?.stream as { maxRetained: number }).maxRetained
        );
        assert.ok(Math.max(...retained) <= 1_000, `retained ${Math.max(...retained)} frames`);

        // Healthy again, every record there exactly once, no dead letter, no failure.
        const status = connector.status();
        assert.equal(status.degraded, undefined);
        assert.match(metrics.render(), /octi_connector_degraded\{connector="sentinel"\} 0/);
        assert.equal(status.counters.failed ?? 0, 0, JSON.stringify(status.counters));
        assert.equal(connector.deadLetters().entries.length, 0);
        assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(clock.time)));
        assertCursorNeverAhead(stack, saved, recorder);
        assert.ok(saved.some((s) => s.at >= end), "the cursor moved on after the outage");
      } finally {
        await stack.close();
      }
    });
  }
}
