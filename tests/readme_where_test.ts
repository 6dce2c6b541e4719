/**
 * README "Where things are" sends a newcomer from `main.ts` to each behaviour in one hop: every
 * path it names must exist, and every symbol it names must be in one of the files of its row.
 * A table row (or the paragraph after the table) is one unit: a bare file name (`client.ts`) lives
 * in the folder of the last full path before it in that unit; `<connector>` stands for each
 * connector folder (a folder with a `module.ts`), another `<name>` a file one would add; `*`
 * matches any part of a file name; a token starting with `/` is a route, not a path.
 */
import assert from "node:assert/strict";

/** What the check needs from the project tree (paths from the project root, folders end in `/`). */
export interface Tree {
  /** True when the file or folder exists. */
  exists(path: string): boolean;
  /** The `.ts` files of a folder, recursively (paths from the root). */
  files(folder: string): string[];
  /** A file's text. */
  read(path: string): string;
}

const PATH = /^[\w.<>*/-]+$/;
const FILE = /\.(ts|json|yml|sample|md|lock)$/;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The "Where things are" section of README: its table rows and paragraphs, one unit each. */
export function whereUnits(readme: string): string[] {
  const start = readme.indexOf("## Where things are");
  assert.ok(start >= 0, "README has no 'Where things are' section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const units: string[] = [];
  for (const block of section.split(/\n\s*\n/)) {
    if (block.trimStart().startsWith("|")) {
      units.push(...block.split("\n").filter((line) => !/^\|\s*-/.test(line)));
    } else {
      units.push(block);
    }
  }
  return units;
}

/** Every path of `units` that does not exist and every symbol not found in its unit's files. */
export function deadReferences(units: string[], tree: Tree, connectors: string[]): string[] {
  const problems: string[] = [];
  for (const unit of units) {
    const tokens = [...unit.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
    let folder = "";
    const named: string[] = [];
    const symbols: string[] = [];
    for (const token of tokens) {
      const isPath = PATH.test(token) && (token.includes("/") || FILE.test(token));
      // A route (`/healthz`) is no file; `src/<name>/…` stands for a file one adds.
      if (token.startsWith("/") || /<(?!connector>)/.test(token)) continue;
      if (!isPath) {
        if (IDENTIFIER.test(token)) symbols.push(token);
        continue;
      }
      const full = token.includes("/") || tree.exists(token) ? token : `${folder}${token}`;
      if (token.includes("/")) folder = full.endsWith("/") ? full : full.replace(/[^/]*$/, "");
      const expanded = full.includes("<connector>")
        ? connectors.map((c) => full.replace("<connector>", c))
        : [full];
      for (const path of expanded) {
        const found = path.includes("*") ? matching(path, tree) : tree.exists(path) ? [path] : [];
        if (found.length === 0) problems.push(`${path} (from \`${token}\`) does not exist`);
        named.push(...found);
      }
    }
    if (named.length === 0) continue;
    const text = named.flatMap((path) => path.endsWith("/") ? tree.files(path) : [path])
      .map((path) => tree.read(path)).join("\n");
    for (const symbol of symbols) {
      if (!new RegExp(`\\b${symbol.replace("$", "\\$")}\\b`).test(text)) {
        problems.push(`\`${symbol}\` is in none of ${named.join(", ")}`);
      }
    }
  }
  return problems;
}

/** The files of a folder whose names match a `*` pattern. */
function matching(pattern: string, tree: Tree): string[] {
  const folder = pattern.replace(/[^/]*$/, "");
  const name = new RegExp(
    `^${pattern.slice(folder.length).replace(/[.]/g, "\\.").replace(/\*/g, "[^/]*")}$`,
  );
  return tree.files(folder).filter((path) =>
    path.slice(folder.length).indexOf("/") < 0 && name.test(path.slice(folder.length))
  );
}

const ROOT = new URL("../", import.meta.url);

const PROJECT: Tree = {
  exists: (path) => {
    try {
      Deno.statSync(new URL(path, ROOT));
      return true;
    } catch {
      return false;
    }
  },
  files: (folder) => {
    const found: string[] = [];
    for (const entry of Deno.readDirSync(new URL(folder, ROOT))) {
      const path = `${folder}${entry.name}`;
      if (entry.isDirectory) found.push(...PROJECT.files(`${path}/`));
      else if (entry.isFile && entry.name.endsWith(".ts")) found.push(path);
    }
    return found.sort();
  },
  read: (path) => Deno.readTextFileSync(new URL(path, ROOT)),
};

/** Connector folders: the folders of `src/` with a `module.ts`. */
function connectorFolders(): string[] {
  return [...Deno.readDirSync(new URL("src/", ROOT))]
    .filter((e) => e.isDirectory && PROJECT.exists(`src/${e.name}/module.ts`))
    .map((e) => e.name).sort();
}

Deno.test("README 'Where things are' names only paths that exist and symbols found in them", () => {
  const units = whereUnits(PROJECT.read("README.md"));
  assert.ok(units.length >= 20, `only ${units.length} rows`);
  const connectors = connectorFolders();
  assert.deepEqual(connectors, ["microsoft_incidents", "sentinel", "tanium", "tanium_intel"]);
  assert.deepEqual(deadReferences(units, PROJECT, connectors), []);
});

Deno.test("README 'Where things are' names every file and folder at the top of src/", () => {
  const section = whereUnits(PROJECT.read("README.md")).join("\n");
  const missing = [...Deno.readDirSync(new URL("src/", ROOT))]
    .map((e) => `src/${e.name}`)
    .filter((path) => !section.includes(path));
  assert.deepEqual(missing, []);
});

Deno.test("the 'Where things are' check flags a dead path, a dead bare name and a missing symbol", () => {
  const files: Record<string, string> = {
    "src/a/one.ts": "export function runThing() {}",
    "src/a/two.ts": "export const other = 1;",
    "src/b/module.ts": "export const create = 1;",
    "main.ts": "",
  };
  const tree: Tree = {
    exists: (path) =>
      path in files || Object.keys(files).some((f) => path.endsWith("/") && f.startsWith(path)),
    files: (folder) => Object.keys(files).filter((f) => f.startsWith(folder)).sort(),
    read: (path) => files[path] ?? "",
  };
  const good = [
    "| Runs | `src/a/one.ts` (`runThing`), `two.ts` |",
    "| Connectors | `create` in `src/<connector>/module.ts`; all under `src/a/` and `main.ts` |",
    "| Any | `src/a/*.ts`, the route `/healthz`, a new `src/<name>/module.ts` |",
  ];
  assert.deepEqual(deadReferences(good, tree, ["b"]), []);
  const bad = [
    "| Runs | `src/a/one.ts` (`stopThing`), `three.ts` |",
    "| Gone | `src/c/`, `src/a/*_mapping.ts` |",
    "| Connectors | `src/<connector>/module.ts` |",
  ];
  assert.deepEqual(deadReferences(bad, tree, ["b", "d"]), [
    "src/a/three.ts (from `three.ts`) does not exist",
    "`stopThing` is in none of src/a/one.ts",
    "src/c/ (from `src/c/`) does not exist",
    "src/a/*_mapping.ts (from `src/a/*_mapping.ts`) does not exist",
    "src/d/module.ts (from `src/<connector>/module.ts`) does not exist",
  ]);
});
