import assert from "node:assert/strict";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { Hono } from "hono";
import {
  compareEventIds,
  extensionOf,
  OPENCTI_EXTENSION,
  OpenCtiStore,
} from "../../src/sim/opencti_store.ts";
import {
  DEFAULT_STREAM_ID,
  SIM_TOKEN,
  StreamControl,
  streamRoutes,
  type StreamRoutesOptions,
} from "../../src/sim/opencti_stream.ts";
import {
  generateIndicators,
  SEED_AUTHOR_ID,
  SEED_TLP,
  seedIndicators,
  seedObjects,
} from "../../src/sim/opencti_seed.ts";
import type { StixObject } from "../../src/stix/types.ts";

function startSim(options: StreamRoutesOptions = {}) {
  let time = Date.parse("2024-06-10T07:00:00.000Z");
  const now = () => time++;
  const store = new OpenCtiStore({ now });
  const control = new StreamControl(store, { heartbeatMs: 600_000, ...options });
  const app = new Hono();
  app.route("/", streamRoutes(store, { ...options, control }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    store,
    control,
    url,
    now,
    /** GET /stream/<id> with the simulator token unless headers say otherwise. */
    get(path = `/stream/${DEFAULT_STREAM_ID}`, headers: Record<string, string> = {}) {
      return fetch(`${url}${path}`, {
        headers: { authorization: `Bearer ${SIM_TOKEN}`, ...headers },
      });
    },
    async close() {
      control.close();
      await server.shutdown();
    },
  };
}

/** Reads `count` SSE messages from a response, then closes it. */
async function messages(response: Response, count: number): Promise<EventSourceMessage[]> {
  assert.equal(response.status, 200);
  const out: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (m) => out.push(m) });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(value);
  }
  await reader.cancel();
  return out.slice(0, count);
}

function json(message: EventSourceMessage | undefined): Record<string, unknown> {
  assert.ok(message, "missing message");
  return JSON.parse(message.data);
}

function indicator(value: string, extra: Record<string, unknown> = {}): StixObject {
  return {
    id: `indicator--${crypto.randomUUID()}`,
    type: "indicator",
    spec_version: "2.1",
    name: value,
    pattern: `[ipv4-addr:value = '${value}']`,
    pattern_type: "stix",
    x_opencti_score: 70,
    ...extra,
  };
}

Deno.test("GET /stream/:id answers with the platform's headers and a first connected frame without id", async () => {
  const sim = startSim();
  try {
    sim.store.upsert(indicator("1.1.1.1"));
    const response = await sim.get();
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(response.headers.get("cache-control"), "no-cache, no-transform");
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    const [connected] = await messages(response, 1);
    assert.equal(connected?.event, "connected");
    assert.equal(connected?.id, undefined);
    const data = json(connected);
    assert.equal(data.lastEventId, sim.store.lastEventId());
    assert.equal(data.firstEventId, sim.store.firstEventId());
    assert.equal(data.streamSize, 1);
    assert.equal(typeof data.connectionId, "string");
  } finally {
    await sim.close();
  }
});

Deno.test("GET /stream/:id sends heartbeats carrying the last processed id and its date as a JSON string", async () => {
  const sim = startSim({ heartbeatMs: 5 });
  try {
    sim.store.upsert(indicator("1.1.1.1"));
    const filtered = sim.store.upsert({
      id: "identity--542072da-8b33-50bf-810b-d9cfd2a0bc69",
      type: "identity",
      name: "ACME Corp",
      identity_class: "organization",
    }).event.id;
    const frames = await messages(await sim.get(undefined, { "last-event-id": "0-0" }), 3);
    assert.deepEqual(frames.map((f) => f.event), ["connected", "create", "heartbeat"]);
    // The identity is filtered out by the indicator stream, yet the heartbeat id moves past it.
    assert.equal(frames[2]?.id, filtered);
    const ms = Number(filtered.split("-")[0]);
    assert.equal(JSON.parse(frames[2]?.data ?? ""), new Date(ms).toISOString());
  } finally {
    await sim.close();
  }
});

Deno.test("GET /stream/:id answers 401, 404, 410, 500 and injected statuses with an empty body", async () => {
  const sim = startSim();
  try {
    const status = async (response: Response) => {
      const body = await response.text();
      assert.equal(body, "");
      return response.status;
    };
    assert.equal(await status(await sim.get(undefined, { authorization: "Bearer nope" })), 401);
    assert.equal(await status(await fetch(`${sim.url}/stream/${DEFAULT_STREAM_ID}`)), 401);
    assert.equal(await status(await sim.get("/stream/unknown")), 404);
    assert.equal(
      await status(await sim.get(`/stream/${DEFAULT_STREAM_ID}?recover=2024-06-10`)),
      500,
    );
    sim.control.failNextConnects(503, 1, { "retry-after": "7" });
    const injected = await sim.get();
    assert.equal(injected.headers.get("retry-after"), "7");
    assert.equal(await status(injected), 503);
    sim.control.stopStream(DEFAULT_STREAM_ID);
    assert.equal(await status(await sim.get()), 410);
    sim.control.startStream(DEFAULT_STREAM_ID);
    await messages(await sim.get(), 1);
  } finally {
    await sim.close();
  }
  const newest = startSim({ unknownStreamStatus: 401 });
  try {
    assert.equal((await newest.get("/stream/unknown")).status, 401);
  } finally {
    await newest.close();
  }
});

