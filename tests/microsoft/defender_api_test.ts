import assert from "node:assert/strict";
import {
  CAP_REACHED_REASON,
  DefenderTarget,
  type DefenderTargetOptions,
} from "../../src/microsoft/defender.ts";
import type { Fetch } from "../../src/runtime/http.ts";
import {
  type DefenderSimOptions,
  type RunningDefenderSim,
  startDefenderSim,
} from "../../src/sim/defender.ts";
import { FakeClock } from "../runtime/fake_clock.ts";
import {
  FakeTokens,
  fakeVerifier,
  type FakeVerifierOptions,
  indicatorId,
  makeIndicator,
} from "../fixtures/microsoft/sentinel/make.ts";
import { assertAbortSendsNothing, entraApp, type TargetSetup, targetSetup } from "./helpers.ts";
import { DEFENDER_CLIENT, DEFENDER_MAPPING } from "../fixtures/settings_defaults.ts";

const SHA256 = "881c0f10c75e64ec39d257a131fcd531f47dd2cff2070ae94baa347d375126fd";
const MD5 = "c30b1d9a6e1f2a38a2ac0f84b4a57b6a";

function setup(
  options: {
    sim?: Partial<DefenderSimOptions>;
    target?: Partial<DefenderTargetOptions>;
    verifier?: FakeVerifierOptions;
  } = {},
): TargetSetup<RunningDefenderSim, DefenderTarget, DefenderTargetOptions> {
  return targetSetup(
    (common) => startDefenderSim({ ...common, ...options.sim }),
    (sim, common, extra: Partial<DefenderTargetOptions>) =>
      new DefenderTarget({
        ...DEFENDER_CLIENT,
        ...DEFENDER_MAPPING,
        apiUrl: sim.url,
        ...common,
        ...options.target,
        ...extra,
      }),
    options.verifier,
  );
}

const values = (sim: RunningDefenderSim) =>
  sim.store().map((r) => `${r.entity.indicatorType}:${r.entity.indicatorValue}`).sort();
const calls = (sim: RunningDefenderSim, method: string, suffix: string) =>
  sim.requests.filter((r) => r.method === method && r.path.endsWith(suffix) && r.status !== 429);

Deno.test("DefenderTarget.upsert() imports indicators and updates them in place without a duplicate", async () => {
  await using env = setup();
  const first = await env.target.upsert([makeIndicator(1), makeIndicator(2)]);
  assert.deepEqual(first, [{ id: indicatorId(1), ok: true }, { id: indicatorId(2), ok: true }]);
  const before = env.sim.store().find((r) => r.entity.externalID === indicatorId(1));
  const updated = makeIndicator(1, { score: 10, description: "Now harmless" });
  assert.deepEqual(await env.target.upsert([updated]), [{ id: indicatorId(1), ok: true }]);
  const store = env.sim.store();
  assert.equal(store.length, 2);
  const after = store.find((r) => r.entity.externalID === indicatorId(1));
  assert.equal(after?.entity.id, before?.entity.id);
  assert.equal(after?.entity.action, "Audit");
  assert.equal(after?.entity.description, "Now harmless");
  assert.equal(after?.entity.application, "OpenCTI");
  assert.equal(after?.entity.createdBy, "app-1");
});

Deno.test("DefenderTarget.upsert() imports at most 500 indicators per call", async () => {
  await using env = setup();
  const items = Array.from({ length: 1200 }, (_, i) => makeIndicator(i + 1));
  const target = env.make({ maxBatch: 1200 });
  assert.equal(target.maxBatch, 500);
  const results = await target.upsert(items);
  assert.equal(results.filter((r) => r.ok).length, 1200);
  assert.equal(calls(env.sim, "POST", "/import").length, 3);
  assert.equal(env.sim.store().length, 1200);
});

