/**
 * The `tanium-incidents` EXTERNAL_IMPORT connector (reference `tanium.md` §3-§4): on a schedule,
 * re-reads the look-back window before the saved cursor for late alerts (alerts already examined
 * are listed in the state, see `seen.ts`), then pages through new alerts from the cursor, converts
 * each into STIX objects, pushes one bundle per page inside one OpenCTI work per run, and saves the
 * state right after each page.
 *
 * Failure rules: a failure not proven to belong to one alert (Tanium or OpenCTI unreachable, 401,
 * 403, 5xx, 429, timeouts, truncated JSON, a refused bundle or listing) stops the run where it is,
 * the state keeping the last pushed position, the work marked in error, and the connector
 * `degraded`; the long-running service tries the run again after a jittered backoff capped by
 * `TANIUM_INCIDENTS_MAX_BACKOFF`, until it succeeds. A bad alert (unreadable item, conversion
 * failure) is logged with its id, counted and skipped, and the cursor moves past it.
 *
 * @module
 */
import { errorMessage, HttpError } from "../runtime/errors.ts";
import { isRetryable } from "../runtime/retry.ts";
import { runScheduled } from "../runtime/scheduler.ts";
import type { ConnectorState } from "../opencti/connector.ts";
import { BundleRejectedError, OpenCtiAuthError } from "../opencti/errors.ts";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import {
  ImportConnector,
  type ImportConnectorOptions,
  type ImportRunSummary,
} from "../opencti/import_connector.ts";
import { findEntityByExternalId } from "../opencti/lookup.ts";
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
import { SeenAlerts, STATE_SEEN_KEY } from "./seen.ts";

/** The connector's name in logs, metrics, routes and config prefixes. */
export const CONNECTOR_NAME = "tanium-incidents";
/** Default display name in OpenCTI (also the author identity's name). */
export const DEFAULT_DISPLAY_NAME = "Tanium Threat Response Incidents";
/** First wait after a failed run; it doubles per failure up to the maximum backoff. */
const BACKOFF_BASE_MS = 15_000;

/** Options of {@linkcode TaniumIncidentsConnector}. */
export interface TaniumIncidentsOptions extends ImportConnectorOptions {
  /** Console base URL for incident links (`TANIUM_INCIDENTS_URL_CONSOLE`). Required. */
  consoleUrl: string;
  /** Display name and author name (`CONNECTOR_NAME`). @default "Tanium Threat Response Incidents" */
  displayName?: string;
  /** `false` = sightings only (`TANIUM_INCIDENTS_IMPORT_ALERTS`). */
  importAlerts: boolean;
  /** Start when the state has no cursor (ISO, UTC). @default `importStartBackMs` before now */
  importStartDate?: string | undefined;
  /** Without `importStartDate`, how long before now a first run starts, in ms. */
  importStartBackMs: number;
  /** `source_name` values of the intel references to match (`TANIUM_INCIDENTS_INTEL_SOURCE_NAMES`). */
  intelSourceNames: readonly string[];
  /** Alerts per page, 1-500 (`TANIUM_INCIDENTS_PAGE_SIZE`). */
  pageSize: number;
  /** Most pages read in one run (the rest waits for the next run). @default Infinity */
  maxPagesPerRun?: number;
  /**
   * How far before the cursor each run re-reads for late alerts (`TANIUM_INCIDENTS_LOOKBACK`),
   * in ms; 0 = no look-back.
   */
  lookbackMs: number;
  /**
   * Longest wait between two tries of a run that failed on a systemic error
   * (`TANIUM_INCIDENTS_MAX_BACKOFF`), in ms.
   */
  maxBackoffMs: number;
}

export type { RunOutcome } from "../opencti/import_connector.ts";

/** The summary of the last run. */
export interface RunSummary extends ImportRunSummary {
  /** Alerts examined. */
  alerts: number;
}

interface AlertInputs {
  entity: MatchedEntity | undefined;
  intel: IntelDoc | undefined;
}

/** The Tanium alerts → OpenCTI import connector. */
export class TaniumIncidentsConnector extends ImportConnector<RunSummary> {
  readonly #tanium: TaniumClient;
  readonly #opencti: OpenCtiClient;
  readonly #consoleUrl: string;
  readonly #importAlerts: boolean;
  readonly #importStartDate: string | undefined;
  readonly #importStartBackMs: number;
  readonly #sourceNames: readonly string[];
  readonly #pageSize: number;
  readonly #maxPages: number;
  #author: StixObject | undefined;
  #cursor: Cursor | undefined;
  #seen: SeenAlerts | undefined;
  readonly #lookbackMs: number;
  readonly #maxBackoffMs: number;
  /** Which service the run was talking to last (names the setting to check when it fails). */
  #side: "tanium" | "opencti" = "opencti";

