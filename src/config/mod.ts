/**
 * Configuration: the generic engine (declared options, reader, loader, generators) and the typed
 * {@linkcode Config}. Each connector declares its options next to it (`src/<connector>/settings.ts`).
 *
 * @module
 */
export * from "./types.ts";
export { printableConfig, REDACTED, secretValues } from "./printable.ts";
export { BASE_FIELDS, FIELDS, knownEnvNames, knownYamlPaths } from "./catalogue.ts";
export { type AnyOption, documentedDefault, type FieldSpec, type Option } from "./option.ts";
export { ConfigError } from "./resolve.ts";
export {
  CONNECTOR_SETTINGS,
  DEFAULT_CONFIG_FILE,
  loadConfig,
  type LoadConfigOptions,
  type LoadedConfig,
  resolveConfig,
  settingsOf,
} from "./load.ts";
export type { Env } from "./source.ts";
export { parseUtcDate } from "./values.ts";