Deno.test("DefenderTarget packs a call's records into full imports and BatchDeletes of 500 (issue 14)", async () => {
  await using env = setup();
  assert.equal(env.target.maxCall, Number.POSITIVE_INFINITY);
  // 1,000 indicators, 50 of them with a second observable: 1,050 records. In calls of 500
  // indicators they would take imports of 500 + 25 twice; in one call, 500 + 500 + 50.
  const items = Array.from({ length: 1000 }, (_, i) =>
    i % 20 === 0
      ? makeIndicator(i + 1, {
        observables: [
          { type: "ipv4-addr", value: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}` },
          { type: "domain-name", value: `host${i}.example.com` },
        ],
      })
      : makeIndicator(i + 1));
  const upserted = await env.target.upsert(items);
  assert.equal(upserted.filter((r) => r.ok).length, 1000);
  assert.equal(env.sim.store().length, 1050);
  assert.equal(calls(env.sim, "POST", "/import").length, 3);
  const removed = await env.target.remove(
    items.map((item) => ({ id: item.id, observables: item.observables })),
  );
  assert.equal(removed.filter((r) => r.ok).length, 1000);
  assert.equal(env.sim.store().length, 0);
  assert.equal(calls(env.sim, "POST", "/BatchDelete").length, 3);
});

Deno.test("DefenderTarget keeps a configured maxCall", async () => {
  await using env = setup({ target: { maxCall: 2000 } });
  assert.equal(env.target.maxCall, 2000);
});

Deno.test("DefenderTarget.upsert() skips an indicator Defender cannot take, with the reason", async () => {
  await using env = setup();
  const email = makeIndicator(1, { observables: [{ type: "email-addr", value: "a@example.com" }] });
  const md5 = makeIndicator(2, { observables: [{ type: "file", hash: "MD5", value: MD5 }] });
  const mixed = makeIndicator(3, {
    observables: [
      { type: "file", hash: "MD5", value: MD5 },
      { type: "file", hash: "SHA-256", value: SHA256 },
    ],
  });
  const [r1, r2, r3] = await env.target.upsert([email, md5, mixed]);
  assert(r1 && !r1.ok && !r1.retryable && /e-mail/.test(r1.reason), JSON.stringify(r1));
  assert(r2 && !r2.ok && !r2.retryable && /FileMd5/.test(r2.reason), JSON.stringify(r2));
  assert.deepEqual(r3, { id: indicatorId(3), ok: true });
  assert.deepEqual(values(env.sim), [`FileSha256:${SHA256}`]);
  assert.equal(env.target.status().skippedObservables, 3);
});

Deno.test("DefenderTarget.upsert() fails only the item Defender refuses", async () => {
  await using env = setup();
  env.sim.failures.partialNext([indicatorId(2)], { message: "Injected item failure" });
  const results = await env.target.upsert([makeIndicator(1), makeIndicator(2), makeIndicator(3)]);
  assert.deepEqual(results[0], { id: indicatorId(1), ok: true });
  assert.deepEqual(results[2], { id: indicatorId(3), ok: true });
  const failed = results[1];
  assert(failed && !failed.ok);
  assert.match(failed.reason, /Injected item failure/);
  assert.deepEqual(
    env.sim.store().map((r) => r.entity.externalID).sort(),
    [indicatorId(1), indicatorId(3)],
  );
});

Deno.test("DefenderTarget.remove() deletes our indicators with BatchDelete and is idempotent", async () => {
  await using env = setup();
  const items = [makeIndicator(1), makeIndicator(2), makeIndicator(3)];
  await env.target.upsert(items);
  const removal = [items[0]!, items[1]!].map((i) => ({ id: i.id, observables: i.observables }));
  const results = await env.target.remove([...removal, { id: indicatorId(99) }]);
  assert(results.every((r) => r.ok), JSON.stringify(results));
  assert.deepEqual(env.sim.store().map((r) => r.entity.externalID), [indicatorId(3)]);
  assert.equal(calls(env.sim, "POST", "/BatchDelete").length, 1);
  assert.deepEqual(await env.target.remove(removal), removal.map((r) => ({ id: r.id, ok: true })));
  assert.equal(env.target.status().deleted, 2);
});

Deno.test("DefenderTarget.remove() finds indicators by externalID when no observables are known", async () => {
  await using env = setup();
  await env.target.upsert([makeIndicator(1), makeIndicator(2)]);
  assert.deepEqual(await env.target.remove([{ id: indicatorId(2) }]), [{
    id: indicatorId(2),
    ok: true,
  }]);
  assert.deepEqual(env.sim.store().map((r) => r.entity.externalID), [indicatorId(1)]);
  const filters = env.sim.requests.filter((r) => r.filter !== undefined).map((r) => r.filter);
  assert.deepEqual(filters, ["application eq 'OpenCTI'"]);
});

Deno.test("DefenderTarget.remove() keeps a value another OpenCTI indicator now holds", async () => {
  await using env = setup();
  const shared = [{ type: "domain-name" as const, value: "shared.example.com" }];
  await env.target.upsert([makeIndicator(1, { observables: shared })]);
  await env.target.upsert([makeIndicator(2, { observables: shared })]);
  assert.deepEqual(await env.target.remove([{ id: indicatorId(1), observables: shared }]), [{
    id: indicatorId(1),
    ok: true,
  }]);
  assert.deepEqual(env.sim.store().map((r) => r.entity.externalID), [indicatorId(2)]);
});

Deno.test("DefenderTarget escapes and encodes $filter values holding quotes, & and ?", async () => {
  await using env = setup();
  const url = "http://evil.test/a?b=1&c='d'#e+f%20g";
  const observables = [{ type: "url" as const, value: url }];
  await env.target.upsert([makeIndicator(1, { observables }), makeIndicator(2)]);
  assert.deepEqual(values(env.sim).filter((v) => v.startsWith("Url:")), [`Url:${url}`]);
  const results = await env.target.remove([{ id: indicatorId(1), observables }]);
  assert.deepEqual(results, [{ id: indicatorId(1), ok: true }]);
  assert.deepEqual(env.sim.store().map((r) => r.entity.externalID), [indicatorId(2)]);
  const filter = env.sim.requests.find((r) => r.filter !== undefined)?.filter;
  assert.equal(
    filter,
    "application eq 'OpenCTI' and indicatorType eq 'Url' and indicatorValue eq 'http://evil.test/a?b=1&c=''d''#e+f%20g'",
  );
});

Deno.test("DefenderTarget.remove() falls back to single deletes when BatchDelete answers 404", async () => {
  const clock = new FakeClock();
  const sim = startDefenderSim({ verify: fakeVerifier(), now: clock.now });
  try {
    let intercepted = 0;
    const fetch: Fetch = (input, init) => {
      if (String(input).endsWith("/BatchDelete") && intercepted++ === 0) {
        return Promise.resolve(
          Response.json({ error: { code: "NotFound", message: "gone", target: "x" } }, {
            status: 404,
          }),
        );
      }
      return globalThis.fetch(input, init);
    };
    const target = new DefenderTarget({
      ...DEFENDER_CLIENT,
      ...DEFENDER_MAPPING,
      apiUrl: sim.url,
      tokens: new FakeTokens(),
      fetch,
      now: clock.now,
      sleep: clock.sleep,
    });
    const items = [makeIndicator(1), makeIndicator(2)];
    await target.upsert(items);
    const results = await target.remove(
      items.map((i) => ({ id: i.id, observables: i.observables })),
    );
    assert(results.every((r) => r.ok), JSON.stringify(results));
    assert.equal(sim.store().length, 0);
    assert.equal(sim.requests.filter((r) => r.method === "DELETE").length, 2);
  } finally {
    await sim.close();
  }
});

Deno.test("DefenderTarget waits for Retry-After on 429 and finishes with the exact store", async () => {
  await using env = setup({
    sim: { limits: { import: 2 } },
    target: { rateLimitPerMinute: 30, maxBatch: 1 },
  });
  const items = Array.from({ length: 5 }, (_, i) => makeIndicator(i + 1));
  const start = env.clock.now();
  const results = await env.target.upsert(items);
  assert(results.every((r) => r.ok), JSON.stringify(results));
  assert.equal(env.sim.store().length, 5);
  assert(env.sim.rates.import.refused >= 1);
  assert.equal(env.sim.rates.import.peak("tenant-1/app-1"), 2);
  assert(env.clock.now() - start >= 120_000);
});

Deno.test("DefenderTarget never exceeds its configured import rate", async () => {
  await using env = setup({
    sim: { limits: { import: 2 } },
    target: { rateLimitPerMinute: 2, maxBatch: 1 },
  });
  const items = Array.from({ length: 6 }, (_, i) => makeIndicator(i + 1));
  assert((await env.target.upsert(items)).every((r) => r.ok));
  assert.equal(env.sim.rates.import.refused, 0);
  assert.equal(env.sim.rates.import.peak("tenant-1/app-1"), 2);
  assert.equal(env.sim.store().length, 6);
});

Deno.test("DefenderTarget refreshes the token once on a 401", async () => {
  await using env = setup({ verifier: { refuse: ["token-1"] } });
  assert.deepEqual(await env.target.upsert([makeIndicator(1)]), [{ id: indicatorId(1), ok: true }]);
  assert.deepEqual(env.tokens.invalidated, ["https://api.securitycenter.microsoft.com/.default"]);
});

Deno.test("DefenderTarget refreshes only once when the new token is refused too", async () => {
  await using env = setup({ verifier: { refuse: ["token-1", "token-2", "token-3"] } });
  const [failed] = await env.target.upsert([makeIndicator(1)]);
  assert(failed && !failed.ok);
  assert.equal(env.tokens.invalidated.length, 1);
  assert.equal(env.sim.store().length, 0);
});

Deno.test("DefenderTarget names the missing permission after a 403", async () => {
  await using env = setup({ verifier: { roles: ["Machine.Read.All"] } });
  const [result] = await env.target.upsert([makeIndicator(1)]);
  assert(result && !result.ok);
  assert.match(result.reason, /Ti\.ReadWrite/);
  assert.equal(env.tokens.invalidated.length, 0);
});

Deno.test("DefenderTarget stops creating at the tenant cap while updates and deletes go on", async () => {
  await using env = setup({ sim: { tenantCap: 4 } });
  env.sim.seed({ indicatorType: "DomainName", indicatorValue: "other.example.com" }, {
    appid: "other-app",
    tid: "tenant-1",
  });
  const first = await env.target.upsert([makeIndicator(1), makeIndicator(2), makeIndicator(3)]);
  assert(first.every((r) => r.ok));
  // The tenant now holds 4 indicators: one more creation is refused by Defender.
  const [refused] = await env.target.upsert([makeIndicator(4)]);
  assert(refused && !refused.ok && refused.retryable === false);
  assert.match(refused.reason, /15,000/);
  assert.equal(env.target.status().capReached, true);

  // While the cap is reached: an update goes through, a creation is not even sent.
  const importsBefore = calls(env.sim, "POST", "/import").length;
  const results = await env.target.upsert([
    makeIndicator(2, { score: 10 }),
    makeIndicator(5),
  ]);
  assert.deepEqual(results[0], { id: indicatorId(2), ok: true });
  assert(results[1] && !results[1].ok);
  assert(results[1].reason.endsWith(CAP_REACHED_REASON), results[1].reason);
  assert.equal(calls(env.sim, "POST", "/import").length, importsBefore + 1);
  assert.equal(
    env.sim.store().find((r) => r.entity.externalID === indicatorId(2))?.entity.action,
    "Audit",
  );
  assert.equal(env.sim.store().length, 4);

  // A delete works, frees room and lets creations start again.
  const item1 = makeIndicator(1);
  const removed = await env.target.remove([{ id: item1.id, observables: item1.observables }]);
  assert.deepEqual(removed, [{ id: indicatorId(1), ok: true }]);
  assert.equal(env.target.status().capReached, false);
  assert.deepEqual(await env.target.upsert([makeIndicator(5)]), [{ id: indicatorId(5), ok: true }]);
  assert.deepEqual(
    env.sim.store().map((r) => r.entity.externalID ?? "seed").sort(),
    [indicatorId(2), indicatorId(3), indicatorId(5), "seed"].sort(),
  );
});

Deno.test("DefenderTarget works end to end with the Entra simulator's signed tokens", async () => {
  await using app = await entraApp({
    "https://api.securitycenter.microsoft.com": ["Ti.ReadWrite"],
  });
  const { clientId, tokens } = app;
  const sim = startDefenderSim({ verify: app.entra.verifyAccessToken });
  try {
    const target = new DefenderTarget({
      ...DEFENDER_CLIENT,
      ...DEFENDER_MAPPING,
      apiUrl: sim.url,
      tokens,
    });
    const items = [makeIndicator(1), makeIndicator(2)];
    assert((await target.upsert(items)).every((r) => r.ok));
    assert.deepEqual(sim.store().map((r) => r.entity.createdBy), [clientId, clientId]);
    assert(
      (await target.remove(items.map((i) => ({ id: i.id, observables: i.observables })))).every(
        (r) => r.ok,
      ),
    );
    assert.deepEqual(sim.store(), []);
  } finally {
    await sim.close();
  }
});

Deno.test("DefenderTarget.upsert() rejects with the abort reason and sends nothing once aborted", async () => {
  await using env = setup();
  await assertAbortSendsNothing(env.target, env.sim);
});

Deno.test("DefenderTarget reports a 400 on a multi-indicator import as request-level and on one indicator as item-level", async () => {
  await using env = setup();
  env.sim.failures.poison(indicatorId(2));
  const results = await env.target.upsert([makeIndicator(1), makeIndicator(2), makeIndicator(3)]);
  for (const result of results) {
    assert(!result.ok);
    assert.equal(result.scope, "request", "no verdict on any indicator of the request");
  }
  const [alone] = await env.target.upsert([makeIndicator(2)]);
  assert(alone && !alone.ok);
  assert.equal(alone.scope, "item");
  assert.deepEqual(env.sim.store(), []);
});

Deno.test("DefenderTarget.remove() lists our indicators once for a large batch, then finds removals without a call", async () => {
  await using env = setup();
  const items = Array.from({ length: 10 }, (_, i) => makeIndicator(i + 1));
  await env.target.upsert(items);
  const removal = (list: typeof items) =>
    list.map((i) => ({ id: i.id, observables: i.observables }));
  const first = await env.target.remove(removal(items.slice(0, 5)));
  assert(first.every((r) => r.ok), JSON.stringify(first));
  const lists = () => env.sim.requests.filter((r) => r.method === "GET");
  assert.deepEqual(lists().map((r) => r.filter), ["application eq 'OpenCTI'"]);
  // Imported after the listing: known from the ids the import answered with.
  const later = [makeIndicator(11), makeIndicator(12)];
  await env.target.upsert(later);
  const second = await env.target.remove(removal([...later, items[5]!]));
  assert(second.every((r) => r.ok), JSON.stringify(second));
  assert.equal(lists().length, 1, "no list call after the first");
  assert.deepEqual(
    env.sim.store().map((r) => r.entity.externalID).sort(),
    items.slice(6).map((i) => i.id).sort(),
  );
});

Deno.test("DefenderTarget.remove() above ownIndexLimit finds indicators without observables by one scan per call and touches nothing else", async () => {
  await using env = setup({ sim: { pageSize: 2 }, target: { ownIndexLimit: 2, pageSize: 2 } });
  const items = Array.from({ length: 6 }, (_, i) => makeIndicator(i + 1));
  await env.target.upsert(items);
  const ours = { appid: "app-1", tid: "tenant-1" };
  // Not ours to delete: another app's record with the same externalID, our app's record of
  // another application with that externalID, and our application's record with no externalID.
  env.sim.seed({
    indicatorType: "DomainName",
    indicatorValue: "foreign.example",
    application: "Another Feed",
    externalID: indicatorId(1),
  }, { appid: "other-app", tid: "tenant-1" });
  env.sim.seed({
    indicatorType: "DomainName",
    indicatorValue: "upstream.example",
    application: "OpenCTI Microsoft Defender Intel",
    externalID: indicatorId(2),
  }, ours);
  env.sim.seed({
    indicatorType: "DomainName",
    indicatorValue: "unkeyed.example",
    application: "OpenCTI",
  }, ours);
  const before = env.sim.store();
  const lists = () => env.sim.requests.filter((r) => r.method === "GET");
  // Orphans of a reconcile come without observables (and a stream removal may bring none).
  const first = await env.target.remove([{ id: indicatorId(1) }, {
    id: indicatorId(2),
    observables: [],
  }, { id: indicatorId(99) }]);
  assert.deepEqual(first.map((r) => r.ok), [true, true, true], JSON.stringify(first));
  const afterFirst = lists().length;
  // The index stopped at the limit (2 pages of 2), then one full scan (8 of ours: 4 pages).
  assert.equal(afterFirst, 2 + 4);
  const second = await env.target.remove([{ id: indicatorId(3) }, { id: indicatorId(4) }]);
  assert.deepEqual(second.map((r) => r.ok), [true, true], JSON.stringify(second));
  assert.equal(lists().length - afterFirst, 3, "one scan, no index attempt above the limit");
  // With observables: looked up by value, not indexed.
  const third = await env.target.remove([{
    id: indicatorId(5),
    observables: items[4]!.observables,
  }]);
  assert.deepEqual(third.map((r) => r.ok), [true]);
  const gone = new Set([1, 2, 3, 4, 5].map(indicatorId));
  assert.deepEqual(
    env.sim.store().map((r) => r.entity.id).sort(),
    before.filter((r) =>
      !(r.entity.application === "OpenCTI" && gone.has(String(r.entity.externalID)))
    )
      .map((r) => r.entity.id).sort(),
  );
  const left = env.sim.store();
  assert.deepEqual(
    left.map((r) => r.entity.indicatorValue).sort(),
    [
      "foreign.example",
      "unkeyed.example",
      "upstream.example",
      ...items.slice(5).flatMap((i) => i.observables.map((o) => o.value)),
    ].sort(),
  );
  for (const kept of left) {
    const was = before.find((r) => r.entity.id === kept.entity.id);
    assert.deepEqual(kept, was, "a record left in place is unchanged");
  }
});
