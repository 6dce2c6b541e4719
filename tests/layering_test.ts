/**
 * The shared layers do not depend on the connectors built on them (issue 12, item 3): the
 * Microsoft clients and their target contract (`src/microsoft/`), the OpenCTI client and stream
 * pump (`src/opencti/`) and the runtime (`src/runtime/`) import nothing from a connector folder.
 * This test walks every relative import of those folders and fails on an edge into one.
 */
import assert from "node:assert/strict";
import { resolveSpecifier as resolve, specifiersOf } from "./import_graph.ts";

/** The folders that serve every connector. */
const SHARED = ["src/microsoft", "src/opencti", "src/runtime", "src/stix"];

/** Connector folders and entry points a shared folder must not import. */
const CONNECTORS: readonly RegExp[] = [
  /^src\/(sentinel|tanium|tanium_intel|microsoft_incidents|demo)\//,
  /^src\/(app|deploy|connectors)\.ts$/,
];

/** Every import from `files` into a connector folder, as "file imports target". */
export function layerBreaches(files: string[], read: (path: string) => string): string[] {
  const problems: string[] = [];
  for (const file of files) {
    for (const specifier of specifiersOf(read(file))) {
      const target = resolve(file, specifier);
      if (CONNECTORS.some((rule) => rule.test(target))) {
        problems.push(`${file} imports ${target}: move what it needs into a shared folder`);
      }
    }
  }
  return problems;
}

const ROOT = new URL("../", import.meta.url);
const readProject = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));

function tsFiles(folder: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(new URL(`${folder}/`, ROOT))) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory) found.push(...tsFiles(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) found.push(path);
  }
  return found.sort();
}

Deno.test("src/microsoft, src/opencti, src/runtime and src/stix import nothing from a connector folder", () => {
  const files = SHARED.flatMap(tsFiles);
  assert.ok(files.includes("src/microsoft/targets.ts"), `files found: ${files.length}`);
  assert.ok(files.includes("src/opencti/stream_pump.ts"), `files found: ${files.length}`);
  assert.deepEqual(layerBreaches(files, readProject), []);
});

Deno.test("the layering walk flags an import of a connector folder and passes shared ones", () => {
  const files: Record<string, string> = {
    "src/microsoft/a.ts": [
      'import type { SentinelSettings } from "../sentinel/settings.ts";',
      'import { failed } from "../runtime/delivery.ts";',
      'import type { SyncTarget } from "./target.ts";',
    ].join("\n"),
    "src/opencti/b.ts": [
      'import { Batcher } from "./batcher.ts";',
      "export {",
      "  DeadLetters,",
      '} from "../sentinel/dead_letters.ts";',
      'import "../app.ts";',
    ].join("\n"),
  };
  assert.deepEqual(
    layerBreaches(Object.keys(files), (path) => files[path] ?? "").map((p) => p.split(":")[0]),
    [
      "src/microsoft/a.ts imports src/sentinel/settings.ts",
      "src/opencti/b.ts imports src/sentinel/dead_letters.ts",
      "src/opencti/b.ts imports src/app.ts",
    ],
  );
});
