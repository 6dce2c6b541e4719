/**
 * Drift the demo makes on purpose in the target simulator (issue 17), so that one reconcile can
 * be seen healing it: every record of one synced indicator deleted by hand, an orphan record of
 * ours (an indicator OpenCTI does not have), and a record left by the upstream connector the demo
 * says it replaces (`SENTINEL_ADOPT_SOURCE`), standing for a synced indicator.
 *
 * @module
 */
import { UPSTREAM_APPLICATION, UPSTREAM_SOURCE_SYSTEM } from "../sentinel/settings.ts";
import { STACK_APP } from "../sim/stack.ts";
import { readOpenCtiExtension } from "../stix/extension.ts";
import type { StixObject } from "../stix/types.ts";
import type { DemoSims } from "./sims.ts";

/** The upstream connector the demo replaces, per target (`SENTINEL_ADOPT_SOURCE`). */
export const DEMO_ADOPT_SOURCE = {
  graph: "stream-sentinel",
  sentinel: "microsoft-sentinel-intel",
  defender: "microsoft-defender-intel",
} as const;

/** The STIX id of the demo's orphan record. */
export const DEMO_ORPHAN_ID = "indicator--d3e4f5a6-b7c8-4d9e-8f0a-1b2c3d4e5f60";

/** What the demo changed behind the connector's back. */
export interface DemoDrift {
  /** Indicator whose records were deleted. */
  deleted: string;
  /** Indicator whose record was replaced by an upstream-style one. */
  upstream: string;
  /** The orphan's id. */
  orphan: string;
}

/**
 * Makes the drift; `synced` are indicators the target holds (at least two). With `upstreamNames`
 * the connector runs with the upstream connector's names, whose defaults make its source system
 * (Sentinel) or application (Defender) ours: the orphan is planted under that name, so that the
 * reconcile owns it (a record of any other name is never touched).
 */
export function makeDrift(
  sims: DemoSims,
  synced: readonly StixObject[],
  options: { upstreamNames?: boolean } = {},
): DemoDrift | undefined {
  const [deleted, upstream] = synced;
  if (!deleted || !upstream) return undefined;
  const ours = { appid: STACK_APP.clientId, tid: STACK_APP.tenantId };
  const internal = readOpenCtiExtension(upstream).id ?? upstream.id;
  const { graph, sentinel, defender } = sims.stack;
  if (graph) {
    const drop = (id: string) => {
      for (const r of graph.findByExternalId(id)) graph.edit(r.id, null);
    };
    drop(deleted.id);
    drop(upstream.id);
    const record = (externalId: string, domainName: string) => ({
      externalId,
      targetProduct: "Azure Sentinel",
      action: "alert",
      threatType: "WatchList",
      tlpLevel: "amber",
      description: "left behind",
      expirationDateTime: "2030-01-01T00:00:00Z",
      domainName,
    });
    graph.seed(record(DEMO_ORPHAN_ID, "orphan.example"), ours);
    // Seed-era stream/sentinel: externalId = the OpenCTI internal id.
    graph.seed(record(internal, "upstream.example"), ours);
  } else if (sentinel) {
    const drop = (id: string) => {
      for (const r of sentinel.findById(id)) sentinel.edit(r.name, null);
    };
    drop(deleted.id);
    drop(upstream.id);
    const object = (id: string) => ({
      type: "indicator",
      spec_version: "2.1",
      id,
      created: "2024-01-01T00:00:00Z",
      modified: "2024-01-01T00:00:00Z",
      name: "left behind",
      pattern: "[domain-name:value = 'orphan.example']",
      pattern_type: "stix",
      valid_from: "2024-01-01T00:00:00Z",
    });
    sentinel.seed(
      object(DEMO_ORPHAN_ID),
      options.upstreamNames ? UPSTREAM_SOURCE_SYSTEM : "OpenCTI",
    );
    // stream/microsoft-sentinel-intel: the same STIX id under its own sourcesystem.
    sentinel.seed(object(upstream.id), "Opencti Stream Connector");
  } else if (defender) {
    const drop = (id: string) => {
      for (const r of defender.store()) {
        if (r.entity.externalID === id) defender.edit(r.entity.id, null);
      }
    };
    drop(deleted.id);
    drop(upstream.id);
    defender.seed({
      indicatorType: "DomainName",
      indicatorValue: "orphan.example",
      application: options.upstreamNames ? UPSTREAM_APPLICATION : "OpenCTI",
      externalID: DEMO_ORPHAN_ID,
    }, ours);
    // stream/microsoft-defender-intel: its application, externalId = the OpenCTI internal id.
    defender.seed({
      indicatorType: "DomainName",
      indicatorValue: "upstream.example",
      application: "OpenCTI Microsoft Defender Intel",
      externalID: internal,
    }, ours);
  } else {
    return undefined;
  }
  return { deleted: deleted.id, upstream: upstream.id, orphan: DEMO_ORPHAN_ID };
}
