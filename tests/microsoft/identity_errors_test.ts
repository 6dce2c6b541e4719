/** TokenProvider error handling: each AADSTS code becomes a message naming the setting to fix. */
import assert from "node:assert/strict";
import { SCOPES } from "../../src/microsoft/scopes.ts";
import {
  TokenError,
  TokenProvider,
  type TokenProviderOptions,
} from "../../src/microsoft/token_provider.ts";
import {
  DEFAULT_SETTING_NAMES,
  parseEntraError,
  tokenErrorFromResponse,
} from "../../src/microsoft/entra_errors.ts";
import { type EntraSim, type EntraSimOptions, startEntraSim } from "../../src/sim/entra.ts";
import { createTestCertificate } from "./cert_helper.ts";
import { CLIENT, SECRET, TENANT } from "./helpers.ts";

const FIXTURES = new URL("../fixtures/microsoft/identity/", import.meta.url);

interface Case {
  name: string;
  code: number;
  status: number;
  setting: string;
  says: RegExp[];
  simOptions?: EntraSimOptions;
  setup: (sim: EntraSim) => Promise<Partial<TokenProviderOptions>> | Partial<TokenProviderOptions>;
  scope?: string;
}

const cases: Case[] = [
  {
    name: "a wrong client secret (AADSTS7000215) names CLIENT_SECRET and the secret id mix-up",
    code: 7000215,
    status: 401,
    setting: "CLIENT_SECRET",
    says: [/CLIENT_SECRET is wrong/, /not its secret id/],
    setup: (sim) => {
      sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: "the-real-value" });
      return {};
    },
  },
  {
    name: "an expired client secret (AADSTS7000222) says to rotate CLIENT_SECRET",
    code: 7000222,
    status: 401,
    setting: "CLIENT_SECRET",
    says: [/CLIENT_SECRET .*has expired/, /create a new client secret/],
    setup: (sim) => {
      sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET, secretExpired: true });
      return {};
    },
  },
  {
    name: "an unknown client (AADSTS700016) names CLIENT_ID and the tenant",
    code: 700016,
    status: 400,
    setting: "CLIENT_ID",
    says: [/CLIENT_ID "aaaabbbb-0000-cccc-1111-dddd2222eeee" was not found in tenant TENANT_ID/],
    setup: (sim) => {
      sim.registerApp({ tenantId: TENANT, clientId: "ffffffff-0000-0000-0000-000000000000" });
      return {};
    },
  },
  {
    name: "an unknown tenant (AADSTS90002) names TENANT_ID and the LOGIN_URL cloud",
    code: 90002,
    status: 400,
    setting: "TENANT_ID",
    says: [/TENANT_ID "11111111-2222-3333-4444-555555555555" was not found/, /LOGIN_URL/],
    setup: (sim) => {
      sim.registerApp({ tenantId: "99999999-2222-3333-4444-555555555555", clientId: CLIENT });
      return {};
    },
  },
  {
    name: "a certificate not uploaded to the app (AADSTS700027) names the certificate file",
    code: 700027,
    status: 401,
    setting: "CLIENT_CERTIFICATE_PATH",
    says: [/CLIENT_CERTIFICATE_PATH \("\/etc\/octi\/app\.crt"\) is not uploaded/],
    setup: async (sim) => {
      const uploaded = await createTestCertificate({ commonName: "uploaded" });
      const local = await createTestCertificate({ commonName: "local" });
      sim.registerApp({
        tenantId: TENANT,
        clientId: CLIENT,
        certificatePem: uploaded.certificatePem,
      });
      return {
        credential: {
          kind: "certificate",
          certificatePem: local.certificatePem,
          privateKeyPem: local.privateKeyPem,
          certificatePath: "/etc/octi/app.crt",
          privateKeyPath: "/etc/octi/app.key",
        },
      };
    },
  },
  {
    name: "a resource missing in the tenant (AADSTS500011) names the resource and RESOURCE_URL",
    code: 500011,
    status: 400,
    setting: "RESOURCE_URL",
    says: [
      /service principal of resource "https:\/\/api\.securitycenter\.microsoft\.com"/,
      /WindowsDefenderATP/,
    ],
    simOptions: { resources: ["https://graph.microsoft.com"] },
    scope: SCOPES.defender,
    setup: (sim) => {
      sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: SECRET });
      return {};
    },
  },
];

