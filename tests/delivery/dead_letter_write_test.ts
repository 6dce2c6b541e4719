/**
 * The dead-letter file with the permissions each way of running grants: `deno task start` and
 * `deno task compile` (their flags read from deno.json) may write the default file
 * (data/sentinel-dead-letters.json, folder created on the first save) in the working directory; a
 * file outside it fails cleanly: one error naming SENTINEL_DEAD_LETTER_FILE and the flag, the list
 * kept in memory, no crash.
 */
import assert from "node:assert/strict";
import { DENO_JSON } from "./helpers.ts";

const MOD = new URL("../../src/sentinel/mod.ts", import.meta.url).href;
const LETTERS = new URL("../../src/opencti/dead_letters.ts", import.meta.url).href;

/** The runtime flags (permissions, V8) of a task of deno.json. */
async function taskFlags(name: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(DENO_JSON)) as {
    tasks: Record<string, string>;
  };
  const task = config.tasks[name];
  if (task === undefined) throw new Error(`deno.json has no ${name} task`);
  return task.split(/\s+/).filter((w) => w.startsWith("--allow-") || w.startsWith("--v8-flags="));
}

const SCRIPT = `
import { deadLetterStore } from "${MOD}";
import { DeadLetters } from "${LETTERS}";
const file = Deno.args[0] === "default" ? undefined : Deno.args[0];
const letters = new DeadLetters(deadLetterStore(file, {}));
const errors = [];
letters.onSaveError((error) => errors.push(error.message));
await letters.add({ id: "indicator--1", kind: "upsert", reason: "HTTP 400" }, 0);
await letters.add({ id: "indicator--2", kind: "upsert", reason: "HTTP 400" }, 1);
console.log(JSON.stringify({ errors, kept: letters.size }));
`;

for (const task of ["start", "compile"]) {
  Deno.test(`with the ${task} task's permissions the default dead-letter file is written under ./data, and a file elsewhere fails once with the fix named`, async () => {
    const cwd = await Deno.makeTempDir({ prefix: "octi-dead-letters-" });
    const elsewhere = await Deno.makeTempDir({ prefix: "octi-elsewhere-" });
    try {
      const script = `${cwd}/script.ts`;
      await Deno.writeTextFile(script, SCRIPT);
      const flags = await taskFlags(task);
      assert.ok(flags.some((f) => f.startsWith("--allow-write=")), `${task} grants a write path`);
      const run = async (file: string) => {
        const output = await new Deno.Command(Deno.execPath(), {
          args: ["run", "--config", DENO_JSON, "--no-prompt", ...flags, script, file],
          cwd,
          env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(output.stderr);
        assert.equal(output.code, 0, stderr);
        return JSON.parse(new TextDecoder().decode(output.stdout)) as {
          errors: string[];
          kept: number;
        };
      };

      const saved = await run("default");
      assert.deepEqual(saved, { errors: [], kept: 2 });
      const written = JSON.parse(
        await Deno.readTextFile(`${cwd}/data/sentinel-dead-letters.json`),
      ) as { entries: unknown[] };
      assert.equal(written.entries.length, 2);

      const refused = await run(`${elsewhere}/letters.json`);
      assert.equal(refused.kept, 2, "kept in memory");
      assert.equal(refused.errors.length, 1, "one error for the failure streak");
      const message = refused.errors[0]!;
      for (const part of ["SENTINEL_DEAD_LETTER_FILE", `--allow-write=${elsewhere}`, "/app/data"]) {
        assert.ok(message.includes(part), `names ${part}: ${message}`);
      }
      assert.deepEqual([...Deno.readDirSync(elsewhere)], [], "nothing written there");
    } finally {
      await Deno.remove(cwd, { recursive: true });
      await Deno.remove(elsewhere, { recursive: true });
    }
  });
}

Deno.test("the Docker image's only writable folder is the dead-letter volume /app/data, owned by the non-root user", async () => {
  const dockerfile = await Deno.readTextFile(new URL("../../Dockerfile", import.meta.url));
  assert.match(dockerfile, /^WORKDIR \/app$/m, "data/ resolves to /app/data");
  assert.match(dockerfile, /^COPY --from=build --chown=65532:65532 \/app\/data \/app\/data$/m);
  assert.match(dockerfile, /^VOLUME \["\/app\/data"\]$/m);
  assert.deepEqual(
    (await taskFlags("compile")).filter((f) => f.startsWith("--allow-write")),
    ["--allow-write=data"],
  );
});
