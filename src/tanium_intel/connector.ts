/**
 * The tanium-intel stream connector: OpenCTI live stream → indicators → Tanium Threat Response
 * intel documents, with the document id written back on the indicator as the external reference
 * tanium-incidents looks up (`TANIUM_INCIDENTS_INTEL_SOURCE_NAMES`, src/opencti/lookup.ts), so its
 * alerts become sightings of the same indicator.
 *
 * Reading, batching, checkpoints, failure scopes and dead letters are the shared
 * {@linkcode StreamPump}; this file holds the target (one request per document: the API has no
 * batch call) and the route (frame → plan, write-back, echo skip).
 *
 * Upstream (`OpenCTI-Platform/connectors` `stream/tanium-intel`, `intel_manager.py`): create →
 * document + reference (`source_name` = connector name, `external_id` = the document id as a
 * string, `url` = `<console>/#/threatresponse/intel/<id>`, description "Intel document within the
 * Tanium platform.") + labels; update → labels only (upstream never re-sent the content; this
 * connector PUTs it); delete → document deleted. Upstream kept the STIX id → document id map in a
 * cache lost on restart; here the id is read from the reference on the indicator (the event's, or
 * OpenCTI's current version when the event predates the write-back), so a replayed create after a
 * restart updates the document instead of creating a duplicate.
 */
import * as v from "valibot";
import type { Connector, ConnectorStatus } from "../runtime/connector.ts";
import type { Fetch } from "../runtime/http.ts";
import { findExternalReferences } from "../opencti/lookup.ts";
import {
  addExternalReference,
  deleteExternalReference,
  onlyReferencesPatched,
} from "../opencti/references.ts";
import { CONNECTOR_MINIMUM } from "../opencti/version.ts";
import type { DataFrame } from "../opencti/stream.ts";
import {
  type PlannedOperation,
  type PumpOperation,
  type PumpTarget,
  type ReplayReport,
  StreamPump,
  type StreamPumpCommonOptions,
} from "../opencti/stream_pump.ts";
import type { DeadLetter } from "../opencti/dead_letters.ts";
import { failed, type FailureScope, type ItemResult } from "../runtime/delivery.ts";
import type { StixObject } from "../stix/types.ts";
import { TaniumIntelClient, TaniumIntelHttpError } from "./client.ts";
import {
  INTEL_REFERENCE_DESCRIPTION,
  INTEL_REFERENCE_SOURCE,
  type IntelDocument,
  intelIdOf,
  type IntelRemoval,
  planIntel,
} from "./mapper.ts";
import { errorMessage } from "../runtime/errors.ts";

/** Statuses of a refused update after which the document is created anew. */
const REPLACE_ON = new Set([400, 409, 415, 422]);

/** The scope of a failed Tanium call (issue 11 rules: one request carries one document). */
export function scopeOfError(error: unknown): { scope: FailureScope; check?: string } {
  if (error instanceof TaniumIntelHttpError) {
    const s = error.status;
    if (s === 0 || s === 401 || s === 403 || s === 408 || s === 429 || s >= 500) {
      return error.check ? { scope: "systemic", check: error.check } : { scope: "systemic" };
    }
    if (error.check) return { scope: "systemic", check: error.check };
    // A 4xx on a request that carried this document alone: proven on it.
    return { scope: "item" };
  }
  // An answer of another shape, or a bug: not the document's fault.
  return { scope: "systemic" };
}

