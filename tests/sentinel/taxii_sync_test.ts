/**
 * The upstream Defender synchronizer's compose file run unchanged, end to end: its environment →
 * `resolveConfig` → the registry's sentinel module → OpenCTI's TAXII collections (simulator) →
 * Defender (simulator). The compose names the real Microsoft and OpenCTI URLs; a routed fetch
 * sends them to the simulators, so not one variable is changed. Also the TAXII simulator's
 * strictness and the TAXII reader's paging and errors.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { resolveConfig } from "../../src/config/mod.ts";
import { routedFetch } from "../../src/demo/sims.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import { readTaxiiCollection, TaxiiError } from "../../src/opencti/taxii.ts";
import type { ConnectorStatus } from "../../src/runtime/connector.ts";
import type { Fetch } from "../../src/runtime/http.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import { sentinel } from "../../src/sentinel/mod.ts";
import { SEED_TIME } from "../../src/sim/opencti_seed.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { type SentinelStack, startSentinelStack } from "../../src/sim/stack.ts";
import type { StixObject } from "../../src/stix/types.ts";

const NOW = Date.parse(SEED_TIME);
const FIXTURE = new URL(
  "../fixtures/config/upstream_defender_intel_synchronizer.compose.yml",
  import.meta.url,
);

/** The compose file's environment, exactly as written. */
function composeEnv(): Record<string, string> {
  const doc = parse(Deno.readTextFileSync(FIXTURE)) as {
    services: Record<string, { environment: Record<string, unknown> }>;
  };
  const [service] = Object.values(doc.services);
  assert.ok(service);
  return Object.fromEntries(
    Object.entries(service.environment).map(([key, value]) => [key, String(value)]),
  );
}

/** The simulators behind the compose file's URLs, its app and token known to them. */
async function withStack(
  body: (stack: SentinelStack, env: Record<string, string>, fetch: Fetch) => Promise<void>,
) {
  const env = composeEnv();
  const stack = await startSentinelStack({
    target: "defender",
    // What the two collections hold together (for stack.expected()).
    streamId: "union",
    opencti: {
      seed: true,
      tokens: [SIM_TOKEN, env.OPENCTI_TOKEN as string],
      streams: { union: { filter: { types: ["indicator"], labels: ["c2", "phishing"] } } },
      taxiiCollections: {
        COLLECTION1: { name: "C2", filter: { types: ["indicator"], labels: ["c2"] } },
        COLLECTION2: { name: "Phishing", filter: { types: ["indicator"], labels: ["phishing"] } },
      },
    },
  });
  stack.entra.registerApp({
    tenantId: env.MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_TENANT_ID as string,
    clientId: env.MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_CLIENT_ID as string,
    secret: env.MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_CLIENT_SECRET as string,
    roles: { "https://api.securitycenter.microsoft.com": ["Ti.ReadWrite"] },
  });
  const fetch = routedFetch({
    "http://localhost": stack.opencti.url,
    "https://login.microsoftonline.com": stack.entra.url,
    "https://api.securitycenter.microsoft.com": stack.targetUrl,
  });
  try {
    await body(stack, env, fetch);
  } finally {
    await stack.close();
  }
}

async function createFrom(env: Record<string, string>, fetch: Fetch, sleep?: Sleep) {
  const { config, warnings } = resolveConfig(undefined, env);
  const settings = config.sentinel;
  assert.ok(settings, "sentinel is enabled by the compose file");
  const connector = await sentinel.create(settings, {
    opencti: {
      url: config.opencti.url,
      token: config.opencti.token,
      client: () =>
        new OpenCtiClient({ url: config.opencti.url, token: config.opencti.token, fetch }),
      fetch,
    },
    fetch,
    now: () => NOW,
    sleep: sleep ?? (() => Promise.resolve()),
  });
  return { connector, settings, warnings };
}

function sorted(keys: Iterable<string>): string[] {
  return [...keys].sort();
}

