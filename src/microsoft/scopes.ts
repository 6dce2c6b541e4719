/** Entra ID authorities, token URLs and v2 `.default` scopes. */

/** The global Entra ID authority (the upstream connectors' default `LOGIN_URL`). */
export const GLOBAL_AUTHORITY = "https://login.microsoftonline.com";

/** Well-known v2 scopes of the three threat-intelligence targets (global cloud). */
export const SCOPES = {
  /** Microsoft Graph (tiIndicators). */
  graph: "https://graph.microsoft.com/.default",
  /** Azure Resource Manager (Sentinel upload and threat-intelligence API). */
  management: "https://management.azure.com/.default",
  /** Microsoft Defender for Endpoint. */
  defender: "https://api.securitycenter.microsoft.com/.default",
} as const;

const DEFAULT_SUFFIX = "/.default";

/** The v2 scope of a resource URL: `https://graph.microsoft.com/` → `https://graph.microsoft.com/.default`. */
export function scopeFor(resourceUrl: string): string {
  const trimmed = resourceUrl.trim();
  if (trimmed.endsWith(DEFAULT_SUFFIX)) return trimmed;
  if (trimmed === "") {
    throw new TypeError("Cannot derive a token scope from an empty resource URL: set the resource");
  }
  return `${trimmed.replace(/\/+$/, "")}${DEFAULT_SUFFIX}`;
}

/** The resource (token audience) of a v2 scope: the scope without `/.default`. */
export function resourceOf(scope: string): string {
  return scope.endsWith(DEFAULT_SUFFIX) ? scope.slice(0, -DEFAULT_SUFFIX.length) : scope;
}

/**
 * Normalises a `LOGIN_URL` value: trims it, drops trailing slashes, and checks that it is an
 * https URL (http only on loopback, for the simulator). Throws a TypeError naming the problem.
 */
export function normalizeAuthority(authority: string): string {
  const trimmed = authority.trim().replace(/\/+$/, "");
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new TypeError(
      `The authority "${authority}" is not a URL: set LOGIN_URL to e.g. ${GLOBAL_AUTHORITY}`,
    );
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new TypeError(
      `The authority "${authority}" must use https: set LOGIN_URL to e.g. ${GLOBAL_AUTHORITY}`,
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw new TypeError(
      `The authority "${authority}" must not carry a query or fragment: set LOGIN_URL to e.g. ${GLOBAL_AUTHORITY}`,
    );
  }
  return trimmed;
}

/** The v2 token endpoint `{authority}/{tenant}/oauth2/v2.0/token`. */
export function tokenUrl(authority: string, tenantId: string): string {
  return `${normalizeAuthority(authority)}/${
    encodeURIComponent(tenantId.trim())
  }/oauth2/v2.0/token`;
}
