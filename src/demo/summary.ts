/**
 * What the demo proves, read from the simulators' own stores (never from the connectors'
 * counters, except the skip reasons): the records the target holds against what OpenCTI says it
 * should hold, and what OpenCTI received from the Tanium import.
 *
 * @module
 */
import type { ConnectorStatus } from "../runtime/connector.ts";
import type { TargetName } from "../microsoft/target.ts";
import type { StixObject } from "../stix/types.ts";
import { DEMO_MS_INCIDENTS_ID, type DemoSims } from "./sims.ts";

/** The `--summary-json` document (its shape is fixed by the demo issue). */
export interface DemoSummary {
  /** The target simulator that ran. */
  target: TargetName;
  /** The reconcile the demo ran after making drift on purpose (absent when it did not run). */
  reconcile?: {
    /** Indicators found missing (the deleted one and the adopted one). */
    missing: number;
    /** Orphans of ours found. */
    orphans: number;
    /** Upstream records adopted. */
    adopted: number;
    /** The target equals what OpenCTI says afterwards. */
    converged: boolean;
  };
  /** The sentinel connector's result, read from the simulators. */
  sentinel: {
    /** Records OpenCTI holds that the target should have (one per indicator and observable). */
    expected: number;
    /** Distinct records the target simulator holds. */
    present: number;
    /** Records the target holds more than once. */
    duplicates: number;
    /** Skipped events by reason (the connector's counters). */
    skipped: Record<string, number>;
  };
  /** The tanium-incidents connector's result, read from the simulators. */
  tanium: {
    /** Alerts the Tanium simulator serves. */
    alerts: number;
    /** Distinct incidents in the bundles OpenCTI received. */
    incidents: number;
    /** Distinct sightings in the bundles OpenCTI received. */
    sightings: number;
    /** Bundles OpenCTI received from the connector. */
    bundles: number;
    /** Works the connector opened in OpenCTI. */
    works: number;
  };
  /** The microsoft-incidents connector's result, read from the simulators. */
  microsoft_incidents: {
    /** Distinct case-incidents in the bundles OpenCTI received. */
    incidents: number;
    /** Distinct alert incidents in those bundles. */
    alerts: number;
    /** Distinct sightings in those bundles. */
    sightings: number;
    /** Bundles OpenCTI received from the connector. */
    bundles: number;
    /** Works the connector opened in OpenCTI. */
    works: number;
  };
  /** The tanium-intel connector's result, read from the simulators. */
  tanium_intel: {
    /** Intel documents tanium-intel keeps in Tanium now (the `OpenCTI` source). */
    documents: number;
    /** Sightings OpenCTI received for indicators whose Tanium document tanium-intel created. */
    sightings_linked: number;
  };
}

/** A summary and the comparisons behind it. */
export interface SummaryReport {
  /** The summary as written by `--summary-json`. */
  summary: DemoSummary;
  /** Records expected but absent from the target. */
  missing: string[];
  /** Records in the target that OpenCTI no longer wants there. */
  unexpected: string[];
  /** Works of the tanium connector that are not complete or hold errors. */
  unfinishedWorks: string[];
  /** OpenCTI indicators in the stream (for the text summary). */
  indicators: number;
  /** Tanium alerts that should become incidents (all but the suppressed ones). */
  importable: number;
  /** Microsoft incidents the Graph security simulator serves. */
  msIncidentsServed: number;
  /** Indicators the seeded Microsoft alerts match that got no sighting. */
  unsighted: string[];
  /** Sighted indicators (of the matched ones) that the target does not hold. */
  sightedNotInTarget: string[];
  /** Works of the microsoft-incidents connector that are not complete or hold errors. */
  msUnfinishedWorks: string[];
}

/** Options of {@linkcode collectSummary}. */
export interface CollectSummaryOptions {
  /** The sentinel connector's status (for its skip reasons). @default no skips */
  sentinel?: ConnectorStatus;
  /** The time `expected` is evaluated at (expiry). @default Date.now() */
  now?: number;
  /** The microsoft-incidents connector's id. @default DEMO_MS_INCIDENTS_ID */
  microsoftIncidentsId?: string;
}

