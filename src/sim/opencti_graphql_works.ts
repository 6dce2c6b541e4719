/**
 * The works resolvers of the OpenCTI simulator: `workAdd`, `workEdit` (`toReceived`,
 * `toProcessed`, `addExpectations`, `reportExpectation`, `ping`, `delete`), `work`, `works` and
 * `isWorkAlive`, with the completion rules of `reference/opencti.md` §2.5.
 *
 * @module
 */
import type { SimConnector, SimWork, SimWorkMessage } from "./opencti_graphql_types.ts";
import {
  asRecord,
  connection,
  isRecord,
  matchesGroup,
  SimGraphqlError,
  unsupportedFilter,
} from "./opencti_graphql_util.ts";
import { SIM_USER_ID } from "./opencti_store.ts";

/** A resolver: arguments and parent value in, value out. */
export type Resolver = (
  args: Record<string, unknown>,
  parent: unknown,
) => Promise<unknown> | unknown;

/** What the works resolvers need from the simulated platform. */
export interface WorkContext {
  /** The clock (epoch ms). */
  now: () => number;
  /** The current ISO date. */
  iso: () => string;
  /** The registered connector with this id; throws the platform's error otherwise. */
  connector: (id: unknown) => SimConnector;
}

/** Works as the platform keeps them. */
export class WorkResolvers {
  readonly #works: Map<string, SimWork>;
  readonly #now: () => number;
  readonly #iso: () => string;
  readonly #connector: (id: unknown) => SimConnector;

  /** Binds the resolvers to the platform's works. */
  constructor(works: Map<string, SimWork>, context: WorkContext) {
    this.#works = works;
    this.#now = context.now;
    this.#iso = context.iso;
    this.#connector = context.connector;
  }

  /** The GraphQL view of a work. */
  view(work: SimWork): Record<string, unknown> {
    return {
      ...work,
      completed_number: work.import_processed_number,
      tracking: {
        import_expected_number: work.import_expected_number,
        import_processed_number: work.import_processed_number,
        import_last_processed: work.import_last_processed,
      },
      draft_context: null,
      user: { id: SIM_USER_ID, name: "connector", entity_type: "User" },
    };
  }

  /** Creates a work (also used by `stixBundlePush` without `work_id`). */
  add(connectorId: string, name: string | null): SimWork {
    let ms = this.#now();
    let id = `work_${connectorId}_${new Date(ms).toISOString()}`;
    while (this.#works.has(id)) id = `work_${connectorId}_${new Date(++ms).toISOString()}`;
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
    this.#works.set(id, work);
    return work;
  }

  /** Appends a message (the last 100 are kept). */
  pushMessage(list: SimWorkMessage[], message: string, source: string | null = null): void {
    list.push({ timestamp: this.#iso(), message, sequence: list.length, source });
    if (list.length > 100) list.splice(0, list.length - 100);
  }

  /** Adds expected imports. */
  addExpectations(work: SimWork, count: number): void {
    work.import_expected_number += count;
    work.updated_at = this.#iso();
  }

  /** Reports one processed import; completes the work when every expectation is reported. */
  report(work: SimWork, error?: { error?: unknown; source?: unknown }): void {
    work.import_processed_number += 1;
    work.import_last_processed = this.#iso();
    if (error && (error.error !== undefined || error.source !== undefined)) {
      this.pushMessage(
        work.errors,
        String(error.error ?? "Unknown error"),
        error.source === undefined || error.source === null ? null : String(error.source),
      );
    }
    if (
      work.import_processed_number >= work.import_expected_number && work.status !== "complete" &&
      !(work.multipart === true && work.processed_time === null)
    ) {
      work.status = "complete";
      work.completed_time = this.#iso();
    }
    work.updated_at = this.#iso();
  }

  /** The resolvers of the works operations. */
  resolvers(): Record<string, Resolver> {
    const work = (id: unknown): SimWork | undefined =>
      typeof id === "string" ? this.#works.get(id) : undefined;
    const editedWork = (parent: unknown): SimWork => {
      const found = work(asRecord(parent).id);
      if (!found) throw new SimGraphqlError("FunctionalError", "Work not found");
      return found;
    };
    return {
      "Query.work": ({ id }) => {
        const found = work(id);
        return found ? this.view(found) : null;
      },
      "Query.works": ({ first, filters }) => {
        const items = [...this.#works.values()].filter((w) =>
          matchesGroup(filters, (key) => {
            if (key === "connector_id" || key === "event_source_id") return [w.event_source_id];
            if (key === "status") return [w.status];
            if (key === "name") return w.name === null ? [] : [w.name];
            if (key === "id") return [w.id];
            throw unsupportedFilter(key);
          })
        ).reverse();
        return connection(items.map((w) => this.view(w)), first);
      },
      "Query.isWorkAlive": ({ id }) => typeof id === "string" && this.#works.has(id),
      "Mutation.workAdd": ({ connectorId, friendlyName, isMultiPartWork }) => {
        const connector = this.#connector(connectorId);
        const work = this.add(
          connector.id,
          typeof friendlyName === "string" ? friendlyName : null,
        );
        if (isMultiPartWork === true) work.multipart = true;
        return this.view(work);
      },
      "Mutation.workEdit": ({ id }) => {
        const found = work(id);
        if (!found) throw new SimGraphqlError("FunctionalError", "Work not found");
        return { id: found.id };
      },
      "WorkEditMutations.delete": (_args, parent) => {
        const found = editedWork(parent);
        this.#works.delete(found.id);
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
          this.pushMessage(found.messages, message);
        }
        found.updated_at = this.#iso();
        return found.id;
      },
      "WorkEditMutations.toProcessed": ({ message, inError }, parent) => {
        const found = editedWork(parent);
        found.processed_time = this.#iso();
        if (typeof message === "string" && message !== "") {
          this.pushMessage(inError === true ? found.errors : found.messages, message);
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
        this.addExpectations(found, typeof expectations === "number" ? expectations : 0);
        return found.id;
      },
      "WorkEditMutations.reportExpectation": ({ error, expectations }, parent) => {
        const found = editedWork(parent);
        const count = typeof expectations === "number" && expectations > 0 ? expectations : 1;
        for (let i = 0; i < count; i++) {
          this.report(found, i === 0 && isRecord(error) ? error : undefined);
        }
        return found.id;
      },
    };
  }
}
