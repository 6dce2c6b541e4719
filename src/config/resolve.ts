/**
 * The generic loader: reads the common options and each enabled connector's declared options from
 * the environment and a YAML document (environment first), collects every problem, and reports
 * them at once without secrets. It knows no connector: the declarations are passed in.
 */
import {
  COMMON_OPTIONS,
  must,
  type ReadContext,
  readOpenCti,
  readServer,
} from "./common_settings.ts";
import type { ConnectorSettings, PendingSettings } from "./connector_settings.ts";
import type { AnyOption, FieldSpec } from "./option.ts";
import { REDACTED } from "./printable.ts";
import { type Env, Reader } from "./source.ts";
import type { ConnectorName, LogFormat, LogLevel, OpenCtiConfig, ServerConfig } from "./types.ts";
import * as val from "./values.ts";

/** The configuration is invalid; `problems` lists every problem, one line each, without secrets. */
export class ConfigError extends Error {
  /** The error's name. */
  override name = "ConfigError";
  /** One line per problem: `NAME (yaml.path): what is expected`. */
  readonly problems: readonly string[];

  /** Builds the error from its problem lines. */
  constructor(problems: readonly string[], options?: ErrorOptions) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(
      `Fix the configuration (${count}):\n${problems.map((line) => `  - ${line}`).join("\n")}`,
      options,
    );
    this.problems = problems;
  }
}

/** Every option a set of connector declarations reads: common ones, then each connector's. */
export function allOptions(
  connectors: readonly ConnectorSettings<unknown>[],
): AnyOption[] {
  return [
    ...Object.values(COMMON_OPTIONS) as AnyOption[],
    ...connectors.flatMap((c) => [...Object.values(c.base), ...Object.values(c.options)]),
  ];
}

/** Every YAML path the loader reads, for the unknown-key warning. */
export function yamlPathsOf(connectors: readonly ConnectorSettings<unknown>[]): Set<string> {
  return new Set(
    allOptions(connectors).flatMap((spec) => [...spec.yaml, ...(spec.upstreamYaml ?? [])]),
  );
}

/** Every environment variable name the loader reads. */
export function envNamesOf(connectors: readonly ConnectorSettings<unknown>[]): Set<string> {
  return new Set(
    allOptions(connectors).flatMap((spec) => [
      ...spec.env,
      ...(spec.upstreamEnv ?? []),
      ...(spec.fallbackEnv ?? []),
    ]),
  );
}

/** Secret values in an environment (before anything is parsed), for messages about the file. */
export function envSecrets(env: Env, connectors: readonly ConnectorSettings<unknown>[]): string[] {
  return allOptions(connectors).filter((spec) => spec.secret)
    .flatMap((spec) => [...spec.env, ...(spec.upstreamEnv ?? [])].map((name) => env[name] ?? ""));
}

/** Replaces each known secret (4 characters or more) in a text. */
export function redactKnown(text: string, secrets: readonly string[]): string {
  let out = text;
  const values = [...new Set(secrets.filter((secret) => secret.length >= 4))]
    .sort((a, b) => b.length - a.length);
  for (const secret of values) out = out.replaceAll(secret, REDACTED);
  return out;
}

/** The common part of a resolved configuration and each enabled connector's settings. */
export interface Resolved {
  /** Enabled connectors, in declaration order. */
  connectors: ConnectorName[];
  /** OpenCTI platform. */
  opencti: OpenCtiConfig;
  /** Each enabled connector's typed settings. */
  settings: Map<ConnectorName, unknown>;
  /** HTTP server. */
  server: ServerConfig;
  /** Logging. */
  logging: { level: LogLevel; format: LogFormat };
  /** Warnings, without secrets. */
  warnings: string[];
}

/** Validates a YAML document (or `undefined`) and the environment against the declarations. */
export function resolveWith(
  connectors: readonly ConnectorSettings<unknown>[],
  doc: unknown,
  env: Env,
): Resolved {
  const reader = new Reader(env, doc);
  if (doc !== undefined && doc !== null && (typeof doc !== "object" || Array.isArray(doc))) {
    reader.problem("config file: expected a YAML mapping (key: value lines) at the top level");
  } else if (doc !== undefined && doc !== null) {
    warnUnknownKeys(doc, reader, yamlPathsOf(connectors));
  }

  const enabled = readConnectors(reader, connectors);
  const opencti = readOpenCti(reader);
  const logging = {
    level: reader.get(COMMON_OPTIONS.logLevel),
    format: logFormatOf(reader),
  };
  const context: ReadContext = {
    reader,
    both: enabled.length > 1,
    level: logging.level ?? must(COMMON_OPTIONS.logLevel.default),
  };
  const pending: { declaration: ConnectorSettings<unknown>; slice: PendingSettings<unknown> }[] =
    [];
  for (const c of enabled) {
    const otherIds = pending.map((p) => p.slice.id);
    pending.push({ declaration: c, slice: c.read({ ...context, otherIds }) });
  }
  checkDistinctIds(reader, pending);
  const server = readServer(reader);

  const secrets = reader.secretsSeen;
  if (reader.problems.length > 0) {
    // A shared option (CONNECTOR_LOG_LEVEL…) read for each connector reports its problem once.
    throw new ConfigError(unique(reader.problems.map((line) => redactKnown(line, secrets))));
  }
  return {
    connectors: enabled.map((c) => c.name),
    opencti: opencti(),
    settings: new Map(pending.map(({ declaration, slice }) => [declaration.name, slice.value()])),
    server,
    logging: {
      level: logging.level ?? must(COMMON_OPTIONS.logLevel.default),
      format: logging.format ?? must(COMMON_OPTIONS.logFormat.default),
    },
    warnings: unique(reader.warnings.map((line) => redactKnown(line, secrets))),
  };
}

