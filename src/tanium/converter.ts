/**
 * Tanium alert → STIX 2.1 objects (reference `tanium.md` §3), pure: the same alert, intel
 * document, matched entity and time always give the same objects.
 *
 * Per alert: a Sighting of the matched OpenCTI Indicator (where sighted: the author), and, when
 * alerts are imported, the Incident, Hostname, IP, User-Account and File observables related to
 * it, one Attack-Pattern per MITRE technique (T1055 for `processInjection`) used by it, and the
 * matched entity → incident relationship. Every object but the author and the attack patterns
 * carries TLP:RED; the TLP:RED marking-definition object and the author travel in every bundle.
 *
 * @module
 */
import { fileId, incidentId } from "../stix/ids.ts";
import { TLP_RED_ID, tlpMarking } from "../stix/markings.ts";
import {
  attackPatternObject,
  markedBundle,
  organizationIdentity,
  relationshipObject,
  sightingObject,
  userAccountObject,
  valueObservable,
} from "../stix/objects.ts";
import type { StixBundle, StixObject } from "../stix/types.ts";
import { ipv4Problem, ipv6Problem } from "../stix/validate.ts";
import type { IntelDoc, TaniumAlert } from "./schemas.ts";

/** `source_name` of the incident's external reference and the incident's `source`. */
export const TANIUM_SOURCE = "Tanium Threat Response";
/** Description of the author identity. */
export const AUTHOR_DESCRIPTION = "Import Sightings according to alerts found in Tanium API";
/** Intel type that adds the T1055 "Process Injection" attack pattern. */
export const PROCESS_INJECTION_TYPE = "processInjection";
/** OpenCTI's incident severity vocabulary. */
export type IncidentSeverity = "low" | "medium" | "high" | "critical";

const SEVERITY: Readonly<Record<string, IncidentSeverity>> = {
  info: "low",
  informational: "low",
  low: "low",
  medium: "medium",
  moderate: "medium",
  high: "high",
  critical: "critical",
};

/** Maps a Tanium `priority` to OpenCTI's incident severity; undefined for unknown values. */
export function severityOf(priority: string | undefined): IncidentSeverity | undefined {
  return priority === undefined ? undefined : SEVERITY[priority.trim().toLowerCase()];
}

/** The OpenCTI entity that carries the intel document's external reference. */
export interface MatchedEntity {
  /** Its STIX standard id (e.g. `indicator--…`). */
  standard_id: string;
  /** Its OpenCTI entity type (e.g. `Indicator`). */
  entity_type: string;
}

/** The one author identity of the connector, named after it (`CONNECTOR_NAME`). */
export function authorIdentity(name: string, created: string): Promise<StixObject> {
  return organizationIdentity(name, created, AUTHOR_DESCRIPTION);
}

/** What one alert is converted with. */
export interface AlertContext {
  /** The author identity (from {@linkcode authorIdentity}). */
  author: StixObject;
  /** Console base URL without a trailing slash (`TANIUM_INCIDENTS_URL_CONSOLE`). */
  consoleUrl: string;
  /** `false` = sightings only (`TANIUM_INCIDENTS_IMPORT_ALERTS`). */
  importAlerts: boolean;
  /** `created`/`modified` of objects without a time of their own (ISO, ms, `Z`). */
  now: string;
  /** The alert's intel document; undefined when unknown (no incident then). */
  intel: IntelDoc | undefined;
  /** The OpenCTI entity carrying the intel's reference; undefined when none. */
  entity: MatchedEntity | undefined;
}

/** The objects of one alert and what could not be built. */
export interface Conversion {
  /** STIX objects (without the author and marking, which {@linkcode buildBundle} adds). */
  objects: StixObject[];
  /** Why a part was skipped, e.g. `no_intel` or `invalid_ip` (counted by the connector). */
  skipped: string[];
  /** True when an incident was built. */
  incident: boolean;
  /** True when a sighting was built. */
  sighting: boolean;
}

/** The console link of an alert: `<console>/ui/threatresponse/alerts?guid=<guid>`. */
export function alertUrl(consoleUrl: string, guid: string): string {
  return `${consoleUrl.replace(/\/+$/, "")}/ui/threatresponse/alerts?guid=${
    encodeURIComponent(guid)
  }`;
}

/** The login of a Tanium user: the part after the last `\` (`DEVICENAME\bob` → `bob`). */
export function loginOf(user: string): string {
  const login = user.slice(user.lastIndexOf("\\") + 1).trim();
  return login === "" ? user.trim() : login;
}

