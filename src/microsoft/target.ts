/** The contract between the sentinel connector and each Microsoft target client. */
import type { ItemResult } from "../runtime/delivery.ts";
import type { Observable, StixObject, Tlp } from "../stix/types.ts";
import type { UpstreamDefenderAction } from "./target_config.ts";

/** Target names, as in `SENTINEL_TARGET`. */
export type TargetName = "graph" | "sentinel" | "defender";

/** One OpenCTI indicator, parsed once, ready for any target to map. */
export interface TargetIndicator {
  /** STIX id (`indicator--…`): the correlation key on every target (externalId / STIX id / externalID). */
  id: string;
  /** OpenCTI internal id from the extension, when known. */
  openctiId?: string;
  /** The STIX object as received from the stream (extensions included). */
  stix: StixObject;
  /** The observables this indicator stands for (one record per observable for Graph and Defender). */
  observables: Observable[];
  /** Indicator name. */
  name: string;
  /** Description (may be long; targets cut it). */
  description?: string;
  /** OpenCTI score 0-100. */
  score?: number;
  /** STIX confidence 0-100. */
  confidence?: number;
  /** Label values. */
  labels: string[];
  /** Most restrictive TLP among the object's markings. */
  tlp?: Tlp;
  /** `valid_from`, ISO. */
  validFrom?: string;
  /** `valid_until`, ISO. */
  validUntil?: string;
  /** `created`, ISO. */
  created?: string;
  /** `modified`, ISO. */
  modified?: string;
  /** OpenCTI `updated_at` (extension), ISO. */
  updatedAt?: string;
  /** Kill chain phase names. */
  killChainPhases: string[];
  /** `x_opencti_detection`. */
  detection?: boolean;
  /** Overrides of the target options for this indicator (a TAXII collection's policy). @default none */
  policy?: IndicatorPolicy;
}

/**
 * What one indicator gets instead of the global Defender options: the policy of the TAXII
 * collection it came from (the upstream synchronizer's per-collection `action`, `expire_time`,
 * `recommended_actions`, `educate_url`, `rbac_group_names`).
 */
export interface IndicatorPolicy {
  /** Action, in Defender's (upstream) spelling. */
  action?: UpstreamDefenderAction;
  /** Days to expiry without `valid_until`. */
  expireTimeDays?: number;
  /** `recommendedActions` text. */
  recommendedActions?: string;
  /** `educateUrl` of URL indicators with Block or Warn. */
  educateUrl?: string;
  /** Device group names. */
  rbacGroupNames?: string[];
}

/** What a target needs to remove everything it holds for one indicator. */
export interface TargetRemoval {
  /** STIX id of the indicator. */
  id: string;
  /** Observables last sent for it, when known (lets targets fall back to a value lookup). */
  observables?: Observable[];
}

/** What a target holds for one indicator, as listed for a reconcile (issue 17). */
export interface OwnedRecord {
  /** The correlation key: the indicator's STIX id (Graph `externalId`, Defender `externalID`, Sentinel `id`). */
  id: string;
  /** Fingerprint of the records held for it (see `src/microsoft/fingerprint.ts`). */
  fingerprint: string;
  /** How many target records carry this key. */
  records: number;
  /**
   * The highest OpenCTI score the held records allow (Defender: from their `severity`), when the
   * target can tell; what the Defender cap ranks a held indicator by after a restart.
   */
  scoreAtMost?: number;
}

/**
 * What a target lists for a reconcile, by indicator id: a compact table
 * (`OwnedTable` in `src/microsoft/key_table.ts`), so 1,000,000 indicators fit in tens of MB.
 */
export interface OwnedRecords extends Iterable<OwnedRecord> {
  /** Number of indicators held. */
  readonly size: number;
  /** What is held for one indicator. */
  get(id: string): OwnedRecord | undefined;
}

/** A record another (upstream) connector left on the target, found for adoption (issue 17). */
export interface AdoptableRecord {
  /** The key that connector used: a STIX id or an OpenCTI internal id. */
  key: string;
  /** What {@linkcode SyncTarget.removeRecords} needs to delete this record. */
  handle: string;
}

/** A Microsoft threat-intelligence store. Implementations pace themselves and retry 429/5xx/401 internally. */
export interface SyncTarget {
  /** Which target this is. */
  readonly name: TargetName;
  /** Largest number of indicators per `upsert` call the connector should hand over. */
  readonly maxBatch: number;
  /**
   * Largest number of removals per `remove` call a reconcile hands over for its orphans (they
   * come without observables; Defender above its index limit finds them by one scan per call).
   * @default maxBatch
   */
  readonly maxRemoveBatch?: number;
  /**
   * Most indicators per delivery call, for a target that splits a call into requests itself
   * (Graph: 100 records a request, an indicator taking one or more): a call may then hold all the
   * stream pump read ahead, which leaves one partly filled request per flush instead of one per
   * batch (issue 14). @default the batch size
   */
  readonly maxCall?: number;
  /** Creates or updates the indicators; resolves with one result per input id. */
  upsert(items: TargetIndicator[], signal?: AbortSignal): Promise<ItemResult[]>;
  /** Removes everything held for these indicators; removing an absent one is a success. */
  remove(items: TargetRemoval[], signal?: AbortSignal): Promise<ItemResult[]>;
  /** Extra status for `/status` (e.g. Defender's tenant cap reached). */
  status?(): Record<string, unknown>;
  /**
   * Why the target cannot take this observable (e.g. Defender: e-mail addresses, MD5 on
   * creation), or undefined when it can. The connector leaves such observables out of upserts and
   * counts them as skipped (`unsupported_by_target`) instead of failing the indicator.
   */
  unsupported?(observable: Observable): string | undefined;
  /** Why the target cannot take this item at all (e.g. Sentinel: raw observables), or undefined. */
  rejects?(item: TargetIndicator): string | undefined;
  /**
   * True when a revoked indicator is re-sent with `revoked: true` (Sentinel, reference §3.2)
   * instead of being removed (Graph, Defender).
   */
  readonly revokeByUpload?: boolean;
  /**
   * Everything the target holds that this connector owns, grouped by indicator (all pages). Records
   * the connector does not own are never listed. Throws when the listing fails (a reconcile then
   * stops without acting).
   */
  listOwned?(signal?: AbortSignal): Promise<readonly OwnedRecord[] | OwnedRecords>;
  /**
   * The fingerprint of what `upsert` would leave on the target for this indicator (the same
   * projection as {@linkcode OwnedRecord.fingerprint}), or undefined when nothing would be held.
   */
  fingerprint?(item: TargetIndicator): string | undefined;
  /**
   * The records an upstream connector left, named by its `source` (Sentinel `sourcesystem`,
   * Defender `application`; Graph: ignored, our app's records keyed by an OpenCTI internal id).
   */
  listAdoptable?(source: string, signal?: AbortSignal): Promise<AdoptableRecord[]>;
  /** Deletes records found by `listAdoptable`; one result per handle (absent = success). */
  removeRecords?(handles: string[], signal?: AbortSignal): Promise<ItemResult[]>;
  /**
   * Most indicators the target keeps, the highest-scored (`DEFENDER_MAX_INDICATORS`); a
   * reconcile's desired set keeps as many. @default no limit
   */
  readonly capacity?: number;
}
