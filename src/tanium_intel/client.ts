/**
 * Tanium Threat Response intel API, the calls upstream `stream/tanium-intel`
 * (`src/tanium_intel_connector/api_handler.py`) makes, all under
 * `<TANIUM_INTEL_URL>/plugin/products/threat-response/api/v1`, header `session: <token>`
 * (`/work/shared/reference/tanium.md` §2.1):
 * - `GET /sources`, `POST /sources` `{type: "api-client", name: "OpenCTI", description}`: the
 *   intel source documents are filed under (found by name, created once);
 * - `POST /sources/{sourceId}/intels`: create (JSON for a Tanium signal; the YARA rule as
 *   `application/octet-stream` with headers `type`, `name`, `description`, `content-disposition`;
 *   the OpenIOC XML as `application/xml` with header `type: openioc`), answer `{data: {id, …}}`;
 * - `PUT /intels/{id}`: update, same bodies;
 * - `DELETE /intels/?id={id}`: delete;
 * - `POST /intels/quick-add` `{exact, name, description, type, text}` → an OpenIOC document;
 * - `GET /labels?noLimit=true`, `POST /labels` `{name, description}`, `PUT /intels/{id}/labels`
 *   `{id}`: labels;
 * - `POST /intel/deploy` (`TANIUM_INTEL_DEPLOY_INTEL`): pushes the intel to the endpoints;
 * - `POST /on-demand-scans` `{computerGroupId, intelDocId}` (`TANIUM_INTEL_AUTO_ONDEMAND_SCAN`,
 *   one per group of `TANIUM_INTEL_COMPUTER_GROUPS`): a quick scan for a new document.
 * - `GET /intels?description=<marker>`: the documents whose description holds the marker (older
 *   upstream `stream/tanium` `_get_by_id` found its documents by the OpenCTI id in their
 *   description the same way), so a create lost to a crash is found instead of made twice.
 * No batch call exists: one document per request. 401 = invalid token or client IP not trusted,
 * 403 = expired session or a persona without the Threat Response intel permissions.
 *
 * The Reputation service (`<TANIUM_INTEL_URL>/plugin/products/reputation/v3`, same `session`
 * header; upstream `api_handler.py` `create_reputation`, older `stream/tanium`):
 * - `POST /reputations/custom/upload?append=true` with a JSON array of entries
 *   `{list: "blacklist", md5, sha1, sha256, uploadedHash, notes}`: adds to the custom list
 *   (`append=false` would replace the whole list: never sent);
 * - `POST /reputations/custom/delete` with a JSON array of hashes: removes them.
 * Both take many entries per request, so one request carries a whole batch.
 */
import * as v from "valibot";
import type { Fetch } from "../runtime/http.ts";
import type { IntelContent, IntelDocument, ReputationEntry } from "./mapper.ts";
import { errorMessage } from "../runtime/errors.ts";

/** Path prefix of the Threat Response API. */
export const THREAT_RESPONSE_PREFIX = "/plugin/products/threat-response/api/v1";
/** Path prefix of the Reputation service API. */
export const REPUTATION_PREFIX = "/plugin/products/reputation/v3";

/**
 * The marker a document's description carries so this connector can find it again by the
 * OpenCTI id (`[OpenCTI <stix id>]`).
 */
export function documentMarker(stixId: string): string {
  return `[OpenCTI ${stixId}]`;
}

/** The description sent: the indicator's, then the marker. */
export function describedWithMarker(document: IntelDocument): string {
  const marker = documentMarker(document.id);
  return document.description === "" ? marker : `${document.description} ${marker}`;
}
/** Name of the intel source documents are filed under (upstream `_get_source_id`). */
export const OPENCTI_SOURCE_NAME = "OpenCTI";

/** An HTTP answer Tanium gave that is not a success. */
export class TaniumIntelHttpError extends Error {
  /** The error's name. */
  override name = "TaniumIntelHttpError";
  /** HTTP status (0 = no answer: network error or timeout). */
  readonly status: number;
  /** The setting or permission to check, when the status points at one. */
  readonly check: string | undefined;

  /** Builds the error. */
  constructor(message: string, status: number, check?: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
    this.check = check;
  }
}