for (const c of cases) {
  Deno.test(`TokenProvider fails fast: ${c.name}`, async () => {
    const sim = await startEntraSim(c.simOptions ?? {});
    try {
      const extra = await c.setup(sim);
      let sleeps = 0;
      const provider = new TokenProvider({
        authority: sim.url,
        tenantId: TENANT,
        clientId: CLIENT,
        credential: { kind: "secret", secret: SECRET },
        sleep: () => (sleeps++, Promise.resolve()),
        ...extra,
      });
      await assert.rejects(provider.getToken(c.scope ?? SCOPES.graph), (error: unknown) => {
        assert.ok(error instanceof TokenError, String(error));
        assert.equal(error.code, c.code);
        assert.equal(error.status, c.status);
        assert.equal(error.setting, c.setting);
        assert.equal(error.retryable, false);
        assert.match(error.message, new RegExp(`AADSTS${c.code}`));
        assert.match(error.message, new RegExp(c.setting));
        for (const pattern of c.says) assert.match(error.message, pattern);
        assert.match(error.traceId ?? "", /^[0-9a-f-]{36}$/);
        assert.match(error.correlationId ?? "", /^[0-9a-f-]{36}$/);
        assert.ok(!error.message.includes(SECRET), "the message never carries the secret");
        return true;
      });
      assert.equal(sim.control.requests().length, 1, "no retry for a configuration error");
      assert.equal(sleeps, 0);
    } finally {
      await sim.close();
    }
  });
}

Deno.test("TokenProvider uses renamed settings in its messages", async () => {
  const sim = await startEntraSim();
  try {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: "other" });
    const provider = new TokenProvider({
      authority: sim.url,
      tenantId: TENANT,
      clientId: CLIENT,
      credential: { kind: "secret", secret: SECRET },
      settings: { secret: "SENTINEL_CLIENT_SECRET" },
    });
    await assert.rejects(provider.getToken(SCOPES.graph), (error: unknown) => {
      assert.ok(error instanceof TokenError);
      assert.equal(error.setting, "SENTINEL_CLIENT_SECRET");
      assert.match(error.message, /SENTINEL_CLIENT_SECRET is wrong/);
      return true;
    });
  } finally {
    await sim.close();
  }
});

Deno.test("TokenProvider echoes its client-request-id as the correlation id of an error", async () => {
  const sim = await startEntraSim();
  try {
    sim.registerApp({ tenantId: TENANT, clientId: CLIENT, secret: "other" });
    const ids: string[] = [];
    const provider = new TokenProvider({
      authority: sim.url,
      tenantId: TENANT,
      clientId: CLIENT,
      credential: { kind: "secret", secret: SECRET },
      fetch: (input, init) => {
        ids.push(new Headers(init?.headers).get("client-request-id") ?? "");
        return fetch(input, init);
      },
    });
    const error = await provider.getToken(SCOPES.graph).catch((e: unknown) => e);
    assert.ok(error instanceof TokenError);
    assert.equal(error.correlationId, ids[0]);
    assert.match(error.message, new RegExp(`correlation ID ${ids[0]}`));
  } finally {
    await sim.close();
  }
});

Deno.test("TokenProvider rejects unusable settings before any request, naming the setting", () => {
  const base = {
    authority: "https://login.microsoftonline.com",
    tenantId: TENANT,
    clientId: CLIENT,
    credential: { kind: "secret", secret: SECRET },
  } as const;
  const settingOf = (make: () => unknown) => {
    try {
      make();
    } catch (error) {
      assert.ok(error instanceof TokenError);
      return error.setting;
    }
    return "no error";
  };
  assert.equal(settingOf(() => new TokenProvider({ ...base, tenantId: " " })), "TENANT_ID");
  assert.equal(settingOf(() => new TokenProvider({ ...base, clientId: "" })), "CLIENT_ID");
  assert.equal(settingOf(() => new TokenProvider({ ...base, authority: "login" })), "LOGIN_URL");
  assert.equal(
    settingOf(() => new TokenProvider({ ...base, authority: "http://login.microsoftonline.com" })),
    "LOGIN_URL",
  );
  assert.equal(
    settingOf(() => new TokenProvider({ ...base, credential: { kind: "secret", secret: "" } })),
    "CLIENT_SECRET",
  );
});

Deno.test("TokenProvider names CLIENT_PRIVATE_KEY_PATH when the key does not match the certificate", async () => {
  const one = await createTestCertificate();
  const two = await createTestCertificate();
  let requests = 0;
  const provider = new TokenProvider({
    authority: "https://login.microsoftonline.com",
    tenantId: TENANT,
    clientId: CLIENT,
    credential: {
      kind: "certificate",
      certificatePem: one.certificatePem,
      privateKeyPem: two.privateKeyPem,
      privateKeyPath: "/keys/app.key",
    },
    fetch: () => (requests++, Promise.reject(new Error("unreachable"))),
  });
  await assert.rejects(provider.getToken(SCOPES.graph), (error: unknown) => {
    assert.ok(error instanceof TokenError);
    assert.equal(error.setting, "CLIENT_PRIVATE_KEY_PATH");
    assert.match(error.message, /does not belong to the certificate/);
    assert.match(error.message, /"\/keys\/app\.key"/);
    return true;
  });
  assert.equal(requests, 0);
});

