/**
 * OpenCTI indicator → Tanium Threat Response intel document (pure).
 *
 * Sources (upstream `OpenCTI-Platform/connectors` `stream/tanium-intel`, newest public version):
 * - `src/tanium_intel_connector/intel_manager.py` `create_intel_from_indicator`: the intel format
 *   follows `pattern_type`: `stix`, `yara`, `tanium-signal`; other pattern types are not sent.
 * - `api_handler.py` `create_indicator_yara`: the YARA rule is uploaded as the document, with the
 *   indicator name and a one-line description; `create_indicator_tanium_signal`: JSON
 *   `{name, description, platforms, contents}`, platforms from `x_mitre_platforms` (`Linux`,
 *   `Windows`, `macOS` → `linux`, `windows`, `mac`); `create_observable`: values go through
 *   `POST …/intels/quick-add` (`{exact, name, type, text}`, type `Network Indicators` for
 *   ipv4/ipv6/domain/hostname values, `File Hashes` for MD5/SHA-1/SHA-256) which answers an
 *   OpenIOC document, uploaded with `type: openioc`.
 * - Upstream converts `stix` indicators to STIX 1 XML (stix2slider). This program sends the values
 *   of a STIX pattern through quick-add (OpenIOC) instead: the same documented API path upstream
 *   uses for observables, with no STIX 1 converter to carry.
 * - Revocation (`revoked: true`) or an expired `valid_until` removes the document (revoke = delete,
 *   as `delete_intel`).
 * - Observables (`connector.py` `_handle_create_event`, `utils.py`): `ipv4-addr`, `ipv6-addr`,
 *   `domain-name`, `hostname` become a `Network Indicators` quick-add document named by the value
 *   (`process` is accepted upstream but maps to nothing); `file` and `artifact` hashes go to the
 *   Reputation service's custom blocklist when `TANIUM_INTEL_HASHES_IN_REPUTATION` (upstream
 *   `create_reputation`: `{list: "blacklist", <hashes>, uploadedHash, notes}`, notes = labels, else
 *   the description) and become a `File Hashes` document unless `TANIUM_INTEL_NO_HASHES_IN_INTELS`
 *   (both default true). Deleting the observable deletes its hashes from the blocklist (older
 *   upstream `stream/tanium`: `POST …/reputations/custom/delete` with the hashes).
 */
import type { StixObject } from "../stix/types.ts";
import { readPattern } from "../stix/pattern.ts";

/** `source_name` of the reference written back; tanium-incidents' default list holds it. */
export const INTEL_REFERENCE_SOURCE = "Tanium Threat Response Intel";
/** `description` of that reference (upstream text, `intel_manager.py`). */
export const INTEL_REFERENCE_DESCRIPTION = "Intel document within the Tanium platform.";

/** The body of one intel document, per format. */
export type IntelContent =
  | {
    /** OpenIOC, built by Tanium from values (`POST …/intels/quick-add`). */
    type: "openioc";
    /** Quick-add type. */
    quickAddType: "Network Indicators" | "File Hashes";
    /** The values, one per line. */
    text: string;
  }
  | {
    /** A YARA rule. */
    type: "yara";
    /** File name of the upload (`<name>.yara`). */
    filename: string;
    /** The rule text. */
    contents: string;
  }
  | {
    /** A Tanium signal. */
    type: "tanium-signal";
    /** `windows`, `linux`, `mac`. */
    platforms: string[];
    /** The signal text. */
    contents: string;
  };

/**
 * One entry of the Reputation service's custom list (upstream `api_handler.py`
 * `create_reputation`; hash keys as the older upstream `stream/tanium` sent them: `md5`, `sha1`,
 * `sha256`, `""` when absent).
 */
export interface ReputationEntry {
  /** `blacklist`: known bad (upstream never sends `whitelist`). */
  list: "blacklist";
  /** MD5 or `""`. */
  md5: string;
  /** SHA-1 or `""`. */
  sha1: string;
  /** SHA-256 or `""`. */
  sha256: string;
  /** The strongest hash given (SHA-256, else SHA-1, else MD5). */
  uploadedHash: string;
  /** The labels (comma-separated), else the description. */
  notes: string;
}

/**
 * One intel document (and/or reputation entry) to create or update, for one OpenCTI indicator or
 * observable.
 */
export interface IntelDocument {
  /** STIX id of the indicator (batch key, dead-letter id). */
  id: string;
  /** OpenCTI internal id, when known (write-back). */
  openctiId?: string;
  /** Document name (indicator name, trimmed). */
  name: string;
  /** One-line description. */
  description: string;
  /** Label names (lower-cased, as upstream compares them). */
  labels: string[];
  /** The content; absent when only a reputation entry is sent (a file's hashes). */
  content?: IntelContent;
  /** The reputation entry (file and artifact hashes, `TANIUM_INTEL_HASHES_IN_REPUTATION`). */
  reputation?: ReputationEntry;
  /** Hashes the update took off the file: deleted from the reputation list. */
  staleHashes?: string[];
  /** STIX type: `indicator`, or an observable type (the write-back's mutation depends on it). */
  stixType: string;
  /** The Tanium intel document id already written back on the indicator, if any. */
  intelId?: number;
  /** The indicator as received (the write-back reads its references). */
  stix: StixObject;
}

