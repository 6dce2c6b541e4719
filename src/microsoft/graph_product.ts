/**
 * What differs between Graph's two `targetProduct`s (reference microsoft.md §2.4), as one strategy
 * object each, so the planner and the target never branch on the product name:
 * - **Azure Sentinel**: most fields editable, bulk update and bulk delete, records listed with
 *   their `externalId`, removal by `deleteTiIndicatorsByExternalId`.
 * - **Microsoft Defender ATP**: only `description`, `expirationDateTime` and `severity` editable
 *   (an action change is a delete and a re-create), no bulk update or delete (one `PATCH` or
 *   `DELETE` per record), and records come back without `externalId` (lesson #3177), so a record
 *   is also matched by its observable value.
 *
 * @module
 */
import type { GraphTargetProduct, TiIndicator } from "./graph_mapping.ts";

/** How one `targetProduct` is written, updated and removed. */
export interface GraphProduct {
  /** The `targetProduct` value. */
  readonly name: GraphTargetProduct;
  /** Fields an update may change (compared to decide whether a record needs an update). */
  readonly editable: readonly string[];
  /** An `action` change cannot be made in place: delete the record and create it again. */
  readonly recreateOnActionChange: boolean;
  /** Records are listed without `externalId`: match them by observable value too. */
  readonly matchByValue: boolean;
  /** `updateTiIndicators` is supported (else one `PATCH` per record). */
  readonly bulkUpdate: boolean;
  /** `deleteTiIndicators*` are supported (else one `DELETE` per record). */
  readonly bulkDelete: boolean;
  /** The body that updates the record `id` to `record` (bulk item or `PATCH` body). */
  updateBody(record: TiIndicator, id: string): Record<string, unknown>;
}

/** Fields Azure Sentinel records may change in an update (reference §2.4). */
const SENTINEL_EDITABLE = [
  "action",
  "additionalInformation",
  "confidence",
  "description",
  "expirationDateTime",
  "externalId",
  "killChain",
  "lastReportedDateTime",
  "passiveOnly",
  "severity",
  "tags",
  "tlpLevel",
] as const;
/** Fields Defender ATP records may change. */
const DEFENDER_EDITABLE = ["description", "expirationDateTime", "severity"] as const;

/** `targetProduct: "Azure Sentinel"`. */
export const AZURE_SENTINEL: GraphProduct = {
  name: "Azure Sentinel",
  editable: SENTINEL_EDITABLE,
  recreateOnActionChange: false,
  matchByValue: false,
  bulkUpdate: true,
  bulkDelete: true,
  updateBody(record, id) {
    const body: Record<string, unknown> = { id, targetProduct: this.name };
    for (const field of SENTINEL_EDITABLE) {
      if (record[field] !== undefined) body[field] = record[field];
    }
    return body;
  },
};

/** `targetProduct: "Microsoft Defender ATP"`. */
export const DEFENDER_ATP: GraphProduct = {
  name: "Microsoft Defender ATP",
  editable: DEFENDER_EDITABLE,
  recreateOnActionChange: true,
  matchByValue: true,
  bulkUpdate: false,
  bulkDelete: false,
  updateBody(record) {
    const body: Record<string, unknown> = { targetProduct: this.name };
    for (const field of DEFENDER_EDITABLE) body[field] = record[field];
    return body;
  },
};

/** The strategy of a `targetProduct`. */
export function graphProduct(name: GraphTargetProduct): GraphProduct {
  return name === DEFENDER_ATP.name ? DEFENDER_ATP : AZURE_SENTINEL;
}
