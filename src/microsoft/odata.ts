/**
 * OData query building for Graph and Defender lookups: string literals with every `'` doubled, and
 * the whole `$filter` value percent-encoded (upstream lesson #7272: URL indicators holding `?`,
 * `&`, `'`, `#` or `+` broke lookups with 400 "unterminated string literal").
 */

/** An OData string literal: the value wrapped in `'`, every `'` inside doubled (`O'Brien` → `'O''Brien'`). */
export function odataString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** An equality clause `field eq '<value>'` with the value escaped as an OData literal. */
export function odataEq(field: string, value: string): string {
  return `${field} eq ${odataString(value)}`;
}

/**
 * The query parameter `$filter=<expr>` with the expression percent-encoded as one value (spaces
 * as `%20`; `?`, `&`, `=`, `#`, `+`, `%` and `'` encoded too).
 */
export function filterQuery(expr: string): string {
  return `$filter=${encodeQueryValue(expr)}`;
}

/** Percent-encodes a query value strictly (RFC 3986 unreserved characters stay as they are). */
export function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Reads an OData string literal starting at `text[start]` (which must be `'`), turning `''` back
 * into `'`. Returns the value and the index after the closing quote, or undefined when the literal
 * is not terminated (what the real parser reports as "unterminated string literal").
 */
export function readODataString(
  text: string,
  start: number,
): { value: string; end: number } | undefined {
  if (text[start] !== "'") return undefined;
  let value = "";
  for (let i = start + 1; i < text.length; i++) {
    const char = text[i];
    if (char === "'") {
      if (text[i + 1] === "'") {
        value += "'";
        i++;
        continue;
      }
      return { value, end: i + 1 };
    }
    value += char;
  }
  return undefined;
}
