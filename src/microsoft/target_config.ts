/**
 * The settings a Microsoft target and its token source are built from (`createTarget`,
 * `createTokenProvider`). The sentinel connector declares and reads the options
 * (`src/sentinel/settings.ts`); its settings type extends {@linkcode TargetSettings}.
 *
 * @module
 */
import type { AssertionAlg } from "./assertion.ts";
import type { GraphAction, GraphTargetProduct, GraphTlpLevel } from "./graph_mapping.ts";
import type { TargetName } from "./target.ts";

/**
 * `SENTINEL_AUTH`: `app_registration` (exactly one client credential, the default), `default`
 * (DefaultAzureCredential's chain; upstream `azure_credential` means the same) or
 * `managed_identity` (the host's managed identity only).
 */
export type EntraAuth = "app_registration" | "default" | "managed_identity";

/** How a connector proves its identity to Entra ID: exactly one kind. */
export type EntraCredential =
  | {
    /** A client secret (`CLIENT_SECRET`). */
    kind: "secret";
    /** The secret value. Secret. */
    clientSecret: string;
  }
  | {
    /** A certificate: signed client assertion. */
    kind: "certificate";
    /** PEM certificate file (`CLIENT_CERTIFICATE_PATH`). */
    certificatePath: string;
    /** PEM PKCS#8 private key file (`CLIENT_PRIVATE_KEY_PATH`). */
    privateKeyPath: string;
    /** `PS256` (with `x5t#S256`) or `RS256` (with `x5t`). */
    alg: AssertionAlg;
  }
  | {
    /** Workload identity: a federated token file as injected on AKS. */
    kind: "federated";
    /** File holding the federated token (`AZURE_FEDERATED_TOKEN_FILE`), re-read on each use. */
    tokenFile: string;
  }
  | {
    /** The host's managed identity (detected from the environment: `detectManagedIdentity`). */
    kind: "managed_identity";
    /** Client id of a user-assigned identity (`CLIENT_ID` / `AZURE_CLIENT_ID`); unset = system-assigned. */
    clientId?: string;
    /** App Service, Functions, Container Apps, Service Fabric or Azure Arc endpoint (`IDENTITY_ENDPOINT`). */
    identityEndpoint?: string;
    /** The header value that goes with it (`IDENTITY_HEADER`). Secret. */
    identityHeader?: string;
    /** The IMDS token URL (`SENTINEL_IMDS_ENDPOINT`). */
    imdsEndpoint: string;
    /** Service Fabric: the token service certificate's thumbprint (`IDENTITY_SERVER_THUMBPRINT`). */
    identityServerThumbprint?: string;
    /** Service Fabric: that certificate's PEM file (`SENTINEL_IDENTITY_SERVER_CERTIFICATE`). */
    identityServerCertificate?: string;
    /** Azure Arc: the agent's `IMDS_ENDPOINT`. */
    arcImdsEndpoint?: string;
    /** App Service 2017 or Cloud Shell endpoint (`MSI_ENDPOINT`). */
    msiEndpoint?: string;
    /** App Service 2017 secret (`MSI_SECRET`). Secret. */
    msiSecret?: string;
  };

/** Graph tiIndicators target options (seed names). */
export interface GraphTargetConfig {
  /** Graph base URL (`RESOURCE_URL`). */
  resourceUrl: string;
  /** tiIndicators path below the base URL (`REQUEST_URL`). */
  requestUrl: string;
  /** `targetProduct` sent on every indicator. */
  targetProduct: GraphTargetProduct;
}

/** The Log Analytics workspace behind Microsoft Sentinel. */
export interface SentinelWorkspaceConfig {
  /** Workspace id (GUID), for the upload API. */
  workspaceId: string;
  /** Azure subscription id (GUID), for ARM deletes. */
  subscriptionId: string;
  /** Resource group of the workspace, for ARM deletes. */
  resourceGroup: string;
  /** Workspace name, for ARM deletes. */
  workspaceName: string;
}

/** Sentinel STIX objects upload target options. */
export interface SentinelApiConfig {
  /** Upload API base URL. */
  apiUrl: string;
  /** Azure Resource Manager base URL (deletes, scope `<url>/.default`). */
  managementUrl: string;
  /** `sourcesystem` sent with each upload and used to find our objects again. */
  sourceSystem: string;
  /** Upload `api-version`. */
  uploadApiVersion: string;
  /** ARM threat-intelligence `api-version`. */
  armApiVersion: string;
  /** Also upload each indicator's author `identity`. */
  publishIdentities?: boolean;
  /** The workspace; always present when `target` is `sentinel`. */
  workspace?: SentinelWorkspaceConfig;
}

/** Defender for Endpoint indicators target options. */
export interface DefenderTargetConfig {
  /** API base URL. */
  apiUrl: string;
  /** Token scope. */
  scope: string;
  /** `generateAlert` sent on every indicator. */
  generateAlert: boolean;
  /** Action forced on every indicator, in Defender's (upstream) spelling; unset = `action`/score. */
  action?: UpstreamDefenderAction;
  /** `application` of created indicators (how ours are found again). */
  application: string;
  /** Most indicators kept in Defender (the highest-scored). */
  maxIndicators?: number;
  /** Device group names (empty = all devices). */
  rbacGroupNames?: string[];
  /** `recommendedActions` text. */
  recommendedActions?: string;
  /** `educateUrl` of URL indicators with Block or Warn. */
  educateUrl?: string;
}

/** `DEFENDER_ACTION` values: Defender's list as the upstream connector accepts it. */
export type UpstreamDefenderAction =
  | "Warn"
  | "Block"
  | "Audit"
  | "Alert"
  | "AlertAndBlock"
  | "BlockAndRemediate"
  | "Allowed";

/** How to get tokens from Entra ID (shared by the sentinel and microsoft-incidents connectors). */
export interface AuthSettings {
  /** Entra ID tenant (GUID or verified domain); "" when a managed identity needs none. */
  tenantId: string;
  /** Application (client) id, a GUID; "" with a system-assigned managed identity. */
  clientId: string;
  /** How the credential was chosen (`SENTINEL_AUTH`); unset = `app_registration`. */
  auth?: EntraAuth;
  /** The one configured (or, with `auth` `default`, chosen) credential. */
  credential: EntraCredential;
  /** Entra ID authority without a trailing slash. */
  loginUrl: string;
}

/** What `createTarget` (`targets.ts`) needs: the target, its mapping options, batch size and pace. */
export interface TargetSettings extends AuthSettings {
  /** Which Microsoft store receives the indicators. */
  target: TargetName;
  /**
   * Score at or above which an indicator is blocked (when `action` is unset); 0 allows. Graph and
   * Defender both use it (Defender: `Block` at or above, `Audit` below).
   */
  confidenceLevel: number;
  /** Days added to `updated_at` for the expiry when an indicator has no `valid_until`. */
  expireTimeDays: number;
  /** Action forced on every indicator; unset = derived from the score. */
  action?: GraphAction;
  /** TLP level forced on every indicator; unset = derived from the markings. */
  tlpLevel?: GraphTlpLevel;
  /** Graph `passiveOnly`. */
  passiveOnly: boolean;
  /** Labels added to every indicator sent. */
  extraLabels: string[];
  /** Most indicators per target call. */
  batchSize: number;
  /** Client-side pace of target calls per minute. */
  rateLimitPerMinute: number;
  /** Graph target options. */
  graph: GraphTargetConfig;
  /** Sentinel upload target options. */
  sentinelApi: SentinelApiConfig;
  /** Defender target options. */
  defender: DefenderTargetConfig;
}