/** Options of {@linkcode TaniumIntelTarget}. */
export interface TaniumIntelTargetOptions {
  /** The Tanium client. */
  client: TaniumIntelClient;
  /**
   * Finds the document id written back on the indicator in OpenCTI (its current version), for an
   * event that predates the write-back. @default none
   */
  resolve?: (stixId: string, signal?: AbortSignal) => Promise<number | undefined>;
  /**
   * Removes the written-back reference of a deleted document from OpenCTI (so tanium-incidents
   * links nothing to it); its failure is the callee's to report. @default none
   */
  unlink?: (removal: IntelRemoval, intelId: number) => Promise<void>;
  /** Documents per batch (`TANIUM_INTEL_BATCH_SIZE`). */
  maxBatch: number;
  /** `TANIUM_INTEL_DEPLOY_INTEL`: deploy the intel after a batch changed documents. */
  deployIntel: boolean;
  /**
   * `TANIUM_INTEL_COMPUTER_GROUPS` when `TANIUM_INTEL_AUTO_ONDEMAND_SCAN` is on: quick-scan these
   * computer groups for each new document. @default [] (no scan)
   */
  quickScanGroups?: readonly number[];
}

/** Tanium Threat Response intel (and the Reputation service), as a stream-pump target. */
export class TaniumIntelTarget implements PumpTarget<IntelDocument, IntelRemoval> {
  /** Target name. */
  readonly name = "tanium-intel";
  /** Documents per batch. */
  readonly maxBatch: number;
  readonly #client: TaniumIntelClient;
  readonly #resolve: TaniumIntelTargetOptions["resolve"];
  readonly #unlink: TaniumIntelTargetOptions["unlink"];
  /** STIX id → document id, for what this process created or saw (newest wins). */
  readonly #index = new Map<string, number>();
  readonly #deploy: boolean;
  readonly #scanGroups: readonly number[];
  #documents = 0;
  #adopted = 0;
  #reputations = 0;
  #reputationsRemoved = 0;

  /** Builds the target. */
  constructor(options: TaniumIntelTargetOptions) {
    this.#client = options.client;
    this.#resolve = options.resolve;
    this.#unlink = options.unlink;
    this.maxBatch = options.maxBatch;
    this.#deploy = options.deployIntel;
    this.#scanGroups = options.quickScanGroups ?? [];
  }

  /** The document id of an indicator, when this process knows it. */
  documentIdOf(stixId: string): number | undefined {
    return this.#index.get(stixId);
  }

  /**
   * Creates or updates each document, then puts its labels; then sends the reputation entries of
   * the batch in one request. One result per item.
   */
  async upsert(documents: IntelDocument[], signal?: AbortSignal): Promise<ItemResult[]> {
    const results = new Map<string, ItemResult>();
    const newIds: number[] = [];
    let changed = false;
    let systemic: ItemResult | undefined;
    for (const document of documents) {
      if (systemic) {
        // Tanium is not taking requests now: the rest waits, untried.
        results.set(document.id, { ...systemic, id: document.id });
        continue;
      }
      if (document.content === undefined) continue;
      try {
        const { id, created } = await this.#put(document, signal);
        await this.#client.label(id, document.labels, signal);
        changed = true;
        if (created) newIds.push(id);
      } catch (error) {
        const result = failure(document.id, error);
        if (result.ok === false && result.scope === "systemic") systemic = result;
        results.set(document.id, result);
      }
    }
    if (systemic) {
      for (const d of documents) {
        if (!results.has(d.id)) results.set(d.id, { ...systemic, id: d.id });
      }
    }
    // Reputation entries of the items whose document (if any) went through: one request.
    const entries = systemic
      ? []
      : documents.filter((d) => d.reputation !== undefined && !results.has(d.id));
    if (entries.length > 0) {
      try {
        // Hashes an update took off a file leave the list first (one request).
        await this.#client.deleteReputations(entries.flatMap((d) => d.staleHashes ?? []), signal);
        await this.#client.uploadReputations(entries.map((d) => d.reputation!), signal);
        this.#reputations += entries.length;
      } catch (error) {
        for (const d of entries) results.set(d.id, batchFailure(d.id, error, entries.length));
      }
    }
    const ordered = documents.map((d) => results.get(d.id) ?? { id: d.id, ok: true as const });
    if (changed) await this.#afterChange(newIds, signal);
    return ordered;
  }

