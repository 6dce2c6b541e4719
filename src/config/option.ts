/**
 * The declaration of one configuration option: where it is read from (environment names with
 * aliases, YAML paths), how it is parsed (a valibot schema from `values.ts`), its default, whether
 * it is secret and what it means. Each connector declares its own options next to its code
 * (`src/<connector>/settings.ts`); the loader, the README tables, `config.yml.sample` and the JSON
 * Schema are all derived from these declarations.
 */
import type { ValueSchema } from "./values.ts";

/** Where an option is read from: enough for the {@linkcode Reader} to find its raw value. */
export interface FieldSpec {
  /** Environment variable names, tried in order; the first is the documented one. */
  env: readonly string[];
  /** YAML paths (dotted), tried in order after every environment name. */
  yaml: readonly string[];
  /** Environment names tried last, after YAML (platform-injected fallbacks). */
  fallbackEnv?: readonly string[];
  /** Never shown in messages or printed configuration. */
  secret?: boolean;
}

/** One option, declared once. */
export interface Option<T> extends FieldSpec {
  /** Parses the raw value (string from the environment, any YAML value). */
  schema: ValueSchema<T>;
  /** Value when unset; absent = no default (see `defaultDoc` and `required`). */
  default?: NoInfer<T>;
  /** The default as documented, when it is not a plain value (computed, inferred, "none"). */
  defaultDoc?: string;
  /** When set, the option is required and this says what to give. */
  required?: string;
  /** What it does, one line (README table, sample comment, JSON Schema description). */
  meaning: string;
  /** README table section. */
  section: string;
  /** A value to show in `config.yml.sample` when there is no default. */
  example?: unknown;
  /** A value `config.yml.sample` sets (uncommented); unset = shown commented out. */
  sample?: unknown;
}

/** Declares an option (identity function that fixes the value type). */
export function option<T>(declaration: Option<T>): Option<T> {
  return declaration;
}

/** An option of any value type (for walking declarations). */
export type AnyOption = Option<unknown>;

/** The default of an option as documented in README and the sample: `` `50` ``, required, none. */
export function documentedDefault(spec: AnyOption): string {
  if (spec.defaultDoc !== undefined) return spec.defaultDoc;
  if (spec.default !== undefined) return `\`${plainValue(spec.default)}\``;
  if (spec.required !== undefined) return "required";
  return "none";
}

/** A value as written in an environment variable (lists comma-separated). */
export function plainValue(value: unknown): string {
  return Array.isArray(value) ? value.join(",") : String(value);
}
