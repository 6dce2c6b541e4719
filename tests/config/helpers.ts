/** Shared values for the configuration tests: valid ids and distinctive secret strings. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { type Config, ConfigError, type Env, resolveConfig } from "../../src/config/mod.ts";

/** Valid UUIDs used across the tests. */
export const IDS = {
  sentinel: "11111111-2222-4333-8444-555555555555",
  tanium: "44444444-5555-4666-8777-888888888888",
  client: "33333333-4444-4555-8666-777777777777",
  tenant: "99999999-aaaa-4bbb-8ccc-dddddddddddd",
  workspace: "22222222-3333-4444-8555-666666666666",
  subscription: "55555555-6666-4777-8888-999999999999",
} as const;

/** Distinctive secret values that must never appear in any output. */
export const SECRETS = {
  opencti: "Zq9-OPENCTI-s3cret-token",
  client: "Zq9-CLIENT-s3cret-value",
  tanium: "Zq9-TANIUM-s3cret-token",
  admin: "Zq9-ADMIN-s3cret-token-long",
} as const;

/** A minimal valid environment for the sentinel connector alone. */
export function sentinelEnv(extra: Env = {}): Env {
  return {
    OPENCTI_URL: "http://opencti.test:8080",
    OPENCTI_TOKEN: SECRETS.opencti,
    CONNECTOR_ID: IDS.sentinel,
    TENANT_ID: IDS.tenant,
    CLIENT_ID: IDS.client,
    CLIENT_SECRET: SECRETS.client,
    ...extra,
  };
}

/** A minimal valid environment for the tanium-incidents connector alone. */
export function taniumEnv(extra: Env = {}): Env {
  return {
    OPENCTI_URL: "http://opencti.test:8080",
    OPENCTI_TOKEN: SECRETS.opencti,
    CONNECTOR_ID: IDS.tanium,
    CONNECTOR_DURATION_PERIOD: "PT1H",
    TANIUM_INCIDENTS_URL: "https://tanium-api.test",
    TANIUM_INCIDENTS_URL_CONSOLE: "https://tanium.test",
    TANIUM_INCIDENTS_TOKEN: SECRETS.tanium,
    ...extra,
  };
}

/** A minimal valid environment with both connectors and prefixed ids. */
export function bothEnv(extra: Env = {}): Env {
  const { CONNECTOR_ID: _s, ...sentinel } = sentinelEnv();
  const { CONNECTOR_ID: _t, ...tanium } = taniumEnv();
  return {
    ...sentinel,
    ...tanium,
    SENTINEL_CONNECTOR_ID: IDS.sentinel,
    TANIUM_INCIDENTS_CONNECTOR_ID: IDS.tanium,
    ...extra,
  };
}

/** Reads a fixture YAML file from tests/fixtures/config/. */
export function fixture(name: string): unknown {
  return parse(Deno.readTextFileSync(new URL(`../fixtures/config/${name}`, import.meta.url)));
}

/** Resolves a configuration that must be valid. */
export function valid(env: Env, doc?: unknown): { config: Config; warnings: string[] } {
  return resolveConfig(doc, env);
}

/** Resolves a configuration that must be invalid, returning its problem lines. */
export function problemsOf(env: Env, doc?: unknown): readonly string[] {
  try {
    resolveConfig(doc, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error.problems;
  }
  assert.fail("expected the configuration to be rejected");
}

/** Asserts that none of the test secrets appears in a text. */
export function assertNoSecret(text: string): void {
  for (const secret of Object.values(SECRETS)) {
    assert.ok(!text.includes(secret), `a secret leaked into: ${text}`);
  }
}

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const DENO_JSON = fileURLToPath(new URL("../../deno.json", import.meta.url));

/** What a run of main.ts printed and how it exited. */
export interface MainRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs main.ts in an empty temporary directory with a cleared environment: only `env` (unset
 * values left out) plus PATH, HOME and DENO_DIR.
 */
export async function runMain(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<MainRun> {
  const cwd = await Deno.makeTempDir({ prefix: "octi-main-" });
  try {
    const keep: Record<string, string> = {};
    for (const name of ["PATH", "HOME", "DENO_DIR"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) keep[name] = value;
    }
    for (const [name, value] of Object.entries(env)) if (value !== undefined) keep[name] = value;
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--frozen",
        "--config",
        DENO_JSON,
        "--allow-env",
        "--allow-read",
        "--allow-net=127.0.0.1",
        MAIN,
        ...args,
      ],
      cwd,
      env: { ...keep, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}
