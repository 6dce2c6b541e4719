/**
 * tanium-intel and observables, as upstream `stream/tanium-intel` handles them: network values
 * become quick-add documents, file and artifact hashes go to the Reputation service's custom
 * blocklist (`TANIUM_INTEL_HASHES_IN_REPUTATION`) and to a document only when
 * `TANIUM_INTEL_NO_HASHES_IN_INTELS=false`.
 */
import assert from "node:assert/strict";
import { TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import type { StixObject } from "../../src/stix/types.ts";
import { intelIdOf, planIntel } from "../../src/tanium_intel/mapper.ts";
import { ALL_STREAM_OPTIONS, CONSOLE, healOnSecondSleep, inIntelWorld, NOW } from "./helpers.ts";
import { TANIUM_INTEL_SWITCHES } from "../fixtures/settings_defaults.ts";

const SOURCE = "Tanium Threat Response Intel";
const MD5 = "2204459dcbf34aed8906daac26db6f56";
const SHA1 = "f2b0d5f1c8f4c3b2a1e0d9c8b7a6f5e4d3c2b1a0";
const SHA256 = "aa64428647b57bf51524d1756b2ed746e5a3f31b67cf7fe5b5d8a9daf07ca313";

function file(n: number, hashes: Record<string, string>, extra: Record<string, unknown> = {}) {
  return {
    type: "file",
    spec_version: "2.1",
    id: `file--00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    hashes,
    ...extra,
  } satisfies StixObject;
}

function observable(n: number, type: string, value: string): StixObject {
  return {
    type,
    spec_version: "2.1",
    id: `${type}--00000000-0000-4000-9000-${String(n).padStart(12, "0")}`,
    value,
  };
}

Deno.test("planIntel maps observables as upstream: network values to quick-add, file hashes to the reputation list (and a document only when asked)", () => {
  const ip = planIntel("create", observable(1, "ipv4-addr", "198.51.100.9"), { now: NOW });
  assert.equal(ip.kind, "upsert");
  if (ip.kind !== "upsert") return;
  assert.deepEqual(ip.document.content, {
    type: "openioc",
    quickAddType: "Network Indicators",
    text: "198.51.100.9",
  });
  assert.equal(ip.document.name, "198.51.100.9");
  assert.equal(ip.document.reputation, undefined);

  const f = file(2, { MD5: MD5.toUpperCase(), "SHA-256": SHA256 }, { labels: ["Ransomware"] });
  const plan = planIntel("create", f, { now: NOW });
  assert.equal(plan.kind, "upsert");
  if (plan.kind !== "upsert") return;
  assert.equal(
    plan.document.content,
    undefined,
    "TANIUM_INTEL_NO_HASHES_IN_INTELS defaults to true",
  );
  assert.deepEqual(plan.document.reputation, {
    list: "blacklist",
    md5: MD5,
    sha1: "",
    sha256: SHA256,
    uploadedHash: SHA256,
    notes: "ransomware",
  });
  const both = planIntel("create", f, { now: NOW, noHashesInIntels: false });
  assert.deepEqual(both.kind === "upsert" ? both.document.content : undefined, {
    type: "openioc",
    quickAddType: "File Hashes",
    text: `${MD5}\n${SHA256}`,
  });
  const docOnly = planIntel("create", f, {
    now: NOW,
    hashesInReputation: false,
    noHashesInIntels: false,
  });
  assert.equal(docOnly.kind === "upsert" ? docOnly.document.reputation : "x", undefined);
  const neither = planIntel("create", f, { now: NOW, hashesInReputation: false });
  assert.equal(neither.kind === "skip" ? neither.reason : neither.kind, "disabled");

  const removed = planIntel("delete", f, { now: NOW });
  assert.deepEqual(removed, {
    kind: "remove",
    removal: { id: f.id, reputationHashes: [MD5, SHA256] },
  });
  const artifact = planIntel("create", {
    ...file(3, { "SHA-1": SHA1 }),
    type: "artifact",
    id: "artifact--1",
  }, {
    now: NOW,
  });
  assert.equal(artifact.kind === "upsert" ? artifact.document.reputation?.uploadedHash : "", SHA1);
  const process = planIntel("create", { type: "process", id: "process--1" }, { now: NOW });
  assert.equal(process.kind, "skip");
});

Deno.test("tanium-intel: file hashes go to the Reputation blocklist in one request per batch, network observables become documents written back on the observable; a deleted file leaves the list", async () => {
  await inIntelWorld(async (w) => {
    const a = file(11, { MD5, "SHA-256": SHA256 }, { labels: ["malware", "apt"] });
    const b = file(12, { "SHA-1": SHA1 });
    const ip = observable(13, "ipv4-addr", "203.0.113.77");
    for (const o of [a, b, ip]) w.opencti.store.upsert(o);
    const connector = w.intel(undefined, { stream: ALL_STREAM_OPTIONS });
    assert.equal(await connector.runOnce(), true);

    const rep = w.tanium.control.reputations;
    assert.deepEqual([...rep.keys()].sort(), [SHA1, SHA256].sort());
    assert.deepEqual(rep.get(SHA256), {
      list: "blacklist",
      md5: MD5,
      sha1: "",
      sha256: SHA256,
      uploadedHash: SHA256,
      notes: "malware,apt",
    });
    assert.deepEqual(w.tanium.control.reputationActivity.uploads, [2], "one request, two entries");
    // No document for the hashes (TANIUM_INTEL_NO_HASHES_IN_INTELS=true by default).
    assert.equal(intelIdOf(w.indicator(a.id), [SOURCE]), undefined);

    // The network observable: a document, and the reference on the observable (pycti's
    // stixCyberObservableEdit relationAdd), by which tanium-incidents finds it for an alert.
    const ipId = intelIdOf(w.indicator(ip.id), [SOURCE]);
    assert.ok(ipId !== undefined);
    assert.equal(w.tanium.control.intel(ipId)?.type, "openioc");
    assert.match(String(w.tanium.control.intel(ipId)?.contents), /203\.0\.113\.77/);
    const counters = connector.status().counters;
    assert.equal(counters.upserted, 3);
    assert.equal(connector.status().details?.reputationsUploaded, 2);

    // An update re-sends the entry (the upload appends by hash: still one entry).
    w.opencti.store.upsert({ ...w.indicator(b.id), labels: ["wiper"] });
    assert.equal(await connector.runOnce(), true);
    assert.equal(rep.size, 2);
    assert.equal(rep.get(SHA1)?.notes, "wiper");

    // A hash the update takes off (read from the event's reverse patch) leaves the list.
    const sha1b = "0".repeat(39) + "1";
    w.opencti.store.upsert({ ...w.indicator(b.id), hashes: { "SHA-1": sha1b } });
    assert.equal(await connector.runOnce(), true);
    assert.ok(!rep.has(SHA1), "the replaced SHA-1 is no longer blocked");
    assert.ok(rep.has(sha1b));
    w.tanium.control.reputations.delete(sha1b);
    w.opencti.store.upsert({ ...w.indicator(b.id), hashes: { "SHA-1": SHA1 } });
    assert.equal(await connector.runOnce(), true);

    w.opencti.store.remove(a.id);
    assert.equal(await connector.runOnce(), true);
    assert.deepEqual([...rep.keys()], [SHA1], "the deleted file's hashes left the list");
    assert.deepEqual(w.tanium.control.reputationActivity.deletes, [1, 1, 2]);

    // An alert on the network document: tanium-incidents finds the observable by the reference.
    assert.ok(w.tanium.control.raiseAlertFor(ipId, "LAPTOP-7"));
    assert.equal(await w.incidents().runOnce(), true);
    const objects = w.opencti.control.graphql.bundles.flatMap((x) => x.bundle.objects);
    // tanium-incidents relates an observable (a sighting is of an indicator only).
    const related = objects.find((o) =>
      o.type === "relationship" && o.relationship_type === "related-to" && o.source_ref === ip.id
    );
    assert.ok(related, "the incident is related to the observable");
  });
});

Deno.test("tanium-intel: with TANIUM_INTEL_NO_HASHES_IN_INTELS=false a file is also a File Hashes document; with HASHES_IN_REPUTATION=false it stays out of the list", async () => {
  await inIntelWorld(async (w) => {
    const f = file(21, { "SHA-256": SHA256 });
    w.opencti.store.upsert(f);
    const connector = w.intel(undefined, {
      stream: ALL_STREAM_OPTIONS,
      tanium: {
        ...TANIUM_INTEL_SWITCHES,
        autoOnDemandScan: false,
        url: w.tanium.url,
        consoleUrl: CONSOLE,
        token: TANIUM_SIM_TOKEN,
        hashesInReputation: false,
        noHashesInIntels: false,
      },
    });
    assert.equal(await connector.runOnce(), true);
    assert.equal(w.tanium.control.reputations.size, 0);
    assert.deepEqual(w.tanium.control.reputationActivity.uploads, []);
    const id = intelIdOf(w.indicator(f.id), [SOURCE]);
    assert.ok(id !== undefined);
    assert.match(String(w.tanium.control.intel(id)?.contents), new RegExp(SHA256));
  });
});

Deno.test("tanium-intel: a token without the Reputation permission holds the batch (degraded, naming the permission and the option), and it goes through once granted", async () => {
  await inIntelWorld(async (w) => {
    w.opencti.store.upsert(file(31, { MD5 }));
    w.tanium.control.noReputationTokens.add(TANIUM_SIM_TOKEN);
    const held = healOnSecondSleep(
      () => connector.status(),
      () => w.tanium.control.noReputationTokens.delete(TANIUM_SIM_TOKEN),
    );
    const connector = w.intel(undefined, {
      stream: ALL_STREAM_OPTIONS,
      catchUpBudgetMs: 60_000,
      sleep: held.sleep,
    });
    const seen = () => held.seen();
    assert.equal(await connector.runOnce(), true);
    assert.match(
      seen()?.reason ?? "",
      /403.*Reputation write permission.*TANIUM_INTEL_HASHES_IN_REPUTATION=false/,
    );
    assert.match(seen()?.check ?? "", /Reputation write permission/);
    assert.equal(
      connector.deadLetters().entries.length,
      0,
      "a permission problem never dead-letters",
    );
    assert.equal(w.tanium.control.reputations.size, 1);
    assert.equal(connector.status().degraded, undefined);
  });
});

Deno.test("tanium-intel: an entry the Reputation service refuses is split out of its batch and dead-lettered alone; the others are listed", async () => {
  await inIntelWorld(async (w) => {
    const good = [file(41, { MD5 }), file(42, { "SHA-1": SHA1 }), file(43, { "SHA-256": SHA256 })];
    const bad = file(44, { MD5: "not-a-hash" });
    for (const o of [good[0]!, bad, good[1]!, good[2]!]) w.opencti.store.upsert(o);
    const connector = w.intel(undefined, { stream: ALL_STREAM_OPTIONS });
    assert.equal(await connector.runOnce(), false, "a dead letter is reported");
    assert.deepEqual(connector.deadLetters().entries.map((l) => l.id), [bad.id]);
    assert.match(connector.deadLetters().entries[0]!.reason, /400 .*md5 is not an MD5 hash/);
    assert.deepEqual([...w.tanium.control.reputations.keys()].sort(), [MD5, SHA1, SHA256].sort());
    assert.ok((connector.status().counters.split ?? 0) >= 1, "the batch was split, not dropped");
  });
});
