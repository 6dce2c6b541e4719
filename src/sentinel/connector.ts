/**
 * The sentinel stream connector: OpenCTI live stream → intents → batches → Microsoft target.
 * The stream machinery (reading, batching, checkpoints, failure scopes, dead letters) is the
 * generic {@linkcode StreamPump}; this file holds what is sentinel's: indicator intents, what a
 * target cannot take, revocation by upload, and the write-back. The cursor (`start_from`) is saved
 * only when every frame up to it was acknowledged by the target, skipped by design, or kept as a
 * dead letter, so a crash or restart loses nothing; writes
 * are idempotent. Failures are handled by scope (issue 11): a request-level failure splits the
 * batch until the bad item is alone, an item-level one becomes a dead letter, and a systemic one
 * holds the batch (no attempt cap, nothing more read, `degraded` reported) until it goes through.
 */
import { CONNECTOR_MINIMUM } from "../opencti/version.ts";
import type { Connector, ConnectorStatus } from "../runtime/connector.ts";
import type { DataFrame } from "../opencti/stream.ts";
import {
  type PlannedOperation,
  type PumpOperation,
  type ReplayReport,
  type StreamOptions,
  StreamPump,
  type StreamPumpCommonOptions,
  type StreamPumpOptions,
} from "../opencti/stream_pump.ts";
import type { DeadLetter } from "../opencti/dead_letters.ts";
import { type Intent, type IntentOptions, intentsOf } from "./events.ts";
import type { DeliveryOutcome } from "./reconcile.ts";
import type { SyncTarget, TargetIndicator, TargetRemoval } from "../microsoft/target.ts";
import { WriteBack, type WriteBackOptions } from "./write_back.ts";
import { definedProps } from "../runtime/props.ts";
import type { SentinelApiConfig } from "../microsoft/target_config.ts";
import type { SentinelSettings } from "./settings.ts";

export type { ReplayReport } from "../opencti/stream_pump.ts";

/** A pending target operation. */
export type Operation = PumpOperation<TargetIndicator, TargetRemoval>;

/** Live-stream settings (the `CONNECTOR_LIVE_STREAM_*` options). */
export type SentinelStreamOptions = StreamOptions;

/**
 * Options of {@linkcode SentinelConnector}: the stream pump's, and the connector's own settings
 * as {@linkcode SentinelSettings} types them (`SENTINEL_BATCH_SIZE` defaults to the target's
 * `maxBatch` here; `SENTINEL_WRITE_BACK` adds an external reference after the target acknowledged,
 * whose echo update is recognised and skipped; `SENTINEL_EVENT_TYPES` unset = all events).
 */
export interface SentinelConnectorOptions
  extends
    StreamPumpCommonOptions,
    Partial<Pick<SentinelSettings, "batchSize" | "writeBack" | "eventTypes">>,
    Partial<Pick<SentinelApiConfig, "publishIdentities">> {
  /** Connector name in logs, metrics and routes. @default "sentinel" */
  name?: string;
  /** Stream settings. */
  stream: SentinelStreamOptions;
  /** Where indicators go. */
  target: SyncTarget;
  /** Source name and URL of the written references. @default per target, see {@linkcode WriteBack} */
  writeBackReference?: WriteBackOptions;
  /**
   * Runs once on a first start (empty state), before the stream is followed: the first-start
   * reconcile (issue 17) adopts upstream records and removes ours no longer wanted.
   * @default none
   */
  beforeFirstFollow?: (signal: AbortSignal) => Promise<void>;
}

/** Keeps one Microsoft target in step with the indicators of an OpenCTI live stream. */
export class SentinelConnector implements Connector {
  /** Connector name. */
  readonly name: string;
  readonly #target: SyncTarget;
  readonly #writeBack: WriteBack | undefined;
  readonly #pump: StreamPump<TargetIndicator, TargetRemoval>;
  /** What `SENTINEL_EVENT_TYPES` and `SENTINEL_PUBLISH_IDENTITIES` ask of the stream's events. */
  readonly #intentOptions: IntentOptions;

  /** Builds the connector; nothing is sent before `start()` or `runOnce()`. */
  constructor(options: SentinelConnectorOptions) {
    this.name = options.name ?? "sentinel";
    this.#target = options.target;
    this.#writeBack = options.writeBack
      ? new WriteBack(options.client, options.target.name, options.writeBackReference)
      : undefined;
    const {
      name: _name,
      writeBack: _writeBack,
      writeBackReference: _ref,
      eventTypes: _eventTypes,
      publishIdentities: _publishIdentities,
      ...rest
    } = options;
    // One options object for every frame, its clock set per call (no copy per event).
    this.#intentOptions = { now: 0, ...definedProps(options, "eventTypes", "publishIdentities") };
    const pumpOptions: StreamPumpOptions<TargetIndicator, TargetRemoval> = {
      ...rest,
      name: this.name,
      connector: {
        ...options.connector,
        scope: options.connector.scope,
        minimumVersion: CONNECTOR_MINIMUM.sentinel,
        minimumFor: "sentinel",
      },
      route: {
        echo: (frame) => this.#echo(frame),
        plan: (frame, now) => this.#plan(frame, now),
        replan: (id, stix, now) => this.#replan(id, stix, now),
        acknowledged: (items) => this.#writeBackAll(items),
      },
    };
    this.#pump = new StreamPump(pumpOptions);
  }

  /** Follows the stream until the signal aborts, then flushes, checkpoints and returns. */
  start(signal: AbortSignal): Promise<void> {
    return this.#pump.start(signal);
  }

