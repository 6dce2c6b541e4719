import * as assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import {
  type ApiCallDeps,
  callApi,
  errorScope,
  retryableError,
  sameOrigin,
  statusRetryable,
  statusScope,
} from "../../src/microsoft/api_call.ts";
import type { TokenSource } from "../../src/microsoft/token_source.ts";
import { HttpError, NetworkError } from "../../src/runtime/errors.ts";
import type { Fetch } from "../../src/runtime/http.ts";
import { RateLimiter } from "../../src/runtime/rate_limiter.ts";
import { FakeClock } from "../runtime/fake_clock.ts";

/** A token source that hands out `token-<n>`, n counting the invalidations. */
class CountingTokens implements TokenSource {
  invalidations = 0;
  getToken(): Promise<string> {
    return Promise.resolve(`token-${this.invalidations}`);
  }
  invalidate(): void {
    this.invalidations++;
  }
}

/** A fetch that answers from a script and records the requests it saw. */
function scripted(answers: (Response | Error)[]) {
  const seen: { method: string; url: string; headers: Headers; body: string | undefined }[] = [];
  const fetch: Fetch = (input, init) => {
    seen.push({
      method: init?.method ?? "GET",
      url: String(input),
      headers: new Headers(init?.headers),
      body: typeof init?.body === "string" ? init.body : undefined,
    });
    const next = answers.shift();
    if (next === undefined) return Promise.reject(new Error("the script ran out of answers"));
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  };
  return { fetch, seen };
}

function setup(answers: (Response | Error)[], extra: Partial<ApiCallDeps> = {}) {
  const clock = new FakeClock();
  const tokens = new CountingTokens();
  const { fetch, seen } = scripted(answers);
  const limiter = new RateLimiter({ limit: 100, now: clock.now, sleep: clock.sleep });
  const counts = { sent: 0, throttled: 0 };
  const deps: ApiCallDeps = {
    tokens,
    scope: "https://api.example.test/.default",
    fetch,
    timeoutMs: 1000,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    logger: getLogger(["test", "api-call"]),
    maxAttempts: 3,
    backoffBaseMs: 1000,
    backoffCapMs: 60_000,
    onSend: () => counts.sent++,
    onThrottled: () => counts.throttled++,
    ...extra,
  };
  const spec = {
    method: "POST",
    url: "https://api.example.test/items",
    what: "Test call",
    limiter,
  };
  return { clock, tokens, seen, limiter, counts, deps, spec };
}

Deno.test("callApi() sends the bearer token, JSON headers and extra headers", async () => {
  const env = setup([new Response("{}", { status: 200 })]);
  const response = await callApi(
    { ...env.spec, body: '{"a":1}', headers: { "client-request-id": "abc" } },
    env.deps,
  );
  assert.equal(response.status, 200);
  const [sent] = env.seen;
  assert.equal(sent?.headers.get("authorization"), "Bearer token-0");
  assert.equal(sent?.headers.get("content-type"), "application/json");
  assert.equal(sent?.headers.get("accept"), "application/json");
  assert.equal(sent?.headers.get("client-request-id"), "abc");
  assert.equal(sent?.body, '{"a":1}');
  assert.equal(env.counts.sent, 1);
});

Deno.test("callApi() refreshes the token once on 401 without spending an attempt", async () => {
  const env = setup([
    new Response("", { status: 401 }),
    new Response("", { status: 503 }),
    new Response("", { status: 503 }),
    new Response("done", { status: 200 }),
  ]);
  const response = await callApi(env.spec, env.deps);
  assert.equal(response.status, 200);
  assert.equal(env.tokens.invalidations, 1);
  assert.deepEqual(env.seen.map((s) => s.headers.get("authorization")), [
    "Bearer token-0",
    "Bearer token-1",
    "Bearer token-1",
    "Bearer token-1",
  ]);
});

Deno.test("callApi() returns a second 401 as it is", async () => {
  const env = setup([new Response("", { status: 401 }), new Response("no", { status: 401 })]);
  const response = await callApi(env.spec, env.deps);
  assert.equal(response.status, 401);
  assert.equal(response.text, "no");
  assert.equal(env.tokens.invalidations, 1);
});

Deno.test("callApi() pauses the limiter for Retry-After on 429 and counts the throttling", async () => {
  const env = setup([
    new Response("", { status: 429, headers: { "retry-after": "7" } }),
    new Response("ok", { status: 200 }),
  ]);
  const response = await callApi(env.spec, env.deps);
  assert.equal(response.status, 200);
  assert.equal(env.counts.throttled, 1);
  assert.deepEqual(env.clock.sleeps, [7000]);
});

