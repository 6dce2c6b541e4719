/**
 * The alerts already examined inside the look-back window (`TANIUM_INCIDENTS_LOOKBACK`), kept in
 * the connector state beside the cursor so that a late alert (an `alertedAt` older than the
 * cursor when it first appears) is imported once and an alert re-read by the look-back is not.
 *
 * State form, key `seen_alert_ids`: one entry per hour of `alertedAt` (UTC, `YYYY-MM-DDTHH`),
 * whose value is the sorted alert ids of that hour as comma-separated runs. A run is
 * `<delta>` or `<delta>+<extra>`: it starts `delta` after the end of the previous run (the first
 * run's delta is the id itself) and covers `extra` more consecutive ids. Tanium numbers alerts
 * as it stores them, so one hour of alerts is usually one or a few runs:
 * `{"2026-12-03T10": "104211+416,3,1+20"}`. Hours that end before the window are pruned.
 *
 * @module
 */
import type { ConnectorState } from "../opencti/connector.ts";

/** State key of the examined alert ids inside the look-back window. */
export const STATE_SEEN_KEY = "seen_alert_ids";

const HOUR_MS = 3_600_000;
const HOUR_KEY = /^(\d{4}-\d{2}-\d{2}T\d{2})$/;

/** Encodes ascending unique integers as runs (see the module documentation). */
export function encodeIds(sorted: readonly number[]): string {
  const tokens: string[] = [];
  let previous = 0;
  let index = 0;
  while (index < sorted.length) {
    const start = sorted[index]!;
    let end = start;
    while (index + 1 < sorted.length && sorted[index + 1] === end + 1) {
      end += 1;
      index += 1;
    }
    index += 1;
    const delta = start - previous;
    tokens.push(end > start ? `${delta}+${end - start}` : String(delta));
    previous = end;
  }
  return tokens.join(",");
}

/** Decodes {@linkcode encodeIds}; undefined when the text is not in that form. */
export function decodeIds(text: string): number[] | undefined {
  if (text === "") return [];
  const out: number[] = [];
  let previous = 0;
  for (const token of text.split(",")) {
    const match = /^(-?\d+)(?:\+(\d+))?$/.exec(token);
    if (!match) return undefined;
    const start = previous + Number(match[1]);
    const extra = Number(match[2] ?? 0);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(start + extra)) return undefined;
    if (out.length > 0 && start <= previous) return undefined;
    for (let id = start; id <= start + extra; id++) out.push(id);
    previous = start + extra;
  }
  return out;
}

function hourKey(hour: number): string {
  return new Date(hour * HOUR_MS).toISOString().slice(0, 13);
}

/** The set of examined alert ids, bucketed by the hour of their `alertedAt`. */
export class SeenAlerts {
  readonly #hours = new Map<number, Set<number>>();

  /**
   * Reads the set from a connector state; undefined when the state has none or an unreadable one
   * (a state written before the look-back existed: see `TaniumIncidentsConnector`).
   */
  static fromState(state: ConnectorState): SeenAlerts | undefined {
    const raw = state[STATE_SEEN_KEY];
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
    const seen = new SeenAlerts();
    for (const [key, value] of Object.entries(raw)) {
      if (!HOUR_KEY.test(key) || typeof value !== "string") return undefined;
      const ms = Date.parse(`${key}:00:00.000Z`);
      const ids = decodeIds(value);
      if (Number.isNaN(ms) || ids === undefined) return undefined;
      seen.#hours.set(ms / HOUR_MS, new Set(ids));
    }
    return seen;
  }

  /** True when this alert was examined. */
  has(alert: { id: number; alertedAtMs: number }): boolean {
    return this.#hours.get(Math.floor(alert.alertedAtMs / HOUR_MS))?.has(alert.id) ?? false;
  }

  /** Records an examined alert. */
  add(alert: { id: number; alertedAtMs: number }): void {
    const hour = Math.floor(alert.alertedAtMs / HOUR_MS);
    let ids = this.#hours.get(hour);
    if (!ids) {
      ids = new Set();
      this.#hours.set(hour, ids);
    }
    ids.add(alert.id);
  }

  /** Forgets the hours that end at or before `fromMs` (the start of the look-back window). */
  prune(fromMs: number): void {
    for (const hour of this.#hours.keys()) {
      if ((hour + 1) * HOUR_MS <= fromMs) this.#hours.delete(hour);
    }
  }

  /** Number of ids held. */
  get size(): number {
    let size = 0;
    for (const ids of this.#hours.values()) size += ids.size;
    return size;
  }

  /** The state value (hours ascending). */
  toState(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const hour of [...this.#hours.keys()].sort((a, b) => a - b)) {
      const ids = [...this.#hours.get(hour)!].sort((a, b) => a - b);
      out[hourKey(hour)] = encodeIds(ids);
    }
    return out;
  }
}