Deno.test("GET /stream/:id takes the start position from ?from first, then from, then Last-Event-ID, in id, 0 and date forms", async () => {
  const sim = startSim();
  try {
    const ids = ["1.0.0.1", "1.0.0.2", "1.0.0.3"].map((v) =>
      sim.store.upsert(indicator(v)).event.id
    );
    const after = async (path: string, headers: Record<string, string>) =>
      (await messages(await sim.get(path, headers), 2))[1]?.id;
    const base = `/stream/${DEFAULT_STREAM_ID}`;
    assert.equal(await after(`${base}?from=${ids[1]}`, { "last-event-id": "0-0" }), ids[2]);
    assert.equal(await after(base, { from: ids[0]!, "last-event-id": ids[1]! }), ids[1]);
    assert.equal(await after(base, { "last-event-id": ids[0]! }), ids[1]);
    assert.equal(await after(base, { "last-event-id": "0" }), ids[0]);
    // A date means `<epoch ms>-0`: events strictly after that millisecond's first id.
    const ms = Number(ids[1]!.split("-")[0]);
    assert.equal(await after(base, { "last-event-id": new Date(ms).toISOString() }), ids[2]);
    assert.equal(await after(base, { "last-event-id": new Date(ms - 1).toISOString() }), ids[1]);
  } finally {
    await sim.close();
  }
});

Deno.test("GET /stream/:id without a start position sends only events created after the connection", async () => {
  const sim = startSim();
  try {
    sim.store.upsert(indicator("1.0.0.1"));
    const response = await sim.get();
    await sim.control.waitForConnections(1);
    const later = sim.store.upsert(indicator("1.0.0.2")).event.id;
    const frames = await messages(response, 2);
    assert.equal(frames[1]?.id, later);
  } finally {
    await sim.close();
  }
});

Deno.test("GET /stream/:id recovery sends current objects as create with updated_at ids and dependencies first, reusing the id", async () => {
  const sim = startSim();
  try {
    for (const object of await seedObjects()) sim.store.upsert(object);
    const first = sim.store.list("indicator")[0]!;
    sim.store.upsert({ ...first, description: "changed later" });
    const recover = new Date(sim.now()).toISOString();
    const count = sim.store.list("indicator").length;
    // Dependencies: the author and the four TLP markings the seed indicators use.
    const dependencyIds = [
      SEED_AUTHOR_ID,
      SEED_TLP.clear,
      SEED_TLP.green,
      SEED_TLP.amber,
      SEED_TLP.red,
    ];
    const frames = await messages(
      await sim.get(`/stream/${DEFAULT_STREAM_ID}?recover=${recover}`, {
        "last-event-id": "0-0",
        "no-dependencies": "false",
      }),
      1 + count + dependencyIds.length,
    );
    const creates = frames.slice(1);
    assert.ok(creates.every((f) => f.event === "create"));
    const referer = (f: EventSourceMessage) => (json(f).origin as Record<string, unknown>).referer;
    const deps = creates.filter((f) => referer(f) === "init-dependencies");
    assert.deepEqual(
      deps.map((f) => (json(f).data as StixObject).id).sort(),
      dependencyIds.sort(),
    );
    // Each dependency comes right before the object needing it and reuses that object's id.
    creates.forEach((frame, index) => {
      if (referer(frame) !== "init-dependencies") return;
      const owner = creates.slice(index + 1).find((f) => referer(f) === "init-create");
      assert.equal(frame.id, owner?.id);
    });
    const recovered = creates.filter((f) =>
      (json(f).origin as Record<string, unknown>).referer === "init-create"
    );
    assert.equal(recovered.length, count);
    for (const frame of recovered) {
      const envelope = json(frame);
      assert.equal(envelope.type, undefined);
      assert.equal(envelope.scope, undefined);
      const updatedAt = extensionOf(envelope.data as StixObject)?.updated_at;
      assert.equal(frame.id, `${Date.parse(String(updatedAt))}-0`);
    }
    // The updated indicator comes last (oldest updated_at first) with its current state.
    assert.equal((json(recovered.at(-1)).data as StixObject).description, "changed later");
  } finally {
    await sim.close();
  }
});

