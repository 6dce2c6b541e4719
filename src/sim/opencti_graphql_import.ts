/**
 * The bundle import of the OpenCTI simulator, as the platform's workers do it: `stixBundlePush`
 * (checks, work, asynchronous import with one expectation per object) and messages of a
 * connector's RabbitMQ push queue (one expectation per message); each object is upserted by its
 * standard id, its references resolved, and import failures can be injected per object.
 *
 * @module
 */
import { standardIdOf, SUPPORTED_ID_TYPES, TLP_MARKING_IDS as TLP_IDS } from "./opencti_ids.ts";
import type { StixObject } from "../stix/types.ts";
import type { ReceivedBundle, SimConnector, SimWork } from "./opencti_graphql_types.ts";
import {
  asRecord,
  dependencyOrder,
  isRecord,
  rewriteRefs,
  SimGraphqlError,
} from "./opencti_graphql_util.ts";
import type { WorkResolvers } from "./opencti_graphql_works.ts";
import { extensionOf, type OpenCtiStore, SIM_USER_ID } from "./opencti_store.ts";

/** What the importer needs from the simulated platform. */
export interface ImportContext {
  /** The works domain (new works, expectations, reports). */
  works: WorkResolvers;
  /** Works by id. */
  workMap: Map<string, SimWork>;
  /** Connectors by id. */
  connectors: Map<string, SimConnector>;
  /** Where received bundles are recorded. */
  bundles: ReceivedBundle[];
  /** The clock (epoch ms). */
  now: () => number;
  /** The current ISO date. */
  iso: () => string;
}

/** Imports bundles into the store, one at a time, in arrival order. */
export class BundleImporter {
  /** The store objects are imported into. */
  readonly store: OpenCtiStore;
  readonly #works: WorkResolvers;
  readonly #workMap: Map<string, SimWork>;
  readonly #connectors: Map<string, SimConnector>;
  readonly #bundles: ReceivedBundle[];
  readonly #now: () => number;
  readonly #iso: () => string;
  readonly #objectFailures = new Map<string, string>();
  #objectFailure: ((object: StixObject) => string | undefined) | undefined;
  #imports: Promise<void> = Promise.resolve();
  #pendingImports = 0;
  #holdImports = false;
  readonly #held: (() => void)[] = [];

  /** Binds the importer to the store and the platform's works, connectors and records. */
  constructor(store: OpenCtiStore, context: ImportContext) {
    this.store = store;
    this.#works = context.works;
    this.#workMap = context.workMap;
    this.#connectors = context.connectors;
    this.#bundles = context.bundles;
    this.#now = context.now;
    this.#iso = context.iso;
  }

  /** Makes the import of the object with this id fail with `message`. */
  failObject(id: string, message: string): void {
    this.#objectFailures.set(id, message);
  }

  /** Decides per object whether its import fails (the error message) or not. */
  failObjectsWhere(predicate: ((object: StixObject) => string | undefined) | undefined): void {
    this.#objectFailure = predicate;
  }

  /** Removes the per-object failures. */
  clearObjectFailures(): void {
    this.#objectFailures.clear();
    this.#objectFailure = undefined;
  }

  /** Holds imports until {@linkcode release}. */
  hold(): void {
    this.#holdImports = true;
  }

