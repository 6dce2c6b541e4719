/**
 * Configuration of this program: a YAML file (`--config`, `CONFIG_FILE`, or `./config.yml` if
 * present), then environment variables, which win, read through the options the connectors
 * declare ({@linkcode CONNECTOR_SETTINGS}) and validated once into one typed {@linkcode Config}.
 * Every problem is reported at once, never with a secret.
 */
import { parse as parseYaml, YAMLParseError } from "yaml";
import { sentinelSettings } from "../sentinel/settings.ts";
import { taniumIncidentsSettings } from "../tanium/settings.ts";
import type { ConnectorSettings } from "./connector_settings.ts";
import { ConfigError, envSecrets, redactKnown, resolveWith } from "./resolve.ts";
import type { Env } from "./source.ts";
import type { Config, SentinelSettings, TaniumIncidentsSettings } from "./types.ts";

/** The connectors' configuration declarations, in start order. */
export const CONNECTOR_SETTINGS: readonly ConnectorSettings<unknown>[] = [
  sentinelSettings,
  taniumIncidentsSettings,
];

/** Options of {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /** YAML file named on the command line (`--config`). @default `CONFIG_FILE`, else `./config.yml` if present */
  file?: string;
  /** Environment variables. @default Deno.env.toObject() */
  env?: Env;
  /** Reads a text file. @default Deno.readTextFile */
  readTextFile?: (path: string) => Promise<string>;
}

/** A valid configuration with the warnings found while reading it. */
export interface LoadedConfig {
  /** The validated configuration. */
  config: Config;
  /** Things worth telling the user that do not stop the program. */
  warnings: string[];
  /** The YAML file read, if any. */
  file?: string;
}

/** The file `loadConfig` reads when neither `--config` nor `CONFIG_FILE` is given. */
export const DEFAULT_CONFIG_FILE = "./config.yml";

/** Reads the YAML file (if any) and the environment into a validated configuration; throws {@linkcode ConfigError}. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? Deno.env.toObject();
  const readTextFile = options.readTextFile ?? Deno.readTextFile;
  const fromEnv = env.CONFIG_FILE?.trim();
  const explicit = options.file ?? (fromEnv ? fromEnv : undefined);
  const label = options.file !== undefined ? "--config" : "CONFIG_FILE";
  const path = explicit ?? DEFAULT_CONFIG_FILE;
  let text: string | undefined;
  try {
    text = await readTextFile(path);
  } catch (error) {
    if (explicit === undefined && error instanceof Deno.errors.NotFound) text = undefined;
    else {
      const reason = error instanceof Deno.errors.NotFound
        ? "the file does not exist"
        : error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
        ? "reading it is not permitted (run with --allow-read)"
        : error instanceof Error
        ? error.message
        : String(error);
      throw new ConfigError(
        [`${explicit === undefined ? "config file" : label} ${path}: cannot read it: ${reason}`],
        { cause: error },
      );
    }
  }
  const doc = text === undefined ? undefined : parseDocument(text, path, env);
  const { config, warnings } = resolveConfig(doc, env);
  return text === undefined ? { config, warnings } : { config, warnings, file: path };
}

function parseDocument(text: string, path: string, env: Env): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    // Only the first line: later lines quote the source, which may hold a secret.
    const first = error instanceof YAMLParseError
      ? error.message.split("\n")[0]?.replace(/:\s*$/, "")
      : "not valid YAML";
    const problem = `config file ${path}: cannot parse it as YAML: ${first}`;
    throw new ConfigError([redactKnown(problem, envSecrets(env, CONNECTOR_SETTINGS))], {
      cause: error,
    });
  }
}

/** Validates a parsed YAML document (or `undefined`) and the environment into a {@linkcode Config}; throws {@linkcode ConfigError}. */
export function resolveConfig(doc: unknown, env: Env): { config: Config; warnings: string[] } {
  const resolved = resolveWith(CONNECTOR_SETTINGS, doc, env);
  // Each slice was produced by the declaration of the same name.
  const sentinel = resolved.settings.get("sentinel") as SentinelSettings | undefined;
  const taniumIncidents = resolved.settings.get("tanium-incidents") as
    | TaniumIncidentsSettings
    | undefined;
  const config: Config = {
    connectors: resolved.connectors,
    opencti: resolved.opencti,
    ...(sentinel === undefined ? {} : { sentinel }),
    ...(taniumIncidents === undefined ? {} : { taniumIncidents }),
    server: resolved.server,
    logging: resolved.logging,
  };
  return { config, warnings: resolved.warnings };
}

/** The settings slice of one connector in a configuration (`undefined` when not enabled). */
export function settingsOf(config: Config, name: string): unknown {
  return name === "sentinel"
    ? config.sentinel
    : name === "tanium-incidents"
    ? config.taniumIncidents
    : undefined;
}
