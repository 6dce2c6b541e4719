/**
 * The live changes the demo makes in OpenCTI while the sentinel connector follows the stream:
 * a few new indicators, an update, a revoke and a delete, sent through the OpenCTI simulator's
 * control API (`/_sim/`) exactly as a user could with curl.
 *
 * @module
 */
import type { Fetch } from "../runtime/http.ts";
import { generateIndicators } from "../sim/opencti_seed.ts";
import type { StixObject } from "../stix/types.ts";

/** The request to the control API failed; the message names the call. */
export class DemoChangeError extends Error {
  /** The error's name. */
  override name = "DemoChangeError";
}

/** Options of {@linkcode applyLiveChanges}. */
export interface LiveChangeOptions {
  /** Indicators to create. @default 3 */
  creates?: number;
  /** Reference time of the created indicators. @default Date.now() */
  time?: number;
  /** The fetch used for the control API. @default globalThis.fetch */
  fetch?: Fetch;
}

/** One change made, for the demo's output. */
export interface LiveChange {
  /** `create`, `update`, `revoke` or `delete`. */
  kind: "create" | "update" | "revoke" | "delete";
  /** The indicator's STIX id. */
  id: string;
  /** The indicator's name. */
  name: string;
}

/**
 * Creates indicators, then updates, revokes and deletes three of `synced` (indicators the target
 * already holds), through `<opencti>/_sim/`; resolves to the changes made.
 */
export async function applyLiveChanges(
  openctiUrl: string,
  synced: readonly StixObject[],
  options: LiveChangeOptions = {},
): Promise<LiveChange[]> {
  const fetch = options.fetch ?? globalThis.fetch;
  const base = `${openctiUrl.replace(/\/+$/, "")}/_sim`;
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new DemoChangeError(
        `${method} /_sim${path} answered ${response.status}: ${text.slice(0, 200)}`,
      );
    }
  };
  const changes: LiveChange[] = [];
  const count = options.creates ?? 3;
  const generated = await generateIndicators(count * 4, 20_240_610, {
    time: options.time ?? Date.now(),
  });
  const created = generated
    .filter((o) => o.pattern_type === "stix" && o.revoked !== true && isCurrent(o, options.time))
    .slice(0, count);
  if (created.length > 0) {
    await call("POST", "/indicators", { objects: created });
    for (const o of created) changes.push({ kind: "create", id: o.id, name: nameOf(o) });
  }
  const [updated, revoked, deleted] = synced;
  if (updated) {
    await call("PATCH", `/indicators/${encodeURIComponent(updated.id)}`, {
      x_opencti_score: 90,
      description: `${String(updated.description ?? "")} (updated by the demo)`.trim(),
    });
    changes.push({ kind: "update", id: updated.id, name: nameOf(updated) });
  }
  if (revoked) {
    await call("PATCH", `/indicators/${encodeURIComponent(revoked.id)}`, { revoked: true });
    changes.push({ kind: "revoke", id: revoked.id, name: nameOf(revoked) });
  }
  if (deleted) {
    await call("DELETE", `/indicators/${encodeURIComponent(deleted.id)}`);
    changes.push({ kind: "delete", id: deleted.id, name: nameOf(deleted) });
  }
  return changes;
}

function nameOf(object: StixObject): string {
  return typeof object.name === "string" ? object.name : object.id;
}

function isCurrent(object: StixObject, time = Date.now()): boolean {
  const until = typeof object.valid_until === "string" ? Date.parse(object.valid_until) : NaN;
  return Number.isNaN(until) || until > time;
}
