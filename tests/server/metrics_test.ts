import assert from "node:assert/strict";
import { escapeLabelValue, MetricError, Metrics } from "../../src/metrics.ts";

interface Parsed {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** A strict reader of Prometheus text format 0.0.4, written from the format's description. */
function parse(text: string): Parsed {
  assert.ok(text.endsWith("\n"), "the exposition ends with a line feed");
  const parsed: Parsed = { help: new Map(), type: new Map(), samples: [] };
  for (const line of text.slice(0, -1).split("\n")) {
    let match = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (match) {
      parsed.help.set(match[1]!, match[2]!.replace(/\\n/g, "\n").replace(/\\\\/g, "\\"));
      continue;
    }
    match = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(
      line,
    );
    if (match) {
      assert.ok(!parsed.type.has(match[1]!), `one TYPE line for ${match[1]}`);
      parsed.type.set(match[1]!, match[2]!);
      continue;
    }
    match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a valid sample line: ${JSON.stringify(line)}`);
    const [, name, rawLabels = "", rawValue] = match;
    assert.ok(parsed.type.has(name!), `TYPE of ${name} comes before its samples`);
    const labels: Record<string, string> = {};
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
    let position = 0;
    while (position < rawLabels.length) {
      labelPattern.lastIndex = position;
      const label = labelPattern.exec(rawLabels);
      assert.ok(label, `valid labels: ${rawLabels}`);
      labels[label[1]!] = label[2]!.replace(
        /\\(["\\n])/g,
        (_, c: string) => (c === "n" ? "\n" : c),
      );
      position = labelPattern.lastIndex;
    }
    const value = rawValue === "+Inf"
      ? Infinity
      : rawValue === "-Inf"
      ? -Infinity
      : Number(rawValue);
    assert.ok(rawValue === "NaN" || !Number.isNaN(value), `a numeric value: ${rawValue}`);
    parsed.samples.push({ name: name!, labels, value });
  }
  return parsed;
}

Deno.test("Metrics declares pycti's metric names with their help texts and types", () => {
  const parsed = parse(new Metrics().render());
  const expected: [string, string, string][] = [
    ["bundles_sent_total", "counter", "Number of bundles sent"],
    ["records_sent_total", "counter", "Number of records (objects per bundle) sent"],
    ["runs_total", "counter", "Number of run"],
    ["ping_api_total", "counter", "Number of pings to the API"],
    ["ping_api_errors_total", "counter", "Number of errors when pinging the API"],
    ["errors_total", "counter", "Number of errors"],
    ["client_errors_total", "counter", "Number of client errors"],
    ["state", "gauge", "State of connector"],
    ["skipped_total", "counter", "Number of events or records skipped, by reason"],
  ];
  for (const [name, type, help] of expected) {
    assert.equal(parsed.type.get(name), type, name);
    assert.equal(parsed.help.get(name), help, name);
  }
  assert.deepEqual(parsed.samples, []);
});

Deno.test("Metrics.render() writes labelled samples that parse back to the same values", () => {
  const metrics = new Metrics();
  metrics.bundlesSent.inc({ connector: "tanium-incidents" });
  metrics.bundlesSent.inc({ connector: "tanium-incidents" }, 2);
  metrics.recordsSent.inc({ connector: "sentinel" }, 250);
  metrics.skipped.inc({ connector: "sentinel", reason: "unsupported pattern" });
  metrics.setState("sentinel", "running");
  const parsed = parse(metrics.render());
  assert.deepEqual(parsed.samples, [
    { name: "bundles_sent_total", labels: { connector: "tanium-incidents" }, value: 3 },
    { name: "records_sent_total", labels: { connector: "sentinel" }, value: 250 },
    { name: "state", labels: { connector: "sentinel", state: "idle" }, value: 0 },
    { name: "state", labels: { connector: "sentinel", state: "running" }, value: 1 },
    { name: "state", labels: { connector: "sentinel", state: "stopped" }, value: 0 },
    {
      name: "skipped_total",
      labels: { connector: "sentinel", reason: "unsupported pattern" },
      value: 1,
    },
  ]);
});

Deno.test("Metrics.setState() keeps exactly one state at 1", () => {
  const metrics = new Metrics();
  metrics.setState("sentinel", "running");
  metrics.setState("sentinel", "stopped");
  const ones = parse(metrics.render()).samples.filter((s) => s.name === "state" && s.value === 1);
  assert.deepEqual(ones.map((s) => s.labels.state), ["stopped"]);
});

Deno.test("Metrics escapes backslashes, quotes and line feeds in label values and help", () => {
  const metrics = new Metrics();
  const reason = 'bad "pattern" \\ here\nnext';
  metrics.skipped.inc({ connector: "sentinel", reason });
  metrics.gauge("queue_depth", "Items\nwaiting \\ now").set({}, 4);
  const text = metrics.render();
  assert.match(text, /reason="bad \\"pattern\\" \\\\ here\\nnext"/);
  const parsed = parse(text);
  assert.equal(parsed.samples.find((s) => s.name === "skipped_total")?.labels.reason, reason);
  assert.equal(parsed.help.get("queue_depth"), "Items\nwaiting \\ now");
  assert.deepEqual(parsed.samples.find((s) => s.name === "queue_depth"), {
    name: "queue_depth",
    labels: {},
    value: 4,
  });
  assert.equal(escapeLabelValue('a"b'), 'a\\"b');
});

Deno.test("Metrics renders special float values as Prometheus spells them", () => {
  const metrics = new Metrics();
  const gauge = metrics.gauge("odd", "Odd values", ["kind"]);
  gauge.set({ kind: "nan" }, NaN);
  gauge.set({ kind: "inf" }, Infinity);
  gauge.set({ kind: "ninf" }, -Infinity);
  const text = metrics.render();
  assert.match(text, /^odd\{kind="nan"\} NaN$/m);
  assert.match(text, /^odd\{kind="inf"\} \+Inf$/m);
  assert.match(text, /^odd\{kind="ninf"\} -Inf$/m);
});

Deno.test("Metrics.counter() returns the existing metric for the same name and labels", () => {
  const metrics = new Metrics();
  const a = metrics.counter("events_total", "Events read", ["connector"]);
  const b = metrics.counter("events_total", "Events read", ["connector"]);
  assert.equal(a, b);
  a.inc({ connector: "sentinel" });
  assert.equal(b.get({ connector: "sentinel" }), 1);
});

Deno.test("Metrics refuses bad names, clashing types, missing labels and negative increments", () => {
  const metrics = new Metrics();
  assert.throws(() => metrics.counter("bad-name", "x"), MetricError);
  assert.throws(() => metrics.counter("ok_total", "x", ["bad-label"]), MetricError);
  assert.throws(() => metrics.counter("ok_total", "x", ["__reserved"]), MetricError);
  assert.throws(() => metrics.gauge("runs_total", "x", ["connector"]), /already registered/);
  assert.throws(() => metrics.counter("runs_total", "x", ["other"]), /already registered/);
  assert.throws(() => metrics.runs.inc({ connector: "sentinel" }, -1), /cannot go down/);
  assert.throws(() => metrics.runs.inc({} as { connector: string }), /needs a value/);
});