Deno.test("the synchronizer's compose file, unchanged, makes Defender hold exactly its TAXII collections' indicators", async () => {
  await withStack(async (stack, env, fetch) => {
    const { connector, settings } = await createFrom(env, fetch);
    assert.deepEqual(settings.taxiiCollections, ["COLLECTION1", "COLLECTION2"]);
    // A record of someone else, which it must never touch.
    const foreign = stack.defender!.seed(
      {
        indicatorType: "DomainName",
        indicatorValue: "foreign.example",
        application: "Other",
        action: "Audit",
      },
      {
        appid: "0f0f0f0f-1111-4222-8333-444444444444",
        tid: env.MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_TENANT_ID as string,
      },
    );

    assert.equal(await connector.runOnce(), true);
    const expected = sorted(await stack.expected(NOW));
    assert.ok(expected.length >= 4, `the collections hold ${expected.length} records`);
    const ours = () =>
      stack.defender!.store().map((r) => r.entity).filter((r) => r.id !== foreign.entity.id);
    const present = sorted(stack.present().filter((key) => !key.includes("foreign.example")));
    assert.deepEqual(present, expected);
    // Its settings reach every record: its application, and each collection's policy (the
    // first collection named wins for an indicator in both): COLLECTION1 Block, its text and
    // device groups; COLLECTION2 Audit with the global device group.
    const labelsOf = (id: unknown) =>
      (stack.opencti.store.get(String(id))?.labels as string[] | undefined) ?? [];
    let blocked = 0;
    for (const record of ours()) {
      assert.equal(record.application, "OpenCTI Microsoft Defender Intel Synchronizer");
      if (labelsOf(record.externalID).includes("c2")) {
        assert.equal(record.recommendedActions, "Block immediately");
        assert.deepEqual(record.rbacGroupNames, ["Linux Servers", "Production"]);
        if (record.action === "Block") blocked++;
      } else {
        assert.equal(record.action, "Audit");
        assert.ok(!record.recommendedActions, String(record.recommendedActions));
        assert.deepEqual(record.rbacGroupNames, ["Default Group"]);
      }
    }
    assert.ok(blocked > 0, "COLLECTION1's action reached Defender");
    // Nothing of the other indicators (not in either collection).
    const inCollections = new Set(
      stack.opencti.store.list("indicator")
        .filter((o: StixObject) =>
          (o.labels as string[] | undefined ?? []).some((l) => l === "c2" || l === "phishing")
        )
        .map((o) => o.id),
    );
    for (const record of ours()) {
      assert.ok(inCollections.has(String(record.externalID)), String(record.externalID));
    }

    // An indicator leaves the collections (its label changes): the next run deletes it, only it.
    const leaving = stack.opencti.store.list("indicator").find((o) =>
      (o.labels as string[]).includes("phishing")
    );
    assert.ok(leaving);
    const before = ours().length;
    const held = ours().filter((r) => r.externalID === leaving.id).length;
    assert.ok(held > 0);
    const patched = await fetch(`${stack.opencti.url}/_sim/indicators/${leaving.id}`, {
      method: "PATCH",
      body: JSON.stringify({ labels: ["benign"] }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(patched.status, 200, await patched.text());
    assert.equal(await connector.runOnce(), true);
    assert.equal(ours().length, before - held);
    assert.ok(!ours().some((r) => r.externalID === leaving.id));
    assert.deepEqual(
      sorted(stack.present().filter((k) => !k.includes("foreign.example"))),
      sorted(await stack.expected(NOW)),
    );
    assert.ok(
      stack.defender!.store().some((r) => r.entity.id === foreign.entity.id),
      "the foreign record is untouched",
    );

    const status = connector.status() as ConnectorStatus & { details: Record<string, unknown> };
    assert.equal(status.ready, true, status.reasons.join("; "));
    assert.deepEqual(status.details.source, { taxiiCollections: ["COLLECTION1", "COLLECTION2"] });
    const reconcile = status.details.reconcile as { last: { converged: boolean; deleted: number } };
    assert.equal(reconcile.last.converged, true);
    assert.equal(reconcile.last.deleted, 1);
  });
});

Deno.test("the synchronizer's PASSIVE_ONLY=true makes every run a dry run: Defender is left as it was", async () => {
  await withStack(async (stack, env, fetch) => {
    const { connector } = await createFrom(
      { ...env, MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_PASSIVE_ONLY: "true" },
      fetch,
    );
    assert.equal(await connector.runOnce(), true);
    assert.equal(stack.defender!.store().length, 0);
    const status = connector.status();
    const reconcile = status.details?.reconcile as {
      last?: { dryRun: boolean; drift: { missing: number } };
    };
    assert.equal(reconcile.last?.dryRun, true);
    assert.ok((reconcile.last?.drift.missing ?? 0) > 0);
  });
});

Deno.test("a TAXII collection the user cannot read stops the run before anything is deleted, naming the setting", async () => {
  await withStack(async (stack, env, fetch) => {
    const { connector } = await createFrom(env, fetch);
    assert.equal(await connector.runOnce(), true);
    const held = stack.defender!.store().length;
    assert.ok(held > 0);
    const { connector: wrong } = await createFrom(
      { ...env, MICROSOFT_DEFENDER_INTEL_SYNCHRONIZER_TAXII_COLLECTIONS: "COLLECTION1,NO-SUCH" },
      fetch,
    );
    assert.equal(await wrong.runOnce(), false);
    assert.equal(stack.defender!.store().length, held, "nothing deleted on a partial read");
    const status = wrong.status();
    assert.equal(status.ready, false);
    assert.match(status.reasons.join(" "), /NO-SUCH.*403.*SENTINEL_TAXII_COLLECTIONS|NO-SUCH.*403/);
  });
});

Deno.test("readTaxiiCollection() reads every page of a collection and names the fix on 401 and 403", async () => {
  await withStack(async (stack) => {
    const seen: string[] = [];
    const calls: string[] = [];
    const counting: Fetch = (input, init) => {
      calls.push(String(input));
      return fetch(input, init);
    };
    const count = await readTaxiiCollection("COLLECTION1", (o) => {
      seen.push(o.id);
    }, { url: stack.opencti.url, token: SIM_TOKEN, pageSize: 2, fetch: counting });
    const direct = stack.opencti.store.list("indicator")
      .filter((o) => (o.labels as string[] | undefined ?? []).includes("c2"));
    assert.equal(count, direct.length);
    assert.deepEqual(sorted(seen), sorted(direct.map((o) => o.id)));
    assert.equal(calls.length, Math.max(1, Math.ceil(direct.length / 2)));
    assert.ok(calls.slice(1).every((url) => new URL(url).searchParams.get("next")));

    await assert.rejects(
      readTaxiiCollection("COLLECTION1", () => {}, { url: stack.opencti.url, token: "wrong" }),
      (error: unknown) =>
        error instanceof TaxiiError && error.status === 401 && /OPENCTI_TOKEN/.test(error.message),
    );
    await assert.rejects(
      readTaxiiCollection("nope", () => {}, {
        url: stack.opencti.url,
        token: SIM_TOKEN,
        setting: "X_TAXII",
      }),
      (error: unknown) =>
        error instanceof TaxiiError && error.status === 403 && /X_TAXII/.test(error.message) &&
        /TAXIIAPI/.test(error.message),
    );
  });
});

Deno.test("the TAXII simulator is as strict as OpenCTI: token, unknown collection, limit, next, spec version", async () => {
  await withStack(async (stack) => {
    const base = `${stack.opencti.url}/taxii2/root/collections`;
    const auth = { authorization: `Bearer ${SIM_TOKEN}` };
    const none = await fetch(`${base}/COLLECTION1/objects/`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), "Basic, Bearer");
    assert.equal((await none.json()).error_code, "AUTH_REQUIRED");
    const unknown = await fetch(`${base}/nope/objects/`, { headers: auth });
    assert.equal(unknown.status, 403);
    assert.equal((await unknown.json()).error_code, "FORBIDDEN_ACCESS");
    for (
      const query of [
        "limit=0",
        "limit=x",
        "next=bogus",
        "match[spec_version]=2.0",
        "match[version]=first",
      ]
    ) {
      const bad = await fetch(`${base}/COLLECTION1/objects/?${query}`, { headers: auth });
      assert.equal(bad.status, 400, query);
      await bad.body?.cancel();
    }
    const list = await fetch(base, { headers: auth });
    assert.equal(list.headers.get("content-type"), "application/taxii+json;version=2.1");
    const { collections } = await list.json() as {
      collections: { id: string; can_write: boolean }[];
    };
    assert.deepEqual(collections.map((c) => c.id), ["COLLECTION1", "COLLECTION2"]);
    // Larger pages than 500 are cut to 500; the last page says more: false.
    const page = await (await fetch(`${base}/COLLECTION2/objects/?limit=100000`, { headers: auth }))
      .json();
    assert.equal(page.more, false);
    assert.ok(page.objects.length > 0 && page.objects.length <= 500);
  });
});

Deno.test("start() reconciles from the TAXII collections at once, then every INTERVAL, until stopped", async () => {
  await withStack(async (stack, env, fetch) => {
    const controller = new AbortController();
    const waits: number[] = [];
    // The fake sleep: records the wait; the third one stops the connector.
    const sleep: Sleep = (ms) => {
      waits.push(ms);
      if (waits.length === 3) controller.abort();
      return Promise.resolve();
    };
    const { connector } = await createFrom(env, fetch, sleep);
    await connector.start(controller.signal);
    // INTERVAL 300 s between runs; three reconciles (the first at once).
    assert.deepEqual(waits, [300_000, 300_000, 300_000]);
    const reconcile = connector.status().details?.reconcile as { runs: number };
    assert.equal(reconcile.runs, 3);
    assert.deepEqual(sorted(stack.present()), sorted(await stack.expected(NOW)));
    assert.equal(connector.status().state, "idle");
  });
});
