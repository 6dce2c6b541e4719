/** SENTINEL_AUTH: app_registration (default), the `default` chain (upstream azure_credential), managed_identity. */
import assert from "node:assert/strict";
import { printableConfig } from "../../src/config/mod.ts";
import { chooseCredential } from "../../src/microsoft/credential_chain.ts";
import { IDS, problemsOf, SECRETS, valid } from "./helpers.ts";

const IMDS = "http://169.254.169.254/metadata/identity/oauth2/token";

/** The sentinel environment without any identity setting. */
function bare(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OPENCTI_URL: "http://opencti.test:8080",
    OPENCTI_TOKEN: SECRETS.opencti,
    CONNECTOR_ID: IDS.sentinel,
    ...extra,
  };
}

Deno.test("chooseCredential() follows DefaultAzureCredential's order and skips incomplete sources", () => {
  const ids = { tenantId: IDS.tenant, clientId: IDS.client };
  const all = { ...ids, secret: true, certificate: true, federatedTokenFile: true };
  assert.deepEqual(chooseCredential(all), { source: "environment secret", incomplete: [] });
  assert.equal(chooseCredential({ ...all, secret: false }).source, "environment certificate");
  assert.equal(
    chooseCredential({ ...ids, federatedTokenFile: true }).source,
    "workload identity",
  );
  assert.equal(chooseCredential(ids).source, "managed identity");
  assert.deepEqual(chooseCredential({ clientId: IDS.client, secret: true }), {
    source: "managed identity",
    incomplete: ["environment secret is set but lacks TENANT_ID (or AZURE_TENANT_ID)"],
  });
});

Deno.test("SENTINEL_AUTH unset keeps app_registration: TENANT_ID, CLIENT_ID and one credential are required", () => {
  const problems = problemsOf(bare({ CONNECTORS: "sentinel" }));
  assert.ok(problems.some((line) => line.startsWith("TENANT_ID")), problems.join("\n"));
  assert.ok(problems.some((line) => line.startsWith("CLIENT_ID")), problems.join("\n"));
});

Deno.test("SENTINEL_AUTH=managed_identity needs no tenant, client or secret: system-assigned via IMDS", () => {
  const { config } = valid(bare({ SENTINEL_AUTH: "managed_identity" }));
  assert.deepEqual(config.connectors, ["sentinel"]);
  assert.equal(config.sentinel?.auth, "managed_identity");
  assert.deepEqual(config.sentinel?.credential, { kind: "managed_identity", imdsEndpoint: IMDS });
  assert.equal(config.sentinel?.tenantId, "");
  assert.equal(config.sentinel?.clientId, "");
});

Deno.test("SENTINEL_AUTH=managed_identity with AZURE_CLIENT_ID asks for that user-assigned identity", () => {
  const { config } = valid(bare({
    SENTINEL_AUTH: "managed_identity",
    AZURE_CLIENT_ID: IDS.client,
    SENTINEL_IMDS_ENDPOINT: "http://127.0.0.1:4242/metadata/identity/oauth2/token",
  }));
  assert.deepEqual(config.sentinel?.credential, {
    kind: "managed_identity",
    clientId: IDS.client,
    imdsEndpoint: "http://127.0.0.1:4242/metadata/identity/oauth2/token",
  });
});

Deno.test("IDENTITY_ENDPOINT and IDENTITY_HEADER select the App Service endpoint; the header is redacted", () => {
  const header = "Zq9-IDENTITY-header-value";
  const { config } = valid(bare({
    SENTINEL_AUTH: "managed_identity",
    IDENTITY_ENDPOINT: "http://localhost:4141/MSI/token",
    IDENTITY_HEADER: header,
  }));
  assert.deepEqual(config.sentinel?.credential, {
    kind: "managed_identity",
    imdsEndpoint: IMDS,
    identityEndpoint: "http://localhost:4141/MSI/token",
    identityHeader: header,
  });
  assert.ok(!JSON.stringify(printableConfig(config)).includes(header));
});

