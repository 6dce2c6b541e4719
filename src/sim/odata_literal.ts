/**
 * The OData string literal as the Graph and Defender simulators read it in `$filter`, written from
 * the OData 4.01 URL conventions ("OData Version 4.01. Part 2: URL Conventions", §5.1.1.6.1 and the
 * ABNF `string = SQUOTE *( SQUOTE-in-string / pchar-no-SQUOTE ) SQUOTE` with
 * `SQUOTE-in-string = SQUOTE SQUOTE`) and reference microsoft.md §2.7 and §5.5. Kept apart from
 * the production encoder (`src/microsoft/odata.ts`) so an escaping bug there cannot agree with
 * itself here.
 *
 * @module
 */

/**
 * Reads the literal that opens at `text[start]` (a `'`): every `''` inside stands for one `'`.
 * Returns its value and the index after the closing quote, or undefined when the literal is not
 * terminated (the real services answer 400 "unterminated string literal").
 */
export function readStringLiteral(
  text: string,
  start: number,
): { value: string; end: number } | undefined {
  if (text[start] !== "'") return undefined;
  const parts: string[] = [];
  let i = start + 1;
  for (;;) {
    const quote = text.indexOf("'", i);
    if (quote < 0) return undefined;
    parts.push(text.slice(i, quote));
    if (text[quote + 1] === "'") {
      parts.push("'");
      i = quote + 2;
      continue;
    }
    return { value: parts.join(""), end: quote + 1 };
  }
}