/** What removing one indicator's document needs. */
export interface IntelRemoval {
  /** STIX id of the indicator. */
  id: string;
  /** The Tanium intel document id written back on it, when the event carried it. */
  intelId?: number;
  /** Hashes to delete from the Reputation service's custom list (a deleted file). */
  reputationHashes?: string[];
}

/** What to do for one stream object. */
export type IntelPlan =
  | { kind: "upsert"; document: IntelDocument }
  | { kind: "remove"; removal: IntelRemoval }
  | { kind: "skip"; reason: string; detail: string };

/** Options of {@linkcode planIntel}. */
export interface PlanOptions {
  /** The clock, epoch ms (expiry). */
  now: number;
  /** `source_name` values whose `external_id` is a document id of ours. @default [INTEL_REFERENCE_SOURCE] */
  sourceNames?: readonly string[];
  /** `TANIUM_INTEL_HASHES_IN_REPUTATION`: file hashes to the Reputation service. @default true */
  hashesInReputation?: boolean;
  /** `TANIUM_INTEL_NO_HASHES_IN_INTELS`: no document for file hashes. @default true */
  noHashesInIntels?: boolean;
  /** An update's `context.reverse_patch` (what the object was before it). @default none */
  reversePatch?: unknown;
}

/** Observable types that become a `Network Indicators` document (upstream `create_observable`). */
export const NETWORK_OBSERVABLES: ReadonlySet<string> = new Set([
  "ipv4-addr",
  "ipv6-addr",
  "domain-name",
  "hostname",
]);
/** Observable types whose hashes go to the Reputation service (upstream `utils.is_file`). */
export const FILE_OBSERVABLES: ReadonlySet<string> = new Set(["file", "artifact"]);

const NETWORK_TYPES = new Set(["ipv4-addr", "ipv6-addr", "domain-name", "hostname"]);
const FILE_HASHES = new Set(["MD5", "SHA-1", "SHA-256"]);
const PLATFORMS: Readonly<Record<string, string>> = {
  Linux: "linux",
  Windows: "windows",
  macOS: "mac",
};

/** The intel document id written back on an object by a source of ours (the newest), if any. */
export function intelIdOf(
  object: StixObject,
  sourceNames: readonly string[] = [INTEL_REFERENCE_SOURCE],
): number | undefined {
  const list = Array.isArray(object.external_references) ? object.external_references : [];
  // A document deleted (revoked) then created again leaves an older reference behind: Tanium ids
  // grow, so the newest document is the largest id.
  let newest: number | undefined;
  for (const reference of list) {
    if (typeof reference !== "object" || reference === null) continue;
    const r = reference as Record<string, unknown>;
    if (typeof r.source_name !== "string" || !sourceNames.includes(r.source_name)) continue;
    const id = typeof r.external_id === "string" ? r.external_id : "";
    if (/^[1-9]\d{0,15}$/.test(id) && (newest === undefined || Number(id) > newest)) {
      newest = Number(id);
    }
  }
  return newest;
}

/** An attribute of the object's OpenCTI extension (`extensions.<id>.<name>`), if any. */
function extensionValue(object: StixObject, name: string): unknown {
  const extensions = object.extensions;
  if (typeof extensions !== "object" || extensions === null) return undefined;
  for (const value of Object.values(extensions as Record<string, unknown>)) {
    if (typeof value === "object" && value !== null) {
      const found = (value as Record<string, unknown>)[name];
      if (found !== undefined && found !== null && found !== "") return found;
    }
  }
  return undefined;
}

/** The OpenCTI internal id from the object's extension, if any. */
function openctiIdOf(object: StixObject): string | undefined {
  const id = extensionValue(object, "id");
  return typeof id === "string" ? id : undefined;
}

/** Labels: STIX `labels`, else the OpenCTI extension's (observables), trimmed and lower-cased. */
function labelsOf(object: StixObject): string[] {
  const raw = Array.isArray(object.labels) ? object.labels : extensionValue(object, "labels");
  if (!Array.isArray(raw)) return [];
  return [
    ...new Set(
      raw.filter((l): l is string => typeof l === "string" && l.trim() !== "")
        .map((l) => l.trim().toLowerCase()),
    ),
  ];
}

