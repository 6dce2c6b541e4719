/**
 * The `tanium-incidents` EXTERNAL_IMPORT connector (reference `tanium.md` §3-§4): on a schedule,
 * pages through new Tanium alerts from the saved cursor, converts each into STIX objects, pushes
 * one bundle per page inside one OpenCTI work per run, and saves the cursor right after each page.
 *
 * Failure rules: a transient error (Tanium or OpenCTI unreachable, 5xx, 429, timeouts, truncated
 * JSON) stops the run where it is, the state keeping the last pushed position, and the work is
 * marked in error; a bad alert (unreadable item, conversion failure) is logged with its id,
 * counted and skipped, and the cursor moves past it.
 *
 * @module
 */
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { Connector, ConnectorStatus } from "../runtime/connector.ts";
import { HttpError } from "../runtime/errors.ts";
import { runScheduled } from "../runtime/scheduler.ts";
import { getLogger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { AmqpConnect } from "../opencti/amqp.ts";
import { BundleTransport } from "../opencti/transport.ts";
import { CONNECTOR_MINIMUM, type QueueProtocolSetting } from "../opencti/version.ts";
import { ConnectorLifecycle } from "../opencti/connector.ts";
import { OpenCtiAuthError } from "../opencti/errors.ts";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import { findEntityByExternalId } from "../opencti/lookup.ts";
import { Works } from "../opencti/works.ts";
import type { StixObject } from "../stix/types.ts";
import {
  IntelCache,
  isTransient,
  MAX_PAGE_SIZE,
  TaniumAuthError,
  type TaniumClient,
  TaniumForbiddenError,
  TaniumResponseError,
} from "./client.ts";
import { authorIdentity, buildBundle, convertAlert, type MatchedEntity } from "./converter.ts";
import {
  advance,
  type Cursor,
  cursorFromState,
  cursorToState,
  isExamined,
  sameCursor,
  startCursor,
} from "./cursor.ts";
import type { IntelDoc, TaniumAlert } from "./schemas.ts";

/** The connector's name in logs, metrics, routes and config prefixes. */
export const CONNECTOR_NAME = "tanium-incidents";
/** Default display name in OpenCTI (also the author identity's name). */
export const DEFAULT_DISPLAY_NAME = "Tanium Threat Response Incidents";
/** Default `source_name` values of the intel external references (B8). */
export const DEFAULT_INTEL_SOURCE_NAMES: readonly string[] = [
  "Tanium Threat Response Intel",
  "Tanium",
];

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/** Options of {@linkcode TaniumIncidentsConnector}. */
export interface TaniumIncidentsOptions {
  /** The connector's UUID (`CONNECTOR_ID`). Required. */
  connectorId: string;
  /** Console base URL for incident links (`TANIUM_INCIDENTS_URL_CONSOLE`). Required. */
  consoleUrl: string;
  /** Display name and author name (`CONNECTOR_NAME`). @default "Tanium Threat Response Incidents" */
  displayName?: string;
  /** Connector scope. @default ["tanium"] */
  scope?: string[];
  /** `false` = sightings only (`TANIUM_INCIDENTS_IMPORT_ALERTS`). @default true */
  importAlerts?: boolean;
  /** Start when the state has no cursor (ISO, UTC). @default now minus one year */
  importStartDate?: string | undefined;
  /** `source_name` values of the intel references to match. @default DEFAULT_INTEL_SOURCE_NAMES */
  intelSourceNames?: readonly string[];
  /** Alerts per page (1-500). @default 500 */
  pageSize?: number;
  /** Most pages read in one run (the rest waits for the next run). @default Infinity */
  maxPagesPerRun?: number;
  /** Time between the end of a run and the next (`CONNECTOR_DURATION_PERIOD`); 0 = run once. @default 0 */
  periodMs?: number;
  /** `CONNECTOR_RUN_AND_TERMINATE`, reported in pings. @default false */
  runAndTerminate?: boolean;
  /** Skip a run while the connector's queue holds at least this many MB. @default 500 */
  queueThresholdMb?: number;
  /** Interval of the heartbeat ping in ms. @default 40000 */
  pingIntervalMs?: number;
  /** Largest bundle sent in one push, in bytes. @default 5000000 */
  maxBundleBytes?: number;
  /** `CONNECTOR_QUEUE_PROTOCOL`: `api`, `amqp`, or `auto` (api from OpenCTI 6.3). @default "auto" */
  queueProtocol?: QueueProtocolSetting;
  /** Opens AMQP connections (tests inject faults). @default amqplib */
  amqpConnect?: AmqpConnect;
  /** Where pycti's metrics are counted. @default none */
  metrics?: Metrics;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep between runs. @default a real timer */
  sleep?: Sleep;
  /** Makes bundle UUIDs. @default crypto.randomUUID */
  uuid?: () => string;
}

/** How a run ended. */
export type RunOutcome = "success" | "skipped" | "failed" | "reset";

/** The summary of the last run. */
export interface RunSummary {
  /** How it ended. */
  outcome: RunOutcome;
  /** ISO start time. */
  startedAt: string;
  /** ISO end time. */
  endedAt: string;
  /** Alerts examined. */
  alerts: number;
  /** Bundles pushed. */
  bundles: number;
  /** Pages read. */
  pages: number;
  /** The error, when it failed. */
  error?: string;
}

interface AlertInputs {
  entity: MatchedEntity | undefined;
  intel: IntelDoc | undefined;
}

/** The Tanium alerts → OpenCTI import connector. */
export class TaniumIncidentsConnector implements Connector {
  /** Connector name (`tanium-incidents`). */
  readonly name = CONNECTOR_NAME;
  /** The OpenCTI side: registration, pings, state. */
  readonly lifecycle: ConnectorLifecycle;
  readonly #tanium: TaniumClient;
  readonly #opencti: OpenCtiClient;
  readonly #works: Works;
  readonly #pusher: BundleTransport;
  readonly #displayName: string;
  readonly #consoleUrl: string;
  readonly #importAlerts: boolean;
  readonly #importStartDate: string | undefined;
  readonly #sourceNames: readonly string[];
  readonly #pageSize: number;
  readonly #maxPages: number;
  readonly #periodMs: number;
  readonly #queueThresholdMb: number;
  readonly #metrics: Metrics | undefined;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #uuid: (() => string) | undefined;
  readonly #logger = getLogger(CONNECTOR_NAME);
  readonly #counters: Record<string, number> = {};
  #author: StixObject | undefined;
  #state: ConnectorStatus["state"] = "idle";
  #current: Promise<RunOutcome> | undefined;
  #resetRequested = false;
  #authProblem: string | undefined;
  #lastError: string | undefined;
  #lastRun: RunSummary | undefined;
  #cursor: Cursor | undefined;

  /** Builds the connector; nothing is sent until `start` or `runOnce`. */
  constructor(tanium: TaniumClient, opencti: OpenCtiClient, options: TaniumIncidentsOptions) {
    this.#tanium = tanium;
    this.#opencti = opencti;
    this.#displayName = options.displayName ?? DEFAULT_DISPLAY_NAME;
    this.#consoleUrl = options.consoleUrl.replace(/\/+$/, "");
    this.#importAlerts = options.importAlerts ?? true;
    this.#importStartDate = options.importStartDate;
    this.#sourceNames = options.intelSourceNames ?? DEFAULT_INTEL_SOURCE_NAMES;
    this.#pageSize = options.pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1 || this.#pageSize > MAX_PAGE_SIZE) {
      throw new RangeError(`Cannot page Tanium alerts by ${this.#pageSize}: use 1 to 500`);
    }
    this.#maxPages = options.maxPagesPerRun ?? Infinity;
    this.#periodMs = options.periodMs ?? 0;
    this.#queueThresholdMb = options.queueThresholdMb ?? 500;
    this.#metrics = options.metrics;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#uuid = options.uuid;
    this.lifecycle = new ConnectorLifecycle(opencti, {
      id: options.connectorId,
      name: this.#displayName,
      type: "EXTERNAL_IMPORT", // whatever CONNECTOR_TYPE says (B9)
      scope: options.scope ?? ["tanium"],
      queueThresholdMb: this.#queueThresholdMb,
      runAndTerminate: options.runAndTerminate ?? this.#periodMs === 0,
      ...(options.pingIntervalMs !== undefined ? { pingIntervalMs: options.pingIntervalMs } : {}),
      sleep: this.#sleep,
      minimumVersion: CONNECTOR_MINIMUM["tanium-incidents"],
      minimumFor: "tanium-incidents",
      onReset: () => {
        this.#resetRequested = true;
        this.#cursor = undefined;
      },
    });
    this.#works = new Works(opencti, {
      connectorId: options.connectorId,
      connectorName: this.#displayName,
      now: this.#now,
    });
    // Push transport: stixBundlePush from OpenCTI 6.3, the platform's RabbitMQ below (or when
    // CONNECTOR_QUEUE_PROTOCOL=amqp).
    this.#pusher = new BundleTransport(opencti, {
      connectorId: options.connectorId,
      lifecycle: this.lifecycle,
      works: this.#works,
      ...(options.queueProtocol ? { protocol: options.queueProtocol } : {}),
      ...(options.amqpConnect ? { amqpConnect: options.amqpConnect } : {}),
      ...(options.maxBundleBytes !== undefined ? { maxBytes: options.maxBundleBytes } : {}),
      now: this.#now,
      sleep: this.#sleep,
    });
  }

  /** Registers, then runs now and again one period after each run ends, until the signal aborts. */
  async start(signal: AbortSignal): Promise<void> {
    await this.lifecycle.register(signal);
    if (this.#periodMs === 0) {
      await this.runOnce(signal);
      return;
    }
    const pinging = this.lifecycle.startPinging(signal);
    let first = true;
    try {
      await runScheduled(async (runSignal) => {
        // The first run starts at once, without the queue check (pycti's behaviour).
        const check = !first;
        first = false;
        await this.#runShared(check, runSignal);
      }, {
        periodMs: this.#periodMs,
        signal,
        now: this.#now,
        sleep: this.#sleep,
        onNextRun: (at) => {
          if (at !== undefined) this.lifecycle.setRunInfo({ nextRunAt: at });
        },
      });
    } finally {
      await pinging;
      this.#setState("stopped");
    }
  }

  /** One run (queue check included), then a ping with the state; true unless the run failed. */
  async runOnce(signal?: AbortSignal): Promise<boolean> {
    const outcome = await this.#runShared(true, signal);
    try {
      await this.lifecycle.ping(signal);
    } catch (error) {
      this.#logger.warn("Final ping failed: {error}", { error: message(error) });
    }
    return outcome !== "failed";
  }

  /** A snapshot for `/status` and `/readyz`. */
  status(): ConnectorStatus {
    const reasons: string[] = [];
    if (!this.lifecycle.registered) reasons.push("not registered in OpenCTI yet");
    if (this.#authProblem) reasons.push(this.#authProblem);
    const status: ConnectorStatus = {
      name: this.name,
      ready: reasons.length === 0,
      reasons,
      state: this.#state,
      counters: { ...this.#counters },
      details: {
        cursor: this.#cursor ? cursorToState(this.#cursor) : null,
        lastRun: this.#lastRun ?? null,
        importAlerts: this.#importAlerts,
      },
    };
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    if (this.#lastRun) status.lastRunAt = this.#lastRun.endedAt;
    return status;
  }

  #runShared(checkQueue: boolean, signal?: AbortSignal): Promise<RunOutcome> {
    if (this.#current) return this.#current;
    const run = this.#run(checkQueue, signal).finally(() => {
      this.#current = undefined;
    });
    this.#current = run;
    return run;
  }

  async #run(checkQueue: boolean, signal?: AbortSignal): Promise<RunOutcome> {
    const startedMs = this.#now();
    const summary: RunSummary = {
      outcome: "success",
      startedAt: new Date(startedMs).toISOString(),
      endedAt: "",
      alerts: 0,
      bundles: 0,
      pages: 0,
    };
    this.#setState("running");
    this.#resetRequested = false;
    let workId: string | undefined;
    try {
      if (!this.lifecycle.registered) await this.lifecycle.register(signal);
      if (checkQueue && await this.#buffering(signal)) {
        summary.outcome = "skipped";
        return summary.outcome;
      }
      workId = await this.#works.add(undefined, signal);
      const cursor = await this.#import(workId, summary, signal);
      this.#authProblem = undefined;
      this.#lastError = undefined;
      const reset = summary.outcome === "reset";
      await this.#works.toProcessed(
        workId,
        reset
          ? `${this.#displayName} run stopped: the state was reset in OpenCTI`
          : `${this.#displayName} connector successfully run, storing last_alert_date as ${cursor.date}`,
        ...(signal ? [{ signal }] : []),
      );
      this.#count("runs");
      this.#metrics?.runs.inc({ connector: this.name });
      return summary.outcome;
    } catch (error) {
      summary.outcome = "failed";
      summary.error = message(error);
      this.#lastError = summary.error;
      this.#count("runs_failed");
      this.#metrics?.errors.inc({ connector: this.name });
      if (isTaniumError(error)) this.#metrics?.clientErrors.inc({ connector: this.name });
      if (
        error instanceof TaniumAuthError || error instanceof TaniumForbiddenError ||
        error instanceof OpenCtiAuthError
      ) {
        this.#authProblem = summary.error;
      }
      this.#logger.error("Run failed; the next run resumes from the last saved position: {error}", {
        error: summary.error,
        alerts: summary.alerts,
        bundles: summary.bundles,
      });
      if (workId !== undefined) {
        try {
          await this.#works.toProcessed(
            workId,
            `${this.#displayName} run failed: ${summary.error}`,
            {
              inError: true,
            },
          );
        } catch (closeError) {
          this.#logger.warn("Could not mark work {workId} in error: {error}", {
            workId,
            error: message(closeError),
          });
        }
      }
      return summary.outcome;
    } finally {
      const endedMs = this.#now();
      summary.endedAt = new Date(endedMs).toISOString();
      if (summary.outcome !== "skipped") {
        this.#lastRun = summary;
        this.lifecycle.setRunInfo({ lastRunAt: endedMs });
      }
      this.#setState("idle");
    }
  }

  /** True (and the run is skipped) while the queue is at or above the threshold. */
  async #buffering(signal?: AbortSignal): Promise<boolean> {
    const sizeMb = await this.lifecycle.queueSizeMb(signal);
    const buffering = sizeMb >= this.#queueThresholdMb;
    this.lifecycle.setRunInfo({ queueMessagesSizeMb: sizeMb, buffering });
    if (buffering) {
      this.#skip("buffering");
      this.#logger.info(
        "Skipping this run: the OpenCTI queue holds {sizeMb} MB, at or above CONNECTOR_QUEUE_THRESHOLD ({thresholdMb} MB)",
        { sizeMb, thresholdMb: this.#queueThresholdMb },
      );
    }
    return buffering;
  }

  /** Reads pages from the cursor until the last page, pushing and saving after each. */
  async #import(workId: string, summary: RunSummary, signal?: AbortSignal): Promise<Cursor> {
    const now = new Date(this.#now()).toISOString();
    this.#author ??= await authorIdentity(this.#displayName, now);
    const intels = new IntelCache(this.#tanium);
    const entities = new Map<number, Promise<MatchedEntity | undefined>>();
    let cursor = cursorFromState(this.lifecycle.state) ?? startCursor(this.#startDate());
    let saved = cursor;
    this.#cursor = cursor;
    const flush = async (objects: StixObject[], next: Cursor) => {
      const bundle = buildBundle(this.#author!, objects, this.#uuid ? { uuid: this.#uuid } : {});
      if (bundle) {
        const result = await this.#pusher.pushBundle(bundle, {
          workId,
          ...(signal ? { signal } : {}),
        });
        summary.bundles += result.parts;
        this.#count("bundles", result.parts);
        this.#count("objects", result.objects);
        this.#metrics?.bundlesSent.inc({ connector: this.name }, result.parts);
        this.#metrics?.recordsSent.inc({ connector: this.name }, result.objects);
      }
      if (this.#resetRequested || sameCursor(next, saved)) return;
      await this.lifecycle.saveState(cursorToState(next), signal);
      if (this.#resetRequested) return;
      saved = next;
      this.#cursor = next;
    };

    while (summary.pages < this.#maxPages) {
      const page = await this.#tanium.listAlerts({
        alertedAtFrom: cursor.date,
        limit: this.#pageSize,
        offset: cursor.ids.length,
      }, signal);
      summary.pages += 1;
      this.#count("pages");
      for (const bad of page.malformed) {
        this.#skip("malformed");
        this.#logger.warn("Skipped malformed alert {alertId}: {problem}", {
          alertId: String(bad.rawId ?? "unknown"),
          problem: bad.problem,
        });
      }
      const alerts = [...page.alerts].sort((a, b) => a.alertedAtMs - b.alertedAtMs || a.id - b.id);
      const objects: StixObject[] = [];
      let next = cursor;
      for (const alert of alerts) {
        if (isExamined(next, alert)) {
          this.#skip("already_examined");
          continue;
        }
        let inputs: AlertInputs;
        try {
          inputs = await this.#inputsFor(alert, intels, entities, signal);
        } catch (error) {
          // Tanium or OpenCTI is failing: keep what this page produced so far, stop the run here.
          await flush(objects, next);
          throw error;
        }
        try {
          objects.push(...await this.#convert(alert, now, inputs));
        } catch (error) {
          // Bad data in this alert: log it with its id, count it, and go on (B10).
          this.#skip("failed");
          this.#metrics?.errors.inc({ connector: this.name });
          this.#logger.error("Skipped alert {alertId}: {error}", {
            alertId: alert.id,
            error: message(error),
          });
        }
        next = advance(next, alert);
        summary.alerts += 1;
        this.#count("alerts");
      }
      await flush(objects, next);
      if (this.#resetRequested) {
        summary.outcome = "reset";
        this.#logger.warn("The state was reset in OpenCTI during the run; stopping it here");
        return startCursor(this.#startDate());
      }
      const progressed = !sameCursor(next, cursor);
      cursor = next;
      if (page.size < this.#pageSize) break;
      if (!progressed) {
        this.#logger.warn(
          "A full page of {size} alerts brought nothing new; stopping this run to avoid a loop",
          { size: page.size },
        );
        break;
      }
    }
    return cursor;
  }

  /** The OpenCTI entity and intel document of an alert; errors here are the services' errors. */
  async #inputsFor(
    alert: TaniumAlert,
    intels: IntelCache,
    entities: Map<number, Promise<MatchedEntity | undefined>>,
    signal?: AbortSignal,
  ): Promise<AlertInputs> {
    const suppressed = alert.state?.toLowerCase() === "suppressed";
    if (suppressed || alert.intelDocId === undefined) {
      return { entity: undefined, intel: undefined };
    }
    const entity = await this.#entityFor(alert.intelDocId, entities, signal);
    const intel = this.#importAlerts
      ? await this.#intelFor(alert.intelDocId, intels, signal)
      : undefined;
    return { entity, intel };
  }

  async #convert(alert: TaniumAlert, now: string, inputs: AlertInputs): Promise<StixObject[]> {
    const conversion = await convertAlert(alert, {
      author: this.#author!,
      consoleUrl: this.#consoleUrl,
      importAlerts: this.#importAlerts,
      now,
      intel: inputs.intel,
      entity: inputs.entity,
    });
    for (const reason of conversion.skipped) this.#skip(reason);
    if (conversion.incident) this.#count("incidents");
    if (conversion.sighting) this.#count("sightings");
    if (alert.detailsProblem) {
      this.#logger.warn("Alert {alertId}: {problem}", {
        alertId: alert.id,
        problem: alert.detailsProblem,
      });
    }
    return conversion.objects;
  }

  #entityFor(
    intelDocId: number,
    cache: Map<number, Promise<MatchedEntity | undefined>>,
    signal?: AbortSignal,
  ): Promise<MatchedEntity | undefined> {
    let pending = cache.get(intelDocId);
    if (!pending) {
      pending = findEntityByExternalId(this.#opencti, String(intelDocId), {
        sourceNames: this.#sourceNames,
        first: 10,
        ...(signal ? { signal } : {}),
      }).then((found) =>
        found ? { standard_id: found.standard_id, entity_type: found.entity_type } : undefined
      );
      cache.set(intelDocId, pending);
      pending.catch(() => cache.delete(intelDocId));
    }
    return pending;
  }

  async #intelFor(
    intelDocId: number,
    cache: IntelCache,
    signal?: AbortSignal,
  ): Promise<IntelDoc | undefined> {
    try {
      const intel = await cache.get(intelDocId, signal);
      if (!intel) {
        this.#logger.warn(
          "Tanium intel {intelId} does not exist (404); no incident for its alerts",
          {
            intelId: intelDocId,
          },
        );
      }
      return intel;
    } catch (error) {
      // A permanent problem with one intel document must not block the alerts after it (B10).
      const permanent =
        (error instanceof TaniumResponseError && error.kind === "unexpected-shape") ||
        (error instanceof HttpError && !isTransient(error));
      if (!permanent) throw error;
      this.#skip("intel_error");
      this.#logger.warn(
        "Tanium intel {intelId} is unreadable; no incident for its alerts: {error}",
        {
          intelId: intelDocId,
          error: message(error),
        },
      );
      return undefined;
    }
  }

  #startDate(): string {
    return this.#importStartDate ?? new Date(this.#now() - YEAR_MS).toISOString();
  }

  #count(name: string, by = 1): void {
    this.#counters[name] = (this.#counters[name] ?? 0) + by;
  }

  #skip(reason: string): void {
    this.#count(`skipped.${reason}`);
    this.#metrics?.skipped.inc({ connector: this.name, reason });
  }

  #setState(state: ConnectorStatus["state"]): void {
    this.#state = state;
    this.#metrics?.setState(this.name, state);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isTaniumError(error: unknown): boolean {
  return error instanceof TaniumAuthError || error instanceof TaniumForbiddenError ||
    error instanceof TaniumResponseError || (error instanceof HttpError && isTransient(error));
}
