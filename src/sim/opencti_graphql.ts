/**
 * The OpenCTI simulator's GraphQL side (`POST /graphql`), as `reference/opencti.md` §1, §2 and §8
 * describe: bearer check, per-version validation, connectors and their state, works,
 * `stixBundlePush` with asynchronous import into the store, lookups, both error layouts, every
 * call recorded, and failure injection.
 */
import { Hono } from "hono";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { StixBundle, StixObject } from "../stix/types.ts";
import {
  externalReferenceId,
  standardIdOf,
  SUPPORTED_ID_TYPES,
  TLP_MARKING_IDS as TLP_IDS,
} from "./opencti_ids.ts";
import { uuidV5 } from "../stix/uuid.ts";
import { entityTypeOf, extensionOf, type OpenCtiStore, SIM_USER_ID } from "./opencti_store.ts";
import { SIM_TOKEN } from "./opencti_stream.ts";
import {
  type FieldNode,
  type OperationNode,
  parseOperation,
  resolveValue,
} from "./opencti_graphql_parser.ts";

/** How GraphQL errors are laid out (§1.1). */
export type ErrorLayout = "classic" | "modern" | "combined";

/** Platform versions from which optional parts of the schema exist. */
export interface SimFeatures {
  /** `pingConnector(connectorInfo:)` and `Connector.connector_info`. @default "6.2.12" */
  connectorInfo?: string;
  /** `stixBundlePush`. @default "6.3.0" */
  stixBundlePush?: string;
  /** `stixBundlePush(work_id:)`. @default "6.5.7" */
  workId?: string;
  /** `RegisterConnectorInput.auto_update` and `enrichment_resolution`. @default "6.8.9" */
  autoUpdate?: string;
}

/** Options of {@linkcode OpenCtiGraphqlSim}. */
export interface OpenCtiGraphqlSimOptions {
  /** Accepted API tokens. @default [SIM_TOKEN] */
  tokens?: readonly string[];
  /** The simulated platform version (`about { version }` and schema gates). @default "6.8.10" */
  version?: string;
  /** Schema gates by version. @default see {@linkcode SimFeatures} */
  features?: SimFeatures;
  /** Error layout of GraphQL errors. @default "combined" */
  errorLayout?: ErrorLayout;
  /** Queue size reported by `connector(id)` for every connector, in bytes. @default 0 */
  queueSizeBytes?: number;
  /** Largest accepted request body in bytes (`app:max_payload_body_size`). @default 52428800 */
  maxPayloadBytes?: number;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep used by injected delays. @default a real timer */
  sleep?: Sleep;
}

/** A connector as the simulated platform stores it. */
export interface SimConnector {
  /** Connector id. */
  id: string;
  /** Name. */
  name: string;
  /** `STREAM`, `EXTERNAL_IMPORT`, … */
  connector_type: string;
  /** Scope entries. */
  connector_scope: string[];
  /** Flags as registered. */
  auto: boolean;
  /** Flags as registered. */
  only_contextual: boolean;
  /** Flags as registered. */
  playbook_compatible: boolean;
  /** Callback URI as registered. */
  listen_callback_uri: string | null;
  /** Opaque state string (`null` when new). */
  connector_state: string | null;
  /** Set by `resetStateConnector`, cleared by the next ping. */
  connector_state_reset: boolean;
  /** Last `connectorInfo` received. */
  connector_info: Record<string, unknown> | null;
  /** The calling user. */
  connector_user_id: string;
  /** ISO dates. */
  created_at: string;
  /** ISO date of the last registration or stored ping. */
  updated_at: string;
  /** Queue size override in bytes. */
  queue_size_bytes?: number;
}

/** One message or error of a work. */
export interface SimWorkMessage {
  /** ISO date. */
  timestamp: string;
  /** Text. */
  message: string;
  /** Position in the list. */
  sequence: number;
  /** Where it came from. */
  source: string | null;
}

/** A work as the simulated platform stores it. */
export interface SimWork {
  /** `work_<connector id>_<ISO ms Z>`. */
  id: string;
  /** Friendly name. */
  name: string | null;
  /** The connector id. */
  event_source_id: string;
  /** ISO creation date. */
  timestamp: string;
  /** `wait`, `progress`, `complete` or `timeout`. */
  status: "wait" | "progress" | "complete" | "timeout";
  /** ISO dates. */
  received_time: string | null;
  /** ISO dates. */
  processed_time: string | null;
  /** ISO dates. */
  completed_time: string | null;
  /** Expected imports. */
  import_expected_number: number;
  /** Reported imports. */
  import_processed_number: number;
  /** ISO date of the last reported import. */
  import_last_processed: string | null;
  /** Messages. */
  messages: SimWorkMessage[];
  /** Errors (max 100 kept). */
  errors: SimWorkMessage[];
  /** ISO date of the last change or ping. */
  updated_at: string;
}

/** One recorded GraphQL call. */
export interface GraphqlCall {
  /** Epoch ms. */
  at: number;
  /** `query` or `mutation` (undefined when unparsable). */
  type: string | undefined;
  /** Operation name. */
  operationName: string | undefined;
  /** Top-level field names. */
  fields: string[];
  /** The operation text. */
  query: string;
  /** Variables as sent. */
  variables: Record<string, unknown>;
  /** HTTP status answered. */
  status: number;
  /** Error names answered, if any. */
  errors: string[];
}