Deno.test("IDENTITY_ENDPOINT without IDENTITY_HEADER: the problem says IDENTITY_HEADER missing", () => {
  const problems = problemsOf(bare({
    SENTINEL_AUTH: "managed_identity",
    IDENTITY_ENDPOINT: "http://localhost:4141/MSI/token",
  }));
  assert.ok(problems.some((line) => /IDENTITY_HEADER missing/.test(line)), problems.join("\n"));
});

Deno.test("IDENTITY_ENDPOINT with IMDS_ENDPOINT and no IDENTITY_HEADER selects Azure Arc", () => {
  const { config } = valid(bare({
    SENTINEL_AUTH: "managed_identity",
    IDENTITY_ENDPOINT: "http://localhost:40342/metadata/identity/oauth2/token",
    IMDS_ENDPOINT: "http://localhost:40342",
  }));
  assert.deepEqual(config.sentinel?.credential, {
    kind: "managed_identity",
    imdsEndpoint: IMDS,
    identityEndpoint: "http://localhost:40342/metadata/identity/oauth2/token",
    arcImdsEndpoint: "http://localhost:40342",
  });
});

Deno.test("Azure Arc or Cloud Shell with AZURE_CLIENT_ID: a problem naming the client id setting (system-assigned only)", () => {
  for (
    const endpoint of [
      {
        IDENTITY_ENDPOINT: "http://localhost:40342/metadata/identity/oauth2/token",
        IMDS_ENDPOINT: "http://localhost:40342",
      },
      { MSI_ENDPOINT: "http://localhost:50342/oauth2/token" },
    ]
  ) {
    const problems = problemsOf(bare({
      SENTINEL_AUTH: "default",
      AZURE_CLIENT_ID: IDS.client,
      ...endpoint,
    }));
    assert.ok(
      problems.some((line) =>
        line.startsWith("CLIENT_ID") && /only a system-assigned identity/.test(line)
      ),
      problems.join("\n"),
    );
  }
});

Deno.test("MSI_ENDPOINT with MSI_SECRET (App Service 2017) or alone (Cloud Shell); MSI_SECRET is redacted", () => {
  const secret = "Qx7-msi-secret-value";
  const { config } = valid(bare({
    SENTINEL_AUTH: "default",
    MSI_ENDPOINT: "http://127.0.0.1:41741/MSI/token/",
    MSI_SECRET: secret,
  }));
  assert.deepEqual(config.sentinel?.credential, {
    kind: "managed_identity",
    imdsEndpoint: IMDS,
    msiEndpoint: "http://127.0.0.1:41741/MSI/token",
    msiSecret: secret,
  });
  assert.ok(!JSON.stringify(printableConfig(config)).includes(secret));
  const shell = valid(bare({
    SENTINEL_AUTH: "managed_identity",
    MSI_ENDPOINT: "http://localhost:50342/oauth2/token",
  })).config;
  assert.deepEqual(shell.sentinel?.credential, {
    kind: "managed_identity",
    imdsEndpoint: IMDS,
    msiEndpoint: "http://localhost:50342/oauth2/token",
  });
});

Deno.test("Service Fabric over https needs SENTINEL_IDENTITY_SERVER_CERTIFICATE; the problem names the workaround", () => {
  const fabric = {
    SENTINEL_AUTH: "managed_identity",
    IDENTITY_ENDPOINT: "https://10.0.0.4:2377/metadata/identity/oauth2/token",
    IDENTITY_HEADER: "sf-code",
    IDENTITY_SERVER_THUMBPRINT: "84E05C1D98BCE3A5421D225B140B36E86A3D5534",
  };
  const problems = problemsOf(bare(fabric));
  assert.ok(
    problems.some((line) =>
      line.startsWith("SENTINEL_IDENTITY_SERVER_CERTIFICATE") &&
      /cannot pin a thumbprint/.test(line)
    ),
    problems.join("\n"),
  );
  const { config } = valid(bare({
    ...fabric,
    SENTINEL_IDENTITY_SERVER_CERTIFICATE: "/etc/octi/sf.pem",
  }));
  assert.deepEqual(config.sentinel?.credential, {
    kind: "managed_identity",
    imdsEndpoint: IMDS,
    identityEndpoint: fabric.IDENTITY_ENDPOINT,
    identityHeader: "sf-code",
    identityServerThumbprint: fabric.IDENTITY_SERVER_THUMBPRINT,
    identityServerCertificate: "/etc/octi/sf.pem",
  });
});

