/**
 * The TAXII 2.1 side of the OpenCTI simulator: the read routes OpenCTI serves under `/taxii2/`
 * (`opencti-graphql/src/http/httpTaxii.js` and `src/domain/taxii.js` in OpenCTI-Platform/opencti):
 *
 * - `GET /taxii2/root/collections` → `{collections: [{id, title, description, can_read,
 *   can_write, media_types}]}`;
 * - `GET /taxii2/root/collections/:id` → one of those;
 * - `GET /taxii2/root/collections/:id/objects/` → `{more, next, objects}`: the collection's current
 *   objects (full STIX with OpenCTI's extensions), oldest `updated_at` first, at most `limit` per page
 *   (default and most 500, `app:data_sharing:taxii:max_pagination_result`), the next page with
 *   `?next=<next>`; `more` is false on the last page, whose `next` is the last object's cursor (or
 *   "" when the page is empty).
 *
 * Strict as the platform: every route needs a user (401 `AUTH_REQUIRED` with
 * `WWW-Authenticate: Basic, Bearer`), an unknown collection is 403 `FORBIDDEN_ACCESS` (OpenCTI
 * answers so for a collection the user cannot see too), `match[spec_version]` other than 2.1 and
 * `match[version]` other than `last` are 400 `FUNCTIONAL_ERROR`. Answers are
 * `application/taxii+json;version=2.1`. A `limit` that is not a positive integer and a `next`
 * this simulator never gave are refused with 400 (the platform fails them in its search engine;
 * the exact answer is not documented).
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { StixObject } from "../stix/types.ts";
import { type OpenCtiStore, updatedAtMs } from "./opencti_store.ts";
import { matches, SIM_TOKEN, type StreamFilter } from "./opencti_stream.ts";

/** Media type of every TAXII answer. */
export const TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1";

/** Largest page (`app:data_sharing:taxii:max_pagination_result`, OpenCTI's default). */
export const TAXII_MAX_PAGE = 500;

/** A TAXII collection of the simulated platform. */
export interface TaxiiCollectionDefinition {
  /** Title. @default the id */
  name?: string;
  /** The collection's filters. @default everything */
  filter?: StreamFilter;
}

/** Options of {@linkcode taxiiRoutes}. */
export interface TaxiiRoutesOptions {
  /** Accepted API tokens. @default [SIM_TOKEN] */
  tokens?: readonly string[];
  /** Collections by id. @default none */
  collections?: Readonly<Record<string, TaxiiCollectionDefinition>>;
  /** Largest page. @default 500 */
  maxPage?: number;
}

/** The `/taxii2/` routes over the simulator's store. */
export function taxiiRoutes(store: OpenCtiStore, options: TaxiiRoutesOptions = {}): Hono {
  const tokens = new Set(options.tokens ?? [SIM_TOKEN]);
  const collections = options.collections ?? {};
  const maxPage = options.maxPage ?? TAXII_MAX_PAGE;
  const app = new Hono();
  const describe = (id: string, c: TaxiiCollectionDefinition) => ({
    id,
    title: c.name ?? id,
    description: null,
    can_read: true,
    can_write: false,
    media_types: ["application/stix+json;version=2.1"],
  });
  const authorised = (c: Context): Response | undefined => {
    const auth = c.req.header("authorization") ?? "";
    const token = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
    if (token !== undefined && tokens.has(token)) return undefined;
    return failure(401, "AUTH_REQUIRED", "You must be logged in to do this.", {
      "WWW-Authenticate": "Basic, Bearer",
    });
  };
  app.get("/taxii2/root/collections", (c) => {
    const denied = authorised(c);
    if (denied) return denied;
    return answer({ collections: Object.entries(collections).map(([id, d]) => describe(id, d)) });
  });
  app.get("/taxii2/root/collections/:id", (c) => {
    const denied = authorised(c);
    if (denied) return denied;
    const id = c.req.param("id");
    const definition = collections[id];
    return definition ? answer(describe(id, definition)) : forbidden();
  });
  const objects = (c: Context) => {
    const denied = authorised(c);
    if (denied) return denied;
    const definition = collections[c.req.param("id") ?? ""];
    if (!definition) return forbidden();
    const url = new URL(c.req.url);
    const spec = url.searchParams.get("match[spec_version]");
    if (spec !== null && spec !== "2.1") {
      return failure(
        400,
        "FUNCTIONAL_ERROR",
        "Invalid spec_version provided, only '2.1' supported",
      );
    }
    const version = url.searchParams.get("match[version]");
    if (version !== null && version !== "last") {
      return failure(400, "FUNCTIONAL_ERROR", "Invalid version provided, only 'last' supported");
    }
    const limitText = url.searchParams.get("limit");
    let limit = maxPage;
    if (limitText !== null) {
      if (!/^\d+$/.test(limitText) || Number(limitText) < 1) {
        return failure(400, "FUNCTIONAL_ERROR", `Invalid limit: ${limitText}`);
      }
      limit = Math.min(Number(limitText), maxPage);
    }
    const types = url.searchParams.get("match[type]")?.split(",");
    const all = store.list()
      .filter((o) => matches(definition.filter, o) && (!types || types.includes(o.type)))
      .map((o) => ({ object: o, cursor: cursorOf(o) }))
      .sort((a, b) => a.cursor < b.cursor ? -1 : a.cursor > b.cursor ? 1 : 0);
    const next = url.searchParams.get("next");
    let start = 0;
    if (next !== null && next !== "") {
      if (!/^\d{15}:.+$/.test(next)) {
        return failure(400, "FUNCTIONAL_ERROR", `Invalid next: ${next}`);
      }
      start = all.findIndex((entry) => entry.cursor > next);
      if (start < 0) start = all.length;
    }
    const page = all.slice(start, start + limit);
    return answer({
      more: start + page.length < all.length,
      next: page.at(-1)?.cursor ?? "",
      objects: page.map((entry) => entry.object),
    });
  };
  app.get("/taxii2/root/collections/:id/objects", objects);
  app.get("/taxii2/root/collections/:id/objects/", objects);
  return app;
}

/** A stable sort cursor: `updated_at` (ms, 15 digits), then the id. */
function cursorOf(object: StixObject): string {
  return `${String(updatedAtMs(object)).padStart(15, "0")}:${object.id}`;
}

function answer(body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { "content-type": TAXII_MEDIA_TYPE },
  });
}

function forbidden(): Response {
  return failure(403, "FORBIDDEN_ACCESS", "You are not allowed to do this.");
}

/** OpenCTI's TAXII error body (`errorConverter` in httpTaxii.js). */
function failure(
  status: number,
  code: string,
  title: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(
    JSON.stringify({ title, error_code: code, http_status: status, details: {} }),
    { status, headers: { "content-type": TAXII_MEDIA_TYPE, ...headers } },
  );
}
