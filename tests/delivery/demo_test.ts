/**
 * The demo end to end: `main.ts --demo --once --summary-json` as a subprocess with the `demo`
 * task's own permissions, for each target; and `runDemo()` in process, whose summary is compared
 * with what the simulators' stores hold.
 */
import assert from "node:assert/strict";
import { type DemoSummary, runDemo } from "../../src/demo/mod.ts";
import type { TargetName } from "../../src/microsoft/target.ts";
import { DENO_JSON, runMainArgs, spawnDeno } from "./helpers.ts";

const TARGETS: readonly TargetName[] = ["graph", "sentinel", "defender"];

/** The permission flags of the `demo` task in deno.json. */
async function demoPermissions(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(DENO_JSON)) as {
    tasks: Record<string, string>;
  };
  const task = config.tasks.demo ?? "";
  assert.match(task, /main\.ts --demo$/);
  return task.split(/\s+/).filter((word) => word.startsWith("--allow-"));
}

function assertShape(summary: DemoSummary): void {
  assert.deepEqual(Object.keys(summary).sort(), [
    "microsoft_incidents",
    "reconcile",
    "sentinel",
    "tanium",
    "tanium_intel",
    "target",
  ]);
  assert.deepEqual(Object.keys(summary.tanium_intel).sort(), ["documents", "sightings_linked"]);
  // The drift the demo makes on purpose (two indicators' records gone, one of them replaced by an
  // upstream connector's record, one orphan of ours) and the one reconcile that heals it.
  assert.deepEqual(summary.reconcile, { missing: 2, orphans: 1, adopted: 1, converged: true });
  assert.deepEqual(Object.keys(summary.sentinel).sort(), [
    "duplicates",
    "expected",
    "present",
    "skipped",
  ]);
  assert.deepEqual(Object.keys(summary.tanium).sort(), [
    "alerts",
    "bundles",
    "incidents",
    "sightings",
    "works",
  ]);
  assert.deepEqual(Object.keys(summary.microsoft_incidents).sort(), [
    "alerts",
    "bundles",
    "incidents",
    "sightings",
    "works",
  ]);
}

