/**
 * OpenCTI indicator → Microsoft Graph `tiIndicator` records (pure; see reference microsoft.md §2
 * and §7). One record per observable; invalid or unsupported observables are skipped with a reason.
 *
 * Correlation key: every record of one indicator carries the same `externalId`, the indicator's
 * STIX id. Graph does not require `externalId` to be unique (it is a plain filterable property,
 * reference §2.3 and §7.1: "they share the same externalId"), so one key finds and removes all the
 * records of an indicator: `deleteTiIndicatorsByExternalId` removes every record carrying it, and a
 * `$filter=externalId eq '…'` lookup lists them all for updates. The client matches records to
 * observables by {@linkcode observableKey}.
 */
import type { Now } from "../runtime/clock.ts";
import { systemNow } from "../runtime/clock.ts";
import type { TargetIndicator } from "./target.ts";
import { tlpOf } from "../stix/markings.ts";
import type { Observable, Tlp } from "../stix/types.ts";
import { isCidr, isValidObservable } from "../stix/validate.ts";

/** The two `targetProduct` values Graph accepts. */
export type GraphTargetProduct = "Azure Sentinel" | "Microsoft Defender ATP";
/** `tiIndicator.action`. */
export type GraphAction = "unknown" | "allow" | "block" | "alert";
/** `tiIndicator.tlpLevel`. */
export type GraphTlpLevel = "unknown" | "white" | "green" | "amber" | "red";
/** `tiIndicator.fileHashType` values this connector sends. */
export type GraphFileHashType = "md5" | "sha1" | "sha256";

/** Every `targetProduct` value, for validation. */
export const TARGET_PRODUCTS: readonly GraphTargetProduct[] = [
  "Azure Sentinel",
  "Microsoft Defender ATP",
];
/** Every `action` value. */
export const ACTIONS: readonly GraphAction[] = ["unknown", "allow", "block", "alert"];
/** Every `tlpLevel` value. */
export const TLP_LEVELS: readonly GraphTlpLevel[] = ["unknown", "white", "green", "amber", "red"];
/** Every `threatType` value (reference §2.3). */
export const THREAT_TYPES = [
  "Botnet",
  "C2",
  "CryptoMining",
  "Darknet",
  "DDoS",
  "MaliciousUrl",
  "Malware",
  "Phishing",
  "Proxy",
  "PUA",
  "WatchList",
] as const;
/** `tiIndicator.threatType`. */
export type GraphThreatType = typeof THREAT_TYPES[number];
/** Every `killChain` value. */
export const KILL_CHAIN = [
  "Actions",
  "C2",
  "Delivery",
  "Exploitation",
  "Installation",
  "Reconnaissance",
  "Weaponization",
] as const;
/** `tiIndicator.killChain` item. */
export type GraphKillChain = typeof KILL_CHAIN[number];

/** Graph's limit on `description` (reference §2.3). */
export const DESCRIPTION_MAX = 100;

/** The observable fields this connector fills (one group per record). */
export interface TiObservableFields {
  /** IPv4 when source/destination is unknown (Sentinel), also sent for Defender ATP. */
  networkIPv4?: string;
  /** IPv6, same rule as `networkIPv4`. */
  networkIPv6?: string;
  /** Destination IPv4, required by the Defender ATP target. */
  networkDestinationIPv4?: string;
  /** Destination IPv6, required by the Defender ATP target. */
  networkDestinationIPv6?: string;
  /** A CIDR range (Sentinel only). */
  networkCidrBlock?: string;
  /** Domain or host name. */
  domainName?: string;
  /** URL. */
  url?: string;
  /** Email sender address (Sentinel only). */
  emailSenderAddress?: string;
  /** Hash algorithm of `fileHashValue`. */
  fileHashType?: GraphFileHashType;
  /** File hash. */
  fileHashValue?: string;
}

/** One `tiIndicator` create body, exactly as sent. */
export interface TiIndicator extends TiObservableFields {
  /** Which Microsoft product consumes the record. */
  targetProduct: GraphTargetProduct;
  /** What the product does on a match. */
  action: GraphAction;
  /** Sharing level. */
  tlpLevel: GraphTlpLevel;
  /** Threat category. */
  threatType: GraphThreatType;
  /** ISO-8601 UTC. */
  expirationDateTime: string;
  /** 0-5. */
  severity: number;
  /** ≤ 100 characters. */
  description: string;
  /** Silent (audit) mode, a real boolean. */
  passiveOnly: boolean;
  /** Labels plus `opencti`. */
  tags: string[];
  /** 0-100 integer. */
  confidence: number;
  /** The indicator's STIX id, shared by all its records. */
  externalId: string;
  /** OpenCTI `updated_at`, when known. */
  lastReportedDateTime?: string;
  /** The OpenCTI score as text (the property is a String). */
  additionalInformation?: string;
  /** Kill chain phases Graph knows. */
  killChain?: GraphKillChain[];
}

