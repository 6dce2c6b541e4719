/**
 * The `sentinel` stream connector: OpenCTI indicators (live stream) → Microsoft Graph
 * tiIndicators, the Sentinel STIX objects upload API, or Defender for Endpoint indicators.
 *
 * @module
 */
import { streamConnectorOptions } from "../opencti/stream_pump.ts";
import type { ConnectorDeps, ConnectorModule } from "../runtime/registry.ts";
import { SentinelConnector } from "./connector.ts";
import {
  DeadLetters,
  type DeadLetterStore,
  FileDeadLetterStore,
  MemoryDeadLetterStore,
} from "../opencti/dead_letters.ts";
import { DEFAULT_DEAD_LETTER_FILE, type SentinelSettings, sentinelSettings } from "./settings.ts";
import { createTarget, createTokenProvider } from "../microsoft/targets.ts";
import { parseAdoptSource } from "./adopt.ts";
import { Reconciler } from "./reconcile.ts";
import { ReconcilingConnector } from "./reconcile_host.ts";

export { sentinelSettings } from "./settings.ts";
export type { SentinelSettings } from "./settings.ts";

/** Deno Deploy schedule of the sentinel catch-up: every minute (each run stops within its 50 s budget). */
export const SENTINEL_SCHEDULE = "* * * * *";

/**
 * Where the dead letters are kept: the configured file, memory for `none`, and when unset
 * {@linkcode DEFAULT_DEAD_LETTER_FILE} (memory on a host without a writable disk, Deno Deploy).
 */
export function deadLetterStore(
  file: string | undefined,
  deps: Pick<ConnectorDeps, "diskless">,
): DeadLetterStore {
  const path = file ?? (deps.diskless ? "none" : DEFAULT_DEAD_LETTER_FILE);
  return path === "none" ? new MemoryDeadLetterStore() : new FileDeadLetterStore(path);
}

/**
 * A Deno Deploy schedule close to a reconcile period: every N minutes or hours when the period
 * divides a day, else once a day (at 03:17 UTC); undefined for 0 (none).
 */
export function cronForPeriod(ms: number): string | undefined {
  if (ms <= 0) return undefined;
  const minutes = Math.max(1, Math.round(ms / 60_000));
  if (minutes < 60 && 60 % minutes === 0) return `*/${minutes} * * * *`;
  const hours = Math.round(minutes / 60);
  if (minutes % 60 === 0 && hours < 24 && 24 % hours === 0) return `17 */${hours} * * *`;
  return "17 3 * * *";
}

/** The sentinel connector as the registry hosts it. */
export const sentinel: ConnectorModule<SentinelSettings> = {
  name: "sentinel",
  settings: sentinelSettings,
  cronSchedule: () => SENTINEL_SCHEDULE,
  reconcileSchedule: (s) => cronForPeriod(s.reconcilePeriodMs),
  async create(s, deps) {
    const time = {
      ...(deps.now === undefined ? {} : { now: deps.now }),
      ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
    };
    const remote = { ...time, ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }) };
    const tokens = await createTokenProvider(s, remote);
    const target = createTarget(s, tokens, remote);
    const live = s.connector.liveStream;
    const hook: { host?: ReconcilingConnector } = {};
    const connector = new SentinelConnector({
      url: deps.opencti.url,
      token: deps.opencti.token,
      client: deps.opencti.client(),
      ...streamConnectorOptions(s.connector),
      target,
      batchSize: s.batchSize,
      batchTimeoutMs: s.batchTimeoutMs,
      writeBack: s.writeBack,
      maxBackoffMs: s.maxBackoffMs,
      deadLetters: new DeadLetters(deadLetterStore(s.deadLetterFile, deps), s.deadLetterLimit),
      ...(s.eventTypes === undefined ? {} : { eventTypes: s.eventTypes }),
      ...(s.target === "sentinel" && s.sentinelApi.publishIdentities
        ? { publishIdentities: true }
        : {}),
      fetch: deps.opencti.fetch,
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
      ...time,
      beforeFirstFollow: (signal) => hook.host?.firstStart(signal) ?? Promise.resolve(),
    });
    if (!target.listOwned || !target.fingerprint) return connector;
    const adopt = parseAdoptSource(s.adoptSource, s.target);
    const reconciler = new Reconciler({
      target,
      replay: {
        url: deps.opencti.url,
        token: deps.opencti.token,
        streamId: live.id,
        listenDelete: live.listenDelete,
        noDependencies: live.noDependencies,
        withInferences: live.withInferences,
        fetch: deps.opencti.fetch,
        ...time,
      },
      deliver: (operations) => connector.deliverOutOfBand(operations),
      ...(adopt ? { adopt } : {}),
      ...(deps.now === undefined ? {} : { now: deps.now }),
    });
    hook.host = new ReconcilingConnector(connector, reconciler, {
      periodMs: s.reconcilePeriodMs,
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    });
    return hook.host;
  },
};
