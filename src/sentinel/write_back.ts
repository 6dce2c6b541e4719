/**
 * Optional write-back: after a target acknowledged an indicator, add an external reference on the
 * OpenCTI indicator that points at the Microsoft object, as the upstream connectors did, with the
 * GraphQL mutations pycti uses (`externalReferenceAdd`, then
 * `stixDomainObjectEdit(id) { relationAdd(input: {toId, relationship_type: "external-reference"}) }`).
 *
 * No loop: the reference is added only when the indicator does not carry it yet, and the update
 * event the platform emits for it (only `external_references` and bookkeeping fields changed) is
 * recognised by {@linkcode WriteBack.isEcho} so the connector skips it.
 *
 * @module
 */
import type { OpenCtiClient } from "../opencti/graphql.ts";
import {
  addExternalReference,
  type NewExternalReference,
  onlyReferencesPatched,
} from "../opencti/references.ts";
import type { StixObject } from "../stix/types.ts";
import type { TargetIndicator, TargetName } from "../microsoft/target.ts";

/**
 * The external reference written on an OpenCTI indicator: `source_name` e.g. "Microsoft
 * Sentinel", `external_id` the Microsoft-side key (the indicator's STIX id on all three targets).
 */
export type WriteBackReference = NewExternalReference;

/** Options of {@linkcode WriteBack}. */
export interface WriteBackOptions {
  /** `source_name` of the references. @default "Microsoft Graph", "Microsoft Sentinel" or "Microsoft Defender" */
  sourceName?: string;
  /**
   * URL of the reference; `{id}` is replaced by the URL-encoded STIX id of the indicator.
   * @default graph: the tiIndicators query by externalId; sentinel and defender: the portal's threat-intelligence pages with the id as search
   */
  urlTemplate?: string;
}

/** Default `source_name` per target. */
export const WRITE_BACK_SOURCES: Readonly<Record<TargetName, string>> = {
  graph: "Microsoft Graph",
  sentinel: "Microsoft Sentinel",
  defender: "Microsoft Defender",
};

/**
 * Default URL templates per target. Graph can give the object itself (the collection filtered on
 * `externalId`); Sentinel and Defender have no documented deep link per indicator, so the
 * reference points at the portal page listing threat-intelligence indicators, searched by id.
 */
export const WRITE_BACK_URLS: Readonly<Record<TargetName, string>> = {
  graph: "https://graph.microsoft.com/beta/security/tiIndicators?$filter=externalId%20eq%20'{id}'",
  sentinel:
    "https://portal.azure.com/#blade/Microsoft_Azure_Security_Insights/MainMenuBlade/0/ThreatIntelligence?search={id}",
  defender: "https://security.microsoft.com/securitysettings/endpoints/indicators?search={id}",
};

/** Outcome of {@linkcode WriteBack.add}. */
export type WriteBackOutcome = "added" | "present" | "not_indicator";

/** Writes the Microsoft reference back on OpenCTI indicators. */
export class WriteBack {
  readonly #client: OpenCtiClient;
  readonly #target: TargetName;
  readonly #sourceName: string;
  readonly #urlTemplate: string;

  /** Builds the writer for one target. */
  constructor(client: OpenCtiClient, target: TargetName, options: WriteBackOptions = {}) {
    this.#client = client;
    this.#target = target;
    this.#sourceName = options.sourceName ?? WRITE_BACK_SOURCES[target];
    this.#urlTemplate = options.urlTemplate ?? WRITE_BACK_URLS[target];
  }

  /** The reference written for an indicator. */
  referenceFor(indicatorId: string): WriteBackReference {
    return {
      source_name: this.#sourceName,
      url: this.#urlTemplate.replaceAll("{id}", encodeURIComponent(indicatorId)),
      external_id: indicatorId,
      description: `Indicator synchronised to ${this.#sourceName} by OpenCTI (${this.#target})`,
    };
  }

  /** True when the object already carries our reference (same source and external id). */
  has(object: StixObject): boolean {
    return referencesOf(object).some((reference) =>
      reference.source_name === this.#sourceName && reference.external_id === object.id
    );
  }

  /**
   * True for an `update` event that only added our reference (and moved `modified` /
   * `updated_at`): the platform's echo of a write-back, which must not be synced again.
   */
  isEcho(envelope: unknown): boolean {
    if (!onlyReferencesPatched(envelope)) return false;
    const data = (envelope as { data?: unknown }).data;
    if (typeof data !== "object" || data === null) return false;
    const object = data as StixObject;
    return typeof object.id === "string" && this.has(object);
  }

  /** Adds our reference to the indicator unless it is there already. */
  async add(indicator: TargetIndicator, signal?: AbortSignal): Promise<WriteBackOutcome> {
    if (indicator.stix.type !== "indicator") return "not_indicator";
    if (this.has(indicator.stix)) return "present";
    await addExternalReference(
      this.#client,
      indicator.openctiId ?? indicator.id,
      this.referenceFor(indicator.id),
      signal ? { signal } : {},
    );
    return "added";
  }
}

function referencesOf(object: StixObject): Record<string, unknown>[] {
  const list = object.external_references;
  return Array.isArray(list)
    ? list.filter((r): r is Record<string, unknown> => typeof r === "object" && r !== null)
    : [];
}
