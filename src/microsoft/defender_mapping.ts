/**
 * Pure mapping for the Microsoft Defender for Endpoint indicators API (reference `microsoft.md`
 * §5 and §7): one Defender indicator per observable, with the documented field names in their
 * exact (case-sensitive) spelling, and the parsers of Defender's answers.
 *
 * @module
 */
import * as v from "valibot";
import type { Observable } from "../stix/types.ts";
import type { TargetIndicator } from "./target.ts";

/** Indicators per `import` call (reference §5.2). */
export const DEFENDER_MAX_IMPORT = 500;

/** Ids per `BatchDelete` call (reference §5.2). */
export const DEFENDER_MAX_BATCH_DELETE = 500;

/** Active indicators allowed per tenant, all sources together (reference §5.4). */
export const DEFENDER_TENANT_CAP = 15_000;

/** Defender `indicatorType` values (reference §5.3). */
export const DEFENDER_INDICATOR_TYPES = [
  "FileSha1",
  "FileSha256",
  "FileMd5",
  "CertificateThumbprint",
  "IpAddress",
  "DomainName",
  "Url",
] as const;

/** One of {@linkcode DEFENDER_INDICATOR_TYPES}. */
export type DefenderIndicatorType = typeof DEFENDER_INDICATOR_TYPES[number];

/** Current Defender `action` values (the older `Alert`/`AlertAndBlock` are retired). */
export const DEFENDER_ACTIONS = ["Allowed", "Audit", "Warn", "Block", "BlockAndRemediate"] as const;

/** One of {@linkcode DEFENDER_ACTIONS}. */
export type DefenderAction = typeof DEFENDER_ACTIONS[number];

/** Defender `severity` values. */
export const DEFENDER_SEVERITIES = ["Informational", "Low", "Medium", "High"] as const;

/** One of {@linkcode DEFENDER_SEVERITIES}. */
export type DefenderSeverity = typeof DEFENDER_SEVERITIES[number];

/** The actions Defender accepts per indicator type (reference §5.3). */
export const ACTIONS_BY_TYPE: Readonly<Record<DefenderIndicatorType, readonly DefenderAction[]>> = {
  FileSha1: DEFENDER_ACTIONS,
  FileSha256: DEFENDER_ACTIONS,
  FileMd5: DEFENDER_ACTIONS,
  CertificateThumbprint: ["Allowed", "BlockAndRemediate"],
  IpAddress: ["Allowed", "Audit", "Warn", "Block"],
  DomainName: ["Allowed", "Audit", "Warn", "Block"],
  Url: ["Allowed", "Audit", "Warn", "Block"],
};

/** The request body of one Defender indicator; property names are case-sensitive. */
export interface DefenderIndicator {
  /** The IoC value. */
  indicatorValue: string;
  /** Its type. */
  indicatorType: DefenderIndicatorType;
  /** What Defender does on a match. */
  action: DefenderAction;
  /** Alert title. */
  title: string;
  /** Description (required by Defender). */
  description: string;
  /** Source application name (set on creation only). */
  application?: string;
  /** ISO-8601 expiry. */
  expirationTime?: string;
  /** Severity. */
  severity?: DefenderSeverity;
  /** Recommended actions text. */
  recommendedActions?: string;
  /** Device-group names (empty = all devices). */
  rbacGroupNames?: string[];
  /** Custom notification URL (URL indicators with Block or Warn). */
  educateUrl?: string;
  /** Raise an alert on a match; must be true with `Audit`. */
  generateAlert?: boolean;
  /** Our correlation id: the STIX id of the OpenCTI indicator (spelled `externalID` as in Defender's Indicator resource). */
  externalID?: string;
}

/** Options of {@linkcode toDefenderIndicators}. */
export interface DefenderMappingOptions {
  /** A fixed action for every indicator (`ACTION`); when unset the score decides. @default undefined */
  action?: DefenderAction;
  /** Score from which the action is `Block`. @default 60 */
  blockScore?: number;
  /** Score from which the action is `Warn` (below: `Audit`). @default 30 */
  warnScore?: number;
  /** `generateAlert` (forced to true with `Audit`, as Defender requires). @default true */
  generateAlert?: boolean;
  /** Days from `updated_at` (or now) to expiry when the indicator has no `valid_until`. @default 30 */
  expireTimeDays?: number;
  /** `application` sent on creation; also how our indicators are found again. @default "OpenCTI" */
  application?: string;
  /** Send MD5 hashes as `FileMd5` (Defender rejects them on creation in practice). @default false */
  allowMd5?: boolean;
  /** Longest description sent, in characters (the upstream connectors cut to 99). @default 99 */
  descriptionMaxLength?: number;
  /** `recommendedActions` text. @default none */
  recommendedActions?: string;
  /** `rbacGroupNames`. @default none (all devices) */
  rbacGroupNames?: string[];
  /** `educateUrl` for URL indicators with Block or Warn. @default none */
  educateUrl?: string;
  /** The time, in epoch ms, from which the default expiry is computed. @default Date.now() */
  now?: number;
}

