import assert from "node:assert/strict";
import {
  compareVersions,
  OpenCtiAuthError,
  OpenCtiClient,
  OpenCtiGraphqlError,
  OpenCtiVersionError,
  readGraphqlError,
} from "../../src/opencti/mod.ts";
import { CONNECTOR_ID, withSim } from "./helpers.ts";
import * as v from "valibot";

const PING =
  `mutation Ping($id: ID!, $state: String) { pingConnector(id: $id, state: $state) { id } }`;

Deno.test("about() returns the simulated platform version", async () => {
  await withSim(async ({ client }) => {
    assert.deepEqual(await client.about(), { version: "6.8.10" });
    assert.equal(client.version, "6.8.10");
  });
});

Deno.test("checkVersion() refuses platforms older than 6.3 with a clear message", async () => {
  await withSim(async ({ client }) => {
    await assert.rejects(
      () => client.checkVersion("6.3.0"),
      (error: unknown) =>
        error instanceof OpenCtiVersionError &&
        /runs 6\.2\.5; .*needs 6\.3\.0 or later/.test(error.message),
    );
  }, { version: "6.2.5" });
});

Deno.test("checkVersion() accepts 6.3.0 and newer", async () => {
  await withSim(async ({ client }) => {
    assert.equal(await client.checkVersion("6.3.0"), "6.3.0");
  }, { version: "6.3.0" });
});

Deno.test("a rejected token becomes an OpenCtiAuthError naming OPENCTI_TOKEN", async () => {
  await withSim(async ({ client, sim }) => {
    await assert.rejects(
      () => client.about(),
      (error: unknown) =>
        error instanceof OpenCtiAuthError &&
        error.message.startsWith("OPENCTI_TOKEN was rejected by") &&
        error.message.includes(sim.url) && error.message.includes("You must be logged in"),
    );
    assert.equal(sim.control.graphql.calls.at(-1)?.status, 200);
  }, { token: "wrong-token" });
});

Deno.test("HTTP 401 becomes an OpenCtiAuthError and is not retried", async () => {
  await withSim(async ({ client, sim, sleeps }) => {
    sim.control.graphql.injectFailure({ status: 401 });
    await assert.rejects(
      () => client.about(),
      (error: unknown) =>
        error instanceof OpenCtiAuthError &&
        /OPENCTI_TOKEN was rejected .*HTTP 401/.test(error.message),
    );
    assert.deepEqual(sleeps, []);
  });
});

Deno.test("a 5xx is retried with backoff and the call then succeeds", async () => {
  await withSim(async ({ client, sim, sleeps }) => {
    sim.control.graphql.injectFailure({ field: "about", status: 502, times: 2 });
    assert.deepEqual(await client.about(), { version: "6.8.10" });
    assert.deepEqual(sleeps, [250, 500]); // full jitter at random 0.5 of 500 ms then 1000 ms
    assert.deepEqual(sim.control.graphql.calls.map((c) => c.status), [502, 502, 200]);
  });
});

Deno.test("a network error is retried", async () => {
  let attempts = 0;
  const client = new OpenCtiClient({
    url: "http://opencti.invalid",
    token: "t",
    fetch: (_input, _init) => {
      attempts++;
      if (attempts === 1) return Promise.reject(new TypeError("connection refused"));
      return Promise.resolve(Response.json({ data: { about: { version: "6.5.0" } } }));
    },
    sleep: () => Promise.resolve(),
  });
  assert.deepEqual(await client.about(), { version: "6.5.0" });
  assert.equal(attempts, 2);
});

Deno.test("a GraphQL error becomes an OpenCtiGraphqlError with the platform's name and reason", async () => {
  for (const layout of ["classic", "modern", "combined"] as const) {
    await withSim(async ({ client }) => {
      await assert.rejects(
        () => client.request(PING, v.unknown(), { variables: { id: CONNECTOR_ID, state: "null" } }),
        (error: unknown) =>
          error instanceof OpenCtiGraphqlError &&
          error.reason === "No connector found with the specified ID" &&
          error.errorName === (layout === "modern" ? "FUNCTIONAL_ERROR" : "FunctionalError") &&
          error.operation === "pingConnector",
      );
    }, { errorLayout: layout });
  }
});

Deno.test("an unknown field is refused by the simulator and surfaces as a validation error", async () => {
  await withSim(async ({ client }) => {
    await assert.rejects(
      () => client.request("query { about { version codename } }", v.unknown()),
      (error: unknown) =>
        error instanceof OpenCtiGraphqlError && error.errorName === "GRAPHQL_VALIDATION_FAILED" &&
        error.reason === 'Cannot query field "codename" on type "AppInfo".',
    );
  });
});

Deno.test("readGraphqlError() reads both error layouts and the inner reason", () => {
  assert.deepEqual(
    readGraphqlError({
      message: "Unsupported operation",
      name: "UnsupportedError",
      data: { reason: "Invalid bundle", cause: "Invalid connector" },
    }),
    { name: "UnsupportedError", reason: "Invalid bundle", detail: "Invalid connector" },
  );
  assert.deepEqual(
    readGraphqlError({ message: "Invalid bundle", extensions: { code: "UNSUPPORTED_ERROR" } }),
    { name: "UNSUPPORTED_ERROR", reason: "Invalid bundle", detail: undefined },
  );
  assert.deepEqual(readGraphqlError("garbage"), {
    name: "Unknown error",
    reason: "Unknown error",
    detail: undefined,
  });
});

Deno.test("compareVersions() compares numerically, not as text", () => {
  assert.ok(compareVersions("6.10.0", "6.9.9") > 0);
  assert.ok(compareVersions("6.2.12", "6.3") < 0);
  assert.equal(compareVersions("6.3", "6.3.0"), 0);
});
