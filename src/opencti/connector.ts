/** One connector's life on the platform: registration, pings, state, reset detection, queue size. */
import * as v from "valibot";
import { type Sleep, systemSleep } from "../runtime/clock.ts";
import { getLogger } from "../log.ts";
import { MINIMUM_VERSION, type OpenCtiClient } from "./graphql.ts";
import { FEATURES } from "./version.ts";
import { errorMessage } from "../runtime/errors.ts";

/** The connector types this program registers. */
export type ConnectorType = "STREAM" | "EXTERNAL_IMPORT";

/** A connector's state: one JSON object, merged key by key. */
export type ConnectorState = Record<string, unknown>;

/** What the connector reports about its runs in each ping (`connectorInfo`, platform >= 6.2.12). */
export interface ConnectorRunInfo {
  /** The connector stops after one run. */
  runAndTerminate: boolean;
  /** A run was skipped because the queue is above the threshold. */
  buffering: boolean;
  /** Queue threshold in MB. */
  queueThresholdMb: number;
  /** Current queue size in MB. */
  queueMessagesSizeMb: number;
  /** Next scheduled run (epoch ms), if known. */
  nextRunAt?: number;
  /** Last run (epoch ms), if any. */
  lastRunAt?: number;
}

/** Options of {@linkcode ConnectorLifecycle}. */
export interface ConnectorLifecycleOptions {
  /** The connector's UUID (`CONNECTOR_ID`). */
  id: string;
  /** Display name (`CONNECTOR_NAME`, at least 2 characters). */
  name: string;
  /** `STREAM` or `EXTERNAL_IMPORT`. */
  type: ConnectorType;
  /** Scope entries. @default ["not-applicable"] */
  scope?: string[];
  /** Queue threshold reported in pings, in MB (`CONNECTOR_QUEUE_THRESHOLD`). */
  queueThresholdMb: number;
  /** Reported `run_and_terminate`. @default false */
  runAndTerminate?: boolean;
  /** Interval of the periodic ping in ms. @default 40000 */
  pingIntervalMs?: number;
  /** Called when the platform's answer shows a remote "Reset state" (state is then `{}`). @default no-op */
  onReset?: (state: ConnectorState) => void | Promise<void>;
  /** The sleep of the ping loop. @default a real timer */
  sleep?: Sleep;
  /** Oldest platform this connector runs against; older ones are refused at registration. @default "5.0.0" */
  minimumVersion?: string;
  /** What needs `minimumVersion`, for the refusal message. @default "this connector" */
  minimumFor?: string;
}

const ConnectorStateField = v.nullish(v.string());

const QueueConfigSchema = v.object({
  connection: v.object({
    host: v.string(),
    vhost: v.nullish(v.string(), "/"),
    use_ssl: v.nullish(v.boolean(), false),
    port: v.number(),
    user: v.string(),
    pass: v.string(),
  }),
  push: v.nullish(v.string(), null),
  push_routing: v.string(),
  push_exchange: v.string(),
});

const RegisterSchema = v.object({
  registerConnector: v.object({
    id: v.string(),
    connector_state: ConnectorStateField,
    connector_user_id: v.nullish(v.string(), null),
    config: v.nullish(v.unknown(), null),
  }),
});

/** Where the platform wants this connector's bundles on its RabbitMQ (`registerConnector`'s `config`). */
export interface PushQueue {
  /** Broker host as the platform announces it. */
  host: string;
  /** Broker port. */
  port: number;
  /** Virtual host. */
  vhost: string;
  /** TLS to the broker. */
  useSsl: boolean;
  /** Broker user. */
  user: string;
  /** Broker password (a secret). */
  pass: string;
  /** The connector's push queue (`push_<id>`), informative. */
  queue: string | null;
  /** Exchange bundles are published to (`amqp.worker.exchange`). */
  exchange: string;
  /** Routing key (`push_routing_<id>`). */
  routingKey: string;
}

const PingSchema = v.object({
  pingConnector: v.nullable(v.object({ id: v.string(), connector_state: ConnectorStateField })),
});

const ConnectorQuerySchema = v.object({
  connector: v.nullable(v.object({
    id: v.string(),
    connector_queue_details: v.nullish(v.object({
      messages_number: v.nullish(v.number()),
      messages_size: v.nullish(v.number()),
    })),
  })),
});

const REGISTER = `mutation RegisterConnector($input: RegisterConnectorInput) {
  registerConnector(input: $input) {
    id connector_state connector_user_id
    config {
      connection { host vhost use_ssl port user pass }
      push push_routing push_exchange
    }
  }
}`;

