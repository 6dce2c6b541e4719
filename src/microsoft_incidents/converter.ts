/**
 * Microsoft incident (with its alerts and their evidence) → STIX 2.1 objects, pure: the same
 * incident, matches and time always give the same objects, with the platform's deterministic ids
 * (reference `opencti.md` §5).
 *
 * - one Case-Incident per Microsoft incident, named `Microsoft incident <id>` (the display name,
 *   which Microsoft rewrites as alerts join, goes to the description, so an update never makes a
 *   second case), severity and priority from the incident severity, status, classification and
 *   determination in the description and labels, a link to the portal;
 * - one Incident per alert (name = alert title, created = alert creation), with its observables
 *   (`related-to`), its MITRE techniques as attack patterns (`uses`);
 * - per OpenCTI indicator the alert matched: a sighting (where sighted: the author) and an
 *   `indicates` relationship to the alert's incident.
 *
 * @module
 */
import { caseIncidentId, fileId, incidentId } from "../stix/ids.ts";
import { tlpMarking } from "../stix/markings.ts";
import {
  attackPatternObject,
  markedBundle,
  organizationIdentity,
  relationshipObject,
  sightingObject,
  userAccountObject,
  valueObservable,
} from "../stix/objects.ts";
import type { StixBundle, StixObject, Tlp } from "../stix/types.ts";
import {
  domainProblem,
  emailProblem,
  ipv4Problem,
  ipv6Problem,
  urlProblem,
} from "../stix/validate.ts";
import type { Evidence, FileDetails, MsAlert, MsIncident, UserAccount } from "./schemas.ts";

/** `source_name` of the external references and the incidents' `source`. */
export const MICROSOFT_SOURCE = "Microsoft Defender XDR";
/** Description of the author identity. */
export const AUTHOR_DESCRIPTION =
  "Imports Microsoft security incidents and alerts (Microsoft Graph security API)";

/** OpenCTI's incident and case severity vocabulary. */
export type Severity = "low" | "medium" | "high" | "critical";

const SEVERITY: Readonly<Record<string, Severity>> = {
  informational: "low",
  low: "low",
  medium: "medium",
  high: "high",
};
const PRIORITY: Readonly<Record<string, string>> = {
  informational: "P4",
  low: "P3",
  medium: "P2",
  high: "P1",
};

/** Maps a Microsoft severity to OpenCTI's; undefined for `unknown` and unknown values. */
export function severityOf(value: string | undefined): Severity | undefined {
  return value === undefined ? undefined : SEVERITY[value];
}

/** Maps a Microsoft severity to OpenCTI's case priority (the seed's mapping). */
export function priorityOf(value: string | undefined): string | undefined {
  return value === undefined ? undefined : PRIORITY[value];
}

/** The author identity, named after the connector. */
export function authorIdentity(name: string, created: string): Promise<StixObject> {
  return organizationIdentity(name, created, AUTHOR_DESCRIPTION);
}

/** The name of the Case-Incident of a Microsoft incident (stable across updates). */
export function caseName(incident: Pick<MsIncident, "id">): string {
  return `Microsoft incident ${incident.id}`;
}

// ---------------------------------------------------------------------------------------------
// Matching

/** A STIX id of an indicator, as our targets write it (`externalId`, `externalID`, Sentinel id). */
const STIX_INDICATOR_RE =
  /indicator--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** An evidence value to look up against OpenCTI indicators. */
export interface EvidenceValue {
  /** STIX pattern the OpenCTI indicator of this value has (`[ipv4-addr:value = '1.2.3.4']`). */
  pattern: string;
  /** The value itself, for logs. */
  value: string;
}

/** What an alert offers to find the OpenCTI indicators it matched. */
export interface MatchCandidates {
  /** Indicator STIX ids named in the alert (custom details, title, description). */
  stixIds: string[];
  /** Evidence values (for the optional lookup by value). */
  values: EvidenceValue[];
}

function stringsIn(value: unknown, out: string[], depth = 0): void {
  if (depth > 5) return;
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) { for (const item of value) stringsIn(item, out, depth + 1); }
  else if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) stringsIn(item, out, depth + 1);
  }
}

function quote(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("'", "\\'");
}

