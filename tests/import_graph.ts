/** Reading the relative import graph of the project's TypeScript sources, for the layering tests. */

/** The relative module specifiers a TypeScript source imports or re-exports. */
export function specifiersOf(source: string): string[] {
  const found: string[] = [];
  const statement =
    /^\s*(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']/gm;
  for (const match of source.matchAll(statement)) found.push(match[1] as string);
  for (const match of source.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) {
    found.push(match[1] as string);
  }
  return found.filter((s) => s.startsWith("./") || s.startsWith("../"));
}

/** The project path a relative `specifier` in `from` (a project path) points to. */
export function resolveSpecifier(from: string, specifier: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const part of specifier.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== ".") parts.push(part);
  }
  return parts.join("/");
}