Deno.test("SENTINEL_AUTH=default picks the environment secret first (CLIENT_SECRET or AZURE_CLIENT_SECRET)", () => {
  const ids = { AZURE_TENANT_ID: IDS.tenant, AZURE_CLIENT_ID: IDS.client };
  const bySecret = valid(bare({
    SENTINEL_AUTH: "default",
    ...ids,
    AZURE_CLIENT_SECRET: SECRETS.client,
    AZURE_CLIENT_CERTIFICATE_PATH: "/certs/both.pem",
    AZURE_FEDERATED_TOKEN_FILE: "/var/run/token",
  })).config;
  assert.equal(bySecret.sentinel?.auth, "default");
  assert.deepEqual(bySecret.sentinel?.credential, {
    kind: "secret",
    clientSecret: SECRETS.client,
  });
  assert.equal(bySecret.sentinel?.tenantId, IDS.tenant);
  assert.ok(!JSON.stringify(printableConfig(bySecret)).includes(SECRETS.client));
});

Deno.test("SENTINEL_AUTH=azure_credential (the upstream value) is the default chain: certificate, then workload identity", () => {
  const ids = { TENANT_ID: IDS.tenant, CLIENT_ID: IDS.client };
  const byCertificate = valid(bare({
    SENTINEL_AUTH: "azure_credential",
    ...ids,
    AZURE_CLIENT_CERTIFICATE_PATH: "/certs/both.pem",
    AZURE_FEDERATED_TOKEN_FILE: "/var/run/token",
  })).config;
  assert.equal(byCertificate.sentinel?.auth, "default");
  assert.deepEqual(byCertificate.sentinel?.credential, {
    kind: "certificate",
    certificatePath: "/certs/both.pem",
    privateKeyPath: "/certs/both.pem",
    alg: "PS256",
  });
  const byFederated = valid(bare({
    SENTINEL_AUTH: "default",
    ...ids,
    AZURE_FEDERATED_TOKEN_FILE: "/var/run/token",
  })).config;
  assert.deepEqual(byFederated.sentinel?.credential, {
    kind: "federated",
    tokenFile: "/var/run/token",
  });
});

Deno.test("SENTINEL_AUTH=default falls back to the managed identity, warning about an incomplete secret", () => {
  const { config, warnings } = valid(bare({
    SENTINEL_AUTH: "default",
    CLIENT_SECRET: SECRETS.client,
    AZURE_CLIENT_ID: IDS.client,
  }));
  assert.deepEqual(config.sentinel?.credential, {
    kind: "managed_identity",
    clientId: IDS.client,
    imdsEndpoint: IMDS,
  });
  assert.ok(
    warnings.some((line) => /environment secret is set but lacks TENANT_ID/.test(line)),
    warnings.join("\n"),
  );
  assert.ok(!warnings.join("\n").includes(SECRETS.client));
});

Deno.test("SENTINEL_AUTH rejects unknown values with the accepted ones", () => {
  const problems = problemsOf(bare({ SENTINEL_AUTH: "magic" }));
  assert.ok(
    problems.some((line) => line.startsWith("SENTINEL_AUTH") && /managed_identity/.test(line)),
    problems.join("\n"),
  );
});
