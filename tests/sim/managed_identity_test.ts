/**
 * The managed identity simulator answers like the documented services: IMDS (how-to-use-vm-token,
 * "Error handling") and App Service (overview-managed-identity, "REST endpoint reference").
 */
import assert from "node:assert/strict";
import { createEntraSimApp } from "../../src/sim/entra.ts";
import {
  APP_SERVICE_PATH,
  createManagedIdentitySimApp,
  IMDS_PATH,
  type ManagedIdentitySimApp,
} from "../../src/sim/managed_identity.ts";

const TENANT = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const SYSTEM = "5d0c1b2a-3f4e-4d5c-8b6a-7f8e9d0c1b2a";
const USER = "0e1d2c3b-4a59-4867-9564-738291a0b1c2";
const NOW = Date.parse("2026-03-01T00:00:00Z");
const GRAPH = encodeURIComponent("https://graph.microsoft.com");

function sim(withSystem = true): ManagedIdentitySimApp {
  const entra = createEntraSimApp({ now: () => NOW });
  return createManagedIdentitySimApp({
    entra,
    tenantId: TENANT,
    now: () => NOW,
    identityHeader: "header-value",
    ...(withSystem ? { systemAssigned: { clientId: SYSTEM } } : {}),
    userAssigned: [{ clientId: USER }],
  });
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return await response.json() as Record<string, unknown>;
}

const imds = (query: string, headers: Record<string, string> = { metadata: "true" }) => ({
  path: `${IMDS_PATH}?${query}`,
  init: { headers },
});

Deno.test("IMDS sim: 200 carries expires_in and expires_on as strings of epoch seconds", async () => {
  const { path, init } = imds(`api-version=2018-02-01&resource=${GRAPH}`);
  const response = await sim().app.request(path, init);
  assert.equal(response.status, 200);
  const body = await json(response);
  assert.equal(body["token_type"], "Bearer");
  assert.equal(body["resource"], "https://graph.microsoft.com");
  assert.equal(body["expires_in"], "3599");
  assert.equal(body["expires_on"], String(NOW / 1000 + 3599));
  assert.equal(typeof body["access_token"], "string");
});

Deno.test("IMDS sim: no Metadata header is 400 bad_request_102", async () => {
  const { path, init } = imds(`api-version=2018-02-01&resource=${GRAPH}`, {});
  const response = await sim().app.request(path, init);
  assert.equal(response.status, 400);
  assert.deepEqual(await json(response), {
    error: "bad_request_102",
    error_description: "Required metadata header not specified",
  });
});

Deno.test("IMDS sim: no identity, or an unknown client_id, is 400 invalid_request 'Identity not found'", async () => {
  for (
    const [s, query] of [[sim(false), ""], [
      sim(),
      "&client_id=00000000-0000-4000-8000-000000000000",
    ]] as const
  ) {
    const { path, init } = imds(`api-version=2018-02-01&resource=${GRAPH}${query}`);
    const response = await s.app.request(path, init);
    assert.equal(response.status, 400);
    assert.deepEqual(await json(response), {
      error: "invalid_request",
      error_description: "Identity not found",
    });
  }
});

Deno.test("IMDS sim: an unknown resource is 400 invalid_resource with Entra's AADSTS500011", async () => {
  const { path, init } = imds(
    `api-version=2018-02-01&resource=${encodeURIComponent("https://unknown.example")}`,
  );
  const response = await sim().app.request(path, init);
  assert.equal(response.status, 400);
  const body = await json(response);
  assert.equal(body["error"], "invalid_resource");
  assert.match(String(body["error_description"]), /AADSTS500011/);
});

Deno.test("IMDS sim: injected 429 carries Retry-After; injected 5xx and 410 keep the IMDS shape", async () => {
  const s = sim();
  s.control.failNext(429, 1, 3);
  s.control.failNext(410);
  s.control.failNext(503);
  const { path, init } = imds(`api-version=2018-02-01&resource=${GRAPH}`);
  const throttled = await s.app.request(path, init);
  assert.equal(throttled.status, 429);
  assert.equal(throttled.headers.get("retry-after"), "3");
  assert.equal((await json(throttled))["error"], "too_many_requests");
  const gone = await s.app.request(path, init);
  assert.equal(gone.status, 410);
  assert.equal(typeof (await json(gone))["error"], "string");
  const unavailable = await s.app.request(path, init);
  assert.equal(unavailable.status, 503);
  assert.equal(typeof (await json(unavailable))["error_description"], "string");
  assert.equal((await s.app.request(path, init)).status, 200);
});

Deno.test("App Service sim: 200 carries expires_on (epoch seconds string) and client_id, no expires_in", async () => {
  const response = await sim().app.request(
    `${APP_SERVICE_PATH}?api-version=2019-08-01&resource=${GRAPH}&client_id=${USER}`,
    { headers: { "x-identity-header": "header-value" } },
  );
  assert.equal(response.status, 200);
  const body = await json(response);
  assert.equal(body["client_id"], USER);
  assert.equal(body["expires_on"], String(NOW / 1000 + 3599));
  assert.equal(body["expires_in"], undefined);
});

Deno.test("App Service sim: wrong X-IDENTITY-HEADER is 401; an unknown identity is 400 'Unable to load the proper Managed Identity.'", async () => {
  const s = sim();
  const path = `${APP_SERVICE_PATH}?api-version=2019-08-01&resource=${GRAPH}`;
  const wrong = await s.app.request(path, { headers: { "x-identity-header": "other" } });
  assert.equal(wrong.status, 401);
  const missing = await s.app.request(path);
  assert.equal(missing.status, 401);
  const unknown = await s.app.request(`${path}&client_id=00000000-0000-4000-8000-000000000000`, {
    headers: { "x-identity-header": "header-value" },
  });
  assert.equal(unknown.status, 400);
  const body = await json(unknown);
  assert.equal(body["statusCode"], 400);
  assert.equal(body["message"], "Unable to load the proper Managed Identity.");
  assert.equal(typeof body["correlationId"], "string");
  const oldVersion = await s.app.request(
    `${APP_SERVICE_PATH}?api-version=2017-09-01&resource=${GRAPH}`,
    { headers: { "x-identity-header": "header-value" } },
  );
  assert.equal(oldVersion.status, 400);
});
