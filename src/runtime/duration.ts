/** ISO-8601 durations (`PnYnMnWnDTnHnMnS`) as used by `CONNECTOR_DURATION_PERIOD`. */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Length in ms of each designator; years and months are fixed (365 and 30 days), as in pycti. */
const DATE_UNITS = { Y: 365 * DAY, M: 30 * DAY, W: 7 * DAY, D: DAY } as const;
const TIME_UNITS = { H: HOUR, M: MINUTE, S: SECOND } as const;

/** A text that is not an ISO-8601 duration. */
export class DurationError extends Error {
  /** The error's name. */
  override name = "DurationError";
}

const NUMBER = String.raw`(\d+(?:[.,]\d+)?)`;
const PATTERN = new RegExp(
  `^P(?:${NUMBER}Y)?(?:${NUMBER}M)?(?:${NUMBER}W)?(?:${NUMBER}D)?` +
    `(?:T(?:${NUMBER}H)?(?:${NUMBER}M)?(?:${NUMBER}S)?)?$`,
);

/**
 * Parses an ISO-8601 duration into milliseconds.
 *
 * `Y` is 365 days, `M` (before `T`) 30 days, `W` 7 days; only the last element may carry a
 * fraction (`PT1.5H`). `0` and any all-zero duration (`P0D`, `PT0S`) give 0, which callers read
 * as "run once". Throws {@linkcode DurationError} for anything else.
 *
 * @example parseDuration("PT5M") // 300000
 */
export function parseDuration(text: string): number {
  const input = text.trim().toUpperCase();
  if (input === "0") return 0;
  const match = PATTERN.exec(input);
  if (!match) {
    throw new DurationError(
      `Cannot read the duration "${text}": write it in ISO-8601 form such as "PT5M", "PT1H30M", ` +
        `"P1D" or "P1W" (or "0" to run once)`,
    );
  }
  const [, years, months, weeks, days, hours, minutes, seconds] = match;
  const elements: [string | undefined, number][] = [
    [years, DATE_UNITS.Y],
    [months, DATE_UNITS.M],
    [weeks, DATE_UNITS.W],
    [days, DATE_UNITS.D],
    [hours, TIME_UNITS.H],
    [minutes, TIME_UNITS.M],
    [seconds, TIME_UNITS.S],
  ];
  const present = elements.filter((element): element is [string, number] =>
    element[0] !== undefined
  );
  if (present.length === 0) {
    throw new DurationError(
      `Cannot read the duration "${text}": it has no element; give at least one, such as "PT5M" or "P1D"`,
    );
  }
  if (input.endsWith("T")) {
    throw new DurationError(
      `Cannot read the duration "${text}": a "T" must be followed by hours, minutes or seconds`,
    );
  }
  let total = 0;
  present.forEach(([value, unit], index) => {
    const isFraction = /[.,]/.test(value);
    if (isFraction && index !== present.length - 1) {
      throw new DurationError(
        `Cannot read the duration "${text}": only the last element may have a fraction ` +
          `(write "PT36H" rather than "P1.5DT12H")`,
      );
    }
    total += Number(value.replace(",", ".")) * unit;
  });
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) {
    throw new DurationError(`Cannot read the duration "${text}": it is too long`);
  }
  return Math.round(total);
}
