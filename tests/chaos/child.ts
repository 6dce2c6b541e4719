/** A connector child process for the chaos runs: start, SIGKILL, restart, and every output line. */
import { fileURLToPath } from "node:url";

/** Runs one script as a child `deno run` process, again and again, keeping all its output. */
export class ChildProcess {
  /** Every stdout and stderr line of every run. */
  readonly output: string[] = [];
  /** Starts so far (the first included). */
  starts = 0;
  readonly #script: string;
  readonly #env: Record<string, string>;
  readonly #permissions: string[];
  #child: Deno.ChildProcess | undefined;
  #readers: Promise<void>[] = [];

  /** Prepares `script` (relative to this folder) with its environment and permission flags. */
  constructor(script: string, env: Record<string, string>, permissions: string[]) {
    this.#script = fileURLToPath(new URL(script, import.meta.url));
    this.#env = env;
    this.#permissions = permissions;
  }

  /** True while a child runs. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the child. */
  start(): void {
    if (this.#child) return;
    this.starts++;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...this.#permissions, this.#script],
      env: { ...this.#env, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#readers.push(this.#collect(child.stdout), this.#collect(child.stderr));
  }

  /** Kills the child with SIGKILL (no cleanup, no last checkpoint) and waits for it to die. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
  }

  /** Kills the child and waits until its output is read. */
  async stop(): Promise<void> {
    await this.kill();
    await Promise.all(this.#readers);
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      rest += text;
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      this.output.push(...lines);
    }
    if (rest !== "") this.output.push(rest);
  }
}

/** Secrets and tokens found in `lines`: configured values, and anything shaped like a JWT. */
export function findSecrets(lines: readonly string[], secrets: readonly string[]): string[] {
  const found: string[] = [];
  const jwt = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/;
  for (const line of lines) {
    for (const secret of secrets) {
      if (secret.length >= 4 && line.includes(secret)) {
        found.push(`configured secret in: ${line.slice(0, 160)}`);
      }
    }
    if (jwt.test(line)) found.push(`JWT in: ${line.slice(0, 160)}`);
    if (/client_assertion=|"client_assertion"/.test(line)) {
      found.push(`assertion in: ${line.slice(0, 160)}`);
    }
  }
  return found;
}
