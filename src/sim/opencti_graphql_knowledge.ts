/**
 * The knowledge resolvers of the OpenCTI simulator: reads of objects (`stixCoreObject`,
 * `stixDomainObject`, `stixCyberObservable`, `indicator`) with their labels, markings, author and
 * external references, the `stixDomainObjects`/`stixCyberObservables` lists, and external
 * references (`externalReferences`, `externalReferenceAdd`, `externalReferenceEdit`, `relationAdd`).
 *
 * @module
 */
import { externalReferenceId, TLP_MARKING_IDS as TLP_IDS } from "./opencti_ids.ts";
import type { StixObject } from "../stix/types.ts";
import { uuidV5 } from "../stix/uuid.ts";
import { entityTypeOf, extensionOf, type OpenCtiStore } from "./opencti_store.ts";
import {
  type Gate,
  IMPLEMENTS,
  INTERNAL_NAMESPACE,
  NOT_SDO,
  SCO_TYPES,
} from "./opencti_graphql_schema.ts";
import {
  connection,
  isRecord,
  matchesGroup,
  referencesOf,
  SimGraphqlError,
  stringOrNull,
  unsupportedFilter,
} from "./opencti_graphql_util.ts";

/** What the knowledge resolvers need from the simulated platform. */
export interface KnowledgeContext {
  /** True when the simulated version has the gated part. */
  has: (gate: Gate) => boolean;
  /** The current ISO date. */
  iso: () => string;
}

/** Objects and external references as the platform's GraphQL API shows them. */
export class KnowledgeResolvers {
  /** The store the objects live in. */
  readonly store: OpenCtiStore;
  readonly #has: (gate: Gate) => boolean;
  readonly #iso: () => string;
  /** External references created by `externalReferenceAdd`, by standard id (until attached they live only here). */
  readonly #standaloneReferences = new Map<string, Record<string, string>>();

  /** Binds the resolvers to the store. */
  constructor(store: OpenCtiStore, context: KnowledgeContext) {
    this.store = store;
    this.#has = context.has;
    this.#iso = context.iso;
  }

  /** The object with this internal id, standard id or extra STIX id, if it is of the wanted kind. */
  async readObject(
    id: unknown,
    kind: "any" | "sdo" | "sco" | "indicator",
  ): Promise<Record<string, unknown> | null> {
    if (typeof id !== "string") return null;
    const object = this.store.get(id) ?? this.store.list().find((o) => {
      const ext = extensionOf(o);
      return ext?.id === id || (Array.isArray(ext?.stix_ids) && ext.stix_ids.includes(id)) ||
        (Array.isArray(o.x_opencti_stix_ids) && o.x_opencti_stix_ids.includes(id));
    });
    if (!object || NOT_SDO.has(object.type)) return null;
    const sco = SCO_TYPES.has(object.type);
    if (kind === "sdo" && sco) return null;
    if (kind === "sco" && !sco) return null;
    if (kind === "indicator" && object.type !== "indicator") return null;
    return this.#objectView(object, await this.externalReferences());
  }

