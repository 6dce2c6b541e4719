/**
 * A strict reader of STIX 2.1 patterns for indicator observables.
 *
 * It reads observation expressions made of `=` comparisons joined by `AND`/`OR` (inside and across
 * brackets, with parentheses) on `ipv4-addr`, `ipv6-addr`, `domain-name`, `hostname`, `url` and
 * `email-addr` `:value` and `file:hashes.<algorithm>`. Anything else (other operators, object
 * types, properties or hash algorithms, qualifiers, `FOLLOWEDBY`, malformed text) is reported as an
 * error with its reason: the reader never guesses and never throws.
 *
 * @module
 */

import { normalizeHashAlgorithm } from "./hashes.ts";
import { type ObservableValue, type OpenCtiProperties, readOpenCtiExtension } from "./extension.ts";
import {
  type HashAlgorithm,
  type Observable,
  OBSERVABLE_TYPES,
  type ObservableType,
  type StixObject,
} from "./types.ts";
import { errorMessage } from "../runtime/errors.ts";

/** Result of {@linkcode readPattern}: the observables, or why the pattern cannot be read. */
export type PatternResult = { observables: Observable[] } | { error: string };

/** Options of {@linkcode readPattern}. */
export interface ReadPatternOptions {
  /**
   * Longest pattern read, in characters; longer ones are reported.
   * @default 100000
   */
  maxLength?: number;
  /**
   * Deepest nesting of brackets and parentheses; deeper ones are reported.
   * @default 32
   */
  maxDepth?: number;
}

/** The observable types carried by one value (all but `file`, carried by hashes). */
const VALUE_TYPES: ReadonlySet<string> = new Set(OBSERVABLE_TYPES.filter((t) => t !== "file"));

const UNSUPPORTED_OPERATORS: ReadonlySet<string> = new Set([
  "LIKE",
  "MATCHES",
  "IN",
  "ISSUBSET",
  "ISSUPERSET",
  "NOT",
  "EXISTS",
]);

const QUALIFIERS: ReadonlySet<string> = new Set(["WITHIN", "REPEATS", "START", "STOP"]);

type Token =
  | {
    kind: "punct";
    text: "[" | "]" | "(" | ")" | ":" | "." | "=" | "!=" | "<" | "<=" | ">" | ">=";
    pos: number;
  }
  | { kind: "word"; text: string; pos: number }
  | { kind: "string"; text: string; pos: number; quote: "'" | '"' }
  | { kind: "end"; pos: number }
  | { kind: "bad"; message: string; pos: number };

class PatternError extends Error {
  /** The error's name. */
  override name = "PatternError";
}

const WORD_CHAR = /[A-Za-z0-9_\-+*]/;

/** Splits a pattern into tokens; a lexical problem becomes a final `bad` token, reported when reached. */
function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  try {
    lex(src, tokens);
  } catch (error) {
    if (!(error instanceof PatternError)) throw error;
    tokens.push({ kind: "bad", message: error.message, pos: -1 });
  }
  tokens.push({ kind: "end", pos: src.length });
  return tokens;
}

function lex(src: string, tokens: Token[]): void {
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      const start = i;
      let text = "";
      i++;
      for (;;) {
        if (i >= src.length) {
          throw new PatternError(`unterminated string starting at position ${start}`);
        }
        const ch = src[i]!;
        if (ch === "\\") {
          const next = src[i + 1];
          if (next === c || next === "\\") {
            text += next;
            i += 2;
            continue;
          }
          throw new PatternError(
            next === undefined
              ? `unterminated string starting at position ${start}`
              : `invalid escape "\\${next}" at position ${i} (only \\${c} and \\\\ are allowed)`,
          );
        }
        if (ch === c) {
          i++;
          break;
        }
        text += ch;
        i++;
      }
      tokens.push({ kind: "string", text, pos: start, quote: c });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === "!=" || two === "<=" || two === ">=") {
      tokens.push({ kind: "punct", text: two, pos: i });
      i += 2;
      continue;
    }
    if ("[]():.=<>".includes(c)) {
      tokens.push({ kind: "punct", text: c as "[", pos: i });
      i++;
      continue;
    }
    if (WORD_CHAR.test(c)) {
      const start = i;
      while (i < src.length && WORD_CHAR.test(src[i]!)) i++;
      tokens.push({ kind: "word", text: src.slice(start, i), pos: start });
      continue;
    }
    const shown = c.codePointAt(0)! < 0x20
      ? `U+${c.codePointAt(0)!.toString(16).padStart(4, "0")}`
      : c;
    throw new PatternError(`unexpected character "${shown}" at position ${i}`);
  }
}

