/**
 * Building objects with optional properties under `exactOptionalPropertyTypes`: a property that is
 * unset is left out, never set to `undefined`.
 *
 * @module
 */

/** `{}` when the value is undefined, else `{ [key]: value }`. */
export function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The listed properties of `source` that are set (undefined ones left out). */
export function definedProps<T extends object, K extends keyof T>(
  source: T,
  ...keys: K[]
): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
