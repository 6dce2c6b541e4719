/** Logging: logtape with JSON lines (or readable text on a terminal) and secret redaction. */
import {
  configure,
  getJsonLinesFormatter,
  getLogger as logtapeLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  reset,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";
import {
  JWT_PATTERN,
  redactByField,
  redactByPattern,
  type RedactionPattern,
} from "@logtape/redaction";

export type { Logger };

/** Levels accepted by `CONNECTOR_LOG_LEVEL`. */
export type Level = "debug" | "info" | "warn" | "error";

/** Field names whose values are never logged. */
export const SECRET_FIELDS: RegExp[] = [
  /secret/i,
  /password/i,
  /passwd/i,
  /token/i,
  /assertion/i,
  /authorization/i,
  /api[-_]?key/i,
  /credential/i,
  /private[-_]?key/i,
  /cookie/i,
  /^session$/i,
];

const REDACTED = "[REDACTED]";

/** Options of {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** Lowest level written. @default "info" */
  level?: Level;
  /** `json` lines or readable `text`. @default "text" on a terminal, else "json" */
  format?: "json" | "text";
  /** Configured secret values (tokens, client secrets) to mask wherever they appear. @default [] */
  secrets?: readonly string[];
  /** Where formatted lines go. @default standard output */
  write?: (line: string) => void;
  /**
   * Lowest level of each connector's logger (`getLogger(<connector name>)`), by connector name;
   * a connector not listed logs at `level`. @default {}
   */
  connectorLevels?: Readonly<Record<string, Level>>;
}

/** Patterns that mask bearer tokens, JWTs and the given secret values. */
export function redactionPatterns(secrets: readonly string[] = []): RedactionPattern[] {
  const patterns: RedactionPattern[] = [
    { pattern: /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, replacement: `$1 ${REDACTED}` },
    JWT_PATTERN,
  ];
  const values = [...new Set(secrets.filter((s) => s.length >= 4))].sort((a, b) =>
    b.length - a.length
  );
  for (const value of values) {
    // The raw value, its URL-encoded form, and its form inside a JSON string (quotes, backslashes).
    const forms = new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
    for (const form of forms) {
      patterns.push({ pattern: new RegExp(escapeRegExp(form), "g"), replacement: REDACTED });
    }
  }
  return patterns;
}

/** Masks secrets in a string the same way the log sink does (for error texts shown to users). */
export function redactText(text: string, secrets: readonly string[] = []): string {
  return applyPatterns(text, redactionPatterns(secrets));
}

/** Builds the sink: field redaction, then pattern redaction on the formatted line. */
export function createSink(options: LoggingOptions = {}): Sink {
  const write = options.write ?? writeStdout;
  const format = options.format ?? (Deno.stdout.isTerminal() ? "text" : "json");
  const base: TextFormatter = format === "json" ? getJsonLinesFormatter() : getTextFormatter();
  const patterns = redactionPatterns(options.secrets);
  const formatter = redactByPattern(base, patterns);
  // Values are masked before formatting (a formatter may escape a secret beyond recognition,
  // e.g. quotes inside a JSON string inside the message), then the formatted line once more.
  const sink: Sink = (record: LogRecord) =>
    write(formatter({
      ...record,
      message: record.message.map((part) => redactValue(part, patterns, 0)),
      properties: redactValue(record.properties, patterns, 0) as Record<string, unknown>,
    }));
  return redactByField(sink, { fieldPatterns: SECRET_FIELDS, action: () => REDACTED });
}

/** Applies the patterns to every string inside a value (plain objects, arrays and errors). */
function redactValue(
  value: unknown,
  patterns: readonly RedactionPattern[],
  depth: number,
): unknown {
  if (typeof value === "string") return applyPatterns(value, patterns);
  if (depth > 8 || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, patterns, depth + 1));
  if (value instanceof Error) {
    const copy = new Error(applyPatterns(value.message, patterns));
    copy.name = value.name;
    if (value.stack !== undefined) copy.stack = applyPatterns(value.stack, patterns);
    return copy;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = redactValue(item, patterns, depth + 1);
  }
  return out;
}

function applyPatterns(text: string, patterns: readonly RedactionPattern[]): string {
  let out = text;
  for (const { pattern, replacement } of patterns) {
    out = typeof replacement === "string"
      ? out.replaceAll(pattern, replacement)
      : out.replaceAll(pattern, replacement);
  }
  return out;
}

/** Configures logtape once for the process (call again to reconfigure, e.g. in tests). */
export async function setupLogging(options: LoggingOptions = {}): Promise<void> {
  await reset();
  await configure({
    reset: true,
    sinks: { main: createSink(options) },
    loggers: [
      { category: ["octi"], lowestLevel: toLogLevel(options.level ?? "info"), sinks: ["main"] },
      ...Object.entries(options.connectorLevels ?? {}).map(([name, level]) => ({
        category: ["octi", name],
        lowestLevel: toLogLevel(level),
        sinks: ["main"],
        // Its own level and sink only: the process level must not filter or repeat its records.
        parentSinks: "override" as const,
      })),
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/** A logger whose records carry the connector (or component) name. */
export function getLogger(component: string, ...sub: string[]): Logger {
  return logtapeLogger(["octi", component, ...sub]).with({ connector: component });
}

/** logtape names the warning level "warning". */
function toLogLevel(level: Level): LogLevel {
  return level === "warn" ? "warning" : level;
}

const encoder = new TextEncoder();
function writeStdout(line: string): void {
  const bytes = encoder.encode(line.endsWith("\n") ? line : `${line}\n`);
  // writeSync may write only part of the buffer (pipes); keep going until all of it is out.
  for (let offset = 0; offset < bytes.length;) {
    offset += Deno.stdout.writeSync(bytes.subarray(offset));
  }
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
