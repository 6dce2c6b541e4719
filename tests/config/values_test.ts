import assert from "node:assert/strict";
import * as val from "../../src/config/values.ts";

function ok<T>(schema: val.ValueSchema<T>, input: unknown): T | string {
  const result = val.readValue(schema, input);
  return result.ok ? result.value : `invalid: ${result.message}`;
}

function isInvalid(output: unknown): boolean {
  return typeof output === "string" && output.startsWith("invalid: ");
}

Deno.test("boolean() reads true/false, yes/no and 1/0 in any case, and rejects the rest", () => {
  const cases: [unknown, boolean | "invalid"][] = [
    ["true", true],
    ["TRUE", true],
    ["True", true],
    [" yes ", true],
    ["YES", true],
    ["1", true],
    [true, true],
    [1, true],
    ["false", false],
    ["False", false],
    ["no", false],
    ["NO", false],
    ["0", false],
    [false, false],
    [0, false],
    ["maybe", "invalid"],
    ["2", "invalid"],
    ["", "invalid"],
    [["true"], "invalid"],
  ];
  for (const [input, expected] of cases) {
    const output = ok(val.boolean(), input);
    if (expected === "invalid") assert.deepEqual(isInvalid(output), true, `input ${input}`);
    else assert.deepEqual(output, expected, `input ${JSON.stringify(input)}`);
  }
});

Deno.test("integer() turns environment strings into numbers within bounds", () => {
  const schema = val.integer(0, 100);
  const cases: [unknown, number | "invalid"][] = [
    ["80", 80],
    [" 80 ", 80],
    ["+5", 5],
    ["0", 0],
    ["100", 100],
    [42, 42],
    ["101", "invalid"],
    ["-1", "invalid"],
    ["8.5", "invalid"],
    ["1e2", "invalid"],
    ["eighty", "invalid"],
    ["", "invalid"],
    [true, "invalid"],
  ];
  for (const [input, expected] of cases) {
    const output = ok(schema, input);
    if (expected === "invalid") assert.deepEqual(isInvalid(output), true, `input ${input}`);
    else assert.deepEqual(output, expected, `input ${JSON.stringify(input)}`);
  }
  assert.deepEqual(ok(val.integer(1), "99999999"), 99999999);
  assert.deepEqual(isInvalid(ok(val.integer(1), "99999999999999999999")), true);
});

Deno.test("parseUtcDate() reads dates without a zone as UTC", () => {
  const cases: [string, string | undefined][] = [
    ["2024-01-15", "2024-01-15T00:00:00.000Z"],
    ["2024-01-15T10:20", "2024-01-15T10:20:00.000Z"],
    ["2024-01-15T10:20:30", "2024-01-15T10:20:30.000Z"],
    ["2024-01-15 10:20:30", "2024-01-15T10:20:30.000Z"],
    ["2024-01-15T10:20:30.123456", "2024-01-15T10:20:30.123Z"],
    ["2024-01-15T10:20:30Z", "2024-01-15T10:20:30.000Z"],
    ["2023-10-16T12:26:51+00:00", "2023-10-16T12:26:51.000Z"],
    ["2024-01-15T10:20:30+02:00", "2024-01-15T08:20:30.000Z"],
    ["2024-01-15T10:20:30-0500", "2024-01-15T15:20:30.000Z"],
    ["2024-02-29", "2024-02-29T00:00:00.000Z"],
    ["2023-02-29", undefined],
    ["2024-13-01", undefined],
    ["2024-15-01", undefined],
    ["15/01/2024", undefined],
    ["2024-1-5", undefined],
    ["yesterday", undefined],
    ["", undefined],
  ];
  for (const [input, expected] of cases) {
    assert.deepEqual(val.parseUtcDate(input), expected, input);
  }
});

Deno.test("dateOrFalse() reads a recovery date or false/no/none", () => {
  assert.deepEqual(ok(val.dateOrFalse(), "2024-01-15"), "2024-01-15T00:00:00.000Z");
  assert.deepEqual(ok(val.dateOrFalse(), "None"), false);
  assert.deepEqual(ok(val.dateOrFalse(), false), false);
  assert.deepEqual(ok(val.dateOrFalse(), "no"), false);
  assert.deepEqual(isInvalid(ok(val.dateOrFalse(), "later")), true);
});

