/**
 * tanium-intel recovery: no second document after a crash lost the write-back, a deleted
 * document's reference leaves OpenCTI, and dead letters kept in a file across restarts and
 * served by the admin routes.
 */
import assert from "node:assert/strict";
import { findExternalReferences } from "../../src/opencti/lookup.ts";
import type { Fetch } from "../../src/runtime/http.ts";
import {
  DeadLetters,
  FileDeadLetterStore,
  MemoryDeadLetterStore,
} from "../../src/opencti/dead_letters.ts";
import { createApp } from "../../src/server.ts";
import { TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import { intelIdOf } from "../../src/tanium_intel/mapper.ts";
import { intelDeadLetterStore } from "../../src/tanium_intel/mod.ts";
import { DEFAULT_INTEL_DEAD_LETTER_FILE } from "../../src/tanium_intel/settings.ts";
import { CONSOLE, indicator, inIntelWorld, intelWorld, YARA } from "./helpers.ts";
import { TANIUM_INTEL_SWITCHES } from "../fixtures/settings_defaults.ts";

const SOURCE = "Tanium Threat Response Intel";
const ID = "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a";

Deno.test("tanium-intel: a crash between the create and the write-back leads to no second document: the replay finds it by the marker in its description", async () => {
  await inIntelWorld(async (w) => {
    const a = indicator(81, "yara", YARA);
    const b = indicator(82, "stix", "[ipv4-addr:value = '192.0.2.82']");
    w.opencti.store.upsert(a);
    w.opencti.store.upsert(b);
    // The process dies right after Tanium answered the first create: from then on nothing it
    // sends reaches Tanium (sent with a dead session: refused), nothing is written back and no
    // position past the batch is saved.
    let dead = false;
    const dying: Fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      if (dead) headers.set("session", "dead-process");
      const response = await fetch(input, { ...init, headers });
      const url = input instanceof Request ? input.url : String(input);
      if (init?.method === "POST" && /\/sources\/\d+\/intels$/.test(url)) dead = true;
      return response;
    };
    const first = w.intel(ID, {
      catchUpBudgetMs: 200,
      tanium: {
        ...TANIUM_INTEL_SWITCHES,
        autoOnDemandScan: false,
        url: w.tanium.url,
        consoleUrl: CONSOLE,
        token: TANIUM_SIM_TOKEN,
        fetch: dying,
      },
    });
    assert.equal(await first.runOnce(), false);
    assert.equal(w.tanium.control.intelActivity.created.length, 1, "one document made");
    const made = w.tanium.control.intelActivity.created[0]!;
    assert.equal(intelIdOf(w.indicator(a.id), [SOURCE]), undefined, "its write-back was lost");

    // The restarted process replays both events.
    const restarted = w.intel(ID);
    assert.equal(await restarted.runOnce(), true);
    assert.equal(w.tanium.control.intelActivity.created.length, 2, "only b is created now");
    assert.equal(intelIdOf(w.indicator(a.id), [SOURCE]), made, "a's first document is kept");
    assert.ok(intelIdOf(w.indicator(b.id), [SOURCE]) !== undefined);
    assert.equal(restarted.status().details?.documentsFoundByMarker, 1);
    assert.equal(
      w.tanium.control.intels().filter((i) => String(i.name) === "Indicator 81").length,
      1,
    );
  });
});

Deno.test("tanium-intel: revoking or deleting an indicator deletes the written-back reference in OpenCTI, so tanium-incidents links nothing to the deleted document", async () => {
  await inIntelWorld(async (w) => {
    const revoked = indicator(91, "yara", YARA);
    const deleted = indicator(92, "stix", "[domain-name:value = 'gone.example']");
    const kept = indicator(93, "stix", "[domain-name:value = 'kept.example']");
    for (const o of [revoked, deleted, kept]) w.opencti.store.upsert(o);
    const connector = w.intel();
    assert.equal(await connector.runOnce(), true);
    const revokedId = intelIdOf(w.indicator(revoked.id), [SOURCE])!;
    const deletedId = intelIdOf(w.indicator(deleted.id), [SOURCE])!;
    const keptId = intelIdOf(w.indicator(kept.id), [SOURCE])!;
    const refs = (id: number) =>
      findExternalReferences(w.client, String(id), { sourceNames: [SOURCE] });
    assert.equal((await refs(deletedId)).length, 1);

    w.opencti.store.upsert({ ...w.indicator(revoked.id), revoked: true });
    w.opencti.store.remove(deleted.id);
    assert.equal(await connector.runOnce(), true);
    assert.equal(w.tanium.control.intel(revokedId), undefined);
    assert.equal(w.tanium.control.intel(deletedId), undefined);
    // The revoked indicator still exists, without our reference; no reference object is left.
    assert.equal(intelIdOf(w.indicator(revoked.id), [SOURCE]), undefined);
    assert.deepEqual(await refs(revokedId), []);
    assert.deepEqual(await refs(deletedId), []);
    assert.equal((await refs(keptId)).length, 1, "the others are untouched");
    assert.equal(connector.status().counters.references_removed, 2);
    assert.equal(connector.status().counters.removed, 2, "the reference's removal is no new work");
  });
});

