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
    patterns.push({ pattern: new RegExp(escapeRegExp(value), "g"), replacement: REDACTED });
    const encoded = encodeURIComponent(value);
    if (encoded !== value) {
      patterns.push({ pattern: new RegExp(escapeRegExp(encoded), "g"), replacement: REDACTED });
    }
  }
  return patterns;
}

/** Masks secrets in a string the same way the log sink does (for error texts shown to users). */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const { pattern, replacement } of redactionPatterns(secrets)) {
    out = out.replace(pattern, replacement as string);
  }
  return out;
}

/** Builds the sink: field redaction, then pattern redaction on the formatted line. */
export function createSink(options: LoggingOptions = {}): Sink {
  const write = options.write ?? writeStdout;
  const format = options.format ?? (Deno.stdout.isTerminal() ? "text" : "json");
  const base: TextFormatter = format === "json" ? getJsonLinesFormatter() : getTextFormatter();
  const formatter = redactByPattern(base, redactionPatterns(options.secrets));
  const sink: Sink = (record: LogRecord) => write(formatter(record));
  return redactByField(sink, { fieldPatterns: SECRET_FIELDS, action: () => REDACTED });
}

/** Configures logtape once for the process (call again to reconfigure, e.g. in tests). */
export async function setupLogging(options: LoggingOptions = {}): Promise<void> {
  await reset();
  await configure({
    reset: true,
    sinks: { main: createSink(options) },
    loggers: [
      { category: ["octi"], lowestLevel: (options.level ?? "info") as LogLevel, sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/** A logger whose records carry the connector (or component) name. */
export function getLogger(component: string, ...sub: string[]): Logger {
  return logtapeLogger(["octi", component, ...sub]).with({ connector: component });
}

const encoder = new TextEncoder();
function writeStdout(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line.endsWith("\n") ? line : `${line}\n`));
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
