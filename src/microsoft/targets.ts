/** Builds the configured Microsoft target and its token provider from the target settings. */
import { CappedTarget, defenderActionOf, withIdentities } from "./target_policies.ts";
import { getLogger, type Logger } from "../log.ts";
import {
  detectManagedIdentity,
  type ManagedIdentityEndpoint,
  ManagedIdentityTokenSource,
} from "./managed_identity.ts";
import { DefenderTarget } from "./defender.ts";
import type { DefenderAction } from "./defender_mapping.ts";
import { GraphTarget } from "./graph.ts";
import { SentinelTarget } from "./sentinel_stix_upload.ts";
import { type ClientCredential, scopeFor, TokenProvider } from "./token_provider.ts";
import type { TokenSource } from "./token_source.ts";
import type { Now, Sleep } from "../runtime/clock.ts";
import type { Fetch } from "../runtime/http.ts";
import type { SyncTarget } from "./target.ts";
import type { AuthSettings, EntraCredential, TargetSettings } from "./target_config.ts";
import { definedProps } from "../runtime/props.ts";

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
  /** Where the chosen credential is logged. @default getLogger("sentinel", "auth") */
  logger?: Logger;
  /** Azure Arc managed identity: the directory its key files must be in. @default the agent's, per OS */
  arcKeyDirectory?: string;
}

/** The client credential described by the config, with certificate files read. */
export async function credentialOf(
  config: AuthSettings,
  deps: TargetDeps = {},
): Promise<ClientCredential> {
  const read = deps.readTextFile ?? Deno.readTextFile;
  const c = config.credential;
  switch (c.kind) {
    case "managed_identity":
      throw new TypeError("A managed identity has no client credential: use createTokenProvider");
    case "secret":
      return { kind: "secret", secret: c.clientSecret };
    case "federated":
      return { kind: "federated", tokenFile: c.tokenFile, readTextFile: read };
    case "certificate": {
      const readNamed = (path: string, setting: string) => readSettingFile(read, path, setting);
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

/**
 * The token source of the configured credential: the Entra ID token provider for a client
 * credential, or the host's managed identity. Logs which credential is used (never a secret).
 */
export async function createTokenProvider(
  config: AuthSettings,
  deps: TargetDeps = {},
): Promise<TokenSource> {
  const logger = deps.logger ?? getLogger("sentinel", "auth");
  const c = config.credential;
  const auth = config.auth ?? "app_registration";
  if (c.kind === "managed_identity") {
    const source = new ManagedIdentityTokenSource({
      endpoint: await managedIdentityEndpointOf(c, deps),
      ...(c.clientId ? { clientId: c.clientId } : {}),
      ...definedProps(deps, "fetch", "now", "sleep", "arcKeyDirectory"),
    });
    logger.info("Authenticating with {source} (SENTINEL_AUTH={auth})", {
      source: source.describe(),
      auth,
    });
    return source;
  }
  const provider = new TokenProvider({
    authority: config.loginUrl,
    tenantId: config.tenantId,
    clientId: config.clientId,
    credential: await credentialOf(config, deps),
    ...definedProps(deps, "fetch", "now", "sleep"),
  });
  logger.info("Authenticating with {source} (SENTINEL_AUTH={auth})", {
    source: `${
      CLIENT_CREDENTIAL_NAMES[c.kind]
    } of app ${config.clientId} in tenant ${config.tenantId}`,
    auth,
  });
  return provider;
}

/**
 * The managed identity endpoint the configuration selects (azure-identity's order, see
 * `detectManagedIdentity`), with the Service Fabric certificate file read.
 */
export async function managedIdentityEndpointOf(
  c: Extract<EntraCredential, { kind: "managed_identity" }>,
  deps: TargetDeps = {},
): Promise<ManagedIdentityEndpoint> {
  const detected = detectManagedIdentity({
    identityEndpoint: c.identityEndpoint,
    identityHeader: c.identityHeader,
    identityServerThumbprint: c.identityServerThumbprint,
    arcImdsEndpoint: c.arcImdsEndpoint,
    msiEndpoint: c.msiEndpoint,
    msiSecret: c.msiSecret,
    imdsUrl: c.imdsEndpoint,
  });
  if (!detected.ok) throw new Error(detected.problem);
  const endpoint = detected.endpoint;
  if (endpoint.kind !== "service_fabric" || c.identityServerCertificate === undefined) {
    return endpoint;
  }
  const certificatePem = await readSettingFile(
    deps.readTextFile ?? Deno.readTextFile,
    c.identityServerCertificate,
    "SENTINEL_IDENTITY_SERVER_CERTIFICATE",
  );
  return { ...endpoint, certificatePem };
}

/** Reads the file a setting names; the error names the setting and the path. */
async function readSettingFile(
  read: (path: string) => Promise<string>,
  path: string,
  setting: string,
): Promise<string> {
  try {
    return await read(path);
  } catch (cause) {
    throw new Error(`Cannot read ${setting} "${path}": check the path and the file permissions`, {
      cause,
    });
  }
}

const CLIENT_CREDENTIAL_NAMES = {
  secret: "client secret",
  certificate: "certificate",
  federated: "workload identity (federated token file)",
} as const;

const DEFENDER_ACTION_OF: Record<string, DefenderAction | undefined> = {
  allow: "Allowed",
  alert: "Audit",
  block: "Block",
  unknown: undefined,
};

/** The target selected by `SENTINEL_TARGET`, with the configured batch size and pace. */
export function createTarget(
  config: TargetSettings,
  tokens: TokenSource,
  deps: TargetDeps = {},
): SyncTarget {
  const common = {
    tokens,
    maxBatch: config.batchSize,
    rateLimitPerMinute: config.rateLimitPerMinute,
    ...definedProps(deps, "fetch", "now", "sleep"),
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
      const sentinel = new SentinelTarget({
        ...common,
        uploadApiVersion: api.uploadApiVersion,
        armApiVersion: api.armApiVersion,
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
      return api.publishIdentities ? withIdentities(sentinel) : sentinel;
    }
    case "defender": {
      // DEFENDER_ACTION (Defender's names) wins over ACTION (the seed's Graph names).
      const chosen = config.defender.action ? defenderActionOf(config.defender.action) : undefined;
      const action = chosen?.action ??
        (config.action ? DEFENDER_ACTION_OF[config.action] : undefined);
      const d = config.defender;
      const defender = new DefenderTarget({
        ...common,
        apiUrl: d.apiUrl,
        scope: d.scope,
        generateAlert: chosen?.generateAlert ?? d.generateAlert,
        expireTimeDays: config.expireTimeDays,
        blockScore: config.confidenceLevel,
        ...(action ? { action } : {}),
        application: d.application,
        ...definedProps(d, "recommendedActions", "educateUrl"),
        ...(d.rbacGroupNames && d.rbacGroupNames.length > 0
          ? { rbacGroupNames: d.rbacGroupNames }
          : {}),
      });
      return d.maxIndicators === undefined
        ? defender
        : new CappedTarget(defender, { maxIndicators: d.maxIndicators });
    }
  }
}
