/**
 * The connector resolvers of the OpenCTI simulator: `registerConnector` (create or patch, the
 * stored state returned, the queue announced), `pingConnector` (state, reset flag,
 * `connectorInfo`, every ping recorded), `resetStateConnector`, `connector` and `connectors`.
 *
 * @module
 */
import type { PingRecord, SimConnector, SimQueueConnection } from "./opencti_graphql_types.ts";
import { CONNECTOR_TYPES } from "./opencti_graphql_schema.ts";
import { asRecord, isRecord, SimGraphqlError } from "./opencti_graphql_util.ts";
import { ValidationError } from "./opencti_graphql_validation.ts";
import type { Resolver } from "./opencti_graphql_works.ts";
import { SIM_USER_ID } from "./opencti_store.ts";

/** What the connector resolvers need from the simulated platform. */
export interface ConnectorContext {
  /** Where pings are recorded. */
  pings: PingRecord[];
  /** The clock (epoch ms). */
  now: () => number;
  /** The current ISO date. */
  iso: () => string;
  /** Queue size reported for connectors without their own, in bytes. */
  queueSizeBytes: () => number;
  /** The RabbitMQ announced to connectors. */
  queueConnection: () => SimQueueConnection;
  /** The queue names of a connector. */
  queueNames: (connectorId: string) => Record<string, string>;
  /** Declares the connector's queues (awaited before the registration answers). */
  onRegister: (connector: SimConnector) => Promise<void>;
  /** The UI's "Reset state". */
  resetState: (connectorId: string) => boolean;
}

/** Connectors as the platform keeps them. */
export class ConnectorResolvers {
  readonly #connectors: Map<string, SimConnector>;
  readonly #context: ConnectorContext;

  /** Binds the resolvers to the platform's connectors. */
  constructor(connectors: Map<string, SimConnector>, context: ConnectorContext) {
    this.#connectors = connectors;
    this.#context = context;
  }

  /** The GraphQL view of a connector (announced queue, queue details, `active`). */
  view(connector: SimConnector): Record<string, unknown> {
    const queueBytes = connector.queue_size_bytes ?? this.#context.queueSizeBytes();
    return {
      ...connector,
      built_in: false,
      active: this.#context.now() - Date.parse(connector.updated_at) < 5 * 60_000,
      config: {
        connection: { ...this.#context.queueConnection() },
        ...this.#context.queueNames(connector.id),
      },
      connector_queue_details: {
        messages_number: queueBytes > 0 ? Math.max(1, Math.round(queueBytes / 2000)) : 0,
        messages_size: queueBytes,
      },
    };
  }

  /** The connector with this id; the platform's `FunctionalError` otherwise. */
  get(id: unknown): SimConnector {
    const connector = typeof id === "string" ? this.#connectors.get(id) : undefined;
    if (!connector) {
      throw new SimGraphqlError("FunctionalError", "No connector found with the specified ID");
    }
    return connector;
  }

  /** The resolvers of the connector operations. */
  resolvers(): Record<string, Resolver> {
    return {
      "Query.connector": ({ id }) => {
        const connector = typeof id === "string" ? this.#connectors.get(id) : undefined;
        return connector ? this.view(connector) : null;
      },
      "Query.connectors": () => [...this.#connectors.values()].map((c) => this.view(c)),
      "Mutation.registerConnector": async ({ input }) => {
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
        const now = this.#context.iso();
        const existing = this.#connectors.get(id);
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
        this.#connectors.set(id, connector);
        await this.#context.onRegister(connector);
        return this.view(connector);
      },
      "Mutation.pingConnector": ({ id, state, connectorInfo }) => {
        const connector = this.get(id);
        const sent = typeof state === "string" ? state : null;
        const resetApplied = connector.connector_state_reset;
        if (resetApplied) {
          connector.connector_state_reset = false;
          connector.connector_state = "";
        } else {
          if (state !== undefined) connector.connector_state = sent;
          connector.updated_at = this.#context.iso();
        }
        if (isRecord(connectorInfo)) connector.connector_info = { ...connectorInfo };
        this.#context.pings.push({
          at: this.#context.now(),
          connectorId: connector.id,
          state: sent,
          connectorInfo: isRecord(connectorInfo) ? { ...connectorInfo } : null,
          resetApplied,
          answeredState: connector.connector_state,
        });
        return this.view(connector);
      },
      "Mutation.resetStateConnector": ({ id }) => {
        const connector = this.get(id);
        this.#context.resetState(connector.id);
        return this.view(connector);
      },
    };
  }
}
