/**
 * Documentation generated from the option declarations: the README configuration tables and
 * `config.yml.sample`. `deno task docs` writes them; tests/config/generated_test.ts fails when the
 * committed files drift from the declarations.
 */
import { COMMON_OPTIONS } from "./common_settings.ts";
import type { ConnectorSettings, UpstreamConnector } from "./connector_settings.ts";
import { type AnyOption, documentedDefault } from "./option.ts";

/** Marks the start of the generated tables in README.md. */
export const README_BEGIN =
  "<!-- BEGIN options: generated from the declarations by `deno task docs`; do not edit -->";
/** Marks the end of the generated tables in README.md. */
export const README_END = "<!-- END options -->";

/** The meaning as documented (a secret says so). */
function meaningOf(spec: AnyOption): string {
  return spec.secret && !/\bSecret\b/.test(spec.meaning) ? `${spec.meaning} Secret.` : spec.meaning;
}

function code(names: readonly string[]): string {
  return names.map((name) => `\`${name}\``).join(", ");
}

function variableCell(spec: AnyOption): string {
  const [first, ...aliases] = spec.env;
  const extra = [
    ...(aliases.length > 0 ? [`alias ${code(aliases)}`] : []),
    ...(spec.fallbackEnv?.length ? [`fallback ${code(spec.fallbackEnv)}`] : []),
  ];
  return `\`${first}\`${extra.length > 0 ? ` (${extra.join("; ")})` : ""}`;
}

function table(rows: readonly (readonly string[])[]): string[] {
  return plainTable(["Variable", "YAML path", "Default", "Meaning"], rows);
}

/** Base connector options, one row per suffix, across the connectors that have it. */
function baseRows(connectors: readonly ConnectorSettings<unknown>[]): string[][] {
  const keys = [...new Set(connectors.flatMap((c) => Object.keys(c.base)))];
  return keys.map((key) => {
    const having = connectors.filter((c) => c.base[key] !== undefined);
    const specs = having.map((c) => c.base[key] as AnyOption);
    const first = specs[0] as AnyOption;
    const lower = key.toLowerCase();
    const defaults = specs.map(documentedDefault);
    const sameDefault = defaults.every((d) => d === defaults[0]);
    const only = having.length < connectors.length
      ? ` (${having.map((c) => c.name).join(", ")} only)`
      : "";
    return [
      `\`CONNECTOR_${key}\` (${code(having.map((c) => `${c.prefix.env}CONNECTOR_${key}`))})`,
      `\`connector.${lower}\` (${code(having.map((c) => `${c.prefix.yaml}.connector.${lower}`))})`,
      sameDefault
        ? defaults[0] ?? "none"
        : defaults.map((d, i) => `${d} (${having[i]?.name})`).join(", "),
      `${meaningOf(first)}${only}`,
    ];
  });
}

function optionRow(spec: AnyOption): string[] {
  return [
    variableCell(spec),
    spec.yaml.length === 0 ? "—" : code(spec.yaml),
    documentedDefault(spec),
    meaningOf(spec),
  ];
}

/** The README configuration tables, one `###` section each. */
export function readmeTables(connectors: readonly ConnectorSettings<unknown>[]): string {
  const common = Object.values(COMMON_OPTIONS) as AnyOption[];
  const bySection = (section: string) => common.filter((spec) => spec.section === section);
  const sections: [string, string[][]][] = [
    ["General", bySection("General").map(optionRow)],
    ["OpenCTI", bySection("OpenCTI").map(optionRow)],
    ["Connector", baseRows(connectors)],
    ...connectors.map((c): [string, string[][]] => [
      c.section,
      (Object.values(c.options) as AnyOption[]).map(optionRow),
    ]),
    ["Server and logging", bySection("Server and logging").map(optionRow)],
  ];
  const out = [README_BEGIN, ""];
  for (const [title, rows] of sections) out.push(`### ${title}`, "", ...table(rows), "");
  out.push(README_END);
  return out.join("\n");
}

/** Start of the generated migration tables in README.md. */
export const MIGRATION_BEGIN =
  "<!-- BEGIN migration: generated from the declarations by `deno task docs`; do not edit -->";

/** End of the generated migration tables in README.md. */
export const MIGRATION_END = "<!-- END migration -->";

/**
 * One table per upstream connector a connector replaces: their variable (and YAML path) → ours →
 * same / mapped / not applicable, from the options' `upstreamEnv` and the connector's notes.
 */