  /** Drains the stream from the saved cursor until caught up (or the budget ends), then checkpoints. */
  runOnce(signal?: AbortSignal): Promise<boolean> {
    return this.#pump.runOnce(signal);
  }

  /** A snapshot for `/status` and `/readyz`. */
  status(): ConnectorStatus {
    return this.#pump.status();
  }

  /**
   * Delivers operations that do not come from the stream (a reconcile's plan, issue 17) through
   * the same path as stream batches ({@linkcode StreamPump.deliverOutOfBand}): observables the
   * target cannot take left out, request failures split, item failures dead-lettered, write-back.
   * Operations a systemic failure holds are returned as held, not retried here (the next
   * reconcile sends them again).
   */
  async deliverOutOfBand(operations: Operation[]): Promise<DeliveryOutcome> {
    const planned: PlannedOperation<TargetIndicator, TargetRemoval>[] = [];
    let skipped = 0;
    for (const op of operations) {
      if (op.kind === "remove") {
        planned.push({ key: op.removal.id, op });
        continue;
      }
      const indicator = this.#supported(op.indicator);
      if (indicator === undefined) skipped++;
      else planned.push({ key: op.indicator.id, op: { kind: "upsert", indicator } });
    }
    const outcome = await this.#pump.deliverOutOfBand(planned);
    return { ...outcome, skipped: skipped + outcome.skipped };
  }

  /** The dead letters, oldest first, and how many the limit pushed out. */
  deadLetters(): { entries: DeadLetter[]; overflow: number } {
    return this.#pump.deadLetters();
  }

  /**
   * Sends every dead letter again: reads each indicator's current version from OpenCTI by id and
   * hands it to the target alone (so a failure is proven on that item). What is delivered leaves
   * the list, as does what OpenCTI no longer has or no longer syncs (a removal is sent for it);
   * what fails again stays with one more attempt; a systemic failure leaves it as it was.
   */
  replayDeadLetters(signal?: AbortSignal): Promise<ReplayReport> {
    return this.#pump.replayDeadLetters(signal);
  }

  #echo(frame: DataFrame): { id: string; detail: string } | undefined {
    if (frame.event !== "update" || !this.#writeBack?.isEcho(frame.data)) return undefined;
    return { id: frame.data.data.id, detail: "only our external reference changed" };
  }

  #plan(
    frame: DataFrame,
    now: number,
  ): Array<PlannedOperation<TargetIndicator, TargetRemoval> | null> {
    const options = this.#intentOptions;
    options.now = now;
    return intentsOf(frame.event, frame.data, options).map((intent) => this.#accept(intent));
  }

  #accept(intent: Intent): PlannedOperation<TargetIndicator, TargetRemoval> | null {
    switch (intent.kind) {
      case "skip":
        this.#pump.skip(intent.reason, intent.id, intent.detail);
        return null;
      case "upsert": {
        for (const dropped of intent.dropped) {
          this.#pump.skip(
            "invalid_value",
            intent.indicator.id,
            `${dropped.value}: ${dropped.reason}`,
          );
        }
        const indicator = this.#supported(intent.indicator);
        if (indicator === undefined) return null;
        return { key: intent.indicator.id, op: { kind: "upsert", indicator } };
      }
      case "remove":
        if (intent.indicator && this.#target.revokeByUpload) {
          // The target keeps revoked indicators, marked revoked (Sentinel).
          return this.#accept({ kind: "upsert", indicator: intent.indicator, dropped: [] });
        }
        return { key: intent.removal.id, op: { kind: "remove", removal: intent.removal } };
    }
  }

  #replan(id: string, stix: unknown, now: number): Operation[] {
    // Gone from OpenCTI: what the target still holds for it goes too.
    if (stix === undefined) return [{ kind: "remove", removal: { id } }];
    const ops: Operation[] = [];
    for (const intent of intentsOf("update", { data: stix }, { now })) {
      if (intent.kind === "upsert") {
        const indicator = this.#supported(intent.indicator);
        if (indicator) ops.push({ kind: "upsert", indicator });
      } else if (intent.kind === "remove") {
        ops.push(
          intent.indicator && this.#target.revokeByUpload
            ? { kind: "upsert", indicator: intent.indicator }
            : { kind: "remove", removal: intent.removal },
        );
      }
    }
    return ops;
  }

  /** The indicator without the observables the target cannot take (each counted as skipped); undefined when none is left. */
  #supported(indicator: TargetIndicator): TargetIndicator | undefined {
    const target = this.#target;
    const rejected = target.rejects?.(indicator);
    if (rejected !== undefined) {
      this.#pump.skip("unsupported_by_target", indicator.id, rejected);
      return undefined;
    }
    if (!target.unsupported) return indicator;
    const observables = indicator.observables.filter((observable) => {
      const reason = target.unsupported?.(observable);
      if (reason === undefined) return true;
      this.#pump.skip("unsupported_by_target", indicator.id, `${observable.value}: ${reason}`);
      return false;
    });
    if (observables.length === indicator.observables.length) return indicator;
    return observables.length === 0 ? undefined : { ...indicator, observables };
  }

  /** Adds the write-back reference for acknowledged upserts; a failure is counted, never retried. */
  async #writeBackAll(items: TargetIndicator[]): Promise<void> {
    const writer = this.#writeBack;
    if (!writer) return;
    for (const indicator of items) {
      try {
        const outcome = await writer.add(indicator);
        if (outcome === "added") this.#pump.count("written_back");
      } catch (error) {
        this.#pump.count("write_back_failed");
        this.#pump.noteError(`writing the reference back on ${indicator.id} failed`, error);
      }
    }
  }
}
