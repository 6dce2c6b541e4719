import assert from "node:assert/strict";
import { reset } from "@logtape/logtape";
import { getLogger, type LoggingOptions, redactText, setupLogging } from "../../src/log.ts";

const CLIENT_SECRET = 'Qx8~s3cr"et\\Value_42';
const OPENCTI_TOKEN = "d5c9a4f0-1f4e-4a44-9c1b-8f2ad4a0e9b1";
const JWT =
  "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjb25uZWN0b3IiLCJhdWQiOiJncmFwaCJ9.c2lnbmF0dXJlLXBhcnQ";

/** Runs `body` with logging captured into lines, then resets logtape. */
async function capture(
  options: LoggingOptions,
  body: () => void,
): Promise<string[]> {
  const lines: string[] = [];
  await setupLogging({ format: "json", ...options, write: (line) => lines.push(line) });
  try {
    body();
  } finally {
    await reset();
  }
  return lines;
}

Deno.test("JSON log lines carry the connector name, level and message", async () => {
  const lines = await capture({}, () => {
    getLogger("tanium-incidents").info("Pushed {count} objects", { count: 12 });
  });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.endsWith("\n"));
  const record = JSON.parse(lines[0]!);
  assert.equal(record.level, "INFO");
  assert.equal(record.message, "Pushed 12 objects");
  assert.equal(record.properties.connector, "tanium-incidents");
  assert.equal(record.properties.count, 12);
});

Deno.test("setupLogging() honours the level, including 'warn'", async () => {
  const lines = await capture({ level: "warn" }, () => {
    const logger = getLogger("sentinel");
    logger.debug("debug line");
    logger.info("info line");
    logger.warn("warn line");
    logger.error("error line");
  });
  assert.deepEqual(lines.map((line) => JSON.parse(line).message), ["warn line", "error line"]);
});

Deno.test("log lines never show secret fields, bearer tokens, JWTs or configured secrets", async () => {
  const lines = await capture({ secrets: [CLIENT_SECRET, OPENCTI_TOKEN] }, () => {
    const logger = getLogger("sentinel");
    logger.info("Token request with {client_secret}", { client_secret: CLIENT_SECRET });
    logger.info("Calling with {authorization}", { authorization: `Bearer ${OPENCTI_TOKEN}` });
    logger.warn("Request failed: {error}", {
      error: `401 for header Authorization: Bearer ${JWT} (secret was ${CLIENT_SECRET})`,
    });
    logger.error("Failed: {error}", { error: new Error(`token ${OPENCTI_TOKEN} refused`) });
    logger.info("Nested {config}", {
      config: {
        sentinel: { tenant_id: "t-1", client_secret: CLIENT_SECRET },
        password: "pw-123456",
      },
    });
    logger.info("Assertion {detail}", { detail: { client_assertion: JWT, apiKey: "k-123456" } });
    logger.info(`Raw text with ${OPENCTI_TOKEN} and ${encodeURIComponent(CLIENT_SECRET)}`);
  });
  assert.equal(lines.length, 7);
  const all = lines.join("");
  for (const secret of [CLIENT_SECRET, OPENCTI_TOKEN, JWT, "pw-123456", "k-123456"]) {
    assert.ok(!all.includes(secret), `no ${secret} in the log`);
    assert.ok(!all.includes(JSON.stringify(secret).slice(1, -1)), `no escaped ${secret}`);
    assert.ok(!all.includes(encodeURIComponent(secret)), `no URL-encoded ${secret}`);
  }
  assert.ok(!all.includes("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"), "no JWT header segment");
  const records = lines.map((line) => JSON.parse(line));
  assert.equal(records[0].properties.client_secret, "[REDACTED]");
  assert.equal(records[1].properties.authorization, "[REDACTED]");
  assert.match(records[2].properties.error, /Bearer \[REDACTED\]/);
  assert.equal(records[4].properties.config.sentinel.client_secret, "[REDACTED]");
  assert.equal(records[4].properties.config.sentinel.tenant_id, "t-1");
  assert.equal(records[4].properties.config.password, "[REDACTED]");
  for (const record of records) assert.equal(record.properties.connector, "sentinel");
});

Deno.test("text format lines are redacted too", async () => {
  const lines = await capture({ format: "text", secrets: [OPENCTI_TOKEN] }, () => {
    getLogger("sentinel").warn(`refused ${OPENCTI_TOKEN} and Bearer abc.def`);
  });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes(OPENCTI_TOKEN));
  assert.ok(!lines[0]!.includes("abc.def"));
  assert.match(lines[0]!, /WRN/);
});

Deno.test("redactText() masks bearer tokens, JWTs and given secrets in any text", () => {
  const text = `Authorization: Bearer ${OPENCTI_TOKEN}; id_token=${JWT}; secret=${CLIENT_SECRET}`;
  const masked = redactText(text, [CLIENT_SECRET]);
  assert.ok(!masked.includes(OPENCTI_TOKEN));
  assert.ok(!masked.includes(JWT));
  assert.ok(!masked.includes(CLIENT_SECRET));
  assert.match(
    masked,
    /^Authorization: Bearer \[REDACTED\]; id_token=\[JWT REDACTED\]; secret=\[REDACTED\]$/,
  );
  assert.equal(redactText("short abc", ["abc"]), "short abc"); // values under 4 characters are ignored
});
