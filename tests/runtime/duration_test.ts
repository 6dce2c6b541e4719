import assert from "node:assert/strict";
import { DurationError, parseDuration } from "../../src/runtime/duration.ts";

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

const valid: [string, number][] = [
  ["0", 0],
  ["P0D", 0],
  ["PT0S", 0],
  ["PT5M", 5 * M],
  ["PT30S", 30 * S],
  ["PT1H30M", H + 30 * M],
  ["PT1.5H", 1.5 * H],
  ["PT0.5S", 500],
  ["PT1,5M", 90 * S],
  ["P1D", D],
  ["P1DT12H", D + 12 * H],
  ["P1W", 7 * D],
  ["P2W3D", 17 * D],
  ["P1M", 30 * D],
  ["P1Y", 365 * D],
  ["P1Y2M3DT4H5M6S", 365 * D + 60 * D + 3 * D + 4 * H + 5 * M + 6 * S],
  ["P1.5D", 36 * H],
  ["PT36H", 36 * H],
  [" pt10m ", 10 * M],
];

for (const [text, expected] of valid) {
  Deno.test(`parseDuration() reads "${text}" as ${expected} ms`, () => {
    assert.equal(parseDuration(text), expected);
  });
}

const invalid: [string, RegExp][] = [
  ["", /ISO-8601/],
  ["P", /no element/],
  ["PT", /no element/],
  ["P1DT", /"T" must be followed/],
  ["1H", /ISO-8601/],
  ["5", /ISO-8601/],
  ["P1.5DT1H", /only the last element/],
  ["PT1.5H30M", /only the last element/],
  ["-P1D", /ISO-8601/],
  ["P-1D", /ISO-8601/],
  ["PT5M1H", /ISO-8601/],
  ["P1H", /ISO-8601/],
  ["PT1D", /ISO-8601/],
  ["P1DT1H ago", /ISO-8601/],
  ["P.5D", /ISO-8601/],
];

for (const [text, message] of invalid) {
  Deno.test(`parseDuration() rejects "${text}" with a DurationError`, () => {
    assert.throws(() => parseDuration(text), (error: unknown) => {
      if (!(error instanceof DurationError)) return false;
      assert.equal(error.name, "DurationError");
      return message.test(error.message) && error.message.includes(`"${text}"`);
    });
  });
}
