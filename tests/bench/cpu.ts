/**
 * CPU per indicator, real time, per target: the target client's whole `upsert` (mapping,
 * serialisation of the request bodies, pacing and result bookkeeping) over ready indicators, with
 * a canned answer in place of the network (built once per batch size, so the fake costs next to
 * nothing) and no pacing waits. Compared with `JSON.parse` of the same stream frames' data.
 *
 * @module
 */
import { DefenderTarget } from "../../src/microsoft/defender.ts";
import { GraphTarget } from "../../src/microsoft/graph.ts";
import { SentinelTarget } from "../../src/microsoft/sentinel_stix_upload.ts";
import type { TokenSource } from "../../src/microsoft/token_source.ts";
import { intentsOf } from "../../src/sentinel/events.ts";
import type { SyncTarget, TargetIndicator, TargetName } from "../../src/microsoft/target.ts";
import { DEFAULT_SIM_WORKSPACE } from "../../src/sim/sentinel.ts";
import { buildFrames } from "./frames.ts";
import { median, round } from "./stats.ts";
import { runJsonParse } from "./pipeline.ts";
import {
  DEFENDER_CLIENT,
  DEFENDER_MAPPING,
  GRAPH_CLIENT,
  GRAPH_MAPPING,
  SENTINEL_CLIENT,
  SOURCE_SYSTEM,
} from "../fixtures/settings_defaults.ts";

/** CPU figures of one target. */
export interface CpuResult {
  /** Indicators per run. */
  indicators: number;
  /** µs per indicator of the target's `upsert` (median of the runs). */
  cpu_us_per_indicator: number;
  /** That time / `JSON.parse` of the same frames' data (median of the runs). */
  ratio_to_json_parse: number;
}

const TOKENS: TokenSource = {
  getToken: () => Promise.resolve("bench-token"),
  invalidate: () => {},
};
const NO_WAIT = {
  now: () => Date.parse("2026-06-01T00:00:00.000Z"),
  sleep: () => Promise.resolve(),
};

function count(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** A fetch answering each request with a canned success built once per record count. */
function cannedFetch(target: TargetName): typeof fetch {
  const cache = new Map<string, string>();
  const answer = (key: string, make: () => string) => {
    let text = cache.get(key);
    if (text === undefined) cache.set(key, text = make());
    return text;
  };
  return (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const body = typeof init?.body === "string" ? init.body : "";
    let text = "";
    let status = 200;
    if (target === "graph") {
      if (init?.method === "GET") text = answer("list", () => '{"value":[]}');
      else {
        const n = count(body, '"targetProduct"');
        text = answer(`w${n}`, () =>
          JSON.stringify({
            value: Array.from({ length: n }, (_, i) => ({ id: `ti-${i}` })),
          }));
      }
    } else if (target === "sentinel") {
      status = 200;
    } else if (url.endsWith("/import")) {
      const n = count(body, '"indicatorValue"');
      text = answer(`i${n}`, () =>
        JSON.stringify({
          value: Array.from({ length: n }, (_, i) => ({
            id: String(i + 1),
            indicator: null,
            isFailed: false,
            failureReason: null,
          })),
        }));
    }
    return Promise.resolve(
      new Response(text === "" ? null : text, {
        status,
        headers: { "content-type": "application/json" },
      }),
    );
  };
}

function targetOf(name: TargetName): SyncTarget {
  const fetch = cannedFetch(name);
  const common = { ...NO_WAIT, fetch, tokens: TOKENS, rateLimitPerMinute: 1_000_000_000 };
  switch (name) {
    case "graph":
      return new GraphTarget({
        ...GRAPH_CLIENT,
        ...common,
        mapping: { ...GRAPH_MAPPING, targetProduct: "Azure Sentinel" },
        baseUrl: "http://127.0.0.1:4",
        scope: "https://graph.microsoft.com/.default",
      });
    case "sentinel": {
      const ws = DEFAULT_SIM_WORKSPACE;
      return new SentinelTarget({
        ...SENTINEL_CLIENT,
        sourceSystem: SOURCE_SYSTEM,
        ...common,
        workspaceId: ws.workspaceId,
        apiUrl: "http://127.0.0.1:5",
      });
    }
    case "defender":
      return new DefenderTarget({
        ...DEFENDER_CLIENT,
        ...DEFENDER_MAPPING,
        ...common,
        apiUrl: "http://127.0.0.1:6",
      });
  }
}

/** Runs the CPU scenario over `frames` creates and updates. */
export async function cpuScenario(
  options: { frames: number; runs: number },
): Promise<Record<TargetName, CpuResult>> {
  const workload = await buildFrames(options.frames, 11, {
    createShare: 0.7,
    updateShare: 1,
    time: NO_WAIT.now() - 3_600_000,
  });
  const items: TargetIndicator[] = [];
  const data: string[] = [];
  for (const [index, text] of workload.data.entries()) {
    const event = /^id: [^\n]*\nevent: (\w+)/.exec(workload.frames[index] as string)?.[1] ?? "";
    for (const intent of intentsOf(event, JSON.parse(text), { now: NO_WAIT.now() })) {
      if (intent.kind === "upsert" && !intent.indicator.stix.revoked) {
        items.push(intent.indicator);
        data.push(text);
      }
    }
  }
  const out = {} as Record<TargetName, CpuResult>;
  for (const name of ["graph", "sentinel", "defender"] as TargetName[]) {
    const target = targetOf(name);
    const batch = target.maxBatch;
    const run = async () => {
      const start = performance.now();
      for (let i = 0; i < items.length; i += batch) {
        await target.upsert(items.slice(i, i + batch));
      }
      return performance.now() - start;
    };
    await run(); // warm-up: optimised code
    runJsonParse(data);
    const us: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < options.runs; r++) {
      const ms = await run();
      const json = runJsonParse(data);
      us.push((ms * 1000) / items.length);
      ratios.push(ms / json);
    }
    out[name] = {
      indicators: items.length,
      cpu_us_per_indicator: round(median(us), 1),
      ratio_to_json_parse: round(median(ratios), 2),
    };
  }
  return out;
}
