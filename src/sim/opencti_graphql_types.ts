/**
 * The records and options of the OpenCTI simulator's GraphQL side ({@linkcode OpenCtiGraphqlSim}
 * in `opencti_graphql.ts`): its options, the connectors, works, calls, pings, bundles and queue
 * connections it keeps, and the failures a test injects.
 *
 * @module
 */
import type { Now, Sleep } from "../runtime/clock.ts";
import type { StixBundle } from "../stix/types.ts";
import type { SimFeatures } from "./opencti_graphql_schema.ts";

/** How GraphQL errors are laid out (§1.1). */
export type ErrorLayout = "classic" | "modern" | "combined";

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
  /** Created with `isMultiPartWork: true`: completes only once `toProcessed` was called. */
  multipart?: boolean;
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
  /** `amqp` for a message of the platform's RabbitMQ queue; absent for `stixBundlePush`. */
  transport?: "amqp";
}

/** The RabbitMQ connection the platform announces in `registerConnector`'s `config.connection`. */
export interface SimQueueConnection {
  /** Host. */
  host: string;
  /** Port. */
  port: number;
  /** Virtual host. */
  vhost: string;
  /** TLS. */
  use_ssl: boolean;
  /** User. */
  user: string;
  /** Password. */
  pass: string;
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