Deno.test("GET /stream/:id honours listen-delete and with-inferences", async () => {
  const sim = startSim();
  try {
    const kept = sim.store.upsert(indicator("2.0.0.1")).event.id;
    sim.store.upsert(indicator("2.0.0.2"), { inferred: true });
    const removed = sim.store.remove(sim.store.list("indicator")[0]!.id)!.id;
    const last = sim.store.upsert(indicator("2.0.0.3")).event.id;
    const names = async (headers: Record<string, string>, count: number) =>
      (await messages(await sim.get(undefined, { "last-event-id": "0-0", ...headers }), count))
        .map((f) => `${f.event}@${f.id}`);
    assert.deepEqual(await names({}, 4), [
      "connected@undefined",
      `create@${kept}`,
      `delete@${removed}`,
      `create@${last}`,
    ]);
    assert.deepEqual(await names({ "listen-delete": "false" }, 3), [
      "connected@undefined",
      `create@${kept}`,
      `create@${last}`,
    ]);
    assert.equal((await names({ "with-inferences": "true" }, 5)).length, 5);
  } finally {
    await sim.close();
  }
});

Deno.test("GET /stream/:id applies a score filter and renames updates crossing it", async () => {
  const sim = startSim({
    streams: { high: { filter: { types: ["indicator"], minScore: 80 } } },
  });
  try {
    const base = indicator("3.0.0.1", { x_opencti_score: 50 });
    sim.store.upsert(base);
    sim.store.upsert({ ...base, x_opencti_score: 85 });
    sim.store.upsert({ ...base, x_opencti_score: 90 });
    sim.store.upsert({ ...base, x_opencti_score: 10 });
    const frames = await messages(
      await sim.get("/stream/high", { "last-event-id": "0-0" }),
      4,
    );
    assert.deepEqual(
      frames.slice(1).map((f) => [f.event, json(f).type]),
      [["create", "update"], ["update", "update"], ["delete", "update"]],
    );
  } finally {
    await sim.close();
  }
});

Deno.test("StreamControl.trimHistory() moves firstEventId and a 0-0 start begins at the oldest retained event", async () => {
  const sim = startSim();
  try {
    const ids = ["4.0.0.1", "4.0.0.2", "4.0.0.3"].map((v) =>
      sim.store.upsert(indicator(v)).event.id
    );
    assert.equal(sim.control.trimHistory({ keep: 1 }), 2);
    const frames = await messages(await sim.get(undefined, { "last-event-id": "0-0" }), 2);
    assert.equal(json(frames[0]).firstEventId, ids[2]);
    assert.equal(frames[1]?.id, ids[2]);
  } finally {
    await sim.close();
  }
});

