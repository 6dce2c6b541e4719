/**
 * The enum and value tables the Microsoft simulators validate against, written from Microsoft's
 * public documentation and `reference/microsoft.md`, never imported from the production mappers
 * (`src/microsoft/*_mapping.ts`): a mapping bug must not agree with its own check. Each table
 * names its public source.
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// Microsoft Graph `tiIndicator` (beta). Source: Microsoft Graph beta reference, "tiIndicator
// resource type (deprecated)" (learn.microsoft.com/graph/api/resources/tiindicator?view=graph-rest-beta,
// microsoftgraph/microsoft-graph-docs-contrib api-reference/beta/resources/tiindicator.md),
// sections "Properties", "threatType values", "tlpLevel values", "killChain values",
// "diamondModel values"; reference microsoft.md §2.3.
// ---------------------------------------------------------------------------------------------

/** `targetProduct`: "Acceptable values are: `Azure Sentinel`, `Microsoft Defender ATP`". */
export const TI_TARGET_PRODUCTS: readonly string[] = ["Azure Sentinel", "Microsoft Defender ATP"];

/** `action`: "Possible values are: `unknown`, `allow`, `block`, `alert`". */
export const TI_ACTIONS: readonly string[] = ["unknown", "allow", "block", "alert"];

/** `threatType`: the "threatType values" table. */
export const TI_THREAT_TYPES: readonly string[] = [
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
];

/** `tlpLevel`: "Possible values are: `unknown`, `white`, `green`, `amber`, `red`". */
export const TI_TLP_LEVELS: readonly string[] = ["unknown", "white", "green", "amber", "red"];

/**
 * `diamondModel`: the "diamondModel values" table (`unknownFutureValue` is Graph's evolvable-enum
 * sentinel, not a value a client sends).
 */
export const TI_DIAMOND_MODEL: readonly string[] = [
  "unknown",
  "adversary",
  "capability",
  "infrastructure",
  "victim",
];

/** `fileHashType`: "Possible values are: `unknown`, `sha1`, `sha256`, `md5`, `authenticodeHash256`, `lsHash`, `ctph`". */
export const TI_FILE_HASH_TYPES: readonly string[] = [
  "unknown",
  "sha1",
  "sha256",
  "md5",
  "authenticodeHash256",
  "lsHash",
  "ctph",
];

/** `killChain` items: the "killChain values" table. */
export const TI_KILL_CHAIN: readonly string[] = [
  "Actions",
  "C2",
  "Delivery",
  "Exploitation",
  "Installation",
  "Reconnaissance",
  "Weaponization",
];

/** `description`: "Brief description (100 characters or less)". */
export const TI_DESCRIPTION_MAX = 100;

/** The enum-typed string properties of a tiIndicator and their values. */
export const TI_ENUMS: Readonly<Record<string, readonly string[]>> = {
  action: TI_ACTIONS,
  tlpLevel: TI_TLP_LEVELS,
  threatType: TI_THREAT_TYPES,
  diamondModel: TI_DIAMOND_MODEL,
  fileHashType: TI_FILE_HASH_TYPES,
};

// ---------------------------------------------------------------------------------------------
// Microsoft Defender for Endpoint indicators. Sources: "Submit or Update Indicator API"
// (learn.microsoft.com/defender-endpoint/api/post-ti-indicator), "Indicator resource type"
// (…/api/ti-indicator), "Import Indicators API" (…/api/import-ti-indicators), "Overview of
// indicators in Microsoft Defender for Endpoint" (…/indicators-overview), all in
// MicrosoftDocs/defender-docs; reference microsoft.md §5.
// ---------------------------------------------------------------------------------------------

/** `indicatorType`: "Possible values are: FileSha1, FileMd5, CertificateThumbprint, FileSha256, IpAddress, DomainName, and Url". */
export const MDE_INDICATOR_TYPES = [
  "FileSha1",
  "FileSha256",
  "FileMd5",
  "CertificateThumbprint",
  "IpAddress",
  "DomainName",
  "Url",
] as const;

/** One of {@linkcode MDE_INDICATOR_TYPES}. */
export type MdeIndicatorType = typeof MDE_INDICATOR_TYPES[number];

/**
 * `action` values accepted today: the "Indicator Types" list of the Indicator resource page.
 * The request page still lists `Alert` and `AlertAndBlock`, but the resource page says they were
 * "supported until January 2022": this simulator refuses them.
 */
export const MDE_ACTIONS = [
  "Allowed",
  "Audit",
  "Warn",
  "Block",
  "BlockAndRemediate",
] as const;

/** One of {@linkcode MDE_ACTIONS}. */
export type MdeAction = typeof MDE_ACTIONS[number];

/** The retired `action` values (resource page note: "supported until January 2022"). */
export const MDE_RETIRED_ACTIONS: readonly string[] = ["Alert", "AlertAndBlock"];