for (const target of TARGETS) {
  Deno.test(`main.ts --demo --target ${target} --once exits 0 and writes a consistent summary`, async () => {
    const cwd = await Deno.makeTempDir({ prefix: "octi-demo-" });
    try {
      const run = spawnDeno(
        runMainArgs(await demoPermissions(), [
          "--demo",
          "--target",
          target,
          "--once",
          "--summary-json",
          "summary.json",
        ]),
        { SERVER_PORT: "0" },
        { cwd },
      );
      const status = await run.status;
      assert.equal(status.code, 0, run.output());
      assert.match(run.output(), /Result: OK/);
      const summary = JSON.parse(await Deno.readTextFile(`${cwd}/summary.json`)) as DemoSummary;
      assertShape(summary);
      assert.equal(summary.target, target);
      assert.ok(summary.sentinel.expected > 0, "OpenCTI expects records in the target");
      assert.equal(summary.sentinel.present, summary.sentinel.expected);
      assert.equal(summary.sentinel.duplicates, 0);
      assert.ok((summary.sentinel.skipped.unsupported_pattern_type ?? 0) > 0, "sigma/yara skipped");
      const t = summary.tanium;
      assert.ok(t.alerts > 0 && t.incidents > 0 && t.sightings > 0 && t.bundles > 0 && t.works > 0);
      assert.ok(t.incidents <= t.alerts && t.sightings <= t.incidents);
      // The loop: indicator → intel document → alert → incident and sighting of that indicator.
      assert.ok(summary.tanium_intel.documents > 0);
      assert.ok(summary.tanium_intel.sightings_linked > 0);
      const m = summary.microsoft_incidents;
      assert.deepEqual([m.incidents, m.works], [3, 1]);
      assert.ok(m.alerts >= 4 && m.sightings >= 2 && m.bundles >= 1, JSON.stringify(m));
    } finally {
      await Deno.remove(cwd, { recursive: true });
    }
  });

  Deno.test(`runDemo() for ${target} reports what the simulators' stores hold, live changes included`, async () => {
    const lines: string[] = [];
    let inspected = false;
    const code = await runDemo({
      target,
      once: true,
      handleSignals: false,
      liveProgress: false,
      write: (line) => lines.push(line),
      env: (name) => name === "SERVER_PORT" ? "0" : undefined,
      inspect: async (sims, report, changes) => {
        inspected = true;
        const { stack, tanium } = sims;
        const present = stack.present();
        const expected = await stack.expected(Date.now());
        assert.equal(report.summary.sentinel.expected, expected.size);
        assert.equal(report.summary.sentinel.present, new Set(present).size);
        assert.deepEqual([...new Set(present)].sort(), [...expected].sort());
        assert.equal(present.length, expected.size, "no duplicates in the target store");

        const holds = (id: string) => present.some((key) => key.startsWith(`${id} `));
        const kinds = changes.map((c) => c.kind);
        assert.ok(kinds.includes("create") && kinds.includes("update"));
        assert.ok(kinds.includes("revoke") && kinds.includes("delete"));
        for (const change of changes) {
          if (change.kind === "revoke" || change.kind === "delete") {
            assert.ok(!holds(change.id), `${change.kind}d ${change.name} left ${target}`);
          } else if (expected.size > 0 && [...expected].some((k) => k.startsWith(change.id))) {
            assert.ok(holds(change.id), `${change.kind}d ${change.name} is in ${target}`);
          }
        }
        assert.equal(
          stack.opencti.store.get(changes.find((c) => c.kind === "delete")!.id),
          undefined,
        );

        const graphql = stack.opencti.control.graphql;
        const bundles = graphql.bundles.filter((b) =>
          graphql.connectors.get(b.connectorId)?.name.startsWith("Tanium") === true
        );
        const incidents = new Set(
          bundles.flatMap((b) => b.bundle.objects).filter((o) => o.type === "incident")
            .map((o) => o.id),
        );
        const served = tanium.control.storedAlerts();
        const notSuppressed = served.filter((a) => a.raw.state !== "suppressed");
        assert.equal(report.summary.tanium.alerts, served.length);
        assert.equal(report.summary.tanium.bundles, bundles.length);
        assert.equal(report.summary.tanium.incidents, incidents.size);
        assert.equal(incidents.size, notSuppressed.length, "one incident per alert not suppressed");
        assert.ok(report.summary.tanium.sightings > 0);
        // Every alert raised for a tanium-intel document became a sighting of its indicator.
        const raised = served.filter((a) =>
          tanium.control.intelActivity.created.includes(Number(a.raw.intelDocId))
        );
        assert.ok(raised.length > 0);
        assert.ok(report.summary.tanium_intel.sightings_linked > 0);
        const sighted = new Set(
          bundles.flatMap((b) => b.bundle.objects).filter((o) => o.type === "sighting")
            .map((o) => String(o.sighting_of_ref)),
        );
        for (const alert of raised) {
          const owner = stack.opencti.store.list("indicator").find((i) =>
            Array.isArray(i.external_references) &&
            i.external_references.some((r) =>
              (r as Record<string, unknown>).source_name === "Tanium Threat Response Intel" &&
              (r as Record<string, unknown>).external_id === String(alert.raw.intelDocId)
            )
          );
          // An indicator deleted by the live changes is gone from the store; any other was sighted.
          if (owner) assert.ok(sighted.has(owner.id), `the alert on ${owner.id} is its sighting`);
        }
        assert.ok([...graphql.works.values()].some((w) => w.status === "complete"));

        // The round trip: indicator → target → Microsoft alert → sighting of that indicator.
        assert.ok(sims.matchedIndicators.length >= 2);
        const msBundles = graphql.bundles.filter((b) =>
          graphql.connectors.get(b.connectorId)?.name.startsWith("Microsoft Incidents") === true
        );
        const sightings = msBundles.flatMap((b) => b.bundle.objects)
          .filter((o) => o.type === "sighting");
        for (const indicator of sims.matchedIndicators) {
          assert.ok(
            sightings.some((s) => s.sighting_of_ref === indicator),
            `a sighting of ${indicator}`,
          );
          assert.ok(holds(indicator), `${indicator} is in ${target}`);
          assert.ok(
            stack.opencti.store.list("sighting").some((s) => s.sighting_of_ref === indicator),
            `OpenCTI stored the sighting of ${indicator}`,
          );
        }
        assert.equal(
          report.summary.microsoft_incidents.incidents,
          sims.incidents.incidents().length,
        );
        assert.equal(
          report.summary.microsoft_incidents.sightings,
          new Set(sightings.map((s) => s.id)).size,
        );
      },
    });
    assert.equal(code, 0, lines.join("\n"));
    assert.ok(inspected);
    assert.ok(lines.some((line) => /^Serving http:\/\/127\.0\.0\.1:\d+\/healthz/.test(line)));
  });
}
