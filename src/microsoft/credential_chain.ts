/**
 * The `default` credential chain (`SENTINEL_AUTH=default`, upstream `…_AUTH_TYPE=azure_credential`),
 * in the order of azure-identity's DefaultAzureCredential: environment secret → environment
 * certificate → workload identity → managed identity.
 *
 * The first source that is fully configured is chosen once, at start, and used for every token.
 * A chosen source that then fails is not skipped for the next one: azure-identity also moves on
 * only when a source is *unavailable* (not configured), and stops on an authentication error;
 * silently switching from a wrong client secret to the host's managed identity would hide the
 * mistake and act with other permissions. Managed identity closes the chain, so nothing follows it.
 */

/** The sources of the chain, in order. */
export const CHAIN_ORDER = [
  "environment secret",
  "environment certificate",
  "workload identity",
  "managed identity",
] as const;

/** One source of the chain. */
export type ChainSource = typeof CHAIN_ORDER[number];

/** What is configured, as read from the environment or the YAML file. */
export interface ChainInput {
  /** Tenant (`TENANT_ID` / `AZURE_TENANT_ID`). */
  tenantId?: string | undefined;
  /** Client id (`CLIENT_ID` / `AZURE_CLIENT_ID`). */
  clientId?: string | undefined;
  /** Whether a client secret is set (`CLIENT_SECRET` / `AZURE_CLIENT_SECRET`). */
  secret?: boolean;
  /** Whether a certificate is set (the `CLIENT_CERTIFICATE_PATH` pair or `AZURE_CLIENT_CERTIFICATE_PATH`). */
  certificate?: boolean;
  /** Whether `AZURE_FEDERATED_TOKEN_FILE` is set. */
  federatedTokenFile?: boolean;
}

/** The chosen source, and why each earlier one was passed over. */
export interface ChainChoice {
  /** The chosen source. */
  source: ChainSource;
  /** Earlier sources that were partly configured, with what they lack (empty when none). */
  incomplete: string[];
}

/** Chooses the first fully configured source of the chain (managed identity when none is). */
export function chooseCredential(input: ChainInput): ChainChoice {
  const incomplete: string[] = [];
  const missing = [
    ...(input.tenantId ? [] : ["TENANT_ID (or AZURE_TENANT_ID)"]),
    ...(input.clientId ? [] : ["CLIENT_ID (or AZURE_CLIENT_ID)"]),
  ];
  const candidates: [ChainSource, boolean | undefined][] = [
    ["environment secret", input.secret],
    ["environment certificate", input.certificate],
    ["workload identity", input.federatedTokenFile],
  ];
  for (const [source, given] of candidates) {
    if (!given) continue;
    if (missing.length === 0) return { source, incomplete };
    incomplete.push(`${source} is set but lacks ${missing.join(" and ")}`);
  }
  return { source: "managed identity", incomplete };
}