/** Converts one alert. Suppressed alerts give no objects (`skipped: ["suppressed"]`). */
export async function convertAlert(alert: TaniumAlert, context: AlertContext): Promise<Conversion> {
  const out: Conversion = { objects: [], skipped: [], incident: false, sighting: false };
  if (alert.state?.toLowerCase() === "suppressed") {
    out.skipped.push("suppressed");
    return out;
  }
  const authorId = context.author.id;
  const marked = { created_by_ref: authorId, object_marking_refs: [TLP_RED_ID] };
  const entity = context.entity;

  if (entity?.entity_type === "Indicator") {
    out.objects.push(
      await sightingObject(
        {
          of: entity.standard_id,
          where: [authorId],
          firstSeen: alert.alertedAt,
          lastSeen: alert.alertedAt,
        },
        context.now,
        marked,
      ),
    );
    out.sighting = true;
  } else if (alert.intelDocId === undefined) {
    out.skipped.push("no_intel_id");
  } else if (!entity) {
    out.skipped.push("no_opencti_entity");
  }

  if (!context.importAlerts) return out;
  const intel = context.intel;
  if (!intel) {
    out.skipped.push("no_intel");
    return out;
  }

  // Incident.
  const intelName = intel.name ?? `Tanium intel ${intel.id}`;
  const name = alert.computerName ? `${intelName} on ${alert.computerName}` : intelName;
  const incident: StixObject = {
    type: "incident",
    spec_version: "2.1",
    id: await incidentId({ name, created: alert.alertedAt }),
    created: alert.alertedAt,
    modified: context.now > alert.alertedAt ? context.now : alert.alertedAt,
    name,
    description: `Type: ${alert.type ?? "unknown"} | MatchType:${alert.matchType ?? "unknown"}`,
    ...marked,
    incident_type: "alert",
    source: TANIUM_SOURCE,
  };
  if (alert.guid) {
    incident.external_references = [{
      source_name: TANIUM_SOURCE,
      url: alertUrl(context.consoleUrl, alert.guid),
      external_id: alert.guid,
    }];
  } else out.skipped.push("no_guid");
  const severity = severityOf(alert.priority);
  if (severity) incident.severity = severity;
  else out.skipped.push(alert.priority === undefined ? "no_priority" : "unknown_priority");
  out.objects.push(incident);
  out.incident = true;

  const related: StixObject[] = [];
  const relationship = (type: string, source: string, target: string) =>
    relationshipObject(type, source, target, context.now, marked);

  // Observables.
  const observable = (type: "hostname" | "ipv4-addr" | "ipv6-addr", value: string) =>
    valueObservable(type, value, marked);
  if (alert.computerName) related.push(await observable("hostname", alert.computerName));
  else out.skipped.push("no_hostname");
  const ip = alert.computerIpAddress?.trim();
  if (ip) {
    if (!ipv4Problem(ip)) related.push(await observable("ipv4-addr", ip));
    else if (!ipv6Problem(ip)) related.push(await observable("ipv6-addr", ip));
    else out.skipped.push("invalid_ip");
  }
  if (alert.detailsProblem) out.skipped.push("unreadable_details");
  const user = alert.details?.user;
  if (user) {
    related.push(await userAccountObject(loginOf(user), marked));
  }
  const file = alert.details?.file;
  if (file) {
    const hashes: Record<string, string> = {};
    if (file.md5) hashes["MD5"] = file.md5;
    if (file.sha1) hashes["SHA-1"] = file.sha1;
    if (file.sha256) hashes["SHA-256"] = file.sha256;
    related.push({
      type: "file",
      spec_version: "2.1",
      id: await fileId({ hashes }),
      hashes,
      ...marked,
    });
  }
  out.objects.push(...related);

  // Attack patterns.
  const techniques = [...intel.techniques];
  if (intel.type === PROCESS_INJECTION_TYPE && !techniques.some((t) => t.id === "T1055")) {
    techniques.push({ id: "T1055", name: "Process Injection" });
  }
  const patterns: StixObject[] = [];
  const seen = new Set<string>();
  for (const technique of techniques) {
    const pattern = await attackPatternObject(technique.id, technique.name, context.now);
    if (seen.has(pattern.id)) continue;
    seen.add(pattern.id);
    patterns.push(pattern);
  }
  out.objects.push(...patterns);

  // Relationships.
  if (entity) {
    const type = entity.entity_type === "Indicator" ? "indicates" : "related-to";
    out.objects.push(await relationship(type, entity.standard_id, incident.id));
  }
  for (const object of related) {
    out.objects.push(await relationship("related-to", object.id, incident.id));
  }
  for (const pattern of patterns) {
    out.objects.push(await relationship("uses", incident.id, pattern.id));
  }
  return out;
}

/** Options of {@linkcode buildBundle}. */
export interface BundleOptions {
  /** Makes the bundle id's UUID. @default crypto.randomUUID */
  uuid?: () => string;
}

/**
 * One bundle: the TLP:RED marking definition, the author, then the objects with duplicates (same
 * id) removed, first kept. Undefined when there is nothing but the author and marking to send.
 */
export function buildBundle(
  author: StixObject,
  objects: readonly StixObject[],
  options: BundleOptions = {},
): StixBundle | undefined {
  return markedBundle(tlpMarking("red"), author, objects, options);
}
