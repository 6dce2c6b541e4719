/**
 * Microsoft Graph security incidents, alerts (v2) and alert evidence, read at the edge with
 * valibot. Shapes: Microsoft Learn "incident resource type", "alert resource type" and
 * "alertEvidence resource type" with its derived types (Graph v1.0, namespace
 * `microsoft.graph.security`). Unknown properties are ignored; unknown evidence kinds are kept
 * as `other`.
 *
 * @module
 */
import * as v from "valibot";
import { InvalidTimestampError, platformTimestamp } from "../stix/ids.ts";
import { opt } from "../runtime/props.ts";

const str = v.optional(v.nullable(v.string()));
const strings = v.optional(v.nullable(v.array(v.unknown())));

const FileDetailsSchema = v.looseObject({
  fileName: str,
  filePath: str,
  md5: str,
  sha1: str,
  sha256: str,
});

const UserAccountSchema = v.looseObject({
  accountName: str,
  domainName: str,
  userSid: str,
  azureAdUserId: str,
  userPrincipalName: str,
  displayName: str,
});

const EmailSenderSchema = v.looseObject({ emailAddress: str, displayName: str, domainName: str });

const EvidenceSchema = v.looseObject({
  "@odata.type": v.string(),
  verdict: str,
  roles: strings,
  ipAddress: str,
  url: str,
  domainName: str,
  hostIpAddress: str,
  fileDetails: v.optional(v.nullable(FileDetailsSchema)),
  imageFile: v.optional(v.nullable(FileDetailsSchema)),
  processCommandLine: str,
  userAccount: v.optional(v.nullable(UserAccountSchema)),
  deviceDnsName: str,
  hostName: str,
  primaryAddress: str,
  displayName: str,
  p1Sender: v.optional(v.nullable(EmailSenderSchema)),
  p2Sender: v.optional(v.nullable(EmailSenderSchema)),
  senderIp: str,
  recipientEmailAddress: str,
  subject: str,
});

const AlertSchema = v.looseObject({
  id: v.string(),
  title: str,
  description: str,
  severity: str,
  status: str,
  classification: str,
  determination: str,
  serviceSource: str,
  detectionSource: str,
  detectorId: str,
  providerAlertId: str,
  category: str,
  alertWebUrl: str,
  createdDateTime: v.string(),
  lastUpdateDateTime: str,
  firstActivityDateTime: str,
  lastActivityDateTime: str,
  mitreTechniques: strings,
  evidence: v.optional(v.nullable(v.array(v.unknown()))),
  additionalData: v.optional(v.nullable(v.record(v.string(), v.unknown()))),
});

const IncidentSchema = v.looseObject({
  id: v.string(),
  displayName: str,
  description: str,
  status: str,
  severity: str,
  classification: str,
  determination: str,
  incidentWebUrl: str,
  createdDateTime: v.string(),
  lastUpdateDateTime: v.string(),
  customTags: strings,
  alerts: v.optional(v.nullable(v.array(v.unknown()))),
});

/** The list response: `{"value": […], "@odata.nextLink": "…"}`. */
export const IncidentPageSchema = v.looseObject({
  value: v.array(v.unknown()),
  "@odata.nextLink": v.optional(v.nullable(v.string())),
});

/** File details of file and process evidence. */
export interface FileDetails {
  /** File name. */
  fileName?: string;
  /** Folder. */
  filePath?: string;
  /** MD5 (hex). */
  md5?: string;
  /** SHA-1 (hex). */
  sha1?: string;
  /** SHA-256 (hex). */
  sha256?: string;
}

/** A user account of user, process or mailbox evidence. */
export interface UserAccount {
  /** Logon name (`accountName`). */
  accountName?: string;
  /** Domain (`domainName`). */
  domainName?: string;
  /** Windows SID. */
  userSid?: string;
  /** Entra object id. */
  azureAdUserId?: string;
  /** UPN. */
  userPrincipalName?: string;
  /** Display name. */
  displayName?: string;
}

/** One piece of evidence, by kind (the `@odata.type` without its namespace). */
export type Evidence =
  | { kind: "ip"; ipAddress: string; verdict?: string }
  | { kind: "url"; url: string; verdict?: string }
  | { kind: "dns"; domainName: string; hostIpAddress?: string; verdict?: string }
  | { kind: "file"; file: FileDetails; verdict?: string }
  | {
    kind: "process";
    imageFile?: FileDetails;
    commandLine?: string;
    userAccount?: UserAccount;
    verdict?: string;
  }
  | { kind: "user"; userAccount: UserAccount; verdict?: string }
  | { kind: "device"; hostName: string; verdict?: string }
  | { kind: "mailbox"; primaryAddress: string; displayName?: string; verdict?: string }
  | {
    kind: "message";
    sender?: string;
    senderDomain?: string;
    senderIp?: string;
    recipient?: string;
    subject?: string;
    verdict?: string;
  }
  | { kind: "other"; odataType: string };

