/** Subprocess helpers of the delivery tests: run main.ts (or the bundle) and follow its output. */
import { fileURLToPath } from "node:url";

/** Absolute path of main.ts. */
export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
/** Absolute path of deno.json. */
export const DENO_JSON = fileURLToPath(new URL("../../deno.json", import.meta.url));

/** The runtime flags (permissions and V8 flags) the `compile` task bakes into the binary, read from deno.json. */
export async function compilePermissionFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(DENO_JSON)) as {
    tasks: Record<string, string>;
  };
  const task = config.tasks.compile;
  if (task === undefined) throw new Error("deno.json has no compile task");
  return task.split(/\s+/).filter((word) =>
    word.startsWith("--allow-") || word.startsWith("--v8-flags=")
  );
}

/** A running subprocess whose stdout and stderr lines are collected as they arrive. */
export class Running {
  /** Every line written so far (stdout and stderr interleaved). */
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  readonly #drained: Promise<void>;
  /** Settles with the exit status once the process ended and its output was read. */
  readonly status: Promise<Deno.CommandStatus>;

  /** Follows the output of a spawned process (stdout and stderr piped). */
  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#drained = Promise.all([this.#read(child.stdout), this.#read(child.stderr)]).then(
      () => {},
    );
    this.status = this.#drained.then(() => child.status);
  }

  /**
   * Resolves with the first line (already seen or future) that matches; rejects if the process
   * ends first. A safety net kills the process after `limitMs` so a broken build cannot hang CI.
   */
  async waitForLine(
    test: RegExp | ((line: string) => boolean),
    limitMs = 60_000,
  ): Promise<string> {
    const match = typeof test === "function" ? test : (line: string) => test.test(line);
    const seen = this.lines.find(match);
    if (seen !== undefined) return seen;
    const { promise, resolve } = Promise.withResolvers<string>();
    this.#waiters.push({ test: match, resolve });
    const ended = this.status.then((status) => {
      throw new Error(
        `The process exited (${status.code}) before printing the expected line:\n${this.output()}`,
      );
    });
    const safety = setTimeout(() => this.#child.kill("SIGKILL"), limitMs);
    try {
      return await Promise.race([promise, ended]);
    } finally {
      clearTimeout(safety);
    }
  }

  /** Sends a signal to the process. */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Everything printed, for assertion messages. */
  output(): string {
    return this.lines.join("\n");
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) this.#line(line.replace(/\r$/, ""));
    }
    if (rest !== "") this.#line(rest);
  }

  #line(line: string): void {
    this.lines.push(line);
    for (const waiter of [...this.#waiters]) {
      if (waiter.test(line)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  }
}

/** Starts `deno <args>` with only `env` (plus PATH, HOME, DENO_DIR) in the environment. */
export function spawnDeno(
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string } = {},
): Running {
  const keep: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) keep[name] = value;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: { ...keep, ...env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).spawn();
  return new Running(child);
}

/** The arguments of `deno run` for main.ts with the project configuration. */
export function runMainArgs(permissions: string[], programArgs: string[] = []): string[] {
  return [
    "run",
    "--quiet",
    "--frozen",
    "--config",
    DENO_JSON,
    ...permissions,
    MAIN,
    ...programArgs,
  ];
}

/** Fetches a URL and returns its status (the body is discarded). */
export async function statusOf(url: string): Promise<number> {
  const response = await fetch(url);
  await response.body?.cancel();
  return response.status;
}
