/**
 * The sentinel connector as the upstream Defender synchronizer works
 * (`stream/microsoft-defender-intel-synchronizer`, OpenCTI-Platform/connectors): no live stream is
 * followed; every period a reconcile makes the target hold exactly the indicators of the OpenCTI
 * TAXII collections named by `SENTINEL_TAXII_COLLECTIONS` (theirs: `…_TAXII_COLLECTIONS`,
 * `…_INTERVAL`). The upstream reads each collection's filters through GraphQL and searches with
 * them; this program reads the same content through OpenCTI's TAXII 2.1 API, which applies those
 * filters itself. Creates, updates and deletes go through the connector's delivery path (batching,
 * splitting, dead letters), and only records this connector owns are ever updated or deleted.
 *
 * @module
 */
import { getLogger } from "../log.ts";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { Connector, ConnectorStatus, DeadLetterView } from "../runtime/connector.ts";
import { readTaxiiCollection, type TaxiiReadOptions } from "../opencti/taxii.ts";
import type { IndicatorPolicy } from "../microsoft/target.ts";
import { intentsOf } from "./events.ts";
import type { IntentSource, ReconcileReport } from "./reconcile.ts";
import type { ReconcilingConnector } from "./reconcile_host.ts";

/**
 * The desired indicators of a reconcile read from TAXII collections: each object as a `create`
 * event of the stream would be (revoked and expired ones then mean "hold nothing"), with its
 * collection's policy. An indicator in several collections counts once, with the policy of the
 * first collection named (the synchronizer ranks collections in the order configured).
 */
export function taxiiSource(
  collections: readonly string[],
  options: Omit<TaxiiReadOptions, "signal"> & {
    now?: Now;
    policies?: Readonly<Record<string, IndicatorPolicy>>;
  },
): IntentSource {
  const now = options.now ?? systemNow;
  const { policies, now: _now, ...read } = options;
  return async (visit, signal) => {
    const seen = new Set<string>();
    for (const collection of collections) {
      const policy = policies?.[collection];
      await readTaxiiCollection(collection, async (object) => {
        if (seen.has(object.id)) return;
        seen.add(object.id);
        for (const intent of intentsOf("create", { data: object }, { now: now() })) {
          await visit(
            policy !== undefined && intent.kind === "upsert"
              ? { ...intent, indicator: { ...intent.indicator, policy } }
              : intent,
          );
        }
      }, { ...read, ...(signal ? { signal } : {}) });
    }
  };
}

/** Options of {@linkcode TaxiiSyncConnector}. */
export interface TaxiiSyncOptions {
  /** The collections read (for `/status`). */
  collections: readonly string[];
  /** Time between two reconciles, in ms. */
  periodMs: number;
  /** Plan only, change nothing (the synchronizer's `PASSIVE_ONLY`). @default false */
  dryRun?: boolean;
  /** The sleep between reconciles. @default a real timer */
  sleep?: Sleep;
}

/** The sentinel connector reconciling from TAXII collections on a period (no live stream). */
export class TaxiiSyncConnector implements Connector {
  /** Connector name. */
  readonly name: string;
  readonly #host: ReconcilingConnector;
  readonly #o: TaxiiSyncOptions;
  readonly #log;
  #started = false;
  #last: ReconcileReport | undefined;
  #lastError: string | undefined;

  /** Wraps the reconciling connector; nothing runs before `start()` or `runOnce()`. */
  constructor(host: ReconcilingConnector, options: TaxiiSyncOptions) {
    this.#host = host;
    this.#o = options;
    this.name = host.name;
    this.#log = getLogger(host.name, "taxii");
  }

  /** Reconciles now, then every period, until the signal aborts. */
  async start(signal: AbortSignal): Promise<void> {
    const sleep = this.#o.sleep ?? systemSleep;
    this.#started = true;
    try {
      while (!signal.aborted) {
        await this.runOnce(signal);
        try {
          await sleep(this.#o.periodMs, signal);
        } catch {
          // Aborted: the loop ends.
        }
      }
    } finally {
      this.#started = false;
    }
  }

  /** One reconcile; true when nothing was held back by a failure. */
  async runOnce(signal?: AbortSignal): Promise<boolean> {
    try {
      const report = await this.reconcile({}, signal);
      return report.problem === undefined;
    } catch (error) {
      if (signal?.aborted) return false;
      this.#log.error("Reconcile from the TAXII collections failed: {error}", {
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
  }

  /** Runs one reconcile (a dry run when asked, or always with `PASSIVE_ONLY`). */
  async reconcile(
    options: { dryRun?: boolean } = {},
    signal?: AbortSignal,
  ): Promise<ReconcileReport> {
    const dryRun = options.dryRun === true || this.#o.dryRun === true;
    try {
      const report = await this.#host.reconcile(dryRun ? { dryRun } : {}, signal);
      this.#last = report;
      this.#lastError = report.problem;
      return report;
    } catch (error) {
      this.#lastError = error instanceof Error ? error.message : String(error);
      throw error;
    }
  }

  /** The reconciling connector's status, ready once a reconcile went through. */
  status(): ConnectorStatus {
    const status = this.#host.status();
    const reasons = this.#lastError !== undefined
      ? [`the last reconcile from the TAXII collections failed: ${this.#lastError}`]
      : this.#last === undefined
      ? ["no reconcile from the TAXII collections has finished yet"]
      : [];
    return {
      ...status,
      state: this.#started ? "running" : "idle",
      ready: reasons.length === 0,
      reasons,
      details: {
        ...status.details,
        source: {
          taxiiCollections: [...this.#o.collections],
          ...(this.#o.dryRun ? { dryRun: true } : {}),
        },
      },
    };
  }

  /** The connector's dead letters. */
  deadLetters(): DeadLetterView {
    return this.#host.deadLetters();
  }

  /** Replays the connector's dead letters. */
  replayDeadLetters(signal?: AbortSignal): Promise<object> {
    return this.#host.replayDeadLetters(signal);
  }
}