export function migrationTables(connectors: readonly ConnectorSettings<unknown>[]): string {
  const out = [MIGRATION_BEGIN, ""];
  for (const c of connectors) {
    for (const up of c.upstream ?? []) {
      const rows: string[][] = [];
      for (const spec of Object.values(c.options) as AnyOption[]) {
        const names = spec.upstreamEnv ?? [];
        names.forEach((name, i) => {
          if (owner(c.upstream ?? [], name) !== up) return;
          const yaml = spec.upstreamYaml?.[i];
          rows.push([
            `\`${name}\`${yaml === undefined ? "" : ` (\`${yaml}\`)`}`,
            `\`${spec.env[0]}\``,
            spec.upstreamNote === undefined ? "same" : `mapped: ${spec.upstreamNote}`,
          ]);
        });
      }
      for (const [name, why] of up.notApplicable) {
        rows.push([`\`${name}\``, "—", `not applicable: ${why}`]);
      }
      const header = ["Their variable (YAML path)", "Ours", "How"];
      out.push(`### \`${up.source}\``, "", ...wrapped(up.effect, 100), "");
      out.push(...plainTable(header, rows), "");
    }
  }
  out.push(MIGRATION_END);
  return out.join("\n");
}

/** A paragraph wrapped at `width` columns (as `deno fmt` wraps Markdown prose). */
function wrapped(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = "";
  // A code span is never broken (nor does deno fmt break it).
  const words: string[] = [];
  for (const piece of text.split(/\s+/).filter((w) => w !== "")) {
    const last = words.at(-1);
    if (last !== undefined && (last.split("`").length - 1) % 2 === 1) {
      words[words.length - 1] = `${last} ${piece}`;
    } else words.push(piece);
  }
  for (const word of words) {
    const next = current === "" ? word : `${current} ${word}`;
    if ([...next].length > width && current !== "") {
      lines.push(current);
      current = word;
    } else current = next;
  }
  if (current !== "") lines.push(current);
  return lines;
}

/** The upstream connector a name belongs to: the one with the longest matching prefix. */
function owner(
  upstream: readonly UpstreamConnector[],
  name: string,
): UpstreamConnector | undefined {
  let best: { up: UpstreamConnector; length: number } | undefined;
  for (const up of upstream) {
    for (const prefix of up.envPrefixes) {
      if (name.startsWith(prefix) && (best === undefined || prefix.length > best.length)) {
        best = { up, length: prefix.length };
      }
    }
  }
  return best?.up;
}

function plainTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? "")].length)));
  const line = (row: readonly string[]) =>
    `| ${
      row.map((cell, i) => cell + " ".repeat((widths[i] ?? 0) - [...cell].length)).join(" | ")
    } |`;
  return [line(header), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)];
}

/** README.md with its generated migration tables replaced by `tables`. */
export function withMigration(readme: string, tables: string): string {
  const begin = readme.indexOf(MIGRATION_BEGIN);
  const end = readme.indexOf(MIGRATION_END);
  if (begin < 0 || end < begin) {
    throw new Error(`README.md has no "${MIGRATION_BEGIN}" … "${MIGRATION_END}" block: add one`);
  }
  return readme.slice(0, begin) + tables + readme.slice(end + MIGRATION_END.length);
}

/** README.md with its generated tables replaced by `tables`. */
export function withTables(readme: string, tables: string): string {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) {
    throw new Error(`README.md has no "${README_BEGIN}" … "${README_END}" block: add one`);
  }
  return readme.slice(0, begin) + tables + readme.slice(end + README_END.length);
}

// ---- config.yml.sample ----

const SAMPLE_HEADER =
  `# octi-connectors configuration sample, generated from the option declarations by
# \`deno task docs\` (do not edit: change the declarations). Copy to config.yml (or pass
# --config FILE) and edit.
#
# Every option can also be set by an environment variable, which wins over this file; the
# variable name is given above each option. An environment variable set to an empty string
# means "use the default". Lines starting with "# key:" are optional options shown with their
# default (or an example); remove the "# " to set them.
# Check the result with:  deno task start --check-config   (or --print-config)`;

/** A value as YAML (strings single-quoted, lists in flow style). */
export function yamlValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(yamlValue).join(", ")}]`;
  if (typeof value === "string") return `'${value.replaceAll("'", "''")}'`;
  return String(value);
}

function plain(text: string): string {
  return text.replaceAll("`", "");
}

/** Wraps a comment to 100 columns; continuation lines are indented under the first. */
function comment(indent: string, text: string): string[] {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let current = `${indent}#`;
  for (const word of words) {
    const next = `${current} ${word}`;
    if (next.length > 100 && current.trim() !== "#") {
      lines.push(current);
      current = `${indent}#   ${word}`;
    } else current = next;
  }
  lines.push(current);
  return lines;
}

interface SampleOptions {
  /** Names to show instead of the declaration's. */
  names?: readonly string[];
  /** Value to set (uncommented) instead of the declaration's `sample`. */
  sample?: unknown;
  /** Show the declared meaning. @default true */
  meaning?: boolean;
}