Deno.test("StreamControl.dropConnections({ midFrame }) cuts the next frame in half and closes the response", async () => {
  const sim = startSim();
  try {
    const response = await sim.get(undefined, { "last-event-id": "0-0" });
    await sim.control.waitForConnections(1);
    sim.store.upsert(indicator("5.0.0.1"));
    assert.equal(sim.control.dropConnections({ midFrame: true }), 1);
    const text = await response.text();
    assert.match(text, /^event: connected\n/);
    assert.match(text, /\nid: \d+-0\nevent: create\ndata: \{/);
    assert.ok(!text.endsWith("\n\n"), "the last frame should be cut");
    assert.equal(sim.control.connections().length, 0);
  } finally {
    await sim.close();
  }
});

Deno.test("OpenCtiStore gives Redis-style ids that strictly increase, also within one millisecond", () => {
  const store = new OpenCtiStore({ now: () => 1718003600123 });
  const ids = [1, 2, 3].map((n) => store.upsert(indicator(`6.0.0.${n}`)).event.id);
  assert.deepEqual(ids, ["1718003600123-0", "1718003600123-1", "1718003600123-2"]);
  let time = 1718003600200;
  const moving = new OpenCtiStore({ now: () => time-- });
  const a = moving.upsert(indicator("6.0.1.1")).event.id;
  const b = moving.upsert(indicator("6.0.1.2")).event.id;
  assert.ok(compareEventIds(b, a) > 0, `${b} should follow ${a} even when the clock goes back`);
  assert.ok(compareEventIds("1718003600123-10", "1718003600123-9") > 0);
});

Deno.test("OpenCtiStore.upsert() moves x_opencti_* into the OpenCTI extension and records update patches", () => {
  const store = new OpenCtiStore({ now: () => 1718003600123 });
  const original = indicator("7.0.0.1", {
    x_opencti_score: 80,
    x_opencti_detection: true,
    x_opencti_stix_ids: ["indicator--00000000-0000-4000-8000-000000000001"],
  });
  const { event, created } = store.upsert(original);
  assert.equal(created, true);
  assert.equal(event.event, "create");
  assert.equal(event.data.x_opencti_score, undefined);
  const ext = extensionOf(event.data)!;
  assert.equal(ext.extension_type, "property-extension");
  assert.equal(ext.type, "Indicator");
  assert.equal(ext.score, 80);
  assert.equal(ext.detection, true);
  assert.equal(ext.main_observable_type, "IPv4-Addr");
  assert.deepEqual(ext.observable_values, [{ type: "IPv4-Addr", value: "7.0.0.1" }]);
  assert.equal(ext.created_at, "2024-06-10T07:13:20.123Z");
  assert.equal(store.get("indicator--00000000-0000-4000-8000-000000000001")?.id, original.id);
  assert.equal(store.get(String(ext.id))?.id, original.id);

  const update = store.upsert({ ...original, x_opencti_score: 90 });
  assert.equal(update.created, false);
  assert.equal(update.event.event, "update");
  const patch = update.event.context?.patch as Record<string, unknown>[];
  assert.deepEqual(
    patch.find((op) => String(op.path).endsWith("/score")),
    { op: "replace", path: `/extensions/${OPENCTI_EXTENSION}/score`, value: 90 },
  );
  assert.equal(extensionOf(update.event.before!)?.score, 80);
  assert.equal(extensionOf(update.event.data)?.id, ext.id);

  const removal = store.remove(original.id);
  assert.equal(removal?.event, "delete");
  assert.equal(store.get(original.id), undefined);
  assert.equal(store.remove(original.id), undefined);
});

Deno.test("seedIndicators() covers every mapped observable type and the edge cases", async () => {
  const seeds = await seedIndicators();
  const store = new OpenCtiStore({ now: () => Date.parse("2024-06-10T07:13:20.000Z") });
  for (const seed of seeds) store.upsert(seed);
  const types = new Set<string>();
  for (const object of store.list("indicator")) {
    const values = extensionOf(object)?.observable_values;
    if (!Array.isArray(values)) continue;
    for (const value of values as Record<string, unknown>[]) {
      types.add(
        value.type === "StixFile"
          ? `StixFile:${Object.keys(value.hashes as object)[0]}`
          : String(value.type),
      );
    }
  }
  for (
    const expected of [
      "IPv4-Addr",
      "IPv6-Addr",
      "Domain-Name",
      "Hostname",
      "Url",
      "Email-Addr",
      "StixFile:MD5",
      "StixFile:SHA-1",
      "StixFile:SHA-256",
    ]
  ) assert.ok(types.has(expected), `missing ${expected}`);
  const patternTypes = new Set(seeds.map((s) => s.pattern_type));
  assert.ok(patternTypes.has("sigma") && patternTypes.has("yara"));
  assert.ok(seeds.some((s) => String(s.pattern).includes("] OR [")));
  assert.ok(
    seeds.some((s) => String(s.pattern).includes("?") && String(s.pattern).includes("\\'")),
  );
  assert.ok(seeds.some((s) => s.revoked === true));
  assert.ok(seeds.some((s) => Date.parse(String(s.valid_until)) < Date.parse("2024-06-10")));
  const ipv4 = seeds.find((s) => s.pattern === "[ipv4-addr:value = '1.2.3.4']");
  assert.equal(ipv4?.id, "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861");
});

Deno.test("generateIndicators() is deterministic per seed and yields distinct indicators", async () => {
  const a = await generateIndicators(500, 42);
  const b = await generateIndicators(500, 42);
  const c = await generateIndicators(500, 43);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(new Set(a.map((i) => i.id)).size, 500);
  assert.ok(a.every((i) => i.type === "indicator" && typeof i.pattern === "string"));
});

Deno.test("generateIndicators() writes well-formed, distinct IPv6 addresses past index 65,535", async () => {
  const generated = await generateIndicators(70_000, 5);
  const ipv6 = generated.flatMap((i) => {
    const match = /^\[ipv6-addr:value = '([^']+)'\]$/.exec(String(i.pattern));
    return match ? [match[1] as string] : [];
  });
  assert.ok(ipv6.length > 3_000, `${ipv6.length} IPv6 indicators`);
  // Eight groups of at most four hex digits once `::` is expanded (RFC 4291 §2.2).
  const groups = (address: string) => {
    const [head = "", tail = ""] = address.split("::");
    const h = head === "" ? [] : head.split(":");
    const t = tail === "" ? [] : tail.split(":");
    return [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  };
  const bad = ipv6.filter((a) => {
    const g = groups(a);
    return (a.match(/::/g) ?? []).length !== 1 || g.length !== 8 ||
      !g.every((x) => /^[0-9a-f]{1,4}$/.test(x));
  });
  assert.deepEqual(bad.slice(0, 3), []);
  const expanded = new Set(ipv6.map((a) => groups(a).map((x) => parseInt(x, 16)).join(":")));
  assert.equal(expanded.size, ipv6.length);
});
