/**
 * OpenCTI platform versions: parsing every published form and the features a version has.
 *
 * Forms seen in `about { version }`: `5.12.33`, `6.8.10`, `6.3.0-rc1` (pre-releases), and the 7.x
 * date-based form `7.261026.0` (major 7, the release date `YYMMDD` as minor). Features are gated on
 * the numeric part only: a pre-release of 6.3.0 already carries 6.3.0's schema.
 */

/** A parsed platform version. */
export interface PlatformVersion {
  /** Major version (5, 6, 7, …). */
  major: number;
  /** Minor version (a `YYMMDD` date on 7.x). */
  minor: number;
  /** Patch version (0 when absent). */
  patch: number;
  /** Pre-release tag without the dash (`rc1`), or undefined for a release. */
  prerelease: string | undefined;
}

const VERSION =
  /^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-.]?((?:rc|alpha|beta|pre)[0-9.]*))?(?:[+-].*)?\s*$/i;

/** Parses a platform version; undefined when the text is not a version. */
export function parsePlatformVersion(text: string): PlatformVersion | undefined {
  const match = VERSION.exec(text);
  if (!match) return undefined;
  return {
    major: Number(match[1]),
    minor: Number(match[2]),
    patch: Number(match[3] ?? "0"),
    prerelease: match[4]?.toLowerCase(),
  };
}

/**
 * Compares two versions: negative, zero or positive. Numbers first; at equal numbers a pre-release
 * sorts before its release. Unreadable versions count as 0.0.0.
 */
export function comparePlatformVersions(a: string, b: string): number {
  const left = parsePlatformVersion(a);
  const right = parsePlatformVersion(b);
  const numeric = compareNumbers(a, b);
  if (numeric !== 0) return numeric;
  const lp = left?.prerelease;
  const rp = right?.prerelease;
  if (lp === rp) return 0;
  if (lp === undefined) return 1;
  if (rp === undefined) return -1;
  return lp.localeCompare(rp, "en", { numeric: true });
}

/** True when `version` has everything `minimum` introduced (numbers only; pre-releases count as their release). */
export function atLeast(version: string, minimum: string): boolean {
  return compareNumbers(version, minimum) >= 0;
}

function compareNumbers(a: string, b: string): number {
  const left = parsePlatformVersion(a) ?? { major: 0, minor: 0, patch: 0 };
  const right = parsePlatformVersion(b) ?? { major: 0, minor: 0, patch: 0 };
  return left.major - right.major || left.minor - right.minor || left.patch - right.patch;
}

/** Platform versions from which the parts of the API this program uses exist. */
export const FEATURES = {
  /** `RegisterConnectorInput.playbook_compatible` (playbooks arrived in 5.12). */
  playbookCompatible: "5.12.0",
  /**
   * `RegisterConnectorInput.listen_callback_uri`: sent from 6.3 only (its first version is not
   * verified; below, the field is omitted, which the platform reads as null).
   */
  listenCallbackUri: "6.3.0",
  /** `FilterGroup` filters (`{mode, filters, filterGroups}`) in list queries. */
  filterGroups: "5.12.0",
  /** `pingConnector(connectorInfo:)`. */
  connectorInfo: "6.2.12",
  /** `stixBundlePush` (bundles over HTTP, no RabbitMQ). */
  stixBundlePush: "6.3.0",
  /** `stixBundlePush(work_id:)`. */
  workId: "6.5.7",
  /** `RegisterConnectorInput.auto_update` and `enrichment_resolution`. */
  autoUpdate: "6.8.9",
} as const;

/** A feature of {@linkcode FEATURES}. */
export type Feature = keyof typeof FEATURES;

/** Oldest platform each connector runs against (what the seeds name; the tests cover these). */
export const CONNECTOR_MINIMUM = {
  /** The stream connector. */
  sentinel: "5.10.3",
  /** The import connector (AMQP below 6.3). */
  "tanium-incidents": "5.0.0",
  /** The incidents import connector: its indicator lookups need the FilterGroup lists of 5.12. */
  "microsoft-incidents": "5.12.0",
  /**
   * The intel stream connector: the same live stream, `stixCoreObjectRaw` reads and reference
   * write-back as sentinel, nothing newer.
   */
  "tanium-intel": "5.10.3",
} as const;

/** How bundles reach the platform. */
export type PushProtocol = "api" | "amqp";

/** `CONNECTOR_QUEUE_PROTOCOL`: `api`, `amqp`, or `auto` (api when the platform has `stixBundlePush`). */
export type QueueProtocolSetting = PushProtocol | "auto";

/** The transport used on `version` for the setting, or a reason it cannot work. */
export function pushProtocolFor(
  version: string,
  setting: QueueProtocolSetting,
): { protocol: PushProtocol } | { refused: string } {
  const hasApi = atLeast(version, FEATURES.stixBundlePush);
  if (setting === "amqp") return { protocol: "amqp" };
  if (setting === "api") {
    return hasApi ? { protocol: "api" } : {
      refused:
        `OpenCTI ${version} has no stixBundlePush (it arrived in ${FEATURES.stixBundlePush}): ` +
        `unset CONNECTOR_QUEUE_PROTOCOL (or set it to amqp) to push through the platform's RabbitMQ, ` +
        `or upgrade the platform`,
    };
  }
  return { protocol: hasApi ? "api" : "amqp" };
}