/** An observable left out of the mapping, with the reason. */
export interface SkippedObservable {
  /** The observable. */
  observable: Observable;
  /** Why Defender cannot take it. */
  reason: string;
}

/** The Defender indicators for one OpenCTI indicator, and the observables left out. */
export interface DefenderMapping {
  /** One record per supported observable (duplicates removed). */
  records: DefenderIndicator[];
  /** Observables Defender cannot take. */
  skipped: SkippedObservable[];
}

/** The Defender type and normalised value of an observable, or why it has none. */
export type DefenderTypeResult =
  | { ok: true; type: DefenderIndicatorType; value: string }
  | { ok: false; reason: string };

/**
 * Maps one observable to a Defender `indicatorType` and value: IPs (no CIDR; IPv6 written with
 * all eight groups), domains and hostnames, URLs, SHA-1 and SHA-256 files; MD5 only when
 * `allowMd5`; e-mail addresses and other hashes are not supported by Defender.
 */
export function defenderTypeOf(observable: Observable, allowMd5 = false): DefenderTypeResult {
  const raw = observable.value.trim();
  switch (observable.type) {
    case "ipv4-addr": {
      const value = raw.endsWith("/32") ? raw.slice(0, -3) : raw;
      if (value.includes("/")) {
        return { ok: false, reason: `Defender does not support CIDR ranges (${raw})` };
      }
      return isIpv4(value)
        ? { ok: true, type: "IpAddress", value }
        : { ok: false, reason: `"${raw}" is not an IPv4 address` };
    }
    case "ipv6-addr": {
      const value = raw.endsWith("/128") ? raw.slice(0, -4) : raw;
      if (value.includes("/")) {
        return { ok: false, reason: `Defender does not support CIDR ranges (${raw})` };
      }
      const full = expandIpv6(value);
      return full
        ? { ok: true, type: "IpAddress", value: full }
        : { ok: false, reason: `"${raw}" is not an IPv6 address` };
    }
    case "domain-name":
    case "hostname": {
      const value = raw.toLowerCase().replace(/\.$/, "");
      return isDomain(value)
        ? { ok: true, type: "DomainName", value }
        : { ok: false, reason: `"${raw}" is not a domain name` };
    }
    case "url":
      return raw !== "" && !/\s/.test(raw)
        ? { ok: true, type: "Url", value: raw }
        : { ok: false, reason: `"${raw}" is not a URL` };
    case "email-addr":
      return { ok: false, reason: "Defender for Endpoint has no e-mail address indicator type" };
    case "file": {
      const value = raw.toLowerCase();
      switch (observable.hash) {
        case "SHA-256":
          return /^[0-9a-f]{64}$/.test(value)
            ? { ok: true, type: "FileSha256", value }
            : { ok: false, reason: `"${raw}" is not a SHA-256 hash` };
        case "SHA-1":
          return /^[0-9a-f]{40}$/.test(value)
            ? { ok: true, type: "FileSha1", value }
            : { ok: false, reason: `"${raw}" is not a SHA-1 hash` };
        case "MD5":
          if (!allowMd5) {
            return {
              ok: false,
              reason: "Defender rejects FileMd5 indicators on creation: send SHA-1 or SHA-256",
            };
          }
          return /^[0-9a-f]{32}$/.test(value)
            ? { ok: true, type: "FileMd5", value }
            : { ok: false, reason: `"${raw}" is not an MD5 hash` };
        default:
          return {
            ok: false,
            reason: `Defender does not support ${observable.hash ?? "unnamed"} file hashes`,
          };
      }
    }
  }
}

/** The action for a score: ≥ `blockScore` Block, ≥ `warnScore` Warn, otherwise (and without a score) Audit. */
export function actionFromScore(
  score: number | undefined,
  thresholds: { blockScore?: number; warnScore?: number } = {},
): DefenderAction {
  const { blockScore = 60, warnScore = 30 } = thresholds;
  if (score === undefined) return "Audit";
  if (score >= blockScore) return "Block";
  if (score >= warnScore) return "Warn";
  return "Audit";
}

/** The severity for a score: ≥ 60 High, ≥ 40 Medium, ≥ 20 Low, else Informational. */
export function severityFromScore(score: number | undefined): DefenderSeverity {
  if (score === undefined) return "Informational";
  if (score >= 60) return "High";
  if (score >= 40) return "Medium";
  if (score >= 20) return "Low";
  return "Informational";
}

