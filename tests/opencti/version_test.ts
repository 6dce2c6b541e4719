import assert from "node:assert/strict";
import {
  atLeast,
  comparePlatformVersions,
  parsePlatformVersion,
  pushProtocolFor,
} from "../../src/opencti/version.ts";
import { OpenCtiVersionError } from "../../src/opencti/errors.ts";
import { withSim } from "./helpers.ts";

Deno.test("parsePlatformVersion() reads the 5.x, 6.x, 7.x date-based and pre-release forms", () => {
  assert.deepEqual(parsePlatformVersion("5.12.33"), {
    major: 5,
    minor: 12,
    patch: 33,
    prerelease: undefined,
  });
  assert.deepEqual(parsePlatformVersion("6.8.10"), {
    major: 6,
    minor: 8,
    patch: 10,
    prerelease: undefined,
  });
  assert.deepEqual(parsePlatformVersion("7.261026.0"), {
    major: 7,
    minor: 261026,
    patch: 0,
    prerelease: undefined,
  });
  assert.deepEqual(parsePlatformVersion("6.3.0-rc1"), {
    major: 6,
    minor: 3,
    patch: 0,
    prerelease: "rc1",
  });
  assert.deepEqual(parsePlatformVersion("6.3.0-RC.2"), {
    major: 6,
    minor: 3,
    patch: 0,
    prerelease: "rc.2",
  });
  assert.deepEqual(parsePlatformVersion("6.3"), {
    major: 6,
    minor: 3,
    patch: 0,
    prerelease: undefined,
  });
  assert.equal(parsePlatformVersion("latest"), undefined);
  assert.equal(parsePlatformVersion(""), undefined);
});

Deno.test("comparePlatformVersions() orders numbers, then a pre-release before its release", () => {
  const sorted = ["7.261026.0", "6.3.0", "5.12.33", "6.3.0-rc2", "6.2.12", "6.3.0-rc10", "5.10.3"]
    .sort(comparePlatformVersions);
  assert.deepEqual(sorted, [
    "5.10.3",
    "5.12.33",
    "6.2.12",
    "6.3.0-rc2",
    "6.3.0-rc10",
    "6.3.0",
    "7.261026.0",
  ]);
});

Deno.test("atLeast() gates features on numbers: a 6.3.0 pre-release already has 6.3.0's schema", () => {
  assert.equal(atLeast("6.3.0-rc1", "6.3.0"), true);
  assert.equal(atLeast("6.2.12", "6.3.0"), false);
  assert.equal(atLeast("7.261026.0", "6.8.9"), true);
  assert.equal(atLeast("5.12.33", "5.12.0"), true);
});

Deno.test("pushProtocolFor() picks api from 6.3, amqp below, and refuses api below 6.3 naming the fix", () => {
  assert.deepEqual(pushProtocolFor("6.3.0", "auto"), { protocol: "api" });
  assert.deepEqual(pushProtocolFor("7.261026.0", "auto"), { protocol: "api" });
  assert.deepEqual(pushProtocolFor("6.2.12", "auto"), { protocol: "amqp" });
  assert.deepEqual(pushProtocolFor("5.12.33", "auto"), { protocol: "amqp" });
  assert.deepEqual(pushProtocolFor("6.8.10", "amqp"), { protocol: "amqp" });
  const refused = pushProtocolFor("6.2.5", "api");
  assert.ok("refused" in refused);
  assert.match(refused.refused, /OpenCTI 6\.2\.5 has no stixBundlePush/);
  assert.match(refused.refused, /CONNECTOR_QUEUE_PROTOCOL/);
});

Deno.test("checkVersion() reads the version once and names what needs the newer platform", async () => {
  await withSim(async ({ client, sim }) => {
    await assert.rejects(
      () => client.checkVersion("5.10.3", undefined, "the sentinel stream connector"),
      (error: unknown) =>
        error instanceof OpenCtiVersionError &&
        /runs 5\.9\.0; this program needs 5\.10\.3 or later \(the sentinel stream connector\)/
          .test(error.message),
    );
    assert.equal(await client.checkVersion("5.0.0"), "5.9.0");
    const abouts = sim.control.graphql.calls.filter((call) => call.fields.includes("about"));
    assert.equal(abouts.length, 1);
  }, { version: "5.9.0" });
});
