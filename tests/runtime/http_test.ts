import assert from "node:assert/strict";
import {
  HttpError,
  NetworkError,
  ResponseTooLargeError,
  TimeoutError,
} from "../../src/runtime/errors.ts";
import { excerpt, expectOk, request, safeUrl, tlsFetch } from "../../src/runtime/http.ts";

/** Serves `handler` on a free loopback port for the duration of `body`. */
async function withServer(
  handler: (request: Request) => Response | Promise<Response>,
  body: (url: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  try {
    await body(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

/** A body that sends one chunk, then nothing until the client goes away (which cancels it). */
function stalledBody(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("partial"));
    },
  });
}

Deno.test("request() reads status, headers and text", async () => {
  await withServer(
    () => new Response("hello", { status: 201, headers: { "x-a": "1" } }),
    async (url) => {
      const response = await request(`${url}/x`);
      assert.equal(response.status, 201);
      assert.equal(response.text, "hello");
      assert.equal(response.headers.get("x-a"), "1");
    },
  );
});

Deno.test("request() throws a TimeoutError when the body stalls past timeoutMs", async () => {
  await withServer(() => new Response(stalledBody()), async (url) => {
    await assert.rejects(
      request(`${url}/slow?token=abc`, {}, { timeoutMs: 20 }),
      (error: unknown) => {
        assert.ok(error instanceof TimeoutError);
        assert.match(error.message, /timed out after 20 ms/);
        assert.doesNotMatch(error.message, /token=abc/); // the query string is never shown
        return true;
      },
    );
  });
});

Deno.test("request() throws a TimeoutError when the server never sends headers", async () => {
  let answer!: (response: Response) => void;
  const never = new Promise<Response>((resolve) => answer = resolve);
  await withServer(() => never, async (url) => {
    await assert.rejects(request(url, {}, { timeoutMs: 20 }), TimeoutError);
    answer(new Response(null)); // lets the server shut down
  });
});

Deno.test("request() refuses a body over maxBytes by its Content-Length", async () => {
  await withServer(() => new Response("x".repeat(2_000)), async (url) => {
    await assert.rejects(
      request(url, {}, { maxBytes: 1_000 }),
      (error: unknown) =>
        error instanceof ResponseTooLargeError && /2000 bytes/.test(error.message),
    );
  });
});

Deno.test("request() stops reading a streamed body once it passes maxBytes", async () => {
  const chunk = new TextEncoder().encode("y".repeat(600));
  let sent = 0;
  const body = () =>
    new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 5) controller.enqueue(chunk);
        else controller.close();
      },
    });
  await withServer(() => new Response(body()), async (url) => {
    await assert.rejects(request(url, {}, { maxBytes: 1_000 }), ResponseTooLargeError);
  });
});

Deno.test("request() rejects with the caller's reason when its signal (or init.signal) aborts", async () => {
  await withServer(() => new Response(stalledBody()), async (url) => {
    const viaOptions = new AbortController();
    const pending = request(url, {}, { signal: viaOptions.signal });
    viaOptions.abort(new Error("caller stopped"));
    await assert.rejects(pending, /caller stopped/);

    const viaInit = new AbortController();
    const pending2 = request(url, { signal: viaInit.signal });
    viaInit.abort(new Error("init stopped"));
    await assert.rejects(pending2, /init stopped/);
  });
});

Deno.test("request() turns a refused connection into a NetworkError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(request(`http://127.0.0.1:${port}/`), NetworkError);
});

Deno.test("request() passes method, headers and body to the injected fetch", async () => {
  let seen: Request | undefined;
  const response = await request("https://example.test/a", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  }, {
    fetch: (input, init) => {
      seen = new Request(input, init);
      return Promise.resolve(new Response("ok"));
    },
  });
  assert.equal(response.text, "ok");
  assert.equal(seen?.method, "POST");
  assert.equal(seen?.headers.get("content-type"), "application/json");
});

Deno.test("expectOk() passes 2xx and throws an HttpError with status, body and headers otherwise", () => {
  const ok = { status: 204, headers: new Headers(), text: "" };
  assert.equal(expectOk(ok, "Ping"), ok);
  assert.throws(
    () =>
      expectOk(
        { status: 429, headers: new Headers({ "retry-after": "5" }), text: "slow\ndown" },
        "Upload",
      ),
    (error: unknown) =>
      error instanceof HttpError && error.status === 429 && error.body === "slow down" &&
      error.headers.get("retry-after") === "5" &&
      error.message === "Upload failed with HTTP 429: slow down",
  );
});

Deno.test("excerpt() and safeUrl() keep logs short and free of query strings and credentials", () => {
  assert.equal(excerpt("a\n  b", 10), "a b");
  assert.equal(excerpt("abcdef", 3), "abc…");
  assert.equal(safeUrl("https://user:pw@host.test/p/q?token=1#x"), "https://host.test/p/q");
  assert.equal(safeUrl("not a url"), "<invalid url>");
});

Deno.test("tlsFetch() explains how to disable verification and reports an unreadable CA file", async () => {
  const advice: string[] = [];
  const base = () => Promise.resolve(new Response("ok"));
  const plain = await tlsFetch({ verify: false }, {
    fetch: base,
    onInsecure: (a) => advice.push(a),
  });
  assert.equal(plain, base);
  assert.match(advice[0] ?? "", /--unsafely-ignore-certificate-errors/);
  await assert.rejects(
    tlsFetch({ caFile: "/nope/ca.pem" }, {
      fetch: base,
      readTextFile: () => Promise.reject(new Deno.errors.NotFound("gone")),
    }),
    /Cannot read the CA file "\/nope\/ca.pem"/,
  );
});
