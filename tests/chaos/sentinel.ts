/**
 * The sentinel chaos run: a seeded schedule of faults while OpenCTI receives indicator creates,
 * updates and deletes and the connector (a child process) syncs them to the Graph simulator:
 * stream drops, heartbeat silences, 429 bursts, 5xx, slow answers, token endpoint outages,
 * GraphQL outages (state saves fail) and SIGKILLs of the connector with a restart; and the
 * delivery-guarantee families of issue 11: target outages (503 for seconds), 429 storms with
 * `Retry-After`, connection refused (the Graph simulator stops listening), Entra outages (5xx) and
 * a rejected secret (401 `invalid_client`) for seconds, all while Graph refuses composite `$filter`
 * as documented. At the end the Graph store must hold exactly what OpenCTI holds: nothing lost,
 * nothing twice.
 *
 * @module
 */
import { generateIndicators, seededRandom } from "../../src/sim/opencti_seed.ts";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { STACK_APP, startSentinelStack } from "../../src/sim/stack.ts";
import type { StixObject } from "../../src/stix/types.ts";
import { ChildProcess, findSecrets } from "./child.ts";

/** Figures of one chaos run. */
export interface ChaosResult {
  /** Faults injected. */
  faults: number;
  /** Connector restarts after a SIGKILL. */
  restarts: number;
  /** Events produced (creates, updates, deletes, or alerts). */
  events: number;
  /** Expected records missing at the end. */
  lost: number;
  /** Records present twice, or present though they should not be. */
  duplicated: number;
  /** Seconds from the last fault to the first moment the target was exactly right (null: never). */
  converge_s: number | null;
  /** Faults by kind. */
  fault_kinds: Record<string, number>;
  /** Secret values or tokens seen in the connector's output. */
  secrets_leaked: string[];
  /** Lines the connector processes wrote (all scanned for secrets). */
  log_lines: number;
  /** The first differences, when not converged. */
  differences: string[];
}

/** Options of {@linkcode sentinelChaos}. */
export interface SentinelChaosOptions {
  /** Seed of the workload and the fault schedule. @default 1 */
  seed?: number;
  /** Indicator events (creates, updates, deletes). @default 5000 */
  events?: number;
  /** Time over which events and faults are spread, in ms. @default 20000 */
  durationMs?: number;
  /** Faults in the schedule. @default 40 */
  faults?: number;
  /** Time allowed to converge after the last fault, in ms. @default 90000 */
  convergeTimeoutMs?: number;
}

