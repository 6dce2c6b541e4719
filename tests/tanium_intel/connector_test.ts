import assert from "node:assert/strict";
import { TaniumIntelClient, TaniumIntelHttpError } from "../../src/tanium_intel/client.ts";
import { intelIdOf } from "../../src/tanium_intel/mapper.ts";
import { TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import { healOnSecondSleep, indicator, inIntelWorld, YARA } from "./helpers.ts";
import { TANIUM_INTEL_SWITCHES } from "../fixtures/settings_defaults.ts";

const SOURCE = "Tanium Threat Response Intel";

Deno.test("tanium-intel: every mapped indicator type becomes a Tanium intel document, labelled and written back; an alert on it becomes a sighting of the same indicator", async () => {
  await inIntelWorld(async (w) => {
    const ipv4 = indicator(1, "stix", "[ipv4-addr:value = '198.51.100.7']");
    const domain = indicator(2, "stix", "[domain-name:value = 'evil.example.com']");
    const hash = indicator(
      3,
      "stix",
      "[file:hashes.'SHA-256' = 'aa64428647b57bf51524d1756b2ed746e5a3f31b67cf7fe5b5d8a9daf07ca313']",
    );
    const yara = indicator(4, "yara", YARA, { labels: ["Malware", "eicar"] });
    const signal = indicator(5, "tanium-signal", "process.name contains 'evil.exe'", {
      x_mitre_platforms: ["Windows", "macOS", "Android"],
    });
    const sigma = indicator(6, "sigma", "title: x");
    const url = indicator(7, "stix", "[url:value = 'http://evil.example.com/a']");
    for (const o of [ipv4, domain, hash, yara, signal, sigma, url]) w.opencti.store.upsert(o);

    const connector = w.intel();
    assert.equal(await connector.runOnce(), true);

    const ours = w.tanium.control.intels().filter((i) => i.id > 702 && i.contents !== undefined);
    assert.equal(ours.length, 5, JSON.stringify(ours.map((i) => i.name)));
    const byName = new Map(ours.map((i) => [String(i.name), i]));
    assert.equal(byName.get("Indicator 1")?.type, "openioc");
    assert.match(String(byName.get("Indicator 1")?.contents), /198\.51\.100\.7/);
    assert.match(String(byName.get("Indicator 2")?.contents), /evil\.example\.com/);
    assert.match(String(byName.get("Indicator 3")?.contents), /aa64428647b57bf5/);
    assert.equal(byName.get("Indicator 4")?.type, "yara");
    assert.equal(byName.get("Indicator 4")?.contents, YARA);
    // The description, then the marker that finds the document again by the indicator id.
    assert.equal(
      byName.get("Indicator 4")?.description,
      `Test indicator 4 second line [OpenCTI ${yara.id}]`,
    );
    assert.equal(byName.get("Indicator 5")?.type, "tanium-signal");
    assert.deepEqual(byName.get("Indicator 5")?.platforms, ["windows", "mac"]);
    // Labels: created once by name (lower-cased), put on each document.
    assert.deepEqual(w.tanium.control.labels.map((l) => l.name).sort(), ["eicar", "malware"]);
    assert.equal((byName.get("Indicator 4")?.labelIds as number[]).length, 2);

    const counters = connector.status().counters;
    assert.equal(counters["skipped.unsupported_pattern_type"], 1);
    assert.equal(counters["skipped.unsupported_by_target"], 1);
    assert.equal(counters.upserted, 5);
    assert.equal(counters.written_back, 5);

    // The write-back: source name, id as a string, console URL, on the OpenCTI indicator.
    for (const stix of [ipv4, domain, hash, yara, signal]) {
      const stored = w.indicator(stix.id);
      const id = intelIdOf(stored, [SOURCE]);
      assert.ok(id !== undefined, `${stix.id} carries the reference`);
      assert.equal(w.tanium.control.intel(id)?.name, stix.name);
      const refs = stored.external_references as Record<string, unknown>[];
      const ref = refs.find((r) => r.source_name === SOURCE)!;
      assert.equal(ref.external_id, String(id));
      assert.equal(ref.url, `https://console.example.com/#/threatresponse/intel/${id}`);
      assert.equal(ref.description, "Intel document within the Tanium platform.");
    }

    // Tanium matches the ipv4 document on an endpoint; tanium-incidents links the alert.
    const ipv4Intel = intelIdOf(w.indicator(ipv4.id), [SOURCE])!;
    const alert = w.tanium.control.raiseAlertFor(ipv4Intel, "LAPTOP-42");
    assert.ok(alert);
    assert.equal(await w.incidents().runOnce(), true);
    const objects = w.opencti.control.graphql.bundles.flatMap((b) => b.bundle.objects);
    const sightings = objects.filter((o) => o.type === "sighting");
    assert.equal(sightings.length, 1);
    assert.equal(sightings[0]!.sighting_of_ref, ipv4.id);

    // The echo of our write-back is skipped, never sent again.
    const again = w.intel();
    assert.equal(await again.runOnce(), true);
  });
});

Deno.test("tanium-intel: an update replaces the document's content in place; revoke and delete remove it", async () => {
  await inIntelWorld(async (w) => {
    const yara = indicator(11, "yara", YARA);
    const ipv4 = indicator(12, "stix", "[ipv4-addr:value = '203.0.113.9']");
    const hash = indicator(13, "stix", "[file:hashes.MD5 = '2204459dcbf34aed8906daac26db6f56']");
    for (const o of [yara, ipv4, hash]) w.opencti.store.upsert(o);
    const connector = w.intel();
    assert.equal(await connector.runOnce(), true);
    const before = w.tanium.control.intels().length;
    const yaraId = intelIdOf(w.indicator(yara.id), [SOURCE])!;
    const ipv4Id = intelIdOf(w.indicator(ipv4.id), [SOURCE])!;
    const hashId = intelIdOf(w.indicator(hash.id), [SOURCE])!;

    const rule2 = `rule Eicar_Two { strings: $b = "EICAR" condition: $b }`;
    w.opencti.store.upsert({ ...w.indicator(yara.id), pattern: rule2, name: "Renamed" });
    assert.equal(await connector.runOnce(), true);
    assert.equal(w.tanium.control.intels().length, before, "no new document");
    assert.equal(w.tanium.control.intel(yaraId)?.contents, rule2);
    assert.equal(w.tanium.control.intel(yaraId)?.name, "Renamed");

    w.opencti.store.upsert({ ...w.indicator(ipv4.id), revoked: true });
    w.opencti.store.remove(hash.id);
    assert.equal(await connector.runOnce(), true);
    assert.equal(w.tanium.control.intel(ipv4Id), undefined, "revoke = delete");
    assert.equal(w.tanium.control.intel(hashId), undefined, "delete");
    assert.ok(w.tanium.control.intel(yaraId));
    assert.equal(connector.status().counters.removed, 2);
  });
});

Deno.test("tanium-intel: a restart that replays the whole history creates no duplicate and loses nothing", async () => {
  await inIntelWorld(async (w) => {
    const a = indicator(21, "stix", "[ipv4-addr:value = '192.0.2.1']");
    const b = indicator(22, "yara", YARA);
    w.opencti.store.upsert(a);
    w.opencti.store.upsert(b);
    assert.equal(await w.intel().runOnce(), true);
    const count = w.tanium.control.intels().length;
    const aId = intelIdOf(w.indicator(a.id), [SOURCE]);

    // Written while the connector was down.
    const c = indicator(23, "tanium-signal", "file.name is 'x.exe'");
    w.opencti.store.upsert(c);
    // A fresh state replays every event from the start, creates included (their data predates
    // the write-back): the document ids are read back from OpenCTI.
    const restarted = w.intel("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d");
    assert.equal(await restarted.runOnce(), true);
    assert.equal(w.tanium.control.intels().length, count + 1, "only the new indicator is added");
    assert.equal(intelIdOf(w.indicator(a.id), [SOURCE]), aId);
    assert.ok(intelIdOf(w.indicator(c.id), [SOURCE]) !== undefined);
    assert.equal(restarted.status().counters.upserted, 3);
  });
});

Deno.test("tanium-intel: a refused token holds the batch (degraded, naming TANIUM_INTEL_TOKEN) and delivers it once fixed", async () => {
  await inIntelWorld(async (w) => {
    w.opencti.store.upsert(indicator(31, "stix", "[ipv4-addr:value = '192.0.2.31']"));
    const token = [...w.tanium.control.tokens][0]!;
    w.tanium.control.tokens.delete(token);
    const held = healOnSecondSleep(
      () => connector.status(),
      () => w.tanium.control.tokens.add(token),
    );
    const connector = w.intel(undefined, { catchUpBudgetMs: 60_000, sleep: held.sleep });
    const seen = () => held.seen();
    assert.equal(await connector.runOnce(), true);
    assert.equal(connector.status().counters.upserted, 1);
    assert.equal(connector.status().counters.failed, undefined);
    assert.equal(connector.deadLetters().entries.length, 0);
    assert.match(seen()?.reason ?? "", /TANIUM_INTEL_TOKEN/);
    assert.match(seen()?.check ?? "", /TANIUM_INTEL_TOKEN/);
    assert.equal(connector.status().degraded, undefined, "cleared once delivered");
  });
});

Deno.test("tanium-intel: a document Tanium refuses on its own becomes a dead letter; the rest goes through", async () => {
  await inIntelWorld(async (w) => {
    const bad = indicator(41, "yara", "not a rule at all");
    const good = indicator(42, "stix", "[domain-name:value = 'ok.example']");
    w.opencti.store.upsert(bad);
    w.opencti.store.upsert(good);
    const connector = w.intel();
    assert.equal(await connector.runOnce(), false, "a failure is reported");
    const letters = connector.deadLetters().entries;
    assert.deepEqual(letters.map((l) => l.id), [bad.id]);
    assert.match(letters[0]!.reason, /400 .*not a YARA rule/);
    assert.ok(intelIdOf(w.indicator(good.id), [SOURCE]) !== undefined);
    assert.equal(intelIdOf(w.indicator(bad.id), [SOURCE]), undefined);
  });
});

Deno.test("tanium-intel client: 401 and 403 name TANIUM_INTEL_TOKEN and the permission", async () => {
  await inIntelWorld(async (w) => {
    const client = new TaniumIntelClient({ url: w.tanium.url, token: "token-expired" });
    w.tanium.control.expiredTokens.add("token-expired");
    w.tanium.control.tokens.add("token-expired");
    await assert.rejects(client.sourceId(), (error: unknown) => {
      assert.ok(error instanceof TaniumIntelHttpError);
      assert.equal(error.status, 403);
      assert.match(error.message, /TANIUM_INTEL_TOKEN/);
      assert.match(error.message, /Threat Response intel write permission/);
      return true;
    });
    const wrong = new TaniumIntelClient({ url: w.tanium.url, token: "nope" });
    await assert.rejects(wrong.sourceId(), /401.*check TANIUM_INTEL_TOKEN/);
  });
});

Deno.test("tanium-intel: intel is deployed after each changed batch; new documents are quick-scanned per computer group when asked", async () => {
  await inIntelWorld(async (w) => {
    const a = indicator(51, "stix", "[ipv4-addr:value = '192.0.2.51']");
    w.opencti.store.upsert(a);
    const connector = w.intel(undefined, {
      tanium: {
        ...TANIUM_INTEL_SWITCHES,
        url: w.tanium.url,
        token: TANIUM_SIM_TOKEN,
        consoleUrl: "https://console.example.com",
        autoOnDemandScan: true,
        computerGroups: [1, 3],
      },
    });
    assert.equal(await connector.runOnce(), true);
    const id = intelIdOf(w.indicator(a.id), [SOURCE])!;
    assert.equal(w.tanium.control.intelActivity.deploys, 1);
    assert.deepEqual(w.tanium.control.intelActivity.scans, [
      { computerGroupId: 1, intelDocId: id },
      { computerGroupId: 3, intelDocId: id },
    ]);
    w.opencti.store.upsert({ ...w.indicator(a.id), name: "Renamed" });
    assert.equal(await connector.runOnce(), true);
    assert.equal(w.tanium.control.intelActivity.deploys, 2, "an update is deployed");
    assert.equal(w.tanium.control.intelActivity.scans.length, 2, "an update is not rescanned");
  });
});

Deno.test("tanium-intel: a run that ends with its batch held saves no position past it; the restarted connector delivers it once", async () => {
  await inIntelWorld(async (w) => {
    const a = indicator(61, "stix", "[ipv4-addr:value = '192.0.2.61']");
    const b = indicator(62, "yara", YARA);
    w.opencti.store.upsert(a);
    w.opencti.store.upsert(b);
    const token = [...w.tanium.control.tokens][0]!;
    w.tanium.control.tokens.delete(token);
    const id = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2910";
    const first = w.intel(id, { catchUpBudgetMs: 200 });
    assert.equal(await first.runOnce(), false, "held: not a success");
    assert.equal(first.status().counters.upserted, undefined);
    assert.equal(first.deadLetters().entries.length, 0, "a systemic failure never dead-letters");

    w.tanium.control.tokens.add(token);
    const before = w.tanium.control.intelActivity.created.length;
    const restarted = w.intel(id);
    assert.equal(await restarted.runOnce(), true);
    assert.equal(w.tanium.control.intelActivity.created.length, before + 2, "both, once");
    assert.ok(intelIdOf(w.indicator(a.id), [SOURCE]) !== undefined);
    assert.ok(intelIdOf(w.indicator(b.id), [SOURCE]) !== undefined);
  });
});

Deno.test("tanium-intel: a referenced document that cannot take the indicator's format (an older connector's) is replaced by a new one, not dead-lettered", async () => {
  await inIntelWorld(async (w) => {
    // Document 700 is a Tanium signal (seed); this STIX indicator claims it.
    const stix = indicator(71, "stix", "[ipv4-addr:value = '192.0.2.71']", {
      external_references: [{ source_name: SOURCE, external_id: "700", url: "u" }],
    });
    w.opencti.store.upsert(stix);
    const connector = w.intel();
    assert.equal(await connector.runOnce(), true);
    assert.equal(connector.deadLetters().entries.length, 0);
    const id = intelIdOf(w.indicator(stix.id), [SOURCE])!;
    assert.ok(id > 700, "the newest reference is the new document");
    assert.equal(w.tanium.control.intel(id)?.type, "openioc");
    assert.equal(w.tanium.control.intel(700)?.type, "tanium-signal", "the old one is left as is");
  });
});