/** File hashes by upstream name (`MD5`, `SHA-1`, `SHA-256`); a list form is accepted too. */
function fileHashes(object: StixObject): { md5?: string; sha1?: string; sha256?: string } {
  const raw: unknown = object.hashes;
  const map: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      if (typeof entry !== "object" || entry === null) continue;
      const e = entry as Record<string, unknown>;
      if (typeof e.algorithm === "string" && typeof e.hash === "string") map[e.algorithm] = e.hash;
    }
  } else if (typeof raw === "object" && raw !== null) {
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof value === "string") map[key] = value;
    }
  }
  const pick = (...names: string[]) => {
    for (const name of names) {
      const value = map[name]?.trim();
      if (value) return value.toLowerCase();
    }
    return undefined;
  };
  const out: { md5?: string; sha1?: string; sha256?: string } = {};
  const md5 = pick("MD5", "md5");
  const sha1 = pick("SHA-1", "SHA1", "sha1");
  const sha256 = pick("SHA-256", "SHA256", "sha256");
  if (md5) out.md5 = md5;
  if (sha1) out.sha1 = sha1;
  if (sha256) out.sha256 = sha256;
  return out;
}

/**
 * The file's hashes before an update, from the update's `reverse_patch` (JSON Patch ops on
 * `/hashes` or `/hashes/<algorithm>`); the current ones when it touched no hash.
 */
export function hashesBefore(object: StixObject, reversePatch: unknown): string[] {
  const current: unknown = object.hashes;
  let before: Record<string, unknown> = typeof current === "object" && current !== null &&
      !Array.isArray(current)
    ? { ...(current as Record<string, unknown>) }
    : {};
  for (const op of Array.isArray(reversePatch) ? reversePatch : []) {
    if (typeof op !== "object" || op === null) continue;
    const o = op as Record<string, unknown>;
    if (typeof o.path !== "string") continue;
    if (o.path === "/hashes") {
      before = o.op === "remove" || typeof o.value !== "object" || o.value === null
        ? {}
        : { ...(o.value as Record<string, unknown>) };
      continue;
    }
    const match = /^\/hashes\/(.+)$/.exec(o.path);
    if (!match) continue;
    const key = match[1]!.replaceAll("~1", "/").replaceAll("~0", "~");
    if (o.op === "remove") delete before[key];
    else if (o.op === "add" || o.op === "replace") before[key] = o.value;
  }
  return hashList({ ...object, hashes: before });
}

/** The hashes of a file observable, strongest last (as upstream orders them). */
export function hashList(object: StixObject): string[] {
  const h = fileHashes(object);
  return [h.md5, h.sha1, h.sha256].filter((x): x is string => x !== undefined);
}

function oneLine(text: unknown): string {
  return typeof text === "string" ? text.replace(/\s+/g, " ").trim() : "";
}

/** Maps one event's object (`create`/`update`/`delete`) to what Tanium must hold for it. */
export function planIntel(
  event: "create" | "update" | "delete" | "merge",
  object: StixObject,
  options: PlanOptions,
): IntelPlan {
  if (NETWORK_OBSERVABLES.has(object.type) || FILE_OBSERVABLES.has(object.type)) {
    return planObservable(event, object, options);
  }
  if (object.type !== "indicator") {
    return { kind: "skip", reason: "unsupported_entity_type", detail: `${object.type}` };
  }
  const sourceNames = options.sourceNames ?? [INTEL_REFERENCE_SOURCE];
  const intelId = intelIdOf(object, sourceNames);
  const removal: IntelRemoval = intelId === undefined
    ? { id: object.id }
    : { id: object.id, intelId };
  if (event === "delete" || event === "merge") return { kind: "remove", removal };
  if (object.revoked === true) return { kind: "remove", removal };
  const until = typeof object.valid_until === "string" ? Date.parse(object.valid_until) : NaN;
  if (!Number.isNaN(until) && until <= options.now) return { kind: "remove", removal };

  const name = oneLine(object.name) || object.id;
  const patternType = typeof object.pattern_type === "string"
    ? object.pattern_type.toLowerCase()
    : "";
  const pattern = typeof object.pattern === "string" ? object.pattern : "";
  if (pattern.trim() === "") {
    return { kind: "skip", reason: "invalid_value", detail: "the indicator has no pattern" };
  }
  let content: IntelContent;
  if (patternType === "yara") {
    content = { type: "yara", filename: `${name}.yara`, contents: pattern };
  } else if (patternType === "tanium-signal") {
    const platforms = Array.isArray(object.x_mitre_platforms)
      ? object.x_mitre_platforms.flatMap((p) =>
        typeof p === "string" && PLATFORMS[p] ? [PLATFORMS[p]] : []
      )
      : [];
    content = { type: "tanium-signal", platforms: [...new Set(platforms)], contents: pattern };
  } else if (patternType === "stix") {
    const read = readPattern(pattern);
    if ("error" in read) return { kind: "skip", reason: "unreadable_pattern", detail: read.error };
    const network = read.observables.filter((o) => NETWORK_TYPES.has(o.type)).map((o) => o.value);
    const hashes = read.observables.filter((o) =>
      o.type === "file" && o.hash !== undefined && FILE_HASHES.has(o.hash)
    ).map((o) => o.value);
    if (network.length > 0 && hashes.length > 0) {
      return {
        kind: "skip",
        reason: "unsupported_by_target",
        detail: "a pattern mixing network values and file hashes has no single quick-add type",
      };
    }
    if (network.length === 0 && hashes.length === 0) {
      return {
        kind: "skip",
        reason: "unsupported_by_target",
        detail:
          "no ipv4/ipv6/domain/hostname value or MD5/SHA-1/SHA-256 hash in the pattern (Tanium quick-add types)",
      };
    }
    content = network.length > 0
      ? { type: "openioc", quickAddType: "Network Indicators", text: network.join("\n") }
      : { type: "openioc", quickAddType: "File Hashes", text: hashes.join("\n") };
  } else {
    return {
      kind: "skip",
      reason: "unsupported_pattern_type",
      detail: `pattern_type "${patternType}": Tanium takes stix, yara and tanium-signal`,
    };
  }
  const document: IntelDocument = {
    id: object.id,
    name,
    description: oneLine(object.description),
    labels: labelsOf(object),
    content,
    stixType: object.type,
    stix: object,
  };
  const openctiId = openctiIdOf(object);
  if (openctiId !== undefined) document.openctiId = openctiId;
  if (intelId !== undefined) document.intelId = intelId;
  return { kind: "upsert", document };
}

