/**
 * The delivery vocabulary every stream connector and target shares (issue 11): the outcome of one
 * item of a batch and the scope of a failure, which decides between a dead letter, a split and a
 * held cursor.
 *
 * @module
 */

/**
 * Why a delivery failed, which decides what the connector does (issue 11):
 * - `item`: proven on this item alone (a per-item error in a 200/206 answer, or a 4xx on a request
 *   that carried only this item) → a dead letter;
 * - `request`: a 4xx on a request that carried several items or a composite lookup → never a
 *   verdict on any item: the connector splits the batch until the bad item is isolated;
 * - `systemic`: auth after a token refresh, token errors, 408/429/5xx, timeouts, network →
 *   never counts against an item: the connector holds the cursor and retries without a cap;
 * - `unsupported`: by design the target cannot take it (nothing sendable) → counted as skipped.
 */
export type FailureScope = "item" | "request" | "systemic" | "unsupported";

/** The outcome for one indicator of a batch. */
export type ItemResult =
  | { id: string; ok: true }
  | {
    id: string;
    ok: false;
    reason: string;
    /** True unless the scope is `item` or `unsupported` (kept for callers that only need a yes/no). */
    retryable: boolean;
    /** The failure scope. @default `systemic` when retryable, else `item` */
    scope?: FailureScope;
    /** The setting or permission to check (systemic failures). @default none */
    check?: string;
  };

/** The scope of a failed result, read from `scope` or, when a target gives none, from `retryable`. */
export function scopeOf(result: ItemResult): FailureScope | undefined {
  if (result.ok) return undefined;
  return result.scope ?? (result.retryable ? "systemic" : "item");
}

/** A failed result with its scope (`retryable` follows from it). */
export function failed(
  id: string,
  reason: string,
  scope: FailureScope,
  check?: string,
): ItemResult {
  const result: ItemResult = {
    id,
    ok: false,
    reason,
    retryable: scope === "request" || scope === "systemic",
    scope,
  };
  if (check !== undefined) result.check = check;
  return result;
}

/** The result for an indicator a target or sink produced none for: not proven on the item, so systemic. */
export function missingResult(id: string): ItemResult {
  return failed(id, "No result for this indicator", "systemic");
}
