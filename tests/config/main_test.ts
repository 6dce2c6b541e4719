/** main.ts run as a subprocess with a cleared environment. */
import assert from "node:assert/strict";
import { assertNoSecret, bothEnv, runMain, sentinelEnv } from "./helpers.ts";

Deno.test("main.ts exits 2 and says what to set when no connector is configured", async () => {
  const run = await runMain([], {});
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /no connector is configured; set CONNECTORS=sentinel/);
  assert.match(run.stderr, /TANIUM_INCIDENTS_URL/);
  assert.match(run.stderr, /OPENCTI_URL \(opencti\.url\): required/);
});

Deno.test("main.ts --check-config exits 0 on a valid environment and names the connectors", async () => {
  const run = await runMain(["--check-config"], bothEnv());
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), "configuration is valid: sentinel, tanium-incidents");
  assertNoSecret(run.stdout + run.stderr);
});

Deno.test("main.ts --check-config exits 2 and lists every problem on stderr", async () => {
  const run = await runMain(
    ["--check-config"],
    sentinelEnv({ CONFIDENCE_LEVEL: "x", EXPIRE_TIME: "-1" }),
  );
  assert.equal(run.code, 2);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /Fix the configuration \(2 problems\)/);
  assert.match(run.stderr, /CONFIDENCE_LEVEL \(sentinel\.confidence_level\)/);
  assert.match(run.stderr, /EXPIRE_TIME \(sentinel\.expire_time\)/);
  assertNoSecret(run.stderr);
});

Deno.test("main.ts --print-config prints YAML and JSON without any secret", async () => {
  const env = bothEnv({ SERVER_ADMIN_TOKEN: "Zq9-ADMIN-s3cret-token-long" });
  const yaml = await runMain(["--print-config"], env);
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.match(yaml.stdout, /token: "\[REDACTED\]"/);
  assertNoSecret(yaml.stdout + yaml.stderr);
  const json = await runMain(["--print-config=json"], env);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.opencti.token, "[REDACTED]");
  assert.equal(parsed.server.adminToken, "[REDACTED]");
  assertNoSecret(json.stdout + json.stderr);
});

Deno.test("main.ts reads the file named by --config", async () => {
  const dir = await Deno.makeTempDir({ prefix: "octi-config-" });
  try {
    const file = `${dir}/config.yml`;
    await Deno.writeTextFile(
      file,
      "opencti:\n  url: http://opencti.test\n  token: Zq9-OPENCTI-s3cret-token\n" +
        "connectors: [sentinel]\nconnector:\n  id: 11111111-2222-4333-8444-555555555555\n" +
        "sentinel:\n  tenant_id: contoso.onmicrosoft.com\n" +
        "  client_id: 33333333-4444-4555-8666-777777777777\n  client_secret: Zq9-CLIENT-s3cret-value\n",
    );
    const run = await runMain(["--config", file, "--check-config"], {});
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), "configuration is valid: sentinel");
    const missing = await runMain(["--config", `${dir}/nope.yml`], {});
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--config .*nope\.yml: cannot read it: the file does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts rejects bad arguments with status 2 and prints help with status 0", async () => {
  const bad = await runMain(["--nope"], {});
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unknown option "--nope"; see --help/);
  const help = await runMain(["--help"], {});
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--check-config/);
});

Deno.test("main.ts --healthcheck exits 0 only when /readyz answers 200", async () => {
  let status = 200;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(null, { status }),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/readyz`;
    assert.equal((await runMain(["--healthcheck", url], {})).code, 0);
    status = 503;
    const failing = await runMain(["--healthcheck", url], {});
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /answered 503/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("main.ts --print-config-schema prints the JSON Schema without needing a configuration", async () => {
  const run = await runMain(["--print-config-schema=sentinel"], {});
  assert.equal(run.code, 0, run.stderr);
  const schema = JSON.parse(run.stdout);
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.equal(schema.properties.CONFIDENCE_LEVEL.default, 50);
  const wrong = await runMain(["--print-config-schema=splunk"], {});
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--print-config-schema takes sentinel or tanium-incidents/);
});
