/** The README table and config.yml.sample stay true to the options the loader reads. */
import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  BASE_FIELDS,
  FIELDS,
  type FieldSpec,
  knownEnvNames,
  knownYamlPaths,
  resolveConfig,
} from "../../src/config/mod.ts";
import { yamlAt } from "../../src/config/source.ts";

const README = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
const SAMPLE = Deno.readTextFileSync(new URL("../../config.yml.sample", import.meta.url));

Deno.test("README.md documents every environment variable and YAML path", () => {
  const missing = [
    ...[...knownEnvNames()].filter((name) => !README.includes(`\`${name}\``)),
    ...[...knownYamlPaths()].filter((path) => !README.includes(`\`${path}\``)),
  ];
  assert.deepEqual(missing, []);
});

Deno.test("README.md keeps its sections in the agreed order", () => {
  const headings = [...README.matchAll(/^## (.+)$/gm)].map((match) => match[1]);
  assert.deepEqual(headings.slice(0, 3), ["Overview", "Quick start", "Configuration"]);
  assert.match(README, /npx -y deno@2\.9\.6 task test/);
  assert.match(README, /deno task test/);
});

Deno.test("config.yml.sample shows every option under its YAML path and names its variable", () => {
  // Optional options are commented out as "# key: value"; uncomment them to check the paths.
  const uncommented = SAMPLE.replace(/^(\s*)# ([a-z_]+:(?: |$))/gm, "$1$2");
  const doc = parse(uncommented);
  const specs = Object.values(FIELDS) as FieldSpec[];
  const paths = [
    ...specs.flatMap((spec) => spec.yaml.slice(0, 1)),
    ...Object.keys(BASE_FIELDS).map((key) => `connector.${key.toLowerCase()}`),
  ];
  assert.deepEqual(paths.filter((path) => yamlAt(doc, path) === undefined), []);
  const names = [
    ...specs.flatMap((spec) => [...spec.env, ...(spec.fallbackEnv ?? [])])
      .filter((name) => name !== "CONFIG_FILE" && name !== "DENO_SERVE_ADDRESS"),
    ...Object.keys(BASE_FIELDS).map((key) => `CONNECTOR_${key}`),
  ];
  const missing = names.filter((name) => !new RegExp(`\\b${name}\\b`).test(SAMPLE));
  assert.deepEqual(missing, []);
  // As shipped, the sample parses and has no unknown key.
  const shipped = parse(SAMPLE);
  const known = knownYamlPaths();
  const leaves: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (node !== null && typeof node === "object" && !Array.isArray(node)) {
      for (const [key, value] of Object.entries(node)) walk(value, path ? `${path}.${key}` : key);
    } else if (node !== null) leaves.push(path);
  };
  walk(shipped, "");
  assert.deepEqual(leaves.filter((path) => !known.has(path)), []);
});

Deno.test("config.yml.sample is valid once its ChangeMe placeholders are filled in", () => {
  let n = 0;
  const filled = SAMPLE.split("\n").map((line) => {
    if (!line.includes("'ChangeMe'")) return line;
    n++;
    const value = /tenant_id:/.test(line)
      ? "contoso.onmicrosoft.com"
      : /(id|_id):/.test(line) && !/live_stream_id/.test(line)
      ? `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`
      : `value-${n}`;
    return line.replace("'ChangeMe'", `'${value}'`);
  }).join("\n");
  const { config, warnings } = resolveConfig(parse(filled), {});
  assert.deepEqual(config.connectors, ["sentinel", "tanium-incidents"]);
  assert.equal(config.sentinel?.target, "sentinel");
  assert.equal(config.taniumIncidents?.connector.periodMs, 12 * 3_600_000);
  assert.deepEqual(warnings, []);
});