/** One recorded ping. */
export interface PingRecord {
  /** Epoch ms. */
  at: number;
  /** Connector id. */
  connectorId: string;
  /** State string sent. */
  state: string | null;
  /** `connectorInfo` sent. */
  connectorInfo: Record<string, unknown> | null;
  /** True when the reset flag made the platform ignore `state`. */
  resetApplied: boolean;
  /** State answered. */
  answeredState: string | null;
}

/** One bundle received by `stixBundlePush`. */
export interface ReceivedBundle {
  /** Epoch ms. */
  at: number;
  /** Connector id. */
  connectorId: string;
  /** The work it went to. */
  workId: string;
  /** The parsed bundle. */
  bundle: StixBundle;
}

/** An injected failure for chosen operations. */
export interface GraphqlFailure {
  /** Top-level field it applies to. @default any */
  field?: string;
  /** Answer with this HTTP status (body `Injected failure`). */
  status?: number;
  /** Answer with this GraphQL error (HTTP 200). */
  error?: { name: string; reason: string };
  /** Wait this long first (injected sleep), then answer normally unless `status`/`error`. */
  delayMs?: number;
  /** How many requests it applies to (`-1` = until cleared). @default 1 */
  times?: number;
}

/** A GraphQL error raised by a resolver (rendered in the configured layout). */
export class SimGraphqlError extends Error {
  /** The error's name. */
  override name = "SimGraphqlError";
  /** Platform error name, e.g. `FunctionalError`. */
  readonly errorName: string;
  /** The specific reason. */
  readonly reason: string;
  /** Inner reason, if any. */
  readonly detail: string | undefined;

  /** Builds the error. */
  constructor(errorName: string, reason: string, detail?: string) {
    super(reason);
    this.errorName = errorName;
    this.reason = reason;
    this.detail = detail;
  }
}

