/**
 * The `microsoft-incidents` EXTERNAL_IMPORT connector: on a schedule, reads the Microsoft
 * security incidents updated since the cursor (with a look-back window), converts each with its
 * alerts, resolves the OpenCTI indicators the alerts matched, pushes one bundle per page inside
 * one OpenCTI work per run, and saves the cursor right after each pushed page.
 *
 * Exactly once: the cursor ({@linkcode LookbackCursor}) remembers every (incident id,
 * lastUpdateDateTime) pushed, so same-second floods and the look-back re-reads import nothing
 * twice, while an incident updated after its import is a new pair and is imported again with the
 * same deterministic ids (updated in OpenCTI, not duplicated).
 *
 * Failures: an unreadable incident or a conversion failure is that incident's own problem
 * (logged with its id, counted, skipped, and marked seen). Anything else (Graph or OpenCTI
 * unreachable, 401/403, throttling past the retries, 5xx) is systemic: the run stops where it is
 * with the state at the last pushed page, the connector reports `degraded`, and the next try
 * comes after a jittered backoff (never later than the period).
 *
 * @module
 */
import {
  LookbackCursor,
  type LookbackState,
  readLookbackState,
  sameLookbackState,
} from "../runtime/lookback_cursor.ts";
import { backoffDelay } from "../runtime/retry.ts";
import { OpenCtiAuthError } from "../opencti/errors.ts";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import {
  ImportConnector,
  type ImportConnectorOptions,
  type ImportRunSummary,
} from "../opencti/import_connector.ts";
import type { StixObject, Tlp } from "../stix/types.ts";
import {
  INCIDENTS_CREDENTIAL_SETTINGS,
  IncidentsAuthError,
  type IncidentsClient,
  IncidentsForbiddenError,
} from "./client.ts";
import { authorIdentity, buildBundle, convertIncident, matchCandidates } from "./converter.ts";
import { IndicatorResolver } from "./resolver.ts";
import type { MsIncident } from "./schemas.ts";
import { errorMessage } from "../runtime/errors.ts";
import { ACCESS } from "../microsoft/access_hints.ts";

/** The connector's name in logs, metrics, routes and config prefixes. */
export const CONNECTOR_NAME = "microsoft-incidents";
/** Default display name in OpenCTI (also the author identity's name). */
export const DEFAULT_DISPLAY_NAME = "Microsoft Incidents";
/** The state key holding the cursor. */
export const STATE_KEY = "microsoft_incidents_cursor";

/** Options of {@linkcode MicrosoftIncidentsConnector}. */
export interface MicrosoftIncidentsOptions extends ImportConnectorOptions {
  /** Display name and author name. @default "Microsoft Incidents" */
  displayName?: string;
  /** Marking of what is created (`MICROSOFT_INCIDENTS_TLP`). */
  tlp: Tlp;
  /** Sighting confidence (`CONNECTOR_CONFIDENCE_LEVEL`). @default none */
  confidence?: number;
  /** Look evidence values up against OpenCTI indicators by pattern (`MICROSOFT_INCIDENTS_MATCH_BY_VALUE`). */
  matchByValue: boolean;
  /** Where to start without state (ISO, UTC). @default `importStartBackMs` before now */
  importStartDate?: string;
  /** Without `importStartDate`, how long before now a first run starts, in ms. */
  importStartBackMs: number;
  /** The look-back window in ms (`MICROSOFT_INCIDENTS_LOOK_BACK`). */
  lookBackMs: number;
  /** Most (incident, update) pairs remembered. @default 20000 */
  maxSeen?: number;
  /** Most pages read in one run. @default Infinity */
  maxPagesPerRun?: number;
  /** First backoff after a systemic failure, in ms. @default 30000 */
  backoffBaseMs?: number;
}

export type { RunOutcome } from "../opencti/import_connector.ts";

/** The summary of the last run. */
export interface RunSummary extends ImportRunSummary {
  /** Incidents imported. */
  incidents: number;
}