Deno.test("callApi() reads a wait from the body when no Retry-After is sent", async () => {
  const env = setup([
    new Response("Try again in 3 seconds", { status: 429 }),
    new Response("ok", { status: 200 }),
  ], {
    bodyWaitMs: (text) => {
      const match = /try again in (\d+) seconds/i.exec(text);
      return match ? Number(match[1]) * 1000 + 500 : undefined;
    },
  });
  await callApi(env.spec, env.deps);
  assert.deepEqual(env.clock.sleeps, [3500]);
});

Deno.test("callApi() backs off on 5xx and returns the last answer when attempts run out", async () => {
  const env = setup([
    new Response("", { status: 500 }),
    new Response("", { status: 502 }),
    new Response("still down", { status: 503 }),
  ]);
  const response = await callApi(env.spec, env.deps);
  assert.equal(response.status, 503);
  assert.equal(response.text, "still down");
  // Full jitter at random() = 0.5: half of 1 s, then half of 2 s.
  assert.deepEqual(env.clock.sleeps, [500, 1000]);
  assert.equal(env.counts.sent, 3);
});

Deno.test("callApi() with atLeastBackoff never waits less than the backoff on 5xx", async () => {
  const env = setup([
    new Response("", { status: 503, headers: { "retry-after": "0" } }),
    new Response("ok", { status: 200 }),
  ], { atLeastBackoff: true });
  await callApi(env.spec, env.deps);
  assert.deepEqual(env.clock.sleeps, [500]);
});

Deno.test("callApi() caps a server-requested wait at backoffCapMs", async () => {
  const env = setup([
    new Response("", { status: 503, headers: { "retry-after": "3600" } }),
    new Response("ok", { status: 200 }),
  ], { backoffCapMs: 10_000 });
  await callApi(env.spec, env.deps);
  assert.deepEqual(env.clock.sleeps, [10_000]);
});

Deno.test("callApi() returns statuses outside retryStatus at once", async () => {
  const env = setup([new Response("", { status: 408 })], {
    retryStatus: (status) => status === 429 || status >= 500,
  });
  const response = await callApi(env.spec, env.deps);
  assert.equal(response.status, 408);
  assert.equal(env.seen.length, 1);
});

Deno.test("callApi() retries network errors, then throws the last one as it came", async () => {
  const env = setup([new TypeError("reset"), new TypeError("reset"), new TypeError("refused")]);
  const error = await callApi(env.spec, env.deps).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof NetworkError);
  assert.match(error.message, /refused/);
  assert.equal(env.seen.length, 3);
  assert.deepEqual(env.clock.sleeps, [500, 1000]);
});

Deno.test("callApi() rejects with the abort reason and sends nothing once aborted", async () => {
  const env = setup([new Response("ok", { status: 200 })]);
  const controller = new AbortController();
  controller.abort(new Error("stopping"));
  await assert.rejects(callApi({ ...env.spec, signal: controller.signal }, env.deps), /stopping/);
  assert.equal(env.seen.length, 0);
});

Deno.test("statusRetryable() and retryableError() treat payload problems as final", () => {
  for (const status of [400, 413, 422]) assert.equal(statusRetryable(status), false);
  for (const status of [401, 403, 404, 429, 500]) assert.equal(statusRetryable(status), true);
  assert.equal(retryableError(new HttpError("bad", 400)), false);
  assert.equal(retryableError(new HttpError("busy", 503)), true);
  assert.equal(retryableError(Object.assign(new Error("no"), { retryable: false })), false);
  assert.equal(retryableError(new Error("unknown")), true);
});

Deno.test("sameOrigin() accepts only URLs of the same scheme, host and port", () => {
  assert.equal(sameOrigin("https://a.test/x?y=1", "https://a.test"), true);
  assert.equal(sameOrigin("https://b.test/x", "https://a.test"), false);
  assert.equal(sameOrigin("http://a.test/x", "https://a.test"), false);
  assert.equal(sameOrigin("not a url", "https://a.test"), false);
});

Deno.test("statusScope() and errorScope() classify failures: systemic, request-level on several items, item-level alone", () => {
  for (const status of [401, 403, 404, 408, 429, 500, 503]) {
    assert.equal(statusScope(status, 5), "systemic", String(status));
    assert.equal(statusScope(status, 1), "systemic", String(status));
  }
  assert.equal(statusScope(400, 5), "request");
  assert.equal(statusScope(413, 2), "request");
  assert.equal(statusScope(400, 1), "item");
  assert.equal(statusScope(422, 1), "item");
  assert.equal(errorScope(new HttpError("bad", 400), 3), "request");
  assert.equal(errorScope(new HttpError("busy", 503), 1), "systemic");
  assert.equal(errorScope(new TypeError("Connection refused"), 1), "systemic");
  assert.equal(errorScope(new Error("unknown"), 1), "systemic");
});