/** A request refused before execution (HTTP 400, `GRAPHQL_VALIDATION_FAILED`/`BAD_USER_INPUT`). */
class ValidationError extends Error {
  /** The error's name. */
  override name = "ValidationError";
  readonly code: string;
  constructor(message: string, code = "GRAPHQL_VALIDATION_FAILED") {
    super(message);
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Schema (the subset the connectors use, with version gates)

type Gate = keyof SimFeatures;
interface ArgDef {
  required?: boolean;
  input?: string;
  gate?: Gate;
}
interface FieldDef {
  type?: string;
  args?: Record<string, ArgDef>;
  gate?: Gate;
}

const PAGE_ARGS: Record<string, ArgDef> = {
  first: {},
  after: {},
  orderBy: {},
  orderMode: {},
  filters: { input: "FilterGroup" },
  search: {},
};

const SCHEMA: Record<string, Record<string, FieldDef>> = {
  Query: {
    about: { type: "AppInfo" },
    connector: { type: "Connector", args: { id: { required: true } } },
    connectors: { type: "Connector" },
    work: { type: "Work", args: { id: { required: true } } },
    works: { type: "WorkConnection", args: PAGE_ARGS },
    externalReferences: { type: "ExternalReferenceConnection", args: PAGE_ARGS },
    stixDomainObjects: { type: "StixObjectConnection", args: { ...PAGE_ARGS, types: {} } },
    stixCyberObservables: {
      type: "StixObjectConnection",
      args: { ...PAGE_ARGS, types: {}, toStix: {} },
    },
    // The object's STIX 2.1 representation as a JSON string (null when absent).
    stixCoreObjectRaw: { args: { id: { required: true } } },
  },
  Mutation: {
    registerConnector: { type: "Connector", args: { input: { input: "RegisterConnectorInput" } } },
    pingConnector: {
      type: "Connector",
      args: {
        id: { required: true },
        state: {},
        connectorInfo: { input: "ConnectorInfoInput", gate: "connectorInfo" },
      },
    },
    resetStateConnector: { type: "Connector", args: { id: { required: true } } },
    workAdd: { type: "Work", args: { connectorId: { required: true }, friendlyName: {} } },
    workEdit: { type: "WorkEditMutations", args: { id: { required: true } } },
    externalReferenceAdd: {
      type: "ExternalReference",
      args: { input: { required: true, input: "ExternalReferenceAddInput" } },
    },
    stixDomainObjectEdit: {
      type: "StixDomainObjectEditMutations",
      args: { id: { required: true } },
    },
    stixBundlePush: {
      gate: "stixBundlePush",
      args: {
        connectorId: { required: true },
        bundle: { required: true },
        work_id: { gate: "workId" },
      },
    },
  },
  AppInfo: { version: {} },
  Connector: {
    id: {},
    name: {},
    active: {},
    auto: {},
    only_contextual: {},
    playbook_compatible: {},
    listen_callback_uri: {},
    connector_type: {},
    connector_scope: {},
    connector_state: {},
    connector_user_id: {},
    created_at: {},
    updated_at: {},
    config: { type: "ConnectorConfig" },
    connector_info: { type: "ConnectorInfo", gate: "connectorInfo" },
    connector_queue_details: { type: "QueueDetails" },
  },
  ConnectorConfig: {
    connection: { type: "RabbitMQConnection" },
    listen: {},
    listen_routing: {},
    listen_exchange: {},
    push: {},
    push_routing: {},
    push_exchange: {},
  },
  RabbitMQConnection: { host: {}, vhost: {}, use_ssl: {}, port: {}, user: {}, pass: {} },
  ConnectorInfo: {
    run_and_terminate: {},
    buffering: {},
    queue_threshold: {},
    queue_messages_size: {},
    next_run_datetime: {},
    last_run_datetime: {},
  },
  QueueDetails: { messages_number: {}, messages_size: {} },
  Work: {
    id: {},
    name: {},
    timestamp: {},
    status: {},
    event_source_id: {},
    received_time: {},
    processed_time: {},
    completed_time: {},
    completed_number: {},
    messages: { type: "WorkMessage" },
    errors: { type: "WorkMessage" },
    tracking: { type: "WorkTracking" },
    draft_context: {},
  },
  WorkMessage: { timestamp: {}, message: {}, sequence: {}, source: {} },
  WorkTracking: {
    import_expected_number: {},
    import_last_processed: {},
    import_processed_number: {},
  },
  WorkConnection: { edges: { type: "WorkEdge" }, pageInfo: { type: "PageInfo" } },
  WorkEdge: { node: { type: "Work" }, cursor: {} },
  WorkEditMutations: {
    delete: {},
    ping: {},
    reportExpectation: { args: { error: { input: "WorkErrorInput" } } },
    addExpectations: { args: { expectations: {} } },
    addDraftContext: { args: { draftContext: {} } },
    toReceived: { args: { message: {} } },
    toProcessed: { args: { message: {}, inError: {} } },
  },
  StixDomainObjectEditMutations: {
    relationAdd: {
      type: "StixRefRelationship",
      args: { input: { required: true, input: "StixRefRelationshipAddInput" } },
    },
  },
  StixRefRelationship: { id: {}, standard_id: {}, entity_type: {}, relationship_type: {} },
  ExternalReferenceConnection: {
    edges: { type: "ExternalReferenceEdge" },
    pageInfo: { type: "PageInfo" },
  },
  ExternalReferenceEdge: { node: { type: "ExternalReference" }, cursor: {} },
  ExternalReference: {
    id: {},
    standard_id: {},
    entity_type: {},
    source_name: {},
    description: {},
    url: {},
    external_id: {},
    created_at: {},
    updated_at: {},
  },
  StixObjectConnection: { edges: { type: "StixObjectEdge" }, pageInfo: { type: "PageInfo" } },
  StixObjectEdge: { node: { type: "StixObjectNode" }, cursor: {} },
  StixObjectNode: {
    id: {},
    standard_id: {},
    entity_type: {},
    parent_types: {},
    created_at: {},
    updated_at: {},
    x_opencti_stix_ids: {},
    name: {},
    observable_value: {},
  },
  PageInfo: {
    startCursor: {},
    endCursor: {},
    hasNextPage: {},
    hasPreviousPage: {},
    globalCount: {},
  },
};

interface InputFieldDef {
  required?: boolean;
  input?: string;
  gate?: Gate;
}

const INPUTS: Record<string, Record<string, InputFieldDef>> = {
  RegisterConnectorInput: {
    id: { required: true },
    name: { required: true },
    type: { required: true },
    scope: {},
    auto: {},
    only_contextual: {},
    playbook_compatible: {},
    listen_callback_uri: {},
    auto_update: { gate: "autoUpdate" },
    enrichment_resolution: { gate: "autoUpdate" },
  },
  ConnectorInfoInput: {
    run_and_terminate: { required: true },
    buffering: { required: true },
    queue_threshold: { required: true },
    queue_messages_size: { required: true },
    next_run_datetime: {},
    last_run_datetime: {},
  },
  WorkErrorInput: { error: {}, source: {} },
  ExternalReferenceAddInput: {
    stix_id: {},
    source_name: { required: true },
    description: {},
    url: {},
    hash: {},
    external_id: {},
    created: {},
    modified: {},
    x_opencti_stix_ids: {},
    update: {},
  },
  StixRefRelationshipAddInput: {
    fromId: {},
    toId: { required: true },
    relationship_type: { required: true },
  },
  FilterGroup: {
    mode: { required: true },
    filters: { required: true, input: "Filter" },
    filterGroups: { required: true, input: "FilterGroup" },
  },
  Filter: { key: { required: true }, values: { required: true }, operator: {}, mode: {} },
};

const CONNECTOR_TYPES = new Set([
  "EXTERNAL_IMPORT",
  "INTERNAL_IMPORT_FILE",
  "INTERNAL_ENRICHMENT",
  "INTERNAL_ANALYSIS",
  "INTERNAL_EXPORT_FILE",
  "STREAM",
]);

const GENERIC_MESSAGES: Record<string, string> = {
  UnsupportedError: "Unsupported operation",
  FunctionalError: "Business validation",
  AuthRequired: "You must be logged in to do this.",
  ForbiddenAccess: "You are not allowed to do this.",
};

const HTTP_STATUS: Record<string, number> = {
  UnsupportedError: 500,
  FunctionalError: 500,
  AuthRequired: 401,
  ForbiddenAccess: 403,
};

const SCO_TYPES = new Set([
  "ipv4-addr",
  "ipv6-addr",
  "domain-name",
  "hostname",
  "url",
  "email-addr",
  "email-message",
  "file",
  "artifact",
  "mac-addr",
  "user-account",
  "x509-certificate",
  "autonomous-system",
  "directory",
  "mutex",
  "software",
  "process",
  "network-traffic",
  "windows-registry-key",
  "user-agent",
  "text",
  "phone-number",
  "cryptographic-key",
  "cryptocurrency-wallet",
  "credential",
  "tracking-number",
  "bank-account",
]);
const NOT_SDO = new Set(["relationship", "sighting", "marking-definition"]);
const OBSERVABLE_EXTENSION = "extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82";
const INTERNAL_NAMESPACE = "b639ff3b-00eb-42ed-aa36-a8dd6f8fb4cf";

/** `UnsupportedError` → `UNSUPPORTED_ERROR`. */
function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

function compareVersions(a: string, b: string): number {
  const parse = (v: string) => (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(v) ?? []).slice(1).map(Number);
  const left = parse(a);
  const right = parse(b);
  for (let i = 0; i < 3; i++) {
    const diff = (left[i] || 0) - (right[i] || 0);
    if (diff !== 0) return diff;
  }
  return 0;
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
  readonly #tokens: Set<string>;
  readonly #features: Required<SimFeatures>;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #failures: GraphqlFailure[] = [];
  readonly #objectFailures = new Map<string, string>();
  #objectFailure: ((object: StixObject) => string | undefined) | undefined;
  #imports: Promise<void> = Promise.resolve();
  #pendingImports = 0;
  #holdImports = false;
  readonly #held: (() => void)[] = [];
  readonly #resolvers: Record<string, Resolver>;
  /** External references created by `externalReferenceAdd`, by standard id (until attached they live only here). */
  readonly #standaloneReferences = new Map<string, Record<string, string>>();

  /** Creates the GraphQL side over `store`. */
  constructor(store: OpenCtiStore, options: OpenCtiGraphqlSimOptions = {}) {
    this.store = store;
    this.version = options.version ?? "6.8.10";
    this.errorLayout = options.errorLayout ?? "combined";
    this.queueSizeBytes = options.queueSizeBytes ?? 0;
    this.#tokens = new Set(options.tokens ?? [SIM_TOKEN]);
    this.#features = {
      connectorInfo: "6.2.12",
      stixBundlePush: "6.3.0",
      workId: "6.5.7",
      autoUpdate: "6.8.9",
      ...options.features,
    };
    this.maxPayloadBytes = options.maxPayloadBytes ?? 50 * 1024 * 1024;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
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
    this.#objectFailures.clear();
    this.#objectFailure = undefined;
  }

  /** Makes the import of the object with this (incoming or standard) id fail with `message`. */
  failObject(id: string, message = "Simulated import failure"): void {
    this.#objectFailures.set(id, message);
  }

  /** Decides per object whether its import fails (return the error message) or not. */
  failObjectsWhere(predicate: ((object: StixObject) => string | undefined) | undefined): void {
    this.#objectFailure = predicate;
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
    this.#holdImports = true;
  }

  /** Lets held imports run. */
  releaseImports(): void {
    this.#holdImports = false;
    for (const release of this.#held.splice(0)) release();
  }

  /** Number of bundles queued or importing. */
  get pendingImports(): number {
    return this.#pendingImports;
  }

  /** Resolves once every queued bundle is imported (call {@linkcode releaseImports} first when held). */
  async settled(): Promise<void> {
    let current;
    do {
      current = this.#imports;
      await current;
    } while (current !== this.#imports);
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
      this.#validate(operation);
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

  #validate(operation: OperationNode): void {
    const rootType = operation.type === "mutation" ? "Mutation" : "Query";
    const visit = (type: string, fields: FieldNode[]) => {
      for (const field of fields) {
        if (field.name === "__typename") continue;
        const def = SCHEMA[type]?.[field.name];
        if (!def || (def.gate && !this.has(def.gate))) {
          throw new ValidationError(`Cannot query field "${field.name}" on type "${type}".`);
        }
        for (const arg of field.args.keys()) {
          const argDef = def.args?.[arg];
          if (!argDef || (argDef.gate && !this.has(argDef.gate))) {
            throw new ValidationError(
              `Unknown argument "${arg}" on field "${type}.${field.name}".`,
            );
          }
        }
        for (const [arg, argDef] of Object.entries(def.args ?? {})) {
          if (argDef.required && !field.args.has(arg)) {
            throw new ValidationError(
              `Field "${field.name}" argument "${arg}" is required, but it was not provided.`,
            );
          }
        }
        for (const value of field.args.values()) {
          if (value.kind === "variable" && !operation.variables.has(value.name)) {
            throw new ValidationError(`Variable "$${value.name}" is not defined.`);
          }
        }
        if (def.type && !field.selections) {
          throw new ValidationError(
            `Field "${field.name}" of type "${def.type}" must have a selection of subfields.`,
          );
        }
        if (!def.type && field.selections) {
          throw new ValidationError(
            `Field "${field.name}" must not have a selection since its type has no subfields.`,
          );
        }
        if (def.type && field.selections) visit(def.type, field.selections);
      }
    };
    visit(rootType, operation.selections);
  }

  #checkInput(typeName: string, value: unknown, variable: string): void {
    if (value === null || value === undefined) return;
    const def = INPUTS[typeName];
    if (!def) return;
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      if (!isRecord(item)) {
        throw new ValidationError(
          `Variable "${variable}" got invalid value ${
            JSON.stringify(item)
          }; Expected type "${typeName}" to be an object.`,
          "BAD_USER_INPUT",
        );
      }
      for (const key of Object.keys(item)) {
        const field = def[key];
        if (!field || (field.gate && !this.has(field.gate))) {
          throw new ValidationError(
            `Variable "${variable}" got invalid value ${
              JSON.stringify(item)
            }; Field "${key}" is not defined by type "${typeName}".`,
            "BAD_USER_INPUT",
          );
        }
        if (field.input) this.#checkInput(field.input, item[key], variable);
      }
      for (const [key, field] of Object.entries(def)) {
        if (field.required && (item[key] === undefined || item[key] === null)) {
          throw new ValidationError(
            `Variable "${variable}" got invalid value ${
              JSON.stringify(item)
            }; Field "${key}" of required type was not provided.`,
            "BAD_USER_INPUT",
          );
        }
      }
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
    if (field.name === "__typename") return type;
    const def = SCHEMA[type]![field.name]!;
    const args: Record<string, unknown> = {};
    for (const [name, node] of field.args) {
      const value = resolveValue(node, variables, operation.variables);
      const argDef = def.args?.[name];
      if (argDef?.input) {
        this.#checkInput(argDef.input, value, node.kind === "variable" ? `$${node.name}` : name);
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
      for (const sub of field.selections!) {
        out[sub.key] = await this.#resolveField(def.type!, sub, item, operation, variables, [
          ...itemPath,
          sub.key,
        ], errors);
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

  #connectorView(connector: SimConnector): Record<string, unknown> {
    const queueBytes = connector.queue_size_bytes ?? this.queueSizeBytes;
    const prefix = connector.id;
    return {
      ...connector,
      active: this.#now() - Date.parse(connector.updated_at) < 5 * 60_000,
      config: {
        connection: {
          host: "rabbitmq",
          vhost: "/",
          use_ssl: false,
          port: 5672,
          user: "opencti",
          pass: "changeme",
        },
        listen: `listen_${prefix}`,
        listen_routing: `listen_routing_${prefix}`,
        listen_exchange: "amqp.connector.exchange",
        push: `push_${prefix}`,
        push_routing: `push_routing_${prefix}`,
        push_exchange: "amqp.worker.exchange",
      },
      connector_queue_details: {
        messages_number: queueBytes > 0 ? Math.max(1, Math.round(queueBytes / 2000)) : 0,
        messages_size: queueBytes,
      },
    };
  }

  #workView(work: SimWork): Record<string, unknown> {
    return {
      ...work,
      completed_number: work.import_processed_number,
      tracking: {
        import_expected_number: work.import_expected_number,
        import_processed_number: work.import_processed_number,
        import_last_processed: work.import_last_processed,
      },
      draft_context: null,
    };
  }

  #connector(id: unknown): SimConnector {
    const connector = typeof id === "string" ? this.connectors.get(id) : undefined;
    if (!connector) {
      throw new SimGraphqlError("FunctionalError", "No connector found with the specified ID");
    }
    return connector;
  }

  /** Creates a work (also used by `stixBundlePush` without `work_id`). */
  #addWork(connectorId: string, name: string | null): SimWork {
    let ms = this.#now();
    let id = `work_${connectorId}_${new Date(ms).toISOString()}`;
    while (this.works.has(id)) id = `work_${connectorId}_${new Date(++ms).toISOString()}`;
    const now = this.#iso();
    const work: SimWork = {
      id,
      name,
      event_source_id: connectorId,
      timestamp: now,
      status: "wait",
      received_time: null,
      processed_time: null,
      completed_time: null,
      import_expected_number: 0,
      import_processed_number: 0,
      import_last_processed: null,
      messages: [],
      errors: [],
      updated_at: now,
    };
    this.works.set(id, work);
    return work;
  }