/** An alert (v2) with its evidence. */
export interface MsAlert {
  /** Alert id. */
  id: string;
  /** Title. */
  title: string;
  /** Description. */
  description?: string;
  /** `unknown`, `informational`, `low`, `medium`, `high`. */
  severity?: string;
  /** `new`, `inProgress`, `resolved`. */
  status?: string;
  /** `truePositive`, `falsePositive`… */
  classification?: string;
  /** `malware`, `phishing`… */
  determination?: string;
  /** Product that raised it, e.g. `microsoftDefenderForEndpoint`. */
  serviceSource?: string;
  /** Detection technology, e.g. `customTi`. */
  detectionSource?: string;
  /** Detector id. */
  detectorId?: string;
  /** Portal link. */
  alertWebUrl?: string;
  /** Creation time, platform form. */
  createdDateTime: string;
  /** Last update, platform form. */
  lastUpdateDateTime?: string;
  /** First activity, platform form. */
  firstActivityDateTime?: string;
  /** Last activity, platform form. */
  lastActivityDateTime?: string;
  /** MITRE ATT&CK technique ids. */
  mitreTechniques: string[];
  /** Evidence read. */
  evidence: Evidence[];
  /** Custom details (Sentinel rules' custom details land here). */
  additionalData: Record<string, unknown>;
}

/** An incident with its alerts. */
export interface MsIncident {
  /** Incident id. */
  id: string;
  /** Display name. */
  displayName: string;
  /** Description. */
  description?: string;
  /** `active`, `resolved`, `inProgress`, `redirected`, `awaitingAction`. */
  status?: string;
  /** `unknown`, `informational`, `low`, `medium`, `high`. */
  severity?: string;
  /** `truePositive`, `falsePositive`… */
  classification?: string;
  /** `malware`, `phishing`… */
  determination?: string;
  /** Portal link. */
  incidentWebUrl?: string;
  /** Creation, platform form. */
  createdDateTime: string;
  /** Last update, platform form (the cursor's key). */
  lastUpdateDateTime: string;
  /** Tags set by analysts. */
  customTags: string[];
  /** Alerts read. */
  alerts: MsAlert[];
  /** Alerts that could not be read (count). */
  malformedAlerts: number;
}

/** An incident that could not be read. */
export interface MalformedIncident {
  /** Its id, when there was one. */
  rawId?: string;
  /** What is wrong. */
  problem: string;
}

/** `{}` when the value is absent, null or empty, else `{ [key]: value }` (Graph sends nulls). */
function optPresent<K extends string, V>(key: K, value: V | null | undefined): { [P in K]?: V } {
  return value === null || value === "" ? {} as { [P in K]?: V } : opt<K, V>(key, value);
}

function time(value: string): string {
  return platformTimestamp(value);
}

function optTime<K extends string>(
  key: K,
  value: string | null | undefined,
): { [P in K]?: string } {
  if (!value) return {} as { [P in K]?: string };
  try {
    return { [key]: platformTimestamp(value) } as { [P in K]?: string };
  } catch (error) {
    if (error instanceof InvalidTimestampError) return {} as { [P in K]?: string };
    throw error;
  }
}

function file(raw: v.InferOutput<typeof FileDetailsSchema> | null | undefined): FileDetails {
  if (!raw) return {};
  return {
    ...optPresent("fileName", raw.fileName),
    ...optPresent("filePath", raw.filePath),
    ...optPresent("md5", raw.md5),
    ...optPresent("sha1", raw.sha1),
    ...optPresent("sha256", raw.sha256),
  };
}

function account(raw: v.InferOutput<typeof UserAccountSchema> | null | undefined): UserAccount {
  if (!raw) return {};
  return {
    ...optPresent("accountName", raw.accountName),
    ...optPresent("domainName", raw.domainName),
    ...optPresent("userSid", raw.userSid),
    ...optPresent("azureAdUserId", raw.azureAdUserId),
    ...optPresent("userPrincipalName", raw.userPrincipalName),
    ...optPresent("displayName", raw.displayName),
  };
}