/** Options of {@linkcode TaniumIntelClient}. */
export interface TaniumIntelClientOptions {
  /** `TANIUM_INTEL_URL`: the API host, trailing `/` removed. */
  url: string;
  /** `TANIUM_INTEL_TOKEN`. */
  token: string;
  /** @default globalThis.fetch */
  fetch?: Fetch;
}

const DataAnswer = v.object({ data: v.looseObject({ id: v.union([v.number(), v.string()]) }) });
const ListAnswer = v.object({
  data: v.array(v.looseObject({ id: v.union([v.number(), v.string()]), name: v.string() })),
});
const IntelListAnswer = v.object({
  data: v.array(v.looseObject({
    id: v.union([v.number(), v.string()]),
    description: v.optional(v.nullable(v.string())),
    sourceId: v.optional(v.nullable(v.union([v.number(), v.string()]))),
  })),
});

/** One label as Tanium lists it. */
export interface TaniumLabel {
  /** Label id. */
  id: number;
  /** Label name. */
  name: string;
}

/** The intel calls of the Threat Response API. */
export class TaniumIntelClient {
  /** API base URL without a trailing slash. */
  readonly url: string;
  readonly #token: string;
  readonly #fetch: Fetch;
  #sourceId: number | undefined;
  #labels: Map<string, TaniumLabel> | undefined;

  /** Builds the client; nothing is sent until the first call. */
  constructor(options: TaniumIntelClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.#token = options.token;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** The id of the `OpenCTI` intel source, created when absent (once per process). */
  async sourceId(signal?: AbortSignal): Promise<number> {
    if (this.#sourceId !== undefined) return this.#sourceId;
    const list = v.parse(ListAnswer, await this.#json("GET", "/sources", undefined, signal));
    const found = list.data.find((s) => s.name === OPENCTI_SOURCE_NAME);
    const id = found ? found.id : v.parse(
      DataAnswer,
      await this.#json("POST", "/sources", {
        type: "api-client",
        name: OPENCTI_SOURCE_NAME,
        description: "Cyber Threat Intelligence knowledge imported from OpenCTI.",
      }, signal),
    ).data.id;
    this.#sourceId = Number(id);
    return this.#sourceId;
  }

  /** Creates the document under the OpenCTI source; resolves with its id. */
  async create(document: IntelDocument, signal?: AbortSignal): Promise<number> {
    const source = await this.sourceId(signal);
    const body = await this.#body(document, signal);
    const answer = await this.#send("POST", `/sources/${source}/intels`, body, signal);
    return Number(v.parse(DataAnswer, answer).data.id);
  }

  /**
   * The newest document of the OpenCTI source whose description carries the indicator's marker
   * (one written before a crash lost its write-back), if any.
   */
  async findByMarker(stixId: string, signal?: AbortSignal): Promise<number | undefined> {
    const source = await this.sourceId(signal);
    const marker = documentMarker(stixId);
    const query = new URLSearchParams({ description: marker, limit: "100", offset: "0" });
    const list = v.parse(
      IntelListAnswer,
      await this.#json("GET", `/intels?${query}`, undefined, signal),
    );
    let newest: number | undefined;
    for (const intel of list.data) {
      // The filter may match loosely: keep only ours, exactly.
      if (!(intel.description ?? "").includes(marker)) continue;
      if (
        intel.sourceId !== undefined && intel.sourceId !== null && Number(intel.sourceId) !== source
      ) {
        continue;
      }
      const id = Number(intel.id);
      if (newest === undefined || id > newest) newest = id;
    }
    return newest;
  }

  /** Adds the entries to the Reputation service's custom list (one request). */
  async uploadReputations(
    entries: readonly ReputationEntry[],
    signal?: AbortSignal,
  ): Promise<void> {
    if (entries.length === 0) return;
    await this.#json(
      "POST",
      "/reputations/custom/upload?append=true",
      entries,
      signal,
      REPUTATION_PREFIX,
    );
  }

  /** Deletes hashes from the Reputation service's custom list (one request). */
  async deleteReputations(hashes: readonly string[], signal?: AbortSignal): Promise<void> {
    if (hashes.length === 0) return;
    await this.#json("POST", "/reputations/custom/delete", hashes, signal, REPUTATION_PREFIX);
  }

