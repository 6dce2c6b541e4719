/**
 * Startup scenario: `main.ts --demo` as a fresh process, timed from spawn to the first `/readyz`
 * 200 (median of several starts), then `/healthz` of the last start answered under a 500
 * requests/s load from a second process while the demo keeps syncing.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { delay, median, round } from "./stats.ts";

/** Startup figures. */
export interface StartupResult {
  /** Spawn → first `/readyz` 200, in ms (median of the starts). */
  ready_ms: number;
  /** `/healthz` 99th percentile under load, in ms. */
  healthz_p99_ms: number;
  /** `/healthz` median under load, in ms. */
  healthz_p50_ms: number;
  /** Requests per second the load process achieved. */
  load_rate: number;
  /** `/healthz` answers that were not 200 (or failed). */
  healthz_failed: number;
  /** Each start's time, in ms. */
  starts_ms: number[];
}

/** Options of {@linkcode startupScenario}. */
export interface StartupOptions {
  /** Fewer starts and a shorter load. @default false */
  quick?: boolean;
  /** Starts measured. @default 5 (2 quick) */
  starts?: number;
  /** Load duration, in seconds. @default 10 (4 quick) */
  loadSeconds?: number;
  /** Load rate, in requests per second. @default 500 */
  rate?: number;
}

const ROOT = new URL("../../", import.meta.url);

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function spawnDemo(port: number, cwd: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1,localhost,0.0.0.0",
      "--allow-env",
      "--allow-write=.",
      "--allow-read",
      fileURLToPath(new URL("main.ts", ROOT)),
      "--demo",
    ],
    cwd,
    env: { SERVER_PORT: String(port), SERVER_HOST: "127.0.0.1", NO_COLOR: "1" },
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).spawn();
}

async function waitReady(url: string, child: Deno.ChildProcess, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  child.status.then(() => exited = true);
  while (performance.now() < deadline && !exited) {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await delay(5);
  }
  throw new Error(
    exited ? "the demo exited before it was ready" : "the demo was not ready in time",
  );
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    return; // already gone
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
  }, 10_000);
  await child.status;
  clearTimeout(timer);
}

/** Runs the startup scenario. */
export async function startupScenario(
  options: StartupOptions = {},
): Promise<{ result: StartupResult | null; notes: string[] }> {
  const quick = options.quick ?? false;
  const starts = options.starts ?? (quick ? 2 : 5);
  const loadSeconds = options.loadSeconds ?? (quick ? 4 : 10);
  const rate = options.rate ?? 500;
  const notes: string[] = [];
  const times: number[] = [];
  const cwd = await Deno.makeTempDir({ prefix: "octi-bench-" });
  try {
    return await measure(cwd, starts, loadSeconds, rate, times, notes);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

async function measure(
  cwd: string,
  starts: number,
  loadSeconds: number,
  rate: number,
  times: number[],
  notes: string[],
): Promise<{ result: StartupResult; notes: string[] }> {
  // A first start fills Deno's module cache; it is not counted. The last measured start stays
  // up for the load (a fresh, ready demo, as a start of its own would be: one start less).
  let child: Deno.ChildProcess | undefined;
  let port = 0;
  for (let i = 0; i <= starts; i++) {
    port = freePort();
    const started = performance.now();
    child = spawnDemo(port, cwd);
    try {
      await waitReady(`http://127.0.0.1:${port}/readyz`, child, 60_000);
      if (i > 0) times.push(performance.now() - started);
    } catch (error) {
      await stop(child);
      throw error;
    }
    if (i < starts) await stop(child);
  }
  if (child === undefined) throw new Error("no start");
  try {
    const load = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        fileURLToPath(new URL("tests/bench/load_child.ts", ROOT)),
        `http://127.0.0.1:${port}/healthz`,
        String(rate),
        String(loadSeconds),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!load.success) {
      throw new Error(`the load process failed: ${new TextDecoder().decode(load.stderr)}`);
    }
    const figures = JSON.parse(new TextDecoder().decode(load.stdout)) as Record<string, number>;
    notes.push(
      `startup: ${starts} starts of main.ts --demo (after one uncounted start); /healthz of the ` +
        `last one under ${rate} req/s for ${loadSeconds} s from a second process`,
    );
    return {
      result: {
        ready_ms: Math.round(median(times)),
        healthz_p99_ms: figures.p99_ms ?? NaN,
        healthz_p50_ms: figures.p50_ms ?? NaN,
        load_rate: figures.achieved_rate ?? NaN,
        healthz_failed: figures.failed ?? NaN,
        starts_ms: times.map((t) => round(t, 0)),
      },
      notes,
    };
  } finally {
    await stop(child);
  }
}
