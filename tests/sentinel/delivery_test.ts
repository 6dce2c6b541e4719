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
import {
  DeadLetters,
  type DeadLetterStore,
  FileDeadLetterStore,
} from "../../src/opencti/dead_letters.ts";
import { createApp } from "../../src/server.ts";
import { generateIndicators } from "../../src/sim/opencti_seed.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import type {
  SyncTarget,
  TargetIndicator,
  TargetName,
  TargetRemoval,
} from "../../src/microsoft/target.ts";
import type { ItemResult } from "../../src/runtime/delivery.ts";
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

/**
 * Runs `test` against a fresh stack for `target` (seeded or empty), with a temporary directory
 * when it asks for one (`tempDir()`); the stack is closed and the directory removed after.
 */
async function inStack(
  target: TargetName,
  seed: boolean,
  test: (stack: SentinelStack, tempDir: () => Promise<string>) => Promise<void>,
): Promise<void> {
  const stack = await startSentinelStack({ target, opencti: { seed, heartbeatMs: 20 } });
  let dir: string | undefined;
  try {
    await test(stack, async () => dir ??= await Deno.makeTempDir());
  } finally {
    await stack.close();
    if (dir !== undefined) await Deno.remove(dir, { recursive: true });
  }
}

type OutageKind = "entra-5xx" | "target-503" | "429-storm" | "refused" | "401-secret";
const OUTAGES: OutageKind[] = ["entra-5xx", "target-503", "429-storm", "refused", "401-secret"];
const TARGETS: TargetName[] = ["graph", "sentinel", "defender"];

for (const target of TARGETS) {
  for (const kind of OUTAGES) {
    Deno.test(`a 6-hour ${kind} outage of ${target}: held, degraded, then 0 lost, 0 duplicated, cursor never ahead`, async () => {
      await inStack(target, true, async (stack) => {
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
        const app = createApp({
          connectors: () => connector ? [connector.status()] : [],
          metrics: () => metrics.render(),
        });
        const served: { healthz: number; degraded: unknown }[] = [];
        const sleep: Sleep = async (ms, signal) => {
          if (connector) {
            const status = connector.status();
            snapshots.push(status);
            if (status.degraded && served.length === 0) {
              const body = await (await app.request("/status")).json() as {
                connectors: { degraded?: unknown }[];
              };
              served.push({
                healthz: (await app.request("/healthz")).status,
                degraded: body.connectors[0]?.degraded,
              });
            }
          }
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
        assert.equal(served[0]?.healthz, 200, "liveness stays 200 while degraded");
        assert.ok(
          (served[0]?.degraded as { reason?: string } | undefined)?.reason,
          "/status shows the reason",
        );
        assert.ok(
          held.every((s) => /CLIENT_SECRET/.test(s.degraded?.check ?? "")),
          "names what to check",
        );
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
      });
    });
  }
}

/** Adds `n` generated indicators the target can take (in stream order); returns their ids. */
async function addSendable(stack: SentinelStack, target: SyncTarget, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (const object of await generateIndicators(4 * n, 11)) {
    if (ids.length >= n) break;
    const sendable = intentsOf("create", { data: object }, { now: NOW }).some((intent) =>
      intent.kind === "upsert" && target.rejects?.(intent.indicator) === undefined &&
      intent.indicator.observables.every((o) => target.unsupported?.(o) === undefined)
    );
    if (!sendable) continue;
    stack.opencti.store.upsert(object);
    ids.push(object.id);
  }
  assert.equal(ids.length, n);
  return ids;
}

Deno.test("a Graph that refuses composite $filter gets every indicator, with single-value lookups after the first refusal", async () => {
  await inStack("graph", true, async (stack) => {
    // Without its record index the client looks every indicator up (as past the index limit).
    const target = stack.createTarget({ graph: { recordIndexLimit: 0 } });
    const connector = connectorFor(stack, { target });
    assert.equal(await connector.runOnce(), true, JSON.stringify(connector.status()));
    assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));
    assert.equal(connector.deadLetters().entries.length, 0);
    const lookups = stack.graph!.requests.filter((r) => r.filter !== undefined);
    const filters = lookups.map((r) => r.filter ?? "");
    const composite = filters.findIndex((f) => / or /.test(f));
    assert.ok(composite >= 0, "the client first tried a composite lookup");
    assert.equal(lookups[composite]?.status, 400);
    assert.ok(
      filters.slice(composite + 1).every((f) => !/ or /.test(f)),
      "single lookups afterwards",
    );
    assert.ok(filters.length - composite > 10, `${filters.length - composite} single lookups`);
    assert.equal(connector.status().details?.compositeLookups, false);
  });
});