/** Reads the summary from the simulators; `taniumConnectorId` is the importer's id in OpenCTI. */
export async function collectSummary(
  sims: DemoSims,
  taniumConnectorId: string,
  options: CollectSummaryOptions = {},
): Promise<SummaryReport> {
  const { stack } = sims;
  const expected = await stack.expected(options.now ?? Date.now());
  const presentList = stack.present();
  const present = new Set(presentList);
  const graphql = stack.opencti.control.graphql;
  const bundles = graphql.bundles.filter((b) => b.connectorId === taniumConnectorId);
  const objects = bundles.flatMap((b) => b.bundle.objects);
  const works = [...graphql.works.values()].filter((w) => w.event_source_id === taniumConnectorId);
  const msId = options.microsoftIncidentsId ?? DEMO_MS_INCIDENTS_ID;
  const msBundles = graphql.bundles.filter((b) => b.connectorId === msId);
  const msObjects = msBundles.flatMap((b) => b.bundle.objects);
  const msWorks = [...graphql.works.values()].filter((w) => w.event_source_id === msId);
  const sighted = new Set(
    msObjects.filter((o) => o.type === "sighting").map((o) => String(o.sighting_of_ref)),
  );
  const held = new Set(presentList.map((key) => key.split(" ")[0]));
  const summary: DemoSummary = {
    target: sims.target,
    sentinel: {
      expected: expected.size,
      present: present.size,
      duplicates: presentList.length - present.size,
      skipped: skipReasons(options.sentinel),
    },
    tanium: {
      alerts: sims.tanium.control.alertCount,
      incidents: distinct(objects, "incident"),
      sightings: distinct(objects, "sighting"),
      bundles: bundles.length,
      works: works.length,
    },
    microsoft_incidents: {
      incidents: distinct(msObjects, "case-incident"),
      alerts: distinct(msObjects, "incident"),
      sightings: distinct(msObjects, "sighting"),
      bundles: msBundles.length,
      works: msWorks.length,
    },
    tanium_intel: intelSummary(sims, objects),
  };
  return {
    summary,
    missing: [...expected].filter((key) => !present.has(key)).sort(),
    unexpected: [...present].filter((key) => !expected.has(key)).sort(),
    unfinishedWorks: works
      .filter((w) => w.status !== "complete" || w.errors.length > 0)
      .map((w) => `${w.id} (${w.status}, ${w.errors.length} errors)`),
    indicators: stack.opencti.store.list("indicator").length,
    importable: sims.tanium.control.storedAlerts()
      .filter((a) => String(a.raw.state ?? "").toLowerCase() !== "suppressed").length,
    msIncidentsServed: sims.incidents.incidents().length,
    unsighted: sims.matchedIndicators.filter((id) => !sighted.has(id)),
    sightedNotInTarget: sims.matchedIndicators.filter((id) => sighted.has(id) && !held.has(id)),
    msUnfinishedWorks: msWorks
      .filter((w) => w.status !== "complete" || w.errors.length > 0)
      .map((w) => `${w.id} (${w.status}, ${w.errors.length} errors)`),
  };
}

/** Why the report is wrong (empty when the demo proved what it should). */
export function summaryProblems(report: SummaryReport): string[] {
  const { sentinel, tanium, target } = report.summary;
  const problems: string[] = [];
  if (sentinel.expected === 0) problems.push("OpenCTI holds no indicator the target should have");
  if (report.missing.length > 0) {
    problems.push(
      `${report.missing.length} records missing from ${target}: ${preview(report.missing)}`,
    );
  }
  if (report.unexpected.length > 0) {
    problems.push(
      `${report.unexpected.length} records in ${target} that OpenCTI no longer wants there: ${
        preview(report.unexpected)
      }`,
    );
  }
  const reconcile = report.summary.reconcile;
  if (reconcile && !reconcile.converged) problems.push(`the reconcile did not converge ${target}`);
  if (sentinel.duplicates > 0) {
    problems.push(`${sentinel.duplicates} duplicate records in ${target}`);
  }
  if (tanium.alerts === 0) problems.push("the Tanium simulator serves no alert");
  if (tanium.bundles === 0) problems.push("OpenCTI received no bundle from tanium-incidents");
  if (tanium.works === 0) problems.push("tanium-incidents opened no work in OpenCTI");
  if (tanium.incidents !== report.importable) {
    problems.push(
      `${report.importable} Tanium alerts to import (not suppressed) but ${tanium.incidents} ` +
        "incidents in OpenCTI",
    );
  }
  if (tanium.sightings === 0 || tanium.sightings > tanium.incidents) {
    problems.push(`${tanium.sightings} sightings for ${tanium.incidents} incidents`);
  }
  const intel = report.summary.tanium_intel;
  if (intel.documents === 0) problems.push("tanium-intel keeps no intel document in Tanium");
  if (intel.sightings_linked === 0) {
    problems.push("no sighting in OpenCTI is linked to an indicator tanium-intel sent to Tanium");
  }
  if (report.unfinishedWorks.length > 0) {
    problems.push(`unfinished tanium-incidents works: ${preview(report.unfinishedWorks)}`);
  }
  const ms = report.summary.microsoft_incidents;
  if (ms.incidents !== report.msIncidentsServed) {
    problems.push(
      `${report.msIncidentsServed} Microsoft incidents served but ${ms.incidents} case-incidents ` +
        "in OpenCTI",
    );
  }
  if (ms.works === 0) problems.push("microsoft-incidents opened no work in OpenCTI");
  if (report.msUnfinishedWorks.length > 0) {
    problems.push(`unfinished microsoft-incidents works: ${preview(report.msUnfinishedWorks)}`);
  }
  if (report.unsighted.length > 0) {
    problems.push(`matched indicators without a sighting: ${preview(report.unsighted)}`);
  }
  if (report.sightedNotInTarget.length > 0) {
    problems.push(
      `sighted indicators that ${target} does not hold: ${preview(report.sightedNotInTarget)}`,
    );
  }
  return problems;
}