  /** Builds the connector; nothing is sent until `start` or `runOnce`. */
  constructor(tanium: TaniumClient, opencti: OpenCtiClient, options: TaniumIncidentsOptions) {
    super(opencti, options, {
      name: CONNECTOR_NAME,
      defaultDisplayName: DEFAULT_DISPLAY_NAME,
    });
    this.#tanium = tanium;
    this.#opencti = opencti;
    this.#consoleUrl = options.consoleUrl.replace(/\/+$/, "");
    this.#importAlerts = options.importAlerts;
    this.#importStartDate = options.importStartDate;
    this.#importStartBackMs = options.importStartBackMs;
    this.#sourceNames = options.intelSourceNames;
    this.#pageSize = options.pageSize;
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1 || this.#pageSize > MAX_PAGE_SIZE) {
      throw new RangeError(`Cannot page Tanium alerts by ${this.#pageSize}: use 1 to 500`);
    }
    this.#maxPages = options.maxPagesPerRun ?? Infinity;
    this.#lookbackMs = options.lookbackMs;
    if (!Number.isFinite(this.#lookbackMs) || this.#lookbackMs < 0) {
      throw new RangeError(`Cannot look back ${this.#lookbackMs} ms: give 0 or more`);
    }
    this.#maxBackoffMs = options.maxBackoffMs;
    if (!Number.isFinite(this.#maxBackoffMs) || this.#maxBackoffMs <= 0) {
      throw new RangeError(`Cannot back off up to ${this.#maxBackoffMs} ms: give more than 0`);
    }
  }

  /** Registers, then runs now and again one period after each run ends, until the signal aborts. */
  async start(signal: AbortSignal): Promise<void> {
    if (!await this.#registerHeld(signal)) return;
    await this.runPeriodic(signal, async () => {
      let first = true;
      await runScheduled(async (runSignal) => {
        // The first run starts at once, without the queue check (pycti's behaviour).
        const check = !first;
        first = false;
        let outcome = await this.runShared(check, runSignal);
        // A failed run holds (the cursor stays) and is tried again after a jittered backoff
        // until it succeeds; only then does the schedule wait a full period.
        while (outcome === "failed" && !runSignal.aborted) {
          this.lifecycle.setRunInfo({ nextRunAt: this.now() + this.retryInMs });
          try {
            await this.sleep(this.retryInMs, runSignal);
          } catch (error) {
            if (runSignal.aborted) return;
            throw error;
          }
          outcome = await this.runShared(true, runSignal);
        }
      }, {
        periodMs: this.periodMs,
        signal,
        now: this.now,
        sleep: this.sleep,
        onNextRun: (at) => {
          if (at !== undefined) this.lifecycle.setRunInfo({ nextRunAt: at });
        },
      });
    });
  }

  /**
   * Registers; while OpenCTI is unreachable or refuses the token, holds (degraded, jittered
   * backoff) instead of failing. False when the signal aborted first.
   */
  async #registerHeld(signal: AbortSignal): Promise<boolean> {
    for (let failures = 1;; failures++) {
      try {
        await this.lifecycle.register(signal);
        this.degradation.clear();
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        if (!(isRetryable(error) || error instanceof OpenCtiAuthError)) throw error;
        const retryInMs = this.#backoffMs(failures);
        this.lastError = errorMessage(error);
        if (error instanceof OpenCtiAuthError) this.authProblem = this.lastError;
        this.#side = "opencti";
        this.degradation.step(`Cannot register in OpenCTI: ${this.lastError}`, {
          check: this.#settingToCheck(error),
          retryInMs,
        });
        try {
          await this.sleep(retryInMs, signal);
        } catch (sleepError) {
          if (signal.aborted) return false;
          throw sleepError;
        }
      }
    }
  }

  protected newSummary(base: ImportRunSummary): RunSummary {
    return { ...base, alerts: 0 };
  }

  protected async importRun(
    workId: string,
    summary: RunSummary,
    signal?: AbortSignal,
  ): Promise<string> {
    const cursor = await this.#import(workId, summary, signal);
    return `${this.displayName} connector successfully run, storing last_alert_date as ${cursor.date}`;
  }

  protected override onRunStart(): void {
    this.#side = "opencti";
  }

  protected override isAuthError(error: unknown): boolean {
    return error instanceof TaniumAuthError || error instanceof TaniumForbiddenError ||
      super.isAuthError(error);
  }

  protected onRunFailed(error: unknown, summary: RunSummary): void {
    if (isTaniumError(error)) this.metrics?.clientErrors.inc({ connector: this.name });
    this.failures += 1;
    this.retryInMs = this.#backoffMs(this.failures);
    this.degradation.step(summary.error ?? "", {
      check: this.#settingToCheck(error),
      retryInMs: this.periodMs === 0 ? 0 : this.retryInMs,
    });
  }

  protected failureCounts(summary: RunSummary): Record<string, number> {
    return { alerts: summary.alerts };
  }

  protected statusDetails(): Record<string, unknown> {
    return {
      cursor: this.#cursor ? cursorToState(this.#cursor) : null,
      importAlerts: this.#importAlerts,
      ...(this.#seen ? { seenAlerts: this.#seen.size } : {}),
    };
  }

  protected onStateReset(): void {
    this.#cursor = undefined;
  }

  /**
   * One run's reading: first the look-back window (alerts older than the cursor that were not
   * examined yet: late arrivals), then forward from the cursor; pushing and saving after each page.
   */
  async #import(workId: string, summary: RunSummary, signal?: AbortSignal): Promise<Cursor> {
    const now = new Date(this.now()).toISOString();
    this.#author ??= await authorIdentity(this.displayName, now);
    const intels = new IntelCache(this.#tanium);
    const entities = new Map<number, Promise<MatchedEntity | undefined>>();
    const state = this.lifecycle.state;
    const stored = cursorFromState(state);
    let cursor = stored ?? startCursor(this.#startDate());
    const storedSeen = SeenAlerts.fromState(state);
    // A state written before the look-back existed has a cursor and no seen set: the alerts of
    // the window that the cursor covers were handled by then; the first look-back records them.
    const baseline = stored !== undefined && storedSeen === undefined;
    const seen = storedSeen ?? new SeenAlerts();
    if (baseline) {
      // The forward read skips the cursor's own ids by offset: record them here.
      for (const id of cursor.ids) seen.add({ id, alertedAtMs: Date.parse(cursor.date) });
    }
    let saved = JSON.stringify(this.#stateOf(cursor, seen));
    this.#cursor = cursor;
    this.#seen = seen;

    const flush = async (objects: StixObject[], next: Cursor) => {
      const bundle = buildBundle(this.#author!, objects, this.uuid ? { uuid: this.uuid } : {});
      if (bundle) {
        this.#side = "opencti";
        await this.push(bundle, workId, summary, signal);
      }
      seen.prune(Date.parse(next.date) - this.#lookbackMs);
      const nextState = this.#stateOf(next, seen);
      const text = JSON.stringify(nextState);
      if (this.resetRequested || text === saved) return;
      this.#side = "opencti";
      await this.lifecycle.saveState(nextState, signal);
      if (this.resetRequested) return;
      saved = text;
      this.#cursor = next;
    };

    // Handles one alert read from Tanium: pushes nothing itself, returns its objects.
    const examine = async (alert: TaniumAlert, objects: StixObject[], next: Cursor) => {
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
        this.skip("failed");
        this.metrics?.errors.inc({ connector: this.name });
        this.logger.error("Skipped alert {alertId}: {error}", {
          alertId: alert.id,
          error: errorMessage(error),
        });
      }
      seen.add(alert);
      summary.alerts += 1;
      this.count("alerts");
    };

    // 1. The look-back window: [cursor - lookback, cursor), paged by (alertedAt, id).
    if (stored !== undefined && this.#lookbackMs > 0) {
      const windowStart = new Date(Date.parse(cursor.date) - this.#lookbackMs).toISOString();
      let position: Cursor = { date: windowStart, ids: [] };
      for (;;) {
        this.#side = "tanium";
        const page = await this.#tanium.listAlerts({
          alertedAtFrom: position.date,
          alertedAtUntil: cursor.date,
          limit: this.#pageSize,
          offset: position.ids.length,
        }, signal);
        summary.pages += 1;
        this.count("pages");
        this.count("lookback_pages");
        const objects: StixObject[] = [];
        const before = position;
        for (const alert of sortAlerts(page.alerts)) {
          position = advance(position, alert);
          if (seen.has(alert)) continue;
          if (baseline) {
            seen.add(alert);
            continue;
          }
          this.count("late_alerts");
          this.logger.info("Importing late alert {alertId} (alertedAt {alertedAt})", {
            alertId: alert.id,
            alertedAt: alert.alertedAt,
          });
          await examine(alert, objects, cursor);
        }
        if (!baseline) await flush(objects, cursor);
        if (this.resetRequested) return this.#stopForReset(summary);
        if (page.size < this.#pageSize || sameCursor(before, position)) break;
      }
      if (baseline) await flush([], cursor);
    }

    // 2. Forward from the cursor.
    let forwardPages = 0;
    while (forwardPages < this.#maxPages) {
      this.#side = "tanium";
      const page = await this.#tanium.listAlerts({
        alertedAtFrom: cursor.date,
        limit: this.#pageSize,
        offset: cursor.ids.length,
      }, signal);
      forwardPages += 1;
      summary.pages += 1;
      this.count("pages");
      for (const bad of page.malformed) {
        this.skip("malformed");
        this.logger.warn("Skipped malformed alert {alertId}: {problem}", {
          alertId: String(bad.rawId ?? "unknown"),
          problem: bad.problem,
        });
      }
      const objects: StixObject[] = [];
      let next = cursor;
      for (const alert of sortAlerts(page.alerts)) {
        if (isExamined(next, alert) || seen.has(alert)) {
          this.skip("already_examined");
          continue;
        }
        await examine(alert, objects, next);
        next = advance(next, alert);
      }
      await flush(objects, next);
      if (this.resetRequested) return this.#stopForReset(summary);
      const progressed = !sameCursor(next, cursor);
      cursor = next;
      if (page.size < this.#pageSize) break;
      if (!progressed) {
        this.logger.warn(
          "A full page of {size} alerts brought nothing new; stopping this run to avoid a loop",
          { size: page.size },
        );
        break;
      }
    }
    return cursor;
  }

  #stopForReset(summary: RunSummary): Cursor {
    summary.outcome = "reset";
    this.logger.warn("The state was reset in OpenCTI during the run; stopping it here");
    return startCursor(this.#startDate());
  }

  /** The connector state: the cursor (upstream keys) and the alerts seen in the look-back window. */
  #stateOf(cursor: Cursor, seen: SeenAlerts): ConnectorState {
    return { ...cursorToState(cursor), [STATE_SEEN_KEY]: seen.toState() };
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
    this.#side = "opencti";
    const entity = await this.#entityFor(alert.intelDocId, entities, signal);
    this.#side = "tanium";
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
    for (const reason of conversion.skipped) this.skip(reason);
    if (conversion.incident) this.count("incidents");
    if (conversion.sighting) this.count("sightings");
    if (alert.detailsProblem) {
      this.logger.warn("Alert {alertId}: {problem}", {
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
        this.logger.warn(
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
      this.skip("intel_error");
      this.logger.warn(
        "Tanium intel {intelId} is unreadable; no incident for its alerts: {error}",
        {
          intelId: intelDocId,
          error: errorMessage(error),
        },
      );
      return undefined;
    }
  }

  /** Equal-jitter exponential backoff: between half and all of min(cap, base * 2^(n-1)). */
  #backoffMs(failures: number): number {
    const ceiling = Math.min(
      this.#maxBackoffMs,
      BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30),
    );
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  /** The setting or permission a failed run points at. */
  #settingToCheck(error: unknown): string {
    if (error instanceof TaniumAuthError) return "TANIUM_INCIDENTS_TOKEN";
    if (error instanceof TaniumForbiddenError) {
      return "the Threat Response permissions of the TANIUM_INCIDENTS_TOKEN persona";
    }
    if (error instanceof OpenCtiAuthError) return "OPENCTI_TOKEN";
    if (error instanceof BundleRejectedError) {
      return "the OpenCTI platform (bundle refused: see its logs and app:max_payload_body_size)";
    }
    if (error instanceof TaniumResponseError || this.#side === "tanium") {
      return "TANIUM_INCIDENTS_URL and the Tanium server's health";
    }
    return "OPENCTI_URL and the OpenCTI platform's health";
  }

  #startDate(): string {
    return this.#importStartDate ??
      new Date(this.now() - this.#importStartBackMs).toISOString();
  }
}

function sortAlerts(alerts: readonly TaniumAlert[]): TaniumAlert[] {
  return [...alerts].sort((a, b) => a.alertedAtMs - b.alertedAtMs || a.id - b.id);
}

function isTaniumError(error: unknown): boolean {
  return error instanceof TaniumAuthError || error instanceof TaniumForbiddenError ||
    error instanceof TaniumResponseError || (error instanceof HttpError && isTransient(error));
}
