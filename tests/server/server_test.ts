import assert from "node:assert/strict";
import { Metrics, PROMETHEUS_CONTENT_TYPE } from "../../src/metrics.ts";
import type { ConnectorStatus } from "../../src/runtime/connector.ts";
import { installShutdown, type ShutdownSignal } from "../../src/runtime/shutdown.ts";
import { type AppOptions, createApp, HttpStatusError, serve } from "../../src/server.ts";

const TOKEN = "admin-token-0123456789";

function status(name: string, ready: boolean, reasons: string[] = []): ConnectorStatus {
  return { name, ready, reasons, state: ready ? "running" : "idle", counters: { events_total: 2 } };
}

function app(overrides: Partial<AppOptions> = {}) {
  return createApp({
    connectors: () => [status("sentinel", true), status("tanium-incidents", true)],
    metrics: () => "# HELP runs_total Number of run\n# TYPE runs_total counter\n",
    ...overrides,
  });
}

async function body(response: Response): Promise<unknown> {
  return JSON.parse(await response.text());
}

Deno.test("GET /healthz answers 200 ok, even when no connector is ready", async () => {
  const response = await app({ connectors: () => [status("sentinel", false)] }).request("/healthz");
  assert.equal(response.status, 200);
  assert.deepEqual(await body(response), { status: "ok" });
  assert.equal(response.headers.get("cache-control"), "no-store");
});

Deno.test("GET /readyz answers 200 when every enabled connector is ready", async () => {
  const response = await app().request("/readyz");
  assert.equal(response.status, 200);
  assert.deepEqual(await body(response), { ready: true, reasons: [] });
  assert.equal(response.headers.get("cache-control"), "no-store");
});

Deno.test("GET /readyz answers 503 with each connector's reasons when one is not ready", async () => {
  const response = await app({
    connectors: () => [
      status("sentinel", false, ["not registered", "token refused"]),
      status("tanium-incidents", true),
      status("other", false),
    ],
  }).request("/readyz");
  assert.equal(response.status, 503);
  assert.deepEqual(await body(response), {
    ready: false,
    reasons: ["sentinel: not registered", "sentinel: token refused", "other: not ready"],
  });
  assert.equal(response.headers.get("cache-control"), "no-store");
});

Deno.test("GET /readyz answers 503 when no connector is enabled", async () => {
  const response = await app({ connectors: () => [] }).request("/readyz");
  assert.equal(response.status, 503);
  assert.deepEqual(await body(response), { ready: false, reasons: ["no connector is enabled"] });
});

Deno.test("GET /readyz turns 503 from the first shutdown signal on", async () => {
  const listeners = new Map<ShutdownSignal, () => void>();
  let finish!: () => void;
  const shutdown = installShutdown({
    onShutdown: () => new Promise<void>((resolve) => finish = resolve),
    addSignalListener: (signal, handler) => listeners.set(signal, handler),
    exit: () => {},
    sleep: (_ms, signal) =>
      new Promise((_resolve, reject) =>
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true })
      ),
  });
  const server = app({ isShuttingDown: () => shutdown.shuttingDown });
  assert.equal((await server.request("/readyz")).status, 200);
  listeners.get("SIGTERM")?.();
  const response = await server.request("/readyz");
  assert.equal(response.status, 503);
  assert.deepEqual(await body(response), { ready: false, reasons: ["shutting down"] });
  assert.equal((await server.request("/healthz")).status, 200); // still alive
  finish();
  assert.equal(await shutdown.done, 0);
});

Deno.test("GET /metrics answers Prometheus text format 0.0.4", async () => {
  const metrics = new Metrics();
  metrics.runs.inc({ connector: "sentinel" });
  const response = await app({ metrics: () => metrics.render() }).request("/metrics");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
  assert.equal(response.headers.get("cache-control"), "no-store");
  const text = await response.text();
  assert.match(text, /^runs_total\{connector="sentinel"\} 1$/m);
});

Deno.test("GET /status answers every connector's status as JSON", async () => {
  const response = await app({
    connectors: () => [status("sentinel", true), status("tanium-incidents", false, ["paused"])],
  }).request("/status");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(await body(response), {
    ready: false,
    shuttingDown: false,
    connectors: [status("sentinel", true), status("tanium-incidents", false, ["paused"])],
  });
});

/** An app with the admin token whose runNow answers from `busy`. */
function adminApp(busy = new Set<string>()) {
  const triggered: string[] = [];
  const server = app({
    adminToken: TOKEN,
    runNow: (name) => {
      if (name !== "sentinel" && name !== "tanium-incidents") return undefined;
      if (busy.has(name)) return Promise.resolve(false);
      triggered.push(name);
      return Promise.resolve(true);
    },
  });
  return { server, triggered };
}

