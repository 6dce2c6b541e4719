/**
 * Every `mod.ts` under `src/` is a folder's entry point and only re-exports (issue 12, item 5):
 * the logic lives in files named for what they do. This test reads each `mod.ts` and fails on any
 * statement that is not `export … from "…"` or `export type … from "…"` (comments are allowed).
 */
import assert from "node:assert/strict";

/** A re-export: `export * from`, `export * as x from`, `export { … } from`, with optional `type`. */
const RE_EXPORT = /^export\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s+from\s+"[^"]+"$/;

/** The statements of `source` that are not re-exports, with comments removed. */
export function nonReExports(source: string): string[] {
  const code = source
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "");
  return code
    .split(";")
    .map((statement) => statement.trim().replace(/\s+/g, " "))
    .filter((statement) => statement !== "" && !RE_EXPORT.test(statement));
}

const ROOT = new URL("../", import.meta.url);

function modFiles(folder: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(new URL(`${folder}/`, ROOT))) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory) found.push(...modFiles(path));
    else if (entry.isFile && entry.name === "mod.ts") found.push(path);
  }
  return found.sort();
}

Deno.test("every mod.ts under src/ only re-exports", () => {
  const files = modFiles("src");
  assert.ok(files.includes("src/demo/mod.ts"), `mod.ts files found: ${files.join(", ")}`);
  assert.ok(files.includes("src/config/mod.ts"), `mod.ts files found: ${files.join(", ")}`);
  const problems = files.flatMap((file) =>
    nonReExports(Deno.readTextFileSync(new URL(file, ROOT))).map((statement) =>
      `${file}: "${
        statement.slice(0, 80)
      }" is not a re-export: move it to a file named for what it does`
    )
  );
  assert.deepEqual(problems, []);
});

Deno.test("the mod.ts check passes re-exports and comments and flags anything else", () => {
  const clean = [
    "/**",
    " * A folder. export const x = 1; in a comment is fine",
    " * @module",
    " */",
    'export * from "./a.ts";',
    'export * as b from "./b.ts";',
    "// a line comment",
    'export { c, type D } from "./c.ts";',
    'export type { E } from "./e.ts";',
    "export {",
    "  f,",
    "  g,",
    '} from "./fg.ts";',
  ].join("\n");
  assert.deepEqual(nonReExports(clean), []);
  const dirty = [
    'export * from "./a.ts";',
    'import { x } from "./x.ts";',
    "export const y = x + 1;",
    "export function z(): number {",
    "  return y",
    "}",
    "export { x };",
  ].join("\n");
  assert.deepEqual(nonReExports(dirty), [
    'import { x } from "./x.ts"',
    "export const y = x + 1",
    // A statement without its own `;` joins the next one: still flagged.
    "export function z(): number { return y } export { x }",
  ]);
});
