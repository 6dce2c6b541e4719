import assert from "node:assert/strict";
import {
  DeadLetterFileError,
  DeadLetters,
  DeadLetterSaveError,
  FileDeadLetterStore,
  MemoryDeadLetterStore,
} from "../../src/opencti/dead_letters.ts";
import { deadLetterStore } from "../../src/sentinel/mod.ts";
import { DEFAULT_DEAD_LETTER_FILE } from "../../src/sentinel/settings.ts";

const T0 = Date.UTC(2026, 0, 1);

Deno.test("DeadLetters keeps at most the limit, the oldest leaving first and counted as overflow", async () => {
  const store = new MemoryDeadLetterStore();
  const letters = new DeadLetters(store, 2);
  await letters.add({ id: "a", kind: "upsert", reason: "bad a" }, T0);
  await letters.add({ id: "b", kind: "remove", reason: "bad b" }, T0 + 1);
  await letters.add({ id: "c", kind: "upsert", reason: "bad c" }, T0 + 2);
  assert.deepEqual(letters.list().map((l) => l.id), ["b", "c"]);
  assert.equal(letters.overflow, 1);
  const saved = await store.load();
  assert.deepEqual(saved?.entries.map((l) => l.id), ["b", "c"]);
  assert.equal(saved?.overflow, 1);
});

Deno.test("DeadLetters counts attempts and keeps the first failure time when an item fails again", async () => {
  const letters = new DeadLetters(new MemoryDeadLetterStore());
  await letters.add({ id: "a", kind: "upsert", reason: "first" }, T0);
  await letters.add({ id: "a", kind: "upsert", reason: "second" }, T0 + 60_000);
  assert.deepEqual(letters.get("a"), {
    id: "a",
    kind: "upsert",
    reason: "second",
    attempts: 2,
    firstFailedAt: new Date(T0).toISOString(),
    lastFailedAt: new Date(T0 + 60_000).toISOString(),
  });
  await letters.remove(["a", "absent"]);
  assert.equal(letters.size, 0);
});

Deno.test("FileDeadLetterStore survives a restart, and a missing file is an empty list", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/letters.json`;
    const first = new DeadLetters(new FileDeadLetterStore(path));
    await first.load();
    assert.equal(first.size, 0);
    await first.add({ id: "indicator--1", kind: "upsert", reason: "HTTP 400" }, T0);
    const second = new DeadLetters(new FileDeadLetterStore(path));
    await second.load();
    assert.deepEqual(second.list(), first.list());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DeadLetters never overwrites an unreadable file: it names the setting and keeps the list in memory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/letters.json`;
    await Deno.writeTextFile(path, "{not json");
    const letters = new DeadLetters(new FileDeadLetterStore(path));
    await assert.rejects(
      () => letters.load(),
      (error: Error) =>
        error instanceof DeadLetterFileError && error.message.includes("SENTINEL_DEAD_LETTER_FILE"),
    );
    await letters.add({ id: "x", kind: "upsert", reason: "bad" }, T0);
    assert.equal(letters.size, 1);
    assert.equal(await Deno.readTextFile(path), "{not json");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A failed save names SENTINEL_DEAD_LETTER_FILE and the fix once, keeps the list in memory, and the next save after the fix writes it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The folder of the file is a regular file: the folder cannot be created nor written.
    const blocker = `${dir}/data`;
    await Deno.writeTextFile(blocker, "");
    const path = `${blocker}/letters.json`;
    const letters = new DeadLetters(new FileDeadLetterStore(path));
    const errors: unknown[] = [];
    letters.onSaveError((error) => errors.push(error));
    await letters.add({ id: "a", kind: "upsert", reason: "bad a" }, T0);
    await letters.add({ id: "b", kind: "upsert", reason: "bad b" }, T0 + 1);
    assert.deepEqual(letters.list().map((l) => l.id), ["a", "b"], "kept in memory");
    assert.equal(errors.length, 1, "one error per failure streak");
    const error = errors[0];
    assert.ok(error instanceof DeadLetterSaveError);
    assert.equal(error.name, "DeadLetterSaveError");
    assert.ok(error.cause instanceof Error);
    for (
      const part of ["SENTINEL_DEAD_LETTER_FILE", path, `--allow-write=${blocker}`, "/app/data"]
    ) {
      assert.ok(error.message.includes(part), `the message names ${part}: ${error.message}`);
    }
    assert.ok(letters.saveError instanceof DeadLetterSaveError, "the latest failure is kept");

    // Fixed: the next change saves the whole list (the folder is created) and clears the error.
    await Deno.remove(blocker);
    await letters.add({ id: "c", kind: "upsert", reason: "bad c" }, T0 + 2);
    assert.equal(letters.saveError, undefined);
    const reread = new DeadLetters(new FileDeadLetterStore(path));
    await reread.load();
    assert.deepEqual(reread.list().map((l) => l.id), ["a", "b", "c"]);

    // A new streak reports again.
    await Deno.remove(blocker, { recursive: true });
    await Deno.writeTextFile(blocker, "");
    await letters.remove(["a"]);
    assert.equal(errors.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deadLetterStore: the file when set, memory for none, data/ by default and memory without a writable disk", () => {
  assert.ok(deadLetterStore("/var/lib/x.json", {}) instanceof FileDeadLetterStore);
  assert.ok(deadLetterStore("/var/lib/x.json", { diskless: true }) instanceof FileDeadLetterStore);
  assert.ok(deadLetterStore("none", {}) instanceof MemoryDeadLetterStore);
  assert.ok(deadLetterStore(undefined, {}) instanceof FileDeadLetterStore);
  assert.ok(deadLetterStore(undefined, { diskless: true }) instanceof MemoryDeadLetterStore);
  assert.equal(DEFAULT_DEAD_LETTER_FILE, "data/sentinel-dead-letters.json");
});
