import assert from "node:assert/strict";
import {
  DeadLetterFileError,
  DeadLetters,
  FileDeadLetterStore,
  MemoryDeadLetterStore,
} from "../../src/sentinel/dead_letters.ts";

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
