/** Shared wiring of the sentinel end-to-end tests: a connector against a simulator stack. */
import type { Metrics } from "../../src/metrics.ts";
import { GraphTarget } from "../../src/microsoft/graph.ts";
import type { TokenSource } from "../../src/microsoft/token_source.ts";
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import type { Fetch } from "../../src/runtime/http.ts";
import { SentinelConnector, type SentinelConnectorOptions } from "../../src/sentinel/connector.ts";
import type { SyncTarget } from "../../src/microsoft/target.ts";
import { SEED_TIME } from "../../src/sim/opencti_seed.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import type { SentinelStack } from "../../src/sim/stack.ts";
import type { StixObject } from "../../src/stix/types.ts";
import {
  GRAPH_CLIENT,
  GRAPH_MAPPING,
  GRAPH_RATE_LIMIT,
  MAX_BACKOFF_MS,
  QUEUE_THRESHOLD_MB,
  SENTINEL_SCOPE,
} from "../fixtures/settings_defaults.ts";

/** The connector's clock: the seed's reference time (valid_until is relative to it). */
export const NOW = Date.parse(SEED_TIME);

/** The connector id every test registers. */
export const CONNECTOR_ID = "b3a6f1d2-5c4e-4f7a-9b8c-1d2e3f4a5b6c";

/** Options of {@linkcode connectorFor}. */
export interface ConnectorForOptions {
  /** The target. @default stack.createTarget() */
  target?: SyncTarget;
  /** Stream collection id. @default "live-indicators" */
  streamId?: string;
  /** Fetch for the stream and the GraphQL client. @default globalThis.fetch */
  fetch?: Fetch;
  /** Sleep of the connector and its GraphQL client. @default a real timer */
  sleep?: Sleep;
  /** GraphQL attempts (1 = no retry). @default 5 */
  graphqlAttempts?: number;
  /** Extra connector options. @default {} */
  extra?: Partial<SentinelConnectorOptions>;
  /** Metrics registry. @default none */
  metrics?: Metrics;
}

/** A connector wired to the stack's OpenCTI simulator and (by default) its target. */
export function connectorFor(
  stack: SentinelStack,
  options: ConnectorForOptions = {},
): SentinelConnector {
  const io = {
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  };
  return new SentinelConnector({
    url: stack.opencti.url,
    token: SIM_TOKEN,
    client: new OpenCtiClient({
      url: stack.opencti.url,
      token: SIM_TOKEN,
      ...io,
      retry: { attempts: options.graphqlAttempts ?? 5, baseMs: 1, random: () => 0 },
    }),
    maxBackoffMs: MAX_BACKOFF_MS,
    connector: {
      scope: SENTINEL_SCOPE,
      queueThresholdMb: QUEUE_THRESHOLD_MB,
      id: CONNECTOR_ID,
      name: "Microsoft Sentinel",
    },
    stream: {
      streamId: options.streamId ?? "live-indicators",
      recoverIsoDate: new Date(NOW + 3_600_000).toISOString(),
      retryBaseMs: 5,
    },
    target: options.target ?? stack.createTarget(),
    batchTimeoutMs: 10,
    quietHeartbeats: 2,
    now: () => NOW,
    random: () => 0,
    ...io,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...options.extra,
  });
}

/** Sorted copy, for order-insensitive comparisons that still show duplicates. */
export function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}

/** The seed indicator named `name` (throws when absent, so a test cannot pass vacuously). */
export function seedNamed(stack: SentinelStack, name: string): StixObject {
  const found = stack.opencti.store.list("indicator").find((o) => o.name === name);
  if (!found) throw new Error(`The seed has no indicator named "${name}"`);
  return found;
}

/** Labels of every object in the store (a stream filter on them lets everything through). */
export function allLabels(stack: SentinelStack): string[] {
  const labels = new Set<string>();
  for (const object of stack.opencti.store.list()) {
    if (Array.isArray(object.labels)) {
      for (const label of object.labels) if (typeof label === "string") labels.add(label);
    }
  }
  return [...labels];
}

/**
 * Simulates a process crash for the I/O it wraps: after {@linkcode kill}, in-flight requests are
 * aborted, new ones and sleeps fail at once. {@linkcode hold} makes the next matching request wait
 * (before it reaches the server, or after the server answered) until the kill.
 */
export class KillSwitch {
  readonly #controller = new AbortController();
  #hold:
    | { match: (url: string, init?: RequestInit) => boolean; after: boolean; reached: () => void }
    | undefined;

  /** True once killed. */
  get killed(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Kills: every in-flight request and sleep through this switch fails from now on. */
  kill(): void {
    this.#controller.abort(new Error("killed"));
  }

  /**
   * Holds the next request for which `match` is true until the kill; resolves when it is held.
   * `after`: forward it first (the server processes it, the answer is lost).
   */
  hold(match: (url: string, init?: RequestInit) => boolean, after: boolean): Promise<void> {
    return new Promise((resolve) => this.#hold = { match, after, reached: resolve });
  }

  /** A fetch that dies with the switch. */
  readonly fetch: Fetch = async (input, init) => {
    const killed = this.#controller.signal;
    killed.throwIfAborted();
    const url = input instanceof Request ? input.url : String(input);
    const hold = this.#hold?.match(url, init) ? this.#hold : undefined;
    if (hold) this.#hold = undefined;
    const signal = init?.signal ? AbortSignal.any([init.signal, killed]) : killed;
    if (hold && !hold.after) {
      hold.reached();
      await untilAborted(killed);
    }
    const response = await fetch(input, { ...init, signal });
    if (hold?.after) {
      await response.body?.cancel();
      hold.reached();
      await untilAborted(killed);
    }
    return response;
  };

  /** A sleep that dies with the switch. */
  readonly sleep: Sleep = (ms, signal) => {
    const killed = this.#controller.signal;
    const both = signal ? AbortSignal.any([signal, killed]) : killed;
    return new Promise((resolve, reject) => {
      if (both.aborted) return reject(both.reason);
      const timer = setTimeout(() => {
        both.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(both.reason);
      };
      both.addEventListener("abort", onAbort, { once: true });
    });
  };
}

function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/**
 * A connector syncing the stack's OpenCTI to its Graph simulator through a `GraphTarget` that
 * holds `tokens` (the end-to-end tests of the token sources), with plain client settings.
 */
export function graphConnectorFor(stack: SentinelStack, tokens: TokenSource): SentinelConnector {
  const target = new GraphTarget({
    ...GRAPH_CLIENT,
    rateLimitPerMinute: GRAPH_RATE_LIMIT,
    tokens,
    mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
    baseUrl: stack.targetUrl,
    scope: "https://graph.microsoft.com/.default",
  });
  return new SentinelConnector({
    url: stack.opencti.url,
    token: SIM_TOKEN,
    client: new OpenCtiClient({ url: stack.opencti.url, token: SIM_TOKEN }),
    maxBackoffMs: MAX_BACKOFF_MS,
    connector: {
      scope: SENTINEL_SCOPE,
      queueThresholdMb: QUEUE_THRESHOLD_MB,
      id: CONNECTOR_ID,
      name: "Microsoft Sentinel",
    },
    stream: {
      streamId: "live-indicators",
      recoverIsoDate: new Date(NOW + 3_600_000).toISOString(),
    },
    target,
    batchTimeoutMs: 10,
    quietHeartbeats: 2,
    now: () => NOW,
  });
}