for (const target of TARGETS) {
  Deno.test(`one poison item in a batch of 100 for ${target}: only it becomes a dead letter, the other 99 arrive`, async () => {
    await inStack(target, false, async (stack) => {
      const clock = new FakeClock(NOW);
      const recorder = new Recorder(
        stack.createTarget({ now: clock.now, sleep: clock.sleep, random: () => 0.5 }),
        clock.now,
      );
      const ids = await addSendable(stack, recorder, 100);
      const poison = ids[37]!;
      planOf(stack).poison(poison);
      const connector = connectorFor(stack, {
        target: recorder,
        extra: { batchSize: 100, batchTimeoutMs: 60_000, sleep: clock.sleep, random: () => 0.5 },
      });
      assert.equal(
        await connector.runOnce(),
        false,
        "a dead letter makes the run report a failure",
      );
      assert.equal(recorder.calls[0], 100, "the first call carried the whole batch");
      const letters = connector.deadLetters().entries;
      assert.deepEqual(letters.map((l) => l.id), [poison]);
      assert.match(letters[0]!.reason, /400|invalid item|BadRequest/);
      const delivered = new Set(recorder.acked.keys());
      assert.equal(delivered.size, 99);
      assert.ok(!delivered.has(poison));
      const expected = [...await stack.expected(NOW)].filter((key) =>
        !key.startsWith(`${poison} `)
      );
      assert.deepEqual(sorted(stack.present()), sorted(expected));
      const status = connector.status();
      assert.equal(status.counters.failed, 1);
      assert.ok(
        (status.counters.split ?? 0) >= 2,
        "the batch was split until the poison was alone",
      );
      assert.equal(status.details?.deadLetters, 1);
      assert.equal(status.degraded, undefined);
    });
  });
}

Deno.test("a dead-letter file that cannot be written: the run goes on, the dead letter stays in memory and /status names SENTINEL_DEAD_LETTER_FILE", async () => {
  await inStack("sentinel", false, async (stack, tempDir) => {
    const dir = await tempDir();
    // The file's folder is a regular file: no save can succeed, as on a read-only disk, where the
    // missing file reads as an empty list.
    await Deno.writeTextFile(`${dir}/data`, "");
    const file = new FileDeadLetterStore(`${dir}/data/letters.json`);
    const readOnlyDisk: DeadLetterStore = {
      load: () => Promise.resolve(undefined),
      save: (data) => file.save(data),
    };
    const clock = new FakeClock(NOW);
    const target = stack.createTarget({ now: clock.now, sleep: clock.sleep });
    const ids = await addSendable(stack, target, 10);
    const poison = ids[3]!;
    stack.sentinel!.failures.poison(poison);
    const metrics = new Metrics();
    const connector = connectorFor(stack, {
      target,
      metrics,
      extra: {
        batchSize: 10,
        batchTimeoutMs: 60_000,
        sleep: clock.sleep,
        deadLetters: new DeadLetters(readOnlyDisk, 100),
      },
    });
    assert.equal(await connector.runOnce(), false, "a dead letter fails the run, as with a file");
    assert.deepEqual(connector.deadLetters().entries.map((l) => l.id), [poison]);
    const expected = [...await stack.expected(NOW)].filter((key) => !key.startsWith(`${poison} `));
    assert.deepEqual(sorted(stack.present()), sorted(expected), "the others are delivered");
    const status = connector.status();
    assert.equal(status.details?.deadLetters, 1);
    assert.match(status.lastError ?? "", /SENTINEL_DEAD_LETTER_FILE/);
    assert.match(status.lastError ?? "", /--allow-write=/);
    assert.match(metrics.render(), /octi_connector_dead_letters\{connector="sentinel"\} 1/);
  });
});

