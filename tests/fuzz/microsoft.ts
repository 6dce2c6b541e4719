/**
 * Microsoft response fuzzing: the real target clients (Graph tiIndicators, Sentinel upload/ARM,
 * Defender) against their simulators in process, with a seeded share of answers replaced or
 * corrupted after the simulator did the work: network errors, 5xx, 429 with odd `Retry-After`,
 * 401, and 200s whose JSON is truncated, retyped, huge, deeply nested, not UTF-8 or full of
 * unknown enum values. Every call must resolve with one result per item, each failure with a
 * reason; a clean pass afterwards must succeed for every item and leave exactly one record per
 * observable (no duplicates left by the corrupted answers).
 *
 * @module
 */
import { DefenderTarget } from "../../src/microsoft/defender.ts";
import { GraphTarget } from "../../src/microsoft/graph.ts";
import { SentinelTarget } from "../../src/microsoft/sentinel_stix_upload.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import type { SyncTarget, TargetIndicator, TargetName } from "../../src/microsoft/target.ts";
import type { ItemResult } from "../../src/runtime/delivery.ts";
import { createDefenderSimApp } from "../../src/sim/defender.ts";
import { createGraphSimApp } from "../../src/sim/graph.ts";
import type { AuthClaims } from "../../src/sim/ms_common.ts";
import { SEED_TIME } from "../../src/sim/opencti_seed.ts";
import { createSentinelSimApp, DEFAULT_SIM_WORKSPACE } from "../../src/sim/sentinel.ts";
import { buildFrames } from "../bench/frames.ts";
import { invalidUtf8, mutateJson, MUTATIONS, pick, rng } from "./mutate.ts";
import type { FuzzReport } from "./stream.ts";
import {
  DEFENDER_CLIENT,
  DEFENDER_MAPPING,
  GRAPH_CLIENT,
  GRAPH_MAPPING,
  SENTINEL_CLIENT,
  SOURCE_SYSTEM,
} from "../fixtures/settings_defaults.ts";

const FUZZ_TOKEN = "fuzz-access-token";
const instantSleep: Sleep = (_ms, signal) => {
  signal?.throwIfAborted();
  return Promise.resolve();
};

/** A clock that only moves when someone sleeps: waits cost no real time and always end. */
function fakeClock(start: number): { now: () => number; sleep: Sleep } {
  let time = start;
  return {
    now: () => time,
    sleep: (ms, signal) => {
      signal?.throwIfAborted();
      time += Math.max(0, ms);
      return Promise.resolve();
    },
  };
}
const acceptAll = (token: string, audiences: string[]): Promise<AuthClaims> =>
  token === FUZZ_TOKEN
    ? Promise.resolve({
      tid: "9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d",
      appid: "3f2e1d0c-b9a8-4765-9432-10fedcba9876",
      roles: ["ThreatIndicators.ReadWrite.OwnedBy", "Ti.ReadWrite"],
      aud: audiences[0] ?? "",
    })
    : Promise.reject(new Error("bad token"));
const tokens = { getToken: () => Promise.resolve(FUZZ_TOKEN), invalidate() {} };
const BIG = 1_000_000;

interface Fixture {
  target: SyncTarget;
  /** One key per stored record: `<indicator id> <value>`, duplicates repeated. */
  records(): string[];
  setChaos(share: number): void;
}

function corrupting(
  app: { fetch(request: Request): Response | Promise<Response> },
  random: () => number,
  onCase: (kind: string) => void,
): { fetch: typeof fetch; setShare(share: number): void } {
  let share = 0;
  const fetchFn: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    if (random() >= share) return await app.fetch(request);
    const kind = pick(
      random,
      [
        "network",
        "5xx",
        "429",
        "401",
        "html",
        ...MUTATIONS,
        ...MUTATIONS,
      ] as const,
    );
    onCase(kind);
    if (kind === "network") throw new TypeError("error sending request: connection reset by peer");
    // The simulator does the work first: a lost or corrupted answer after a real change.
    const real = await app.fetch(request);
    const text = await real.text();
    switch (kind) {
      case "5xx":
        return new Response(pick(random, ["", "upstream timeout", '{"error":{}}']), {
          status: pick(random, [500, 502, 503, 504]),
        });
      case "429":
        return new Response('{"error":{"code":"TooManyRequests"}}', {
          status: 429,
          headers: { "retry-after": pick(random, ["0", "-5", "soon", "1e9", "0.001"]) },
        });
      case "401":
        return new Response('{"error":{"code":"InvalidAuthenticationToken"}}', { status: 401 });
      case "html":
        return new Response("<html><body>Service Unavailable</body></html>", {
          status: 200,
          headers: { "content-type": "text/html" },
        });
      case "invalid_utf8":
        return new Response(invalidUtf8(text, random), {
          status: real.status,
          headers: real.headers,
        });
      default: {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = { value: [] };
        }
        return new Response(mutateJson(json, kind, random, { hugeLength: 200_000 }), {
          status: real.status,
          headers: { "content-type": "application/json" },
        });
      }
    }
  };
  return { fetch: fetchFn, setShare: (s) => share = s };
}