const PING_WITH_INFO =
  `mutation PingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput) {
  pingConnector(id: $id, state: $state, connectorInfo: $connectorInfo) { id connector_state }
}`;

const PING = `mutation PingConnector($id: ID!, $state: String) {
  pingConnector(id: $id, state: $state) { id connector_state }
}`;

const GET_CONNECTOR = `query GetConnector($id: String!) {
  connector(id: $id) { id connector_queue_details { messages_number messages_size } }
}`;

/** Parses a stored state string: `""`, `"null"`, `{}`, non-objects and invalid JSON all mean no state. */
export function parseState(text: string | null | undefined): ConnectorState {
  if (text === null || text === undefined || text.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return value as ConnectorState;
    }
  } catch {
    // invalid JSON is "no state"
  }
  return {};
}

/** Serialises a state for `pingConnector`: `"null"` when empty, as pycti does. */
export function serializeState(state: ConnectorState): string {
  return Object.keys(state).length === 0 ? "null" : JSON.stringify(state);
}

/** Formats epoch ms as `YYYY-MM-DDTHH:MM:SSZ`, the form pycti sends in `connectorInfo`. */
export function pingDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Registers one connector, pings it, keeps and saves its state, and detects remote resets. */
export class ConnectorLifecycle {
  /** The connector id. */
  readonly id: string;
  /** The connector name. */
  readonly name: string;
  readonly #client: OpenCtiClient;
  readonly #type: ConnectorType;
  readonly #scope: string[];
  readonly #pingIntervalMs: number;
  readonly #onReset: (state: ConnectorState) => void | Promise<void>;
  readonly #sleep: Sleep;
  readonly #minimumVersion: string;
  readonly #minimumFor: string;
  readonly #logger;
  #state: ConnectorState = {};
  #info: ConnectorRunInfo;
  #chain: Promise<unknown> = Promise.resolve();
  #registered = false;
  #pushQueue: PushQueue | undefined;
  #userId: string | null = null;