Deno.test("intelDeadLetterStore() keeps TANIUM_INTEL_DEAD_LETTER_FILE, memory for none, the default file off Deno Deploy", () => {
  assert.ok(intelDeadLetterStore("/var/lib/x.json", {}) instanceof FileDeadLetterStore);
  assert.ok(intelDeadLetterStore("none", {}) instanceof MemoryDeadLetterStore);
  assert.ok(intelDeadLetterStore(undefined, {}) instanceof FileDeadLetterStore);
  assert.ok(intelDeadLetterStore(undefined, { diskless: true }) instanceof MemoryDeadLetterStore);
  assert.equal(DEFAULT_INTEL_DEAD_LETTER_FILE, "data/tanium-intel-dead-letters.json");
});

Deno.test("tanium-intel: dead letters survive a restart in their file, are listed and replayed through the admin routes", async () => {
  const w = await intelWorld();
  const dir = await Deno.makeTempDir();
  const file = `${dir}/tanium-intel-dead-letters.json`;
  try {
    const bad = indicator(101, "yara", "not a rule");
    w.opencti.store.upsert(bad);
    const letters = () => ({ deadLetters: new DeadLetters(new FileDeadLetterStore(file), 100) });
    const first = w.intel(ID, letters());
    assert.equal(await first.runOnce(), false);
    assert.deepEqual(first.deadLetters().entries.map((l) => l.id), [bad.id]);
    const saved = JSON.parse(await Deno.readTextFile(file));
    assert.match(JSON.stringify(saved), new RegExp(bad.id));

    // A new process reads the list back from the file.
    const second = w.intel(ID, letters());
    assert.equal(await second.runOnce(), true);
    assert.deepEqual(second.deadLetters().entries.map((l) => l.id), [bad.id]);

    const app = createApp({
      connectors: () => [second.status()],
      metrics: () => "",
      adminToken: "admin-secret",
      deadLetters: (name) => name === second.name ? second.deadLetters() : undefined,
      replayDeadLetters: (name) => name === second.name ? second.replayDeadLetters() : undefined,
    });
    const auth = { authorization: "Bearer admin-secret" };
    const listed = await app.request("/connectors/tanium-intel/dead-letters", { headers: auth });
    assert.equal(listed.status, 200);
    const body = await listed.json() as { count: number; entries: { id: string }[] };
    assert.deepEqual(body.entries.map((e) => e.id), [bad.id]);

    // Fixed in OpenCTI: the replay reads the current version and delivers it.
    w.opencti.store.upsert({ ...w.indicator(bad.id), pattern: YARA });
    const replay = await app.request("/connectors/tanium-intel/dead-letters/replay", {
      method: "POST",
      headers: auth,
    });
    assert.equal(replay.status, 200);
    const report = await replay.json() as { delivered: number };
    assert.equal(report.delivered, 1);
    assert.equal(second.deadLetters().entries.length, 0);
    assert.ok(intelIdOf(w.indicator(bad.id), [SOURCE]) !== undefined, "written back");
    assert.deepEqual(JSON.parse(await Deno.readTextFile(file)).entries ?? [], []);
  } finally {
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tanium-intel: a merge deletes the merged-away indicators' documents and keeps and updates the target's (a merge is no delete of the target)", async () => {
  await inIntelWorld(async (w) => {
    const target = indicator(111, "stix", "[ipv4-addr:value = '192.0.2.111']");
    const source = indicator(112, "stix", "[ipv4-addr:value = '192.0.2.112']");
    w.opencti.store.upsert(target);
    w.opencti.store.upsert(source);
    const connector = w.intel();
    assert.equal(await connector.runOnce(), true);
    const targetId = intelIdOf(w.indicator(target.id), [SOURCE])!;
    const sourceId = intelIdOf(w.indicator(source.id), [SOURCE])!;

    w.opencti.store.merge(target.id, [source.id]);
    assert.equal(await connector.runOnce(), true);
    assert.equal(
      w.tanium.control.intel(sourceId),
      undefined,
      "the merged-away document is deleted",
    );
    assert.ok(w.tanium.control.intel(targetId), "the target's document stays");
    assert.equal(intelIdOf(w.indicator(target.id), [SOURCE]), targetId);
  });
});