function fixture(name: TargetName, random: () => number, onCase: (k: string) => void): Fixture {
  const common = fakeClock(Date.parse(SEED_TIME));
  switch (name) {
    case "graph": {
      const sim = createGraphSimApp({ verify: acceptAll, rateLimit: BIG, sleep: instantSleep });
      const proxy = corrupting(sim.app, random, onCase);
      return {
        target: new GraphTarget({
          ...GRAPH_CLIENT,
          ...common,
          tokens,
          mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
          baseUrl: "http://graph.fuzz.invalid",
          fetch: proxy.fetch,
          rateLimitPerMinute: BIG,
          attempts: 3,
          // Small batches: the client writes from its index without lookups, so it sends few
          // requests; more of them keeps enough answers corrupted to fuzz every call kind.
          recordsPerRequest: 5,
        }),
        records: () =>
          sim.store().map((r) => {
            const f = r.fields;
            const value = f.networkIPv4 ?? f.networkIPv6 ?? f.domainName ?? f.url ??
              f.emailSenderAddress ?? f.fileHashValue;
            return `${String(f.externalId)} ${String(value)}`;
          }),
        setChaos: proxy.setShare,
      };
    }
    case "sentinel": {
      const sim = createSentinelSimApp({
        verify: acceptAll,
        rateLimit: BIG,
        armRateLimit: BIG,
        sleep: instantSleep,
      });
      const proxy = corrupting(sim.app, random, onCase);
      const ws = DEFAULT_SIM_WORKSPACE;
      return {
        target: new SentinelTarget({
          ...SENTINEL_CLIENT,
          sourceSystem: SOURCE_SYSTEM,
          ...common,
          tokens,
          workspaceId: ws.workspaceId,
          apiUrl: "http://sentinel.fuzz.invalid",
          managementUrl: "http://sentinel.fuzz.invalid",
          subscriptionId: ws.subscriptionId,
          resourceGroup: ws.resourceGroup,
          workspaceName: ws.workspaceName,
          fetch: proxy.fetch,
          rateLimitPerMinute: BIG,
          armRateLimitPerMinute: BIG,
          maxAttempts: 3,
        }),
        records: () =>
          sim.store().filter((r) => (r.object as { revoked?: boolean }).revoked !== true)
            .map((r) => `${String(r.object.id)} ${String(r.object.pattern)}`),
        setChaos: proxy.setShare,
      };
    }
    case "defender": {
      const sim = createDefenderSimApp({
        verify: acceptAll,
        limits: { import: BIG, batchDelete: BIG, submit: BIG, list: BIG, delete: BIG },
        tenantCap: BIG,
        sleep: instantSleep,
      });
      const proxy = corrupting(sim.app, random, onCase);
      return {
        target: new DefenderTarget({
          ...DEFENDER_CLIENT,
          ...DEFENDER_MAPPING,
          ...common,
          tokens,
          apiUrl: "http://defender.fuzz.invalid",
          fetch: proxy.fetch,
          rateLimitPerMinute: BIG,
          batchDeleteRateLimitPerMinute: BIG,
          queryRateLimitPerMinute: BIG,
          maxAttempts: 3,
          // Small imports: removals find ids in the client's index without list calls, so it
          // sends few requests; more of them keeps enough answers corrupted.
          maxBatch: 5,
        }),
        records: () =>
          sim.store().map((r) =>
            `${String(r.entity.externalID)} ${String(r.entity.indicatorType)}:${
              String(r.entity.indicatorValue)
            }`
          ),
        setChaos: proxy.setShare,
      };
    }
  }
}

function check(
  what: string,
  ids: string[],
  results: ItemResult[],
  report: FuzzReport,
): void {
  if (results.length !== ids.length) {
    report.crashes.push(`${what}: ${results.length} results for ${ids.length} items`);
  }
  const expected = new Set(ids);
  for (const result of results) {
    if (!expected.has(result.id)) {
      report.crashes.push(`${what}: result for unknown id ${result.id}`);
    }
    if (!result.ok) {
      if (typeof result.reason !== "string" || result.reason.trim() === "") {
        report.crashes.push(`${what}: failure of ${result.id} without a reason`);
      }
      const key = `${what} failed: ${result.reason.replace(/[0-9a-f-]{36}/g, "<id>").slice(0, 60)}`;
      report.reasons[key] = (report.reasons[key] ?? 0) + 1;
    }
  }
}