/** The Microsoft incidents → OpenCTI import connector. */
export class MicrosoftIncidentsConnector extends ImportConnector<RunSummary> {
  readonly #graph: IncidentsClient;
  readonly #resolver: IndicatorResolver;
  readonly #options: MicrosoftIncidentsOptions;
  readonly #backoffBaseMs: number;
  readonly #tlp: Tlp;
  #author: StixObject | undefined;
  #cursor: LookbackState | undefined;

  /** Builds the connector; nothing is sent until `start` or `runOnce`. */
  constructor(graph: IncidentsClient, opencti: OpenCtiClient, options: MicrosoftIncidentsOptions) {
    super(opencti, options, {
      name: CONNECTOR_NAME,
      defaultDisplayName: DEFAULT_DISPLAY_NAME,
    });
    this.#graph = graph;
    this.#options = options;
    this.#backoffBaseMs = options.backoffBaseMs ?? 30_000;
    this.#tlp = options.tlp;
    this.#resolver = new IndicatorResolver(opencti);
  }

  /**
   * Registers, then runs now and again one period after each run ends; after a systemic failure
   * the next try comes after a jittered backoff (capped at the period). Stops when the signal aborts.
   */
  async start(signal: AbortSignal): Promise<void> {
    await this.lifecycle.register(signal);
    await this.runPeriodic(signal, async () => {
      let first = true;
      let failures = 0;
      while (!signal.aborted) {
        const outcome = await this.runShared(!first, signal);
        first = false;
        failures = outcome === "failed" ? failures + 1 : 0;
        const delay = failures > 0
          ? backoffDelay(
            failures,
            this.#backoffBaseMs,
            this.periodMs,
            this.random,
          )
          : this.periodMs;
        this.lifecycle.setRunInfo({ nextRunAt: this.now() + delay });
        try {
          await this.sleep(delay, signal);
        } catch {
          break;
        }
      }
    });
  }

  protected newSummary(base: ImportRunSummary): RunSummary {
    return { ...base, incidents: 0 };
  }

  protected async importRun(
    workId: string,
    summary: RunSummary,
    signal?: AbortSignal,
  ): Promise<string> {
    const cursor = await this.#import(workId, summary, signal);
    return `${this.displayName} connector successfully run: ${summary.incidents} incidents, ` +
      `watermark ${cursor.watermark}`;
  }

  protected override isAuthError(error: unknown): boolean {
    return error instanceof IncidentsAuthError || error instanceof IncidentsForbiddenError ||
      super.isAuthError(error);
  }

  protected onRunFailed(error: unknown, summary: RunSummary, signal?: AbortSignal): void {
    if (signal?.aborted) return;
    const check = checkOf(error);
    this.failures += 1;
    const cap = this.periodMs > 0 ? this.periodMs : 15 * 60_000;
    this.retryInMs = backoffDelay(
      this.failures,
      this.#backoffBaseMs,
      cap,
      this.random,
    );
    this.degradation.step(summary.error ?? "", {
      ...(check ? { check } : {}),
      retryInMs: this.retryInMs,
    });
  }

  protected failureCounts(summary: RunSummary): Record<string, number> {
    return { incidents: summary.incidents };
  }