Deno.test("TokenProvider names CLIENT_CERTIFICATE_PATH when the file holds no certificate", async () => {
  const one = await createTestCertificate();
  const provider = new TokenProvider({
    authority: "https://login.microsoftonline.com",
    tenantId: TENANT,
    clientId: CLIENT,
    credential: { kind: "certificate", certificatePem: "", privateKeyPem: one.privateKeyPem },
  });
  await assert.rejects(provider.getToken(SCOPES.graph), (error: unknown) => {
    assert.ok(error instanceof TokenError);
    assert.equal(error.setting, "CLIENT_CERTIFICATE_PATH");
    return true;
  });
});

Deno.test("TokenProvider names AZURE_FEDERATED_TOKEN_FILE when the token file cannot be read", async () => {
  const provider = new TokenProvider({
    authority: "https://login.microsoftonline.com",
    tenantId: TENANT,
    clientId: CLIENT,
    credential: {
      kind: "federated",
      tokenFile: "/var/run/secrets/azure/tokens/azure-identity-token",
      readTextFile: () => Promise.reject(new Deno.errors.NotFound("no such file")),
    },
  });
  await assert.rejects(provider.getToken(SCOPES.graph), (error: unknown) => {
    assert.ok(error instanceof TokenError);
    assert.equal(error.setting, "AZURE_FEDERATED_TOKEN_FILE");
    assert.match(error.message, /azure-identity-token/);
    return true;
  });
});

const context = {
  tenantId: TENANT,
  clientId: CLIENT,
  scope: "https://foo.microsoft.com/.default",
  authority: "https://login.microsoftonline.com",
  credential: "secret" as const,
  settings: DEFAULT_SETTING_NAMES,
};

Deno.test("tokenErrorFromResponse() reads the documented error example and names RESOURCE_URL", async () => {
  const text = await Deno.readTextFile(new URL("error_invalid_scope.json", FIXTURES));
  assert.equal(parseEntraError(text)?.error_codes?.[0], 70011);
  const error = tokenErrorFromResponse({ status: 400, text }, context);
  assert.equal(error.code, 70011);
  assert.equal(error.error, "invalid_scope");
  assert.equal(error.traceId, "0000aaaa-11bb-cccc-dd33-eeeeee333333");
  assert.equal(error.correlationId, "aaaa0000-bb11-2222-33cc-444444dddddd");
  assert.equal(error.setting, "RESOURCE_URL");
  assert.equal(error.retryable, false);
});

Deno.test("tokenErrorFromResponse() marks AADSTS90055 throttling and temporarily_unavailable retryable", async () => {
  const text = await Deno.readTextFile(new URL("error_throttled.json", FIXTURES));
  assert.equal(tokenErrorFromResponse({ status: 400, text }, context).retryable, true);
  const unavailable = JSON.stringify({ error: "temporarily_unavailable", error_codes: [12345] });
  assert.equal(tokenErrorFromResponse({ status: 400, text: unavailable }, context).retryable, true);
});

Deno.test("tokenErrorFromResponse() retries an HTML 502 from a proxy but not an HTML 404", () => {
  const bad = tokenErrorFromResponse({ status: 502, text: "<html>Bad gateway</html>" }, context);
  assert.equal(bad.retryable, true);
  assert.equal(bad.error, "http_502");
  const missing = tokenErrorFromResponse({ status: 404, text: "<html>Not found</html>" }, context);
  assert.equal(missing.retryable, false);
  assert.equal(missing.setting, "LOGIN_URL");
});

Deno.test("TokenProvider parses a v1-style success body whose numbers are strings", async () => {
  const text = await Deno.readTextFile(new URL("success_v1_strings.json", FIXTURES));
  const provider = new TokenProvider({
    authority: "https://login.microsoftonline.com",
    tenantId: TENANT,
    clientId: CLIENT,
    credential: { kind: "secret", secret: SECRET },
    fetch: () => Promise.resolve(new Response(text, { status: 200 })),
  });
  assert.equal(await provider.getToken(SCOPES.graph), "opaque-test-token");
});

Deno.test("TokenProvider rejects a 200 answer without expires_in instead of assuming 3600 s", async () => {
  const provider = new TokenProvider({
    authority: "https://login.microsoftonline.com",
    tenantId: TENANT,
    clientId: CLIENT,
    credential: { kind: "secret", secret: SECRET },
    fetch: () => Promise.resolve(Response.json({ token_type: "Bearer", access_token: "x" })),
  });
  await assert.rejects(provider.getToken(SCOPES.graph), (error: unknown) => {
    assert.ok(error instanceof TokenError);
    assert.equal(error.error, "invalid_response");
    return true;
  });
});
