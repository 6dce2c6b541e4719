/** The whole fuzz suite in one call (used by `deno task chaos`), and its runners. */
import type { TargetName } from "../../src/microsoft/target.ts";
import { fuzzMicrosoft } from "./microsoft.ts";
import { type FuzzReport, fuzzStream } from "./stream.ts";
import { fuzzTanium } from "./tanium.ts";

export { fuzzMicrosoft, type FuzzReport, fuzzStream, fuzzTanium };

/** Totals of a suite run. */
export interface FuzzTotals {
  /** Cases generated (frames, corrupted answers, mutated alerts). */
  cases: number;
  /** Exceptions that escaped, plus silent drops and lost good items. */
  crashes: number;
  /** What went wrong, one line each. */
  problems: string[];
}

/** Runs every fuzzer with seeds derived from `seed`; `scale` multiplies the case counts. */
export async function runFuzzSuite(seed: number, scale = 1): Promise<FuzzTotals> {
  const totals: FuzzTotals = { cases: 0, crashes: 0, problems: [] };
  const add = (
    name: string,
    report: FuzzReport & { duplicates?: string[]; missing?: string[] },
  ) => {
    totals.cases += report.cases;
    const problems = [
      ...report.crashes,
      ...report.unaccounted.map((u) => `unaccounted ${u}`),
      ...(report.duplicates ?? []).map((d) => `duplicate ${d}`),
      ...(report.missing ?? []).map((m) => `missing ${m}`),
      ...(report.goodThrough < report.good
        ? [`${report.good - report.goodThrough} good items did not go through`]
        : []),
    ];
    totals.crashes += problems.length;
    totals.problems.push(...problems.map((p) => `${name}: ${p}`));
  };
  for (let i = 0; i < Math.max(1, Math.round(3 * scale)); i++) {
    add(`stream seed ${seed + i}`, await fuzzStream(seed + i, { cases: 400 }));
  }
  for (const target of ["graph", "sentinel", "defender"] as TargetName[]) {
    add(
      `microsoft ${target}`,
      await fuzzMicrosoft(target, seed, { rounds: Math.round(16 * scale), share: 0.4 }),
    );
  }
  add("tanium", await fuzzTanium(seed, { runs: Math.max(2, Math.round(6 * scale)) }));
  return totals;
}
