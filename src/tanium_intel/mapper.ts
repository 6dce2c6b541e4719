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

/** One intel document to create or update, for one OpenCTI indicator. */
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
  /** The content. */
  content: IntelContent;
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
}

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

/** The OpenCTI internal id from the object's extension, if any. */
function openctiIdOf(object: StixObject): string | undefined {
  const extensions = object.extensions;
  if (typeof extensions !== "object" || extensions === null) return undefined;
  for (const value of Object.values(extensions as Record<string, unknown>)) {
    if (typeof value === "object" && value !== null) {
      const id = (value as Record<string, unknown>).id;
      if (typeof id === "string" && id !== "") return id;
    }
  }
  return undefined;
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
  const labels = Array.isArray(object.labels)
    ? [
      ...new Set(
        object.labels.filter((l): l is string => typeof l === "string" && l.trim() !== "")
          .map((l) => l.trim().toLowerCase()),
      ),
    ]
    : [];
  const document: IntelDocument = {
    id: object.id,
    name,
    description: oneLine(object.description),
    labels,
    content,
    stix: object,
  };
  const openctiId = openctiIdOf(object);
  if (openctiId !== undefined) document.openctiId = openctiId;
  if (intelId !== undefined) document.intelId = intelId;
  return { kind: "upsert", document };
}