/** Fault kinds of the schedule. */
export const SENTINEL_FAULTS = [
  "stream_drop",
  "heartbeat_silence",
  "http_429_burst",
  "http_5xx",
  "slow_responses",
  "token_outage",
  "graphql_outage",
  "kill",
  "target_outage",
  "throttle_storm",
  "connection_refused",
  "entra_outage",
  "secret_rejected",
] as const;

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the sentinel chaos scenario. */
export async function sentinelChaos(options: SentinelChaosOptions = {}): Promise<ChaosResult> {
  const seed = options.seed ?? 1;
  const random = seededRandom(seed);
  const totalEvents = options.events ?? 5000;
  const durationMs = options.durationMs ?? 20_000;
  const faultCount = options.faults ?? 40;
  // Graph documents only single-clause `$filter` lookups (the simulator refuses `or`), so the
  // client looks indicators up one at a time: about one request per event. At Graph's 1,000
  // requests per minute the full workload would need minutes; the Graph minute is scaled to 10 s
  // here and the client paces at the same scaled rate (sentinel_child.ts).
  const stack = await startSentinelStack({
    target: "graph",
    timeScale: 1 / 6,
    opencti: { seed: false, heartbeatMs: 250 },
  });
  const graph = stack.graph;
  if (!graph) throw new Error("the stack has no Graph simulator");
  stack.entra.control.setTokenLifetimeSeconds(8); // tokens are fetched again during the run
  const child = new ChildProcess("./sentinel_child.ts", {
    OPENCTI_URL: stack.opencti.url,
    OPENCTI_TOKEN: SIM_TOKEN,
    STREAM_ID: "live-indicators",
    CONNECTOR_ID: "c4a05e0d-1b2c-4d3e-8f4a-5b6c7d8e9f01",
    LOGIN_URL: stack.entra.url,
    TENANT_ID: STACK_APP.tenantId,
    CLIENT_ID: STACK_APP.clientId,
    CLIENT_SECRET: STACK_APP.clientSecret,
    GRAPH_URL: stack.targetUrl,
  }, ["--allow-net=127.0.0.1", "--allow-env", "--allow-read"]);

  const kinds: Record<string, number> = {};
  let restarts = 0;
  try {
    child.start();
    // Wait for the connector to register and open the stream before the first event.
    const deadline = performance.now() + 30_000;
    while (stack.opencti.control.stream.connections().length === 0) {
      if (performance.now() > deadline) throw new Error("the connector never connected");
      await wait(50);
    }

    // The workload: creates of seeded indicators, updates and deletes of live ones.
    const indicators = await generateIndicators(totalEvents, seed, { time: Date.now() });
    const live: StixObject[] = [];
    let next = 0;
    const step = (): void => {
      const roll = random();
      if (live.length === 0 || (roll < 0.6 && next < indicators.length)) {
        const object = indicators[next++] as StixObject;
        stack.opencti.store.upsert(object);
        live.push(object);
      } else if (roll < 0.85) {
        const index = Math.floor(random() * live.length);
        const object = live[index] as StixObject;
        stack.opencti.store.upsert({
          ...stack.opencti.store.get(object.id) ?? object,
          x_opencti_score: 10 * (1 + Math.floor(random() * 10)),
          description: `Chaos update ${Math.floor(random() * 1e6)}`,
        });
      } else {
        const index = Math.floor(random() * live.length);
        const object = live[index] as StixObject;
        live[index] = live[live.length - 1] as StixObject;
        live.pop();
        stack.opencti.store.remove(object.id);
      }
    };

    // The fault schedule: seeded times and kinds over the duration.
    const schedule = Array.from({ length: faultCount }, (_, i) => ({
      at: Math.floor(random() * durationMs),
      // Every kind at least once (when there are enough faults), then seeded picks.
      kind: (SENTINEL_FAULTS[i] ??
        SENTINEL_FAULTS[Math.floor(random() * SENTINEL_FAULTS.length)]) as string,
      amount: random(),
    })).sort((a, b) => a.at - b.at);
    const pending: Promise<unknown>[] = [];
    const inject = async (kind: string, amount: number): Promise<void> => {
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      const stream = stack.opencti.control.stream;
      switch (kind) {
        case "stream_drop":
          stream.dropConnections({ midFrame: amount < 0.5, abort: amount < 0.25 });
          return;
        case "heartbeat_silence":
          stream.stall(2000 + Math.floor(amount * 1500)); // longer than the 1.5 s watchdog
          return;
        case "http_429_burst":
          graph.failures.failNext(429, 1 + Math.floor(amount * 4), undefined, {
            headers: { "Retry-After": "1" },
          });
          return;
        case "http_5xx":
          graph.failures.failNext(
            [500, 502, 503, 504][Math.floor(amount * 4)] ?? 503,
            1 + Math.floor(amount * 4),
          );
          return;
        case "slow_responses":
          graph.failures.setLatencyMs(300 + Math.floor(amount * 700));
          pending.push(wait(1500).then(() => graph.failures.setLatencyMs(0)));
          return;
        case "token_outage":
          stack.entra.control.failNext(503, 2 + Math.floor(amount * 5));
          return;
        case "graphql_outage":
          stack.opencti.control.graphql.injectFailure({
            status: 503,
            times: 3 + Math.floor(amount * 12),
          });
          return;
        case "target_outage": {
          const until = performance.now() + 1000 + amount * 2000;
          graph.failures.failWhile(() => performance.now() < until, { status: 503 });
          return;
        }
        case "throttle_storm": {
          const until = performance.now() + 1000 + amount * 2000;
          graph.failures.failWhile(() => performance.now() < until, {
            status: 429,
            headers: { "Retry-After": "1" },
          });
          return;
        }
        case "connection_refused":
          await graph.refuse?.();
          pending.push(wait(1000 + amount * 2000).then(() => graph.listen?.()));
          return;
        case "entra_outage": {
          const until = performance.now() + 1000 + amount * 2000;
          stack.entra.control.failWhile(() => performance.now() < until, 503);
          return;
        }
        case "secret_rejected": {
          const until = performance.now() + 1000 + amount * 2000;
          stack.entra.control.failWhile(() => performance.now() < until, 401);
          return;
        }
        case "kill":
          await child.kill();
          await wait(100 + Math.floor(amount * 700));
          child.start();
          restarts++;
          return;
      }
    };

    const started = performance.now();
    let applied = 0;
    let lastFaultAt = started;
    let faultIndex = 0;
    while (applied < totalEvents || faultIndex < schedule.length) {
      const elapsed = performance.now() - started;
      const due = Math.min(totalEvents, Math.ceil((elapsed / durationMs) * totalEvents));
      while (applied < due) {
        step();
        applied++;
      }
      while (faultIndex < schedule.length && (schedule[faultIndex]?.at ?? 0) <= elapsed) {
        const fault = schedule[faultIndex++] as (typeof schedule)[number];
        await inject(fault.kind, fault.amount);
        lastFaultAt = performance.now();
      }
      await wait(20);
    }
    await Promise.all(pending);
    stack.opencti.control.stream.resume();
    lastFaultAt = Math.max(lastFaultAt, performance.now());

    // Converge: the target must hold exactly what OpenCTI holds.
    const timeout = performance.now() + (options.convergeTimeoutMs ?? 90_000);
    let convergeS: number | null = null;
    let differences: string[] = [];
    let lost = 0;
    let duplicated = 0;
    for (;;) {
      const expected = await stack.expected(Date.now());
      const present = stack.present();
      const counts = new Map<string, number>();
      for (const key of present) counts.set(key, (counts.get(key) ?? 0) + 1);
      lost = [...expected].filter((key) => !counts.has(key)).length;
      duplicated = [...counts].reduce(
        (sum, [key, n]) => sum + (expected.has(key) ? n - 1 : n),
        0,
      );
      if (lost === 0 && duplicated === 0) {
        convergeS = Math.round((performance.now() - lastFaultAt) / 100) / 10;
        break;
      }
      if (performance.now() > timeout) {
        differences = [
          ...[...expected].filter((key) => !counts.has(key)).slice(0, 5).map((k) => `lost ${k}`),
          ...[...counts].filter(([key, n]) => !expected.has(key) || n > 1).slice(0, 5)
            .map(([k, n]) => `extra ${k} ×${n}`),
        ];
        break;
      }
      await wait(200);
    }
    await child.stop();
    return {
      faults: schedule.length,
      restarts,
      events: applied,
      lost,
      duplicated,
      converge_s: convergeS,
      fault_kinds: kinds,
      secrets_leaked: findSecrets(child.output, [SIM_TOKEN, STACK_APP.clientSecret]),
      log_lines: child.output.length,
      differences,
    };
  } finally {
    await child.stop();
    await stack.close();
  }
}
