/**
 * The OpenCTI simulator's GraphQL side (`POST /graphql`), as `reference/opencti.md` §1, §2 and §8
 * describe: bearer check, per-version validation, connectors and their state, works,
 * `stixBundlePush` with asynchronous import into the store, lookups, both error layouts, every
 * call recorded, and failure injection.
 *
 * This module handles requests (parse, validate, authenticate, execute, render errors) and the
 * platform reads (`about`, `me`, `settings`, `streamCollection`); the rest is split by domain:
 * `opencti_graphql_schema.ts` (types, fields, version gates), `opencti_graphql_validation.ts`,
 * `opencti_graphql_connectors.ts`, `opencti_graphql_works.ts`, `opencti_graphql_import.ts`
 * (bundles and queue messages), `opencti_graphql_knowledge.ts` (objects and external references),
 * `opencti_graphql_types.ts` (its options and the records it keeps) and `opencti_graphql_util.ts`.
 */
import { Hono } from "hono";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { StixObject } from "../stix/types.ts";
import { type OpenCtiStore, SIM_USER_ID } from "./opencti_store.ts";
import { SIM_TOKEN } from "./opencti_stream.ts";
import {
  type FieldNode,
  type OperationNode,
  parseOperation,
  resolveValue,
} from "./opencti_graphql_parser.ts";
import {
  compareVersions,
  DEFAULT_FEATURES,
  type Gate,
  GENERIC_MESSAGES,
  HTTP_STATUS,
  NOT_SDO,
  SCO_TYPES,
  type SimFeatures,
} from "./opencti_graphql_schema.ts";
import {
  asRecord,
  connection,
  isRecord,
  matchesGroup,
  SimGraphqlError,
  unsupportedFilter,
} from "./opencti_graphql_util.ts";
import { KnowledgeResolvers } from "./opencti_graphql_knowledge.ts";
import { WorkResolvers } from "./opencti_graphql_works.ts";
import { ConnectorResolvers } from "./opencti_graphql_connectors.ts";
import { BundleImporter } from "./opencti_graphql_import.ts";
import {
  checkInput,
  fieldDef,
  mergeSelections,
  runtimeTypes,
  validateOperation,
  ValidationError,
} from "./opencti_graphql_validation.ts";

export type { SimFeatures } from "./opencti_graphql_schema.ts";
export { matchesGroup, SimGraphqlError } from "./opencti_graphql_util.ts";
import type {
  ErrorLayout,
  GraphqlCall,
  GraphqlFailure,
  OpenCtiGraphqlSimOptions,
  PingRecord,
  ReceivedBundle,
  SimConnector,
  SimQueueConnection,
  SimWork,
} from "./opencti_graphql_types.ts";

/** `UnsupportedError` → `UNSUPPORTED_ERROR`. */
function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

type Resolver = (args: Record<string, unknown>, parent: unknown) => Promise<unknown> | unknown;

/** The GraphQL side of the simulated platform. */
export class OpenCtiGraphqlSim {
  /** The store objects are imported into. */
  readonly store: OpenCtiStore;
  /** Connectors by id. */
  readonly connectors = new Map<string, SimConnector>();
  /** Works by id. */
  readonly works = new Map<string, SimWork>();
  /** Every GraphQL call, oldest first. */
  readonly calls: GraphqlCall[] = [];
  /** Every ping, oldest first. */
  readonly pings: PingRecord[] = [];
  /** Every bundle accepted by `stixBundlePush`, oldest first. */
  readonly bundles: ReceivedBundle[] = [];
  /** The simulated version (may be changed between calls). */
  version: string;
  /** Error layout (may be changed between calls). */
  errorLayout: ErrorLayout;
  /** Queue size reported for connectors without their own, in bytes. */
  queueSizeBytes: number;
  /**
   * Largest accepted request body in bytes (`app:max_payload_body_size`, may be changed between
   * calls); a larger body is refused before GraphQL with HTTP 413 `request entity too large`, as
   * the platform's Express body parser does.
   */
  maxPayloadBytes: number;
  /** The RabbitMQ announced to connectors (the platform's `rabbitmq` settings). */
  queueConnection: SimQueueConnection = {
    host: "rabbitmq",
    vhost: "/",
    use_ssl: false,
    port: 5672,
    user: "opencti",
    pass: "changeme",
  };
  /** Prefix of queue names and routing keys (the platform's `rabbitmq:queue_prefix`). */
  queuePrefix = "";
  /** The stream collection behind `streamCollection(id)` (set by the simulator app). */
  streamInfo: ((id: string) => Record<string, unknown> | undefined) | undefined;
  /** Called (and awaited) at each registration, as the platform declares the connector's queues then. */
  onRegister: ((connector: SimConnector) => Promise<void>) | undefined;
  readonly #tokens: Set<string>;
  readonly #features: Required<SimFeatures>;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #failures: GraphqlFailure[] = [];
  readonly #importer: BundleImporter;
  readonly #resolvers: Record<string, Resolver>;
  readonly #knowledge: KnowledgeResolvers;
  readonly #workDomain: WorkResolvers;
  readonly #connectorDomain: ConnectorResolvers;

