/**
 * The Reputation service side of the Tanium simulator: the custom (blocklist/allowlist) hash
 * list that upstream `OpenCTI-Platform/connectors` `stream/tanium-intel` writes
 * (`src/tanium_intel_connector/api_handler.py` `create_reputation`; the older `stream/tanium`
 * `tanium.py` also deleted by hash and searched). Facts used:
 * - `POST /plugin/products/reputation/v3/reputations/custom/upload?append=true`, a JSON array of
 *   `{list: "blacklist"|"whitelist", md5, sha1, sha256, uploadedHash, notes}` (hash keys `""`
 *   when absent); `append=false` replaces the list (the console's "Replace Current Hashes" vs
 *   "Append" import, docs.tanium.com Reputation "Managing whitelist or blacklist data");
 * - `POST …/reputations/custom/delete`, a JSON array of hashes;
 * - `GET …/reputations/custom?search=<hash>` → `{data: [...]}`.
 * Strict: the `session` header as the Threat Response API checks it; a token whose persona lacks
 * the Reputation permission gets 403; a body that is not a JSON array of well-formed entries (a
 * hash of the wrong length or not hexadecimal, an `uploadedHash` that is none of the entry's
 * hashes, a list other than blacklist/whitelist) is refused with 400, a non-JSON body with 415.
 * What the real service answers on success is not published: `{data: …}` here. Does not import
 * the production code it checks.
 */
import type { Context, Hono } from "hono";
import type { SimBindings, TaniumSimControl } from "./tanium.ts";

/** Path prefix of the Reputation service API. */
export const REPUTATION_PREFIX = "/plugin/products/reputation/v3";

/** One entry of the custom list. */
export interface SimReputation {
  /** `blacklist` or `whitelist`. */
  list: string;
  /** MD5 or `""`. */
  md5: string;
  /** SHA-1 or `""`. */
  sha1: string;
  /** SHA-256 or `""`. */
  sha256: string;
  /** The hash the entry was uploaded by. */
  uploadedHash: string;
  /** Free text. */
  notes: string;
}

const LENGTHS = { md5: 32, sha1: 40, sha256: 64 } as const;
const HEX = /^[0-9a-fA-F]+$/;

function bad(c: Context, text: string, status: 400 | 403 | 415 = 400): Response {
  return c.json({ text }, status);
}

/** Reads the JSON array body; a string is the refusal (status 415 for "Unsupported…"). */
async function readArray(c: Context): Promise<unknown[] | string> {
  const contentType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (contentType !== "application/json") return `Unsupported content type ${contentType}`;
  let json: unknown;
  try {
    json = JSON.parse(await c.req.text());
  } catch {
    return "The body is not JSON";
  }
  if (!Array.isArray(json)) return "The body must be a JSON array";
  if (json.length === 0) return "The body must hold at least one entry";
  return json;
}

function checkEntry(value: unknown, index: number): SimReputation | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return `Entry ${index} is not an object`;
  }
  const o = value as Record<string, unknown>;
  if (o.list !== "blacklist" && o.list !== "whitelist") {
    return `Entry ${index}: list must be blacklist or whitelist`;
  }
  const hashes: Record<keyof typeof LENGTHS, string> = { md5: "", sha1: "", sha256: "" };
  for (const key of Object.keys(LENGTHS) as (keyof typeof LENGTHS)[]) {
    const h = o[key] ?? "";
    if (typeof h !== "string") return `Entry ${index}: ${key} must be a string`;
    if (h !== "" && (h.length !== LENGTHS[key] || !HEX.test(h))) {
      return `Entry ${index}: ${key} is not an ${key.toUpperCase()} hash`;
    }
    hashes[key] = h.toLowerCase();
  }
  const uploaded = typeof o.uploadedHash === "string" ? o.uploadedHash.toLowerCase() : "";
  if (uploaded === "" || !Object.values(hashes).includes(uploaded)) {
    return `Entry ${index}: uploadedHash must be one of the entry's hashes`;
  }
  if (o.notes !== undefined && typeof o.notes !== "string") {
    return `Entry ${index}: notes must be a string`;
  }
  return { list: o.list, ...hashes, uploadedHash: uploaded, notes: o.notes ?? "" };
}

/** Adds the Reputation routes under `prefix`, with their own session check. */
export function reputationRoutes(
  app: Hono<{ Bindings: SimBindings }>,
  control: TaniumSimControl,
  prefix: string,
): void {
  app.use(`${prefix}/*`, async (c, next) => {
    const token = c.req.header("session");
    const url = new URL(c.req.url);
    const record = (status: number) =>
      control.requests.push({ path: url.pathname, query: url.search.slice(1), status });
    const ip = c.env?.remoteAddr;
    if (token === undefined || token === "" || !control.tokens.has(token)) {
      if (token && control.expiredTokens.has(token)) {
        record(403);
        return bad(c, "Forbidden: the session has expired", 403);
      }
      record(401);
      return c.json({ text: "Unauthorized: invalid token" }, 401);
    }
    if (control.expiredTokens.has(token)) {
      record(403);
      return bad(c, "Forbidden: the session has expired", 403);
    }
    if (control.trustedIps && (ip === undefined || !control.trustedIps.has(ip))) {
      record(401);
      return c.json({ text: "Unauthorized: client IP is not in the token's trusted list" }, 401);
    }
    if (control.noReputationTokens.has(token)) {
      record(403);
      return bad(c, "Forbidden: the persona lacks the Reputation permission", 403);
    }
    await next();
    record(c.res.status);
  });

  app.post(`${prefix}/reputations/custom/upload`, async (c) => {
    const append = c.req.query("append") ?? "false";
    if (append !== "true" && append !== "false") return bad(c, "append must be true or false");
    const body = await readArray(c);
    if (typeof body === "string") return bad(c, body, body.startsWith("Unsupported") ? 415 : 400);
    const entries: SimReputation[] = [];
    for (const [index, value] of body.entries()) {
      const entry = checkEntry(value, index);
      if (typeof entry === "string") return bad(c, entry);
      entries.push(entry);
    }
    if (append === "false") control.reputations.clear();
    for (const entry of entries) control.reputations.set(entry.uploadedHash, entry);
    control.reputationActivity.uploads.push(entries.length);
    return c.json({ data: { uploaded: entries.length } });
  });

  app.post(`${prefix}/reputations/custom/delete`, async (c) => {
    const body = await readArray(c);
    if (typeof body === "string") return bad(c, body, body.startsWith("Unsupported") ? 415 : 400);
    const wanted = new Set<string>();
    for (const [index, value] of body.entries()) {
      if (typeof value !== "string" || !HEX.test(value) || ![32, 40, 64].includes(value.length)) {
        return bad(c, `Entry ${index} is not an MD5, SHA-1 or SHA-256 hash`);
      }
      wanted.add(value.toLowerCase());
    }
    let deleted = 0;
    for (const [key, entry] of [...control.reputations]) {
      if ([entry.md5, entry.sha1, entry.sha256, entry.uploadedHash].some((h) => wanted.has(h))) {
        control.reputations.delete(key);
        deleted++;
      }
    }
    control.reputationActivity.deletes.push(body.length);
    return c.json({ data: { deleted } });
  });

  app.get(`${prefix}/reputations/custom`, (c) => {
    const search = (c.req.query("search") ?? "").toLowerCase();
    const data = [...control.reputations.values()].filter((entry) =>
      search === "" ||
      [entry.md5, entry.sha1, entry.sha256].some((h) => h !== "" && h.includes(search))
    );
    return c.json({ data });
  });
}
