import assert from "node:assert/strict";
import { HttpError, NetworkError, TimeoutError } from "../../src/runtime/errors.ts";
import {
  backoffDelay,
  isRetryable,
  parseRetryAfter,
  retry,
  retryAfterOf,
} from "../../src/runtime/retry.ts";
import { FakeClock } from "./fake_clock.ts";

function httpError(status: number, headers: Record<string, string> = {}, body = ""): HttpError {
  return new HttpError(`HTTP ${status}`, status, body, new Headers(headers));
}

/** A function that fails with `errors` in turn, then returns "done". */
function failing(errors: unknown[]): { fn: (attempt: number) => Promise<string>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    fn: (attempt) => {
      calls.push(attempt);
      const error = errors.shift();
      return error === undefined ? Promise.resolve("done") : Promise.reject(error);
    },
  };
}

Deno.test("retry() waits full-jitter exponential delays under the cap", async () => {
  const clock = new FakeClock();
  const { fn, calls } = failing([httpError(503), httpError(503), httpError(503), httpError(503)]);
  const result = await retry(fn, {
    attempts: 5,
    baseMs: 1_000,
    capMs: 5_000,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
  });
  assert.equal(result, "done");
  assert.deepEqual(calls, [1, 2, 3, 4, 5]);
  // ceilings 1000, 2000, 4000, then the cap 5000; random 0.5 takes half of each
  assert.deepEqual(clock.sleeps, [500, 1_000, 2_000, 2_500]);
});

Deno.test("backoffDelay() takes random() of min(cap, base * 2^(attempt-1))", () => {
  assert.equal(backoffDelay(1, 500, 30_000, () => 0.999), 499);
  assert.equal(backoffDelay(3, 500, 30_000, () => 0.5), 1_000);
  assert.equal(backoffDelay(20, 500, 30_000, () => 0.5), 15_000);
  assert.equal(backoffDelay(4, 500, 30_000, () => 0), 0);
});

Deno.test("retry() waits the Retry-After seconds a 429 asks for, even beyond the cap", async () => {
  const clock = new FakeClock();
  const { fn } = failing([httpError(429, { "retry-after": "45" })]);
  const delays: number[] = [];
  await retry(fn, {
    capMs: 30_000,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    onRetry: ({ delayMs }) => delays.push(delayMs),
  });
  assert.deepEqual(clock.sleeps, [45_000]);
  assert.deepEqual(delays, [45_000]);
});

Deno.test("retry() waits until the HTTP-date of Retry-After", async () => {
  const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"));
  const { fn } = failing([httpError(503, { "retry-after": "Sun, 01 Mar 2026 10:00:12 GMT" })]);
  await retry(fn, { now: clock.now, sleep: clock.sleep, random: () => 0.5 });
  assert.deepEqual(clock.sleeps, [12_000]);
});

Deno.test("retry() uses Sentinel's 'Try again in N seconds' when there is no Retry-After", async () => {
  const clock = new FakeClock();
  const body = '{"statusCode":429,"message":"Rate limit is exceeded. Try again in 12 seconds."}';
  const { fn } = failing([httpError(429, {}, body)]);
  await retry(fn, { now: clock.now, sleep: clock.sleep, random: () => 0.5 });
  assert.deepEqual(clock.sleeps, [13_000]);
});

Deno.test("retry() gives up with the error when Retry-After exceeds maxRetryAfterMs", async () => {
  const clock = new FakeClock();
  const error = httpError(429, { "retry-after": "3600" });
  const { fn, calls } = failing([error]);
  await assert.rejects(
    retry(fn, { maxRetryAfterMs: 300_000, now: clock.now, sleep: clock.sleep }),
    (thrown) => thrown === error,
  );
  assert.deepEqual(calls, [1]);
  assert.deepEqual(clock.sleeps, []);
});

for (const status of [400, 401, 403, 404, 409, 422]) {
  Deno.test(`retry() does not retry HTTP ${status}`, async () => {
    const clock = new FakeClock();
    const { fn, calls } = failing([httpError(status)]);
    await assert.rejects(retry(fn, { now: clock.now, sleep: clock.sleep }), HttpError);
    assert.deepEqual(calls, [1]);
    assert.deepEqual(clock.sleeps, []);
  });
}

for (const status of [408, 429, 500, 502, 503, 504]) {
  Deno.test(`isRetryable() retries HTTP ${status}`, () => {
    assert.equal(isRetryable(httpError(status)), true);
  });
}

Deno.test("isRetryable() retries network errors and timeouts, not other errors", () => {
  assert.equal(isRetryable(new NetworkError("reset")), true);
  assert.equal(isRetryable(new TimeoutError("slow")), true);
  assert.equal(isRetryable(new Error("bug")), false);
  assert.equal(isRetryable(new DOMException("stop", "AbortError")), false);
});

Deno.test("retry() throws the last error when the attempts run out", async () => {
  const clock = new FakeClock();
  const last = new NetworkError("third");
  const { fn, calls } = failing([new NetworkError("first"), new NetworkError("second"), last]);
  await assert.rejects(
    retry(fn, { attempts: 3, now: clock.now, sleep: clock.sleep, random: () => 0 }),
    (thrown) => thrown === last,
  );
  assert.deepEqual(calls, [1, 2, 3]);
  assert.equal(clock.sleeps.length, 2);
});

Deno.test("retry() stops waiting when its signal aborts", async () => {
  const controller = new AbortController();
  const { fn, calls } = failing([httpError(503), httpError(503)]);
  await assert.rejects(
    retry(fn, {
      signal: controller.signal,
      sleep: (_ms, signal) => {
        controller.abort(new Error("shutting down"));
        return Promise.reject(signal?.reason);
      },
    }),
    /shutting down/,
  );
  assert.deepEqual(calls, [1]);
});

Deno.test("parseRetryAfter() reads seconds and HTTP dates and ignores anything else", () => {
  const now = Date.parse("2026-03-01T10:00:00Z");
  assert.equal(parseRetryAfter("120", now), 120_000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("Sun, 01 Mar 2026 10:01:00 GMT", now), 60_000);
  assert.equal(parseRetryAfter("Sunday, 01-Mar-26 10:00:30 GMT", now), 30_000);
  assert.equal(parseRetryAfter("Sun, 01 Mar 2026 09:00:00 GMT", now), 0); // in the past
  assert.equal(parseRetryAfter("-5", now), undefined);
  assert.equal(parseRetryAfter("1 2", now), undefined);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter("", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

Deno.test("retryAfterOf() prefers the Retry-After header to the body hint", () => {
  const error = httpError(429, { "retry-after": "3" }, "Try again in 12 seconds.");
  assert.equal(retryAfterOf(error, 0), 3_000);
  assert.equal(retryAfterOf(new Error("x"), 0), undefined);
});