  /** Replaces the document's content; false when Tanium no longer has it (404). */
  async update(intelId: number, document: IntelDocument, signal?: AbortSignal): Promise<boolean> {
    const body = await this.#body(document, signal);
    try {
      await this.#send("PUT", `/intels/${intelId}`, body, signal);
      return true;
    } catch (error) {
      if (error instanceof TaniumIntelHttpError && error.status === 404) return false;
      throw error;
    }
  }

  /** Deletes the document; an absent one (404) counts as deleted. */
  async delete(intelId: number, signal?: AbortSignal): Promise<void> {
    try {
      await this.#send("DELETE", `/intels/?id=${intelId}`, undefined, signal);
    } catch (error) {
      if (error instanceof TaniumIntelHttpError && error.status === 404) return;
      throw error;
    }
  }

  /** Puts the labels (by name, created when missing) on the document. */
  async label(intelId: number, names: readonly string[], signal?: AbortSignal): Promise<void> {
    if (names.length === 0) return;
    if (!this.#labels) {
      const list = v.parse(
        ListAnswer,
        await this.#json("GET", "/labels?noLimit=true", undefined, signal),
      );
      this.#labels = new Map(
        list.data.map((l) => [l.name.toLowerCase(), { id: Number(l.id), name: l.name }]),
      );
    }
    for (const name of names) {
      let label = this.#labels.get(name);
      if (!label) {
        const created = v.parse(
          DataAnswer,
          await this.#json("POST", "/labels", {
            name,
            description: "Label imported from OpenCTI",
          }, signal),
        );
        label = { id: Number(created.data.id), name };
        this.#labels.set(name, label);
      }
      await this.#json("PUT", `/intels/${intelId}/labels`, { id: label.id }, signal);
    }
  }

  /** Deploys the intel to the endpoints (`POST /intel/deploy`). */
  async deploy(signal?: AbortSignal): Promise<void> {
    await this.#json("POST", "/intel/deploy", {}, signal);
  }

  /** Starts a quick scan of a computer group for one document. */
  async quickScan(intelId: number, computerGroupId: number, signal?: AbortSignal): Promise<void> {
    await this.#json("POST", "/on-demand-scans", { computerGroupId, intelDocId: intelId }, signal);
  }

  async #body(document: IntelDocument, signal?: AbortSignal): Promise<RequestBody> {
    const content: IntelContent | undefined = document.content;
    if (content === undefined) {
      throw new TaniumIntelHttpError(`${document.id} has no intel document content`, 0);
    }
    const description = describedWithMarker(document);
    switch (content.type) {
      case "tanium-signal":
        return {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            name: document.name,
            description,
            platforms: content.platforms,
            contents: content.contents,
          }),
        };
      case "yara":
        return {
          headers: {
            "content-type": "application/octet-stream",
            "content-disposition": `attachment; filename=${headerSafe(content.filename)}`,
            type: "yara",
            name: headerSafe(document.name),
            description: headerSafe(description),
          },
          body: content.contents,
        };
      case "openioc": {
        const ioc = await this.#send("POST", "/intels/quick-add", {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            exact: true,
            name: document.name,
            description,
            type: content.quickAddType,
            text: content.text,
          }),
        }, signal);
        if (typeof ioc !== "string" || ioc.trim() === "") {
          throw new TaniumIntelHttpError(
            "Tanium quick-add answered no OpenIOC document",
            200,
          );
        }
        return {
          headers: { "content-type": "application/xml", type: "openioc" },
          body: withIocDescription(ioc, description),
        };
      }
    }
  }

  #json(
    method: string,
    path: string,
    body: unknown,
    signal?: AbortSignal,
    prefix = THREAT_RESPONSE_PREFIX,
  ): Promise<unknown> {
    return this.#send(
      method,
      path,
      body === undefined ? undefined : {
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      },
      signal,
      prefix,
    );
  }

  /** One request; JSON answers are parsed, others returned as text. */
  async #send(
    method: string,
    path: string,
    body: RequestBody | undefined,
    signal?: AbortSignal,
    prefix = THREAT_RESPONSE_PREFIX,
  ): Promise<unknown> {
    const what = `${method} ${prefix}${path.replace(/\?.*$/, "")}`;
    let response: Response;
    try {
      response = await this.#fetch(`${this.url}${prefix}${path}`, {
        method,
        headers: {
          session: this.#token,
          ...(body?.headers ?? { "content-type": "application/json" }),
        },
        ...(body ? { body: body.body } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new TaniumIntelHttpError(
        `${what}: no answer from Tanium (${errorMessage(error)}); check TANIUM_INTEL_URL`,
        0,
        "TANIUM_INTEL_URL",
        { cause: error },
      );
    }
    const text = await response.text();
    if (!response.ok) throw httpFailure(what, response.status, text);
    if ((response.headers.get("content-type") ?? "").includes("application/json")) {
      try {
        return JSON.parse(text);
      } catch (error) {
        throw new TaniumIntelHttpError(
          `${what}: the JSON answer is cut or invalid`,
          502,
          undefined,
          {
            cause: error,
          },
        );
      }
    }
    return text;
  }
}