function describe(t: Token): string {
  if (t.kind === "end") return "the end of the pattern";
  if (t.kind === "bad") return t.message;
  if (t.kind === "string") return `a string at position ${t.pos}`;
  return `"${t.text}" at position ${t.pos}`;
}

class Parser {
  #tokens: Token[];
  #i = 0;
  #depth = 0;
  #maxDepth: number;
  readonly observables: Observable[] = [];

  constructor(tokens: Token[], maxDepth: number) {
    this.#tokens = tokens;
    this.#maxDepth = maxDepth;
  }

  #peek(): Token {
    const t = this.#tokens[this.#i] ?? { kind: "end", pos: -1 };
    if (t.kind === "bad") throw new PatternError(t.message);
    return t;
  }

  #next(): Token {
    const t = this.#peek();
    if (t.kind !== "end") this.#i++;
    return t;
  }

  #isPunct(text: string): boolean {
    const t = this.#peek();
    return t.kind === "punct" && t.text === text;
  }

  #expectPunct(text: string, what: string): void {
    const t = this.#next();
    if (t.kind !== "punct" || t.text !== text) {
      throw new PatternError(`expected ${what} but found ${describe(t)}`);
    }
  }

  #keyword(): string | undefined {
    const t = this.#peek();
    return t.kind === "word" ? t.text.toUpperCase() : undefined;
  }

  #enter(): void {
    if (++this.#depth > this.#maxDepth) {
      throw new PatternError(`nesting deeper than ${this.#maxDepth} levels`);
    }
  }

  parse(): void {
    const first = this.#peek();
    if (first.kind === "end") throw new PatternError("empty pattern");
    this.#observationExpression();
    const t = this.#peek();
    if (t.kind !== "end") throw new PatternError(`unexpected ${describe(t)}`);
  }

  #joiner(): boolean {
    const k = this.#keyword();
    if (k === "AND" || k === "OR") {
      this.#next();
      return true;
    }
    if (k === "FOLLOWEDBY") {
      throw new PatternError(`FOLLOWEDBY at position ${this.#peek().pos} is not supported`);
    }
    return false;
  }

  #observationExpression(): void {
    this.#observation();
    while (this.#joiner()) this.#observation();
  }

  #observation(): void {
    this.#enter();
    if (this.#isPunct("(")) {
      this.#next();
      this.#observationExpression();
      this.#expectPunct(")", `")"`);
    } else if (this.#isPunct("[")) {
      this.#next();
      this.#comparisonExpression();
      this.#expectPunct("]", `"]"`);
    } else {
      throw new PatternError(`expected "[" but found ${describe(this.#peek())}`);
    }
    this.#depth--;
    const k = this.#keyword();
    if (k !== undefined && QUALIFIERS.has(k)) {
      throw new PatternError(`qualifier ${k} at position ${this.#peek().pos} is not supported`);
    }
  }

  #comparisonExpression(): void {
    this.#comparisonUnit();
    for (;;) {
      const k = this.#keyword();
      if (k === "AND" || k === "OR") {
        this.#next();
        this.#comparisonUnit();
      } else if (k === "FOLLOWEDBY") {
        throw new PatternError(`FOLLOWEDBY at position ${this.#peek().pos} is not supported`);
      } else {
        return;
      }
    }
  }

  #comparisonUnit(): void {
    if (this.#isPunct("(")) {
      this.#enter();
      this.#next();
      this.#comparisonExpression();
      this.#expectPunct(")", `")"`);
      this.#depth--;
      return;
    }
    this.#comparison();
  }

  #comparison(): void {
    const typeTok = this.#next();
    if (typeTok.kind !== "word") {
      throw new PatternError(`expected an object path but found ${describe(typeTok)}`);
    }
    if (typeTok.text.toUpperCase() === "NOT") {
      throw new PatternError(`operator NOT at position ${typeTok.pos} is not supported`);
    }
    const type = typeTok.text.toLowerCase();
    this.#expectPunct(":", `":" after "${typeTok.text}"`);
    const path: { text: string; quoted: boolean }[] = [];
    const first = this.#next();
    if (first.kind !== "word") {
      throw new PatternError(`expected a property name but found ${describe(first)}`);
    }
    path.push({ text: first.text, quoted: false });
    for (;;) {
      if (this.#isPunct(".")) {
        this.#next();
        const seg = this.#next();
        if (seg.kind === "word" || seg.kind === "string") {
          path.push({ text: seg.text, quoted: seg.kind === "string" });
          continue;
        }
        throw new PatternError(`expected a path component but found ${describe(seg)}`);
      }
      if (this.#isPunct("[")) {
        throw new PatternError(
          `list index in the path at position ${this.#peek().pos} is not supported`,
        );
      }
      break;
    }
    const pathText = `${type}:${path.map((p) => (p.quoted ? `'${p.text}'` : p.text)).join(".")}`;

    const op = this.#next();
    if (op.kind === "punct" && op.text !== "=") {
      throw new PatternError(`operator ${op.text} at position ${op.pos} is not supported (only =)`);
    }
    if (op.kind === "word") {
      const k = op.text.toUpperCase();
      throw new PatternError(
        UNSUPPORTED_OPERATORS.has(k)
          ? `operator ${k} at position ${op.pos} is not supported (only =)`
          : `expected "=" after ${pathText} but found ${describe(op)}`,
      );
    }
    if (op.kind !== "punct") {
      throw new PatternError(`expected "=" after ${pathText} but found ${describe(op)}`);
    }

    const lit = this.#next();
    if (lit.kind === "word" && /^[tbh]$/i.test(lit.text) && this.#peek().kind === "string") {
      throw new PatternError(
        `${lit.text}'…' literal at position ${lit.pos} is not supported (expected a plain string)`,
      );
    }
    if (lit.kind !== "string") {
      throw new PatternError(
        `expected a quoted string after ${pathText} = but found ${describe(lit)}`,
      );
    }
    if (lit.quote === '"') {
      throw new PatternError(
        `double-quoted literal at position ${lit.pos} (STIX uses single quotes)`,
      );
    }
    if (lit.text === "") throw new PatternError(`empty value for ${pathText}`);
    this.observables.push(toObservable(type, path.map((p) => p.text), pathText, lit.text));
  }
}

