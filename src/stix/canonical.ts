/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Object keys are sorted by UTF-16 code units at every level, no whitespace is written, strings
 * are escaped as `JSON.stringify` escapes them (non-ASCII raw, `/` not escaped, control characters
 * as lower-case `\u00xx`), and numbers use the ECMAScript shortest form.
 *
 * @module
 */

/** A value that `canonicalize()` rejects (non-finite number, bigint, function, symbol, lone surrogate…). */
export class CanonicalizeError extends Error {
  /** The error's name. */
  override name = "CanonicalizeError";
}

/** Serialises a JSON value to its RFC 8785 canonical string. */
export function canonicalize(value: unknown): string {
  return write(value, "$");
}

// A lone surrogate cannot be encoded as UTF-8, so RFC 8785 forbids it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function write(value: unknown, path: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) {
        throw new CanonicalizeError(`Cannot canonicalise the non-finite number at ${path}`);
      }
      // ECMAScript Number::toString is the JCS number form; JSON.stringify(-0) gives "0" as required.
      return JSON.stringify(value);
    case "string":
      if (LONE_SURROGATE.test(value)) {
        throw new CanonicalizeError(
          `Cannot canonicalise the lone surrogate in the string at ${path}`,
        );
      }
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        const items: string[] = [];
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined) {
            throw new CanonicalizeError(`Cannot canonicalise undefined at ${path}[${i}]`);
          }
          items.push(write(item, `${path}[${i}]`));
        }
        return `[${items.join(",")}]`;
      }
      if (value instanceof Date) return write(value.toISOString(), path);
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined);
      // Default sort compares UTF-16 code units, which is exactly what RFC 8785 asks for.
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const members = entries.map(([k, v]) => `${write(k, path)}:${write(v, `${path}.${k}`)}`);
      return `{${members.join(",")}}`;
    }
    default:
      throw new CanonicalizeError(`Cannot canonicalise a value of type ${typeof value} at ${path}`);
  }
}