/** An action Defender accepts for the type: BlockAndRemediate becomes Block for network types. */
export function actionForType(action: DefenderAction, type: DefenderIndicatorType): DefenderAction {
  const allowed = ACTIONS_BY_TYPE[type];
  if (allowed.includes(action)) return action;
  if (type === "CertificateThumbprint") {
    return action === "Allowed" ? "Allowed" : "BlockAndRemediate";
  }
  return action === "BlockAndRemediate" ? "Block" : "Audit";
}

/** The identity of a Defender indicator: type and value (case-insensitive). */
export function indicatorKey(type: string, value: string): string {
  return `${type}|${value.toLowerCase()}`;
}

/** Maps one OpenCTI indicator to Defender indicators, one per observable Defender supports. */
export function toDefenderIndicators(
  item: TargetIndicator,
  options: DefenderMappingOptions = {},
): DefenderMapping {
  const {
    blockScore = 60,
    warnScore = 30,
    generateAlert = true,
    expireTimeDays = 30,
    application = "OpenCTI",
    allowMd5 = false,
    descriptionMaxLength = 99,
    now = Date.now(),
  } = options;
  const baseAction = options.action ?? actionFromScore(item.score, { blockScore, warnScore });
  const severity = severityFromScore(item.score);
  const description = cut(item.description?.trim() ?? "", descriptionMaxLength) ||
    "No description";
  const expirationTime = expiry(item, expireTimeDays, now);
  const records: DefenderIndicator[] = [];
  const skipped: SkippedObservable[] = [];
  const seen = new Set<string>();
  for (const observable of item.observables) {
    const typed = defenderTypeOf(observable, allowMd5);
    if (!typed.ok) {
      skipped.push({ observable, reason: typed.reason });
      continue;
    }
    const key = indicatorKey(typed.type, typed.value);
    if (seen.has(key)) continue;
    seen.add(key);
    const action = actionForType(baseAction, typed.type);
    const record: DefenderIndicator = {
      indicatorValue: typed.value,
      indicatorType: typed.type,
      action,
      title: cut(typed.value, 250),
      description,
      application,
      expirationTime,
      severity,
      generateAlert: action === "Audit" ? true : generateAlert,
      externalID: item.id,
    };
    if (options.recommendedActions !== undefined) {
      record.recommendedActions = options.recommendedActions;
    }
    if (options.rbacGroupNames !== undefined) record.rbacGroupNames = [...options.rbacGroupNames];
    if (
      options.educateUrl !== undefined && typed.type === "Url" &&
      (action === "Block" || action === "Warn")
    ) {
      record.educateUrl = options.educateUrl;
    }
    records.push(record);
  }
  return { records, skipped };
}

/** The body of an `import` call: `{"Indicators":[…]}` (capital I, as Defender requires). */
export function importBody(records: DefenderIndicator[]): string {
  return JSON.stringify({ Indicators: records });
}

/** The body of a `BatchDelete` call: `{"IndicatorIds":[…]}`. */
export function batchDeleteBody(ids: string[]): string {
  return JSON.stringify({ IndicatorIds: ids });
}

/** One item of an `import` answer. */
export interface ImportOutcome {
  /** Defender id of the indicator, when created or updated. */
  id?: string;
  /** The indicator value. */
  indicator?: string;
  /** True when this item was refused. */
  isFailed: boolean;
  /** Why it was refused. */
  failureReason?: string;
}

const IdValue = v.pipe(v.union([v.string(), v.number()]), v.transform(String));

const ImportAnswer = v.object({
  value: v.array(
    v.looseObject({
      id: v.optional(v.nullable(IdValue)),
      indicator: v.optional(v.nullable(v.string())),
      isFailed: v.boolean(),
      failureReason: v.optional(v.nullable(v.string())),
    }),
  ),
});

/** Parses an `import` answer, or returns undefined when it is not the documented shape. */
export function parseImportAnswer(text: string): ImportOutcome[] | undefined {
  const parsed = v.safeParse(ImportAnswer, safeJson(text));
  if (!parsed.success) return undefined;
  return parsed.output.value.map((entry) => {
    const outcome: ImportOutcome = { isFailed: entry.isFailed };
    if (entry.id != null) outcome.id = entry.id;
    if (entry.indicator != null) outcome.indicator = entry.indicator;
    if (entry.failureReason != null) outcome.failureReason = entry.failureReason;
    return outcome;
  });
}

/** What the client needs from a listed Defender indicator. */
export interface ListedIndicator {
  /** Defender id. */
  id: string;
  /** Type. */
  indicatorType: string;
  /** Value. */
  indicatorValue: string;
  /** Our correlation id, when set. */
  externalID?: string;
  /** Application name, when set. */
  application?: string;
  /** The other fields of the answer a reconcile compares (action, title, severity…). */
  fields?: Record<string, unknown>;
}

