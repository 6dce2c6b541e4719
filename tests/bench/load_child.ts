/**
 * Load generator of the startup scenario (run as a second process): `GET <url>` at `rate`
 * requests per second for `seconds`, open loop (a slow answer never delays the next request).
 * Prints one JSON line: `{sent, ok, failed, p50_ms, p99_ms, max_ms}`.
 *
 * Usage: `deno run --allow-net=127.0.0.1 tests/bench/load_child.ts URL RATE SECONDS`
 *
 * @module
 */
import { percentile, round } from "./stats.ts";

const [url = "", rateText = "500", secondsText = "5"] = Deno.args;
const rate = Number(rateText);
const total = Math.round(rate * Number(secondsText));
const latencies: number[] = [];
let ok = 0;
let failed = 0;
const inflight: Promise<void>[] = [];
const started = performance.now();
for (let i = 0; i < total; i++) {
  const due = started + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
  const sent = performance.now();
  inflight.push(
    fetch(url).then(async (response) => {
      await response.arrayBuffer();
      latencies.push(performance.now() - sent);
      if (response.ok) ok++;
      else failed++;
    }, () => {
      failed++;
    }),
  );
}
await Promise.all(inflight);
console.log(JSON.stringify({
  sent: total,
  ok,
  failed,
  achieved_rate: round(total / ((performance.now() - started) / 1000), 1),
  p50_ms: round(percentile(latencies, 50), 2),
  p99_ms: round(percentile(latencies, 99), 2),
  max_ms: round(Math.max(...latencies), 2),
}));