function valuePatterns(evidence: Evidence): EvidenceValue[] {
  const out: EvidenceValue[] = [];
  const add = (path: string, value: string | undefined) => {
    if (value) out.push({ pattern: `[${path} = '${quote(value)}']`, value });
  };
  const hashes = (file: FileDetails | undefined) => {
    add("file:hashes.'SHA-256'", file?.sha256?.toLowerCase());
    add("file:hashes.'SHA-1'", file?.sha1?.toLowerCase());
    add("file:hashes.'MD5'", file?.md5?.toLowerCase());
  };
  switch (evidence.kind) {
    case "ip":
      add(
        ipv4Problem(evidence.ipAddress) ? "ipv6-addr:value" : "ipv4-addr:value",
        evidence.ipAddress,
      );
      break;
    case "url":
      add("url:value", evidence.url);
      break;
    case "dns":
      add("domain-name:value", evidence.domainName.toLowerCase());
      break;
    case "file":
      hashes(evidence.file);
      break;
    case "process":
      hashes(evidence.imageFile);
      break;
    case "mailbox":
      add("email-addr:value", evidence.primaryAddress.toLowerCase());
      break;
    case "message":
      add("email-addr:value", evidence.sender?.toLowerCase());
      if (evidence.senderIp && !ipv4Problem(evidence.senderIp)) {
        add("ipv4-addr:value", evidence.senderIp);
      }
      break;
    default:
      break;
  }
  return out;
}

/**
 * What an alert offers for matching: Microsoft documents no alert property naming the matched
 * indicator, so this collects every indicator STIX id written anywhere in the alert's custom
 * details (`additionalData`), title or description, and the evidence values.
 */
export function matchCandidates(alert: MsAlert): MatchCandidates {
  const texts: string[] = [];
  stringsIn(alert.additionalData, texts);
  texts.push(alert.title, alert.description ?? "");
  const ids = new Set<string>();
  for (const text of texts) {
    for (const match of text.matchAll(STIX_INDICATOR_RE)) ids.add(match[0].toLowerCase());
  }
  const values = new Map<string, EvidenceValue>();
  for (const evidence of alert.evidence) {
    for (const value of valuePatterns(evidence)) values.set(value.pattern, value);
  }
  return { stixIds: [...ids].sort(), values: [...values.values()] };
}

// ---------------------------------------------------------------------------------------------
// Conversion

/** What an incident is converted with. */
export interface ConvertContext {
  /** The author identity (from {@linkcode authorIdentity}). */
  author: StixObject;
  /** Marking of every object but the author and attack patterns. */
  tlp: Tlp;
  /** `created`/`modified` of objects without a time of their own (platform form). */
  now: string;
  /** Sighting confidence (`CONNECTOR_CONFIDENCE_LEVEL`). @default none */
  confidence?: number;
  /** Standard ids of the OpenCTI indicators each alert matched, by alert id. */
  matches?: ReadonlyMap<string, readonly string[]>;
}

/** The objects of one incident. */
export interface Conversion {
  /** STIX objects, the Case-Incident last (without the author and marking). */
  objects: StixObject[];
  /** Alert incidents built. */
  alerts: number;
  /** Sightings built. */
  sightings: number;
  /** Why a part was skipped (counted by the connector). */
  skipped: string[];
}