  /**
   * Updates the document Tanium holds for the item, or creates it. The id comes from this
   * process, the event, OpenCTI's current version, and last from Tanium itself (a document whose
   * description carries the item's marker: created before a crash lost its write-back), so a
   * replay never makes a second document.
   */
  async #put(
    document: IntelDocument,
    signal?: AbortSignal,
  ): Promise<{ id: number; created: boolean }> {
    let id = this.#index.get(document.id) ?? document.intelId ??
      await this.#resolve?.(document.id, signal);
    if (id === undefined) {
      id = await this.#client.findByMarker(document.id, signal);
      if (id !== undefined) this.#adopted++;
    }
    if (id !== undefined && await this.#updateOrReplace(id, document, signal)) {
      this.#index.set(document.id, id);
      return { id, created: false };
    }
    id = await this.#client.create(document, signal);
    this.#documents++;
    this.#index.set(document.id, id);
    return { id, created: true };
  }

  /**
   * Updates the document; false when it must be created anew: Tanium no longer has it (404), or
   * it refuses this content for that document (400/409/415/422: e.g. a document of another format,
   * written for this indicator by an older connector). The old document is left as it is; the
   * new one's reference is the newest on the indicator. A content Tanium refuses on its own
   * fails again on the create, where it is proven on this document.
   */
  async #updateOrReplace(
    id: number,
    document: IntelDocument,
    signal?: AbortSignal,
  ): Promise<boolean> {
    try {
      return await this.#client.update(id, document, signal);
    } catch (error) {
      if (error instanceof TaniumIntelHttpError && REPLACE_ON.has(error.status)) return false;
      throw error;
    }
  }

  /**
   * Deploys the changed intel once per batch, then quick-scans for the new documents (upstream
   * does both per document). The documents are in Tanium already: a failure here is noted and
   * the next batch deploys again, it never fails the documents.
   */
  async #afterChange(newIds: number[], signal?: AbortSignal): Promise<void> {
    try {
      if (this.#deploy) await this.#client.deploy(signal);
      for (const id of newIds) {
        for (const group of this.#scanGroups) await this.#client.quickScan(id, group, signal);
      }
    } catch (error) {
      this.lastFollowUpError = errorMessage(error);
    }
  }

  /** The last deploy or quick-scan failure, if any (shown in `/status`). */
  lastFollowUpError: string | undefined;

  /**
   * Deletes each document (revoke = delete) and removes its written-back reference from OpenCTI;
   * then deletes the hashes of deleted files from the reputation list in one request. A document
   * whose id is unknown is looked up by its marker; none found = nothing to delete.
   */
  async remove(removals: IntelRemoval[], signal?: AbortSignal): Promise<ItemResult[]> {
    const results = new Map<string, ItemResult>();
    let changed = false;
    let systemic: ItemResult | undefined;
    for (const removal of removals) {
      if (systemic) {
        results.set(removal.id, { ...systemic, id: removal.id });
        continue;
      }
      try {
        const id = this.#index.get(removal.id) ?? removal.intelId ??
          await this.#client.findByMarker(removal.id, signal);
        if (id !== undefined) {
          await this.#client.delete(id, signal);
          changed = true;
          await this.#unlink?.(removal, id);
        }
        this.#index.delete(removal.id);
      } catch (error) {
        const result = failure(removal.id, error);
        if (result.ok === false && result.scope === "systemic") systemic = result;
        results.set(removal.id, result);
      }
    }
    if (systemic) {
      for (const r of removals) {
        if (!results.has(r.id)) results.set(r.id, { ...systemic, id: r.id });
      }
    }
    const hashed = systemic
      ? []
      : removals.filter((r) => (r.reputationHashes?.length ?? 0) > 0 && !results.has(r.id));
    if (hashed.length > 0) {
      try {
        await this.#client.deleteReputations(hashed.flatMap((r) => r.reputationHashes!), signal);
        this.#reputationsRemoved += hashed.length;
      } catch (error) {
        for (const r of hashed) results.set(r.id, batchFailure(r.id, error, hashed.length));
      }
    }
    if (changed) await this.#afterChange([], signal);
    return removals.map((r) => results.get(r.id) ?? { id: r.id, ok: true as const });
  }

  /** Extra status: documents created by this process, reputation entries sent. */
  status(): Record<string, unknown> {
    return {
      documentsCreated: this.#documents,
      documentsFoundByMarker: this.#adopted,
      reputationsUploaded: this.#reputations,
      reputationsRemoved: this.#reputationsRemoved,
      ...(this.lastFollowUpError ? { lastDeployError: this.lastFollowUpError } : {}),
    };
  }
}

