/**
 * Memory and time of a reconcile's compact sets (issue 17), without the network: the desired set
 * (a `FingerprintTable`, as `desiredSet` keeps it), an actual set as a target lists it (an
 * `OwnedTable`), and the pure plan between them, for 100,000 and 1,000,000 indicators.
 *
 * Usage: `deno run -A --v8-flags=--expose-gc tests/bench/reconcile_keys.ts [N…]`. A report, never
 * an assertion; the network part of a reconcile (replay, listing, writes) is not measured here.
 *
 * @module
 */
import { fingerprintOf, projectRecord } from "../../src/microsoft/fingerprint.ts";
import { FingerprintTable, OwnedTable } from "../../src/microsoft/key_table.ts";
import { planReconcile } from "../../src/sentinel/reconcile.ts";

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const FIELDS = ["domainName", "action", "confidence", "description", "expirationDateTime", "tags"];

function heap(): number {
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
}

function stixId(n: number): string {
  const hex = n.toString(16).padStart(12, "0");
  return `indicator--7c1d2e3f-4a5b-4c6d-8e9f-${hex}`;
}

function fingerprint(n: number, drift = false): string {
  return fingerprintOf([projectRecord({
    domainName: `host-${n}.example`,
    action: drift ? "block" : "alert",
    confidence: n % 100,
    description: `Indicator number ${n}`,
    expirationDateTime: "2030-01-01T00:00:00Z",
    tags: ["opencti", `campaign-${n % 17}`],
  }, FIELDS)]);
}

for (const n of Deno.args.length > 0 ? Deno.args.map(Number) : [100_000, 1_000_000]) {
  const before = heap();
  let t = performance.now();
  const desired = new FingerprintTable();
  for (let i = 0; i < n; i++) desired.set(stixId(i), fingerprint(i));
  const desiredMs = performance.now() - t;
  const desiredBytes = heap() - before;
  // The target: 1% missing, 1% stale, 1% orphans.
  const actual = new OwnedTable();
  for (let i = 0; i < n; i++) {
    if (i % 100 === 0) continue;
    actual.add(stixId(i), fingerprint(i, i % 100 === 1));
  }
  for (let i = 0; i < n / 100; i++) actual.add(stixId(n + i), fingerprint(n + i));
  const actualBytes = heap() - before - desiredBytes;
  t = performance.now();
  const plan = planReconcile(desired, actual);
  const planMs = performance.now() - t;
  console.log(JSON.stringify({
    indicators: n,
    desired_set_mb: +(desiredBytes / 1048576).toFixed(1),
    desired_bytes_per_indicator: Math.round(desiredBytes / n),
    desired_build_ms: Math.round(desiredMs),
    actual_set_mb: +(actualBytes / 1048576).toFixed(1),
    actual_bytes_per_indicator: Math.round(actualBytes / n),
    peak_rss_mb: +(Deno.memoryUsage().rss / 1048576).toFixed(1),
    plan_ms: Math.round(planMs),
    missing: plan.missing.length,
    stale: plan.stale.length,
    orphans: plan.orphans.length,
  }));
}