const TARGET_TITLES: Readonly<Record<TargetName, string>> = {
  graph: "Microsoft Graph tiIndicators",
  sentinel: "Microsoft Sentinel (STIX objects upload API)",
  defender: "Microsoft Defender for Endpoint indicators",
};

/** The human summary, one line per simulated system. */
export function formatSummary(report: SummaryReport, problems: readonly string[]): string[] {
  const { sentinel, tanium, target } = report.summary;
  const skipped = Object.entries(sentinel.skipped)
    .map(([reason, count]) => `${reason} ${count}`)
    .join(", ");
  return [
    "Summary",
    `  OpenCTI (simulated): ${report.indicators} indicators, ${sentinel.expected} observables ` +
    `that ${target} should hold`,
    `  ${TARGET_TITLES[target]} (simulated): ${sentinel.present} records present, ` +
    `${sentinel.duplicates} duplicates` + (skipped === "" ? "" : `; skipped: ${skipped}`),
    `  Tanium Threat Response (simulated): ${tanium.alerts} alerts ` +
    `(${tanium.alerts - report.importable} suppressed)`,
    `  OpenCTI received from tanium-incidents: ${tanium.bundles} bundles in ${tanium.works} ` +
    `works, ${tanium.incidents} incidents, ${tanium.sightings} sightings`,
    `  OpenCTI received from microsoft-incidents: ${report.summary.microsoft_incidents.bundles} ` +
    `bundles in ${report.summary.microsoft_incidents.works} works, ` +
    `${report.summary.microsoft_incidents.incidents} case-incidents, ` +
    `${report.summary.microsoft_incidents.alerts} alerts, ` +
    `${report.summary.microsoft_incidents.sightings} sightings of synced indicators`,
    `  tanium-intel → Tanium: ${report.summary.tanium_intel.documents} intel documents; ` +
    `${report.summary.tanium_intel.sightings_linked} sightings of those indicators back in OpenCTI`,
    problems.length === 0
      ? "  Result: OK (the target holds exactly what OpenCTI expects, every alert was imported)"
      : `  Result: FAILED\n${problems.map((p) => `    - ${p}`).join("\n")}`,
  ];
}

/** Documents of the `OpenCTI` source, and sightings of the indicators they were created for. */
function intelSummary(
  sims: DemoSims,
  objects: readonly StixObject[],
): DemoSummary["tanium_intel"] {
  const control = sims.tanium.control;
  const source = control.sources.find((s) => s.name === "OpenCTI");
  const documents = source === undefined
    ? 0
    : control.intels().filter((i) => i.sourceId === source.id).length;
  const created = new Set(control.intelActivity.created.map(String));
  const linked = new Set<string>();
  for (const indicator of sims.stack.opencti.store.list("indicator")) {
    const refs = Array.isArray(indicator.external_references) ? indicator.external_references : [];
    const ours = refs.some((r) =>
      typeof r === "object" && r !== null &&
      (r as Record<string, unknown>).source_name === DEMO_INTEL_SOURCE &&
      created.has(String((r as Record<string, unknown>).external_id))
    );
    if (ours) linked.add(indicator.id);
  }
  const sightings = new Set(
    objects.filter((o) => o.type === "sighting" && linked.has(String(o.sighting_of_ref)))
      .map((o) => o.id),
  );
  return { documents, sightings_linked: sightings.size };
}

/** The `source_name` the demo's tanium-intel writes back (its connector name). */
export const DEMO_INTEL_SOURCE = "Tanium Threat Response Intel";

function skipReasons(status: ConnectorStatus | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, count] of Object.entries(status?.counters ?? {})) {
    if (name.startsWith("skipped.") && count > 0) out[name.slice("skipped.".length)] = count;
  }
  return out;
}

function distinct(objects: readonly StixObject[], type: string): number {
  return new Set(objects.filter((o) => o.type === type).map((o) => o.id)).size;
}

function preview(items: readonly string[]): string {
  return items.length <= 3 ? items.join("; ") : `${items.slice(0, 3).join("; ")}; …`;
}
