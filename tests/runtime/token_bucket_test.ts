import assert from "node:assert/strict";
import { allOf, TokenBucket } from "../../src/runtime/token_bucket.ts";
import { RateLimiter } from "../../src/runtime/rate_limiter.ts";
import { FakeClock } from "./fake_clock.ts";

Deno.test("TokenBucket lets `size` requests go at once, then `perSecond` a second", async () => {
  const clock = new FakeClock(0);
  const bucket = new TokenBucket({ size: 200, perSecond: 10, now: clock.now, sleep: clock.sleep });
  const times: number[] = [];
  for (let i = 0; i < 230; i++) {
    await bucket.acquire();
    times.push(clock.now());
  }
  assert.equal(times.filter((t) => t === 0).length, 200);
  assert.equal(times[229], 3_000, "30 more need 3 s");
  // Never more than size + rate x elapsed in any span starting at 0.
  for (const [i, t] of times.entries()) assert.ok(i + 1 <= 200 + Math.floor(t / 100) + 1e-9);
});

Deno.test("TokenBucket refills while idle, up to its size only", async () => {
  const clock = new FakeClock(0);
  const bucket = new TokenBucket({ size: 5, perSecond: 1, now: clock.now, sleep: clock.sleep });
  for (let i = 0; i < 5; i++) await bucket.acquire();
  assert.equal(bucket.delay(), 1_000);
  clock.advance(60_000);
  for (let i = 0; i < 5; i++) await bucket.acquire();
  assert.equal(clock.now(), 60_000, "five at once after a long pause, not sixty");
  assert.equal(bucket.delay(), 1_000);
});

Deno.test("TokenBucket.pause() holds callers for a server's Retry-After", async () => {
  const clock = new FakeClock(0);
  const bucket = new TokenBucket({ size: 5, perSecond: 1, now: clock.now, sleep: clock.sleep });
  bucket.pause(7_000);
  await bucket.acquire();
  assert.equal(clock.now(), 7_000);
});

Deno.test("allOf() waits for every pacer", async () => {
  const clock = new FakeClock(0);
  const both = allOf(
    new TokenBucket({ size: 10, perSecond: 10, now: clock.now, sleep: clock.sleep }),
    new RateLimiter({ limit: 3, windowMs: 60_000, now: clock.now, sleep: clock.sleep }),
  );
  for (let i = 0; i < 4; i++) await both.acquire();
  assert.equal(clock.now(), 60_000, "the window binds");
});
