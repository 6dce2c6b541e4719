import assert from "node:assert/strict";
import { parseArgs, USAGE, UsageError } from "../../src/cli.ts";

const DEFAULTS = { help: false, checkConfig: false, demo: false, once: false };

Deno.test("parseArgs() returns the defaults for no arguments", () => {
  assert.deepEqual(parseArgs([]), DEFAULTS);
});

Deno.test("parseArgs() reads every flag in its separate and inline forms", () => {
  const cases: [string[], Record<string, unknown>][] = [
    [["--help"], { help: true }],
    [["-h"], { help: true }],
    [["--config", "c.yml"], { config: "c.yml" }],
    [["--config=/etc/octi/config.yml"], { config: "/etc/octi/config.yml" }],
    [["--check-config"], { checkConfig: true }],
    [["--print-config"], { printConfig: "yaml" }],
    [["--print-config=json"], { printConfig: "json" }],
    [["--print-config=YAML"], { printConfig: "yaml" }],
    [["--demo"], { demo: true }],
    [["--demo", "--target", "defender"], { demo: true, target: "defender" }],
    [["--target=Sentinel"], { target: "sentinel" }],
    [["--once"], { once: true }],
    [["--summary-json", "out.json"], { summaryJson: "out.json" }],
    [["--summary-json=out.json", "--once"], { summaryJson: "out.json", once: true }],
    [["--healthcheck"], { healthcheck: true }],
    [["--healthcheck", "http://127.0.0.1:8080/healthz"], {
      healthcheck: "http://127.0.0.1:8080/healthz",
    }],
    [["--healthcheck", "--config", "x.yml"], { healthcheck: true, config: "x.yml" }],
    [["--healthcheck=http://localhost:9/healthz"], { healthcheck: "http://localhost:9/healthz" }],
    [["--config", "a.yml", "--check-config", "--"], { config: "a.yml", checkConfig: true }],
  ];
  for (const [args, expected] of cases) {
    assert.deepEqual(parseArgs(args), { ...DEFAULTS, ...expected }, args.join(" "));
  }
});

Deno.test("parseArgs() rejects unknown, incomplete and conflicting arguments with a hint", () => {
  const cases: [string[], string][] = [
    [["--verbose"], 'Unknown option "--verbose"; see --help'],
    [["run"], 'Unexpected argument "run"; see --help'],
    [["--config"], "--config needs a value: write --config VALUE"],
    [["--config", "--once"], "--config needs a value: write --config VALUE"],
    [["--config="], "--config needs a value: write --config=VALUE"],
    [["--target", "splunk"], '--target takes graph, sentinel or defender, not "splunk"'],
    [["--print-config=xml"], '--print-config takes yaml or json, not "xml"'],
    [["--once=yes"], '--once takes no value; remove "=yes"'],
    [
      ["--healthcheck", "not a url"],
      '--healthcheck takes a URL such as http://127.0.0.1:8080/healthz, not "not a url"',
    ],
    [["--check-config", "--print-config"], "Use either --check-config or --print-config, not both"],
    [["--", "extra"], 'Unexpected argument "extra"; see --help'],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, message);
      return true;
    });
  }
});

Deno.test("USAGE documents every flag the parser accepts", () => {
  for (
    const flag of [
      "--config",
      "--check-config",
      "--print-config",
      "--demo",
      "--target",
      "--once",
      "--summary-json",
      "--healthcheck",
      "--help",
    ]
  ) {
    assert.ok(USAGE.includes(flag), flag);
  }
});

Deno.test("parseArgs() reads --print-config-schema with and without a connector name", () => {
  assert.deepEqual(parseArgs(["--print-config-schema"]), { ...DEFAULTS, printConfigSchema: true });
  assert.deepEqual(parseArgs(["--print-config-schema=sentinel"]), {
    ...DEFAULTS,
    printConfigSchema: "sentinel",
  });
});

Deno.test("parseArgs() reads --upstream-names for the demo, with or without its target", () => {
  assert.deepEqual(parseArgs(["--demo", "--upstream-names", "--target", "sentinel"]), {
    ...DEFAULTS,
    demo: true,
    upstreamNames: true,
    target: "sentinel",
  });
  for (
    const args of [["--demo", "--upstream-names=defender"], ["--upstream-names=Defender", "--demo"]]
  ) {
    assert.deepEqual(parseArgs(args), {
      ...DEFAULTS,
      demo: true,
      upstreamNames: true,
      target: "defender",
    }, args.join(" "));
  }
  assert.ok(USAGE.includes("--upstream-names"));
  const cases: [string[], string][] = [
    [
      ["--demo", "--upstream-names=splunk"],
      '--upstream-names takes graph, sentinel or defender, not "splunk"',
    ],
    [
      ["--demo", "--target", "graph", "--upstream-names=defender"],
      "--upstream-names=defender contradicts --target graph; keep one",
    ],
    [
      ["--demo", "--upstream-names=defender", "--target", "graph"],
      "--target graph contradicts --upstream-names=defender; keep one",
    ],
    [
      ["--upstream-names=sentinel"],
      "--upstream-names applies to the demo only: add --demo (a real run reads the upstream names from the environment by itself)",
    ],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, message);
      return true;
    });
  }
});
