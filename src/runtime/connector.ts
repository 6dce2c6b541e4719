/** The contract every connector hosted by this program fulfils. */
import type { DegradedInfo } from "./degraded.ts";

/** What `/status` and `/readyz` show for one connector. */
export interface ConnectorStatus {
  /** Connector name, e.g. `sentinel` or `tanium-incidents`. */
  name: string;
  /** True when the connector can do its job (registered, credentials accepted, loop running). */
  ready: boolean;
  /** Why the connector is not ready; empty when ready. */
  reasons: string[];
  /** `idle`, `running` or `stopped`, as in pycti's `state` metric. */
  state: "idle" | "running" | "stopped";
  /** The last error message, if any (never a secret). */
  lastError?: string;
  /** ISO date of the last completed run or checkpoint. */
  lastRunAt?: string;
  /** Counters by name (`events_total`, `skipped_total{reason}` flattened as `skipped.reason`). */
  counters: Record<string, number>;
  /**
   * Present while a systemic failure (token, permission, throttling, outage) holds delivery: the
   * connector is alive and loses nothing, but is not moving. Liveness stays 200.
   */
  degraded?: DegradedInfo;
  /** Anything else worth showing (cursor, target, cap reached...). */
  details?: Record<string, unknown>;
}

/** The dead letters of a connector (items a target refused for good), for the server. */
export interface DeadLetterView {
  /** The entries, oldest first. */
  entries: readonly object[];
  /** Entries dropped because the list was full. */
  overflow: number;
}

/** A connector: long-running with `start`, one bounded pass with `runOnce`. */
export interface Connector {
  /** Connector name used in logs, metrics, routes and config prefixes. */
  readonly name: string;
  /** Runs until the signal aborts; resolves after in-flight work is finished and state saved. */
  start(signal: AbortSignal): Promise<void>;
  /** One bounded pass (a scheduled import, or a stream catch-up); resolves true on success. */
  runOnce(signal?: AbortSignal): Promise<boolean>;
  /** A snapshot of the connector's status. */
  status(): ConnectorStatus;
  /** Its dead letters, when it keeps any. @default none */
  deadLetters?(): DeadLetterView;
  /** Sends its dead letters again; resolves with counts (tried, delivered, failed…). @default none */
  replayDeadLetters?(signal?: AbortSignal): Promise<object>;
  /** Makes the target equal to OpenCTI (or, with `dryRun`, only plans it); resolves with the report. @default none */
  reconcile?(options: { dryRun?: boolean }, signal?: AbortSignal): Promise<object>;
}