  /** Creates the GraphQL side over `store`. */
  constructor(store: OpenCtiStore, options: OpenCtiGraphqlSimOptions = {}) {
    this.store = store;
    this.version = options.version ?? "6.8.10";
    this.errorLayout = options.errorLayout ?? "combined";
    this.queueSizeBytes = options.queueSizeBytes ?? 0;
    this.#tokens = new Set(options.tokens ?? [SIM_TOKEN]);
    this.#features = { ...DEFAULT_FEATURES, ...options.features };
    this.maxPayloadBytes = options.maxPayloadBytes ?? 50 * 1024 * 1024;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#connectorDomain = new ConnectorResolvers(this.connectors, {
      pings: this.pings,
      now: () => this.#now(),
      iso: () => this.#iso(),
      queueSizeBytes: () => this.queueSizeBytes,
      queueConnection: () => this.queueConnection,
      queueNames: (id) => this.queueNames(id),
      onRegister: (connector) => this.onRegister?.(connector) ?? Promise.resolve(),
      resetState: (id) => this.resetState(id),
    });
    this.#workDomain = new WorkResolvers(this.works, {
      now: () => this.#now(),
      iso: () => this.#iso(),
      connector: (id) => this.#connectorDomain.get(id),
    });
    this.#importer = new BundleImporter(store, {
      works: this.#workDomain,
      workMap: this.works,
      connectors: this.connectors,
      bundles: this.bundles,
      now: () => this.#now(),
      iso: () => this.#iso(),
    });
    this.#knowledge = new KnowledgeResolvers(store, {
      has: (gate) => this.has(gate),
      iso: () => this.#iso(),
    });
    this.#resolvers = this.#buildResolvers();
  }

  /** True when the simulated version has the feature. */
  has(gate: Gate): boolean {
    return compareVersions(this.version, this.#features[gate]) >= 0;
  }

  /** Adds a failure rule for the next matching requests. */
  injectFailure(failure: GraphqlFailure): void {
    this.#failures.push({ ...failure, times: failure.times ?? 1 });
  }

  /** Removes every injected failure (GraphQL and per-object). */
  clearFailures(): void {
    this.#failures.length = 0;
    this.#importer.clearObjectFailures();
  }

  /** Makes the import of the object with this (incoming or standard) id fail with `message`. */
  failObject(id: string, message = "Simulated import failure"): void {
    this.#importer.failObject(id, message);
  }

  /** Decides per object whether its import fails (return the error message) or not. */
  failObjectsWhere(predicate: ((object: StixObject) => string | undefined) | undefined): void {
    this.#importer.failObjectsWhere(predicate);
  }

  /** Sets the queue size reported for one connector, in bytes. */
  setQueueSize(connectorId: string, bytes: number): void {
    const connector = this.connectors.get(connectorId);
    if (connector) connector.queue_size_bytes = bytes;
  }

  /** Simulates "Reset state" in the UI; false when the connector is unknown. */
  resetState(connectorId: string): boolean {
    const connector = this.connectors.get(connectorId);
    if (!connector) return false;
    connector.connector_state = "";
    connector.connector_state_reset = true;
    return true;
  }

  /** Holds imports (bundles stay queued) until {@linkcode releaseImports}. */
  holdImports(): void {
    this.#importer.hold();
  }

  /** Lets held imports run. */
  releaseImports(): void {
    this.#importer.release();
  }

  /** Number of bundles queued or importing. */
  get pendingImports(): number {
    return this.#importer.pending;
  }

  /** Resolves once every queued bundle is imported (call {@linkcode releaseImports} first when held). */
  async settled(): Promise<void> {
    await this.#importer.settled();
  }

  /** Hono routes serving `/graphql`. */
  routes(): Hono {
    const app = new Hono();
    app.all("/graphql", (c) => this.handle(c.req.raw));
    return app;
  }

  /** Handles one HTTP request to `/graphql`. */
  async handle(request: Request): Promise<Response> {
    if (request.method !== "POST") {
      return new Response("Method Not Allowed", { status: 405, headers: { allow: "POST" } });
    }
    const text = await request.text();
    if (new TextEncoder().encode(text).byteLength > this.maxPayloadBytes) {
      return new Response("request entity too large", { status: 413 });
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error();
      body = parsed as Record<string, unknown>;
    } catch {
      return this.#validationResponse(
        new ValidationError("POST body sent invalid JSON.", "BAD_REQUEST"),
        "",
        {},
      );
    }
    const query = typeof body.query === "string" ? body.query : "";
    const variables = isRecord(body.variables) ? body.variables : {};
    const operationName = typeof body.operationName === "string" ? body.operationName : undefined;
    let operation: OperationNode;
    try {
      operation = parseOperation(query, operationName);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return this.#validationResponse(
        new ValidationError(message, query === "" ? "BAD_REQUEST" : "GRAPHQL_PARSE_FAILED"),
        query,
        variables,
      );
    }
    const fields = operation.selections.map((field) => field.name);
    const record = (status: number, errors: string[]) =>
      this.calls.push({
        at: this.#now(),
        type: operation.type,
        operationName: operation.name,
        fields,
        query,
        variables,
        status,
        errors,
      });

    const failure = this.#takeFailure(fields);
    if (failure?.delayMs) await this.#sleep(failure.delayMs);
    if (failure?.status !== undefined) {
      record(failure.status, []);
      return new Response("Injected failure", { status: failure.status });
    }
    if (failure?.error) {
      record(200, [failure.error.name]);
      return this.#json(200, {
        errors: [this.#renderError(new SimGraphqlError(failure.error.name, failure.error.reason))],
        data: null,
      });
    }

    try {
      validateOperation(operation, (gate) => this.has(gate));
    } catch (error) {
      if (error instanceof ValidationError) {
        record(400, [error.code]);
        return this.#validationResponse(error, query, variables, false);
      }
      throw error;
    }

    const auth = request.headers.get("authorization") ?? "";
    const token = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
    if (token === undefined || !this.#tokens.has(token)) {
      record(200, ["AuthRequired"]);
      return this.#json(200, {
        errors: [
          this.#renderError(new SimGraphqlError("AuthRequired", GENERIC_MESSAGES.AuthRequired!)),
        ],
        data: null,
      });
    }

    const errors: Record<string, unknown>[] = [];
    const data: Record<string, unknown> = {};
    const rootType = operation.type === "mutation" ? "Mutation" : "Query";
    try {
      for (const field of operation.selections) {
        data[field.key] = await this.#resolveField(
          rootType,
          field,
          undefined,
          operation,
          variables,
          [
            field.key,
          ],
          errors,
        );
      }
    } catch (error) {
      if (error instanceof ValidationError) {
        record(400, [error.code]);
        return this.#validationResponse(error, query, variables, false);
      }
      throw error;
    }
    record(200, errors.map((e) => String(e.name ?? asRecord(e.extensions).code ?? "")));
    const allNull = Object.values(data).every((value) => value === null);
    return this.#json(
      200,
      errors.length > 0 ? { errors, data: allNull ? null : data } : { data },
    );
  }

  // -------------------------------------------------------------------------------------------

  #takeFailure(fields: string[]): GraphqlFailure | undefined {
    const index = this.#failures.findIndex((rule) =>
      rule.field === undefined || fields.includes(rule.field)
    );
    if (index < 0) return undefined;
    const rule = this.#failures[index]!;
    if (rule.times !== undefined && rule.times > 0) {
      rule.times -= 1;
      if (rule.times === 0) this.#failures.splice(index, 1);
    }
    return rule;
  }

  #json(status: number, body: unknown): Response {
    return new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json; charset=utf-8" },
    });
  }

  #validationResponse(
    error: ValidationError,
    query: string,
    variables: Record<string, unknown>,
    record = true,
  ): Response {
    if (record) {
      this.calls.push({
        at: this.#now(),
        type: undefined,
        operationName: undefined,
        fields: [],
        query,
        variables,
        status: 400,
        errors: [error.code],
      });
    }
    return this.#json(400, {
      errors: [{ message: error.message, extensions: { code: error.code } }],
    });
  }

  #renderError(error: SimGraphqlError, path?: string[]): Record<string, unknown> {
    const httpStatus = HTTP_STATUS[error.errorName] ?? 500;
    const where = path ? { path } : {};
    const cause = error.detail !== undefined ? { cause: error.detail } : {};
    switch (this.errorLayout) {
      case "classic":
        return {
          message: GENERIC_MESSAGES[error.errorName] ?? error.reason,
          name: error.errorName,
          ...where,
          extensions: { code: error.errorName },
          data: { reason: error.reason, http_status: httpStatus, category: "technical", ...cause },
        };
      case "modern":
        return {
          message: error.reason,
          ...where,
          extensions: {
            code: upperSnake(error.errorName),
            data: { http_status: httpStatus, genre: "TECHNICAL", ...cause },
          },
        };
      case "combined":
        return {
          message: error.reason,
          name: error.errorName,
          ...where,
          extensions: { code: error.errorName },
          data: { reason: error.reason, http_status: httpStatus, ...cause },
        };
    }
  }

  async #resolveField(
    type: string,
    field: FieldNode,
    parent: unknown,
    operation: OperationNode,
    variables: Record<string, unknown>,
    path: string[],
    errors: Record<string, unknown>[],
  ): Promise<unknown> {
    if (field.name === "__typename") return runtimeTypes(parent, type)[0] ?? type;
    const def = fieldDef(type, field.name, (gate) => this.has(gate))!;
    const args: Record<string, unknown> = {};
    for (const [name, node] of field.args) {
      const value = resolveValue(node, variables, operation.variables);
      const argDef = def.args?.[name];
      if (argDef?.input) {
        checkInput(
          argDef.input,
          value,
          node.kind === "variable" ? `$${node.name}` : name,
          (gate) => this.has(gate),
        );
      }
      if (argDef?.required && (value === undefined || value === null)) {
        throw new ValidationError(
          `Field "${field.name}" argument "${name}" is required, but it was not provided.`,
          "BAD_USER_INPUT",
        );
      }
      if (value !== undefined) args[name] = value;
    }
    let value: unknown;
    const resolver = this.#resolvers[`${type}.${field.name}`];
    try {
      value = resolver ? await resolver(args, parent) : asRecord(parent)[field.name];
    } catch (error) {
      if (error instanceof SimGraphqlError) {
        errors.push(this.#renderError(error, path));
        return null;
      }
      throw error;
    }
    if (value === null || value === undefined || !def.type || !field.selections) {
      return value ?? null;
    }
    const project = async (item: unknown, itemPath: string[]) => {
      if (item === null || item === undefined) return null;
      const out: Record<string, unknown> = {};
      const types = runtimeTypes(item, def.type!);
      for (const sub of field.selections!) {
        // A field selected in a fragment applies only when the object is of the fragment's type.
        if (sub.on !== undefined && sub.on !== def.type && !types.includes(sub.on)) continue;
        const value = await this.#resolveField(
          sub.on ?? def.type!,
          sub,
          item,
          operation,
          variables,
          [
            ...itemPath,
            sub.key,
          ],
          errors,
        );
        out[sub.key] = Object.hasOwn(out, sub.key) ? mergeSelections(out[sub.key], value) : value;
      }
      return out;
    };
    if (Array.isArray(value)) {
      const out = [];
      for (const [index, item] of value.entries()) {
        out.push(await project(item, [...path, String(index)]));
      }
      return out;
    }
    return await project(value, path);
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }

  /** The queue names and exchanges the platform announces for a connector. */
  queueNames(connectorId: string): {
    listen: string;
    listen_routing: string;
    listen_exchange: string;
    push: string;
    push_routing: string;
    push_exchange: string;
  } {
    const p = this.queuePrefix === "" ? "" : `${this.queuePrefix}_`;
    return {
      listen: `${p}listen_${connectorId}`,
      listen_routing: `${p}listen_routing_${connectorId}`,
      listen_exchange: "amqp.connector.exchange",
      push: `${p}push_${connectorId}`,
      push_routing: `${p}push_routing_${connectorId}`,
      push_exchange: "amqp.worker.exchange",
    };
  }

  #buildResolvers(): Record<string, Resolver> {
    return {
      ...this.#workDomain.resolvers(),
      ...this.#connectorDomain.resolvers(),
      "Query.about": () => ({
        version: this.version,
        dependencies: [
          { name: "Elasticsearch", version: "8.15.3" },
          { name: "RabbitMQ", version: "3.13.7" },
          { name: "Redis", version: "7.4.1" },
        ],
      }),
      "Query.me": () => ({
        id: SIM_USER_ID,
        name: "connector",
        user_email: "connector@opencti.local",
        individual_id: null,
        entity_type: "User",
        capabilities: ["CONNECTORAPI", "KNOWLEDGE", "KNOWLEDGE_KNUPDATE"].map((name) => ({
          id: name.toLowerCase(),
          name,
          description: null,
        })),
        groups: { edges: [{ node: { id: "connectors-group", name: "Connectors" } }] },
      }),
      "Query.settings": () => ({
        id: "settings--sim",
        platform_title: "OpenCTI - Cyber Threat Intelligence Platform",
        platform_email: "admin@opencti.io",
        platform_language: "auto",
        platform_url: "http://localhost:4000",
        entity_type: "Settings",
      }),
      "ExternalReference.parent_types": () => ["Basic-Object", "Stix-Object", "Stix-Meta-Object"],
      "Query.streamCollection": ({ id }) =>
        typeof id === "string" ? this.streamInfo?.(id) ?? null : null,
      "Query.stixCoreObject": ({ id }) => this.#knowledge.readObject(id, "any"),
      "Query.stixCoreObjectRaw": ({ id }) => {
        const object = typeof id === "string" ? this.store.get(id) : undefined;
        return object ? JSON.stringify(object) : null;
      },
      "Query.stixDomainObject": ({ id }) => this.#knowledge.readObject(id, "sdo"),
      "Query.stixCyberObservable": ({ id }) => this.#knowledge.readObject(id, "sco"),
      "Query.indicator": ({ id }) => this.#knowledge.readObject(id, "indicator"),
      "Query.externalReference": async ({ id }) =>
        (await this.#knowledge.externalReferences()).find((r) =>
          r.id === id || r.standard_id === id
        ) ??
          null,
      "Mutation.externalReferenceEdit": async ({ id }) => {
        const found = (await this.#knowledge.externalReferences()).find((r) =>
          r.id === id || r.standard_id === id
        );
        if (!found) {
          throw new SimGraphqlError("FunctionalError", "Cannot find the external reference");
        }
        return { id: found.id };
      },
      "ExternalReferenceEditMutations.fieldPatch": ({ input }, parent) =>
        this.#knowledge.patchReference(String(asRecord(parent).id), input),
      "ExternalReferenceEditMutations.delete": (_args, parent) =>
        this.#knowledge.deleteReference(String(asRecord(parent).id)),
      "Query.externalReferences": async ({ first, filters }) => {
        const references = await this.#knowledge.externalReferences();
        const items = references.filter((reference) =>
          matchesGroup(filters, (key) => {
            const value = reference[key as keyof typeof reference];
            if (
              ["external_id", "source_name", "url", "standard_id", "id", "entity_type"].includes(
                key,
              )
            ) {
              return typeof value === "string" ? [value] : [];
            }
            throw unsupportedFilter(key);
          })
        );
        return connection(items, first);
      },
      "Query.stixDomainObjects": ({ first, filters, types }) =>
        this.#knowledge.entities(false, first, filters, types),
      "Query.stixCyberObservables": ({ first, filters, types }) =>
        this.#knowledge.entities(true, first, filters, types),
      "Mutation.stixBundlePush": ({ connectorId, bundle, work_id }) =>
        this.#importer.stixBundlePush(connectorId, bundle, work_id),
      "Mutation.externalReferenceAdd": ({ input }) =>
        this.#knowledge.externalReferenceAdd(asRecord(input)),
      "Mutation.stixDomainObjectEdit": ({ id }) => {
        const object = typeof id === "string" ? this.store.get(id) : undefined;
        if (!object || SCO_TYPES.has(object.type) || NOT_SDO.has(object.type)) {
          throw new SimGraphqlError("FunctionalError", "Cannot find the object to update");
        }
        return { id: object.id };
      },
      "StixDomainObjectEditMutations.relationAdd": ({ input }, parent) =>
        this.#knowledge.relationAdd(String(asRecord(parent).id), asRecord(input)),
      "Mutation.stixCyberObservableEdit": ({ id }) => {
        const object = typeof id === "string" ? this.store.get(id) : undefined;
        if (!object || !SCO_TYPES.has(object.type)) {
          throw new SimGraphqlError("FunctionalError", "Cannot find the object to update");
        }
        return { id: object.id };
      },
      "StixCyberObservableEditMutations.relationAdd": ({ input }, parent) =>
        this.#knowledge.relationAdd(String(asRecord(parent).id), asRecord(input)),
    };
  }

  /**
   * The platform's worker for one message of a connector's push queue (pycti's message format):
   * imports the bundle and reports one expectation; an error text for an unreadable message.
   */
  importQueued(connectorId: string, body: string): Promise<string | undefined> {
    return this.#importer.importQueued(connectorId, body);
  }
}