Deno.test("duration() accepts ISO-8601 periods and 0, and rejects other texts", () => {
  assert.deepEqual(ok(val.duration(), "PT1H"), { text: "PT1H", ms: 3_600_000 });
  assert.deepEqual(ok(val.duration(), "P1D"), { text: "P1D", ms: 86_400_000 });
  assert.deepEqual(ok(val.duration(), "PT30M"), { text: "PT30M", ms: 1_800_000 });
  assert.deepEqual(ok(val.duration(), "0"), { text: "0", ms: 0 });
  for (const bad of ["1h", "P", "PT", "every hour", "3600"]) {
    assert.deepEqual(isInvalid(ok(val.duration(), bad)), true, bad);
  }
});

Deno.test("oneOf() matches without case and maps aliases", () => {
  const level = val.oneOf(["debug", "info", "warn", "error"] as const, { warning: "warn" });
  assert.deepEqual(ok(level, "WARNING"), "warn");
  assert.deepEqual(ok(level, "Info"), "info");
  assert.deepEqual(
    ok(level, "verbose"),
    'invalid: expected "debug", "info", "warn" or "error"',
  );
  const product = val.oneOf(["Azure Sentinel", "Microsoft Defender ATP"] as const);
  assert.deepEqual(ok(product, "azure sentinel"), "Azure Sentinel");
  assert.deepEqual(isInvalid(ok(product, "Microsoft Sentinel")), true);
});

Deno.test("httpUrl() keeps http(s) URLs without a trailing slash and rejects others", () => {
  assert.deepEqual(
    ok(val.httpUrl(), "https://opencti.example.com/"),
    "https://opencti.example.com",
  );
  assert.deepEqual(ok(val.httpUrl(), "http://localhost:8080"), "http://localhost:8080");
  assert.deepEqual(ok(val.httpUrl(), "https://x.example/base//"), "https://x.example/base");
  for (const bad of ["localhost:8080", "ftp://x.example", "https://", "not a url", 5]) {
    assert.deepEqual(isInvalid(ok(val.httpUrl(), bad)), true, String(bad));
  }
});

Deno.test("list() splits comma lists and reads YAML lists", () => {
  assert.deepEqual(ok(val.list(), "a, b,,c "), ["a", "b", "c"]);
  assert.deepEqual(ok(val.list(), ["a", " b ", 3]), ["a", "b", "3"]);
  assert.deepEqual(ok(val.list(), ""), []);
  assert.deepEqual(isInvalid(ok(val.list(), { a: 1 })), true);
});

Deno.test("uuid() and tenant() accept GUIDs and domains, and reject placeholders", () => {
  const id = "8F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9";
  assert.deepEqual(ok(val.uuid(), id), id.toLowerCase());
  assert.deepEqual(isInvalid(ok(val.uuid(), "ChangeMe")), true);
  assert.deepEqual(ok(val.tenant(), "contoso.onmicrosoft.com"), "contoso.onmicrosoft.com");
  assert.deepEqual(ok(val.tenant(), id), id.toLowerCase());
  for (const bad of ["common", "consumers", "ChangeMe", "a b.com"]) {
    assert.deepEqual(isInvalid(ok(val.tenant(), bad)), true, bad);
  }
});

Deno.test("serveAddress() reads host:port and tcp:host:port as DENO_SERVE_ADDRESS gives them", () => {
  assert.deepEqual(ok(val.serveAddress(), "tcp:0.0.0.0:8000"), { host: "0.0.0.0", port: 8000 });
  assert.deepEqual(ok(val.serveAddress(), "127.0.0.1:9000"), { host: "127.0.0.1", port: 9000 });
  assert.deepEqual(ok(val.serveAddress(), "tcp:[::1]:80"), { host: "::1", port: 80 });
  for (const bad of ["unix:/tmp/sock", "8080", "host:99999", "tcp:host"]) {
    assert.deepEqual(isInvalid(ok(val.serveAddress(), bad)), true, bad);
  }
});

Deno.test("cron() accepts five-field schedules only", () => {
  assert.deepEqual(ok(val.cron(), "*/15  * * * *"), "*/15 * * * *");
  assert.deepEqual(ok(val.cron(), "0 3 * * 1-5"), "0 3 * * 1-5");
  for (const bad of ["* * * *", "every hour", "0 0 * * * *"]) {
    assert.deepEqual(isInvalid(ok(val.cron(), bad)), true, bad);
  }
});
