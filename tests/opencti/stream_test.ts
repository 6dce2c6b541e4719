import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  type DataFrame,
  firstStartPosition,
  type LiveStreamOptions,
  type LiveStreamReader,
  type MalformedFrame,
  readLiveStream,
  StreamAuthError,
  type StreamFrame,
  StreamNotFoundError,
  StreamStoppedError,
} from "../../src/opencti/stream.ts";
import type { SetTimer } from "../../src/runtime/clock.ts";
import { OpenCtiStore } from "../../src/sim/opencti_store.ts";
import {
  DEFAULT_STREAM_ID,
  SIM_TOKEN,
  StreamControl,
  type StreamDefinition,
  streamRoutes,
} from "../../src/sim/opencti_stream.ts";
import { generateIndicators, seedObjects } from "../../src/sim/opencti_seed.ts";
import type { StixObject } from "../../src/stix/types.ts";

/** A simulator on 127.0.0.1:0 with a manual clock (1 ms per reading). */
function startSim(streams?: Record<string, StreamDefinition>) {
  let time = Date.parse("2024-06-10T07:00:00.000Z");
  const now = () => time++;
  const store = new OpenCtiStore({ now });
  const control = new StreamControl(store, {
    heartbeatMs: 600_000,
    ...(streams ? { streams } : {}),
  });
  const app = new Hono();
  app.route("/", streamRoutes(store, { control }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return {
    store,
    control,
    url: `http://127.0.0.1:${server.addr.port}`,
    now,
    async close() {
      control.close();
      await server.shutdown();
    },
  };
}

/** A watchdog timer the test fires by hand (never fires by itself). */
function manualTimers() {
  const active = new Set<() => void>();
  let waiter: (() => void) | undefined;
  const setTimer: SetTimer = (callback) => {
    active.add(callback);
    waiter?.();
    return () => active.delete(callback);
  };
  return {
    setTimer,
    /** Resolves once a watchdog timer is armed (the reader is waiting on the network). */
    armed(): Promise<void> {
      if (active.size > 0) return Promise.resolve();
      return new Promise((resolve) => {
        waiter = () => {
          waiter = undefined;
          resolve();
        };
      });
    },
    fire(): void {
      for (const callback of [...active]) {
        active.delete(callback);
        callback();
      }
    },
  };
}

function readerFor(
  sim: { url: string },
  options: Partial<LiveStreamOptions> & { delays?: number[] } = {},
): LiveStreamReader {
  const { delays = [], ...rest } = options;
  return readLiveStream({
    url: sim.url,
    token: SIM_TOKEN,
    streamId: DEFAULT_STREAM_ID,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    setTimer: manualTimers().setTimer,
    random: () => 0.5,
    ...rest,
  });
}

async function take(reader: LiveStreamReader, count: number): Promise<StreamFrame[]> {
  const frames: StreamFrame[] = [];
  while (frames.length < count) {
    const result = await reader.next();
    if (result.done) break;
    frames.push(result.value);
  }
  return frames;
}

async function nextFrame(reader: LiveStreamReader): Promise<StreamFrame> {
  const result = await reader.next();
  assert.ok(!result.done, "the reader ended early");
  return result.value;
}

function isData(frame: StreamFrame): frame is DataFrame {
  return frame.event !== "connected" && frame.event !== "heartbeat";
}

function indicator(value: string, extra: Record<string, unknown> = {}): StixObject {
  return {
    id: `indicator--${crypto.randomUUID()}`,
    type: "indicator",
    spec_version: "2.1",
    name: value,
    pattern: `[ipv4-addr:value = '${value}']`,
    pattern_type: "stix",
    valid_from: "2024-06-10T00:00:00.000Z",
    x_opencti_score: 70,
    ...extra,
  };
}

Deno.test("readLiveStream() recovers the current dataset, then resumes after a mid-frame drop with no event lost or repeated", async () => {
  const sim = startSim();
  try {
    for (const object of await seedObjects()) sim.store.upsert(object);
    const indicators = sim.store.list("indicator");
    const start = firstStartPosition({ now: sim.now });
    const reader = readerFor(sim, { startFrom: start.startFrom, recover: start.recover });

    const recovered = await take(reader, 1 + indicators.length);
    assert.equal(recovered[0]?.event, "connected");
    const creates = recovered.slice(1).filter(isData);
    assert.equal(creates.length, indicators.length);
    for (const frame of creates) {
      assert.equal(frame.event, "create");
      assert.equal(frame.data.origin?.referer, "init-create");
      assert.equal(frame.data.type, undefined);
      assert.equal(frame.id, `${Date.parse(String(extOf(frame.data.data).updated_at))}-0`);
    }
    assert.deepEqual(
      creates.map((f) => f.data.data.id).sort(),
      indicators.map((i) => i.id).sort(),
    );

    // Live phase: events flow, then the connection drops halfway through an event's frame.
    const live: string[] = [];
    for (const value of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) {
      sim.store.upsert(indicator(value));
      const frame = await nextFrame(reader);
      assert.ok(isData(frame));
      live.push(frame.id);
    }
    sim.store.upsert(indicator("10.0.0.4"));
    assert.equal(sim.control.dropConnections({ midFrame: true }), 1);
    sim.store.upsert(indicator("10.0.0.5"));
    const afterDrop = await take(reader, 3);
    assert.deepEqual(afterDrop.map((f) => f.event), ["connected", "create", "create"]);
    for (const frame of afterDrop.filter(isData)) live.push(frame.id);

    const expected = sim.store.events()
      .filter((e) => e.data.type === "indicator" && compareMs(e.id, start.recover) > 0)
      .map((e) => e.id);
    assert.deepEqual(live, expected);
    assert.equal(new Set(live).size, live.length);
    assert.equal(reader.stats.reconnects, 1);
    assert.equal(reader.cursor, expected.at(-1));
    await reader.return();
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() sends Last-Event-ID from the cursor and receives only events strictly after it", async () => {
  const sim = startSim();
  try {
    const ids = ["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"].map((v) =>
      sim.store.upsert(indicator(v)).event.id
    );
    const reader = readerFor(sim, { startFrom: ids[1] ?? "" });
    const frames = await take(reader, 3);
    assert.deepEqual(frames.map((f) => f.event), ["connected", "create", "create"]);
    assert.deepEqual(frames.slice(1).map((f) => f.id), ids.slice(2));
    assert.equal(reader.cursor, ids[3]);
    await reader.return();
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() reconnects after the server resets the connection and misses nothing", async () => {
  const sim = startSim();
  try {
    const delays: number[] = [];
    const reader = readerFor(sim, { startFrom: "0-0", delays, retryBaseMs: 3000 });
    const first = sim.store.upsert(indicator("10.5.0.1")).event.id;
    assert.deepEqual((await take(reader, 2)).map((f) => f.id), [undefined, first]);
    sim.control.dropConnections({ abort: true });
    const second = sim.store.upsert(indicator("10.5.0.2")).event.id;
    assert.deepEqual((await take(reader, 2)).map((f) => [f.event, f.id]), [
      ["connected", undefined],
      ["create", second],
    ]);
    assert.equal(reader.stats.reconnects, 1);
    // Full jitter under the base after a healthy connection (random() = 0.5).
    assert.deepEqual(delays, [1500]);
    await reader.return();
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() reconnects from its cursor when the watchdog sees no frame", async () => {
  const sim = startSim();
  try {
    const timers = manualTimers();
    const delays: number[] = [];
    const first = sim.store.upsert(indicator("10.2.0.1")).event.id;
    const reader = readerFor(sim, {
      startFrom: "0-0",
      setTimer: timers.setTimer,
      watchdogMs: 45_000,
      delays,
    });
    assert.deepEqual((await take(reader, 2)).map((f) => f.id), [undefined, first]);

    sim.control.stall();
    const pending = reader.next();
    await timers.armed();
    timers.fire();
    sim.control.resume();
    const reconnected = await pending;
    assert.equal(reconnected.done, false);
    assert.equal(reconnected.value?.event, "connected");
    assert.equal(reader.stats.watchdogTimeouts, 1);
    assert.equal(reader.stats.reconnects, 1);
    assert.equal(delays.length, 1);

    const second = sim.store.upsert(indicator("10.2.0.2")).event.id;
    assert.equal((await nextFrame(reader)).id, second);
    await reader.return();
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() throws StreamAuthError with a clear message for a rejected token", async () => {
  const sim = startSim();
  try {
    const reader = readerFor(sim, { token: "wrong", onConfigError: "throw" });
    await assert.rejects(() => reader.next(), (error: unknown) => {
      assert.ok(error instanceof StreamAuthError);
      assert.match(error.message, /^OPENCTI_TOKEN was rejected for live stream live-indicators/);
      assert.doesNotMatch(error.message, /wrong/);
      return true;
    });
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() retries slowly after a 401 and connects once the platform accepts it", async () => {
  const sim = startSim();
  try {
    const delays: number[] = [];
    const errors: Error[] = [];
    sim.control.failNextConnects(401);
    const reader = readerFor(sim, {
      delays,
      configErrorRetryMs: 300_000,
      onError: (error) => errors.push(error),
    });
    assert.equal((await nextFrame(reader)).event, "connected");
    assert.deepEqual(delays, [300_000]);
    assert.ok(errors[0] instanceof StreamAuthError);
    await reader.return();
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() reports a stopped stream (410) and an unknown stream (404) clearly", async () => {
  const sim = startSim();
  try {
    sim.control.stopStream(DEFAULT_STREAM_ID);
    const stopped = readerFor(sim, { onConfigError: "throw" });
    await assert.rejects(() => stopped.next(), (error: unknown) => {
      assert.ok(error instanceof StreamStoppedError);
      assert.equal(
        error.message,
        "live stream live-indicators is stopped in OpenCTI: start it in Data > Data sharing > Live streams",
      );
      return true;
    });
    const unknown = readerFor(sim, { streamId: "nope", onConfigError: "throw" });
    await assert.rejects(() => unknown.next(), StreamNotFoundError);
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() skips and counts malformed frames and keeps flowing", async () => {
  const sim = startSim();
  try {
    const malformed: MalformedFrame[] = [];
    const reader = readerFor(sim, { startFrom: "0-0", onMalformed: (m) => malformed.push(m) });
    assert.equal((await nextFrame(reader)).event, "connected");
    await sim.control.waitForConnections(1);
    sim.control.injectMalformed("bad-json");
    sim.control.injectMalformed("missing-data");
    sim.control.injectMalformed("unknown-event");
    const id = sim.store.upsert(indicator("10.3.0.1")).event.id;
    const frame = await nextFrame(reader);
    assert.equal(frame.event, "create");
    assert.equal(frame.id, id);
    assert.equal(reader.stats.malformed, 2);
    assert.equal(reader.stats.ignored, 1);
    assert.deepEqual(malformed.map((m) => [m.event, m.id]), [
      ["update", "0-0"],
      ["create", "0-0"],
    ]);
    assert.match(malformed[0]?.reason ?? "", /data/);
    await reader.return();
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() sees updates renamed to delete and create when an indicator leaves and re-enters the stream filter", async () => {
  const sim = startSim({
    c2: { filter: { types: ["indicator"], labels: ["c2"] } },
  });
  try {
    const reader = readerFor(sim, { streamId: "c2", startFrom: "0-0" });
    const base = indicator("10.4.0.1", { labels: ["c2"] });
    sim.store.upsert(base);
    sim.store.upsert({ ...base, x_opencti_score: 90 });
    sim.store.upsert({ ...base, labels: ["benign"] });
    sim.store.upsert({ ...base, labels: ["benign"], description: "invisible change" });
    sim.store.upsert({ ...base, labels: ["c2", "benign"] });
    const frames = (await take(reader, 5)).filter(isData);
    assert.deepEqual(
      frames.map((f) => [f.event, f.data.type]),
      [["create", "create"], ["update", "update"], ["delete", "update"], ["create", "update"]],
    );
    await reader.return();
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() keeps retained frames bounded for a slow consumer while 10,000 events are queued", async () => {
  const sim = startSim();
  try {
    for (const object of await generateIndicators(10_000, 7)) sim.store.upsert(object);
    const reader = readerFor(sim, { startFrom: "0-0" });
    assert.equal((await nextFrame(reader)).event, "connected");
    assert.equal((await nextFrame(reader)).event, "create");
    // The consumer is busy: the simulator runs ahead only as far as the TCP window lets it,
    // and nothing more is parsed into the reader's memory meanwhile.
    await sim.control.waitFor((c) => (c[0]?.framesWritten ?? 0) >= 50);
    const retainedWhileBusy = reader.stats.retained;
    let count = 1;
    let maxRetained = 0;
    while (count < 10_000) {
      const frame = await nextFrame(reader);
      if (frame.event === "create") count++;
      maxRetained = Math.max(maxRetained, reader.stats.retained);
    }
    assert.equal(count, 10_000);
    assert.ok(retainedWhileBusy < 100, `retained ${retainedWhileBusy} while busy`);
    assert.ok(reader.stats.maxRetained < 100, `max retained ${reader.stats.maxRetained}`);
    assert.ok(maxRetained < 100);
    await reader.return();
  } finally {
    await sim.close();
  }
});

Deno.test("readLiveStream() parses a transcript split at arbitrary byte boundaries with CRLF line ends", async () => {
  const text = await Deno.readTextFile(new URL("../fixtures/stream/frames.sse", import.meta.url));
  const bytes = new TextEncoder().encode(text.replaceAll("\n", "\r\n"));
  let served = false;
  const requests: Request[] = [];
  const fakeFetch = (input: string | URL | Request, init?: RequestInit) => {
    requests.push(new Request(input, init));
    if (served) return Promise.resolve(new Response(null, { status: 503 }));
    served = true;
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        const size = 1 + (offset * 7919) % 97;
        controller.enqueue(bytes.slice(offset, offset + size));
        offset += size;
      },
    });
    return Promise.resolve(
      new Response(body, { headers: { "content-type": "text/event-stream; charset=utf-8" } }),
    );
  };
  const reader = readLiveStream({
    url: "http://opencti.test/",
    token: "t0k3n-value",
    streamId: "live-1",
    startFrom: "1718000000000-0",
    recover: "2024-06-10T07:00:00.000Z",
    fetch: fakeFetch,
    sleep: () => Promise.resolve(),
    setTimer: manualTimers().setTimer,
  });
  const frames = await take(reader, 7);
  await reader.return();
  assert.deepEqual(
    frames.map((f) => [f.event, f.id]),
    [
      ["connected", undefined],
      ["heartbeat", "1718003600123-0"],
      ["create", "1718003600200-0"],
      ["update", "1718003700456-0"],
      ["heartbeat", "1718003700456-0"],
      ["delete", "1718003800789-0"],
      ["merge", "1718003900000-0"],
    ],
  );
  const update = frames[3];
  assert.ok(update !== undefined && isData(update));
  assert.equal(extOf(update.data.data).score, 90);
  const request = requests[0];
  assert.ok(request);
  assert.equal(
    request.url,
    "http://opencti.test/stream/live-1?recover=2024-06-10T07%3A00%3A00.000Z",
  );
  assert.equal(request.headers.get("authorization"), "Bearer t0k3n-value");
  assert.equal(request.headers.get("last-event-id"), "1718000000000-0");
  assert.equal(request.headers.get("listen-delete"), "true");
  assert.equal(request.headers.get("no-dependencies"), "true");
  assert.equal(request.headers.get("with-inferences"), "false");
});

Deno.test("firstStartPosition() starts at 0-0 with recover=now, or at the configured timestamp and date", () => {
  const now = () => Date.parse("2024-06-10T07:13:20.000Z");
  assert.deepEqual(firstStartPosition({ now }), {
    startFrom: "0-0",
    recover: "2024-06-10T07:13:20.000Z",
  });
  assert.deepEqual(
    firstStartPosition({
      now,
      startTimestamp: 1718000000000,
      recoverIsoDate: "2024-06-01T00:00:00Z",
    }),
    { startFrom: "1718000000000-0", recover: "2024-06-01T00:00:00Z" },
  );
});

function extOf(object: StixObject): Record<string, unknown> {
  const extensions = object.extensions as Record<string, Record<string, unknown>>;
  return extensions["extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"] ?? {};
}

function compareMs(id: string, iso: string): number {
  return Number(id.split("-")[0]) - Date.parse(iso);
}

Deno.test("readLiveStream() ends once aborted even while the body keeps delivering heartbeats", async () => {
  const encoder = new TextEncoder();
  let sent = 0;
  // A body that keeps producing frames whatever happens to the request's signal.
  const fetch = () =>
    Promise.resolve(
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            sent++;
            controller.enqueue(encoder.encode(`id: ${sent}-0\nevent: heartbeat\ndata: "x"\n\n`));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      ),
    );
  const abort = new AbortController();
  const reader = readLiveStream({
    url: "http://opencti.test",
    token: "t",
    streamId: "s",
    fetch,
    signal: abort.signal,
    sleep: () => Promise.resolve(),
  });
  let frames = 0;
  for (let i = 0; i < 1000; i++) {
    const next = await reader.next();
    if (next.done) break;
    if (++frames === 5) abort.abort();
  }
  assert.equal(frames, 5, "no frame is handed over after the abort");
});

Deno.test("readLiveStream() hands out the frames of one chunk in order with the cursor moving only as the consumer takes them", async () => {
  const envelope = (id: string) =>
    JSON.stringify({ version: "4", type: "create", data: { id, type: "indicator" } });
  const text = [
    `id: 1-0\nevent: create\ndata: ${envelope("indicator--a")}\n\n`,
    `id: 2-0\nevent: create\ndata: {not json\n\n`,
    `id: 3-0\nevent: heartbeat\ndata: "2024-06-10T07:00:00.000Z"\n\n`,
    `id: 4-0\nevent: create\ndata: ${envelope("indicator--b")}\n\n`,
  ].join("");
  let served = false;
  const malformed: MalformedFrame[] = [];
  const reader = readLiveStream({
    url: "http://opencti.test.invalid",
    token: "t",
    streamId: "s",
    watchdogMs: 3_600_000,
    onMalformed: (m) => malformed.push(m),
    fetch: () => {
      const chunks = served ? [] : [new TextEncoder().encode(text)];
      served = true;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const chunk = chunks.shift();
          if (chunk === undefined) controller.close();
          else controller.enqueue(chunk);
        },
      });
      return Promise.resolve(
        new Response(body, { headers: { "content-type": "text/event-stream" } }),
      );
    },
  });
  try {
    const a = await nextFrame(reader);
    assert.deepEqual([a.event, a.id, reader.cursor], ["create", "1-0", "1-0"]);
    // The malformed data frame is skipped on the way to the heartbeat; its id is passed at once,
    // the heartbeat's only when the consumer asks for the frame after it.
    const heartbeat = await nextFrame(reader);
    assert.deepEqual([heartbeat.event, heartbeat.id, reader.cursor], ["heartbeat", "3-0", "2-0"]);
    assert.deepEqual(malformed.map((m) => m.id), ["2-0"]);
    const b = await nextFrame(reader);
    assert.deepEqual([b.event, b.id, reader.cursor], ["create", "4-0", "4-0"]);
    assert.equal((b as DataFrame).data.data.id, "indicator--b");
    assert.equal(reader.stats.frames, 3);
    assert.equal(reader.stats.malformed, 1);
    assert.equal(reader.stats.retained, 0);
  } finally {
    await reader.return();
  }
});

Deno.test("readLiveStream() hands out no frame while its consumer's gate holds, then the next one", async () => {
  const sim = startSim();
  try {
    for (const value of ["10.2.0.1", "10.2.0.2", "10.2.0.3"]) sim.store.upsert(indicator(value));
    let release: () => void = () => {};
    let hold: Promise<void> | undefined;
    const reader = readerFor(sim, { startFrom: "1-0", gate: () => hold });
    const first = await take(reader, 2);
    assert.deepEqual(first.map((f) => f.event), ["connected", "create"]);
    hold = new Promise((resolve) => release = resolve);
    const next = reader.next();
    // Buffered frames stay in the reader while the gate holds: none is counted or handed out.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(reader.stats.frames, 2);
    hold = undefined;
    release();
    const frame = await next;
    assert.equal(frame.done, false);
    assert.equal(reader.stats.frames, 3);
    await reader.return();
  } finally {
    await sim.close();
  }
});