/** Reads one evidence item; undefined when it is unusable (e.g. an IP evidence without address). */
export function readEvidence(raw: unknown): Evidence | undefined {
  const parsed = v.safeParse(EvidenceSchema, raw);
  if (!parsed.success) return undefined;
  const e = parsed.output;
  const odataType = e["@odata.type"];
  const kind = odataType.replace(/^#?microsoft\.graph\.security\./, "");
  const verdict = optPresent("verdict", e.verdict);
  switch (kind) {
    case "ipEvidence":
      return e.ipAddress ? { kind: "ip", ipAddress: e.ipAddress.trim(), ...verdict } : undefined;
    case "urlEvidence":
      return e.url ? { kind: "url", url: e.url.trim(), ...verdict } : undefined;
    case "dnsEvidence":
      return e.domainName
        ? {
          kind: "dns",
          domainName: e.domainName.trim(),
          ...optPresent("hostIpAddress", e.hostIpAddress),
          ...verdict,
        }
        : undefined;
    case "fileEvidence":
      return e.fileDetails ? { kind: "file", file: file(e.fileDetails), ...verdict } : undefined;
    case "processEvidence":
      return {
        kind: "process",
        ...(e.imageFile ? { imageFile: file(e.imageFile) } : {}),
        ...optPresent("commandLine", e.processCommandLine),
        ...(e.userAccount ? { userAccount: account(e.userAccount) } : {}),
        ...verdict,
      };
    case "userEvidence":
      return e.userAccount
        ? { kind: "user", userAccount: account(e.userAccount), ...verdict }
        : undefined;
    case "deviceEvidence": {
      const host = e.deviceDnsName ?? e.hostName;
      return host ? { kind: "device", hostName: host.trim(), ...verdict } : undefined;
    }
    case "mailboxEvidence":
      return e.primaryAddress
        ? {
          kind: "mailbox",
          primaryAddress: e.primaryAddress.trim(),
          ...optPresent("displayName", e.displayName),
          ...verdict,
        }
        : undefined;
    case "analyzedMessageEvidence": {
      const sender = e.p1Sender ?? e.p2Sender;
      return {
        kind: "message",
        ...optPresent("sender", sender?.emailAddress),
        ...optPresent("senderDomain", sender?.domainName),
        ...optPresent("senderIp", e.senderIp),
        ...optPresent("recipient", e.recipientEmailAddress),
        ...optPresent("subject", e.subject),
        ...verdict,
      };
    }
    default:
      return { kind: "other", odataType };
  }
}

/** Reads one alert; undefined when its id, title or creation time is missing or unreadable. */
export function readAlert(raw: unknown): MsAlert | undefined {
  const parsed = v.safeParse(AlertSchema, raw);
  if (!parsed.success) return undefined;
  const a = parsed.output;
  let created: string;
  try {
    created = time(a.createdDateTime);
  } catch {
    return undefined;
  }
  const evidence: Evidence[] = [];
  for (const item of a.evidence ?? []) {
    const read = readEvidence(item);
    if (read) evidence.push(read);
  }
  const techniques = (a.mitreTechniques ?? []).filter((t): t is string =>
    typeof t === "string" && t.trim() !== ""
  ).map((t) => t.trim());
  return {
    id: a.id,
    title: a.title?.trim() || `Microsoft alert ${a.id}`,
    ...optPresent("description", a.description),
    ...optPresent("severity", a.severity),
    ...optPresent("status", a.status),
    ...optPresent("classification", a.classification),
    ...optPresent("determination", a.determination),
    ...optPresent("serviceSource", a.serviceSource),
    ...optPresent("detectionSource", a.detectionSource),
    ...optPresent("detectorId", a.detectorId),
    ...optPresent("alertWebUrl", a.alertWebUrl),
    createdDateTime: created,
    ...optTime("lastUpdateDateTime", a.lastUpdateDateTime),
    ...optTime("firstActivityDateTime", a.firstActivityDateTime),
    ...optTime("lastActivityDateTime", a.lastActivityDateTime),
    mitreTechniques: [...new Set(techniques)],
    evidence,
    additionalData: a.additionalData ?? {},
  };
}

/** Reads one incident with its expanded alerts. */
export function readIncident(raw: unknown): { incident: MsIncident } | {
  malformed: MalformedIncident;
} {
  const parsed = v.safeParse(IncidentSchema, raw);
  if (!parsed.success) {
    const id = raw !== null && typeof raw === "object" && "id" in raw &&
        typeof raw.id === "string"
      ? { rawId: raw.id }
      : {};
    return {
      malformed: {
        ...id,
        problem: parsed.issues.map((issue) => {
          const path = issue.path?.map((p) => String(p.key)).join(".");
          return path ? `${path}: ${issue.message}` : issue.message;
        }).join("; "),
      },
    };
  }
  const i = parsed.output;
  let created: string;
  let updated: string;
  try {
    created = time(i.createdDateTime);
    updated = time(i.lastUpdateDateTime);
  } catch (error) {
    return { malformed: { rawId: i.id, problem: String(error) } };
  }
  const alerts: MsAlert[] = [];
  let malformedAlerts = 0;
  for (const item of i.alerts ?? []) {
    const alert = readAlert(item);
    if (alert) alerts.push(alert);
    else malformedAlerts++;
  }
  return {
    incident: {
      id: i.id,
      displayName: i.displayName?.trim() || `Microsoft incident ${i.id}`,
      ...optPresent("description", i.description),
      ...optPresent("status", i.status),
      ...optPresent("severity", i.severity),
      ...optPresent("classification", i.classification),
      ...optPresent("determination", i.determination),
      ...optPresent("incidentWebUrl", i.incidentWebUrl),
      createdDateTime: created,
      lastUpdateDateTime: updated,
      customTags: (i.customTags ?? []).filter((t): t is string => typeof t === "string"),
      alerts,
      malformedAlerts,
    },
  };
}