function sampleEntry(
  indent: string,
  key: string,
  spec: AnyOption,
  options: SampleOptions = {},
): string[] {
  const names = options.names ?? [...spec.env, ...(spec.fallbackEnv ?? [])];
  const flags = [
    ...(spec.required !== undefined ? ["required"] : []),
    ...(spec.secret ? ["secret"] : []),
    ...(spec.yaml.length === 0 ? ["environment only"] : []),
  ];
  const head = `${names.join(" or ")}${flags.length > 0 ? ` (${flags.join(", ")})` : ""}`;
  const shown = options.sample ?? spec.sample;
  const fallback = spec.default !== undefined ? spec.default : spec.example;
  const defaultNote = spec.default === undefined && spec.defaultDoc !== undefined &&
      spec.defaultDoc !== "none"
    ? ` Default: ${plain(spec.defaultDoc)}.`
    : "";
  const text = options.meaning === false
    ? head
    : `${head}: ${plain(meaningOf(spec))}${defaultNote}`;
  // An option without a YAML path is only named, in a comment.
  if (spec.yaml.length === 0) return comment(indent, text);
  const value = shown !== undefined
    ? `${indent}${key}: ${yamlValue(shown)}`
    : `${indent}# ${key}: ${yamlValue(fallback ?? "")}`;
  return [...comment(indent, text), value];
}

/** `config.yml.sample`: every option under its YAML path, commented with its names and meaning. */
export function configSample(connectors: readonly ConnectorSettings<unknown>[]): string {
  const out = [SAMPLE_HEADER, ""];
  const common = Object.values(COMMON_OPTIONS) as AnyOption[];
  const written = new Set<string>();
  const key = (path: string) => path.split(".").at(-1) ?? path;
  const top = (spec: AnyOption) => {
    const path = spec.yaml[0];
    if (path === undefined || written.has(path)) return [];
    written.add(path);
    return sampleEntry(path.includes(".") ? "  " : "", key(path), spec);
  };
  const section = (name: string, specs: AnyOption[], lead: string[] = [], envOnly = false) => {
    const body = specs.flatMap((spec) =>
      envOnly && spec.yaml.length === 0 ? sampleEntry("  ", "", spec) : top(spec)
    );
    if (body.length === 0 && lead.length === 0) return;
    out.push(`${name}:`, ...lead, ...body, "");
  };

  out.push(...common.filter((s) => !s.yaml[0]?.includes(".")).flatMap(top), "");
  section("opencti", common.filter((s) => s.yaml[0]?.startsWith("opencti.")));

  // Shared base options: connector.<key>, read by every connector after its own prefixed names.
  out.push(
    ...comment(
      "",
      "Shared base connector options (CONNECTOR_*). With one connector they are all you need. " +
        "With both, they apply to both unless overridden in <connector>.connector (or by the " +
        "<PREFIX>_CONNECTOR_* variables).",
    ),
    "connector:",
  );
  const baseKeys = [...new Set(connectors.flatMap((c) => Object.keys(c.base)))];
  for (const suffix of baseKeys) {
    const having = connectors.filter((c) => c.base[suffix] !== undefined);
    const spec = having[0]?.base[suffix] as AnyOption;
    const path = `connector.${suffix.toLowerCase()}`;
    const commonSpec = common.find((s) => s.yaml[0] === path);
    written.add(path);
    const only = having.length < connectors.length
      ? ` (${having.map((c) => c.name).join(", ")} only)`
      : "";
    const { sample: _ignored, ...shared } = spec;
    out.push(
      ...sampleEntry("  ", suffix.toLowerCase(), { ...shared, meaning: spec.meaning + only }, {
        names: [`CONNECTOR_${suffix}`],
        ...(commonSpec?.sample === undefined ? {} : { sample: commonSpec.sample }),
      }),
    );
  }
  // Process-wide options under connector.* (CONNECTOR_METRICS_PORT…), not per connector.
  out.push(...common.filter((s) => s.yaml[0]?.startsWith("connector.")).flatMap(top));
  out.push("");

  // An option goes in the section of its YAML path (IMPORT_INCIDENTS, a microsoft-incidents
  // option, is `sentinel.import_incidents`), else in its connector's.
  const declared = connectors.flatMap((c) =>
    (Object.values(c.options) as AnyOption[]).map((spec) => ({ spec, declaredBy: c }))
  );
  const sectionOf = (spec: AnyOption, declaredBy: ConnectorSettings<unknown>) =>
    connectors.find((c) => spec.yaml[0]?.startsWith(`${c.prefix.yaml}.`)) ?? declaredBy;
  for (const c of connectors) {
    const own = declared.filter(({ spec, declaredBy }) => sectionOf(spec, declaredBy) === c)
      .map(({ spec }) => spec);
    const lead = [
      `  # Per-connector base options (${c.prefix.env}CONNECTOR_*); same keys as the connector section.`,
      "  connector:",
      ...Object.entries(c.base).filter(([, spec]) => spec.sample !== undefined).flatMap((
        [suffix, spec],
      ) =>
        sampleEntry("    ", suffix.toLowerCase(), spec, {
          names: [`${c.prefix.env}CONNECTOR_${suffix}`],
          meaning: false,
        })
      ),
    ];
    section(c.prefix.yaml, own, lead, true);
  }
  section("server", common.filter((s) => s.yaml[0]?.startsWith("server.")));
  section("logging", common.filter((s) => s.yaml[0]?.startsWith("logging.")));
  while (out.at(-1) === "") out.pop();
  return `${out.join("\n")}\n`;
}