/** Converts one incident with its alerts. */
export async function convertIncident(
  incident: MsIncident,
  context: ConvertContext,
): Promise<Conversion> {
  const out: Conversion = { objects: [], alerts: 0, sightings: 0, skipped: [] };
  const authorId = context.author.id;
  const marking = tlpMarking(context.tlp).id;
  const marked = { created_by_ref: authorId, object_marking_refs: [marking] };
  const seen = new Set<string>();
  const push = (object: StixObject) => {
    if (seen.has(object.id)) return;
    seen.add(object.id);
    out.objects.push(object);
  };
  const relationship = async (type: string, source: string, target: string) => {
    push(await relationshipObject(type, source, target, context.now, marked));
  };

  for (const alert of incident.alerts) {
    const alertIncident = await alertObject(alert, marked);
    push(alertIncident);
    out.alerts++;
    for (const evidence of alert.evidence) {
      const { objects, skipped } = await evidenceObjects(evidence, marked);
      out.skipped.push(...skipped);
      for (const object of objects) {
        push(object);
        await relationship("related-to", object.id, alertIncident.id);
      }
    }
    for (const technique of alert.mitreTechniques) {
      const pattern = await attackPatternObject(technique, technique, context.now);
      push(pattern);
      await relationship("uses", alertIncident.id, pattern.id);
    }
    for (const indicator of context.matches?.get(alert.id) ?? []) {
      const firstSeen = alert.firstActivityDateTime && alert.firstActivityDateTime <
          alert.createdDateTime
        ? alert.firstActivityDateTime
        : alert.createdDateTime;
      const lastSeen = alert.createdDateTime;
      const facts = { of: indicator, where: [authorId], firstSeen, lastSeen };
      const sighting = await sightingObject(facts, context.now, marked, {
        description: `Microsoft alert ${alert.id} (${
          alert.detectionSource ?? "unknown"
        }): ${alert.title}${
          alert.lastActivityDateTime ? `; last activity ${alert.lastActivityDateTime}` : ""
        }`,
        ...(context.confidence !== undefined ? { confidence: context.confidence } : {}),
        ...(alert.alertWebUrl
          ? {
            external_references: [{
              source_name: MICROSOFT_SOURCE,
              url: alert.alertWebUrl,
              external_id: alert.id,
            }],
          }
          : {}),
      });
      if (!seen.has(sighting.id)) out.sightings++;
      push(sighting);
      await relationship("indicates", indicator, alertIncident.id);
    }
  }
  if (incident.malformedAlerts > 0) {
    for (let i = 0; i < incident.malformedAlerts; i++) out.skipped.push("malformed_alert");
  }

  const name = caseName(incident);
  const severity = severityOf(incident.severity);
  const priority = priorityOf(incident.severity);
  const lines = [
    incident.displayName,
    incident.description,
    `Status: ${incident.status ?? "unknown"} | Severity: ${incident.severity ?? "unknown"} | ` +
    `Classification: ${incident.classification ?? "unknown"} | Determination: ${
      incident.determination ?? "unknown"
    }`,
  ].filter((line): line is string => line !== undefined && line !== "");
  const labels = [
    ...incident.customTags,
    ...(incident.status ? [`status:${incident.status}`] : []),
    ...(incident.classification ? [`classification:${incident.classification}`] : []),
  ];
  const caseIncident: StixObject = {
    type: "case-incident",
    spec_version: "2.1",
    id: await caseIncidentId({ name, created: incident.createdDateTime }),
    created: incident.createdDateTime,
    modified: incident.lastUpdateDateTime,
    name,
    description: lines.join("\n\n"),
    ...(severity ? { severity } : {}),
    ...(priority ? { priority } : {}),
    response_types: ["incident"],
    ...(labels.length > 0 ? { labels } : {}),
    external_references: [{
      source_name: MICROSOFT_SOURCE,
      external_id: incident.id,
      ...(incident.incidentWebUrl ? { url: incident.incidentWebUrl } : {}),
    }],
    object_refs: out.objects.map((object) => object.id),
    ...marked,
  };
  if (out.objects.length === 0) out.skipped.push("no_alerts");
  out.objects.push(caseIncident);
  return out;
}

async function alertObject(
  alert: MsAlert,
  marked: Record<string, unknown>,
): Promise<StixObject> {
  const severity = severityOf(alert.severity);
  const modified = alert.lastUpdateDateTime && alert.lastUpdateDateTime > alert.createdDateTime
    ? alert.lastUpdateDateTime
    : alert.createdDateTime;
  const details = [
    `Service: ${alert.serviceSource ?? "unknown"}`,
    `Detection: ${alert.detectionSource ?? "unknown"}`,
    `Status: ${alert.status ?? "unknown"}`,
    `Classification: ${alert.classification ?? "unknown"}`,
  ].join(" | ");
  return {
    type: "incident",
    spec_version: "2.1",
    id: await incidentId({ name: alert.title, created: alert.createdDateTime }),
    created: alert.createdDateTime,
    modified,
    name: alert.title,
    description: alert.description ? `${alert.description}\n\n${details}` : details,
    incident_type: "alert",
    source: alert.serviceSource ?? MICROSOFT_SOURCE,
    ...(severity ? { severity } : {}),
    ...(alert.firstActivityDateTime ? { first_seen: alert.firstActivityDateTime } : {}),
    ...(alert.lastActivityDateTime ? { last_seen: alert.lastActivityDateTime } : {}),
    external_references: [{
      source_name: MICROSOFT_SOURCE,
      external_id: alert.id,
      ...(alert.alertWebUrl ? { url: alert.alertWebUrl } : {}),
    }],
    ...marked,
  };
}