interface RequestBody {
  headers: Record<string, string>;
  body: string;
}

/**
 * The OpenIOC document with its `<description>` set to ours (quick-add may leave it out); the
 * older upstream `stream/tanium` rewrote it the same way to find its documents again.
 */
function withIocDescription(ioc: string, description: string): string {
  const escaped = description.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;");
  if (/<description>[\s\S]*?<\/description>/.test(ioc)) {
    return ioc.replace(
      /<description>[\s\S]*?<\/description>/,
      () => `<description>${escaped}</description>`,
    );
  }
  if (/<\/short_description>/.test(ioc)) {
    return ioc.replace(
      /<\/short_description>/,
      () => `</short_description><description>${escaped}</description>`,
    );
  }
  return ioc;
}

/** Header values carry no line breaks nor non-Latin-1 characters. */
function headerSafe(text: string): string {
  return text.replace(/[\r\n]+/g, " ").replace(/[^\x20-\x7e\xa0-\xff]/g, "?").trim();
}

function httpFailure(what: string, status: number, text: string): TaniumIntelHttpError {
  const detail = text.slice(0, 200);
  if (status === 401) {
    return new TaniumIntelHttpError(
      `${what}: Tanium refused the token (401: invalid token, or this host's IP is not in the ` +
        `token's trusted list); check TANIUM_INTEL_TOKEN`,
      status,
      "TANIUM_INTEL_TOKEN",
    );
  }
  if (status === 403 && what.includes(REPUTATION_PREFIX)) {
    return new TaniumIntelHttpError(
      `${what}: Tanium refused access (403: expired session, or the token's persona lacks the ` +
        `Reputation write permission); check TANIUM_INTEL_TOKEN and its persona, or set ` +
        `TANIUM_INTEL_HASHES_IN_REPUTATION=false`,
      status,
      "TANIUM_INTEL_TOKEN (Reputation write permission) or TANIUM_INTEL_HASHES_IN_REPUTATION",
    );
  }
  if (status === 403) {
    return new TaniumIntelHttpError(
      `${what}: Tanium refused access (403: expired session, or the token's persona lacks the ` +
        `Threat Response intel write permission); check TANIUM_INTEL_TOKEN and its persona`,
      status,
      "TANIUM_INTEL_TOKEN (Threat Response intel write permission)",
    );
  }
  if (status === 404 && what.includes(REPUTATION_PREFIX)) {
    return new TaniumIntelHttpError(
      `${what}: 404; check that the Reputation service is installed, or set ` +
        `TANIUM_INTEL_HASHES_IN_REPUTATION=false`,
      status,
      "TANIUM_INTEL_HASHES_IN_REPUTATION",
    );
  }
  if (status === 404 && /\/sources/.test(what)) {
    return new TaniumIntelHttpError(
      `${what}: 404; check TANIUM_INTEL_URL (the API host) and that Threat Response is installed`,
      status,
      "TANIUM_INTEL_URL",
    );
  }
  return new TaniumIntelHttpError(`${what}: HTTP ${status} ${detail}`, status);
}
