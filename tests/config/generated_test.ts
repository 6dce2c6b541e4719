/** README tables, config.yml.sample and the JSON Schema come from the option declarations. */
import assert from "node:assert/strict";
import { configSample, readmeTables, withTables } from "../../src/config/docs.ts";
import { COMMON_OPTIONS } from "../../src/config/common_settings.ts";
import { configSchema } from "../../src/config/schema.ts";
import { type AnyOption, CONNECTOR_SETTINGS, documentedDefault } from "../../src/config/mod.ts";
import { jsonSchemaOf } from "../../src/config/values.ts";

const README = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
const SAMPLE = Deno.readTextFileSync(new URL("../../config.yml.sample", import.meta.url));

Deno.test("README.md configuration tables are the ones generated from the declarations (run deno task docs)", () => {
  assert.equal(README, withTables(README, readmeTables(CONNECTOR_SETTINGS)));
});

Deno.test("config.yml.sample is the one generated from the declarations (run deno task docs)", () => {
  assert.equal(SAMPLE, configSample(CONNECTOR_SETTINGS));
});

/** What each declaration lacks: an environment name, a meaning, a documented default or a schema. */
function declarationProblems(all: [string, AnyOption][]): string[] {
  const problems: string[] = [];
  for (const [key, spec] of all) {
    if (spec.env.length === 0) problems.push(`${key}: no environment name`);
    if (spec.meaning.trim().length < 10) problems.push(`${key}: no meaning`);
    if (documentedDefault(spec).trim() === "") problems.push(`${key}: no documented default`);
    if (spec.default === undefined && spec.defaultDoc === undefined && !spec.required) {
      // "none" must be said on purpose: an optional option without a default shows an example.
      if (spec.example === undefined && spec.sample === undefined) {
        problems.push(`${key}: no default, no example`);
      }
    }
    if (jsonSchemaOf(spec.schema) === undefined) problems.push(`${key}: no JSON schema`);
  }
  return problems;
}

Deno.test("every declared option has names, a meaning, a documented default and a JSON schema", () => {
  const all: [string, AnyOption][] = [
    ...Object.entries(COMMON_OPTIONS),
    ...CONNECTOR_SETTINGS.flatMap((c) => [
      ...Object.entries(c.base).map(([k, v]): [string, AnyOption] => [`${c.name} ${k}`, v]),
      ...Object.entries(c.options).map(([k, v]): [string, AnyOption] => [`${c.name} ${k}`, v]),
    ]),
  ];
  assert.ok(all.length >= 100, `only ${all.length} declarations walked`);
  assert.deepEqual(declarationProblems(all), []);
});

Deno.test("the declaration walk flags an option without a name, meaning, default or schema", () => {
  const good = COMMON_OPTIONS.openctiUrl as AnyOption;
  const bad: [string, AnyOption][] = [
    ["nameless", { ...good, env: [] }],
    ["silent", { ...good, meaning: "" }],
    ["emptyDoc", { ...good, defaultDoc: " " }],
    [
      "undocumented",
      (({ default: _d, defaultDoc: _doc, required: _r, example: _e, sample: _s, ...rest }) => rest)(
        good,
      ) as AnyOption,
    ],
    ["schemaless", { ...good, schema: {} as AnyOption["schema"] }],
  ];
  assert.deepEqual(declarationProblems([["fine", good]]), []);
  assert.deepEqual(declarationProblems(bad), [
    "nameless: no environment name",
    "silent: no meaning",
    "emptyDoc: no documented default",
    "undocumented: no default, no example",
    "schemaless: no JSON schema",
  ]);
});

Deno.test("each default value is declared once: the declared default parses with its own schema", async () => {
  const { readValue } = await import("../../src/config/values.ts");
  const all = [
    ...Object.values(COMMON_OPTIONS) as AnyOption[],
    ...CONNECTOR_SETTINGS.flatMap((c) => [...Object.values(c.base), ...Object.values(c.options)]),
  ];
  for (const spec of all) {
    if (spec.default === undefined) continue;
    const result = readValue(spec.schema, spec.default);
    assert.ok(result.ok, `${spec.env[0]}: default ${JSON.stringify(spec.default)} is invalid`);
    assert.deepEqual(result.value, spec.default, spec.env[0]);
  }
});

Deno.test("configSchema() has the shape of upstream connector_config_schema.json for one connector", () => {
  const schema = configSchema(CONNECTOR_SETTINGS, "sentinel");
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.equal(schema.type, "object");
  assert.equal(schema.additionalProperties, true);
  const p = schema.properties;
  assert.deepEqual(p.CONNECTOR_TYPE, {
    description: "Always the connector's own type; another value is ignored with a warning.",
    type: "string",
    const: "STREAM",
    default: "STREAM",
  });
  assert.deepEqual(p.CONFIDENCE_LEVEL, {
    description: "0-100. When ACTION is unset: score at or above it is block, below it alert, " +
      "score 0 allow, no score unknown (targets graph and defender).",
    type: "integer",
    minimum: 0,
    maximum: 100,
    default: 50,
  });
  assert.equal(p.CLIENT_SECRET?.format, "password");
  assert.equal(p.CLIENT_SECRET?.writeOnly, true);
  assert.deepEqual(p.CONNECTOR_SCOPE?.default, ["sentinel"]);
  assert.equal(p.CONNECTOR_LOG_LEVEL?.default, "info");
  assert.equal(p.TANIUM_INCIDENTS_URL, undefined);
  assert.deepEqual(schema.required, [
    "OPENCTI_URL",
    "OPENCTI_TOKEN",
    "CONNECTOR_ID",
    "TENANT_ID",
    "CLIENT_ID",
  ]);
});

Deno.test("configSchema() of the whole program names every documented variable", () => {
  const schema = configSchema(CONNECTOR_SETTINGS);
  const documented = [
    ...Object.values(COMMON_OPTIONS) as AnyOption[],
    ...CONNECTOR_SETTINGS.flatMap((c) => Object.values(c.options)),
  ].map((spec) => spec.env[0]);
  const prefixed = CONNECTOR_SETTINGS.flatMap((c) =>
    Object.keys(c.base).map((suffix) => `${c.prefix.env}CONNECTOR_${suffix}`)
  );
  const missing = [...documented, ...prefixed].filter((env) =>
    env === undefined || schema.properties[env] === undefined
  );
  assert.deepEqual(missing, []);
  assert.deepEqual(schema.required, [
    "OPENCTI_URL",
    "OPENCTI_TOKEN",
    "TENANT_ID",
    "CLIENT_ID",
    "TANIUM_INCIDENTS_URL",
    "TANIUM_INCIDENTS_URL_CONSOLE",
    "TANIUM_INCIDENTS_TOKEN",
    "TANIUM_INTEL_URL",
    "TANIUM_INTEL_URL_CONSOLE",
    "TANIUM_INTEL_TOKEN",
  ]);
});