Deno.test("dead letters survive a restart, are listed and replayed through the server, and a replay after the fix delivers them", async () => {
  await inStack("sentinel", false, async (stack, tempDir) => {
    const file = `${await tempDir()}/dead-letters.json`;
    const clock = new FakeClock(NOW);
    const target = stack.createTarget({ now: clock.now, sleep: clock.sleep });
    const ids = await addSendable(stack, target, 10);
    const poison = ids[3]!;
    stack.sentinel!.failures.poison(poison);
    const options = (metrics?: Metrics) => ({
      target,
      ...(metrics ? { metrics } : {}),
      extra: {
        batchSize: 10,
        batchTimeoutMs: 60_000,
        sleep: clock.sleep,
        deadLetters: new DeadLetters(new FileDeadLetterStore(file), 100),
      },
    });
    const first = connectorFor(stack, options());
    assert.equal(await first.runOnce(), false);
    assert.deepEqual(first.deadLetters().entries.map((l) => l.id), [poison]);

    // A new process: the list comes back from the file.
    const metrics = new Metrics();
    const second = connectorFor(stack, options(metrics));
    assert.equal(await second.runOnce(), true, "nothing new fails");
    assert.deepEqual(second.deadLetters().entries.map((l) => l.id), [poison]);
    assert.match(metrics.render(), /octi_connector_dead_letters\{connector="sentinel"\} 1/);
    assert.equal(second.status().details?.deadLetters, 1);

    const app = createApp({
      connectors: () => [second.status()],
      metrics: () => metrics.render(),
      adminToken: "admin-secret",
      deadLetters: (name) => name === second.name ? second.deadLetters() : undefined,
      replayDeadLetters: (name) => name === second.name ? second.replayDeadLetters() : undefined,
    });
    const auth = { authorization: "Bearer admin-secret" };
    assert.equal((await app.request("/connectors/sentinel/dead-letters")).status, 401);
    const listed = await app.request("/connectors/sentinel/dead-letters", { headers: auth });
    assert.equal(listed.status, 200);
    const body = await listed.json() as { count: number; entries: { id: string; kind: string }[] };
    assert.equal(body.count, 1);
    assert.deepEqual(body.entries.map((e) => [e.id, e.kind]), [[poison, "upsert"]]);
    assert.equal(
      (await app.request("/connectors/other/dead-letters", { headers: auth })).status,
      404,
    );

    // Still poisoned: the replay fails again and the entry stays, with one more attempt.
    const again = await app.request("/connectors/sentinel/dead-letters/replay", {
      method: "POST",
      headers: auth,
    });
    assert.deepEqual(await again.json(), {
      connector: "sentinel",
      tried: 1,
      delivered: 0,
      dropped: 0,
      failed: 1,
      held: 0,
    });
    assert.equal(second.deadLetters().entries[0]?.attempts, 2);

    // The fix: the item is accepted now; the replay reads it from OpenCTI and delivers it.
    stack.sentinel!.failures.cure(poison);
    const replay = await app.request("/connectors/sentinel/dead-letters/replay", {
      method: "POST",
      headers: auth,
    });
    assert.equal(replay.status, 200);
    assert.equal((await replay.json() as { delivered: number }).delivered, 1);
    assert.deepEqual(second.deadLetters().entries, []);
    assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));
    const saved = JSON.parse(await Deno.readTextFile(file)) as { entries: unknown[] };
    assert.deepEqual(saved.entries, [], "the file no longer holds it");
  });
});

Deno.test("a catch-up run (Deno Deploy, run once) ends on its budget while a batch is held, saves no position past it, and the next run delivers everything", async () => {
  await inStack("graph", true, async (stack) => {
    const clock = new FakeClock(NOW);
    let down = true;
    planOf(stack).failWhile(() => down, { status: 503 });
    const recorder = new Recorder(
      stack.createTarget({ now: clock.now, sleep: clock.sleep, random: () => 0.5 }),
      clock.now,
    );
    const saved: { at: number; cursor: string }[] = [];
    // The budget runs on the fake clock (so the test does not depend on the machine's speed): it
    // ends the run once the backoff steps have waited BUDGET_MS; every other timer is real.
    const BUDGET_MS = 600_000;
    let budget: { at: number; fire: () => void } | undefined;
    const setTimer = (callback: () => void, ms: number) => {
      if (ms !== BUDGET_MS) {
        const id = setTimeout(callback, ms);
        return () => clearTimeout(id);
      }
      const entry = { at: clock.time + ms, fire: callback };
      budget = entry;
      return () => {
        if (budget === entry) budget = undefined;
      };
    };
    const sleep: Sleep = async (ms, signal) => {
      await clock.sleep(ms, signal);
      if (budget && clock.time >= budget.at) {
        const due = budget;
        budget = undefined;
        due.fire();
      }
    };
    const run = () =>
      connectorFor(stack, {
        target: recorder,
        fetch: savingFetch(clock, saved),
        extra: { now: clock.now, sleep, setTimer, random: () => 0.5, catchUpBudgetMs: BUDGET_MS },
      });
    const first = run();
    assert.equal(await first.runOnce(), false, "a held run is not a success");
    assert.ok(first.status().degraded, "still degraded when the budget ended the run");
    assert.equal(recorder.acked.size, 0);
    assert.equal(first.status().counters.failed ?? 0, 0, "nothing counted against an item");
    assertCursorNeverAhead(stack, saved, recorder);

    down = false;
    const second = run();
    assert.equal(await second.runOnce(), true, JSON.stringify(second.status()));
    assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(clock.time)));
    assertCursorNeverAhead(stack, saved, recorder);
  });
});
