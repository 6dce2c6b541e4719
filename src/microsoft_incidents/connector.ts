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
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import type { Connector, ConnectorStatus } from "../runtime/connector.ts";
import { Degradation } from "../runtime/degraded.ts";
import {
  LookbackCursor,
  type LookbackState,
  readLookbackState,
  sameLookbackState,
} from "../runtime/lookback_cursor.ts";
import { backoffDelay } from "../runtime/retry.ts";
import { getLogger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { BundleTransport } from "../opencti/transport.ts";
import { CONNECTOR_MINIMUM, type QueueProtocolSetting } from "../opencti/version.ts";
import { ConnectorLifecycle } from "../opencti/connector.ts";
import { OpenCtiAuthError } from "../opencti/errors.ts";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import { Works } from "../opencti/works.ts";
import type { StixObject, Tlp } from "../stix/types.ts";
import {
  INCIDENTS_PERMISSION,
  IncidentsAuthError,
  type IncidentsClient,
  IncidentsForbiddenError,
} from "./client.ts";
import { authorIdentity, buildBundle, convertIncident, matchCandidates } from "./converter.ts";
import { IndicatorResolver } from "./resolver.ts";
import type { MsIncident } from "./schemas.ts";

/** The connector's name in logs, metrics, routes and config prefixes. */
export const CONNECTOR_NAME = "microsoft-incidents";
/** Default display name in OpenCTI (also the author identity's name). */
export const DEFAULT_DISPLAY_NAME = "Microsoft Incidents";
/** The state key holding the cursor. */
export const STATE_KEY = "microsoft_incidents_cursor";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Options of {@linkcode MicrosoftIncidentsConnector}. */
export interface MicrosoftIncidentsOptions {
  /** The connector's UUID. Required. */
  connectorId: string;
  /** Display name and author name. @default "Microsoft Incidents" */
  displayName?: string;
  /** Connector scope. @default ["microsoft-incidents"] */
  scope?: string[];
  /** Marking of what is created. @default "red" */
  tlp?: Tlp;
  /** Sighting confidence (`CONNECTOR_CONFIDENCE_LEVEL`). @default none */
  confidence?: number;
  /** Look evidence values up against OpenCTI indicators by pattern. @default true */
  matchByValue?: boolean;
  /** Where to start without state (ISO, UTC). @default now minus 7 days */
  importStartDate?: string;
  /** The look-back window in ms. @default 3600000 */
  lookBackMs?: number;
  /** Most (incident, update) pairs remembered. @default 20000 */
  maxSeen?: number;
  /** Most pages read in one run. @default Infinity */
  maxPagesPerRun?: number;
  /** Time between runs in ms; 0 = run once. @default 0 */
  periodMs?: number;
  /** `CONNECTOR_RUN_AND_TERMINATE`, reported in pings. @default periodMs === 0 */
  runAndTerminate?: boolean;
  /** Skip a run while the connector's queue holds at least this many MB. @default 500 */
  queueThresholdMb?: number;
  /** Interval of the heartbeat ping in ms. @default 40000 */
  pingIntervalMs?: number;
  /** Largest bundle sent in one push, in bytes. @default 5000000 */
  maxBundleBytes?: number;
  /** `CONNECTOR_QUEUE_PROTOCOL`: how bundles reach OpenCTI. @default "auto" (api from 6.3, amqp below) */
  queueProtocol?: QueueProtocolSetting;
  /** First backoff after a systemic failure, in ms. @default 30000 */
  backoffBaseMs?: number;
  /** Where metrics are counted. @default none */
  metrics?: Metrics;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep between runs. @default a real timer */
  sleep?: Sleep;
  /** Random source in [0, 1) for the backoff jitter. @default Math.random */
  random?: () => number;
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
  /** Incidents imported. */
  incidents: number;
  /** Bundles pushed. */
  bundles: number;
  /** Pages read. */
  pages: number;
  /** The error, when it failed. */
  error?: string;
}

/** The Microsoft incidents → OpenCTI import connector. */
export class MicrosoftIncidentsConnector implements Connector {
  /** Connector name (`microsoft-incidents`). */
  readonly name = CONNECTOR_NAME;
  /** The OpenCTI side: registration, pings, state. */
  readonly lifecycle: ConnectorLifecycle;
  readonly #graph: IncidentsClient;
  readonly #resolver: IndicatorResolver;
  readonly #works: Works;
  readonly #pusher: BundleTransport;
  readonly #degradation: Degradation;
  readonly #options: MicrosoftIncidentsOptions;
  readonly #displayName: string;
  readonly #tlp: Tlp;
  readonly #periodMs: number;
  readonly #queueThresholdMb: number;
  readonly #metrics: Metrics | undefined;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #random: () => number;
  readonly #logger = getLogger(CONNECTOR_NAME);
  readonly #counters: Record<string, number> = {};
  #author: StixObject | undefined;
  #state: ConnectorStatus["state"] = "idle";
  #current: Promise<RunOutcome> | undefined;
  #resetRequested = false;
  #authProblem: string | undefined;
  #lastError: string | undefined;
  #lastRun: RunSummary | undefined;
  #cursor: LookbackState | undefined;
  #failures = 0;
  #retryInMs = 0;

  /** Builds the connector; nothing is sent until `start` or `runOnce`. */
  constructor(graph: IncidentsClient, opencti: OpenCtiClient, options: MicrosoftIncidentsOptions) {
    this.#graph = graph;
    this.#options = options;
    this.#displayName = options.displayName ?? DEFAULT_DISPLAY_NAME;
    this.#tlp = options.tlp ?? "red";
    this.#periodMs = options.periodMs ?? 0;
    this.#queueThresholdMb = options.queueThresholdMb ?? 500;
    this.#metrics = options.metrics;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
    this.#random = options.random ?? Math.random;
    this.#resolver = new IndicatorResolver(opencti);
    this.#degradation = new Degradation(CONNECTOR_NAME, {
      ...(options.metrics ? { metrics: options.metrics } : {}),
      logger: this.#logger,
      now: this.#now,
    });
    this.lifecycle = new ConnectorLifecycle(opencti, {
      id: options.connectorId,
      name: this.#displayName,
      type: "EXTERNAL_IMPORT",
      scope: options.scope ?? ["microsoft-incidents"],
      queueThresholdMb: this.#queueThresholdMb,
      runAndTerminate: options.runAndTerminate ?? this.#periodMs === 0,
      ...(options.pingIntervalMs !== undefined ? { pingIntervalMs: options.pingIntervalMs } : {}),
      sleep: this.#sleep,
      minimumVersion: CONNECTOR_MINIMUM["microsoft-incidents"],
      minimumFor: "microsoft-incidents",
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
    // CONNECTOR_QUEUE_PROTOCOL=amqp), as for tanium-incidents.
    this.#pusher = new BundleTransport(opencti, {
      connectorId: options.connectorId,
      lifecycle: this.lifecycle,
      works: this.#works,
      ...(options.queueProtocol ? { protocol: options.queueProtocol } : {}),
      ...(options.maxBundleBytes !== undefined ? { maxBytes: options.maxBundleBytes } : {}),
      now: this.#now,
      sleep: this.#sleep,
    });
  }

  /**
   * Registers, then runs now and again one period after each run ends; after a systemic failure
   * the next try comes after a jittered backoff (capped at the period). Stops when the signal aborts.
   */
  async start(signal: AbortSignal): Promise<void> {
    await this.lifecycle.register(signal);
    if (this.#periodMs === 0) {
      await this.runOnce(signal);
      return;
    }
    const pinging = this.lifecycle.startPinging(signal);
    let first = true;
    let failures = 0;
    try {
      while (!signal.aborted) {
        const outcome = await this.#runShared(!first, signal);
        first = false;
        failures = outcome === "failed" ? failures + 1 : 0;
        const delay = failures > 0
          ? backoffDelay(
            failures,
            this.#options.backoffBaseMs ?? 30_000,
            this.#periodMs,
            this.#random,
          )
          : this.#periodMs;
        this.lifecycle.setRunInfo({ nextRunAt: this.#now() + delay });
        try {
          await this.#sleep(delay, signal);
        } catch {
          break;
        }
      }
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
    const degraded = this.#degradation.info();
    const status: ConnectorStatus = {
      name: this.name,
      ready: reasons.length === 0,
      reasons,
      state: this.#state,
      counters: { ...this.#counters },
      details: {
        cursor: this.#cursor
          ? { watermark: this.#cursor.watermark, seen: this.#cursor.seen.length }
          : null,
        lastRun: this.#lastRun ?? null,
      },
    };
    if (degraded) status.degraded = degraded;
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
    const summary: RunSummary = {
      outcome: "success",
      startedAt: new Date(this.#now()).toISOString(),
      endedAt: "",
      incidents: 0,
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
      this.#failures = 0;
      this.#degradation.clear();
      await this.#works.toProcessed(
        workId,
        summary.outcome === "reset"
          ? `${this.#displayName} run stopped: the state was reset in OpenCTI`
          : `${this.#displayName} connector successfully run: ${summary.incidents} incidents, ` +
            `watermark ${cursor.watermark}`,
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
      const check = checkOf(error);
      if (
        error instanceof IncidentsAuthError || error instanceof IncidentsForbiddenError ||
        error instanceof OpenCtiAuthError
      ) {
        this.#authProblem = summary.error;
      }
      if (!signal?.aborted) {
        this.#failures += 1;
        const cap = this.#periodMs > 0 ? this.#periodMs : 15 * 60_000;
        this.#retryInMs = backoffDelay(
          this.#failures,
          this.#options.backoffBaseMs ?? 30_000,
          cap,
          this.#random,
        );
        this.#degradation.step(summary.error, {
          ...(check ? { check } : {}),
          retryInMs: this.#retryInMs,
        });
      }
      this.#logger.error("Run failed; the next run resumes from the last saved position: {error}", {
        error: summary.error,
        incidents: summary.incidents,
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
      summary.endedAt = new Date(this.#now()).toISOString();
      if (summary.outcome !== "skipped") {
        this.#lastRun = summary;
        this.lifecycle.setRunInfo({ lastRunAt: this.#now() });
      }
      this.#setState("idle");
    }
  }

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

  /** Reads every page from the cursor, pushing and saving after each page. */
  async #import(workId: string, summary: RunSummary, signal?: AbortSignal): Promise<LookbackState> {
    const now = new Date(this.#now()).toISOString();
    this.#author ??= await authorIdentity(this.#displayName, now);
    this.#resolver.clear();
    const saved = readLookbackState(this.lifecycle.state[STATE_KEY]);
    const cursor = new LookbackCursor(saved, this.#startDate(), {
      ...(this.#options.lookBackMs !== undefined ? { lookBackMs: this.#options.lookBackMs } : {}),
      ...(this.#options.maxSeen !== undefined ? { maxSeen: this.#options.maxSeen } : {}),
    });
    let savedState = cursor.toState();
    this.#cursor = savedState;
    const save = async () => {
      const next = cursor.toState();
      if (this.#resetRequested || sameLookbackState(next, savedState)) return;
      await this.lifecycle.saveState({ ...this.lifecycle.state, [STATE_KEY]: next }, signal);
      if (this.#resetRequested) return;
      savedState = next;
      this.#cursor = next;
    };
    const maxPages = this.#options.maxPagesPerRun ?? Infinity;
    let from: { since: string } | { nextLink: string } = { since: cursor.since() };
    let complete = false;
    while (summary.pages < maxPages) {
      const page = await this.#graph.listPage(from, signal);
      summary.pages += 1;
      this.#count("pages");
      for (const bad of page.malformed) {
        this.#skip("malformed");
        this.#logger.warn("Skipped unreadable incident {incidentId}: {problem}", {
          incidentId: bad.rawId ?? "unknown",
          problem: bad.problem,
        });
      }
      const objects: StixObject[] = [];
      const done: MsIncident[] = [];
      for (const incident of page.incidents) {
        if (cursor.isSeen(incident.id, incident.lastUpdateDateTime)) {
          this.#skip("already_imported");
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
          for (const reason of conversion.skipped) this.#skip(reason);
          objects.push(...conversion.objects);
          this.#count("incidents");
          this.#count("alerts", conversion.alerts);
          this.#count("sightings", conversion.sightings);
          summary.incidents += 1;
        } catch (error) {
          this.#skip("failed");
          this.#logger.error("Skipped incident {incidentId}: {error}", {
            incidentId: incident.id,
            error: message(error),
          });
        }
        done.push(incident);
      }
      const bundle = buildBundle(this.#author, this.#tlp, objects, this.#uuid());
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
      for (const incident of done) cursor.mark(incident.id, incident.lastUpdateDateTime);
      if (!page.nextLink) complete = true;
      if (complete) cursor.finish();
      await save();
      if (this.#resetRequested) {
        summary.outcome = "reset";
        this.#logger.warn("The state was reset in OpenCTI during the run; stopping it here");
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
    const byValue = this.#options.matchByValue ?? true;
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

  /** The wait before the next run: the period, or the jittered backoff after failures. */
  #nextDelay(): number {
    return this.#failures === 0 ? this.#periodMs : this.#retryInMs;
  }

  #uuid(): { uuid?: () => string } {
    return this.#options.uuid ? { uuid: this.#options.uuid } : {};
  }

  #startDate(): string {
    return this.#options.importStartDate ?? new Date(this.#now() - 7 * DAY_MS).toISOString();
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

function checkOf(error: unknown): string | undefined {
  if (error instanceof IncidentsForbiddenError) {
    return `the Graph application permission ${INCIDENTS_PERMISSION}`;
  }
  if (error instanceof IncidentsAuthError) return "TENANT_ID, CLIENT_ID and the credential";
  if (error instanceof OpenCtiAuthError) return "OPENCTI_TOKEN";
  return undefined;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