/** Options of {@linkcode toTiIndicators}. */
export interface GraphOptions {
  /** `TARGET_PRODUCT`. */
  targetProduct: GraphTargetProduct;
  /** `ACTION`: overrides the score rule. @default from the score */
  action?: GraphAction;
  /** `TLP_LEVEL`: overrides the markings. @default from the markings */
  tlpLevel?: GraphTlpLevel;
  /** `CONFIDENCE_LEVEL`: scores at or above it block. @default 50 */
  confidenceLevel?: number;
  /** `EXPIRE_TIME`: days after `updated_at` when there is no `valid_until`. @default 30 */
  expireTimeDays?: number;
  /** `PASSIVE_ONLY` (TLP:RED records are always passive). @default false */
  passiveOnly?: boolean;
  /** The clock, used when the indicator has no date to expire from. @default Date.now */
  now?: Now;
}

/** An observable left out, and why. */
export interface SkippedObservable {
  /** The observable value. */
  value: string;
  /** Why it was not sent. */
  reason: string;
}

/** Result of {@linkcode toTiIndicators}. */
export interface TiMapping {
  /** One record per sendable observable. */
  records: TiIndicator[];
  /** Observables not sent. */
  skipped: SkippedObservable[];
}

const DAY_MS = 86_400_000;

/** Maps one indicator to its `tiIndicator` records. */
export function toTiIndicators(indicator: TargetIndicator, options: GraphOptions): TiMapping {
  const product = options.targetProduct;
  const common = commonFields(indicator, options);
  const records: TiIndicator[] = [];
  const skipped: SkippedObservable[] = [];
  const seen = new Set<string>();
  for (const observable of indicator.observables) {
    const invalid = isValidObservable(observable);
    if (invalid !== undefined) {
      skipped.push({ value: observable.value, reason: invalid });
      continue;
    }
    const fields = observableFields(observable, product);
    if (typeof fields === "string") {
      skipped.push({ value: observable.value, reason: fields });
      continue;
    }
    const record: TiIndicator = { ...common, ...fields };
    const key = observableKey(record);
    if (key === undefined || seen.has(key)) continue; // the same value twice in one pattern
    seen.add(key);
    records.push(record);
  }
  return { records, skipped };
}

/** The fields shared by every record of an indicator. */
function commonFields(
  indicator: TargetIndicator,
  options: GraphOptions,
): Omit<TiIndicator, keyof TiObservableFields> {
  const tlpLevel = options.tlpLevel ?? tlpLevelOf(indicator);
  const common: Omit<TiIndicator, keyof TiObservableFields> = {
    targetProduct: options.targetProduct,
    action: options.action ?? actionFromScore(indicator.score, options.confidenceLevel ?? 50),
    tlpLevel,
    threatType: threatTypeOf(indicator.labels),
    expirationDateTime: expirationOf(indicator, options),
    severity: severityFromScore(indicator.score),
    description: cutDescription(indicator.description),
    passiveOnly: (options.passiveOnly ?? false) || tlpLevel === "red",
    tags: [...new Set([...indicator.labels, "opencti"])],
    confidence: clampInt(indicator.confidence ?? 50, 0, 100),
    externalId: indicator.id,
  };
  const reported = isoOrUndefined(indicator.updatedAt ?? indicator.modified);
  if (reported !== undefined) common.lastReportedDateTime = reported;
  if (indicator.score !== undefined) common.additionalInformation = `score: ${indicator.score}`;
  const killChain = killChainOf(indicator.killChainPhases);
  if (killChain.length > 0) common.killChain = killChain;
  return common;
}

/** The observable property (or properties) of one observable, or why it cannot be sent. */
export function observableFields(
  observable: Observable,
  product: GraphTargetProduct,
): TiObservableFields | string {
  const defender = product === "Microsoft Defender ATP";
  const value = observable.value.trim();
  switch (observable.type) {
    case "ipv4-addr":
    case "ipv6-addr": {
      if (isCidr(value)) {
        if (defender) return "CIDR ranges are not supported by the Microsoft Defender ATP target";
        return { networkCidrBlock: value };
      }
      const address = value.replace(/\/\d+$/, ""); // a /32 or /128 prefix is one address
      if (observable.type === "ipv4-addr") {
        // Defender ATP takes destination IPs only, and in practice also wants the plain field
        // ("Missing indicators value" otherwise, reference §2.4).
        return defender
          ? { networkDestinationIPv4: address, networkIPv4: address }
          : { networkIPv4: address };
      }
      return defender
        ? { networkDestinationIPv6: address, networkIPv6: address }
        : { networkIPv6: address };
    }
    case "domain-name":
    case "hostname":
      return { domainName: value };
    case "url":
      return { url: value };
    case "email-addr":
      if (defender) return "Email addresses are not supported by the Microsoft Defender ATP target";
      return { emailSenderAddress: value };
    case "file": {
      const hashType = fileHashTypeOf(observable.hash);
      if (hashType === undefined) {
        return `Hash ${
          observable.hash ?? "(none)"
        } is not supported by Graph: send MD5, SHA-1 or SHA-256`;
      }
      return { fileHashType: hashType, fileHashValue: value.toLowerCase() };
    }
  }
}