function toObservable(type: string, path: string[], pathText: string, value: string): Observable {
  if (VALUE_TYPES.has(type)) {
    if (path.length === 1 && path[0] === "value") return { type: type as ObservableType, value };
    throw new PatternError(`property ${pathText} is not supported (only ${type}:value)`);
  }
  if (type === "file") {
    if (path.length === 2 && path[0] === "hashes") {
      const hash = normalizeHashAlgorithm(path[1]!);
      if (!hash) {
        throw new PatternError(`hash algorithm "${path[1]}" in ${pathText} is not supported`);
      }
      return { type: "file", value, hash };
    }
    throw new PatternError(`property ${pathText} is not supported (only file:hashes.<algorithm>)`);
  }
  throw new PatternError(`object type "${type}" in ${pathText} is not supported`);
}

/**
 * Reads the observables of a STIX pattern such as
 * `[ipv4-addr:value = '1.2.3.4'] OR [file:hashes.'SHA-256' = '…']`, or returns why it cannot.
 * It never throws, whatever the input.
 */
export function readPattern(pattern: string, options: ReadPatternOptions = {}): PatternResult {
  const maxLength = options.maxLength ?? 100_000;
  if (typeof pattern !== "string") return { error: "pattern is not a string" };
  if (pattern.length > maxLength) {
    return { error: `pattern is longer than ${maxLength} characters (${pattern.length})` };
  }
  try {
    const parser = new Parser(tokenize(pattern), options.maxDepth ?? 32);
    parser.parse();
    return { observables: dedupe(parser.observables) };
  } catch (error) {
    if (error instanceof PatternError) return { error: error.message };
    // A bug or a resource error must still not escape to the stream loop.
    return {
      error: `pattern cannot be read: ${errorMessage(error)}`,
    };
  }
}