const ListAnswer = v.object({
  value: v.array(
    v.looseObject({
      id: IdValue,
      indicatorType: v.string(),
      indicatorValue: v.string(),
      externalID: v.optional(v.nullable(v.string())),
      application: v.optional(v.nullable(v.string())),
    }),
  ),
  "@odata.nextLink": v.optional(v.nullable(v.string())),
});

/** Answer fields kept on {@linkcode ListedIndicator.fields}. */
const LISTED_FIELDS = ["action", "title", "description", "severity", "generateAlert"] as const;

/** Parses a list answer (one page), or returns undefined when it is not the documented shape. */
export function parseListAnswer(
  text: string,
): { items: ListedIndicator[]; nextLink?: string } | undefined {
  const parsed = v.safeParse(ListAnswer, safeJson(text));
  if (!parsed.success) return undefined;
  const items = parsed.output.value.map((entry) => {
    const item: ListedIndicator = {
      id: entry.id,
      indicatorType: entry.indicatorType,
      indicatorValue: entry.indicatorValue,
    };
    if (entry.externalID != null) item.externalID = entry.externalID;
    if (entry.application != null) item.application = entry.application;
    const fields: Record<string, unknown> = {};
    for (const key of LISTED_FIELDS) {
      if (entry[key] !== undefined) fields[key] = entry[key];
    }
    item.fields = fields;
    return item;
  });
  const next = parsed.output["@odata.nextLink"];
  return next ? { items, nextLink: next } : { items };
}

/** A Defender error body `{"error":{"code","message","target"}}`, when the text is one. */
export function parseDefenderError(
  text: string,
): { code: string; message: string; target?: string } | undefined {
  const parsed = v.safeParse(
    v.object({
      error: v.object({
        code: v.string(),
        message: v.optional(v.string(), ""),
        target: v.optional(v.nullable(v.string())),
      }),
    }),
    safeJson(text),
  );
  if (!parsed.success) return undefined;
  const { code, message, target } = parsed.output.error;
  return target ? { code, message, target } : { code, message };
}

/**
 * True when a failure text says the tenant's indicator cap is reached. Microsoft does not document
 * the wording; this matches "maximum number of … indicators", "indicator(s) limit/quota" and
 * "15,000/15000 … indicators".
 */
export function isTenantCapMessage(text: string): boolean {
  return /maximum (number of )?(active )?indicators|indicators? (limit|quota|cap)\b|limit of [\d,.]+ (active )?indicators|15[,.]?000 (active )?indicators/i
    .test(text);
}

function expiry(item: TargetIndicator, days: number, now: number): string {
  const until = item.validUntil ? Date.parse(item.validUntil) : Number.NaN;
  if (!Number.isNaN(until)) return isoSeconds(until);
  const updated = item.updatedAt ? Date.parse(item.updatedAt) : Number.NaN;
  const base = Number.isNaN(updated) ? now : updated;
  const day = 86_400_000;
  const at = base + days * day > now ? base + days * day : now + days * day;
  return isoSeconds(at);
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const chars = Array.from(text.slice(0, max * 2));
  return chars.slice(0, max).join("");
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** True for a dotted-quad IPv4 address. */
export function isIpv4(value: string): boolean {
  const parts = value.split(".");
  return parts.length === 4 &&
    parts.every((p) =>
      /^\d{1,3}$/.test(p) && Number(p) <= 255 && (p === "0" || !p.startsWith("0"))
    );
}

/** An IPv6 address written with all eight groups (lower case), or undefined when it is not one. */
export function expandIpv6(value: string): string | undefined {
  let text = value.toLowerCase();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  if (!/^[0-9a-f:.]+$/.test(text)) return undefined;
  let tail: string[] = [];
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (last.includes(".")) {
    if (!isIpv4(last)) return undefined;
    const [a, b, c, d] = last.split(".").map(Number) as [number, number, number, number];
    tail = [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    const before = text.slice(0, lastColon + 1);
    text = before.endsWith("::") ? before : text.slice(0, lastColon);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const split = (s: string) => (s === "" ? [] : s.split(":"));
  const head = split(halves[0] ?? "");
  const rest = halves.length === 2 ? split(halves[1] ?? "") : [];
  const given = head.length + rest.length + tail.length;
  let groups: string[];
  if (halves.length === 2) {
    if (given > 7) return undefined;
    groups = [...head, ...Array(8 - given).fill("0"), ...rest, ...tail];
  } else {
    groups = [...head, ...tail];
  }
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => g.replace(/^0+(?=.)/, "")).join(":");
}

/** True for a DNS name of at least two labels (letters, digits, hyphens, underscores). */
export function isDomain(value: string): boolean {
  if (value.length > 253 || !value.includes(".")) return false;
  return value.split(".").every((label) =>
    /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i.test(label) ||
    /^xn--[a-z0-9-]{1,59}$/i.test(label)
  );
}
