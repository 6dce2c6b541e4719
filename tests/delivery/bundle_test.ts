/**
 * The stand-in for `deno task compile`, whose runtime cannot be downloaded here: the `bundle`
 * task's single JavaScript file, run with `deno run --no-config` and exactly the permission flags
 * the compile task bakes in, serves its endpoints, stops cleanly on SIGTERM, and passes the demo.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { compilePermissionFlags, DENO_JSON, type Running, spawnDeno, statusOf } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Builds the bundle as the `bundle` task does, into `dir`; returns the file. */
async function bundle(dir: string): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(DENO_JSON)) as {
    tasks: Record<string, string>;
  };
  const task = (config.tasks.bundle ?? "").split(/\s+/);
  assert.equal(task.slice(0, 2).join(" "), "deno bundle", "the bundle task runs deno bundle");
  const file = `${dir}/octi-connectors.js`;
  // The task's own arguments, with the output redirected into the temporary directory.
  const args = task.slice(1).map((word, i, all) => all[i - 1] === "-o" ? file : word);
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return file;
}

/** One test's bundle: built into a temporary directory, run from there, removed after. */
interface BundleWorld {
  /** The bundle. */
  file: string;
  /** The permission flags the compile task bakes in. */
  flags: string[];
  /** Runs the bundle with those flags only, no config, `SERVER_PORT=0`, and `args`. */
  run(args: string[]): Running;
}

/** Runs `test` with a fresh bundle; the directory is removed after. */
async function withBundle(test: (world: BundleWorld) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "octi-bundle-" });
  try {
    const file = await bundle(dir);
    const flags = await compilePermissionFlags();
    await test({
      file,
      flags,
      run: (args) =>
        spawnDeno(["run", "--no-config", "--no-prompt", ...flags, file, ...args], {
          SERVER_PORT: "0",
        }, { cwd: dir }),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the bundle runs with the compile task's permissions: endpoints answer and SIGTERM exits 0", async () => {
  await withBundle(async ({ file, flags, run: runBundle }) => {
    assert.ok(flags.length > 0, "the compile task names its permissions");
    const run = runBundle(["--demo"]);
    const serving = await run.waitForLine(/^Serving http:\/\/127\.0\.0\.1:\d+\/healthz/);
    const base = /^Serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(serving)?.[1];
    assert.ok(base, serving);
    // After the summary every connector is registered and following: ready.
    await run.waitForLine(/Press Ctrl-C to stop/);
    assert.match(run.output(), /Result: OK/);
    assert.equal(await statusOf(`${base}/healthz`), 200);
    assert.equal(await statusOf(`${base}/readyz`), 200);
    assert.equal(await statusOf(`${base}/metrics`), 200);
    // Docker's HEALTHCHECK: the same file probes /readyz on SERVER_PORT.
    const probe = await spawnDeno(
      ["run", "--no-config", "--no-prompt", ...flags, file, "--healthcheck"],
      { SERVER_PORT: new URL(base).port },
    ).status;
    assert.equal(probe.code, 0, "--healthcheck exits 0 while /readyz answers 200");
    run.kill("SIGTERM");
    const status = await run.status;
    assert.equal(status.code, 0, `exit 0 after a clean shutdown:\n${run.output()}`);
  });
});

Deno.test("the bundle with the compile task's permissions passes the demo in --once mode", async () => {
  await withBundle(async ({ run: runBundle }) => {
    const run = runBundle(["--demo", "--target", "sentinel", "--once"]);
    const status = await run.status;
    assert.equal(status.code, 0, run.output());
    assert.match(run.output(), /Result: OK/);
  });
});

Deno.test({
  name:
    "the bundle pushes over AMQP (amqplib inside the one file): the demo on OpenCTI 6.2.5 with a real RabbitMQ",
  ignore: !Deno.env.get("RABBITMQ_TEST_URL"),
  async fn() {
    await withBundle(async ({ run: runBundle }) => {
      const run = runBundle([
        "--demo",
        "--once",
        "--opencti-version",
        "6.2.5",
        "--rabbitmq-url",
        Deno.env.get("RABBITMQ_TEST_URL")!,
      ]);
      const status = await run.status;
      assert.equal(status.code, 0, run.output());
      assert.match(run.output(), /OpenCTI 6\.2\.5/);
      assert.match(run.output(), /Result: OK/);
    });
  },
});