  #pushMessage(list: SimWorkMessage[], message: string, source: string | null = null): void {
    list.push({ timestamp: this.#iso(), message, sequence: list.length, source });
    if (list.length > 100) list.splice(0, list.length - 100);
  }

  #addExpectations(work: SimWork, count: number): void {
    work.import_expected_number += count;
    work.updated_at = this.#iso();
  }

  #reportExpectation(work: SimWork, error?: { error?: unknown; source?: unknown }): void {
    work.import_processed_number += 1;
    work.import_last_processed = this.#iso();
    if (error && (error.error !== undefined || error.source !== undefined)) {
      this.#pushMessage(
        work.errors,
        String(error.error ?? "Unknown error"),
        error.source === undefined || error.source === null ? null : String(error.source),
      );
    }
    if (work.import_processed_number >= work.import_expected_number && work.status !== "complete") {
      work.status = "complete";
      work.completed_time = this.#iso();
    }
    work.updated_at = this.#iso();
  }

  #buildResolvers(): Record<string, Resolver> {
    const work = (id: unknown): SimWork | undefined =>
      typeof id === "string" ? this.works.get(id) : undefined;
    const editedWork = (parent: unknown): SimWork => {
      const found = work(asRecord(parent).id);
      if (!found) throw new SimGraphqlError("FunctionalError", "Work not found");
      return found;
    };
    return {
      "Query.about": () => ({ version: this.version }),
      "Query.connector": ({ id }) => {
        const connector = typeof id === "string" ? this.connectors.get(id) : undefined;
        return connector ? this.#connectorView(connector) : null;
      },
      "Query.connectors": () => [...this.connectors.values()].map((c) => this.#connectorView(c)),
      "Query.work": ({ id }) => {
        const found = work(id);
        return found ? this.#workView(found) : null;
      },
      "Query.works": ({ first, filters }) => {
        const items = [...this.works.values()].filter((w) =>
          matchesGroup(filters, (key) => {
            if (key === "connector_id" || key === "event_source_id") return [w.event_source_id];
            if (key === "status") return [w.status];
            if (key === "name") return w.name === null ? [] : [w.name];
            if (key === "id") return [w.id];
            throw unsupportedFilter(key);
          })
        ).reverse();
        return connection(items.map((w) => this.#workView(w)), first);
      },
      "Query.externalReferences": async ({ first, filters }) => {
        const references = await this.#externalReferences();
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
      "Query.stixCoreObjectRaw": ({ id }) => {
        const object = typeof id === "string" ? this.store.get(id) : undefined;
        return object ? JSON.stringify(object) : null;
      },
      "Query.stixDomainObjects": ({ first, filters, types }) =>
        this.#entities(false, first, filters, types),
      "Query.stixCyberObservables": ({ first, filters, types }) =>
        this.#entities(true, first, filters, types),
      "Mutation.registerConnector": ({ input }) => {
        const data = asRecord(input);
        const id = data.id;
        const name = data.name;
        if (typeof id !== "string" || id === "") {
          throw new SimGraphqlError("FunctionalError", "Connector id is required");
        }
        if (typeof name !== "string" || name.trim().length < 2) {
          throw new SimGraphqlError(
            "FunctionalError",
            "Connector name must have at least 2 characters",
          );
        }
        if (typeof data.type !== "string" || !CONNECTOR_TYPES.has(data.type)) {
          throw new ValidationError(
            `Variable "$input" got invalid value ${
              JSON.stringify(data.type)
            } at "input.type"; Value ${
              JSON.stringify(data.type)
            } does not exist in "ConnectorType" enum.`,
            "BAD_USER_INPUT",
          );
        }
        const now = this.#iso();
        const existing = this.connectors.get(id);
        const scope = Array.isArray(data.scope)
          ? data.scope.filter((s): s is string => typeof s === "string")
          : typeof data.scope === "string"
          ? data.scope.split(",")
          : [];
        const connector: SimConnector = {
          id,
          name,
          connector_type: data.type,
          connector_scope: scope,
          auto: data.auto === true,
          only_contextual: data.only_contextual === true,
          playbook_compatible: data.playbook_compatible === true,
          listen_callback_uri: typeof data.listen_callback_uri === "string"
            ? data.listen_callback_uri
            : null,
          connector_state: existing?.connector_state ?? null,
          connector_state_reset: existing?.connector_state_reset ?? false,
          connector_info: existing?.connector_info ?? null,
          connector_user_id: SIM_USER_ID,
          created_at: existing?.created_at ?? now,
          updated_at: now,
          ...(existing?.queue_size_bytes !== undefined
            ? { queue_size_bytes: existing.queue_size_bytes }
            : {}),
        };
        this.connectors.set(id, connector);
        return this.#connectorView(connector);
      },
      "Mutation.pingConnector": ({ id, state, connectorInfo }) => {
        const connector = this.#connector(id);
        const sent = typeof state === "string" ? state : null;
        const resetApplied = connector.connector_state_reset;
        if (resetApplied) {
          connector.connector_state_reset = false;
          connector.connector_state = "";
        } else {
          if (state !== undefined) connector.connector_state = sent;
          connector.updated_at = this.#iso();
        }
        if (isRecord(connectorInfo)) connector.connector_info = { ...connectorInfo };
        this.pings.push({
          at: this.#now(),
          connectorId: connector.id,
          state: sent,
          connectorInfo: isRecord(connectorInfo) ? { ...connectorInfo } : null,
          resetApplied,
          answeredState: connector.connector_state,
        });
        return this.#connectorView(connector);
      },
      "Mutation.resetStateConnector": ({ id }) => {
        const connector = this.#connector(id);
        this.resetState(connector.id);
        return this.#connectorView(connector);
      },
      "Mutation.workAdd": ({ connectorId, friendlyName }) => {
        const connector = this.#connector(connectorId);
        return this.#workView(
          this.#addWork(connector.id, typeof friendlyName === "string" ? friendlyName : null),
        );
      },
      "Mutation.workEdit": ({ id }) => {
        const found = work(id);
        if (!found) throw new SimGraphqlError("FunctionalError", "Work not found");
        return { id: found.id };
      },
      "WorkEditMutations.delete": (_args, parent) => {
        const found = editedWork(parent);
        this.works.delete(found.id);
        return found.id;
      },
      "WorkEditMutations.ping": (_args, parent) => {
        const found = editedWork(parent);
        found.updated_at = this.#iso();
        return found.id;
      },
      "WorkEditMutations.addDraftContext": (_args, parent) => editedWork(parent).id,
      "WorkEditMutations.toReceived": ({ message }, parent) => {
        const found = editedWork(parent);
        found.status = "progress";
        found.received_time = this.#iso();
        if (typeof message === "string" && message !== "") {
          this.#pushMessage(found.messages, message);
        }
        found.updated_at = this.#iso();
        return found.id;
      },
      "WorkEditMutations.toProcessed": ({ message, inError }, parent) => {
        const found = editedWork(parent);
        found.processed_time = this.#iso();
        if (typeof message === "string" && message !== "") {
          this.#pushMessage(inError === true ? found.errors : found.messages, message);
        }
        if (
          found.import_expected_number === 0 ||
          found.import_processed_number >= found.import_expected_number
        ) {
          if (found.status !== "complete") {
            found.status = "complete";
            found.completed_time = this.#iso();
          }
        } else {
          found.status = "progress";
        }
        found.updated_at = this.#iso();
        return found.id;
      },
      "WorkEditMutations.addExpectations": ({ expectations }, parent) => {
        const found = editedWork(parent);
        this.#addExpectations(found, typeof expectations === "number" ? expectations : 0);
        return found.id;
      },
      "WorkEditMutations.reportExpectation": ({ error }, parent) => {
        const found = editedWork(parent);
        this.#reportExpectation(found, isRecord(error) ? error : undefined);
        return found.id;
      },
      "Mutation.stixBundlePush": ({ connectorId, bundle, work_id }) =>
        this.#stixBundlePush(connectorId, bundle, work_id),
      "Mutation.externalReferenceAdd": ({ input }) => this.#externalReferenceAdd(asRecord(input)),
      "Mutation.stixDomainObjectEdit": ({ id }) => {
        const object = typeof id === "string" ? this.store.get(id) : undefined;
        if (!object || SCO_TYPES.has(object.type) || NOT_SDO.has(object.type)) {
          throw new SimGraphqlError("FunctionalError", "Cannot find the object to update");
        }
        return { id: object.id };
      },
      "StixDomainObjectEditMutations.relationAdd": ({ input }, parent) =>
        this.#relationAdd(String(asRecord(parent).id), asRecord(input)),
    };
  }

  #stixBundlePush(connectorId: unknown, bundleText: unknown, workId: unknown): boolean {
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
      ? this.connectors.get(connectorId)
      : undefined;
    if (!connector) {
      throw new SimGraphqlError("UnsupportedError", "Invalid bundle", "Invalid connector");
    }
    const objects = (bundle.objects as unknown[]).filter(isRecord) as StixObject[];
    let target: SimWork | undefined;
    let createdHere = false;
    if (typeof workId === "string" && workId !== "") {
      target = this.works.get(workId);
    } else {
      target = this.#addWork(connector.id, `${connector.name} run @ ${this.#iso()}`);
      target.status = "progress";
      target.received_time = this.#iso();
      createdHere = true;
      if (objects.length === 1) this.#addExpectations(target, 1);
    }
    const received: ReceivedBundle = {
      at: this.#now(),
      connectorId: connector.id,
      workId: target?.id ?? String(workId),
      bundle: { type: "bundle", id: String(bundle.id ?? ""), objects },
    };
    this.bundles.push(received);
    this.#enqueue(objects, target, createdHere);
    return true;
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
    if (work && !(createdHere && objects.length === 1)) this.#addExpectations(work, objects.length);
    const ordered = dependencyOrder(objects);
    const resolved = new Map<string, string>();
    for (const id of Object.values(TLP_IDS)) resolved.set(id, id);
    const resolveRef = (ref: string): string | undefined =>
      resolved.get(ref) ?? this.store.get(ref)?.id;
    for (const object of ordered) {
      const error = await this.#importOne(object, resolveRef, resolved);
      if (work) {
        this.#reportExpectation(
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

  /** `externalReferenceAdd`: creates (or upserts, by standard id) a standalone external reference. */
  async #externalReferenceAdd(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const fields: Record<string, string> = {};
    for (const key of ["source_name", "description", "url", "external_id"]) {
      if (typeof input[key] === "string") fields[key] = input[key] as string;
    }
    if (fields.source_name === undefined || fields.source_name.trim() === "") {
      throw new SimGraphqlError("FunctionalError", "Missing required elements for creation");
    }
    const standardId = await externalReferenceId(fields);
    const existing = (await this.#externalReferences()).find((r) => r.standard_id === standardId);
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
  async #relationAdd(
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
      ) ?? (await this.#externalReferences()).find((r) => r.id === toId || r.standard_id === toId);
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
    const carried = (await this.#externalReferences()).some((r) =>
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

  async #externalReferences(): Promise<
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

  async #entities(
    observables: boolean,
    first: unknown,
    filters: unknown,
    types: unknown,
  ): Promise<Record<string, unknown>> {
    const references = await this.#externalReferences();
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
    }).map((object) => {
      const ext = extensionOf(object);
      return {
        id: ext?.id ?? object.id,
        standard_id: object.id,
        entity_type: entityTypeOf(object),
        parent_types: [observables ? "Stix-Cyber-Observable" : "Stix-Domain-Object"],
        created_at: ext?.created_at ?? null,
        updated_at: ext?.updated_at ?? null,
        x_opencti_stix_ids: Array.isArray(ext?.stix_ids) ? ext.stix_ids : [],
        name: typeof object.name === "string" ? object.name : null,
        observable_value: typeof object.value === "string" ? object.value : null,
      };
    });
    return connection(items, first);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function unsupportedFilter(key: string): SimGraphqlError {
  return new SimGraphqlError(
    "UnsupportedError",
    "incorrect filter keys not existing in any schema definition",
    key,
  );
}

/** `{edges:[{node, cursor}], pageInfo}` of the first `first` items. */
function connection(items: unknown[], first: unknown): Record<string, unknown> {
  const limit = typeof first === "number" && first >= 0 ? first : 500;
  const page = items.slice(0, limit);
  return {
    edges: page.map((node, index) => ({ node, cursor: btoa(String(index)) })),
    pageInfo: {
      startCursor: page.length ? btoa("0") : null,
      endCursor: page.length ? btoa(String(page.length - 1)) : null,
      hasNextPage: items.length > page.length,
      hasPreviousPage: false,
      globalCount: items.length,
    },
  };
}

/** Evaluates an OpenCTI `FilterGroup` against an item whose values per key come from `valuesOf`. */
export function matchesGroup(group: unknown, valuesOf: (key: string) => string[]): boolean {
  if (!isRecord(group)) return true;
  const mode = group.mode === "or" ? "or" : "and";
  const filters = Array.isArray(group.filters) ? group.filters : [];
  const groups = Array.isArray(group.filterGroups) ? group.filterGroups : [];
  const results = [
    ...filters.map((filter) => matchesFilter(filter, valuesOf)),
    ...groups.map((sub) => matchesGroup(sub, valuesOf)),
  ];
  if (results.length === 0) return true;
  return mode === "and" ? results.every(Boolean) : results.some(Boolean);
}

function matchesFilter(filter: unknown, valuesOf: (key: string) => string[]): boolean {
  const f = asRecord(filter);
  const keys = Array.isArray(f.key) ? f.key.map(String) : [String(f.key)];
  const wanted = Array.isArray(f.values) ? f.values.map(String) : [String(f.values)];
  const operator = typeof f.operator === "string" ? f.operator : "eq";
  const mode = f.mode === "and" ? "and" : "or";
  const actual = keys.flatMap((key) => valuesOf(key));
  const test = (value: string): boolean => {
    switch (operator) {
      case "eq":
        return actual.includes(value);
      case "not_eq":
        return !actual.includes(value);
      case "starts_with":
        return actual.some((a) => a.startsWith(value));
      case "contains":
        return actual.some((a) => a.includes(value));
      default:
        throw new SimGraphqlError("UnsupportedError", `Unsupported filter operator: ${operator}`);
    }
  };
  if (operator === "nil") return actual.length === 0;
  if (operator === "not_nil") return actual.length > 0;
  return mode === "and" ? wanted.every(test) : wanted.some(test);
}

/** The external references an object carries (top level, or in the observable extension). */
function referencesOf(object: StixObject): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const add = (list: unknown) => {
    if (Array.isArray(list)) { for (const item of list) if (isRecord(item)) out.push(item); }
  };
  add(object.external_references);
  add(object.x_opencti_external_references);
  const extensions = asRecord(object.extensions);
  add(asRecord(extensions[OBSERVABLE_EXTENSION]).external_references);
  return out;
}

/** Top-level `*_ref`/`*_refs` of an object rewritten through `map`. */
function rewriteRefs(object: StixObject, map: (ref: string) => string): StixObject {
  const out: StixObject = { ...object };
  for (const [key, value] of Object.entries(object)) {
    if (key.endsWith("_ref") && typeof value === "string") out[key] = map(value);
    else if (key.endsWith("_refs") && Array.isArray(value)) {
      out[key] = value.map((ref) => typeof ref === "string" ? map(ref) : ref);
    }
  }
  return out;
}

/** Objects ordered so that each comes after the in-bundle objects it references. */
function dependencyOrder(objects: StixObject[]): StixObject[] {
  const byId = new Map(objects.map((object) => [object.id, object]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: StixObject[] = [];
  const visit = (object: StixObject) => {
    if (done.has(object.id) || visiting.has(object.id)) return;
    visiting.add(object.id);
    for (const [key, value] of Object.entries(object)) {
      const refs = key.endsWith("_ref")
        ? [value]
        : key.endsWith("_refs") && Array.isArray(value)
        ? value
        : [];
      for (const ref of refs) {
        const target = typeof ref === "string" ? byId.get(ref) : undefined;
        if (target) visit(target);
      }
    }
    visiting.delete(object.id);
    done.add(object.id);
    out.push(object);
  };
  for (const object of objects) visit(object);
  return out;
}
