/**
 * Tanium response fuzzing: the tanium-incidents connector against the Tanium simulator (in
 * process), with mutated alerts among good ones (wrong types, huge strings, deep nesting, unknown
 * enums, dropped fields…) and a seeded share of whole answers corrupted (network errors, 5xx,
 * 429, truncated, retyped or non-UTF-8 JSON). Runs must never throw; bad alerts are counted with
 * a reason; after the corrupted runs, one clean run must leave every good alert imported (its
 * incident pushed), exactly as a run over the good alerts alone does.
 *
 * @module
 */
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import type { Sleep } from "../../src/runtime/clock.ts";
import { createOpenCtiSimApp, SIM_TOKEN } from "../../src/sim/opencti.ts";
import { createTaniumSim, TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import {
  generateAlerts,
  SEED_INTELS,
  seedOpenCtiForTanium,
  type SimAlert,
} from "../../src/sim/tanium_seed.ts";
import { TaniumClient } from "../../src/tanium/client.ts";
import { TaniumIncidentsConnector } from "../../src/tanium/connector.ts";
import { readAlert } from "../../src/tanium/schemas.ts";
import { invalidUtf8, mutateJson, MUTATIONS, pick, rng } from "./mutate.ts";
import type { FuzzReport } from "./stream.ts";
import {
  QUEUE_THRESHOLD_MB,
  TANIUM_INCIDENTS,
  TANIUM_INCIDENTS_SCOPE,
} from "../fixtures/settings_defaults.ts";

const instantSleep: Sleep = (_ms, signal) => {
  signal?.throwIfAborted();
  return Promise.resolve();
};

/** Options of {@linkcode fuzzTanium}. */
export interface TaniumFuzzOptions {
  /** Good alerts. @default 300 */
  alerts?: number;
  /** Mutated alerts mixed in. @default 120 */
  bad?: number;
  /** Share of answers corrupted during the chaotic runs. @default 0.25 */
  share?: number;
  /** Chaotic runs before the clean one. @default 6 */
  runs?: number;
}

interface World {
  connector: TaniumIncidentsConnector;
  incidents(): Set<string>;
  setShare(share: number): void;
}

async function world(
  alerts: SimAlert[],
  random: () => number,
  onCase: () => void,
): Promise<World> {
  const tanium = createTaniumSim({ alerts, intels: [...SEED_INTELS], sleep: instantSleep });
  const opencti = await createOpenCtiSimApp({});
  await seedOpenCtiForTanium(opencti.store);
  let share = 0;
  const corrupt: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const forward = () => tanium.app.fetch(request, { remoteAddr: "127.0.0.1" });
    if (random() >= share) return await forward();
    onCase();
    // Whole answers are broken, never single items inside a page that still parses: the server
    // would then have sent a different alert, and no client can tell.
    const kind = pick(random, ["network", "5xx", "429", "utf8", "truncate", "html"] as const);
    if (kind === "network") throw new TypeError("error sending request: connection reset");
    if (kind === "5xx") return new Response("Bad Gateway", { status: 502 });
    if (kind === "429") {
      return new Response("slow down", { status: 429, headers: { "retry-after": "soon" } });
    }
    if (kind === "html") return new Response("<html>login</html>", { status: 200 });
    const real = await forward();
    const text = await real.text();
    if (kind === "utf8") {
      const bytes = invalidUtf8(text, random);
      return new Response(new Uint8Array([0xff, 0xfe, ...bytes]), { status: real.status });
    }
    return new Response(text.slice(0, Math.floor(random() * text.length)), {
      status: real.status,
      headers: { "content-type": "application/json" },
    });
  };
  const connector = new TaniumIncidentsConnector(
    new TaniumClient({
      url: "http://tanium.fuzz.invalid",
      token: TANIUM_SIM_TOKEN,
      fetch: corrupt,
      sleep: instantSleep,
      retry: { attempts: 2, baseMs: 1 },
    }),
    new OpenCtiClient({
      url: "http://opencti.fuzz.invalid",
      token: SIM_TOKEN,
      fetch: (input, init) => Promise.resolve(opencti.app.fetch(new Request(input, init))),
      sleep: instantSleep,
    }),
    {
      ...TANIUM_INCIDENTS,
      scope: TANIUM_INCIDENTS_SCOPE,
      queueThresholdMb: QUEUE_THRESHOLD_MB,
      connectorId: "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091",
      consoleUrl: "https://tanium.example.com",
      importStartDate: "2024-01-01T00:00:00.000Z",
      sleep: instantSleep,
    },
  );
  return {
    connector,
    incidents: () =>
      new Set(
        opencti.graphql.bundles.flatMap((b) =>
          b.bundle.objects.filter((o) => o.type === "incident").map((o) => o.id)
        ),
      ),
    setShare: (s) => share = s,
  };
}

/** Runs the Tanium fuzzer with `seed`. */
export async function fuzzTanium(
  seed: number,
  options: TaniumFuzzOptions = {},
): Promise<FuzzReport> {
  const random = rng(seed);
  const good = generateAlerts(options.alerts ?? 300, { seed, intelIds: [700, 701, 702, 703, 704] });
  const bad: SimAlert[] = [];
  let malformedExpected = 0;
  for (let i = 0; i < (options.bad ?? 120); i++) {
    const source = pick(random, good);
    // The simulator stores alerts by id and date: the mutation hits every other field (answers
    // with broken ids and dates come from the corrupted pages below).
    const { id: _id, alertedAt, ...rest } = source;
    const text = mutateJson(rest, pick(random, MUTATIONS), random, {
      hugeLength: 50_000,
      nestingDepth: 2000,
    });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = { details: text }; // a truncated item: its text lands in a string field
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) body = { broken: body };
    const value = { ...body as Record<string, unknown>, id: 900_000 + i, alertedAt };
    if ("malformed" in readAlert(value)) malformedExpected++;
    bad.push(value as SimAlert);
  }
  const mixed = [...good, ...bad].sort(() => random() - 0.5);
  const report: FuzzReport = {
    cases: bad.length,
    crashes: [],
    reasons: {},
    good: 0,
    goodThrough: 0,
    unaccounted: [],
  };

  // The control: the good alerts alone, no corruption.
  const control = await world(good, rng(seed + 1), () => {});
  if (!await control.connector.runOnce()) report.crashes.push("the control run failed");
  const expected = control.incidents();

  const fuzzed = await world(mixed, random, () => report.cases++);
  fuzzed.setShare(options.share ?? 0.25);
  for (let run = 0; run < (options.runs ?? 6); run++) {
    try {
      await fuzzed.connector.runOnce();
    } catch (error) {
      report.crashes.push(`run ${run}: ${error instanceof Error ? error.stack : error}`);
    }
  }
  fuzzed.setShare(0);
  try {
    if (!await fuzzed.connector.runOnce()) report.crashes.push("the clean run failed");
  } catch (error) {
    report.crashes.push(`clean run: ${error instanceof Error ? error.stack : error}`);
  }
  const got = fuzzed.incidents();
  report.good = expected.size;
  for (const id of expected) {
    if (got.has(id)) report.goodThrough++;
    else report.unaccounted.push(id);
  }
  const counters = fuzzed.connector.status().counters;
  for (const [key, value] of Object.entries(counters)) {
    if (key.startsWith("skipped.")) report.reasons[key] = value;
  }
  if ((counters["skipped.malformed"] ?? 0) < malformedExpected) {
    report.crashes.push(
      `${malformedExpected} malformed alerts were sent but ${
        counters["skipped.malformed"] ?? 0
      } counted`,
    );
  }
  return report;
}
