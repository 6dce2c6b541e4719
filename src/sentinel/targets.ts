/** Builds the configured Microsoft target and its token provider from the `sentinel` config slice. */
import type { SentinelSettings as SentinelConfig } from "./settings.ts";
import { DefenderTarget } from "../microsoft/defender.ts";
import type { DefenderAction } from "../microsoft/defender_mapping.ts";
import { GraphTarget } from "../microsoft/graph.ts";
import { SentinelTarget } from "../microsoft/sentinel_api.ts";
import { type ClientCredential, scopeFor, TokenProvider } from "../microsoft/token_provider.ts";
import type { TokenSource } from "../microsoft/token_source.ts";
import type { Now, Sleep } from "../runtime/clock.ts";
import type { Fetch } from "../runtime/http.ts";
import type { SyncTarget } from "./target.ts";

/** Injected dependencies of {@linkcode createTarget} and {@linkcode createTokenProvider}. */
export interface TargetDeps {
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep. @default a real timer */
  sleep?: Sleep;
  /** Reads certificate and key files. @default Deno.readTextFile */
  readTextFile?: (path: string) => Promise<string>;
}

/** The client credential described by the config, with certificate files read. */
export async function credentialOf(
  config: SentinelConfig,
  deps: TargetDeps = {},
): Promise<ClientCredential> {
  const read = deps.readTextFile ?? Deno.readTextFile;
  const c = config.credential;
  switch (c.kind) {
    case "secret":
      return { kind: "secret", secret: c.clientSecret };
    case "federated":
      return { kind: "federated", tokenFile: c.tokenFile, readTextFile: read };
    case "certificate": {
      const readNamed = async (path: string, setting: string) => {
        try {
          return await read(path);
        } catch (cause) {
          throw new Error(
            `Cannot read ${setting} "${path}": check the path and the file permissions`,
            {
              cause,
            },
          );
        }
      };
      return {
        kind: "certificate",
        certificatePem: await readNamed(c.certificatePath, "CLIENT_CERTIFICATE_PATH"),
        privateKeyPem: await readNamed(c.privateKeyPath, "CLIENT_PRIVATE_KEY_PATH"),
        alg: c.alg,
        certificatePath: c.certificatePath,
        privateKeyPath: c.privateKeyPath,
      };
    }
  }
}

/** The Entra ID token provider for the configured application. */
export async function createTokenProvider(
  config: SentinelConfig,
  deps: TargetDeps = {},
): Promise<TokenProvider> {
  return new TokenProvider({
    authority: config.loginUrl,
    tenantId: config.tenantId,
    clientId: config.clientId,
    credential: await credentialOf(config, deps),
    ...pick(deps, "fetch", "now", "sleep"),
  });
}

const DEFENDER_ACTION_OF: Record<string, DefenderAction | undefined> = {
  allow: "Allowed",
  alert: "Audit",
  block: "Block",
  unknown: undefined,
};

/** The target selected by `SENTINEL_TARGET`, with the configured batch size and pace. */
export function createTarget(
  config: SentinelConfig,
  tokens: TokenSource,
  deps: TargetDeps = {},
): SyncTarget {
  const common = {
    tokens,
    maxBatch: config.batchSize,
    rateLimitPerMinute: config.rateLimitPerMinute,
    ...pick(deps, "fetch", "now", "sleep"),
  };
  switch (config.target) {
    case "graph": {
      const mapping: ConstructorParameters<typeof GraphTarget>[0]["mapping"] = {
        targetProduct: config.graph.targetProduct,
        confidenceLevel: config.confidenceLevel,
        expireTimeDays: config.expireTimeDays,
        passiveOnly: config.passiveOnly,
      };
      if (config.action) mapping.action = config.action;
      if (config.tlpLevel) mapping.tlpLevel = config.tlpLevel;
      if (deps.now) mapping.now = deps.now;
      return new GraphTarget({
        ...common,
        mapping,
        baseUrl: config.graph.resourceUrl,
        requestPath: config.graph.requestUrl,
        scope: scopeFor(config.graph.resourceUrl),
      });
    }
    case "sentinel": {
      const api = config.sentinelApi;
      const workspace = api.workspace;
      if (!workspace) {
        throw new Error(
          "SENTINEL_WORKSPACE_ID and the workspace settings are required when SENTINEL_TARGET=sentinel",
        );
      }
      return new SentinelTarget({
        ...common,
        apiUrl: api.apiUrl,
        managementUrl: api.managementUrl,
        scope: scopeFor(api.managementUrl),
        workspaceId: workspace.workspaceId,
        subscriptionId: workspace.subscriptionId,
        resourceGroup: workspace.resourceGroup,
        workspaceName: workspace.workspaceName,
        sourceSystem: api.sourceSystem,
        extraLabels: config.extraLabels,
      });
    }
    case "defender": {
      const action = config.action ? DEFENDER_ACTION_OF[config.action] : undefined;
      return new DefenderTarget({
        ...common,
        apiUrl: config.defender.apiUrl,
        scope: config.defender.scope,
        generateAlert: config.defender.generateAlert,
        expireTimeDays: config.expireTimeDays,
        blockScore: config.confidenceLevel,
        ...(action ? { action } : {}),
      });
    }
  }
}

function pick<T extends object, K extends keyof T>(source: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
