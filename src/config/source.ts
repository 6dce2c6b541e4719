/**
 * Where a configuration value comes from: environment variables first (set even to an empty
 * string, they win; empty then means "use the default"), then the YAML document, then
 * platform-injected fallbacks. Problems are collected, never thrown one by one.
 */
import type { FieldSpec, Option } from "./option.ts";
import { readValue, type ValueSchema } from "./values.ts";

/** Environment variables, injected so tests never touch the real environment. */
export type Env = Readonly<Record<string, string | undefined>>;

/** A value found for an option, and where. `value` is `undefined` when set empty (= default). */
export interface Found {
  /** The raw value (string from the environment, any YAML value from the file). */
  value: unknown;
  /** Environment variable it came from. */
  env?: string;
  /** YAML path it came from. */
  yaml?: string;
}

/** Reads a dotted path in a YAML document; `undefined` when any step is missing. */
export function yamlAt(doc: unknown, path: string): unknown {
  let node: unknown = doc;
  for (const key of path.split(".")) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Finds the raw value of an option, following the precedence rules. */
export function findValue(spec: FieldSpec, env: Env, doc: unknown): Found | undefined {
  for (const name of spec.env) {
    const raw = env[name];
    if (raw !== undefined) return { value: raw.trim() === "" ? undefined : raw, env: name };
  }
  for (const path of spec.yaml) {
    const raw = yamlAt(doc, path);
    if (raw === undefined || raw === null) continue;
    return { value: typeof raw === "string" && raw.trim() === "" ? undefined : raw, yaml: path };
  }
  for (const name of spec.fallbackEnv ?? []) {
    const raw = env[name];
    if (raw !== undefined && raw.trim() !== "") return { value: raw, env: name };
  }
  return undefined;
}

/** How to name an option in a message when it was not found anywhere. */
export interface Label {
  /** Environment variable name. */
  env: string;
  /** YAML path, when the option has one. */
  yaml?: string;
}

/** Options of {@linkcode Reader.read}. */
export interface ReadOptions<T> {
  /** Value when unset. @default undefined */
  default?: T;
  /** When set, a missing value is a problem; the text says what to give. @default undefined */
  required?: string;
  /** Name used in messages when the value is not found. @default the spec's first names */
  label?: Label;
}

/** Reads options one by one and collects every problem and warning. */
export class Reader {
  /** Problems found so far, one line each. */
  readonly problems: string[] = [];
  /** Warnings found so far, one line each. */
  readonly warnings: string[] = [];
  /** Raw values of secret options seen (for the last-resort redaction of messages). */
  readonly secretsSeen: string[] = [];

  /** Reads from `env` and the YAML document `doc`. */
  constructor(readonly env: Env, readonly doc: unknown) {}

  /** The `NAME (yaml.path)` text for an option. */
  label(spec: FieldSpec, found?: Found, label?: Label): string {
    // The env name and YAML path at the same position belong together (prefixed with prefixed).
    const pair = <A, B>(from: readonly A[], to: readonly B[], item: A): B | undefined =>
      to[Math.min(Math.max(from.indexOf(item), 0), to.length - 1)];
    let env = label?.env ?? spec.env[0] ?? "?";
    let yaml = label?.yaml ?? spec.yaml[0];
    if (found?.env !== undefined) {
      env = found.env;
      if (spec.env.includes(found.env)) yaml = pair(spec.env, spec.yaml, found.env);
    } else if (found?.yaml !== undefined) {
      yaml = found.yaml;
      env = pair(spec.yaml, spec.env, found.yaml) ?? env;
    }
    return yaml === undefined ? env : `${env} (${yaml})`;
  }

  /** Where an option was found, or `undefined` when nowhere. */
  find(spec: FieldSpec): Found | undefined {
    const found = findValue(spec, this.env, this.doc);
    if (spec.secret && typeof found?.value === "string") {
      this.secretsSeen.push(found.value, found.value.trim());
    }
    return found;
  }

  /** Reads and parses one option; records a problem and returns `undefined` when invalid. */
  read<T>(spec: FieldSpec, schema: ValueSchema<T>, options: ReadOptions<T> = {}): T | undefined {
    const found = this.find(spec);
    if (found === undefined || found.value === undefined) {
      if (options.required !== undefined) {
        this.problems.push(`${this.label(spec, found, options.label)}: ${options.required}`);
      }
      return options.default;
    }
    const result = readValue(schema, found.value);
    if (result.ok) return result.value;
    const shown = spec.secret ? "the value is not shown" : `got ${describe(found.value)}`;
    this.problems.push(`${this.label(spec, found, options.label)}: ${result.message}; ${shown}`);
    return undefined;
  }

  /**
   * Reads a declared option with its own schema, default and required text; `overrides` replace
   * them for one read (a requirement that depends on another option, a label).
   */
  get<T>(spec: Option<T>, overrides: ReadOptions<T> = {}): T | undefined {
    return this.read(spec, spec.schema, {
      // A fresh copy of a list default, so no caller can change the declaration.
      ...(spec.default === undefined
        ? {}
        : { default: Array.isArray(spec.default) ? [...spec.default] as T : spec.default }),
      ...(spec.required === undefined ? {} : { required: spec.required }),
      ...overrides,
    });
  }

  /** Records a problem line. */
  problem(line: string): void {
    this.problems.push(line);
  }

  /** Records a warning line. */
  warn(line: string): void {
    this.warnings.push(line);
  }
}

/** A short, quoted rendering of a non-secret raw value. */
export function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "a mapping";
  const text = String(value);
  const short = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(short);
}
