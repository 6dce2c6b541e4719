/**
 * The simulators must not import the production code they check (issue 12, item 4): a mapping bug
 * would otherwise agree with its own check. This test walks the import graph of every
 * `src/sim/*.ts` file and fails on any edge into production code that is not on the list below.
 *
 * The line drawn:
 * - FORBIDDEN anywhere in the walk: the mappers and event/pattern readers whose output the
 *   simulators judge (`src/microsoft/*_mapping.ts`, `src/sentinel/events.ts`,
 *   `src/microsoft/targets.ts`, `src/stix/pattern.ts`, `src/stix/validate.ts`,
 *   `src/stix/hashes.ts`, `src/stix/markings.ts`, `src/stix/ids.ts`, `src/microsoft/odata.ts`,
 *   `src/microsoft/assertion.ts`).
 * - INFRASTRUCTURE, allowed and walked through (its own imports obey the same rules): modules
 *   that check nothing, each with its reason.
 * - WIRED, allowed only in `src/sim/stack.ts` and not walked through: the production clients the
 *   stack builds for a test (`createTarget`), i.e. the code under test itself. The stack never
 *   derives an expectation from them (`expected()` uses `src/sim/expected_records.ts`).
 */
import assert from "node:assert/strict";
import { resolveSpecifier as resolve, specifiersOf } from "../import_graph.ts";

/** Production modules a simulator may import, walked through; the reason each is harmless. */
const INFRASTRUCTURE: Readonly<Record<string, string>> = {
  "src/runtime/clock.ts": "the Now/Sleep types and the system clock; checks nothing",
  "src/runtime/http.ts": "the Fetch type the stack passes to the clients it wires",
  "src/runtime/errors.ts": "error classes of runtime/http.ts (reached through its type import)",
  "src/stix/types.ts": "shared STIX type declarations only",
  "src/stix/uuid.ts":
    "RFC 4122 UUIDv5, a generic algorithm proved by its own vectors (tests/stix/ids_test.ts); " +
    "used to build seed and simulator ids, never to derive an expectation",
};

/** Production clients only `src/sim/stack.ts` may import (the code under test, wired to the sims). */
const WIRED: ReadonlySet<string> = new Set([
  "src/microsoft/graph.ts",
  "src/microsoft/sentinel_stix_upload.ts",
  "src/microsoft/defender.ts",
  "src/microsoft/token_provider.ts",
  "src/microsoft/scopes.ts",
  "src/microsoft/target.ts",
]);

/** Modules no simulator may reach, named by the issue or holding rules the simulators judge. */
const FORBIDDEN: readonly RegExp[] = [
  /^src\/microsoft\/[a-z_]*mapping\.ts$/,
  /^src\/sentinel\/events\.ts$/,
  /^src\/microsoft\/targets\.ts$/,
  /^src\/stix\/(pattern|validate|hashes|markings|ids)\.ts$/,
  /^src\/microsoft\/(odata|assertion)\.ts$/,
];

const STACK = "src/sim/stack.ts";

/** Walks the import graph from `roots` (paths from the project root) and lists every breach. */
export function breaches(roots: string[], read: (path: string) => string): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const file = queue.shift() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of specifiersOf(read(file))) {
      const target = resolve(file, specifier);
      if (FORBIDDEN.some((rule) => rule.test(target))) {
        problems.push(`${file} imports ${target}, which a simulator must not use`);
      } else if (target.startsWith("src/sim/")) {
        queue.push(target);
      } else if (WIRED.has(target)) {
        if (file !== STACK) {
          problems.push(`${file} imports ${target}: only ${STACK} may wire production clients`);
        }
      } else if (target in INFRASTRUCTURE) {
        queue.push(target);
      } else {
        problems.push(
          `${file} imports ${target}, which is not on the simulators' allowlist ` +
            "(tests/sim/independence_test.ts): write the simulator's own version, or add it " +
            "to INFRASTRUCTURE with the reason it checks nothing",
        );
      }
    }
  }
  return problems;
}

const ROOT = new URL("../../", import.meta.url);
const readProject = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));

function simFiles(): string[] {
  return [...Deno.readDirSync(new URL("src/sim/", ROOT))]
    .filter((e) => e.isFile && e.name.endsWith(".ts"))
    .map((e) => `src/sim/${e.name}`)
    .sort();
}

Deno.test("no file under src/sim/ imports a production mapper, event reader or other checked module", () => {
  const files = simFiles();
  assert.ok(files.includes(STACK) && files.length >= 10, `simulator files found: ${files}`);
  assert.deepEqual(breaches(files, readProject), []);
});

Deno.test("the import walk sees the simulators' real imports (it does not pass vacuously)", () => {
  const stack = specifiersOf(readProject(STACK));
  assert.ok(stack.includes("./expected_records.ts"), stack.join(", "));
  assert.ok(stack.includes("../microsoft/graph.ts"), stack.join(", "));
  // The Graph simulator's body rules (graph_rules.ts) read the enum tables of ms_tables.ts.
  assert.ok(specifiersOf(readProject("src/sim/graph_rules.ts")).includes("./ms_tables.ts"));
});

Deno.test("the import walk flags forbidden, unlisted and misplaced production imports", () => {
  const files: Record<string, string> = {
    "src/sim/a.ts": [
      'import { x } from "./b.ts";',
      'import type { Intent } from "../sentinel/events.ts";',
      "export {",
      "  toTiIndicators,",
      '} from "../microsoft/graph_mapping.ts";',
      'import { GraphTarget } from "../microsoft/graph.ts";',
      'import { Hono } from "hono";',
    ].join("\n"),
    "src/sim/b.ts": 'import { now } from "../runtime/clock.ts";\nimport "../app.ts";',
    "src/runtime/clock.ts": 'import { observablesOf } from "../stix/pattern.ts";',
  };
  const found = breaches(["src/sim/a.ts"], (path) => files[path] ?? "");
  assert.deepEqual(found.map((p) => p.split(",")[0]), [
    "src/sim/a.ts imports src/sentinel/events.ts",
    "src/sim/a.ts imports src/microsoft/graph_mapping.ts",
    "src/sim/a.ts imports src/microsoft/graph.ts: only src/sim/stack.ts may wire production clients",
    "src/sim/b.ts imports src/app.ts",
    "src/runtime/clock.ts imports src/stix/pattern.ts",
  ]);
});