/** Options of {@linkcode fuzzMicrosoft}. */
export interface MicrosoftFuzzOptions {
  /** Rounds of upserts and removes under corruption. @default 12 */
  rounds?: number;
  /** Indicators per round. @default 25 */
  batch?: number;
  /** Share of answers corrupted. @default 0.3 */
  share?: number;
}

/** Runs the Microsoft response fuzzer for one target with `seed`. */
export async function fuzzMicrosoft(
  name: TargetName,
  seed: number,
  options: MicrosoftFuzzOptions = {},
): Promise<FuzzReport & { duplicates: string[]; missing: string[] }> {
  const random = rng(seed);
  const report: FuzzReport & { duplicates: string[]; missing: string[] } = {
    cases: 0,
    crashes: [],
    reasons: {},
    good: 0,
    goodThrough: 0,
    unaccounted: [],
    duplicates: [],
    missing: [],
  };
  const world = fixture(name, random, () => report.cases++);
  const now = Date.parse(SEED_TIME);
  const frames = await buildFrames((options.rounds ?? 12) * (options.batch ?? 25) * 2, seed, {
    createShare: 1,
  });
  const items: TargetIndicator[] = frames.data.flatMap((data) =>
    intentsOf("create", JSON.parse(data), { now }).flatMap((i) =>
      i.kind === "upsert" ? [i.indicator] : []
    )
  );
  const batch = options.batch ?? 25;
  const kept: TargetIndicator[] = [];
  world.setChaos(options.share ?? 0.3);
  for (let round = 0; round < (options.rounds ?? 12); round++) {
    const chunk = items.slice(round * batch, (round + 1) * batch);
    if (chunk.length === 0) break;
    try {
      check("upsert", chunk.map((i) => i.id), await world.target.upsert(chunk), report);
      // Remove a third of them again, the rest stays.
      const gone = chunk.filter((_, i) => i % 3 === 0);
      check(
        "remove",
        gone.map((i) => i.id),
        await world.target.remove(gone.map((i) => ({ id: i.id, observables: i.observables }))),
        report,
      );
      kept.push(...chunk.filter((_, i) => i % 3 !== 0));
    } catch (error) {
      report.crashes.push(`round ${round}: ${error instanceof Error ? error.stack : error}`);
    }
  }
  // What the target takes at all (Defender refuses MD5-only files, for instance): a fresh
  // simulator with no corruption decides.
  const control = fixture(name, rng(seed + 1), () => {});
  const takeable = new Set<string>();
  for (let at = 0; at < kept.length; at += batch) {
    for (const result of await control.target.upsert(kept.slice(at, at + batch))) {
      if (result.ok) takeable.add(result.id);
    }
  }
  // A clean pass: every kept indicator upserted, every removed one removed again.
  world.setChaos(0);
  const removed = items.slice(0, (options.rounds ?? 12) * batch).filter((i) => !kept.includes(i));
  try {
    for (let at = 0; at < kept.length; at += batch) {
      const chunk = kept.slice(at, at + batch);
      const results = await world.target.upsert(chunk);
      check("clean upsert", chunk.map((i) => i.id), results, report);
      report.good += chunk.filter((i) => takeable.has(i.id)).length;
      report.goodThrough += results.filter((r) => r.ok && takeable.has(r.id)).length;
    }
    for (let at = 0; at < removed.length; at += batch) {
      const chunk = removed.slice(at, at + batch);
      const results = await world.target.remove(
        chunk.map((i) => ({ id: i.id, observables: i.observables })),
      );
      check("clean remove", chunk.map((i) => i.id), results, report);
      report.good += chunk.length;
      report.goodThrough += results.filter((r) => r.ok).length;
    }
  } catch (error) {
    report.crashes.push(`clean pass: ${error instanceof Error ? error.stack : error}`);
  }
  const counts = new Map<string, number>();
  for (const key of world.records()) counts.set(key, (counts.get(key) ?? 0) + 1);
  for (const [key, n] of counts) if (n > 1) report.duplicates.push(`${key} ×${n}`);
  const keptIds = new Set(kept.filter((i) => takeable.has(i.id)).map((i) => i.id));
  const removedIds = new Set(removed.map((i) => i.id));
  const present = new Set([...counts.keys()].map((k) => k.split(" ")[0]));
  for (const id of keptIds) if (!present.has(id)) report.missing.push(`${id} (kept, absent)`);
  for (const id of removedIds) if (present.has(id)) report.missing.push(`${id} (removed, present)`);
  return report;
}