/** `LOG_FORMAT`, else what `OPENCTI_JSON_LOGGING` (OpenCTI 7 connectors) says, else `auto`. */
function logFormatOf(reader: Reader): LogFormat | undefined {
  const json = reader.get(COMMON_OPTIONS.openctiJsonLogging);
  return reader.get(
    COMMON_OPTIONS.logFormat,
    json === undefined ? {} : { default: json ? "json" : "text" },
  );
}

function unique(lines: readonly string[]): string[] {
  return [...new Set(lines)];
}

function warnUnknownKeys(doc: object, reader: Reader, known: ReadonlySet<string>): void {
  const prefixes = new Set<string>();
  for (const path of known) {
    const parts = path.split(".");
    for (let i = 1; i < parts.length; i++) prefixes.add(parts.slice(0, i).join("."));
  }
  const walk = (node: unknown, path: string): void => {
    if (known.has(path)) return;
    if (path !== "" && !prefixes.has(path)) {
      reader.warn(`config file: unknown key "${path}" is ignored (check its spelling)`);
      return;
    }
    if (node === null || typeof node !== "object" || Array.isArray(node)) return;
    for (const [key, value] of Object.entries(node)) {
      walk(value, path === "" ? key : `${path}.${key}`);
    }
  };
  walk(doc, "");
}

function readConnectors(
  reader: Reader,
  connectors: readonly ConnectorSettings<unknown>[],
): ConnectorSettings<unknown>[] {
  const spec = COMMON_OPTIONS.connectors;
  const names = connectors.map((c) => c.name);
  const listed = reader.get(spec);
  const chosen = new Set<ConnectorName>();
  if (listed !== undefined && listed.length > 0) {
    const unknown: string[] = [];
    for (const item of listed) {
      const lower = item.toLowerCase();
      const found = connectors.find((c) =>
        c.name === lower || c.name.replaceAll("-", "_") === lower
      );
      if (found) chosen.add(found.name);
      else unknown.push(item);
    }
    if (unknown.length > 0) {
      reader.problem(
        `${reader.label(spec, reader.find(spec))}: expected a comma-separated list of ` +
          `${val.describeChoices(names)}; got unknown ` +
          `${unknown.map((name) => JSON.stringify(name)).join(", ")}`,
      );
      return [];
    }
  } else if (listed === undefined && reader.problems.length > 0) {
    return [];
  } else {
    const present = (field: FieldSpec) => reader.find(field)?.value !== undefined;
    for (const c of connectors) if (c.enabledBy.some(present)) chosen.add(c.name);
    if (chosen.size === 0) {
      const sets = [...names.map((name) => `CONNECTORS=${name}`)];
      const all = `CONNECTORS=${names.join(",")}`;
      reader.problem(
        `CONNECTORS (connectors): no connector is configured; set ${sets.join(", ")} or ${all}, ` +
          `or configure a connector: ${connectors.map((c) => c.howToEnable).join(", ")}`,
      );
    }
  }
  for (const c of connectors) {
    const withOther = c.enabledWith;
    if (withOther && !chosen.has(c.name) && chosen.has(withOther.connector)) {
      if (reader.get(withOther.option) === true) chosen.add(c.name);
    }
  }
  return connectors.filter((c) => chosen.has(c.name));
}

function checkDistinctIds(
  reader: Reader,
  pending: readonly { declaration: ConnectorSettings<unknown>; slice: PendingSettings<unknown> }[],
): void {
  for (let i = 0; i < pending.length; i++) {
    for (let j = i + 1; j < pending.length; j++) {
      const a = pending[i];
      const b = pending[j];
      if (!a || !b || a.slice.id === undefined || a.slice.id !== b.slice.id) continue;
      const where = a.slice.idLabel === b.slice.idLabel
        ? a.slice.idLabel
        : `${a.slice.idLabel} and ${b.slice.idLabel}`;
      reader.problem(
        `${where}: ${a.declaration.name} and ${b.declaration.name} cannot share one connector ` +
          `id; set ${a.declaration.prefix.env}CONNECTOR_ID and ` +
          `${b.declaration.prefix.env}CONNECTOR_ID to two different UUIDs`,
      );
    }
  }
}
