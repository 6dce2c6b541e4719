/** The Graph security incidents client against its simulator: URLs, errors named for the user. */
import assert from "node:assert/strict";
import {
  IncidentsAuthError,
  IncidentsClient,
  IncidentsForbiddenError,
  IncidentsResponseError,
} from "../../src/microsoft_incidents/client.ts";
import { startGraphSecuritySim } from "../../src/sim/graph_security.ts";
import { FakeClock } from "../runtime/fake_clock.ts";
import { FakeTokens, fakeVerifier } from "../fixtures/microsoft/sentinel/make.ts";
import { MICROSOFT_INCIDENTS_CLIENT } from "../fixtures/settings_defaults.ts";

function setup(
  verifier: Parameters<typeof fakeVerifier>[0] = { roles: ["SecurityIncident.Read.All"] },
) {
  const clock = new FakeClock();
  const sim = startGraphSecuritySim({ verify: fakeVerifier(verifier), now: clock.now });
  const tokens = new FakeTokens();
  const client = new IncidentsClient({
    ...MICROSOFT_INCIDENTS_CLIENT,
    tokens,
    resourceUrl: sim.url,
    maxAttempts: 2,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
  });
  return { clock, sim, tokens, client };
}

Deno.test("IncidentsClient asks for incidents with alerts, a lastUpdateDateTime filter and $top, under the Graph scope", async () => {
  const { sim, tokens, client } = setup();
  try {
    assert.equal(
      client.firstPageUrl("2026-01-01T00:00:00.000Z"),
      `${sim.url}/v1.0/security/incidents?%24expand=alerts&%24filter=lastUpdateDateTime+ge+2026-01-01T00%3A00%3A00.000Z&%24top=50`,
    );
    const page = await client.listPage({ since: "2026-01-01T00:00:00.000Z" });
    assert.deepEqual([page.incidents, page.malformed, page.size, page.nextLink], [
      [],
      [],
      0,
      undefined,
    ]);
    assert.deepEqual(tokens.asked, [`${sim.url}/.default`]);
    const scoped = new IncidentsClient({
      ...MICROSOFT_INCIDENTS_CLIENT,
      tokens,
      incidentPath: `${sim.url}/v1.0/security/incidents`,
    });
    assert.match(scoped.firstPageUrl("x"), new RegExp(`^${sim.url}/v1\\.0/security/incidents\\?`));
  } finally {
    await sim.close();
  }
});

Deno.test("IncidentsClient names the permission on 403 and the credential settings on a 401 that a new token does not cure", async () => {
  const forbidden = setup({ roles: ["ThreatIndicators.ReadWrite.OwnedBy"] });
  try {
    await assert.rejects(
      forbidden.client.listPage({ since: "2026-01-01T00:00:00Z" }),
      (error: unknown) =>
        error instanceof IncidentsForbiddenError &&
        /SecurityIncident\.Read\.All/.test(error.message) && /admin consent/.test(error.message),
    );
  } finally {
    await forbidden.sim.close();
  }
  const refused = setup({ refuse: ["token-1", "token-2"], roles: ["SecurityIncident.Read.All"] });
  try {
    await assert.rejects(
      refused.client.listPage({ since: "2026-01-01T00:00:00Z" }),
      (error: unknown) =>
        error instanceof IncidentsAuthError && /TENANT_ID, CLIENT_ID/.test(error.message),
    );
    assert.equal(refused.tokens.invalidated.length, 1, "one refresh before giving up");
  } finally {
    await refused.sim.close();
  }
});

Deno.test("IncidentsClient refuses a nextLink to another origin, a page without value, and a page size over 50", async () => {
  const { sim, client, tokens } = setup();
  try {
    await assert.rejects(
      client.listPage({ nextLink: "https://evil.example/v1.0/security/incidents?$skip=2" }),
      IncidentsResponseError,
    );
    sim.failures.failNext(200, 1, { items: [] });
    await assert.rejects(
      client.listPage({ since: "2026-01-01T00:00:00Z" }),
      IncidentsResponseError,
    );
    assert.throws(
      () => new IncidentsClient({ ...MICROSOFT_INCIDENTS_CLIENT, tokens, pageSize: 51 }),
      RangeError,
    );
  } finally {
    await sim.close();
  }
});

Deno.test("the Graph security simulator refuses filters and page sizes Graph does not accept", async () => {
  const { sim } = setup();
  try {
    const get = (query: string) =>
      fetch(`${sim.url}/v1.0/security/incidents?${query}`, {
        headers: { authorization: "Bearer token-1" },
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    assert.equal((await get("$top=51")).status, 400);
    assert.equal((await get("$filter=status eq 'active'")).status, 400);
    assert.equal((await get("$orderby=lastUpdateDateTime")).status, 400);
    const ok = await get(
      "$filter=lastUpdateDateTime ge 2026-01-01T00:00:00Z and createdDateTime lt 2027-01-01T00:00:00Z",
    );
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.value, []);
    const none = await fetch(`${sim.url}/v1.0/security/incidents`);
    assert.equal(none.status, 401);
    await none.body?.cancel();
  } finally {
    await sim.close();
  }
});