/** `severity`: "Possible values are: Informational, Low, Medium, and High". */
export const MDE_SEVERITIES: readonly string[] = ["Informational", "Low", "Medium", "High"];

/**
 * The actions available per indicator type: the table "which actions are available per
 * indicator (IoC) type" of "Overview of indicators" (Files: Allow, Audit, Warn, Block execution,
 * Block and remediate; IP addresses and URLs/domains: no Block and remediate; Certificates:
 * Allow, Block and remediate).
 */
export const MDE_ACTIONS_BY_TYPE: Readonly<Record<MdeIndicatorType, readonly MdeAction[]>> = {
  FileSha1: ["Allowed", "Audit", "Warn", "Block", "BlockAndRemediate"],
  FileSha256: ["Allowed", "Audit", "Warn", "Block", "BlockAndRemediate"],
  FileMd5: ["Allowed", "Audit", "Warn", "Block", "BlockAndRemediate"],
  CertificateThumbprint: ["Allowed", "BlockAndRemediate"],
  IpAddress: ["Allowed", "Audit", "Warn", "Block"],
  DomainName: ["Allowed", "Audit", "Warn", "Block"],
  Url: ["Allowed", "Audit", "Warn", "Block"],
};

/** "There's a limit of 15,000 active indicators per tenant" (Submit and Import pages). */
export const MDE_TENANT_CAP = 15_000;

/** "Maximum batch size for one API call is 500" (Import Indicators API). */
export const MDE_MAX_IMPORT = 500;

/**
 * The identity under which Defender upserts an indicator: "Submits or Updates" by type and
 * value (reference §5.4; the exact keying is undocumented, values compare case-insensitively).
 */
export function mdeIdentity(type: string, value: string): string {
  return `${type}|${value.toLowerCase()}`;
}

/**
 * An IPv4 address "in dotted-quad form (e.g. `8.8.8.8`)" ("Overview of indicators", IP/URL/Domain
 * indicators): four decimal numbers 0-255 without leading zeros.
 */
export function isDottedQuad(value: string): boolean {
  const parts = value.split(".");
  if (parts.length !== 4) return false;
  return parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255);
}

/**
 * An IPv6 address with "all 8 segments (e.g. `2001:4860:4860:0:0:0:0:8888`)" ("Overview of
 * indicators"): eight groups of 1-4 hex digits, no `::` shortening.
 */
export function isFullIpv6(value: string): boolean {
  const groups = value.split(":");
  return groups.length === 8 && groups.every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group));
}

/**
 * A domain name as Defender takes it ("specify the domain (e.g. `example.com`)"): at least two
 * dot-separated labels of letters, digits, `-` and `_` (1-63 characters, not starting or ending
 * with `-`), at most 253 characters.
 */
export function isDnsName(value: string): boolean {
  if (value.length > 253) return false;
  const labels = value.split(".");
  if (labels.length < 2) return false;
  return labels.every((label) =>
    label.length >= 1 && label.length <= 63 && /^[A-Za-z0-9_-]+$/.test(label) &&
    !label.startsWith("-") && !label.endsWith("-")
  );
}

// ---------------------------------------------------------------------------------------------
// Microsoft Sentinel STIX objects upload API. Source: "Import threat intelligence to Microsoft
// Sentinel with the upload API (Preview)" (learn.microsoft.com/azure/sentinel/stix-objects-api,
// MicrosoftDocs/azure-docs articles/sentinel/stix-objects-api.md): "Request body", "Common
// properties", "Indicator", "Throttling limits for the API"; reference microsoft.md §3.
// ---------------------------------------------------------------------------------------------

/** "The value `Microsoft Sentinel` is restricted" for `sourcesystem`. */
export const SENTINEL_RESERVED_SOURCE = "Microsoft Sentinel";

/** "100 objects per request". */
export const SENTINEL_MAX_OBJECTS = 100;

/** "this API only supports STIX 2.0 and 2.1" (`spec_version`, default `2.1`). */
export const SENTINEL_SPEC_VERSIONS: readonly string[] = ["2.0", "2.1"];

/** Timestamp properties every object must carry ("Common properties": `created`, `modified` required). */
export const SENTINEL_REQUIRED_TIMESTAMPS: readonly string[] = ["created", "modified"];

/** What an `indicator` must carry besides the common properties ("Indicator": required rows). */
export const SENTINEL_INDICATOR_REQUIRED: readonly string[] = [
  "pattern",
  "pattern_type",
  "valid_from",
];

/** Common list-of-strings properties (`labels`, `object_marking_refs`) and the indicator's `indicator_types`. */
export const SENTINEL_STRING_LISTS: readonly string[] = [
  "labels",
  "indicator_types",
  "object_marking_refs",
];
