/**
 * The secrets check on the program itself: `main.ts --demo` (every connector, the server, the
 * simulators) with debug logging, its HTTP answers (`/healthz`, `/readyz`, `/status`,
 * `/metrics`, a refused `POST /connectors/sentinel/run`) read while it syncs, and every output
 * line, all searched for the configured secrets, bearer tokens and JWTs.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { SIM_TOKEN } from "../../src/sim/opencti_stream.ts";
import { STACK_APP } from "../../src/sim/stack.ts";
import { TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";
import { findSecrets } from "./child.ts";

/** What the check saw. */
export interface DemoSecretsResult {
  /** HTTP answers read. */
  responses: number;
  /** Output lines read. */
  lines: number;
  /** Leaks found. */
  leaks: string[];
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the demo for `seconds` and searches its answers and output. */
export async function demoSecrets(seconds = 3): Promise<DemoSecretsResult> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const cwd = await Deno.makeTempDir({ prefix: "octi-secrets-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1,localhost,0.0.0.0",
      "--allow-env",
      "--allow-write=.",
      "--allow-read",
      fileURLToPath(new URL("../../main.ts", import.meta.url)),
      "--demo",
    ],
    cwd,
    env: {
      SERVER_PORT: String(port),
      SERVER_HOST: "127.0.0.1",
      CONNECTOR_LOG_LEVEL: "debug",
      LOG_FORMAT: "json",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  const bodies: string[] = [];
  try {
    const base = `http://127.0.0.1:${port}`;
    const deadline = performance.now() + 60_000;
    for (;;) {
      try {
        const response = await fetch(`${base}/readyz`);
        bodies.push(`${[...response.headers].join(" ")} ${await response.text()}`);
        if (response.status === 200) break;
      } catch {
        // not listening yet
      }
      if (performance.now() > deadline) throw new Error("the demo never became ready");
      await wait(50);
    }
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      for (const path of ["/healthz", "/readyz", "/status", "/metrics"]) {
        const response = await fetch(`${base}${path}`);
        bodies.push(`${[...response.headers].join(" ")} ${await response.text()}`);
      }
      const refused = await fetch(`${base}/connectors/sentinel/run`, {
        method: "POST",
        headers: { authorization: `Bearer ${SIM_TOKEN}` },
      });
      bodies.push(`${[...refused.headers].join(" ")} ${await refused.text()}`);
      await wait(250);
    }
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // gone
    }
    await child.status;
    await Deno.remove(cwd, { recursive: true });
  }
  const [stdout, stderr] = await output;
  const lines = [...stdout.split("\n"), ...stderr.split("\n")];
  const secrets = [SIM_TOKEN, STACK_APP.clientSecret, TANIUM_SIM_TOKEN];
  return {
    responses: bodies.length,
    lines: lines.length,
    leaks: [
      ...findSecrets(bodies, secrets).map((l) => `HTTP answer: ${l}`),
      ...findSecrets(lines, secrets),
    ],
  };
}
