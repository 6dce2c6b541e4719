/** OpenCTI works: the import jobs shown in the UI (`workAdd`, `workEdit`, `work`). */
import * as v from "valibot";
import { type Now, systemNow } from "../runtime/clock.ts";
import type { OpenCtiClient } from "./graphql.ts";

/** Options of {@linkcode Works}. */
export interface WorksOptions {
  /** The registered connector's id. */
  connectorId: string;
  /** The connector's display name, used in friendly names. */
  connectorName: string;
  /** The clock for friendly names. @default Date.now */
  now?: Now;
}

/** One message or error of a work. */
export interface WorkMessage {
  /** ISO date. */
  timestamp: string | null;
  /** The text. */
  message: string | null;
  /** Where an error came from (often the offending object as JSON). */
  source?: string | null | undefined;
}

/** A work as read back with {@linkcode Works.get}. */
export interface Work {
  /** Work id, `work_<connector id>_<ISO date>`. */
  id: string;
  /** Friendly name. */
  name: string | null;
  /** `wait`, `progress`, `complete` or `timeout`. */
  status: string;
  /** When the connector said it received the job. */
  received_time: string | null;
  /** When the connector said it finished. */
  processed_time: string | null;
  /** When every expectation was reported. */
  completed_time: string | null;
  /** Expectation counters. */
  tracking:
    | { import_expected_number: number | null; import_processed_number: number | null }
    | null;
  /** Messages. */
  messages: WorkMessage[];
  /** Errors (bad objects, failed runs). */
  errors: WorkMessage[];
}

const MessageSchema = v.object({
  timestamp: v.nullish(v.string(), null),
  message: v.nullish(v.string(), null),
  source: v.nullish(v.string()),
});

const WorkSchema = v.object({
  id: v.string(),
  name: v.nullish(v.string(), null),
  status: v.string(),
  received_time: v.nullish(v.string(), null),
  processed_time: v.nullish(v.string(), null),
  completed_time: v.nullish(v.string(), null),
  tracking: v.nullish(
    v.object({
      import_expected_number: v.nullish(v.number(), null),
      import_processed_number: v.nullish(v.number(), null),
    }),
    null,
  ),
  messages: v.nullish(v.array(v.nullable(MessageSchema)), []),
  errors: v.nullish(v.array(v.nullable(MessageSchema)), []),
});

const WorkAddSchema = v.object({ workAdd: v.object({ id: v.string() }) });
const WorkQuerySchema = v.object({ work: v.nullable(WorkSchema) });

const WorkEditSchema = v.object({ workEdit: v.nullable(v.record(v.string(), v.unknown())) });

const WORK_ADD = `mutation WorkAdd($connectorId: String!, $friendlyName: String) {
  workAdd(connectorId: $connectorId, friendlyName: $friendlyName) { id }
}`;
const TO_RECEIVED = `mutation WorkToReceived($id: ID!, $message: String) {
  workEdit(id: $id) { toReceived(message: $message) }
}`;
const TO_PROCESSED = `mutation WorkToProcessed($id: ID!, $message: String, $inError: Boolean) {
  workEdit(id: $id) { toProcessed(message: $message, inError: $inError) }
}`;
const ADD_EXPECTATIONS = `mutation AddExpectations($id: ID!, $expectations: Int) {
  workEdit(id: $id) { addExpectations(expectations: $expectations) }
}`;
const REPORT_EXPECTATION = `mutation ReportExpectation($id: ID!, $error: WorkErrorInput) {
  workEdit(id: $id) { reportExpectation(error: $error) }
}`;
const PING_WORK = `mutation PingWork($id: ID!) { workEdit(id: $id) { ping } }`;
const WORK = `query Work($id: ID!) {
  work(id: $id) { id name status received_time processed_time completed_time
    tracking { import_expected_number import_processed_number }
    messages { timestamp message } errors { timestamp message source } }
}`;

/** The friendly name of a run: `"<connector name> run @ <ISO date>"`. */
export function friendlyName(connectorName: string, ms: number): string {
  return `${connectorName} run @ ${new Date(ms).toISOString()}`;
}

/** Creates and updates the works of one connector. */
export class Works {
  readonly #client: OpenCtiClient;
  readonly #connectorId: string;
  readonly #connectorName: string;
  readonly #now: Now;

  /** Binds the API to one connector. */
  constructor(client: OpenCtiClient, options: WorksOptions) {
    this.#client = client;
    this.#connectorId = options.connectorId;
    this.#connectorName = options.connectorName;
    this.#now = options.now ?? systemNow;
  }

  /** Creates a work (status `wait`) and returns its id; the name defaults to the run's friendly name. */
  async add(name?: string, signal?: AbortSignal): Promise<string> {
    const data = await this.#client.request(WORK_ADD, WorkAddSchema, {
      variables: {
        connectorId: this.#connectorId,
        friendlyName: name ?? friendlyName(this.#connectorName, this.#now()),
      },
      ...(signal ? { signal } : {}),
    });
    return data.workAdd.id;
  }

  /** Marks the work `progress` with an optional message. */
  async toReceived(id: string, message?: string, signal?: AbortSignal): Promise<void> {
    await this.#edit(TO_RECEIVED, "toReceived", { id, message: message ?? null }, signal);
  }

  /** Marks the run finished; `inError` puts the message in the work's errors. */
  async toProcessed(
    id: string,
    message: string,
    options: { inError?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    await this.#edit(
      TO_PROCESSED,
      "toProcessed",
      { id, message, inError: options.inError ?? false },
      options.signal,
    );
  }

  /** Adds `count` expected imports (the platform's workers normally do this). */
  async addExpectations(id: string, count: number, signal?: AbortSignal): Promise<void> {
    await this.#edit(ADD_EXPECTATIONS, "addExpectations", { id, expectations: count }, signal);
  }

  /** Reports one processed import, with an error when it failed. */
  async reportExpectation(
    id: string,
    error?: { error: string; source?: string },
    signal?: AbortSignal,
  ): Promise<void> {
    await this.#edit(REPORT_EXPECTATION, "reportExpectation", { id, error: error ?? null }, signal);
  }

  /** Refreshes the work's `updated_at` during long runs. */
  async ping(id: string, signal?: AbortSignal): Promise<void> {
    await this.#edit(PING_WORK, "ping", { id }, signal);
  }

  /** Reads a work back; undefined when the platform does not know it. */
  async get(id: string, signal?: AbortSignal): Promise<Work | undefined> {
    const data = await this.#client.request(WORK, WorkQuerySchema, {
      variables: { id },
      ...(signal ? { signal } : {}),
    });
    if (data.work === null) return undefined;
    const work = data.work;
    return {
      ...work,
      messages: work.messages.filter((m) => m !== null),
      errors: work.errors.filter((m) => m !== null),
    };
  }

  async #edit(
    query: string,
    field: string,
    variables: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await this.#client.request(query, WorkEditSchema, {
      variables,
      operation: `workEdit.${field}`,
      ...(signal ? { signal } : {}),
    });
  }
}