/**
 * The result of one item of a multi-item request (the reputation list takes many entries): a 4xx
 * on a request that carried others proves nothing on this item (`request`: the pump splits the
 * batch until the bad entry is alone); alone, it is the item's own.
 */
function batchFailure(id: string, error: unknown, carried: number): ItemResult {
  const result = failure(id, error);
  if (carried > 1 && result.ok === false && result.scope === "item") {
    return failed(id, result.reason, "request");
  }
  return result;
}

function failure(id: string, error: unknown): ItemResult {
  const reason = errorMessage(error);
  const { scope, check } = scopeOfError(error);
  return failed(id, reason, scope, check);
}

/** Options of {@linkcode TaniumIntelConnector}. */
export interface TaniumIntelConnectorOptions extends StreamPumpCommonOptions {
  /** Connector name in logs, metrics and routes. @default "tanium-intel" */
  name?: string;
  /** Tanium settings. */
  tanium: {
    /** `TANIUM_INTEL_URL`: the API host. */
    url: string;
    /** `TANIUM_INTEL_URL_CONSOLE`: for the reference URL. @default the API URL without `-api` (upstream) */
    consoleUrl?: string;
    /** `TANIUM_INTEL_TOKEN`. */
    token: string;
    /** Fetch for Tanium. @default globalThis.fetch */
    fetch?: Fetch;
    /** `TANIUM_INTEL_DEPLOY_INTEL`. */
    deployIntel: boolean;
    /** `TANIUM_INTEL_AUTO_ONDEMAND_SCAN`. */
    autoOnDemandScan: boolean;
    /** `TANIUM_INTEL_COMPUTER_GROUPS`. */
    computerGroups: readonly number[];
    /** `TANIUM_INTEL_HASHES_IN_REPUTATION`. */
    hashesInReputation: boolean;
    /** `TANIUM_INTEL_NO_HASHES_IN_INTELS`. */
    noHashesInIntels: boolean;
  };
  /**
   * `source_name` of the written reference; must be one of tanium-incidents'
   * `TANIUM_INCIDENTS_INTEL_SOURCE_NAMES`. @default "Tanium Threat Response Intel"
   */
  referenceSourceName?: string;
  /** Documents per batch (`TANIUM_INTEL_BATCH_SIZE`). */
  batchSize: number;
}

const READ_INDICATOR = `query ReadIndicator($id: String!) { stixCoreObjectRaw(id: $id) }`;
const ReadIndicatorAnswer = v.object({ stixCoreObjectRaw: v.nullable(v.string()) });
/** Keeps Tanium Threat Response intel in step with the indicators of an OpenCTI live stream. */
export class TaniumIntelConnector implements Connector {
  /** Connector name. */
  readonly name: string;
  readonly #o: TaniumIntelConnectorOptions;
  readonly #target: TaniumIntelTarget;
  readonly #pump: StreamPump<IntelDocument, IntelRemoval>;
  readonly #sourceName: string;
  readonly #consoleUrl: string;

