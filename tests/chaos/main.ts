/**
 * `deno task chaos`: the seeded fault-injection suite. A sentinel run (indicator creates, updates
 * and deletes synced to the Graph simulator by a connector process that is killed and restarted)
 * and a tanium-incidents run (alerts imported into OpenCTI), each under a random schedule of
 * faults, then the bad-input fuzzers. Prints the figures and writes them as JSON.
 *
 * Usage: `deno run -A tests/chaos/main.ts [--quick] [--seed N] [--out FILE]`
 *
 * @module
 */
import { runFuzzSuite } from "../fuzz/mod.ts";
import { demoSecrets } from "./demo_secrets.ts";
import { type ChaosResult, sentinelChaos } from "./sentinel.ts";
import { taniumChaos } from "./tanium.ts";

/** Everything `chaos-results.json` holds. */
export interface ChaosResults {
  /** ISO date of the run. */
  date: string;
  /** `quick` or `full`. */
  mode: "quick" | "full";
  /** The seed of every schedule. */
  seed: number;
  /** The sentinel run. */
  sentinel: Omit<ChaosResult, "secrets_leaked"> | null;
  /** The tanium-incidents run. */
  tanium: Omit<ChaosResult, "secrets_leaked"> | null;
  /** The fuzzers. */
  fuzz: { cases: number; crashes: number; problems: string[] } | null;
  /** Secrets, tokens or assertions found in any output line of the connector processes. */
  secrets_leaked: number;
  /** The lines where they were found. */
  leaks: string[];
  /** What was checked, and scenarios that failed to run. */
  notes: string[];
}

/** Parses `--quick`, `--seed N` and `--out FILE`. */
export function parseChaosArgs(
  args: readonly string[],
): { quick: boolean; seed: number; out: string } {
  const parsed = { quick: false, seed: 1, out: "chaos-results.json" };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--quick") parsed.quick = true;
    else if (arg === "--seed") parsed.seed = Number(args[++i]);
    else if (arg.startsWith("--seed=")) parsed.seed = Number(arg.slice(7));
    else if (arg === "--out") parsed.out = args[++i] ?? parsed.out;
    else if (arg.startsWith("--out=")) parsed.out = arg.slice(6);
    else throw new Error(`Unknown argument "${arg}": use --quick, --seed N or --out FILE`);
  }
  if (!Number.isInteger(parsed.seed)) throw new Error("Give --seed a whole number");
  return parsed;
}

function strip(result: ChaosResult): Omit<ChaosResult, "secrets_leaked"> {
  const { secrets_leaked: _leaks, ...rest } = result;
  return rest;
}

/** Runs the suite. */
export async function runChaos(
  options: { quick: boolean; seed: number },
): Promise<ChaosResults> {
  const results: ChaosResults = {
    date: new Date().toISOString(),
    mode: options.quick ? "quick" : "full",
    seed: options.seed,
    sentinel: null,
    tanium: null,
    fuzz: null,
    secrets_leaked: 0,
    leaks: [],
    notes: [],
  };
  const note = (name: string, error: unknown) =>
    results.notes.push(`${name}: failed: ${error instanceof Error ? error.message : error}`);
  try {
    console.error("chaos: sentinel…");
    const sentinel = await sentinelChaos(
      options.quick
        ? { seed: options.seed, events: 2000, durationMs: 10_000, faults: 20 }
        : { seed: options.seed, events: 5000, durationMs: 20_000, faults: 40 },
    );
    results.sentinel = strip(sentinel);
    results.leaks.push(...sentinel.secrets_leaked);
  } catch (error) {
    note("sentinel", error);
  }
  try {
    console.error("chaos: tanium…");
    const tanium = await taniumChaos(
      options.quick
        ? { seed: options.seed, alerts: 1000, durationMs: 8_000, faults: 15 }
        : { seed: options.seed, alerts: 2000, durationMs: 15_000, faults: 30 },
    );
    results.tanium = strip(tanium);
    results.leaks.push(...tanium.secrets_leaked);
  } catch (error) {
    note("tanium", error);
  }
  try {
    console.error("chaos: secrets in the program's answers and output…");
    const demo = await demoSecrets(options.quick ? 3 : 8);
    results.leaks.push(...demo.leaks);
    results.notes.push(
      `secrets: main.ts --demo checked: ${demo.responses} HTTP answers, ${demo.lines} output lines`,
    );
  } catch (error) {
    note("demo secrets", error);
  }
  try {
    console.error("chaos: fuzz…");
    results.fuzz = await runFuzzSuite(options.seed, options.quick ? 1 : 3);
  } catch (error) {
    note("fuzz", error);
  }
  results.secrets_leaked = results.leaks.length;
  return results;
}

/** The figures as text. */
export function formatChaos(r: ChaosResults): string {
  const lines = [`octi-connectors chaos (${r.mode}, seed ${r.seed}) ${r.date}`, ""];
  for (const name of ["sentinel", "tanium"] as const) {
    const x = r[name];
    if (!x) {
      lines.push(`${name}: did not run`);
      continue;
    }
    lines.push(
      `${name}: faults ${x.faults}, restarts ${x.restarts}, events ${x.events}, lost ${x.lost}, ` +
        `duplicated ${x.duplicated}, converge_s ${x.converge_s ?? "never"}`,
      `  fault kinds: ${
        Object.entries(x.fault_kinds).map(([k, n]) => `${k} ${n}`).join(", ")
      }; ${x.log_lines} log lines scanned`,
      ...x.differences.map((d) => `  ${d}`),
    );
  }
  if (r.fuzz) {
    lines.push(`fuzz: cases ${r.fuzz.cases}, crashes ${r.fuzz.crashes}`);
    for (const problem of r.fuzz.problems.slice(0, 10)) lines.push(`  ${problem}`);
  }
  lines.push(`secrets_leaked: ${r.secrets_leaked}`);
  for (const leak of r.leaks.slice(0, 5)) lines.push(`  ${leak}`);
  for (const note of r.notes) lines.push(`note: ${note}`);
  if (r.notes.some((n) => n.includes("failed:"))) lines.push("(some scenarios did not run)");
  return lines.join("\n");
}

if (import.meta.main) {
  const args = parseChaosArgs(Deno.args);
  const results = await runChaos(args);
  console.log(formatChaos(results));
  await Deno.writeTextFile(args.out, JSON.stringify(results, null, 2) + "\n");
  console.log(`\nwrote ${args.out}`);
  const failed = (results.sentinel?.lost ?? 1) + (results.sentinel?.duplicated ?? 1) +
    (results.tanium?.lost ?? 1) + (results.tanium?.duplicated ?? 1) +
    (results.fuzz?.crashes ?? 1) + results.secrets_leaked +
    results.notes.filter((n) => n.includes("failed:")).length;
  Deno.exit(failed === 0 ? 0 : 1);
}