  protected statusDetails(): Record<string, unknown> {
    return {
      cursor: this.#cursor
        ? { watermark: this.#cursor.watermark, seen: this.#cursor.seen.length }
        : null,
    };
  }

  protected onStateReset(): void {
    this.#cursor = undefined;
  }

  /** Reads every page from the cursor, pushing and saving after each page. */
  async #import(workId: string, summary: RunSummary, signal?: AbortSignal): Promise<LookbackState> {
    const now = new Date(this.now()).toISOString();
    this.#author ??= await authorIdentity(this.displayName, now);
    this.#resolver.clear();
    const saved = readLookbackState(this.lifecycle.state[STATE_KEY]);
    const cursor = new LookbackCursor(saved, this.#startDate(), {
      lookBackMs: this.#options.lookBackMs,
      ...(this.#options.maxSeen !== undefined ? { maxSeen: this.#options.maxSeen } : {}),
    });
    let savedState = cursor.toState();
    this.#cursor = savedState;
    const save = async () => {
      const next = cursor.toState();
      if (this.resetRequested || sameLookbackState(next, savedState)) return;
      await this.lifecycle.saveState({ ...this.lifecycle.state, [STATE_KEY]: next }, signal);
      if (this.resetRequested) return;
      savedState = next;
      this.#cursor = next;
    };
    const maxPages = this.#options.maxPagesPerRun ?? Infinity;
    let from: { since: string } | { nextLink: string } = { since: cursor.since() };
    let complete = false;
    while (summary.pages < maxPages) {
      const page = await this.#graph.listPage(from, signal);
      summary.pages += 1;
      this.count("pages");
      for (const bad of page.malformed) {
        this.skip("malformed");
        this.logger.warn("Skipped unreadable incident {incidentId}: {problem}", {
          incidentId: bad.rawId ?? "unknown",
          problem: bad.problem,
        });
      }
      const objects: StixObject[] = [];
      const done: MsIncident[] = [];
      for (const incident of page.incidents) {
        if (cursor.isSeen(incident.id, incident.lastUpdateDateTime)) {
          this.skip("already_imported");
          continue;
        }
        const matches = await this.#matchesOf(incident, signal); // systemic errors propagate
        try {
          const conversion = await convertIncident(incident, {
            author: this.#author,
            tlp: this.#tlp,
            now,
            ...(this.#options.confidence !== undefined
              ? { confidence: this.#options.confidence }
              : {}),
            matches,
          });
          for (const reason of conversion.skipped) this.skip(reason);
          objects.push(...conversion.objects);
          this.count("incidents");
          this.count("alerts", conversion.alerts);
          this.count("sightings", conversion.sightings);
          summary.incidents += 1;
        } catch (error) {
          this.skip("failed");
          this.logger.error("Skipped incident {incidentId}: {error}", {
            incidentId: incident.id,
            error: errorMessage(error),
          });
        }
        done.push(incident);
      }
      const bundle = buildBundle(this.#author, this.#tlp, objects, this.#uuid());
      if (bundle) await this.push(bundle, workId, summary, signal);
      for (const incident of done) cursor.mark(incident.id, incident.lastUpdateDateTime);
      if (!page.nextLink) complete = true;
      if (complete) cursor.finish();
      await save();
      if (this.resetRequested) {
        summary.outcome = "reset";
        this.logger.warn("The state was reset in OpenCTI during the run; stopping it here");
        return cursor.toState();
      }
      if (complete || !page.nextLink) break;
      from = { nextLink: page.nextLink };
    }
    return cursor.toState();
  }

  /** The OpenCTI indicators each alert matched (by STIX id, and by evidence value when enabled). */
  async #matchesOf(
    incident: MsIncident,
    signal?: AbortSignal,
  ): Promise<Map<string, string[]>> {
    const matches = new Map<string, string[]>();
    const byValue = this.#options.matchByValue;
    for (const alert of incident.alerts) {
      const candidates = matchCandidates(alert);
      const found = new Set<string>();
      for (const id of candidates.stixIds) {
        const hit = await this.#resolver.byStixId(id, signal);
        if (hit) found.add(hit);
      }
      if (byValue) {
        for (const value of candidates.values) {
          for (const hit of await this.#resolver.byPattern(value.pattern, signal)) found.add(hit);
        }
      }
      if (found.size > 0) matches.set(alert.id, [...found].sort());
    }
    return matches;
  }

  #uuid(): { uuid?: () => string } {
    return this.uuid ? { uuid: this.uuid } : {};
  }

  #startDate(): string {
    return this.#options.importStartDate ??
      new Date(this.now() - this.#options.importStartBackMs).toISOString();
  }
}

function checkOf(error: unknown): string | undefined {
  if (error instanceof IncidentsForbiddenError) {
    return ACCESS.incidents;
  }
  if (error instanceof IncidentsAuthError) return INCIDENTS_CREDENTIAL_SETTINGS;
  if (error instanceof OpenCtiAuthError) return "OPENCTI_TOKEN";
  return undefined;
}
