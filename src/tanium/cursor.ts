/**
 * The import cursor (reference `tanium.md` §4.4): the `alertedAt` of the newest alert examined
 * (`last_alert_date`, the upstream key) plus the ids of the alerts examined at exactly that
 * instant (`last_alert_ids`).
 *
 * Tanium's `alertedAtFrom` is inclusive and many alerts share one second, so each page is asked
 * from the cursor's instant with `offset` = the number of alerts already examined at that instant
 * (the list is sorted by `alertedAt`, then `id`), and those ids are skipped if they come back.
 * The offset only spans one instant, so pruning of older alerts cannot shift it.
 *
 * @module
 */
import { InvalidTimestampError, platformTimestamp } from "../stix/ids.ts";
import type { ConnectorState } from "../opencti/connector.ts";

/** Where the next page starts. */
export interface Cursor {
  /** `alertedAt` of the newest alert examined, platform form (`…T12:26:51.000Z`). */
  date: string;
  /** Ids of the alerts examined whose `alertedAt` is exactly `date`, ascending. */
  ids: number[];
}

/** State keys written by this connector. */
export const STATE_DATE_KEY = "last_alert_date";
/** State key of the ids examined at the cursor's instant. */
export const STATE_IDS_KEY = "last_alert_ids";

/**
 * Reads the cursor from the connector state (any ISO-8601 form of `last_alert_date`, e.g. the
 * upstream `2023-10-16T12:26:51+00:00`); undefined when absent or unreadable.
 */
export function cursorFromState(state: ConnectorState): Cursor | undefined {
  const raw = state[STATE_DATE_KEY];
  if (typeof raw !== "string" || raw.trim() === "") return undefined;
  let date: string;
  try {
    date = platformTimestamp(raw);
  } catch (error) {
    if (error instanceof InvalidTimestampError) return undefined;
    throw error;
  }
  const list = state[STATE_IDS_KEY];
  const ids = Array.isArray(list)
    ? list.filter((id): id is number => typeof id === "number" && Number.isInteger(id))
    : [];
  return { date, ids: [...new Set(ids)].sort((a, b) => a - b) };
}

/** The state keys of a cursor. */
export function cursorToState(cursor: Cursor): ConnectorState {
  return { [STATE_DATE_KEY]: cursor.date, [STATE_IDS_KEY]: [...cursor.ids] };
}

/** The first cursor of a run without state: the start date, nothing examined yet. */
export function startCursor(startDate: string): Cursor {
  return { date: platformTimestamp(startDate), ids: [] };
}

/** True when the cursor already covers this alert (older, or same instant and already examined). */
export function isExamined(cursor: Cursor, alert: { id: number; alertedAtMs: number }): boolean {
  const at = Date.parse(cursor.date);
  if (alert.alertedAtMs < at) return true;
  return alert.alertedAtMs === at && cursor.ids.includes(alert.id);
}

/** The cursor after examining an alert (never moves backwards). */
export function advance(
  cursor: Cursor,
  alert: { id: number; alertedAt: string; alertedAtMs: number },
): Cursor {
  const at = Date.parse(cursor.date);
  if (alert.alertedAtMs < at) return cursor;
  if (alert.alertedAtMs > at) return { date: alert.alertedAt, ids: [alert.id] };
  if (cursor.ids.includes(alert.id)) return cursor;
  return { date: cursor.date, ids: [...cursor.ids, alert.id].sort((a, b) => a - b) };
}

/** True when two cursors are the same position. */
export function sameCursor(a: Cursor, b: Cursor): boolean {
  return a.date === b.date && a.ids.length === b.ids.length &&
    a.ids.every((id, index) => b.ids[index] === id);
}