  /** Lets held imports run. */
  release(): void {
    this.#holdImports = false;
    for (const release of this.#held.splice(0)) release();
  }

  /** Number of bundles queued or importing. */
  get pending(): number {
    return this.#pendingImports;
  }

  /** Resolves once every queued bundle is imported. */
  async settled(): Promise<void> {
    let current;
    do {
      current = this.#imports;
      await current;
    } while (current !== this.#imports);
  }

  /** `stixBundlePush`: checks the bundle and the connector, queues the import, answers true. */
  stixBundlePush(connectorId: unknown, bundleText: unknown, workId: unknown): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(bundleText));
    } catch {
      throw new SimGraphqlError("UnsupportedError", "Invalid bundle");
    }
    const bundle = asRecord(parsed);
    if (
      bundle.type !== "bundle" || !Array.isArray(bundle.objects) || bundle.objects.length === 0
    ) {
      throw new SimGraphqlError("UnsupportedError", "Invalid bundle", "Invalid stix bundle");
    }
    const connector = typeof connectorId === "string"
      ? this.#connectors.get(connectorId)
      : undefined;
    if (!connector) {
      throw new SimGraphqlError("UnsupportedError", "Invalid bundle", "Invalid connector");
    }
    const objects = (bundle.objects as unknown[]).filter(isRecord) as StixObject[];
    let target: SimWork | undefined;
    let createdHere = false;
    if (typeof workId === "string" && workId !== "") {
      target = this.#workMap.get(workId);
    } else {
      target = this.#works.add(connector.id, `${connector.name} run @ ${this.#iso()}`);
      target.status = "progress";
      target.received_time = this.#iso();
      createdHere = true;
      if (objects.length === 1) this.#works.addExpectations(target, 1);
    }
    const received: ReceivedBundle = {
      at: this.#now(),
      connectorId: connector.id,
      workId: target?.id ?? String(workId),
      bundle: { type: "bundle", id: String(bundle.id ?? ""), objects },
    };
    this.#bundles.push(received);
    this.#enqueue(objects, target, createdHere);
    return true;
  }

  /**
   * The platform's worker for one message of a connector's push queue (pycti's message format:
   * base64 `content`, `work_id`, `applicant_id`, `update`, …): imports the bundle and reports one
   * expectation to the work, with the objects' errors if any. Returns an error text for a message
   * that cannot be read (the worker drops it), undefined otherwise.
   */
  async importQueued(connectorId: string, body: string): Promise<string | undefined> {
    let message: Record<string, unknown>;
    let bundle: Record<string, unknown>;
    try {
      message = asRecord(JSON.parse(body));
      const content = typeof message.content === "string" ? message.content : "";
      const bytes = Uint8Array.from(atob(content), (c) => c.charCodeAt(0));
      bundle = asRecord(JSON.parse(new TextDecoder().decode(bytes)));
    } catch (error) {
      return `Unreadable queue message: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (bundle.type !== "bundle" || !Array.isArray(bundle.objects)) {
      return "Unreadable queue message: content is not a STIX bundle";
    }
    const objects = (bundle.objects as unknown[]).filter(isRecord) as StixObject[];
    const workId = typeof message.work_id === "string" ? message.work_id : undefined;
    const work = workId === undefined ? undefined : this.#workMap.get(workId);
    this.#bundles.push({
      at: this.#now(),
      connectorId,
      workId: workId ?? "",
      bundle: { type: "bundle", id: String(bundle.id ?? ""), objects },
      transport: "amqp",
    });
    this.#pendingImports += 1;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => done = resolve);
    const run = async () => {
      try {
        const errors = await this.#importObjects(objects);
        if (work) {
          this.#works.report(
            work,
            errors.length === 0 ? undefined : {
              error: errors.map((e) => e.error).join("; "),
              source: errors.map((e) => e.source).join("\n"),
            },
          );
        }
      } finally {
        this.#pendingImports -= 1;
        done();
      }
    };
    this.#imports = this.#imports.then(run, run);
    await finished;
    return undefined;
  }

  async #importObjects(objects: StixObject[]): Promise<{ error: string; source: string }[]> {
    const ordered = dependencyOrder(objects);
    const resolved = new Map<string, string>();
    for (const id of Object.values(TLP_IDS)) resolved.set(id, id);
    const resolveRef = (ref: string): string | undefined =>
      resolved.get(ref) ?? this.store.get(ref)?.id;
    const errors: { error: string; source: string }[] = [];
    for (const object of ordered) {
      const error = await this.#importOne(object, resolveRef, resolved);
      if (error !== undefined) errors.push({ error, source: JSON.stringify(object) });
    }
    return errors;
  }

  #enqueue(objects: StixObject[], work: SimWork | undefined, createdHere: boolean): void {
    this.#pendingImports += 1;
    const run = async () => {
      await Promise.resolve();
      if (this.#holdImports) await new Promise<void>((resolve) => this.#held.push(resolve));
      try {
        await this.#import(objects, work, createdHere);
      } finally {
        this.#pendingImports -= 1;
      }
    };
    this.#imports = this.#imports.then(run, run);
  }

  /** The worker: split, expectations, upsert each object by standard id, report each. */
  async #import(
    objects: StixObject[],
    work: SimWork | undefined,
    createdHere: boolean,
  ): Promise<void> {
    if (work && !(createdHere && objects.length === 1)) {
      this.#works.addExpectations(work, objects.length);
    }
    const ordered = dependencyOrder(objects);
    const resolved = new Map<string, string>();
    for (const id of Object.values(TLP_IDS)) resolved.set(id, id);
    const resolveRef = (ref: string): string | undefined =>
      resolved.get(ref) ?? this.store.get(ref)?.id;
    for (const object of ordered) {
      const error = await this.#importOne(object, resolveRef, resolved);
      if (work) {
        this.#works.report(
          work,
          error === undefined ? undefined : { error, source: JSON.stringify(object) },
        );
      }
    }
  }

  async #importOne(
    object: StixObject,
    resolveRef: (ref: string) => string | undefined,
    resolved: Map<string, string>,
  ): Promise<string | undefined> {
    const injected = this.#objectFailures.get(object.id) ?? this.#objectFailure?.(object);
    if (injected !== undefined) return injected;
    if (typeof object.id !== "string" || typeof object.type !== "string") {
      return "Invalid STIX object: id and type are required";
    }
    const missing: string[] = [];
    const rewritten = rewriteRefs(object, (ref) => {
      const found = resolveRef(ref);
      if (found === undefined) missing.push(ref);
      return found ?? ref;
    });
    if (missing.length > 0) {
      return `MISSING_REFERENCE_ERROR: Element(s) not found: ${missing.join(", ")}`;
    }
    let standardId = await standardIdOf(rewritten);
    if (standardId === undefined) {
      if (SUPPORTED_ID_TYPES.includes(object.type)) {
        return `Missing required elements for ${object.type} creation`;
      }
      standardId = object.id;
    }
    const extraIds = new Set<string>();
    const previous = this.store.get(standardId) ?? this.store.get(object.id);
    const previousIds = extensionOf(previous ?? { id: "", type: "" })?.stix_ids;
    if (Array.isArray(previousIds)) {
      for (const id of previousIds) if (typeof id === "string") extraIds.add(id);
    }
    if (object.id !== standardId) extraIds.add(object.id);
    const toStore: StixObject = { ...rewritten, id: previous?.id ?? standardId };
    if (extraIds.size > 0) toStore.x_opencti_stix_ids = [...extraIds];
    this.store.upsert(toStore, {
      origin: { ip: "::ffff:127.0.0.1", user_id: SIM_USER_ID, applicant_id: SIM_USER_ID },
    });
    resolved.set(object.id, toStore.id);
    resolved.set(standardId, toStore.id);
    return undefined;
  }
}