  /** Builds the lifecycle; nothing is sent until {@linkcode register}. */
  constructor(client: OpenCtiClient, options: ConnectorLifecycleOptions) {
    this.#client = client;
    this.id = options.id;
    this.name = options.name;
    this.#type = options.type;
    this.#scope = options.scope ?? ["not-applicable"];
    this.#pingIntervalMs = options.pingIntervalMs ?? 40_000;
    this.#onReset = options.onReset ?? (() => {});
    this.#sleep = options.sleep ?? systemSleep;
    this.#minimumVersion = options.minimumVersion ?? MINIMUM_VERSION;
    this.#minimumFor = options.minimumFor ?? "this connector";
    this.#info = {
      runAndTerminate: options.runAndTerminate ?? false,
      buffering: false,
      queueThresholdMb: options.queueThresholdMb,
      queueMessagesSizeMb: 0,
    };
    this.#logger = getLogger("opencti", "connector").with({ connectorId: this.id });
  }

  /** A copy of the current local state. */
  get state(): ConnectorState {
    return structuredClone(this.#state);
  }

  /** The platform's RabbitMQ push queue, once registered (undefined when the answer had none). */
  get pushQueue(): PushQueue | undefined {
    return this.#pushQueue;
  }

  /** The connector's user id (`connector_user_id`), the `applicant_id` of queued bundles. */
  get userId(): string | null {
    return this.#userId;
  }

  /** True once {@linkcode register} succeeded. */
  get registered(): boolean {
    return this.#registered;
  }

  /** Registers (or re-registers) the connector and returns the state stored by the platform. */
  async register(signal?: AbortSignal): Promise<ConnectorState> {
    await this.#client.checkVersion(this.#minimumVersion, signal, this.#minimumFor);
    const input: Record<string, unknown> = {
      id: this.id,
      name: this.name,
      type: this.#type,
      scope: this.#scope,
      auto: false,
      only_contextual: false,
    };
    // Optional fields only where the platform's schema has them (one unknown field fails the call).
    if (this.#client.supports(FEATURES.playbookCompatible)) input["playbook_compatible"] = false;
    if (this.#client.supports(FEATURES.listenCallbackUri)) input["listen_callback_uri"] = null;
    const data = await this.#client.request(REGISTER, RegisterSchema, {
      variables: { input },
      ...(signal ? { signal } : {}),
    });
    this.#state = parseState(data.registerConnector.connector_state);
    this.#userId = data.registerConnector.connector_user_id;
    const queue = v.safeParse(QueueConfigSchema, data.registerConnector.config);
    this.#pushQueue = queue.success
      ? {
        host: queue.output.connection.host,
        port: queue.output.connection.port,
        vhost: queue.output.connection.vhost,
        useSsl: queue.output.connection.use_ssl,
        user: queue.output.connection.user,
        pass: queue.output.connection.pass,
        queue: queue.output.push,
        exchange: queue.output.push_exchange,
        routingKey: queue.output.push_routing,
      }
      : undefined;
    this.#registered = true;
    this.#logger.info("Registered connector {name} as {type}", {
      name: this.name,
      type: this.#type,
      hasState: Object.keys(this.#state).length > 0,
    });
    return this.state;
  }

  /** Updates what the next pings report in `connectorInfo`. */
  setRunInfo(info: Partial<ConnectorRunInfo>): void {
    this.#info = { ...this.#info, ...info };
  }

  /** Sends one ping with the current state; returns the state afterwards (`{}` after a remote reset). */
  ping(signal?: AbortSignal): Promise<ConnectorState> {
    return this.#serialised(() => this.#ping(signal));
  }

  /** Merges `partial` into the state and pings at once, so a checkpoint never waits for the timer. */
  saveState(partial: ConnectorState, signal?: AbortSignal): Promise<ConnectorState> {
    return this.#serialised(() => {
      this.#state = { ...this.#state, ...structuredClone(partial) };
      return this.#ping(signal);
    });
  }

  /** Replaces the whole local state (e.g. after restarting from defaults) and pings at once. */
  replaceState(state: ConnectorState, signal?: AbortSignal): Promise<ConnectorState> {
    return this.#serialised(() => {
      this.#state = structuredClone(state);
      return this.#ping(signal);
    });
  }

  /** Pings every `pingIntervalMs` until the signal aborts; ping failures are logged, not thrown. */
  async startPinging(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#sleep(this.#pingIntervalMs, signal);
      } catch {
        return;
      }
      if (signal.aborted) return;
      try {
        await this.ping(signal);
      } catch (error) {
        if (signal.aborted) return;
        this.#logger.warn("Ping of connector {name} failed: {error}", {
          name: this.name,
          error: errorMessage(error),
        });
      }
    }
  }

  /** The size of the connector's `push_<id>` queue in MB (the platform reports bytes). */
  async queueSizeMb(signal?: AbortSignal): Promise<number> {
    const data = await this.#client.request(GET_CONNECTOR, ConnectorQuerySchema, {
      variables: { id: this.id },
      ...(signal ? { signal } : {}),
    });
    const bytes = data.connector?.connector_queue_details?.messages_size ?? 0;
    return bytes / 1_000_000;
  }

  #serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task, task);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #ping(signal?: AbortSignal): Promise<ConnectorState> {
    const sent = this.#state;
    const state = serializeState(sent);
    const withInfo = this.#client.supports(FEATURES.connectorInfo);
    const variables: Record<string, unknown> = { id: this.id, state };
    if (withInfo) variables["connectorInfo"] = this.#connectorInfo();
    const data = await this.#client.request(withInfo ? PING_WITH_INFO : PING, PingSchema, {
      variables,
      ...(signal ? { signal } : {}),
    });
    const answered = parseState(data.pingConnector?.connector_state);
    if (!sameState(answered, sent)) {
      this.#state = answered;
      this.#logger.warn(
        "The state of connector {name} was reset in OpenCTI; restarting from the defaults",
        { name: this.name, answeredEmpty: Object.keys(answered).length === 0 },
      );
      await this.#onReset(this.state);
    }
    return this.state;
  }

  #connectorInfo(): Record<string, unknown> {
    const info: Record<string, unknown> = {
      run_and_terminate: this.#info.runAndTerminate,
      buffering: this.#info.buffering,
      queue_threshold: this.#info.queueThresholdMb,
      queue_messages_size: this.#info.queueMessagesSizeMb,
    };
    if (this.#info.nextRunAt !== undefined) {
      info["next_run_datetime"] = pingDate(this.#info.nextRunAt);
    }
    if (this.#info.lastRunAt !== undefined) {
      info["last_run_datetime"] = pingDate(this.#info.lastRunAt);
    }
    return info;
  }
}

/** Compares two states by value (key order ignored). */
export function sameState(a: ConnectorState, b: ConnectorState): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${
      entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(",")
    }}`;
  }
  return JSON.stringify(value) ?? "null";
}