  /** The GraphQL view of a stored object (the fields of `OBJECT_FIELDS`), with its `__types`. */
  #objectView(
    object: StixObject,
    references: { id: string; carriers: string[] }[],
    depth = 0,
  ): Record<string, unknown> {
    const ext = extensionOf(object);
    const sco = SCO_TYPES.has(object.type);
    const entityType = entityTypeOf(object);
    let concrete = entityType.replace(/-/g, "");
    if (object.type === "indicator") concrete = "Indicator";
    if (!IMPLEMENTS[concrete]) concrete = sco ? "StixCyberObservable" : "StixDomainObject";
    const lists = this.#has("listRefs");
    const asList = <T>(items: T[]) => lists ? items : { edges: items.map((node) => ({ node })) };
    const markingRefs = Array.isArray(object.object_marking_refs) ? object.object_marking_refs : [];
    const markings = markingRefs.map((ref) => {
      const marking = typeof ref === "string" ? this.store.get(ref) : undefined;
      const name = Object.entries(TLP_IDS).find(([, id]) => id === ref)?.[0];
      return {
        id: extensionOf(marking ?? { id: "", type: "" })?.id ?? ref,
        standard_id: ref,
        entity_type: "Marking-Definition",
        definition_type: marking?.definition_type ?? "TLP",
        definition: marking?.name ?? (name ? `TLP:${name.toUpperCase()}` : null),
        x_opencti_order: 0,
        x_opencti_color: null,
      };
    });
    const labels = (Array.isArray(object.labels) ? object.labels : []).map((value) => ({
      id: `label--${String(value)}`,
      value: String(value),
      color: "#ffffff",
    }));
    const author = typeof object.created_by_ref === "string"
      ? this.store.get(object.created_by_ref)
      : undefined;
    const ownReferences = references.filter((r) => r.carriers.includes(object.id))
      .map((r) => ({ ...r, carriers: undefined }));
    return {
      ...object,
      __types: [concrete, ...(IMPLEMENTS[concrete] ?? [])],
      id: ext?.id ?? object.id,
      standard_id: object.id,
      entity_type: entityType,
      parent_types: sco
        ? ["Basic-Object", "Stix-Object", "Stix-Core-Object", "Stix-Cyber-Observable"]
        : ["Basic-Object", "Stix-Object", "Stix-Core-Object", "Stix-Domain-Object"],
      created_at: ext?.created_at ?? null,
      updated_at: ext?.updated_at ?? null,
      x_opencti_stix_ids: Array.isArray(ext?.stix_ids) ? ext.stix_ids : [],
      name: typeof object.name === "string" ? object.name : null,
      observable_value: typeof object.value === "string" ? object.value : null,
      x_opencti_score: ext?.score ?? object.x_opencti_score ?? null,
      x_opencti_detection: ext?.detection ?? null,
      x_opencti_main_observable_type: ext?.main_observable_type ?? null,
      createdBy: author && depth === 0 ? this.#objectView(author, references, depth + 1) : null,
      objectMarking: asList(markings),
      objectLabel: asList(labels),
      externalReferences: connection(ownReferences, undefined),
    };
  }

  /** `externalReferenceEdit.fieldPatch`: updates a reference where it lives (standalone or on carriers). */
  async patchReference(id: string, input: unknown): Promise<Record<string, unknown>> {
    const patches = (Array.isArray(input) ? input : [input]).filter(isRecord);
    const editable = new Set(["source_name", "description", "url", "external_id"]);
    const found = (await this.externalReferences()).find((r) => r.id === id);
    if (!found) throw new SimGraphqlError("FunctionalError", "Cannot find the external reference");
    const changes: Record<string, string | null> = {};
    for (const patch of patches) {
      const key = String(patch.key);
      if (!editable.has(key)) {
        throw new SimGraphqlError("FunctionalError", `Cannot edit the field ${key}`);
      }
      const values = Array.isArray(patch.value) ? patch.value : [patch.value];
      changes[key] = values[0] === null || values[0] === undefined ? null : String(values[0]);
    }
    const apply = (entry: Record<string, unknown>) => {
      const out: Record<string, unknown> = { ...entry };
      for (const [key, value] of Object.entries(changes)) {
        if (value === null) delete out[key];
        else out[key] = value;
      }
      return out;
    };
    const standalone = this.#standaloneReferences.get(found.standard_id);
    if (standalone) {
      this.#standaloneReferences.set(
        found.standard_id,
        apply(standalone) as Record<string, string>,
      );
    }
    for (const carrierId of found.carriers) {
      const carrier = this.store.get(carrierId);
      if (!carrier || !Array.isArray(carrier.external_references)) continue;
      const list = carrier.external_references.map((entry) =>
        isRecord(entry) && entry.source_name === found.source_name &&
          (entry.external_id ?? null) === found.external_id && (entry.url ?? null) === found.url
          ? apply(entry)
          : entry
      );
      this.store.upsert({ ...carrier, external_references: list });
    }
    return {
      ...found,
      ...Object.fromEntries(Object.entries(changes)),
      carriers: undefined,
      updated_at: this.#iso(),
    };
  }

  /** `externalReferenceEdit.delete`: removes a reference everywhere; returns its id. */
  async deleteReference(id: string): Promise<string> {
    const found = (await this.externalReferences()).find((r) => r.id === id);
    if (!found) throw new SimGraphqlError("FunctionalError", "Cannot find the external reference");
    this.#standaloneReferences.delete(found.standard_id);
    for (const carrierId of found.carriers) {
      const carrier = this.store.get(carrierId);
      if (!carrier || !Array.isArray(carrier.external_references)) continue;
      this.store.upsert({
        ...carrier,
        external_references: carrier.external_references.filter((entry) =>
          !(isRecord(entry) && entry.source_name === found.source_name &&
            (entry.external_id ?? null) === found.external_id && (entry.url ?? null) === found.url)
        ),
      });
    }
    return found.id;
  }

  /** `externalReferenceAdd`: creates (or upserts, by standard id) a standalone external reference. */
  async externalReferenceAdd(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const fields: Record<string, string> = {};
    for (const key of ["source_name", "description", "url", "external_id"]) {
      if (typeof input[key] === "string") fields[key] = input[key] as string;
    }
    if (fields.source_name === undefined || fields.source_name.trim() === "") {
      throw new SimGraphqlError("FunctionalError", "Missing required elements for creation");
    }
    const standardId = await externalReferenceId(fields);
    const existing = (await this.externalReferences()).find((r) => r.standard_id === standardId);
    const stored = this.#standaloneReferences.get(standardId) ?? {
      ...fields,
      id: existing?.id ?? await uuidV5(standardId, INTERNAL_NAMESPACE),
      standard_id: standardId,
    };
    this.#standaloneReferences.set(standardId, stored);
    return {
      ...stored,
      entity_type: "External-Reference",
      created_at: this.#iso(),
      updated_at: this.#iso(),
    };
  }

  /** `relationAdd` of an `external-reference`: attaches the reference; emits the update event once. */
  async relationAdd(
    objectId: string,
    input: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    if (input.relationship_type !== "external-reference") {
      throw new SimGraphqlError(
        "UnsupportedError",
        `The simulator only adds external-reference relations, not ${
          String(input.relationship_type)
        }`,
      );
    }
    const object = this.store.get(objectId);
    if (!object) throw new SimGraphqlError("FunctionalError", "Cannot find the object to update");
    const toId = String(input.toId);
    const reference =
      [...this.#standaloneReferences.values()].find((r) =>
        r.id === toId || r.standard_id === toId
      ) ?? (await this.externalReferences()).find((r) => r.id === toId || r.standard_id === toId);
    if (!reference) {
      throw new SimGraphqlError("FunctionalError", "Cannot find the external reference to add");
    }
    const standardId = String(reference.standard_id);
    const relation = {
      id: await uuidV5(`${object.id}|${standardId}`, INTERNAL_NAMESPACE),
      standard_id: `relationship-ref--${await uuidV5(
        `${object.id}|${standardId}`,
        INTERNAL_NAMESPACE,
      )}`,
      entity_type: "external-reference",
      relationship_type: "external-reference",
    };
    const current = Array.isArray(object.external_references) ? object.external_references : [];
    const carried = (await this.externalReferences()).some((r) =>
      r.standard_id === standardId && r.carriers.includes(object.id)
    );
    if (carried) return relation;
    const entry: Record<string, string> = {};
    for (const key of ["source_name", "description", "url", "external_id"] as const) {
      const value = reference[key];
      if (typeof value === "string") entry[key] = value;
    }
    this.store.upsert({ ...object, external_references: [...current, entry] });
    return relation;
  }

  async externalReferences(): Promise<
    {
      id: string;
      standard_id: string;
      entity_type: string;
      source_name: string | null;
      external_id: string | null;
      url: string | null;
      description: string | null;
      carriers: string[];
    }[]
  > {
    const byId = new Map<string, {
      id: string;
      standard_id: string;
      entity_type: string;
      source_name: string | null;
      external_id: string | null;
      url: string | null;
      description: string | null;
      carriers: string[];
    }>();
    for (const object of this.store.list()) {
      for (const reference of referencesOf(object)) {
        let standardId: string;
        try {
          standardId = await externalReferenceId({
            ...(typeof reference.url === "string" ? { url: reference.url } : {}),
            ...(typeof reference.source_name === "string"
              ? { source_name: reference.source_name }
              : {}),
            ...(typeof reference.external_id === "string"
              ? { external_id: reference.external_id }
              : {}),
          });
        } catch {
          continue;
        }
        let entry = byId.get(standardId);
        if (!entry) {
          entry = {
            id: await uuidV5(standardId, INTERNAL_NAMESPACE),
            standard_id: standardId,
            entity_type: "External-Reference",
            source_name: stringOrNull(reference.source_name),
            external_id: stringOrNull(reference.external_id),
            url: stringOrNull(reference.url),
            description: stringOrNull(reference.description),
            carriers: [],
          };
          byId.set(standardId, entry);
        }
        entry.carriers.push(object.id);
      }
    }
    for (const [standardId, reference] of this.#standaloneReferences) {
      if (byId.has(standardId)) continue;
      byId.set(standardId, {
        id: String(reference.id),
        standard_id: standardId,
        entity_type: "External-Reference",
        source_name: stringOrNull(reference.source_name),
        external_id: stringOrNull(reference.external_id),
        url: stringOrNull(reference.url),
        description: stringOrNull(reference.description),
        carriers: [],
      });
    }
    return [...byId.values()];
  }

  async entities(
    observables: boolean,
    first: unknown,
    filters: unknown,
    types: unknown,
  ): Promise<Record<string, unknown>> {
    const references = await this.externalReferences();
    const refsByCarrier = new Map<string, string[]>();
    for (const reference of references) {
      for (const carrier of reference.carriers) {
        refsByCarrier.set(carrier, [...(refsByCarrier.get(carrier) ?? []), reference.id]);
      }
    }
    const wanted = Array.isArray(types) ? types.map((t) => String(t).toLowerCase()) : [];
    const items = this.store.list().filter((object) => {
      const sco = SCO_TYPES.has(object.type);
      if (observables ? !sco : sco || NOT_SDO.has(object.type)) return false;
      const entityType = entityTypeOf(object);
      if (
        wanted.length > 0 && !wanted.includes(entityType.toLowerCase()) &&
        !wanted.includes(object.type)
      ) {
        return false;
      }
      const ext = extensionOf(object);
      return matchesGroup(filters, (key) => {
        switch (key) {
          case "externalReferences":
            return refsByCarrier.get(object.id) ?? [];
          case "entity_type":
            return [entityType];
          case "standard_id":
            return [object.id];
          case "id":
            return typeof ext?.id === "string" ? [ext.id] : [];
          case "name":
            return typeof object.name === "string" ? [object.name] : [];
          case "value":
            return typeof object.value === "string" ? [object.value] : [];
          case "pattern":
            return typeof object.pattern === "string" ? [object.pattern] : [];
          default:
            throw unsupportedFilter(key);
        }
      });
    });
    const views = [];
    for (const object of items) views.push(this.#objectView(object, references));
    return connection(views, first);
  }
}