function key(o: Observable): string {
  return o.type === "file" ? `file|${o.hash}|${o.value.toLowerCase()}` : `${o.type}|${o.value}`;
}

/** Removes repeated observables, keeping the first (file hashes compare case-insensitively). */
export function dedupe(observables: readonly Observable[]): Observable[] {
  if (observables.length < 2) return observables.slice();
  const seen = new Set<string>();
  const out: Observable[] = [];
  for (const o of observables) {
    const k = key(o);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(o);
    }
  }
  return out;
}

const OPENCTI_TYPES: Readonly<Record<string, ObservableType>> = {
  "ipv4-addr": "ipv4-addr",
  "ipv6-addr": "ipv6-addr",
  "domain-name": "domain-name",
  "hostname": "hostname",
  "url": "url",
  "email-addr": "email-addr",
  "stixfile": "file",
  "file": "file",
};

/** Maps `observable_values` entries to observables; unsupported entries are listed in `skipped`. */
export function fromObservableValues(
  values: readonly ObservableValue[],
): { observables: Observable[]; skipped: string[] } {
  const observables: Observable[] = [];
  const skipped: string[] = [];
  for (const entry of values) {
    const type = OPENCTI_TYPES[entry.type.toLowerCase()];
    if (!type) {
      skipped.push(`observable type "${entry.type}" is not supported`);
      continue;
    }
    if (type !== "file") {
      if (entry.value === undefined) skipped.push(`${entry.type} entry has no value`);
      else observables.push({ type, value: entry.value });
      continue;
    }
    const hashes = Object.entries(entry.hashes ?? {}).filter(([, v]) => v !== "");
    if (hashes.length === 0) skipped.push(`${entry.type} entry has no hashes`);
    for (const [alg, value] of hashes) {
      const hash: HashAlgorithm | undefined = normalizeHashAlgorithm(alg);
      if (hash) observables.push({ type: "file", value, hash });
      else skipped.push(`hash algorithm "${alg}" is not supported`);
    }
  }
  return { observables: dedupe(observables), skipped };
}

/** Result of {@linkcode observablesOf}. */
export type ObservablesResult =
  | {
    /** The observables, deduplicated. */
    observables: Observable[];
    /** Where they came from. */
    source: "observable_values" | "pattern";
    /** Reasons for `observable_values` entries left out (unsupported types or hashes). */
    skipped: string[];
  }
  | { error: string };

/**
 * Returns the observables of an indicator: the OpenCTI extension's `observable_values` when
 * present, else its STIX pattern; an error with the reason when neither yields any.
 */
export function observablesOf(
  indicator: StixObject,
  options: ReadPatternOptions & {
    /** The object's OpenCTI properties when the caller already read them. @default read here */
    extension?: OpenCtiProperties;
  } = {},
): ObservablesResult {
  const { extension, ...patternOptions } = options;
  const ext = extension ?? readOpenCtiExtension(indicator);
  if (ext.observableValues !== undefined && ext.observableValues.length > 0) {
    const { observables, skipped } = fromObservableValues(ext.observableValues);
    if (observables.length > 0) return { observables, source: "observable_values", skipped };
    return { error: `observable_values has no supported entry: ${skipped.join("; ")}` };
  }
  const patternType = indicator.pattern_type;
  if (
    patternType !== undefined &&
    (typeof patternType !== "string" || patternType.toLowerCase() !== "stix")
  ) {
    return { error: `pattern_type "${String(patternType)}" is not a STIX pattern` };
  }
  if (typeof indicator.pattern !== "string") return { error: "indicator has no pattern" };
  const r = readPattern(indicator.pattern, patternOptions);
  return "error" in r ? r : { observables: r.observables, source: "pattern", skipped: [] };
}
