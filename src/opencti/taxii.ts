/**
 * Reads the objects of OpenCTI TAXII 2.1 collections (`GET /taxii2/root/collections/<id>/objects/`,
 * `opencti-graphql/src/http/httpTaxii.js` in OpenCTI-Platform/opencti): pages of at most 500
 * objects as `{more, next, objects}`, the following page asked with `?next=<next>`. The objects are
 * full STIX 2.1 with OpenCTI's extensions, as the live stream carries them. The user needs the
 * TAXII API capability (`TAXIIAPI`, "Access data sharing") and access to the collection.
 *
 * @module
 */
import * as v from "valibot";
import type { Fetch } from "../runtime/http.ts";
import type { StixObject } from "../stix/types.ts";

/** A TAXII collection could not be read; the message names the setting to check. */
export class TaxiiError extends Error {
  /** The error's name. */
  override name = "TaxiiError";
  /** HTTP status, when the platform answered. */
  readonly status: number | undefined;

  /** An error for one collection. */
  constructor(message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.status = options.status;
  }
}

/** Options of {@linkcode readTaxiiCollection}. */
export interface TaxiiReadOptions {
  /** OpenCTI base URL (`OPENCTI_URL`). */
  url: string;
  /** API token (`OPENCTI_TOKEN`). */
  token: string;
  /** Objects per page (the platform's most is 500). @default 500 */
  pageSize?: number;
  /** Most pages read before giving up (a platform that never ends). @default 100000 */
  maxPages?: number;
  /** Stops the reading. @default none */
  signal?: AbortSignal;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** The setting that names the collections, for messages. @default "SENTINEL_TAXII_COLLECTIONS" */
  setting?: string;
}

const PAGE = v.object({
  more: v.optional(v.boolean(), false),
  next: v.optional(v.string(), ""),
  objects: v.optional(
    v.array(v.looseObject({ id: v.string(), type: v.string() })),
    [],
  ),
});

/**
 * Hands every object of one collection to `visit`, page after page, and resolves with how many
 * there were. Throws {@linkcode TaxiiError} on any failure: a reconcile must never act on a part
 * of a collection.
 */
export async function readTaxiiCollection(
  collection: string,
  visit: (object: StixObject) => void | Promise<void>,
  options: TaxiiReadOptions,
): Promise<number> {
  const fetch = options.fetch ?? globalThis.fetch;
  const setting = options.setting ?? "SENTINEL_TAXII_COLLECTIONS";
  const base = `${options.url.replace(/\/+$/, "")}/taxii2/root/collections/${
    encodeURIComponent(collection)
  }/objects/`;
  const maxPages = options.maxPages ?? 100_000;
  let next = "";
  let count = 0;
  for (let pages = 0;; pages++) {
    if (pages >= maxPages) {
      throw new TaxiiError(
        `TAXII collection "${collection}" did not end after ${maxPages} pages`,
      );
    }
    const url = new URL(base);
    url.searchParams.set("limit", String(options.pageSize ?? 500));
    if (next !== "") url.searchParams.set("next", next);
    let response: Response;
    try {
      response = await fetch(url, {
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: "application/taxii+json;version=2.1",
        },
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      options.signal?.throwIfAborted();
      throw new TaxiiError(
        `Cannot reach OpenCTI's TAXII API for collection "${collection}": ${
          error instanceof Error ? error.message : String(error)
        }; check OPENCTI_URL`,
        { cause: error },
      );
    }
    const text = await response.text();
    if (!response.ok) {
      throw new TaxiiError(failureMessage(collection, response.status, text, setting), {
        status: response.status,
      });
    }
    let page: v.InferOutput<typeof PAGE>;
    try {
      page = v.parse(PAGE, JSON.parse(text));
    } catch (error) {
      throw new TaxiiError(
        `TAXII collection "${collection}": the answer is not a TAXII envelope ({more, next, objects})`,
        { cause: error },
      );
    }
    for (const object of page.objects) {
      await visit(object as StixObject);
      count++;
    }
    if (!page.more) return count;
    if (page.next === "" || page.next === next) {
      throw new TaxiiError(
        `TAXII collection "${collection}": the platform says more objects follow but gives no new "next"`,
      );
    }
    next = page.next;
  }
}

function failureMessage(collection: string, status: number, body: string, setting: string) {
  let detail = "";
  try {
    const parsed = JSON.parse(body) as { title?: unknown; error_code?: unknown };
    if (typeof parsed.error_code === "string") detail = ` (${parsed.error_code})`;
  } catch {
    // No JSON body.
  }
  switch (status) {
    case 401:
      return `OpenCTI refused the token for TAXII collection "${collection}" (401${detail}): ` +
        "check OPENCTI_TOKEN";
    case 403:
      return `TAXII collection "${collection}" is unknown or not readable by this user ` +
        `(403${detail}): check ${setting} (the collection ids of Data sharing > TAXII ` +
        'collections) and give the user the "Access data sharing" (TAXIIAPI) capability';
    default:
      return `Reading TAXII collection "${collection}" failed with HTTP ${status}${detail}`;
  }
}
