/**
 * A generic import cursor for sources that can only be asked "everything updated since T" with no
 * guaranteed order (e.g. Graph `$filter=lastUpdateDateTime ge T`): a watermark, a look-back window
 * and a bounded set of the (item id, update time) pairs already imported.
 *
 * - Every run asks from `watermark - lookBack` (inclusive), so items indexed late, or updated
 *   during a previous run, are read again; the seen set makes the re-read a no-op.
 * - An item whose update time changed is a new pair, so it is imported again (updated, with its
 *   deterministic ids, never duplicated).
 * - Same-instant floods need no offset: pairs, not instants, are remembered.
 * - The watermark moves only when a run has read every page (`finish`); pages saved in between
 *   record the pairs (`mark`) so a crash in the middle of a run replays nothing already pushed.
 * - The set keeps the pairs inside the window; above `maxSeen`, the oldest are dropped (an item
 *   dropped that way can only be imported once more, never lost).
 *
 * @module
 */
import { InvalidTimestampError, platformTimestamp } from "../stix/ids.ts";

/** The cursor as saved in the connector state. */
export interface LookbackState {
  /** Start of the next read before the look-back (platform form). */
  watermark: string;
  /** Newest update time read in the current, unfinished run (platform form). */
  high?: string;
  /** `[id, updated]` pairs already imported, oldest first. */
  seen: Array<[string, string]>;
}

/** Options of {@linkcode LookbackCursor}. */
export interface LookbackOptions {
  /** How far before the watermark each run reads again, in ms. @default 3600000 */
  lookBackMs?: number;
  /** Most pairs remembered. @default 20000 */
  maxSeen?: number;
}

/** The state keys this cursor writes (under a prefix chosen by the connector). */
export const LOOKBACK_KEYS = { watermark: "watermark", high: "high", seen: "seen" } as const;

/** Reads a saved cursor (any ISO form); undefined when absent or unreadable. */
export function readLookbackState(raw: unknown): LookbackState | undefined {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return undefined;
  const record = raw as Record<string, unknown>;
  const watermark = timestamp(record.watermark);
  if (watermark === undefined) return undefined;
  const high = timestamp(record.high);
  const seen: Array<[string, string]> = [];
  if (Array.isArray(record.seen)) {
    for (const entry of record.seen) {
      if (!Array.isArray(entry) || entry.length !== 2) continue;
      const [id, at] = entry;
      const updated = timestamp(at);
      if (typeof id === "string" && updated !== undefined) seen.push([id, updated]);
    }
  }
  return { watermark, ...(high !== undefined ? { high } : {}), seen };
}

function timestamp(value: unknown): string | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  try {
    return platformTimestamp(value);
  } catch (error) {
    if (error instanceof InvalidTimestampError) return undefined;
    throw error;
  }
}

/** The cursor of one import connector. */
export class LookbackCursor {
  readonly #lookBackMs: number;
  readonly #maxSeen: number;
  #watermark: string;
  #high: string | undefined;
  readonly #seen = new Map<string, string>();

  /** Starts from a saved state, or from `start` (platform form) when there is none. */
  constructor(state: LookbackState | undefined, start: string, options: LookbackOptions = {}) {
    this.#lookBackMs = options.lookBackMs ?? 3_600_000;
    this.#maxSeen = options.maxSeen ?? 20_000;
    if (!(this.#lookBackMs >= 0)) throw new RangeError("The look-back must be 0 ms or more");
    if (!(this.#maxSeen >= 1)) throw new RangeError("The seen set must hold at least 1 entry");
    this.#watermark = state?.watermark ?? platformTimestamp(start);
    this.#high = state?.high;
    for (const [id, updated] of state?.seen ?? []) this.#seen.set(pairKey(id, updated), updated);
    this.#prune();
  }

  /** Where the next read starts: the watermark minus the look-back (platform form). */
  since(): string {
    return new Date(Math.max(0, Date.parse(this.#watermark) - this.#lookBackMs)).toISOString();
  }

  /** True when this update of this item was already imported. */
  isSeen(id: string, updated: string): boolean {
    return this.#seen.has(pairKey(id, platformTimestamp(updated)));
  }

  /** Records an imported (or skipped for good) update of an item. */
  mark(id: string, updated: string): void {
    const at = platformTimestamp(updated);
    const key = pairKey(id, at);
    this.#seen.delete(key);
    this.#seen.set(key, at);
    if (this.#high === undefined || at > this.#high) this.#high = at;
    this.#prune();
  }

  /** Ends a run that read every page: the watermark moves to the newest update read. */
  finish(): void {
    if (this.#high !== undefined && this.#high > this.#watermark) this.#watermark = this.#high;
    this.#high = undefined;
    this.#prune();
  }

  /** The state to save. */
  toState(): LookbackState {
    return {
      watermark: this.#watermark,
      ...(this.#high !== undefined ? { high: this.#high } : {}),
      seen: [...this.#seen.entries()].map(([key, updated]) => [idOf(key), updated]),
    };
  }

  /** Number of pairs remembered. */
  get size(): number {
    return this.#seen.size;
  }

  #prune(): void {
    const floor = this.since();
    for (const [key, updated] of this.#seen) if (updated < floor) this.#seen.delete(key);
    if (this.#seen.size <= this.#maxSeen) return;
    const oldest = [...this.#seen.entries()].sort((a, b) => a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
    for (const [key] of oldest.slice(0, this.#seen.size - this.#maxSeen)) this.#seen.delete(key);
  }
}

/** Two cursor states are the same position. */
export function sameLookbackState(a: LookbackState, b: LookbackState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function pairKey(id: string, updated: string): string {
  return `${updated}\u0000${id}`;
}

function idOf(key: string): string {
  return key.slice(key.indexOf("\u0000") + 1);
}
