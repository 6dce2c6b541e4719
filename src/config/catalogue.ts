/** Every declared option of this program, flattened for lookups, docs and tests. */
import { COMMON_OPTIONS } from "./common_settings.ts";
import { CONNECTOR_SETTINGS } from "./load.ts";
import type { AnyOption } from "./option.ts";
import { envNamesOf, yamlPathsOf } from "./resolve.ts";

/** Every option that is not a base connector option (`CONNECTOR_*`), by key. */
export const FIELDS: Readonly<Record<string, AnyOption>> = Object.assign(
  {},
  COMMON_OPTIONS,
  ...CONNECTOR_SETTINGS.map((c) => c.options),
);

/** The base connector options (`CONNECTOR_*`) of every connector, by suffix (`ID`, `LOG_LEVEL`…). */
export const BASE_FIELDS: Readonly<Record<string, AnyOption>> = Object.assign(
  {},
  ...CONNECTOR_SETTINGS.map((c) => c.base),
);

/** Every YAML path the loader reads. */
export function knownYamlPaths(): Set<string> {
  return yamlPathsOf(CONNECTOR_SETTINGS);
}

/** Every environment variable name the loader reads. */
export function knownEnvNames(): Set<string> {
  return envNamesOf(CONNECTOR_SETTINGS);
}
