import assert from "node:assert/strict";
import { seededRandom } from "../../src/sim/seeded_random.ts";
import { readPattern } from "../../src/stix/pattern.ts";

const SEEDS = [
  "[ipv4-addr:value = '1.2.3.4']",
  "[file:hashes.'SHA-256' = 'aa' OR file:hashes.MD5 = 'bb'] OR [url:value = 'http://x/it\\'s']",
  "([domain-name:value = 'a.example'] AND [hostname:value = 'h']) OR [email-addr:value = 'a@b.c']",
  "[url:value MATCHES '^x'] WITHIN 5 SECONDS",
];
const PIECES = [
  "[",
  "]",
  "(",
  ")",
  "'",
  "\\",
  "\\'",
  " OR ",
  " AND ",
  ":",
  ".",
  "=",
  "!=",
  '"',
  "\u0000",
  "😀",
  "\uD800",
  "FOLLOWEDBY",
  "t'",
  "\n",
];

function mutate(rand: () => number, input: string): string {
  let s = input;
  const edits = 1 + Math.floor(rand() * 6);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (s.length + 1));
    const op = Math.floor(rand() * 4);
    if (op === 0) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 5)); // delete
    else if (op === 1) {
      s = s.slice(0, at) + PIECES[Math.floor(rand() * PIECES.length)]! + s.slice(at); // insert
    } else if (op === 2) {
      s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0x3000)) + s.slice(at + 1); // replace
    } else s = s.slice(0, at) + s.slice(at, at + 8).repeat(2) + s.slice(at + 8); // duplicate
  }
  return s;
}

function assertWellFormed(pattern: string): void {
  const r = readPattern(pattern);
  if ("error" in r) {
    assert.equal(typeof r.error, "string");
    assert.ok(r.error.length > 0);
  } else {
    for (const o of r.observables) assert.ok(o.value.length > 0);
  }
}

Deno.test("readPattern() never throws on 600 seeded mutations of valid patterns", () => {
  const rand = seededRandom(20240610);
  let errors = 0;
  for (let i = 0; i < 600; i++) {
    const p = mutate(rand, SEEDS[i % SEEDS.length]!);
    assertWellFormed(p);
    if ("error" in readPattern(p)) errors++;
  }
  // The mutations really produce unreadable input (the test is not vacuous).
  assert.ok(errors > 300, `only ${errors} mutations were reported`);
});

Deno.test("readPattern() never throws on random garbage strings", () => {
  const rand = seededRandom(7);
  for (let i = 0; i < 300; i++) {
    const len = Math.floor(rand() * 200);
    let s = "";
    for (let j = 0; j < len; j++) s += String.fromCharCode(Math.floor(rand() * 0x80));
    assertWellFormed(s);
  }
});

Deno.test("readPattern() answers huge and deeply nested inputs with an error reason", () => {
  const cases = [
    "[".repeat(200_000),
    "(".repeat(50_000) + "[ipv4-addr:value = '1.1.1.1']" + ")".repeat(50_000),
    "(".repeat(10_000),
    `[url:value = '${"a".repeat(1_000_000)}']`,
    "[ipv4-addr:value = '1.1.1.1'] OR ".repeat(2_000) + "[",
  ];
  for (const p of cases) {
    const r = readPattern(p);
    assert.ok("error" in r, `expected an error for input of length ${p.length}`);
  }
  // A long but legitimate OR chain is read (iteration, not recursion).
  const chain = Array.from(
    { length: 2_000 },
    (_, i) => `[ipv4-addr:value = '10.0.${i >> 8}.${i & 255}']`,
  ).join(" OR ");
  const r = readPattern(chain);
  assert.ok("observables" in r);
  assert.equal(r.observables.length, 2_000);
});

Deno.test("readPattern() reports a non-string input instead of throwing", () => {
  // Stream input is parsed at the edge, but a bad cast must still not crash the loop.
  assert.ok("error" in readPattern(42 as unknown as string));
});