  /** Builds the connector; nothing is sent before `start()` or `runOnce()`. */
  constructor(options: TaniumIntelConnectorOptions) {
    this.#o = options;
    this.name = options.name ?? "tanium-intel";
    this.#sourceName = options.referenceSourceName ?? INTEL_REFERENCE_SOURCE;
    const apiUrl = options.tanium.url.replace(/\/+$/, "");
    this.#consoleUrl = (options.tanium.consoleUrl ?? apiUrl.replace("-api", "")).replace(
      /\/+$/,
      "",
    );
    this.#target = new TaniumIntelTarget({
      client: new TaniumIntelClient({
        url: apiUrl,
        token: options.tanium.token,
        ...(options.tanium.fetch ? { fetch: options.tanium.fetch } : {}),
      }),
      resolve: (id, signal) => this.#resolve(id, signal),
      unlink: (_removal, intelId) => this.#unlink(intelId),
      deployIntel: options.tanium.deployIntel,
      quickScanGroups: options.tanium.autoOnDemandScan ? options.tanium.computerGroups : [],
      maxBatch: options.batchSize,
    });
    const { name: _n, tanium: _t, referenceSourceName: _r, ...rest } = options;
    this.#pump = new StreamPump<IntelDocument, IntelRemoval>({
      ...rest,
      name: this.name,
      connector: {
        ...options.connector,
        scope: options.connector.scope,
        minimumVersion: CONNECTOR_MINIMUM["tanium-intel"],
        minimumFor: "tanium-intel",
      },
      target: this.#target,
      route: {
        echo: (frame) => this.#echo(frame),
        plan: (frame, now) => this.#plan(frame, now),
        replan: (id, stix, now) => this.#replan(id, stix, now),
        acknowledged: (items) => this.#writeBackAll(items),
      },
    });
  }

  /** Follows the stream until the signal aborts. */
  start(signal: AbortSignal): Promise<void> {
    return this.#pump.start(signal);
  }

  /** Drains the stream until caught up, then checkpoints. */
  runOnce(signal?: AbortSignal): Promise<boolean> {
    return this.#pump.runOnce(signal);
  }

  /** A snapshot for `/status` and `/readyz`. */
  status(): ConnectorStatus {
    return this.#pump.status();
  }

  /** The dead letters. */
  deadLetters(): { entries: DeadLetter[]; overflow: number } {
    return this.#pump.deadLetters();
  }

  /** Sends the dead letters again, each alone, from the indicator's current version. */
  replayDeadLetters(signal?: AbortSignal): Promise<ReplayReport> {
    return this.#pump.replayDeadLetters(signal);
  }

  /** The reference written back for a document. */
  referenceFor(intelId: number): {
    source_name: string;
    url: string;
    external_id: string;
    description: string;
  } {
    return {
      source_name: this.#sourceName,
      url: `${this.#consoleUrl}/#/threatresponse/intel/${intelId}`,
      external_id: String(intelId),
      description: INTEL_REFERENCE_DESCRIPTION,
    };
  }

  #echo(frame: DataFrame): { id: string; detail: string } | undefined {
    if (frame.event !== "update") return undefined;
    if (!onlyReferencesPatched(frame.data)) return undefined;
    const object = frame.data.data;
    if (intelIdOf(object, [this.#sourceName]) !== undefined) {
      return { id: object.id, detail: "only our external reference changed" };
    }
    // Our reference taken off a revoked or expired indicator after its document was deleted.
    if (
      planIntel("update", object, {
        now: (this.#o.now ?? Date.now)(),
        sourceNames: [this.#sourceName],
      }).kind === "remove"
    ) {
      return { id: object.id, detail: "only the reference of a deleted document changed" };
    }
    return undefined;
  }

  #plan(
    frame: DataFrame,
    now: number,
  ): Array<PlannedOperation<IntelDocument, IntelRemoval> | null> {
    const object = frame.data.data;
    if (frame.event === "merge") {
      // The merged-away sources (`context.sources`) are gone: their documents and hashes go; the
      // target stays and is brought up to date (as sentinel does). Upstream ignores merges.
      const listed = frame.data.context?.sources;
      const sources = (Array.isArray(listed) ? listed : []).filter(isStix);
      const planned: Array<PlannedOperation<IntelDocument, IntelRemoval> | null> = sources.map(
        (source) => {
          const op = this.#opOf("delete", source, now);
          return op ? { key: source.id, op } : null;
        },
      );
      const op = this.#opOf("update", object, now);
      planned.push(op ? { key: object.id, op } : null);
      return planned;
    }
    const op = this.#opOf(frame.event, object, now, frame.data.context?.reverse_patch);
    return [op ? { key: object.id, op } : null];
  }

  #opOf(
    event: DataFrame["event"],
    object: StixObject,
    now: number,
    reversePatch?: unknown,
  ): PumpOperation<IntelDocument, IntelRemoval> | undefined {
    const plan = planIntel(event, object, {
      now,
      ...(reversePatch === undefined ? {} : { reversePatch }),
      sourceNames: [this.#sourceName],
      hashesInReputation: this.#o.tanium.hashesInReputation,
      noHashesInIntels: this.#o.tanium.noHashesInIntels,
    });
    switch (plan.kind) {
      case "skip":
        this.#pump.skip(plan.reason, object.id, plan.detail);
        return undefined;
      case "upsert":
        return { kind: "upsert", indicator: plan.document };
      case "remove":
        return { kind: "remove", removal: plan.removal };
    }
  }

  #replan(
    id: string,
    stix: unknown,
    now: number,
  ): PumpOperation<IntelDocument, IntelRemoval>[] {
    if (!isStix(stix)) return [{ kind: "remove", removal: { id } }];
    const op = this.#opOf("update", stix, now);
    return op ? [op] : [];
  }

  /** Reads the indicator's current version in OpenCTI for a reference of ours. */
  async #resolve(stixId: string, signal?: AbortSignal): Promise<number | undefined> {
    const answer = await this.#o.client.request(READ_INDICATOR, ReadIndicatorAnswer, {
      variables: { id: stixId },
      ...(signal ? { signal } : {}),
    });
    if (answer.stixCoreObjectRaw === null) return undefined;
    const stix: unknown = JSON.parse(answer.stixCoreObjectRaw);
    return isStix(stix) ? intelIdOf(stix, [this.#sourceName]) : undefined;
  }

  /** Writes the document reference on each acknowledged indicator; a failure is counted, never retried. */
  async #writeBackAll(documents: IntelDocument[]): Promise<void> {
    for (const document of documents) {
      const intelId = this.#target.documentIdOf(document.id);
      if (intelId === undefined || intelId === document.intelId) continue;
      try {
        await addExternalReference(
          this.#o.client,
          document.openctiId ?? document.id,
          this.referenceFor(intelId),
          { observable: document.stixType !== "indicator" },
        );
        this.#pump.count("written_back");
      } catch (error) {
        this.#pump.count("write_back_failed");
        this.#pump.noteError(`writing the reference back on ${document.id} failed`, error);
      }
    }
  }

  /**
   * Deletes the references written back for a deleted document (upstream
   * `_delete_entity_external_reference`: found by `source_name` and `external_id`), which takes
   * them off the indicator when it still exists. A failure is counted and noted, never retried:
   * the document is gone from Tanium either way, so no new alert can point at it.
   */
  async #unlink(intelId: number): Promise<void> {
    try {
      const references = await findExternalReferences(this.#o.client, String(intelId), {
        sourceNames: [this.#sourceName],
      });
      for (const reference of references) {
        await deleteExternalReference(this.#o.client, reference.id);
        this.#pump.count("references_removed");
      }
    } catch (error) {
      this.#pump.count("reference_removal_failed");
      this.#pump.noteError(`removing the reference of Tanium document ${intelId} failed`, error);
    }
  }
}

function isStix(value: unknown): value is StixObject {
  return typeof value === "object" && value !== null &&
    typeof (value as Record<string, unknown>).id === "string" &&
    typeof (value as Record<string, unknown>).type === "string";
}