async function fileObject(
  file: FileDetails,
  marked: Record<string, unknown>,
): Promise<StixObject | undefined> {
  const hashes: Record<string, string> = {};
  if (file.md5) hashes["MD5"] = file.md5.toLowerCase();
  if (file.sha1) hashes["SHA-1"] = file.sha1.toLowerCase();
  if (file.sha256) hashes["SHA-256"] = file.sha256.toLowerCase();
  const hasHashes = Object.keys(hashes).length > 0;
  if (!hasHashes && !file.fileName) return undefined;
  return {
    type: "file",
    spec_version: "2.1",
    id: await fileId(hasHashes ? { hashes } : { name: file.fileName! }),
    ...(hasHashes ? { hashes } : {}),
    ...(file.fileName ? { name: file.fileName } : {}),
    ...marked,
  };
}

async function accountObject(
  account: UserAccount,
  marked: Record<string, unknown>,
): Promise<StixObject | undefined> {
  const login = account.accountName ?? account.userPrincipalName;
  if (!login) return undefined;
  return await userAccountObject(
    login,
    marked,
    account.displayName ? { display_name: account.displayName } : {},
  );
}

async function ipObject(
  value: string,
  marked: Record<string, unknown>,
): Promise<StixObject | undefined> {
  if (!ipv4Problem(value)) return await valueObservable("ipv4-addr", value, marked);
  if (!ipv6Problem(value)) return await valueObservable("ipv6-addr", value, marked);
  return undefined;
}

/** The observables of one evidence item, and why parts were skipped. */
export async function evidenceObjects(
  evidence: Evidence,
  marked: Record<string, unknown>,
): Promise<{ objects: StixObject[]; skipped: string[] }> {
  const objects: StixObject[] = [];
  const skipped: string[] = [];
  const keep = (object: StixObject | undefined, reason: string) => {
    if (object) objects.push(object);
    else skipped.push(reason);
  };
  switch (evidence.kind) {
    case "ip":
      keep(await ipObject(evidence.ipAddress, marked), "invalid_ip");
      break;
    case "url":
      keep(
        urlProblem(evidence.url) ? undefined : await valueObservable("url", evidence.url, marked),
        "invalid_url",
      );
      break;
    case "dns": {
      const domain = evidence.domainName.toLowerCase();
      keep(
        domainProblem(domain, true)
          ? undefined
          : await valueObservable("domain-name", domain, marked),
        "invalid_domain",
      );
      if (evidence.hostIpAddress) {
        keep(await ipObject(evidence.hostIpAddress, marked), "invalid_ip");
      }
      break;
    }
    case "file":
      keep(await fileObject(evidence.file, marked), "empty_file");
      break;
    case "process":
      if (evidence.imageFile) keep(await fileObject(evidence.imageFile, marked), "empty_file");
      if (evidence.userAccount) {
        keep(await accountObject(evidence.userAccount, marked), "empty_account");
      }
      break;
    case "user":
      keep(await accountObject(evidence.userAccount, marked), "empty_account");
      break;
    case "device":
      keep(await valueObservable("hostname", evidence.hostName, marked), "empty_hostname");
      break;
    case "mailbox": {
      const address = evidence.primaryAddress.toLowerCase();
      keep(
        emailProblem(address) ? undefined : await valueObservable("email-addr", address, marked, {
          ...(evidence.displayName ? { display_name: evidence.displayName } : {}),
        }),
        "invalid_email",
      );
      break;
    }
    case "message": {
      const sender = evidence.sender?.toLowerCase();
      if (sender) {
        keep(
          emailProblem(sender) ? undefined : await valueObservable("email-addr", sender, marked),
          "invalid_email",
        );
      }
      if (evidence.senderIp) keep(await ipObject(evidence.senderIp, marked), "invalid_ip");
      break;
    }
    case "other":
      skipped.push("unsupported_evidence");
      break;
  }
  return { objects, skipped };
}

/** Options of {@linkcode buildBundle}. */
export interface BundleOptions {
  /** Makes the bundle id's UUID. @default crypto.randomUUID */
  uuid?: () => string;
}

/**
 * One bundle: the TLP marking definition, the author, then the objects with duplicates (same id)
 * merged in place, the last copy kept (a later incident's newer copy wins). Undefined when empty.
 */
export function buildBundle(
  author: StixObject,
  tlp: Tlp,
  objects: readonly StixObject[],
  options: BundleOptions = {},
): StixBundle | undefined {
  return markedBundle(tlpMarking(tlp), author, objects, { ...options, keepLast: true });
}