/** An observable (network value, file, artifact): a quick-add document and/or a reputation entry. */
function planObservable(
  event: "create" | "update" | "delete" | "merge",
  object: StixObject,
  options: PlanOptions,
): IntelPlan {
  const sourceNames = options.sourceNames ?? [INTEL_REFERENCE_SOURCE];
  const intelId = intelIdOf(object, sourceNames);
  const isFile = FILE_OBSERVABLES.has(object.type);
  const inReputation = isFile && (options.hashesInReputation ?? true);
  const inIntels = !isFile || !(options.noHashesInIntels ?? true);
  const hashes = isFile ? hashList(object) : [];
  if (event === "delete" || event === "merge") {
    const removal: IntelRemoval = { id: object.id };
    if (intelId !== undefined) removal.intelId = intelId;
    if (inReputation && hashes.length > 0) removal.reputationHashes = hashes;
    return { kind: "remove", removal };
  }
  const description = oneLine(object.description ?? extensionValue(object, "description"));
  const labels = labelsOf(object);
  let content: IntelContent | undefined;
  let name: string;
  let reputation: ReputationEntry | undefined;
  if (isFile) {
    if (hashes.length === 0) {
      return {
        kind: "skip",
        reason: "unsupported_by_target",
        detail: "no MD5, SHA-1 or SHA-256 hash on the file (Tanium takes only these)",
      };
    }
    if (!inReputation && !inIntels) {
      return {
        kind: "skip",
        reason: "disabled",
        detail: "TANIUM_INTEL_HASHES_IN_REPUTATION=false and TANIUM_INTEL_NO_HASHES_IN_INTELS=true",
      };
    }
    name = hashes[hashes.length - 1]!;
    if (inIntels) {
      content = { type: "openioc", quickAddType: "File Hashes", text: hashes.join("\n") };
    }
    if (inReputation) {
      const h = fileHashes(object);
      reputation = {
        list: "blacklist",
        md5: h.md5 ?? "",
        sha1: h.sha1 ?? "",
        sha256: h.sha256 ?? "",
        uploadedHash: name,
        notes: labels.length > 0 ? labels.join(",") : description,
      };
    }
  } else {
    const value = typeof object.value === "string" ? object.value.trim() : "";
    if (value === "") {
      return { kind: "skip", reason: "invalid_value", detail: "the observable has no value" };
    }
    name = value;
    content = { type: "openioc", quickAddType: "Network Indicators", text: value };
  }
  const document: IntelDocument = {
    id: object.id,
    name,
    description,
    labels,
    stixType: object.type,
    stix: object,
  };
  if (content) document.content = content;
  if (reputation) {
    document.reputation = reputation;
    if (event === "update" && options.reversePatch !== undefined) {
      const stale = hashesBefore(object, options.reversePatch).filter((h) => !hashes.includes(h));
      if (stale.length > 0) document.staleHashes = stale;
    }
  }
  const openctiId = openctiIdOf(object);
  if (openctiId !== undefined) document.openctiId = openctiId;
  if (intelId !== undefined && content) document.intelId = intelId;
  return { kind: "upsert", document };
}