function run(name: string, authorization?: string): Request {
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  return new Request(`http://localhost/connectors/${name}/run`, { method: "POST", headers });
}

Deno.test("POST /connectors/:name/run answers 202 and starts a run with the admin token", async () => {
  const { server, triggered } = adminApp();
  const response = await server.request(run("tanium-incidents", `Bearer ${TOKEN}`));
  assert.equal(response.status, 202);
  assert.deepEqual(await body(response), { started: true, connector: "tanium-incidents" });
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(triggered, ["tanium-incidents"]);
});

Deno.test("POST /connectors/:name/run accepts the scheme in any case", async () => {
  const { server } = adminApp();
  assert.equal((await server.request(run("sentinel", `bearer ${TOKEN}`))).status, 202);
});

for (
  const [what, header] of [
    ["no Authorization header", undefined],
    ["a wrong token", "Bearer wrong-token"],
    ["a token that only starts right", `Bearer ${TOKEN}x`],
    ["another scheme", `Basic ${btoa(`admin:${TOKEN}`)}`],
    ["an empty bearer", "Bearer "],
  ] as const
) {
  Deno.test(`POST /connectors/:name/run answers 401 with ${what}`, async () => {
    const { server, triggered } = adminApp();
    const response = await server.request(run("sentinel", header));
    assert.equal(response.status, 401);
    assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.equal(response.headers.get("cache-control"), "no-store");
    const text = await response.text();
    assert.doesNotMatch(text, new RegExp(TOKEN));
    assert.deepEqual(triggered, []);
  });
}

Deno.test("POST /connectors/:name/run answers 401 before revealing whether a connector exists", async () => {
  const { server } = adminApp();
  assert.equal((await server.request(run("unknown"))).status, 401);
});

Deno.test("POST /connectors/:name/run answers 404 for an unknown connector", async () => {
  const { server } = adminApp();
  const response = await server.request(run("unknown", `Bearer ${TOKEN}`));
  assert.equal(response.status, 404);
  assert.deepEqual(await body(response), { error: 'No enabled connector is named "unknown"' });
});

Deno.test("POST /connectors/:name/run answers 409 while a run is in progress", async () => {
  const { server, triggered } = adminApp(new Set(["sentinel"]));
  const response = await server.request(run("sentinel", `Bearer ${TOKEN}`));
  assert.equal(response.status, 409);
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(triggered, []);
});

Deno.test("POST /connectors/:name/run answers 503 once shutdown started", async () => {
  const server = app({
    adminToken: TOKEN,
    isShuttingDown: () => true,
    runNow: () => Promise.resolve(true),
  });
  assert.equal((await server.request(run("sentinel", `Bearer ${TOKEN}`))).status, 503);
});

Deno.test("POST /connectors/:name/run does not exist without an admin token", async () => {
  let called = false;
  for (const adminToken of [undefined, ""]) {
    const server = app({
      adminToken,
      runNow: () => {
        called = true;
        return Promise.resolve(true);
      },
    });
    const response = await server.request(run("sentinel", "Bearer anything"));
    assert.equal(response.status, 404);
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.deepEqual(await body(response), { error: "Not found" });
  }
  assert.equal(called, false);
});

Deno.test("an unknown route answers 404 JSON with cache-control no-store", async () => {
  const response = await app().request("/nope");
  assert.equal(response.status, 404);
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(await body(response), { error: "Not found" });
});

Deno.test("a failing status source answers 500 without details, with no-store", async () => {
  const response = await app({
    connectors: () => {
      throw new Error("secret detail");
    },
  }).request("/status");
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(await body(response), { error: "Internal server error" });
});

Deno.test("HttpStatusError renders its status, message and headers as a JSON response", async () => {
  const error = new HttpStatusError(429, "Slow down", { headers: { "retry-after": "5" } });
  assert.equal(error.name, "HttpStatusError");
  const response = error.toResponse();
  assert.equal(response.status, 429);
  assert.equal(response.headers.get("retry-after"), "5");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(await body(response), { error: "Slow down" });
});

Deno.test("serve() answers over loopback and stops when its signal aborts", async () => {
  const controller = new AbortController();
  let listening: { hostname: string; port: number } | undefined;
  const server = serve(app({ adminToken: TOKEN, runNow: () => Promise.resolve(true) }), {
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: (address) => listening = address,
  });
  try {
    assert.equal(listening?.hostname, "127.0.0.1");
    const base = `http://127.0.0.1:${server.addr.port}`;
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    const denied = await fetch(`${base}/connectors/sentinel/run`, { method: "POST" });
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const started = await fetch(`${base}/connectors/sentinel/run`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(started.status, 202);
    await started.body?.cancel();
  } finally {
    controller.abort();
    await server.finished;
  }
});
