/**
 * The demo's Microsoft incidents: alerts that fire on indicators the demo's sentinel connector
 * syncs to the target (the round trip: OpenCTI indicator → Microsoft → alert → sighting of that
 * indicator in OpenCTI). Some alerts carry the indicator's STIX id in their custom details (as a
 * Sentinel analytics rule surfaces it), some only the matching evidence value; one incident
 * matches nothing.
 *
 * @module
 */
import {
  type RunningGraphSecuritySim,
  sampleAlert,
  sampleIncident,
} from "../sim/graph_security.ts";
import type { SentinelStack } from "../sim/stack.ts";

const T = "#microsoft.graph.security.";
const SIMPLE = /^\[(ipv4-addr|domain-name|url):value = '((?:[^'\\]|\\.)*)'\]$/;

/** Seeds the simulator; returns the standard ids of the indicators the alerts match. */
export async function seedIncidentsForDemo(
  sim: RunningGraphSecuritySim,
  stack: SentinelStack,
  time: number,
): Promise<string[]> {
  const synced = new Set([...await stack.expected(time)].map((key) => key.split(" ")[0]!));
  // From the end of the list: the demo's live changes revoke and delete the first synced ones.
  const candidates = stack.opencti.store.list("indicator").filter((i) =>
    synced.has(i.id) && typeof i.pattern === "string"
  ).reverse();
  const byValue = candidates
    .map((i) => ({ id: i.id, match: SIMPLE.exec(String(i.pattern)) }))
    .filter((c) => c.match !== null)
    .slice(0, 2);
  const byId = candidates.find((i) => !byValue.some((c) => c.id === i.id));
  const at = (minutesAgo: number) => new Date(time - minutesAgo * 60_000).toISOString();
  const evidenceOf = (kind: string, value: string) =>
    kind === "ipv4-addr"
      ? { "@odata.type": `${T}ipEvidence`, ipAddress: value, verdict: "malicious" }
      : kind === "domain-name"
      ? { "@odata.type": `${T}dnsEvidence`, domainName: value, verdict: "malicious" }
      : {
        "@odata.type": `${T}urlEvidence`,
        url: value.replaceAll("\\'", "'"),
        verdict: "malicious",
      };

  const matched: string[] = [];
  let n = 100;
  const incident = (id: string, minutesAgo: number, alerts: Record<string, unknown>[]) =>
    sim.upsert(sampleIncident(id, at(minutesAgo + 5), at(minutesAgo), alerts));

  // Incident 1: a custom-indicator alert per value match, plus an alert that matches nothing.
  const valueAlerts = byValue.map(({ id, match }) => {
    matched.push(id);
    return sampleAlert(++n, "1", at(60), {
      detectionSource: "customTi",
      evidence: [evidenceOf(match![1]!, match![2]!)],
    });
  });
  incident("1", 50, [...valueAlerts, sampleAlert(++n, "1", at(59))]);
  // Incident 2: a Sentinel analytics alert naming the indicator in its custom details.
  if (byId) {
    matched.push(byId.id);
    incident("2", 40, [
      sampleAlert(++n, "2", at(45), {
        detectionSource: "customDetection",
        additionalData: { IndicatorId: byId.id, SourceSystem: "OpenCTI" },
        evidence: [],
        mitreTechniques: ["T1071.001"],
      }),
    ]);
  }
  // Incident 3: evidence of every kind, no indicator in OpenCTI.
  incident("3", 30, [sampleAlert(++n, "3", at(35)), sampleAlert(++n, "3", at(34))]);
  return matched;
}
