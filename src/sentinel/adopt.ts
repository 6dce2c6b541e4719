/**
 * `SENTINEL_ADOPT_SOURCE` (issue 17): which upstream connector's records a reconcile adopts, and
 * the name its records carry. Kept apart from the reconcile so the settings stay light.
 *
 * @module
 */

/** `SENTINEL_ADOPT_SOURCE` names no known connector, or one of another target. */
export class AdoptSourceError extends Error {
  /** The error's name. */
  override name = "AdoptSourceError";
}

/** The upstream connectors whose records a reconcile can adopt (`SENTINEL_ADOPT_SOURCE`). */
export const ADOPTABLE_CONNECTORS = {
  /** Seed-era stream/sentinel on Graph: our app's records, `externalId` = OpenCTI internal id. */
  "stream-sentinel": { target: "graph", source: "" },
  /** stream/microsoft-sentinel-intel: STIX ids under its `sourcesystem`. */
  "microsoft-sentinel-intel": { target: "sentinel", source: "Opencti Stream Connector" },
  /** stream/microsoft-defender-intel: its `application`, `externalId` = OpenCTI internal id. */
  "microsoft-defender-intel": { target: "defender", source: "OpenCTI Microsoft Defender Intel" },
} as const;

/** The adoption the user asked for: which connector, and the source name its records carry. */
export interface AdoptSource {
  /** The upstream connector. */
  connector: keyof typeof ADOPTABLE_CONNECTORS;
  /** Sentinel `sourcesystem` / Defender `application` of its records (unused for Graph). */
  source: string;
}

/**
 * Reads `SENTINEL_ADOPT_SOURCE`: `<connector>` or `<connector>:<source name>` (the name its
 * records carry when it was not left at its default). Empty = no adoption.
 */
export function parseAdoptSource(
  text: string | undefined,
  target: string,
): AdoptSource | undefined {
  const value = text?.trim() ?? "";
  if (value === "") return undefined;
  const colon = value.indexOf(":");
  const name = (colon < 0 ? value : value.slice(0, colon)).trim().toLowerCase();
  const known = ADOPTABLE_CONNECTORS[name as keyof typeof ADOPTABLE_CONNECTORS];
  if (!known) {
    throw new AdoptSourceError(
      `SENTINEL_ADOPT_SOURCE "${value}" names no known connector: use one of ${
        Object.keys(ADOPTABLE_CONNECTORS).join(", ")
      } (optionally followed by ":<its source name>")`,
    );
  }
  if (known.target !== target) {
    throw new AdoptSourceError(
      `SENTINEL_ADOPT_SOURCE "${name}" wrote to the ${known.target} target, not to ${target}: ` +
        "set SENTINEL_TARGET accordingly or clear SENTINEL_ADOPT_SOURCE",
    );
  }
  const source = colon < 0 ? known.source : value.slice(colon + 1).trim();
  return { connector: name as AdoptSource["connector"], source: source || known.source };
}
