/**
 * The JSON Schema of the configuration (`--print-config-schema`), derived from the option
 * declarations, in the form OpenCTI's integration manager reads: the upstream connectors'
 * `__metadata__/connector_config_schema.json` (draft 2020-12, one property per environment
 * variable with `description`, `type`, `default`, `enum`/`format`/bounds, secrets as
 * `format: password` + `writeOnly`, a `required` list, `additionalProperties: true`).
 */
import { COMMON_OPTIONS } from "./common_settings.ts";
import type { ConnectorSettings } from "./connector_settings.ts";
import type { AnyOption } from "./option.ts";
import { jsonSchemaOf } from "./values.ts";

/** One property of the schema. */
export type JsonProperty = Record<string, unknown>;

/** The schema document. */
export interface ConfigSchema {
  /** Draft 2020-12. */
  $schema: string;
  /** Identifier of this schema. */
  $id: string;
  /** Always `object`. */
  type: "object";
  /** One property per environment variable. */
  properties: Record<string, JsonProperty>;
  /** Variables that must be set. */
  required: string[];
  /** Other variables are allowed (the platform injects its own). */
  additionalProperties: true;
}

function property(spec: AnyOption, extra: JsonProperty = {}): JsonProperty {
  const json = jsonSchemaOf(spec.schema);
  return {
    description: spec.meaning.replaceAll("`", ""),
    ...json,
    ...(spec.default === undefined ? {} : { default: spec.default }),
    ...(spec.secret ? { format: "password", writeOnly: true } : {}),
    ...extra,
  };
}

/**
 * The schema of one connector run alone (plain `CONNECTOR_*` names, as the integration manager
 * deploys one container per connector), or, without `name`, of the whole program (every name,
 * prefixed base names included).
 */
export function configSchema(
  connectors: readonly ConnectorSettings<unknown>[],
  name?: string,
): ConfigSchema {
  const chosen = name === undefined ? connectors : connectors.filter((c) => c.name === name);
  if (chosen.length === 0) {
    throw new Error(
      `Unknown connector "${name}": choose ${connectors.map((c) => c.name).join(" or ")}`,
    );
  }
  const properties: Record<string, JsonProperty> = {};
  const required: string[] = [];
  const add = (env: string, spec: AnyOption, extra: JsonProperty = {}) => {
    if (properties[env] !== undefined) return;
    properties[env] = property(spec, extra);
    if (spec.required !== undefined) required.push(env);
  };
  const common = Object.values(COMMON_OPTIONS) as AnyOption[];
  const section = (s: string) => common.filter((spec) => spec.section === s);
  for (const spec of section("OpenCTI")) add(spec.env[0] as string, spec);
  for (const c of chosen) {
    for (const [suffix, spec] of Object.entries(c.base)) {
      // The connector's own type is fixed, as upstream declares it.
      // Alone, the plain CONNECTOR_LOG_LEVEL is the process level (declared with its default).
      if (name !== undefined && suffix === "LOG_LEVEL") continue;
      const fixed = suffix === "TYPE" ? { const: spec.example, default: spec.example } : {};
      if (name !== undefined) add(`CONNECTOR_${suffix}`, spec, fixed);
      else {
        add(`CONNECTOR_${suffix}`, spec);
        add(`${c.prefix.env}CONNECTOR_${suffix}`, spec, fixed);
      }
    }
  }
  if (name === undefined) {
    // With several connectors, each id may come from the plain or the prefixed name.
    const ids = new Set(chosen.flatMap((c) => ["CONNECTOR_ID", `${c.prefix.env}CONNECTOR_ID`]));
    required.splice(0, required.length, ...required.filter((env) => !ids.has(env)));
    for (const spec of section("General")) add(spec.env[0] as string, spec);
  }
  for (const c of chosen) {
    for (const spec of Object.values(c.options)) add(spec.env[0] as string, spec);
  }
  for (const spec of section("Server and logging")) add(spec.env[0] as string, spec);
  const id = name ?? "octi-connectors";
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: `urn:octi-connectors:${id}:config.schema.json`,
    type: "object",
    properties,
    required,
    additionalProperties: true,
  };
}