/** Graph's `fileHashType` for a hash algorithm, if Graph takes it. */
export function fileHashTypeOf(hash: Observable["hash"]): GraphFileHashType | undefined {
  switch (hash) {
    case "MD5":
      return "md5";
    case "SHA-1":
      return "sha1";
    case "SHA-256":
      return "sha256";
    default:
      return undefined;
  }
}

/** The observable property names of a record, in a fixed order (used for lookups and matching). */
export const OBSERVABLE_KEYS = [
  "networkDestinationIPv4",
  "networkDestinationIPv6",
  "networkIPv4",
  "networkIPv6",
  "networkCidrBlock",
  "domainName",
  "url",
  "emailSenderAddress",
  "fileHashValue",
] as const;

/** Identifies which observable a record (sent or read back) stands for: `field=value`, value lower-cased. */
export function observableKey(record: object): string | undefined {
  for (const field of OBSERVABLE_KEYS) {
    const value = (record as Record<string, unknown>)[field];
    if (typeof value === "string" && value !== "") {
      // Destination and plain IP fields carry the same value: key both the same way.
      const name = field.replace("networkDestination", "network");
      return `${name}=${value.toLowerCase()}`;
    }
  }
  return undefined;
}

/** `action` from the score: >= level block, 0 allow, other scores alert, no score unknown. */
export function actionFromScore(score: number | undefined, confidenceLevel: number): GraphAction {
  if (score === undefined || Number.isNaN(score)) return "unknown";
  if (score >= confidenceLevel) return "block";
  if (score === 0) return "allow";
  return "alert";
}

/** `severity` 0-5 from the score (upstream thresholds 70/50/30/10/0). */
export function severityFromScore(score: number | undefined): number {
  if (score === undefined || Number.isNaN(score)) return 0;
  if (score >= 70) return 5;
  if (score >= 50) return 4;
  if (score >= 30) return 3;
  if (score >= 10) return 2;
  if (score > 0) return 1;
  return 0;
}

/** `tlpLevel` from the indicator's most restrictive TLP (AMBER+STRICT counts as amber, CLEAR as white). */
export function tlpLevelOf(indicator: TargetIndicator): GraphTlpLevel {
  const refs = indicator.stix.object_marking_refs;
  const tlp: Tlp | undefined = indicator.tlp ??
    (Array.isArray(refs)
      ? tlpOf(refs.filter((r): r is string => typeof r === "string"))
      : undefined);
  switch (tlp) {
    case "red":
      return "red";
    case "amber":
    case "amber+strict":
      return "amber";
    case "green":
      return "green";
    case "clear":
    case "white":
      return "white";
    default:
      return "unknown";
  }
}

/** `threatType` from labels matched case-insensitively against the enum; the last match wins. */
export function threatTypeOf(labels: readonly string[]): GraphThreatType {
  let found: GraphThreatType = "WatchList";
  for (const label of labels) {
    const match = THREAT_TYPES.find((t) => t.toLowerCase() === label.trim().toLowerCase());
    if (match) found = match;
  }
  return found;
}

/** `expirationDateTime`: `valid_until`, else `updated_at` (or `modified`, else now) + the expiry days. */
export function expirationOf(indicator: TargetIndicator, options: GraphOptions): string {
  const until = isoOrUndefined(indicator.validUntil);
  if (until !== undefined) return until;
  const base = Date.parse(indicator.updatedAt ?? indicator.modified ?? "");
  const from = Number.isNaN(base) ? (options.now ?? systemNow)() : base;
  return new Date(from + (options.expireTimeDays ?? 30) * DAY_MS).toISOString();
}

/** The description cut to Graph's 100 characters (never splitting a surrogate pair), or "No description". */
export function cutDescription(text: string | undefined): string {
  const trimmed = text?.trim() ?? "";
  if (trimmed === "") return "No description";
  if (trimmed.length <= DESCRIPTION_MAX) return trimmed;
  let cut = trimmed.slice(0, DESCRIPTION_MAX);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut;
}

const PHASES: Readonly<Record<string, GraphKillChain>> = {
  "reconnaissance": "Reconnaissance",
  "weaponization": "Weaponization",
  "weaponisation": "Weaponization",
  "delivery": "Delivery",
  "exploitation": "Exploitation",
  "installation": "Installation",
  "command-and-control": "C2",
  "command and control": "C2",
  "c2": "C2",
  "actions-on-objectives": "Actions",
  "actions on objectives": "Actions",
  "actions": "Actions",
};

/** Graph `killChain` values for the Lockheed Martin phase names among the indicator's phases. */
export function killChainOf(phases: readonly string[]): GraphKillChain[] {
  const out = new Set<GraphKillChain>();
  for (const phase of phases) {
    const value = PHASES[phase.trim().toLowerCase()];
    if (value) out.add(value);
  }
  return [...out];
}

function clampInt(value: number, min: number, max: number): number {
  if (!Number.isFinite(value)) return min;
  return Math.min(max, Math.max(min, Math.round(value)));
}

function isoOrUndefined(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}
